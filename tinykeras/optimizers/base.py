"""The optimizer base class: the bookkeeping every optimizer shares.

It keeps the learning rate (a number, a schedule of the step count, or a callable), the step
count, the per-variable state arrays ("slots"), gradient clipping and Keras 3's decoupled weight
decay; each optimizer implements only ``update_step(grad, value, slots, lr)``, which changes
``value`` and its slots in place.
"""
import inspect
import math
import re
import warnings

import numpy as np

from tinykeras.kernels.optimizers import weight_decay_update
from tinykeras.optimizers.schedules import LearningRateSchedule, deserialize, serialize
from tinykeras.utils.argument_validation import check_number, is_number


def _snake_case(name):
    """Keras' default name of an optimizer class: 'AdamW' -> 'adam_w', 'RMSprop' -> 'rm_sprop'."""
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _takes_the_step(function):
    """Whether a learning-rate callable is a function of the step (``lambda step: ...``) rather
    than of nothing (``lambda: ...``, what Keras calls)."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return False
    try:
        signature.bind()
    except TypeError:
        return True
    return False


class Optimizer:
    """Base class.

    Args:
        learning_rate: the step size: a number; a ``keras.optimizers.schedules``
            LearningRateSchedule, called with the step count before each step; or a callable,
            called before each step with no argument (as in Keras) or with the step count.
        weight_decay: if set, each variable first decays by ``variable * weight_decay *
            learning_rate`` at each step (decoupled weight decay, as in Keras 3), except the
            variables given to ``exclude_from_weight_decay``.
        clipnorm: if set, each gradient is rescaled so its L2 norm is at most this.
        clipvalue: if set, each gradient is clipped to [-clipvalue, clipvalue].
        global_clipnorm: if set, all gradients are rescaled so their joint L2 norm is at most this.
        name: the optimizer's name (by default its class's, in snake case, as in Keras).
        lr: legacy spelling of ``learning_rate``.
    """

    #: The per-variable state arrays ("slots") the optimizer keeps, in groups as Keras creates
    #: them: within a group, each model variable's slots follow each other (Adam: m0, v0, m1,
    #: v1, ...); the groups follow each other.
    slot_groups = ()

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=None,
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
        self._learning_rate = None
        self._takes_step = False
        self.learning_rate = learning_rate
        self.weight_decay = None if weight_decay is None else check_number(weight_decay, "weight_decay", where, low=0)
        clipnorm, clipvalue, global_clipnorm = (
            None if value is None else check_number(value, name, where, low=0, low_open=True)
            for value, name in ((clipnorm, "clipnorm"), (clipvalue, "clipvalue"), (global_clipnorm, "global_clipnorm"))
        )
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(
                "Only one of clipnorm, clipvalue and global_clipnorm can be set. Received: "
                f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}"
            )
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.name = name or _snake_case(where)
        self.iterations = 0
        self._slots = None
        self._variables = None
        self._excluded_ids, self._excluded_names, self._decays = set(), None, {}

    # ---- the learning rate -------------------------------------------------------------------

    @property
    def learning_rate(self):
        """The rate the next step takes: the number given, or the schedule's (or callable's)
        value at the current step count, as Keras reads it."""
        rate = self._learning_rate
        if not callable(rate):
            return rate
        step = self.iterations
        value = rate(step) if isinstance(rate, LearningRateSchedule) or self._takes_step else rate()
        if not is_number(value) and not (np.ndim(value) == 0 and np.asarray(value).dtype.kind in "iuf"):
            raise TypeError(
                f"Optimizer '{self.name}': its learning_rate {rate!r} returned {value!r} at step "
                f"{step}; expected a number. Make it return the rate as a float."
            )
        value = float(value)
        if not math.isfinite(value) or value < 0:
            raise ValueError(
                f"Optimizer '{self.name}': its learning_rate {rate!r} returned {value} at step "
                f"{step}; expected a finite number >= 0. Check the schedule's arguments."
            )
        return value

    @learning_rate.setter
    def learning_rate(self, value):
        self._set_learning_rate(value, "learning_rate")

    @property
    def lr(self):
        return self.learning_rate

    @lr.setter
    def lr(self, value):
        self._set_learning_rate(value, "lr")

    def _set_learning_rate(self, value, name):
        """A schedule or callable replaces the rate; a number sets it, unless the rate is a
        schedule or callable (Keras refuses this too)."""
        if callable(value) and not is_number(value):
            self._learning_rate = value
            self._takes_step = not isinstance(value, LearningRateSchedule) and _takes_the_step(value)
            return
        if callable(self._learning_rate):
            kind = "a LearningRateSchedule" if isinstance(self._learning_rate, LearningRateSchedule) else "a callable"
            raise TypeError(
                f"Optimizer '{self.name}' was created with {kind} ({self._learning_rate!r}) as its "
                f"learning_rate, hence its learning rate is not settable. Received: {name}={value!r}. "
                "If you need the learning rate to be settable (by ReduceLROnPlateau or "
                "LearningRateScheduler, for instance), instantiate the optimizer with a float "
                "learning_rate."
            )
        self._learning_rate = check_number(value, name, type(self).__name__, low=0)

    def _has_rate_variable(self):
        """Whether the rate is a number, which Keras keeps in a variable of the optimizer's state
        (a schedule or callable is not state)."""
        return not callable(self._learning_rate)

    # ---- variables and state -----------------------------------------------------------------

    @property
    def slot_names(self):
        """The names of the slots each model variable has."""
        return tuple(name for group in self.slot_groups for name in group)

    def slot_initial_value(self, name):
        """The value slot ``name`` starts from (0 unless an optimizer says otherwise)."""
        return 0.0

    def build(self, variables):
        """Makes ``variables`` the ones the optimizer updates, in this order (the order of its
        state): a variable it already updates keeps its slots, a new one gets fresh slots, and
        one no longer listed (a layer frozen since) is let go."""
        variables = list(variables)
        if self._variables is not None and len(variables) == len(self._variables) and all(
            a is b for a, b in zip(variables, self._variables)
        ):
            return
        known = self._slots or {}
        self._variables = variables
        self._slots = {
            id(v): known.get(id(v))
            or {name: np.full_like(v.value, self.slot_initial_value(name)) for name in self.slot_names}
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

    def _shared_state(self):
        """State arrays kept for all variables together, after the slots (as Keras orders
        them); each is updated in place."""
        return []

    #: Keras' names of ``_shared_state``'s arrays.
    _shared_state_names = ()

    @property
    def variables(self):
        """The optimizer's state in Keras' order: the step count, the learning rate (when it is
        a number, not a schedule), then the slots (see ``slot_groups``) and the state shared by
        all variables; only the first ones before the optimizer is built."""
        state = [np.asarray(self.iterations, dtype=np.int64)]
        if self._has_rate_variable():
            state.append(np.asarray(self._learning_rate, dtype=np.float32))
        for group in self.slot_groups if self.built else ():
            state += [self._slots[id(v)][name] for v in self._variables for name in group]
        return state + (self._shared_state() if self.built else [])

    def variable_names(self, variable_paths):
        """Keras' names of ``variables`` ('adam/iteration', 'adam/learning_rate',
        'adam/sequential_dense_kernel_momentum', ...), given each model variable's path
        ('sequential/dense/kernel')."""
        names = [f"{self.name}/iteration"] + ([f"{self.name}/learning_rate"] if self._has_rate_variable() else [])
        for group in self.slot_groups if self.built else ():
            for path in variable_paths:
                names += [f"{self.name}/{path.replace('/', '_')}_{name}" for name in group]
        return names + (list(self._shared_state_names) if self.built else [])

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
        rated = self._has_rate_variable()
        iterations, learning_rate = int(weights[0]), (float(weights[1]) if rated else 0.0)
        if iterations < 0 or learning_rate < 0:
            raise ValueError(
                f"Optimizer '{self.name}': the step count ({iterations}) and learning rate "
                f"({learning_rate}) must not be negative."
            )
        self.iterations = iterations
        if rated and np.float32(self._learning_rate) != np.float32(learning_rate):
            self._learning_rate = learning_rate
        first_slot = 2 if rated else 1
        for current, array in zip(expected[first_slot:], weights[first_slot:]):
            current[...] = array

    # ---- weight decay ------------------------------------------------------------------------

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Exempts variables from weight decay: those of ``var_list``, and those whose name
        contains one of the strings of ``var_names`` (a regular expression search, as in Keras:
        ``var_names=['bias']`` exempts every bias). Replaces an earlier exclusion."""
        self._excluded_ids = {id(v) for v in var_list or ()}
        self._excluded_names = re.compile("|".join(set(var_names))) if var_names else None
        self._decays = {}

    def _decays_weights(self, variable):
        """Whether ``variable`` decays (see ``exclude_from_weight_decay``), remembered per variable."""
        decays = self._decays.get(id(variable))
        if decays is None:
            excluded = id(variable) in self._excluded_ids or (
                self._excluded_names is not None and self._excluded_names.search(variable.name) is not None
            )
            decays = self._decays[id(variable)] = not excluded
        return decays

    def _apply_weight_decay(self, variables, lr):
        """``variable -= variable * weight_decay * lr`` in the variable's precision (Keras 3)."""
        for variable in variables:
            if self._decays_weights(variable):
                value = variable.value
                dtype = value.dtype.type
                if value.flags.c_contiguous:  # the lines below in one pass over memory
                    weight_decay_update(value.reshape(-1), dtype(self.weight_decay), dtype(lr))
                    continue
                decay = value * dtype(self.weight_decay)
                decay *= dtype(lr)
                value -= decay

    # ---- a step ------------------------------------------------------------------------------

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

        As in Keras: the gradients are clipped, the rate is read at the step count before the
        step (``schedule(iterations)``), the variables decay (``weight_decay``), each is updated
        (then projected by its ``constraint``, if it has one), and then the step count moves on.

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
        lr = self.learning_rate
        if self.weight_decay is not None:
            self._apply_weight_decay([variable for _, variable in pairs], lr)
        self.begin_step(self.iterations + 1)
        for grad, (_, variable), state in zip(grads, pairs, slots):
            self.update_step(grad, variable.value, state, lr)
            if variable.constraint is not None:  # projected after its update, as Keras does
                variable.value[...] = variable.constraint(variable.value)
        self.iterations += 1

    def begin_step(self, t):
        """Computes what every variable's update of step ``t`` (counted from 1) shares, such as
        Adam's bias correction; nothing by default."""

    def update_step(self, grad, value, slots, lr):
        """Updates ``value`` (and its ``slots``, a dict by slot name) in place for gradient
        ``grad`` at rate ``lr``; ``self.iterations`` counts the steps before this one."""
        raise TypeError(f"{type(self).__name__} must define update_step.")

    def _clip(self, grads):
        """The gradients clipped as Keras clips them, in their own precision: by norm
        ``g * clipnorm / max(||g||, clipnorm)`` (each, or all with their joint norm), or by
        value. A joint norm that is not finite makes every gradient NaN, as in Keras."""
        if not grads:
            return grads
        if self.clipnorm is not None:
            return [g * self.clipnorm / np.maximum(np.sqrt(np.sum(np.square(g))), self.clipnorm) for g in grads]
        if self.global_clipnorm is not None:
            norm = np.sqrt(np.sum(np.stack([np.sum(np.square(g)) for g in grads])))
            with np.errstate(divide="ignore", invalid="ignore"):
                scale = self.global_clipnorm * np.minimum(1.0 / norm, 1.0 / self.global_clipnorm) + (norm - norm)
            return [g * scale for g in grads]
        if self.clipvalue is not None:
            return [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    # ---- config ------------------------------------------------------------------------------

    def get_config(self):
        """The constructor's arguments: the learning rate as a number, or a schedule's entry
        (``schedules.serialize``) as Keras writes it; a callable is returned as it is."""
        rate = self._learning_rate
        config = {"name": self.name, "learning_rate": serialize(rate) if isinstance(rate, LearningRateSchedule) else rate}
        for key in ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm"):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """The optimizer ``get_config`` describes (a schedule's entry rebuilt as a schedule)."""
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = deserialize(config["learning_rate"], custom_objects)
        return cls(**config)

    def __repr__(self):
        config = {**self.get_config(), "learning_rate": self._learning_rate}
        args = ", ".join(f"{k}={v!r}" for k, v in config.items() if k != "name")
        return f"{type(self).__name__}({args})"
