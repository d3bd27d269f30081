"""Optimizers with Keras 3's update rules and defaults.

The base class keeps the bookkeeping (slots, step count, gradient clipping); each optimizer
implements only ``update_step(grad, value, slots, lr)``, which changes ``value`` in place.
"""
import math
import warnings

import numpy as np

from tinykeras.kernels._common import split_range
from tinykeras.kernels.optimizers import adam_update
from tinykeras.utils.argument_validation import check_bool, check_number, is_number
from tinykeras.utils.naming import lookup


class Optimizer:
    """Base class.

    Args:
        learning_rate: the step size.
        clipnorm: if set, each gradient is rescaled so its L2 norm is at most this.
        clipvalue: if set, each gradient is clipped to [-clipvalue, clipvalue].
        global_clipnorm: if set, all gradients are rescaled so their joint L2 norm is at most this.
        name: the optimizer's name.
        lr: legacy spelling of ``learning_rate``.
    """

    #: The per-variable state arrays ("slots") the optimizer keeps, in groups as Keras creates
    #: them: within a group, each model variable's slots follow each other (Adam: m0, v0, m1,
    #: v1, ...); the groups follow each other.
    slot_groups = ()

    def __init__(
        self,
        learning_rate=0.001,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
        lr=None,
    ):
        if lr is not None:
            warnings.warn(
                "The `lr` argument is deprecated, use `learning_rate` instead.",
                DeprecationWarning,
                stacklevel=3,
            )
            learning_rate = lr
        where = type(self).__name__
        if callable(learning_rate) and not is_number(learning_rate):
            raise TypeError(
                f"{where}: learning_rate must be a number; learning-rate schedules and callables "
                f"are not supported. Received: learning_rate={learning_rate!r}. Change the rate "
                "between epochs with callbacks.LearningRateScheduler instead."
            )
        learning_rate = check_number(learning_rate, "learning_rate", where, low=0)
        clipnorm, clipvalue, global_clipnorm = (
            None if value is None else check_number(value, name, where, low=0, low_open=True)
            for value, name in ((clipnorm, "clipnorm"), (clipvalue, "clipvalue"), (global_clipnorm, "global_clipnorm"))
        )
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(
                "Only one of clipnorm, clipvalue and global_clipnorm can be set. Received: "
                f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}"
            )
        self.learning_rate = float(learning_rate)
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self._slots = None
        self._variables = None

    @property
    def slot_names(self):
        """The names of the slots each model variable has."""
        return tuple(name for group in self.slot_groups for name in group)

    @property
    def lr(self):
        return self.learning_rate

    @lr.setter
    def lr(self, value):
        self.learning_rate = check_number(value, "lr", type(self).__name__, low=0)

    def build(self, variables):
        """Makes ``variables`` the ones the optimizer updates, in this order (the order of its
        state): a variable it already updates keeps its slots, a new one gets zero-filled slots,
        and one no longer listed (a layer frozen since) is let go."""
        variables = list(variables)
        if self._variables is not None and len(variables) == len(self._variables) and all(
            a is b for a, b in zip(variables, self._variables)
        ):
            return
        known = self._slots or {}
        self._variables = variables
        self._slots = {
            id(v): known.get(id(v)) or {name: np.zeros_like(v.value) for name in self.slot_names}
            for v in variables
        }

    @property
    def built(self):
        return self._slots is not None

    @property
    def trainable_variables(self):
        """The model variables the optimizer updates, in the order of its state (none before
        ``build``)."""
        return list(self._variables or [])

    @property
    def variables(self):
        """The optimizer's state in Keras' order: the step count, the learning rate, then the
        slots (see ``slot_groups``); only the first two before the optimizer is built."""
        state = [np.asarray(self.iterations, dtype=np.int64), np.asarray(self.learning_rate, dtype=np.float32)]
        for group in self.slot_groups if self.built else ():
            state += [self._slots[id(v)][name] for v in self._variables for name in group]
        return state

    def variable_names(self, variable_paths):
        """Keras' names of ``variables`` ('adam/iteration', 'adam/learning_rate',
        'adam/sequential_dense_kernel_momentum', ...), given each model variable's path
        ('sequential/dense/kernel')."""
        names = [f"{self.name}/iteration", f"{self.name}/learning_rate"]
        for group in self.slot_groups if self.built else ():
            for path in variable_paths:
                names += [f"{self.name}/{path.replace('/', '_')}_{name}" for name in group]
        return names

    def set_weights(self, weights):
        """Restores the state from arrays in the order of ``variables`` (as saved by tinykeras
        or Keras 3), after checking every count and shape.

        The learning rate is stored in float32: a current learning rate that rounds to the
        stored one keeps its full precision, so a reloaded run continues exactly.

        Raises:
            ValueError: if the count or a shape differs; the optimizer is then unchanged.
        """
        weights = [np.asarray(w) for w in weights]
        expected = self.variables
        if len(weights) != len(expected):
            raise ValueError(
                f"Optimizer '{self.name}' has {len(expected)} state arrays "
                f"({'built' if self.built else 'not built yet'}); received {len(weights)}."
            )
        for index, (current, array) in enumerate(zip(expected, weights)):
            if current.shape != array.shape:
                raise ValueError(
                    f"Optimizer '{self.name}': state array {index} has shape {current.shape}, "
                    f"received {array.shape}."
                )
        if not all(np.isfinite(w).all() for w in weights):
            raise ValueError(f"Optimizer '{self.name}': the state arrays hold NaN or infinite values.")
        iterations, learning_rate = int(weights[0]), float(weights[1])
        if iterations < 0 or learning_rate < 0:
            raise ValueError(
                f"Optimizer '{self.name}': the step count ({iterations}) and learning rate "
                f"({learning_rate}) must not be negative."
            )
        self.iterations = iterations
        if np.float32(self.learning_rate) != np.float32(learning_rate):
            self.learning_rate = learning_rate
        for current, array in zip(expected[2:], weights[2:]):
            current[...] = array

    def apply_gradients(self, grads_and_vars):
        """Applies one step: ``optimizer.apply_gradients(zip(grads, variables))``. Variables
        whose gradient is None are left out, with a warning (as Keras does)."""
        pairs = [(grad, variable) for grad, variable in grads_and_vars]
        missing = [variable.path for grad, variable in pairs if grad is None]
        if missing:
            warnings.warn(
                f"Gradients do not exist for variables {missing} when minimizing the loss: they "
                "are not updated. Check that the loss depends on them.",
                UserWarning,
                stacklevel=3,
            )
        pairs = [(np.asarray(grad), variable) for grad, variable in pairs if grad is not None]
        self.build(variable for _, variable in pairs)
        self.step(pairs)

    def apply(self, grads, trainable_variables=None):
        """Applies one step, as Keras 3's ``optimizer.apply(grads, trainable_variables)``: one
        gradient per variable, in order (by default the variables the optimizer was built for).

        Raises:
            ValueError: when the numbers of gradients and variables differ.
        """
        variables = list(self.trainable_variables if trainable_variables is None else trainable_variables)
        grads = list(grads)
        if len(grads) != len(variables):
            raise ValueError(
                f"Optimizer '{self.name}'.apply received {len(grads)} gradients for "
                f"{len(variables)} variables: pass one gradient per variable, in order."
            )
        self.apply_gradients(zip(grads, variables))

    def step(self, pairs):
        """One step: each (gradient array, variable) pair updates that variable, which must be
        one the optimizer was built for (see ``build``) and have the gradient's shape.

        Raises:
            ValueError: for an unknown variable or a gradient of another shape; nothing is
                updated then.
        """
        slots = []
        for grad, variable in pairs:
            state = self._slots.get(id(variable))
            if state is None:
                raise ValueError(
                    f"Optimizer '{self.name}' does not update variable '{variable.path}': it was "
                    "built for other variables. Call build() (model.fit does) with the variables "
                    "to train."
                )
            if grad.shape != variable.value.shape:
                raise ValueError(
                    f"Optimizer '{self.name}': the gradient of variable '{variable.path}' has "
                    f"shape {grad.shape}; the variable has shape {variable.value.shape}."
                )
            slots.append(state)
        grads = self._clip([grad for grad, _ in pairs])
        self.iterations += 1
        lr = self.learning_rate
        for grad, (_, variable), state in zip(grads, pairs, slots):
            self.update_step(grad, variable.value, state, lr)

    def update_step(self, grad, value, slots, lr):
        raise TypeError(f"{type(self).__name__} must define update_step.")

    def _clip(self, grads):
        if self.clipvalue is not None:
            return [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        if self.clipnorm is not None:
            return [_scale_to_norm(g, math.sqrt(float((g * g).sum())), self.clipnorm) for g in grads]
        if self.global_clipnorm is not None:
            norm = math.sqrt(sum(float((g * g).sum()) for g in grads))
            return [_scale_to_norm(g, norm, self.global_clipnorm) for g in grads]
        return grads

    def get_config(self):
        config = {"name": self.name, "learning_rate": self.learning_rate}
        for key in ("clipnorm", "clipvalue", "global_clipnorm"):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        return config

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


def _scale_to_norm(g, norm, limit):
    return g * (limit / norm) if norm > limit else g


class SGD(Optimizer):
    """Gradient descent, with optional (Nesterov) momentum.

    Without momentum: ``w -= lr * g``. With it: ``m = momentum * m - lr * g``, then ``w += m``, or
    with nesterov ``w += momentum * m - lr * g``.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum = check_number(momentum, "momentum", "SGD", low=0, high=1)
        self.nesterov = check_bool(nesterov, "nesterov", "SGD")
        self.slot_groups = (("momentum",),) if self.momentum else ()

    def update_step(self, grad, value, slots, lr):
        if not self.momentum:
            value -= lr * grad
            return
        m = slots["momentum"]
        m *= self.momentum
        m -= lr * grad
        if self.nesterov:
            value += self.momentum * m - lr * grad
        else:
            value += m

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2014) in Keras' "epsilon hat" form.

    ``m += (g - m)(1 - beta_1)``, ``v += (g^2 - v)(1 - beta_2)``,
    ``w -= lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)``;
    with amsgrad, ``v`` in the denominator is the running maximum of ``v``.
    """

    def __init__(
        self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs
    ):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = check_number(beta_1, "beta_1", "Adam", low=0, high=1, high_open=True)
        self.beta_2 = check_number(beta_2, "beta_2", "Adam", low=0, high=1, high_open=True)
        self.epsilon = check_number(epsilon, "epsilon", "Adam", low=0)
        self.amsgrad = check_bool(amsgrad, "amsgrad", "Adam")
        self.slot_groups = (("momentum", "velocity"),) + ((("velocity_hat",),) if amsgrad else ())

    def step(self, pairs):
        t = self.iterations + 1
        self._alpha = math.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        super().step(pairs)

    def update_step(self, grad, value, slots, lr):
        m, v = slots["momentum"], slots["velocity"]
        if not self.amsgrad and grad.dtype == value.dtype and value.flags.c_contiguous:
            # The four lines below in one pass over memory instead of about ten.
            dtype = value.dtype.type
            arrays = [value, np.ascontiguousarray(grad), m, v]
            flat = [a.reshape(-1) for a in arrays]
            constants = [
                dtype(1 - self.beta_1), dtype(1 - self.beta_2), dtype(lr * self._alpha), dtype(self.epsilon)
            ]

            def update(lo, hi):  # a large variable's values are split between threads
                adam_update(*(a[lo:hi] for a in flat), *constants)

            split_range(value.size, len(flat) * value.size, update)
            return
        m += (grad - m) * (1 - self.beta_1)
        v += (grad * grad - v) * (1 - self.beta_2)
        if self.amsgrad:
            np.maximum(slots["velocity_hat"], v, out=slots["velocity_hat"])
            v = slots["velocity_hat"]
        value -= (lr * self._alpha) * m / (np.sqrt(v) + self.epsilon)

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


class RMSprop(Optimizer):
    """RMSprop: ``v = rho v + (1 - rho) g^2``, ``w -= lr g / sqrt(v + epsilon)``.

    With ``centered`` the running mean of g is subtracted from v; with ``momentum`` the increments
    accumulate in a momentum slot.
    """

    def __init__(
        self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs
    ):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = check_number(rho, "rho", "RMSprop", low=0, high=1)
        self.momentum = check_number(momentum, "momentum", "RMSprop", low=0, high=1)
        self.epsilon = check_number(epsilon, "epsilon", "RMSprop", low=0)
        self.centered = check_bool(centered, "centered", "RMSprop")
        self.slot_groups = (
            (("velocity",),) + ((("momentum",),) if momentum else ()) + ((("average_gradient",),) if centered else ())
        )

    def update_step(self, grad, value, slots, lr):
        v = slots["velocity"]
        v *= self.rho
        v += (1 - self.rho) * grad * grad
        denominator = v + self.epsilon
        if self.centered:
            avg = slots["average_gradient"]
            avg *= self.rho
            avg += (1 - self.rho) * grad
            denominator -= avg * avg
        increment = lr * grad / np.sqrt(denominator)
        if self.momentum:
            m = slots["momentum"]
            m *= self.momentum
            m += increment
            value -= m
        else:
            value -= increment

    def get_config(self):
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }


_OPTIMIZERS = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}


def get(identifier):
    """Returns an Optimizer for a name ('adam', 'sgd', 'rmsprop') or an Optimizer instance.

    Raises:
        ValueError: for an unknown name, listing the valid ones and the nearest match.
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        return lookup("optimizer", identifier, _OPTIMIZERS)()
    raise TypeError(
        f"Could not interpret optimizer {identifier!r}: pass a name such as 'adam' or an "
        "optimizer object from tinykeras.optimizers."
    )
