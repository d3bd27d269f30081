"""The layer protocol: every layer, built-in or custom, is a :class:`Layer`.

A layer implements four methods, each small enough to read at a glance:

- ``build(input_shape)`` creates the variables with ``add_weight``;
- ``compute_output_shape(input_shape)`` says what comes out (the batch axis is ``None``);
- ``forward(x, training)`` returns the output and keeps only what ``backward`` needs;
- ``backward(dy)`` receives dLoss/dOutput, returns dLoss/dInput and sets ``self.grads`` to one
  gradient per trainable variable, in the order of ``trainable_weights``.

Weights are never updated inside ``backward``: the optimizer does that, so gradients stay
inspectable. Check a custom layer with :func:`tinykeras.utils.check_gradients`.
"""
import numpy as np

from tinykeras import activations, backend, initializers

# Constructor arguments every Keras layer accepts, beside its own.
_BASE_KWARGS = ("input_shape", "batch_input_shape", "input_dim", "batch_size")


class Variable:
    """A named weight array. ``value`` is updated in place, so references to it stay valid.

    Args:
        name: the variable's name inside its layer ('kernel', 'bias', ...).
        value: the initial array.
        trainable: whether the optimizer updates it.
    """

    __slots__ = ("name", "value", "trainable", "path")

    def __init__(self, name, value, trainable=True, path=None):
        self.name = name
        self.value = value
        self.trainable = trainable
        self.path = path or name

    @property
    def shape(self):
        return self.value.shape

    @property
    def dtype(self):
        return self.value.dtype

    def numpy(self):
        """A copy of the current value."""
        return self.value.copy()

    def assign(self, value):
        """Overwrites the value in place, checking the shape."""
        value = np.asarray(value)
        if value.shape != self.value.shape:
            raise ValueError(
                f"Cannot assign a value of shape {value.shape} to variable '{self.path}' of shape "
                f"{self.value.shape}."
            )
        self.value[...] = value

    def __array__(self, dtype=None, copy=None):
        return self.value if dtype is None else self.value.astype(dtype)

    def __repr__(self):
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}>"


