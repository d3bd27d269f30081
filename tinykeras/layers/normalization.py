"""BatchNormalization: normalize each feature over the batch, then scale and shift it.
LayerNormalization: normalize each sample over its feature axes, then scale and shift it."""
import numpy as np

from tinykeras import initializers
from tinykeras.kernels.normalization import (
    channel_moments,
    gradient_sums,
    normalize,
    normalize_backward,
)
from tinykeras.layers.base import Layer, set_weight_options, weight_options_config

#: BatchNormalization's regularizer and constraint arguments.
BATCH_NORMALIZATION_OPTIONS = ("beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint")
from tinykeras.utils.argument_validation import check_bool, check_int, check_number, is_integer


class BatchNormalization(Layer):
    """Normalizes each feature of ``axis`` to zero mean and unit variance, then scales it by
    ``gamma`` and shifts it by ``beta``: ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta``.

    In training, mean and var are the batch's (the biased variance) and the moving statistics
    follow them: ``moving = moving * momentum + batch * (1 - momentum)``. In inference, and
    whenever the layer is not trainable (as in Keras), the moving statistics are used instead.

    Args:
        axis: the feature axis: -1 after Dense and channels_last Conv2D, 1 after channels_first.
        momentum: the moving statistics' momentum.
        epsilon: added to the variance before the square root.
        center: whether to learn the shift ``beta``.
        scale: whether to learn the scale ``gamma``.
        beta_initializer, gamma_initializer, moving_mean_initializer,
            moving_variance_initializer: initializers of the four variables.
    """

    supports_masking = True  # passes its input's mask on, as in Keras

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        set_weight_options(self, beta_regularizer=beta_regularizer, gamma_regularizer=gamma_regularizer,
                           beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)
        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]
        self.axis = check_int(axis, "axis", "BatchNormalization")
        self.momentum = check_number(momentum, "momentum", "BatchNormalization", 0, 1)
        self.epsilon = check_number(epsilon, "epsilon", "BatchNormalization", 0, low_open=True)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self._feature_axis = self._ndim = None
        self._cache = None

    def build(self, input_shape):
        ndim = len(input_shape)
        if not -ndim <= self.axis < ndim or self.axis % ndim == 0:
            raise ValueError(
                f"Layer '{self.name}' (BatchNormalization): axis={self.axis} is not a feature axis "
                f"of an input of shape {tuple(input_shape)}. Use -1 for channels_last data or 1 "
                "for channels_first."
            )
        self._feature_axis = self.axis % ndim
        self._ndim = ndim
        features = input_shape[self._feature_axis]
        if features is None:
            raise ValueError(
                f"Layer '{self.name}' (BatchNormalization) needs axis {self.axis} of its input to "
                f"be known. Received input_shape={tuple(input_shape)}."
            )
        shape = (features,)
        self.gamma = self.add_weight("gamma", shape, self.gamma_initializer, regularizer=self.gamma_regularizer,
                                     constraint=self.gamma_constraint) if self.scale else None
        self.beta = self.add_weight("beta", shape, self.beta_initializer, regularizer=self.beta_regularizer,
                                    constraint=self.beta_constraint) if self.center else None
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight(
            "moving_variance", shape, self.moving_variance_initializer, trainable=False
        )

    # The kernels work on a (rows, features) matrix: the feature axis is moved last.

    def _rows(self, a):
        if self._feature_axis != a.ndim - 1:
            a = np.moveaxis(a, self._feature_axis, -1)
        return np.ascontiguousarray(a).reshape(-1, a.shape[-1])

    def _unrows(self, rows, shape):
        axis = self._feature_axis
        out = rows.reshape(shape[:axis] + shape[axis + 1 :] + (shape[axis],))
        return np.moveaxis(out, -1, axis) if axis != len(shape) - 1 else out

    def forward(self, x, training=False, mask=None):
        if training and mask is not None:
            raise ValueError(
                f"Layer '{self.name}' (BatchNormalization) received a mask in training: Keras then "
                "takes the batch's moments over the kept steps alone, which tinykeras does not "
                "support. Normalize before the layer making the mask (Embedding, Masking), use "
                "LayerNormalization (which masks do not change), or train without the mask."
            )
        features = self.moving_mean.shape[0]
        if x.ndim != self._ndim or x.shape[self._feature_axis] != features:
            raise ValueError(
                f"Layer '{self.name}' (BatchNormalization) expects {features} features on axis "
                f"{self.axis}. Received: input of shape {x.shape}."
            )
        x2 = self._rows(x)
        use_batch = training and self.trainable
        if use_batch:
            mean, variance = channel_moments(x2)
            self._update_moving(mean, variance)
        else:
            mean = self.moving_mean.value.astype(np.float64)
            variance = self.moving_variance.value.astype(np.float64)
        inv_std = 1.0 / np.sqrt(variance + self.epsilon)
        gamma = self.gamma.value if self.scale else 1.0
        beta = self.beta.value if self.center else np.zeros(features)
        a = gamma * inv_std
        y2 = normalize(x2, mean, a, np.asarray(beta, dtype=np.float64))
        self._cache = (x2, x.shape, mean, inv_std, a, use_batch)
        return self._unrows(y2, x.shape)

    def _update_moving(self, mean, variance):
        # Keras: moving = moving * momentum + batch * (1 - momentum), with the biased variance.
        for variable, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
            updated = variable.value * self.momentum + batch * (1 - self.momentum)
            variable.value[...] = updated

    def backward(self, dy):
        # With xhat = (x - mean) * inv_std and y = gamma * xhat + beta over m rows:
        #   dbeta = sum(dy), dgamma = sum(dy * xhat),
        #   dx = gamma * inv_std * (dy - dbeta / m - xhat * dgamma / m)   (batch statistics),
        #   dx = gamma * inv_std * dy                                       (moving statistics).
        x2, shape, mean, inv_std, a, use_batch = self._cache
        dy2 = self._rows(dy)
        dtype = x2.dtype
        needs_sums = (self.trainable and (self.scale or self.center)) or (use_batch and self.input_gradient)
        if needs_sums:
            sum_dy, sum_dy_xc = gradient_sums(dy2, x2, mean)
        self.grads = []
        if self.trainable:
            if self.scale:
                self.grads.append((sum_dy_xc * inv_std).astype(dtype))
            if self.center:
                self.grads.append(sum_dy.astype(dtype))
        if not self.input_gradient:
            return None
        if use_batch:
            m = x2.shape[0]
            c = -a * inv_std * inv_std * sum_dy_xc / m
            d = -a * sum_dy / m
        else:
            c = d = np.zeros_like(inv_std)
        dx2 = normalize_backward(dy2, x2, mean, np.asarray(a, dtype=np.float64), c, d)
        return self._unrows(dx2, shape)

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
            **weight_options_config(self, *BATCH_NORMALIZATION_OPTIONS),
        }


