"""keras.optimizers.schedules: each schedule's values and entries against real Keras 3
(tests/fixtures/keras_optimizers.json, written by make_keras_optimizers_fixture.py)."""
import importlib.util
import json
import math
import os

import numpy as np
import pytest

import tinykeras as keras
from tinykeras import saving
from tinykeras.optimizers import schedules

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
_spec = importlib.util.spec_from_file_location(
    "make_keras_optimizers_fixture", os.path.join(FIXTURES, "make_keras_optimizers_fixture.py")
)
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)

with open(os.path.join(FIXTURES, "keras_optimizers.json")) as _file:
    KERAS = json.load(_file)["schedules"]


def make(case):
    class_name, arguments = cases.SCHEDULE_CASES[case]
    return getattr(schedules, class_name)(**arguments)


@pytest.mark.parametrize("case", sorted(cases.SCHEDULE_CASES))
def test_values_match_keras(case):
    schedule = make(case)
    ours = [schedule(step) for step in cases.SCHEDULE_STEPS]
    # Keras computes in float32; near a cosine's end (1 + cos close to 0) its float32 value
    # carries an absolute error of a few 1e-9.
    np.testing.assert_allclose(ours, KERAS[case]["values"], rtol=1e-6, atol=1e-8)
    assert all(isinstance(value, float) for value in ours)


@pytest.mark.parametrize("case", sorted(cases.SCHEDULE_CASES))
def test_entries_match_keras_and_load_back(case):
    entry = schedules.serialize(make(case))
    assert entry == KERAS[case]["serialized"]
    again = schedules.deserialize(KERAS[case]["serialized"])
    assert type(again) is type(make(case))
    assert again.get_config() == make(case).get_config()
    assert json.loads(json.dumps(entry)) == entry


def test_schedules_take_numpy_steps_and_are_reached_through_keras_optimizers():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert schedule(np.int64(10)) == schedule(np.array(10)) == schedule(10) == pytest.approx(0.05)
    from tinykeras.optimizers.schedules import CosineDecay  # noqa: F401 - the import Keras users write

    with pytest.raises(TypeError, match=r"ExponentialDecay: the step must be a number.*Received: step=array"):
        schedule(np.arange(3))


def test_piecewise_boundaries_belong_to_the_interval_below():
    schedule = schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert [schedule(s) for s in (0, 10, 11, 20, 21)] == [1.0, 1.0, 0.5, 0.5, float(np.float32(0.1))]


def test_schedules_compute_in_floatx_as_keras_does():
    schedule = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.96, staircase=True)
    assert schedule(1000) == float(np.float32(0.1) * np.float32(0.96) ** np.float32(100))
    assert schedule(1000) != pytest.approx(0.1 * 0.96**100, rel=1e-6)  # float32's 0.96 is not 0.96
    keras.backend.set_floatx("float64")
    try:
        assert schedule(1000) == pytest.approx(0.1 * 0.96**100, rel=1e-14)
    finally:
        keras.backend.set_floatx("float32")


def test_cosine_decay_without_warmup_ignores_warmup_steps_and_ends_at_alpha():
    schedule = schedules.CosineDecay(0.2, decay_steps=10, alpha=0.25, warmup_steps=5)
    assert schedule(5) == pytest.approx(0.2 * (0.75 * 0.5 * (1 + math.cos(math.pi / 2)) + 0.25))
    assert schedule(10) == schedule(1000) == pytest.approx(0.05)


def test_from_config_rebuilds_the_same_schedule():
    schedule = schedules.PolynomialDecay(0.1, 20, end_learning_rate=0.01, power=0.5, cycle=True, name="poly")
    again = schedules.PolynomialDecay.from_config(schedule.get_config())
    assert [again(s) for s in range(0, 70, 7)] == [schedule(s) for s in range(0, 70, 7)]
    assert repr(again) == (
        "PolynomialDecay(initial_learning_rate=0.1, decay_steps=20, end_learning_rate=0.01, power=0.5, cycle=True)"
    )


@pytest.mark.parametrize(
    ("make_schedule", "error", "message"),
    [
        (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), ValueError,
         r"ExponentialDecay: Argument `decay_steps` must be > 0\. Received: decay_steps=0"),
        (lambda: schedules.CosineDecay(0.1, -5), ValueError, r"CosineDecay: .*decay_steps=-5"),
        (lambda: schedules.InverseTimeDecay(0.1, 10, float("nan")), ValueError, r"InverseTimeDecay: decay_rate .*nan"),
        (lambda: schedules.PolynomialDecay("0.1", 10), TypeError, r"PolynomialDecay: initial_learning_rate"),
        (lambda: schedules.ExponentialDecay(0.1, 10, 0.5, staircase=1), TypeError, r"staircase must be True or False"),
        (lambda: schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5]), ValueError,
         r"The length of boundaries should be 1 less than the length of values\. Received: boundaries=\[10, 20\] "
         r"of length 2, and values=\[1\.0, 0\.5\] of length 2\."),
        (lambda: schedules.PiecewiseConstantDecay([20, 10], [1.0, 0.5, 0.1]), ValueError,
         r"boundaries must increase\. Received: boundaries=\[20, 10\]"),
        (lambda: schedules.PiecewiseConstantDecay(10, [1.0, 0.5]), TypeError, r"lists of numbers"),
        (lambda: schedules.CosineDecay(0.1, 10, warmup_target=-1.0, warmup_steps=3), ValueError, r"warmup_target"),
    ],
)
def test_bad_arguments_are_named(make_schedule, error, message):
    with pytest.raises(error, match=message):
        make_schedule()