class Layer:
    """Base class of all layers.

    Args:
        trainable: whether the layer's weights are updated by ``fit``.
        name: the layer's name; by default the snake-cased class name, numbered ('dense_1').
        dtype: float type of the weights; by default ``backend.floatx()``.
        input_shape: shape of one sample (without the batch axis), for the first layer of a model.
        batch_input_shape: the same with the batch axis first.
        input_dim: for 2D inputs, the same as ``input_shape=(input_dim,)``.
    """

    def __init__(self, trainable=True, name=None, dtype=None, **kwargs):
        unknown = set(kwargs) - set(_BASE_KWARGS)
        if unknown:
            raise TypeError(
                f"{type(self).__name__}: unrecognized keyword argument(s) {sorted(unknown)}. "
                "Check the spelling against the layer's documented arguments."
            )
        self.name = name or backend.unique_name(backend.snake_case(type(self).__name__))
        self.trainable = trainable
        self.dtype = dtype
        self.built = False
        self.grads = []
        # Whether backward must return dx. A model sets it to False on its first layer (nothing
        # consumes the gradient of the data), and a layer may then skip that work and return None.
        self.input_gradient = True
        self.input_shape = None
        self.output_shape = None
        self._variables = []
        self.batch_input_shape = _batch_input_shape(kwargs)

    # ---- the protocol ---------------------------------------------------------------------

    def build(self, input_shape):
        """Creates the layer's variables for ``input_shape`` (batch axis first, may be None)."""
        self.built = True

    def compute_output_shape(self, input_shape):
        """The output shape for ``input_shape``; layers that change the shape override this."""
        return tuple(input_shape)

    def forward(self, x, training=False):
        """Returns the layer's output for the batch ``x``."""
        return x

    def backward(self, dy):
        """Returns dLoss/dx given dLoss/dy (None allowed when ``input_gradient`` is False), and
        sets ``self.grads``."""
        return dy

    # ---- variables ------------------------------------------------------------------------

    def add_weight(self, name, shape, initializer="glorot_uniform", trainable=True, dtype=None):
        """Creates, registers and returns a :class:`Variable`.

        Args:
            name: the variable's name ('kernel', 'bias', ...).
            shape: its shape.
            initializer: an initializer name or object.
            trainable: whether the optimizer updates it.
            dtype: float type; by default the layer's dtype, else ``backend.floatx()``.
        """
        dtype = dtype or self.dtype or backend.floatx()
        value = initializers.get(initializer)(tuple(shape), dtype=dtype)
        variable = Variable(name, np.ascontiguousarray(value, dtype=dtype), trainable, f"{self.name}/{name}")
        self._variables.append(variable)
        return variable

    @property
    def weights(self):
        """All variables: trainable first, then non-trainable, as in Keras."""
        return self.trainable_weights + self.non_trainable_weights

    @property
    def variables(self):
        """All variables in creation order (the order ``get_weights`` uses)."""
        return list(self._variables)

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [v for v in self._variables if v.trainable]

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return list(self._variables)
        return [v for v in self._variables if not v.trainable]

    def count_params(self):
        """The number of scalars in all the layer's variables."""
        return int(sum(v.value.size for v in self._variables))

    def get_weights(self):
        """Copies of the variables' values, in creation order (Keras' order)."""
        return [v.value.copy() for v in self._variables]

    def set_weights(self, weights):
        """Sets every variable from a list of arrays, after checking all of them.

        Raises:
            ValueError: if the count or a shape differs; the layer is then left unchanged.
        """
        weights = list(weights)
        if len(weights) != len(self._variables):
            raise ValueError(
                f"Layer '{self.name}' expects {len(self._variables)} weight arrays "
                f"({', '.join(v.name for v in self._variables) or 'none'}), received "
                f"{len(weights)}."
            )
        arrays = [np.asarray(w) for w in weights]
        for variable, array in zip(self._variables, arrays):
            if array.shape != variable.shape:
                raise ValueError(
                    f"Layer '{self.name}': weight '{variable.name}' has shape {variable.shape}, "
                    f"received an array of shape {array.shape}."
                )
        for variable, array in zip(self._variables, arrays):
            variable.value[...] = array

    # ---- calling and describing -----------------------------------------------------------

    def __call__(self, x, training=False):
        """Applies the layer to an array, building it on first use."""
        x = np.asarray(x, dtype=self.dtype or backend.floatx())
        if not self.built:
            self.build_for((None,) + x.shape[1:])
        return self.forward(x, training=training)

    def build_for(self, input_shape):
        """Builds the layer for ``input_shape`` and records its input and output shapes.

        Raises:
            TypeError: if the layer's class overrides a method that would be silently ignored
                (see :func:`check_protocol`).
        """
        input_shape = tuple(input_shape)
        check_protocol(self)
        if not self.built:
            self.build(input_shape)
            self.built = True
        self.input_shape = input_shape
        self.output_shape = tuple(self.compute_output_shape(input_shape))
        return self.output_shape

    def get_config(self):
        """The constructor arguments, so that ``type(layer)(**config)`` rebuilds the layer."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype or backend.floatx()}
        if self.batch_input_shape is not None:
            config["batch_input_shape"] = self.batch_input_shape
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


class ActivatedLayer(Layer):
    """A layer whose output is ``activation(z)`` for a linear part z (Dense, Conv2D, Activation).

    Subclasses implement ``forward_linear`` and ``backward_linear``. Keeping the two parts apart
    lets the model take a softmax or sigmoid output's loss straight from the logits ``z``, as
    Keras does, which is both exact and stable.

    A layer that sets ``fuses_relu`` applies a ReLU activation itself: ``forward_linear(x,
    training, relu=True)`` returns relu(z) computed in z's place, in the same pass as the bias,
    and ``backward_linear(dy, relu=True)`` takes the gradient through the ReLU from the output
    alone (relu(z) > 0 exactly where z > 0). The layer then keeps one array per step instead of
    two, and ``logits`` is None.
    """

    fuses_relu = False

    def __init__(self, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.logits = None
        self._y = None

    def forward_linear(self, x, training=False):
        return x

    def backward_linear(self, dz):
        return dz

    def _relu_fused(self):
        return self.fuses_relu and self.activation is activations.relu

    def forward(self, x, training=False):
        if self._relu_fused():
            self.logits = None
            self._y = self.forward_linear(x, training, relu=True)
            return self._y
        z = self.forward_linear(x, training)
        if self.activation is activations.linear:
            self.logits = self._y = z
            return z
        self.logits = z
        self._y = self.activation.forward(z)
        return self._y

    def backward(self, dy):
        if self._relu_fused():
            return self.backward_linear(dy, relu=True)
        if self.activation is not activations.linear:
            dy = self.activation.backward(dy, self.logits, self._y)
        return self.backward_linear(dy)

    def get_config(self):
        return {**super().get_config(), "activation": self.activation.name}


_GUIDE = "(see the README section 'Write a layer, check its gradient')"
_BACKWARD = (
    "backward receives dLoss/doutput, returns dLoss/dinput and sets self.grads to one gradient "
    "per trainable weight, in the order of trainable_weights; check it with "
    "tinykeras.utils.check_gradients(layer, x)."
)


def check_protocol(layer):
    """Checks that every method ``layer``'s class overrides is one the model runs.

    A model runs a layer through ``build``, ``compute_output_shape``, ``forward`` and
    ``backward`` (an :class:`ActivatedLayer` through ``forward_linear`` and ``backward_linear``).
    Keras' ``call``, or a ``__call__``, defined in a subclass of the class whose ``forward`` (or
    ``forward_linear``) runs would never run, and a ``forward`` whose ``backward`` is still the
    base class's identity would train on wrong gradients. A ``backward`` of its own under an
    inherited ``forward`` is allowed (a gradient-reversal layer, say).

    Raises:
        TypeError: naming the layer, the method and the fix.
    """
    cls = type(layer)
    mro = cls.__mro__

    def owner(name):
        return next((klass for klass in mro if name in vars(klass)), None)

    def depth(name):  # 0 for a method of the class itself, larger for inherited ones
        klass = owner(name)
        return len(mro) if klass is None else mro.index(klass)

    what = f"Layer '{layer.name}' ({cls.__name__})"
    computes = min(depth("forward"), depth("forward_linear"))
    if owner("forward") is Layer:
        outcome = "pass its input through unchanged"
    else:
        runs = owner("forward") if depth("forward") <= depth("forward_linear") else owner("forward_linear")
        outcome = f"compute only what {runs.__name__} computes"
    if depth("call") < computes:
        raise TypeError(
            f"{what} defines call(); tinykeras layers compute with forward(x, training) and "
            f"backward(dy) {_GUIDE}. Rename call to forward and write its backward: {_BACKWARD} "
            f"As written, call() would never run and the layer would {outcome}."
        )
    if depth("__call__") < computes:
        raise TypeError(
            f"{what} defines __call__(); a model runs its layers through forward(x, training) and "
            f"backward(dy) {_GUIDE}, never through __call__. Move the computation into forward "
            f"and write its backward: {_BACKWARD} As written, the layer would {outcome} in a model."
        )
    for forward, backward, identity in (
        ("forward", "backward", Layer),
        ("forward_linear", "backward_linear", ActivatedLayer),
    ):
        if owner(forward) not in (None, Layer, ActivatedLayer) and owner(backward) is identity:
            raise TypeError(
                f"{what} overrides {forward}() but not {backward}(): the inherited {backward} "
                f"passes the gradient through unchanged, so fit would train on wrong gradients "
                f"(and none for the layer's weights). Write {backward}(dy) {_GUIDE}. {_BACKWARD}"
            )


def _batch_input_shape(kwargs):
    """Reads Keras' ways of giving the input shape into one (batch, ...) tuple, or None."""
    if kwargs.get("batch_input_shape") is not None:
        return tuple(kwargs["batch_input_shape"])
    if kwargs.get("input_shape") is not None:
        shape = kwargs["input_shape"]
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return (kwargs.get("batch_size"),) + shape
    if kwargs.get("input_dim") is not None:
        return (kwargs.get("batch_size"), int(kwargs["input_dim"]))
    return None