def standardize(x, axes, epsilon):
    """(xhat, inv_std): x centred and scaled over ``axes`` (biased variance), and 1 / sqrt(var +
    epsilon), kept with size 1 on those axes."""
    mean = x.mean(axis=axes, keepdims=True)
    centred = x - mean
    inv_std = 1 / np.sqrt((centred * centred).mean(axis=axes, keepdims=True) + epsilon)
    return centred * inv_std, inv_std


def standardize_backward(g, normalized, inv_std, axes):
    """dL/dx of ``standardize`` for g = dL/dxhat: with the means over the m values of each
    normalized group, ``inv_std * (g - mean(g) - xhat * mean(g * xhat))``."""
    mean_g = g.mean(axis=axes, keepdims=True)
    mean_g_xhat = (g * normalized).mean(axis=axes, keepdims=True)
    return inv_std * (g - mean_g - normalized * mean_g_xhat)


class LayerNormalization(Layer):
    """Normalizes each sample over ``axis`` to zero mean and unit variance, then scales it by
    ``gamma`` and shifts it by ``beta``: ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta``,
    mean and var (biased) taken over the normalized axes of each sample alone, in training and
    inference alike.

    Args:
        axis: an axis or a list of axes to normalize over (-1: the features).
        epsilon: added to the variance before the square root.
        center: whether to learn the shift ``beta``.
        scale: whether to learn the scale ``gamma``.
        beta_initializer, gamma_initializer: their initializers.

    gamma and beta have the sizes of the normalized axes, e.g. (features,) for axis=-1.
    """

    supports_masking = True  # passes its input's mask on, as in Keras

    def __init__(
        self,
        axis=-1,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        **kwargs,
    ):
        super().__init__(**kwargs)
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if not axes or not all(is_integer(a) for a in axes):
            raise TypeError(
                "LayerNormalization: axis must be an integer or a list of integers, e.g. axis=-1. "
                f"Received: axis={axis!r}"
            )
        self.axis = [int(a) for a in axes] if isinstance(axis, (list, tuple)) else int(axis)
        self.epsilon = check_number(epsilon, "epsilon", "LayerNormalization", 0, low_open=True)
        self.center = check_bool(center, "center", "LayerNormalization")
        self.scale = check_bool(scale, "scale", "LayerNormalization")
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self._axes = self._broadcast = None
        self._cache = None

    def build(self, input_shape):
        ndim = len(input_shape)
        axes = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]
        positive = [a % ndim for a in axes if -ndim <= a < ndim]
        if len(positive) != len(axes) or 0 in positive or len(set(positive)) != len(positive):
            raise ValueError(
                f"Layer '{self.name}' (LayerNormalization): axis={self.axis} must name distinct axes "
                f"of the sample (not the batch axis 0) of an input of shape {tuple(input_shape)}. "
                "Use axis=-1 to normalize the features."
            )
        shape = tuple(input_shape[a] for a in positive)
        if None in shape:
            raise ValueError(
                f"Layer '{self.name}' (LayerNormalization) needs the sizes of the normalized axes "
                f"{axes} to be known. Received input_shape={tuple(input_shape)}."
            )
        self.axis = axes  # Keras keeps the sorted list once built
        self._axes = tuple(sorted(positive))
        self._broadcast = tuple(input_shape[a] if a in positive else 1 for a in range(1, ndim))
        self.gamma = self.add_weight("gamma", shape, self.gamma_initializer) if self.scale else None
        self.beta = self.add_weight("beta", shape, self.beta_initializer) if self.center else None

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def _broadcasted(self, variable):
        """gamma or beta shaped to broadcast against a sample (size 1 on the other axes)."""
        return variable.value.reshape(self._broadcast)

    def forward(self, x, training=False):
        normalized, inv_std = standardize(x, self._axes, self.epsilon)
        self._cache = (normalized, inv_std)
        y = normalized * self._broadcasted(self.gamma) if self.scale else normalized
        return y + self._broadcasted(self.beta) if self.center else y

    def backward(self, dy):
        # With xhat = (x - mean) * inv_std over the m values of each normalized group and
        # g = dy * gamma: dx = inv_std * (g - mean(g) - xhat * mean(g * xhat)), the means over
        # the group; dgamma = sum(dy * xhat), dbeta = sum(dy), over the other axes.
        normalized, inv_std = self._cache
        others = tuple(a for a in range(dy.ndim) if a not in self._axes)
        self.grads = []
        if self.scale:
            self.grads.append((dy * normalized).sum(axis=others).reshape(self.gamma.shape))
        if self.center:
            self.grads.append(dy.sum(axis=others).reshape(self.beta.shape))
        if not self.input_gradient:
            return None
        g = dy * self._broadcasted(self.gamma) if self.scale else dy
        return standardize_backward(g, normalized, inv_std, self._axes)

    def get_config(self):
        return {**super().get_config(), **_normalization_config(self)}


