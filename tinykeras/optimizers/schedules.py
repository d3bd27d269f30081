"""``keras.optimizers.schedules``: the learning rate as a function of the step, with Keras 3's
formulas.

An optimizer given a schedule as its ``learning_rate`` takes each step at the rate
``schedule(iterations)``, where ``iterations`` counts the steps taken before this one (0 for the
first step), as Keras does; ``optimizer.learning_rate`` reads that rate.

As in Keras, a schedule computes in ``backend.floatx()`` (float32 by default), its constants
rounded to it first: ``ExponentialDecay(0.1, 10, 0.96)`` at step 1000 is ``0.1 *
float32(0.96) ** 100``, 2.3e-6 below the exact value. A schedule returns a Python float.

    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1000, decay_rate=0.9)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule), loss="mse")
"""
import bisect
import math

import numpy as np

from tinykeras import backend
from tinykeras.utils.argument_validation import check_bool, check_number, is_integer, is_number


class LearningRateSchedule:
    """Base class of the schedules. A subclass defines ``__call__(step)``, returning the rate for
    the step count ``step``, and ``get_config()``, returning its constructor's arguments (so that
    a model file can describe it; ``from_config`` calls the constructor with them)."""

    def __call__(self, step):
        raise TypeError(
            f"Learning rate schedule '{type(self).__name__}' must override `__call__(self, step)`."
        )

    def get_config(self):
        raise TypeError(
            f"Learning rate schedule '{type(self).__name__}' must override `get_config()` in "
            "order to be serializable."
        )

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        try:
            config = self.get_config()
        except TypeError:
            return f"{type(self).__name__}()"
        args = ", ".join(f"{key}={value!r}" for key, value in config.items() if key != "name")
        return f"{type(self).__name__}({args})"


def _step(step, where):
    """The step count as a float (a Python or NumPy number, or a 0-d array).

    Raises:
        TypeError: for anything else (an array of steps, a string...).
    """
    if is_number(step) or (getattr(step, "shape", None) == () and getattr(step, "dtype", None) is not None
                           and step.dtype.kind in "iuf"):
        return float(step)
    raise TypeError(f"{where}: the step must be a number (the optimizer's step count). Received: step={step!r}")


def _floatx(*values):
    """``values`` as NumPy scalars of ``backend.floatx()``, the precision schedules compute in."""
    dtype = np.dtype(backend.floatx()).type
    return tuple(dtype(value) for value in values)


def _number(value, name, where, **bounds):
    """``value`` after ``check_number``, kept an int when it is one (as Keras writes it back)."""
    checked = check_number(value, name, where, **bounds)
    return int(value) if is_integer(value) else checked


def _decay_steps(value, where):
    if is_number(value) and not value > 0:
        raise ValueError(f"{where}: Argument `decay_steps` must be > 0. Received: decay_steps={value!r}")
    return _number(value, "decay_steps", where, low=0, low_open=True)


