"""Embedding: integer ids to rows of a trainable table."""
import warnings

import numpy as np

from tinykeras import initializers
from tinykeras.kernels.embedding import scatter_add_rows
from tinykeras.layers.base import Layer, set_weight_options, weight_options_config
from tinykeras.utils.argument_validation import check_bool, check_int


class Embedding(Layer):
    """Turns non-negative integer ids into dense vectors: ``y[..., :] = embeddings[x[...]]``.

    The input holds ids in [0, input_dim): an integer array, or floats holding integers (cast
    to integers as Keras casts them, toward zero). The output has the input's shape plus a last
    axis of ``output_dim``. The gradient of the table is the output's gradient scatter-added
    into the rows read, ``dE[x[n, t]] += dy[n, t]``; the ids get none.

    Args:
        input_dim: the vocabulary size, the largest id plus one.
        output_dim: the size of each vector.
        embeddings_initializer: initializer of the (input_dim, output_dim) table; 'uniform' (in
            [-0.05, 0.05]) by default.
        embeddings_regularizer: a penalty of the table added to the loss (keras.regularizers).
        embeddings_constraint: a projection of the table after each optimizer step
            (keras.constraints).
        mask_zero: whether id 0 marks padding: the output then carries the mask ``ids != 0``
            (:meth:`compute_mask`), which the layers after it pass on and the recurrent layers,
            GlobalAveragePooling1D, the loss and the metrics skip, as in Keras. Id 0 is then
            no token of the vocabulary (input_dim counts it all the same).
        input_length: Keras 2's length of the input sequences: accepted with a
            DeprecationWarning and, as in Keras 2, read as ``input_shape=(input_length,)`` when
            no input shape is given. Keras 3 ignores it and does not save it.
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, input_length=None, **kwargs):
        if input_length is not None:
            warnings.warn(
                "Embedding: input_length is a Keras 2 argument, read as input_shape=(input_length,). "
                "Keras 3 ignores it: declare the input with keras.Input(shape=(input_length,)) instead.",
                DeprecationWarning,
                stacklevel=2,
            )
            if not any(kwargs.get(key) is not None for key in ("input_shape", "batch_input_shape")):
                kwargs["input_shape"] = (check_int(input_length, "input_length", "Embedding", minimum=1),)
        super().__init__(**kwargs)
        self.input_dim = check_int(input_dim, "input_dim", "Embedding", minimum=1)
        self.output_dim = check_int(output_dim, "output_dim", "Embedding", minimum=1)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        set_weight_options(self, embeddings_regularizer=embeddings_regularizer, embeddings_constraint=embeddings_constraint)
        self.mask_zero = check_bool(mask_zero, "mask_zero", "Embedding")
        self._ids = None

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            "embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer,
            regularizer=self.embeddings_regularizer, constraint=self.embeddings_constraint)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def forward(self, x, training=False):
        ids = self._checked_ids(x)
        self._ids = ids
        return np.take(self.embeddings.value, ids, axis=0)

    def backward(self, dy):
        grad = np.zeros_like(self.embeddings.value)
        ids = self._ids.reshape(-1)
        scatter_add_rows(grad, ids, np.asarray(dy).reshape(ids.size, self.output_dim))
        self.grads = [grad]
        if not self.input_gradient:
            return None
        # Ids are not differentiable: a layer before this one receives zeros.
        return np.zeros(self._ids.shape, dtype=self.embeddings.dtype)

    def compute_mask(self, inputs, previous_mask=None):
        """With mask_zero, the mask of the output: ``ids != 0`` (the input's shape); else None."""
        if not self.mask_zero:
            return None
        from tinykeras import functional, ops

        if isinstance(inputs, functional.KerasTensor):  # inside a traced call: an op of the graph
            return ops.not_equal(inputs, 0)
        return np.not_equal(inputs, 0)

    @property
    def makes_masks(self):
        return self.mask_zero

    def _checked_ids(self, x):
        """The ids as an integer array, after checking they index the table.

        Raises:
            ValueError: naming the first id outside [0, input_dim), and the fix.
        """
        x = np.asarray(x)
        if x.dtype.kind not in "iu":
            if x.dtype.kind not in "fb":
                raise TypeError(
                    f"Layer '{self.name}' (Embedding) takes integer ids; received an array of dtype "
                    f"{x.dtype}. Convert the tokens to integers in [0, {self.input_dim}) first."
                )
            if x.size and not np.isfinite(x).all():
                raise ValueError(
                    f"Layer '{self.name}' (Embedding) received NaN or infinite ids; expected "
                    f"integers in [0, {self.input_dim})."
                )
            x = x.astype(np.int64)  # toward zero, as Keras casts floats to int32
        if x.size:
            low, high = int(x.min()), int(x.max())
            if low < 0 or high >= self.input_dim:
                bad = low if low < 0 else high
                where = tuple(int(i) for i in np.argwhere(x == bad)[0])
                fix = ("Ids are indices into the table, from 0: map the tokens to non-negative ids."
                       if bad < 0 else
                       f"Give the layer input_dim={high + 1} or more (the vocabulary size: the largest "
                       "id plus one), or map unknown tokens to an id inside the vocabulary.")
                raise ValueError(
                    f"Layer '{self.name}' (Embedding) has input_dim={self.input_dim}, so ids must be "
                    f"in [0, {self.input_dim}); received id {bad} at index {where}. {fix}"
                )
        return x

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            **weight_options_config(self, "embeddings_regularizer", "embeddings_constraint"),
            "mask_zero": self.mask_zero,
        }

    def __repr__(self):
        return f"<Embedding name={self.name}, input_dim={self.input_dim}, output_dim={self.output_dim}, built={self.built}>"