def _normalization_config(layer):
    """The settings LayerNormalization and GroupNormalization share, as Keras writes them."""
    return {
        "axis": layer.axis,
        "epsilon": layer.epsilon,
        "center": layer.center,
        "scale": layer.scale,
        "beta_initializer": initializers.serialize(layer.beta_initializer),
        "gamma_initializer": initializers.serialize(layer.gamma_initializer),
    }


class GroupNormalization(Layer):
    """Normalizes each sample over groups of channels: the ``axis`` channels cut into ``groups``
    groups of consecutive channels, each group normalized over its channels and every other
    axis of the sample (``y = gamma * (x - mean) / sqrt(var + epsilon) + beta``, biased
    variance), then scaled and shifted per channel; the same in training and inference.
    ``groups=-1`` makes one group per channel (instance normalization); 1 is layer
    normalization over the whole sample.

    Args:
        groups: the number of groups, dividing the channels (32 by default).
        axis: the channels axis (-1).
        epsilon: added to the variance before the square root.
        center, scale: whether to learn the shift ``beta`` and the scale ``gamma`` (per channel).
        beta_initializer, gamma_initializer, beta_regularizer, gamma_regularizer,
            beta_constraint, gamma_constraint: theirs.
    """

    supports_masking = True

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        if not is_integer(groups) or (groups <= 0 and groups != -1):
            raise ValueError("Received an invalid value for argument `groups`, expected a positive integer (or `-1` "
                             f"for instance normalization). Received: groups={groups}")
        super().__init__(**kwargs)
        set_weight_options(self, beta_regularizer=beta_regularizer, gamma_regularizer=gamma_regularizer,
                           beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)
        self.groups = int(groups)
        self.axis = check_int(axis, "axis", "GroupNormalization")
        self.epsilon = check_number(epsilon, "epsilon", "GroupNormalization", 0, low_open=True)
        self.center = check_bool(center, "center", "GroupNormalization")
        self.scale = check_bool(scale, "scale", "GroupNormalization")
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self._cache = None

    def build(self, input_shape):
        ndim = len(input_shape)
        if not -ndim <= self.axis < ndim or self.axis % ndim == 0:
            raise ValueError(f"Layer '{self.name}' (GroupNormalization): axis={self.axis} is not a channels axis of "
                             f"an input of shape {tuple(input_shape)}.")
        channels = input_shape[self.axis]
        if channels is None:
            raise ValueError(f"Axis {self.axis} of input tensor should have a defined dimension but the layer "
                             f"received an input with shape {tuple(input_shape)}.")
        if self.groups == -1:
            self.groups = channels
        if channels < self.groups:
            raise ValueError(f"Number of groups ({self.groups}) cannot be more than the number of channels ({channels}).")
        if channels % self.groups:
            raise ValueError(f"Number of groups ({self.groups}) must be a multiple of the number of channels ({channels}).")
        self.gamma = self.add_weight("gamma", (channels,), self.gamma_initializer, regularizer=self.gamma_regularizer,
                                     constraint=self.gamma_constraint) if self.scale else None
        self.beta = self.add_weight("beta", (channels,), self.beta_initializer, regularizer=self.beta_regularizer,
                                    constraint=self.beta_constraint) if self.center else None

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def _grouped(self, shape):
        """(grouped shape, the axes normalized in it, the channels axis of x)."""
        axis = self.axis % len(shape)
        grouped = shape[:axis] + (self.groups, shape[axis] // self.groups) + shape[axis + 1:]
        return grouped, tuple(a for a in range(1, len(grouped)) if a != axis), axis

    def _per_channel(self, variable, ndim, axis):
        return variable.value.reshape([-1 if a == axis else 1 for a in range(ndim)])

    def forward(self, x, training=False):
        grouped, axes, axis = self._grouped(x.shape)
        normalized, inv_std = standardize(x.reshape(grouped), axes, self.epsilon)
        normalized = normalized.reshape(x.shape)
        self._cache = (normalized, inv_std)
        y = normalized * self._per_channel(self.gamma, x.ndim, axis) if self.scale else normalized
        return y + self._per_channel(self.beta, x.ndim, axis) if self.center else y

    def backward(self, dy):
        normalized, inv_std = self._cache
        grouped, axes, axis = self._grouped(dy.shape)
        others = tuple(a for a in range(dy.ndim) if a != axis)
        self.grads = []
        if self.scale:
            self.grads.append((dy * normalized).sum(axis=others))
        if self.center:
            self.grads.append(dy.sum(axis=others))
        if not self.input_gradient:
            return None
        g = dy * self._per_channel(self.gamma, dy.ndim, axis) if self.scale else dy
        return standardize_backward(g.reshape(grouped), normalized.reshape(grouped), inv_std, axes).reshape(dy.shape)

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, **_normalization_config(self),
                **weight_options_config(self, *BATCH_NORMALIZATION_OPTIONS)}