class _StepDecay(LearningRateSchedule):
    """What ExponentialDecay and InverseTimeDecay share: their arguments, and the rate as
    ``decayed(initial_learning_rate, decay_rate, p)`` of the progress ``p = step / decay_steps``
    (rounded down with ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase, name):
        where = type(self).__name__
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate", where, low=0)
        self.decay_steps = _decay_steps(decay_steps, where)
        self.decay_rate = _number(decay_rate, "decay_rate", where, low=0)
        self.staircase = check_bool(staircase, "staircase", where)
        self.name = name

    def __call__(self, step):
        step, initial, decay_steps, decay_rate = _floatx(
            _step(step, type(self).__name__), self.initial_learning_rate, self.decay_steps, self.decay_rate
        )
        p = step / decay_steps
        if self.staircase:
            p = np.floor(p)
        return float(self.decayed(initial, decay_rate, p))

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class ExponentialDecay(_StepDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``; with ``staircase`` the
    exponent is rounded down, so the rate drops once every ``decay_steps`` steps.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: the steps over which the rate is multiplied by ``decay_rate``; > 0.
        decay_rate: the factor per ``decay_steps`` steps; >= 0.
        staircase: whether the decay happens in whole steps of ``decay_steps``.
        name: the schedule's name.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def decayed(self, initial, decay_rate, p):
        return initial * decay_rate**p


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while ``boundaries[i-1] < step
    <= boundaries[i]``, and ``values[-1]`` after the last boundary.

    Args:
        boundaries: increasing step counts where the rate changes.
        values: the rates, one more than the boundaries.
        name: the schedule's name.
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        where = "PiecewiseConstantDecay"
        if not isinstance(boundaries, (list, tuple)) or not isinstance(values, (list, tuple)):
            raise TypeError(
                f"{where}: boundaries and values must be lists of numbers. Received: "
                f"boundaries={boundaries!r}, values={values!r}"
            )
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                f"{where}: The length of boundaries should be 1 less than the length of values. "
                f"Received: boundaries={list(boundaries)} of length {len(boundaries)}, and "
                f"values={list(values)} of length {len(values)}."
            )
        boundaries = [_number(b, "boundaries", where) for b in boundaries]
        if any(high <= low for low, high in zip(boundaries, boundaries[1:])):
            raise ValueError(f"{where}: boundaries must increase. Received: boundaries={boundaries}")
        self.boundaries = boundaries
        self.values = [_number(v, "values", where, low=0) for v in values]
        self.name = name

    def __call__(self, step):
        # bisect_left counts the boundaries strictly below the step.
        (value,) = _floatx(self.values[bisect.bisect_left(self.boundaries, _step(step, type(self).__name__))])
        return float(value)

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """``(initial_learning_rate - end_learning_rate) * (1 - step / decay_steps) ** power +
    end_learning_rate``, the step held at ``decay_steps`` after it; with ``cycle``, ``decay_steps``
    is instead stretched to the first multiple of itself at or above the step, so the decay
    restarts from a lower rate each cycle.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: the steps the decay lasts; > 0.
        end_learning_rate: the rate reached after ``decay_steps`` steps.
        power: the polynomial's power (1.0: linear).
        cycle: whether the decay restarts after ``decay_steps`` steps.
        name: the schedule's name.
    """

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name="PolynomialDecay"):
        where = "PolynomialDecay"
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate", where, low=0)
        self.decay_steps = _decay_steps(decay_steps, where)
        self.end_learning_rate = _number(end_learning_rate, "end_learning_rate", where, low=0)
        self.power = _number(power, "power", where, low=0)
        self.cycle = check_bool(cycle, "cycle", where)
        self.name = name

    def __call__(self, step):
        step, initial, end, power, decay_steps = _floatx(
            _step(step, type(self).__name__), self.initial_learning_rate, self.end_learning_rate, self.power, self.decay_steps
        )
        if self.cycle:
            decay_steps *= 1.0 if step == 0 else np.ceil(step / decay_steps)
        else:
            step = min(step, decay_steps)
        p = step / decay_steps
        return float((initial - end) * (1 - p) ** power + end)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


class InverseTimeDecay(_StepDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``; with ``staircase``,
    ``step / decay_steps`` is rounded down.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: the step scale of the decay; > 0.
        decay_rate: how fast the rate falls; >= 0.
        staircase: whether the decay happens in whole steps of ``decay_steps``.
        name: the schedule's name.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def decayed(self, initial, decay_rate, p):
        return initial / (1 + decay_rate * p)


class CosineDecay(LearningRateSchedule):
    """Cosine decay (Loshchilov and Hutter, SGDR), after an optional linear warmup.

    Without warmup: ``initial_learning_rate * ((1 - alpha) * c + alpha)`` with ``c = 0.5 * (1 +
    cos(pi * min(step, decay_steps) / decay_steps))``. With ``warmup_target``, the rate first
    rises linearly from ``initial_learning_rate`` to ``warmup_target`` over ``warmup_steps``
    steps, then decays the same way from ``warmup_target``, the step counted from the warmup's end.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: the steps the decay lasts; > 0.
        alpha: the final rate as a fraction of the rate the decay starts from.
        name: the schedule's name.
        warmup_target: the rate the warmup reaches, or None for no warmup.
        warmup_steps: the steps the warmup lasts.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        where = "CosineDecay"
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate", where, low=0)
        self.decay_steps = _decay_steps(decay_steps, where)
        self.alpha = _number(alpha, "alpha", where, low=0)
        self.name = name
        self.warmup_target = None if warmup_target is None else _number(warmup_target, "warmup_target", where, low=0)
        self.warmup_steps = _number(warmup_steps, "warmup_steps", where, low=0)

    def _decay(self, step, decay_steps, decay_from):
        pi, fraction = _floatx(math.pi, step / decay_steps)
        cosine = 0.5 * (1.0 + np.cos(pi * fraction))
        return decay_from * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        step, initial, decay_steps = _floatx(_step(step, type(self).__name__), self.initial_learning_rate, self.decay_steps)
        if self.warmup_target is None:
            return float(self._decay(min(step, decay_steps), decay_steps, initial))
        target, warmup_steps = _floatx(self.warmup_target, self.warmup_steps)
        step = min(step, decay_steps + warmup_steps)
        if step < warmup_steps:
            return float((target - initial) * (step / warmup_steps) + initial)
        return float(self._decay(step - warmup_steps, decay_steps, target))

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): the cosine decay of ``CosineDecay`` over
    ``first_decay_steps``, then again from the top over periods ``t_mul`` times as long each
    time, each restart's peak ``m_mul`` times the one before.

    With f = step / first_decay_steps: for t_mul == 1, restart ``i = floor(f)`` and the
    period's fraction ``f - i``; else ``i = floor(log(1 - f (1 - t_mul)) / log(t_mul))`` and
    the fraction ``(f - (1 - t_mul^i) / (1 - t_mul)) / t_mul^i``. The rate is
    ``initial_learning_rate * ((1 - alpha) * c + alpha)`` with ``c = 0.5 m_mul^i (1 + cos(pi
    fraction))``, computed in ``backend.floatx()`` as Keras does.

    Args:
        initial_learning_rate: the rate at step 0.
        first_decay_steps: the first period's steps; > 0.
        t_mul: each period's length over the one before (> 0).
        m_mul: each restart's peak over the one before.
        alpha: the lowest rate as a fraction of initial_learning_rate.
        name: the schedule's name.
    """

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0, name="SGDRDecay"):
        where = "CosineDecayRestarts"
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate", where, low=0)
        if not is_number(first_decay_steps) or first_decay_steps <= 0:
            raise ValueError(f"Argument `first_decay_steps` must be > 0. Received: first_decay_steps={first_decay_steps}")
        self.first_decay_steps = _number(first_decay_steps, "first_decay_steps", where, low=0)
        self.t_mul = _number(t_mul, "t_mul", where, low=0, low_open=True)
        self.m_mul = _number(m_mul, "m_mul", where, low=0)
        self.alpha = _number(alpha, "alpha", where, low=0)
        self.name = name

    def __call__(self, step):
        step = _step(step, type(self).__name__)
        initial, first, alpha, t_mul, m_mul, one = _floatx(
            self.initial_learning_rate, self.first_decay_steps, self.alpha, self.t_mul, self.m_mul, 1.0)
        fraction = _floatx(step)[0] / first
        if t_mul == one:
            restart = np.floor(fraction)
            fraction = fraction - restart
        else:
            restart = np.floor(np.log(one - fraction * (one - t_mul)) / np.log(t_mul))
            fraction = (fraction - (one - t_mul**restart) / (one - t_mul)) / t_mul**restart
        pi, half = _floatx(math.pi, 0.5)
        cosine = half * m_mul**restart * (one + np.cos(pi * fraction))
        return float(initial * ((one - alpha) * cosine + alpha))

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self.t_mul,
            "m_mul": self.m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }


_SCHEDULES = {
    cls.__name__: cls
    for cls in (ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay, InverseTimeDecay, CosineDecay,
                CosineDecayRestarts)
}


def serialize(schedule):
    """A schedule's entry in a model file, as Keras 3 writes it: {'module', 'class_name',
    'config', 'registered_name'}."""
    cls = type(schedule)
    if _SCHEDULES.get(cls.__name__) is cls:
        return {"module": "keras.optimizers.schedules", "class_name": cls.__name__,
                "config": schedule.get_config(), "registered_name": None}
    from tinykeras import saving

    return {"module": cls.__module__, "class_name": cls.__name__, "config": schedule.get_config(),
            "registered_name": saving.get_registered_name(cls)}


def deserialize(config, custom_objects=None):
    """The schedule a ``serialize`` entry describes: a built-in one, or a LearningRateSchedule
    subclass of the user's, registered with ``keras.saving.register_keras_serializable``, in
    ``custom_objects`` or in a custom object scope.

    Raises:
        ValueError: for an entry that is not a dict with 'class_name' and 'config', or a class
            that is not a known schedule.
    """
    from tinykeras import saving

    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str) or not isinstance(
        config.get("config", {}), dict
    ):
        raise ValueError(
            "A learning-rate schedule must be described by a dict with 'class_name' and 'config'. "
            f"Received: {config!r}"
        )
    name, registered = config["class_name"], config.get("registered_name")
    cls = _SCHEDULES.get(name) if registered in (None, name) else None
    for key in (registered, name):
        found = saving.get_registered_object(key, custom_objects) if cls is None and isinstance(key, str) else None
        if isinstance(found, type) and issubclass(found, LearningRateSchedule):
            cls = found
    if cls is None:
        raise ValueError(
            f"Unknown learning-rate schedule: {registered or name!r}. Built-in schedules: "
            f"{', '.join(sorted(_SCHEDULES))}; a schedule of your own loads once registered "
            "(@keras.saving.register_keras_serializable()) or passed in "
            f"custom_objects={{{name!r}: {name}}}."
        )
    return cls.from_config(dict(config.get("config", {})))


from tinykeras._missing import attribute_error_for  # noqa: E402

__getattr__ = attribute_error_for(__name__)
