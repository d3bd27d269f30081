"""Core layers: Dense, Activation, Dropout, Flatten, Reshape, InputLayer."""
import math

import numpy as np

from tinykeras import backend, initializers
from tinykeras.kernels.bias import add_bias, bias_gradient, relu_gradient
from tinykeras.kernels.blas import matmul
from tinykeras.kernels.dropout import draw_bits, dropout_forward, dropout_mask
from tinykeras.layers.arguments import standardize_data_format, standardize_shape
from tinykeras.layers.base import WEIGHT_OPTIONS, ActivatedLayer, Layer, set_weight_options, weight_options_config
from tinykeras.layers.legacy import pop_legacy_arguments, warn_legacy_call
from tinykeras.utils.argument_validation import check_int, check_number, check_optional_int


class Dense(ActivatedLayer):
    """A fully connected layer: ``y = activation(x @ kernel + bias)``, on the last axis of x.

    Args:
        units: the output size.
        activation: name or function; None means linear.
        use_bias: whether to add a bias vector.
        kernel_initializer: initializer of the (in, units) kernel; 'glorot_uniform' by default.
        bias_initializer: initializer of the bias; 'zeros' by default.

    Keras 1's names ``output_dim`` (units), ``init`` (kernel_initializer) and ``bias`` (use_bias)
    are accepted with a DeprecationWarning.
    """

    supports_masking = True  # passes its input's mask on, as in Keras

    fuses_relu = True

    def __init__(
        self,
        units=None,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        given = {"units": units, "use_bias": use_bias, "kernel_initializer": kernel_initializer}
        defaults = {"units": None, "use_bias": True, "kernel_initializer": "glorot_uniform"}
        arguments, renamed = pop_legacy_arguments("Dense", kwargs, given, defaults)
        units, use_bias, kernel_initializer = (arguments[k] for k in given)
        super().__init__(activation=activation, **kwargs)
        warn_legacy_call("Dense", renamed, arguments, positional=("units",))
        self.units = check_int(units, "units", "Dense", minimum=1)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        set_weight_options(self, kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                           kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        self._x = None

    def build(self, input_shape):
        in_features = input_shape[-1]
        if in_features is None:
            raise ValueError(
                f"Layer '{self.name}' (Dense) needs the last axis of its input to be known. "
                f"Received input_shape={input_shape}."
            )
        self.kernel = self.add_weight("kernel", (in_features, self.units), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = (
            self.add_weight("bias", (self.units,), self.bias_initializer, regularizer=self.bias_regularizer,
                            constraint=self.bias_constraint) if self.use_bias else None
        )

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def forward_linear(self, x, training=False, relu=False):
        self._x = x
        z = matmul(x.reshape(-1, x.shape[-1]), self.kernel.value)
        if self.use_bias or relu:
            add_bias(z, self.bias.value if self.use_bias else None, relu)
        return z.reshape(x.shape[:-1] + (self.units,))

    def backward_linear(self, dz, relu=False):
        # z = x W + b  =>  dW = x^T dz,  db = sum over samples of dz,  dx = dz W^T
        x2 = self._x.reshape(-1, self.kernel.shape[0])
        dz2 = np.ascontiguousarray(dz).reshape(-1, self.units)
        sums = np.zeros(self.units) if relu and self.use_bias else None
        if relu:  # dz arrives as dy, the gradient of relu(z)
            y2 = self._y.reshape(dz2.shape)
            dz2 = relu_gradient(dz2, y2, np.empty_like(dz2), sums)
        self.grads = [matmul(x2.T, dz2)]
        if self.use_bias:
            self.grads.append(bias_gradient(dz2) if sums is None else sums.astype(dz2.dtype))
        if not self.input_gradient:
            return None
        return matmul(dz2, self.kernel.value.T).reshape(self._x.shape)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            **weight_options_config(self, *WEIGHT_OPTIONS),
        }


class Activation(ActivatedLayer):
    """Applies an activation function: ``Activation('relu')``."""

    supports_masking = True  # passes its input's mask on, as in Keras

    def __init__(self, activation, **kwargs):
        super().__init__(activation=activation, **kwargs)


class Dropout(Layer):
    """Sets a fraction ``rate`` of the inputs to zero during training and scales the rest by
    ``1 / (1 - rate)`` (inverted dropout), so inference needs no rescaling.

    Args:
        rate: the fraction of inputs to drop, in [0, 1).
        noise_shape: optional shape of the mask, broadcast over the input (None axes follow x).
        seed: optional integer for a reproducible mask sequence.
    """

    supports_masking = True  # passes its input's mask on, as in Keras

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        where = type(self).__name__  # Dropout, or a subclass (SpatialDropout2D)
        self.rate = check_number(rate, "rate", where, 0, 1, high_open=True)
        self.noise_shape = (None if noise_shape is None
                            else standardize_shape(noise_shape, "noise_shape", where))
        self.seed = check_optional_int(seed, "seed", where, minimum=0)
        self._rng = None if seed is None else np.random.default_rng(seed)
        self._mask = None

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self._mask = None
            return x
        shape = x.shape
        if self.noise_shape is not None:
            shape = tuple(d if n is None else n for d, n in zip(x.shape, self.noise_shape))
        bits = draw_bits(self._rng or backend.rng(), math.prod(shape))
        if shape == x.shape:
            y, self._mask = dropout_forward(x, bits, self.rate)
            return y
        self._mask = dropout_mask(bits, shape, self.rate, x.dtype)
        return x * self._mask

    def backward(self, dy):
        return dy if self._mask is None else dy * self._mask

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed}


class Identity(Layer):
    """Passes its input (and its mask) through unchanged."""

    supports_masking = True

    def forward(self, x, training=False):
        return x

    def backward(self, dy):
        return dy


class Flatten(Layer):
    """Flattens each sample to one axis: (N, d1, d2, ...) -> (N, d1*d2*...).

    Args:
        data_format: 'channels_last' or 'channels_first' (default: ``backend.image_data_format()``).
            With channels_first the input is first moved to channels_last, as Keras does, so the
            weights of the following Dense layer are the same in both formats.
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self._shape = None

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else math.prod(rest)
        return (input_shape[0], size)

    def _channels_moved(self, ndim):
        return self.data_format == "channels_first" and ndim > 2

    def forward(self, x, training=False):
        self._shape = x.shape
        if self._channels_moved(x.ndim):
            x = np.moveaxis(x, 1, -1)
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        if self._channels_moved(len(self._shape)):
            moved = (self._shape[0],) + self._shape[2:] + (self._shape[1],)
            return np.moveaxis(dy.reshape(moved), -1, 1)
        return dy.reshape(self._shape)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = standardize_shape(target_shape, "target_shape", "Reshape", infer=True)
        self._shape = None

    def compute_output_shape(self, input_shape):
        size = None if any(d is None for d in input_shape[1:]) else math.prod(input_shape[1:])
        target = list(self.target_shape)
        unknown = target.count(-1)
        known = math.prod(d for d in target if d != -1)
        if unknown > 1 or (size is not None and (
            (unknown and (known == 0 or size % known)) or (not unknown and known != size)
        )):
            raise ValueError(
                f"Layer '{self.name}' (Reshape) cannot reshape a sample of shape "
                f"{tuple(input_shape[1:])} ({size} values) to {self.target_shape}: the total "
                "size must be unchanged, with at most one -1 for the axis to infer."
            )
        if unknown:
            target[target.index(-1)] = None if size is None else size // known
        return (input_shape[0],) + tuple(target)

    def forward(self, x, training=False):
        self._shape = x.shape
        return x.reshape((x.shape[0],) + self.target_shape)

    def backward(self, dy):
        return dy.reshape(self._shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


class InputLayer(Layer):
    """Declares the shape of the model's input; it has no weights and passes data through.

    Args:
        shape: the shape of one sample, without the batch axis.
        batch_size: optional fixed batch size.
    """

    def __init__(self, shape=None, batch_size=None, name=None, dtype=None, **kwargs):
        if shape is None and kwargs.get("input_shape") is not None:
            shape = kwargs.pop("input_shape")
        if shape is None and kwargs.get("batch_input_shape") is None:
            raise ValueError("InputLayer needs a shape, e.g. InputLayer(shape=(784,)).")
        if shape is not None:
            kwargs["input_shape"] = shape
            kwargs["batch_size"] = batch_size
        super().__init__(name=name, dtype=dtype, **kwargs)

    def get_config(self):
        return {"name": self.name, "batch_input_shape": self.batch_input_shape, "dtype": self.dtype}


def Input(shape=None, batch_size=None, name=None, dtype=None, batch_shape=None):
    """The start of a model, ``keras.Input``: see :func:`tinykeras.functional.Input`."""
    from tinykeras import functional

    return functional.Input(shape=shape, batch_size=batch_size, name=name, dtype=dtype, batch_shape=batch_shape)