def test_the_base_class_asks_for_call_and_get_config():
    class Incomplete(schedules.LearningRateSchedule):
        pass

    with pytest.raises(TypeError, match=r"'Incomplete' must override `__call__\(self, step\)`"):
        Incomplete()(0)
    with pytest.raises(TypeError, match=r"must override `get_config\(\)`"):
        schedules.serialize(Incomplete())


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"class_name": "StepDecay", "config": {}}, r"Unknown learning-rate schedule: 'StepDecay'.*CosineDecay"),
        ("ExponentialDecay", r"must be described by a dict with 'class_name' and 'config'"),
        ({"class_name": "ExponentialDecay", "config": []}, r"a dict with 'class_name' and 'config'"),
    ],
)
def test_deserialize_refuses_unknown_or_malformed_entries(entry, message):
    with pytest.raises(ValueError, match=message):
        schedules.deserialize(entry)


class HalvingSchedule(schedules.LearningRateSchedule):
    """A schedule of the user's own: halves the rate every ``every`` steps."""

    def __init__(self, rate, every):
        self.rate, self.every = rate, every

    def __call__(self, step):
        return self.rate * 0.5 ** (step // self.every)

    def get_config(self):
        return {"rate": self.rate, "every": self.every}


def test_a_schedule_of_the_users_own_round_trips_through_custom_objects():
    entry = schedules.serialize(HalvingSchedule(0.4, 3))
    assert entry == {"module": __name__, "class_name": "HalvingSchedule", "config": {"rate": 0.4, "every": 3},
                     "registered_name": "HalvingSchedule"}
    with pytest.raises(ValueError, match=r"Unknown learning-rate schedule: 'HalvingSchedule'.*custom_objects="):
        schedules.deserialize(entry)
    again = schedules.deserialize(entry, custom_objects={"HalvingSchedule": HalvingSchedule})
    assert [again(s) for s in (0, 2, 3, 7)] == [0.4, 0.4, 0.2, 0.1]


def test_a_model_file_with_a_registered_schedule_of_the_users_own_loads(tmp_path):
    registered = saving.register_keras_serializable(package="Tests", name="Halving")(HalvingSchedule)
    try:
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        model.compile(optimizer=keras.optimizers.SGD(registered(0.4, 2)), loss="mse")
        model.train_on_batch(np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32))
        model.save(tmp_path / "m.keras")
        loaded = keras.saving.load_model(tmp_path / "m.keras")
    finally:
        saving._REGISTERED.pop("Tests>Halving")
    assert isinstance(loaded.optimizer._learning_rate, HalvingSchedule)
    assert loaded.optimizer.iterations == 1 and loaded.optimizer.learning_rate == 0.4


RESTARTS = np.load(os.path.join(FIXTURES, "keras_cosine_restarts.npz"), allow_pickle=False)


@pytest.mark.parametrize("index", range(3))
def test_cosine_decay_restarts_matches_keras_over_its_periods(index):
    """Keras' values at steps 0-300 (tests/fixtures/keras_cosine_restarts.npz): the periods
    growing by t_mul (or not), the peaks shrinking by m_mul, the floor alpha."""
    settings = json.loads(str(RESTARTS["cases"]))[index]
    schedule = schedules.CosineDecayRestarts(**settings)
    ours = [schedule(int(step)) for step in RESTARTS["steps"]]
    np.testing.assert_allclose(ours, RESTARTS["values"][index], rtol=2e-6, atol=1e-8)
    again = schedules.deserialize(schedules.serialize(schedule))
    assert isinstance(again, schedules.CosineDecayRestarts) and again.get_config() == schedule.get_config()
    assert schedules.serialize(schedule)["config"] == {"initial_learning_rate": settings["initial_learning_rate"],
                                                       "first_decay_steps": settings["first_decay_steps"],
                                                       "t_mul": settings.get("t_mul", 2.0),
                                                       "m_mul": settings.get("m_mul", 1.0),
                                                       "alpha": settings.get("alpha", 0.0), "name": "SGDRDecay"}


def test_cosine_decay_restarts_refuses_a_period_of_no_steps():
    with pytest.raises(ValueError, match="`first_decay_steps` must be > 0"):
        schedules.CosineDecayRestarts(0.1, 0)
