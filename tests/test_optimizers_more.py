"""AdamW, Adagrad, Adadelta, Adamax, Nadam and Lion, weight decay and learning-rate schedules in
every optimizer, against real Keras 3: updates, rates, state and its names, configs and model
files (fixtures written by tests/fixtures/make_keras_optimizers_fixture.py)."""
import importlib.util
import json
import os
import warnings

import numpy as np
import pytest

import tinykeras as keras
from tinykeras import callbacks, optimizers, saving
from tinykeras.layers.base import Variable
from tinykeras.optimizers import schedules

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
_spec = importlib.util.spec_from_file_location(
    "make_keras_optimizers_fixture", os.path.join(FIXTURES, "make_keras_optimizers_fixture.py")
)
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)

with open(os.path.join(FIXTURES, "keras_optimizers.json")) as _file:
    KERAS = json.load(_file)

#: Keras' steps are matched to float32 rounding: most cases bit for bit, the others (gradient
#: norms summed in another order, XLA's cosine) within a few units in the last place.
RTOL, ATOL = 1e-6, 1e-7
CLASSES = sorted(KERAS["default_names"])


def run(case):
    return cases.run_case(keras, lambda name, value: Variable(name, value.copy()), case)


def fresh(class_name, **arguments):
    return getattr(optimizers, class_name)(**arguments)


# ---- every optimizer against Keras ------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(cases.OPTIMIZER_CASES))
def test_steps_match_keras(case):
    ours, theirs = run(case), KERAS["optimizers"][case]
    np.testing.assert_allclose(ours["rates"], theirs["rates"], rtol=1e-7, err_msg="learning rate read before each step")
    for name in ("kernel", "bias"):
        for step, (got, want) in enumerate(zip(ours[name], theirs[name]), start=1):
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=f"{name} after step {step}")
            assert np.asarray(got).dtype == np.float64  # lists of float32 values, compared exactly above


@pytest.mark.parametrize("case", sorted(cases.OPTIMIZER_CASES))
def test_state_and_its_names_match_keras(case):
    optimizer, theirs = run(case)["optimizer"], KERAS["optimizers"][case]
    state = optimizer.variables
    assert len(state) == len(theirs["state"])
    for index, (got, want) in enumerate(zip(state, theirs["state"])):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=f"state array {index}")
        assert got.dtype == (np.int64 if index == 0 else np.float32)
    names = optimizer.variable_names(["kernel", "bias"])
    # Keras names Nadam's product 'variable' in a model (fit builds the optimizer outside its name
    # scope), '<name>/variable' when apply() builds it, with a suffix for the second one.
    shared = len(optimizer._shared_state_names)
    assert names[: len(names) - shared] == theirs["state_names"][: len(names) - shared]
    assert all(n.split("/")[-1].startswith("variable") for n in theirs["state_names"][len(names) - shared:])


@pytest.mark.parametrize("case", sorted(cases.OPTIMIZER_CASES))
def test_model_file_entry_matches_keras(case):
    ours = saving._optimizer_entry(run(case)["optimizer"])
    theirs = KERAS["optimizers"][case]["serialized"]
    rate, keras_rate = ours["config"].pop("learning_rate"), theirs["config"].pop("learning_rate")
    if isinstance(keras_rate, dict):
        assert rate == keras_rate
    else:
        assert np.float32(rate) == np.float32(keras_rate)  # Keras writes its float32 variable's value
    assert ours == theirs
    assert list(ours["config"]) == list(theirs["config"])  # Keras' key order


@pytest.mark.parametrize("class_name", CLASSES)
def test_defaults_and_names_match_keras(class_name):
    ours = saving._optimizer_entry(fresh(class_name))
    theirs = KERAS["default_configs"][class_name]
    assert ours["config"].pop("name") == KERAS["default_names"][class_name]
    theirs["config"].pop("name")
    assert np.float32(ours["config"].pop("learning_rate")) == np.float32(theirs["config"].pop("learning_rate"))
    assert ours == theirs


@pytest.mark.parametrize("case", sorted(cases.OPTIMIZER_CASES))
def test_from_config_rebuilds_the_same_optimizer(case):
    optimizer = run(case)["optimizer"]
    again = type(optimizer).from_config(optimizer.get_config())
    assert again.get_config() == optimizer.get_config()
    assert repr(again) == repr(optimizer)
    assert again.learning_rate == cases.make_optimizer(keras, *cases.OPTIMIZER_CASES[case][:2]).learning_rate


@pytest.mark.parametrize("name", ["adamw", "AdamW", "adagrad", "Adadelta", "adamax", "nadam", "lion"])
def test_get_by_name(name):
    assert type(optimizers.get(name)).__name__.lower() == name.lower()


# ---- the learning rate -----------------------------------------------------------------------


def test_a_step_uses_the_schedule_at_the_step_count_before_it():
    # Keras reads schedule(iterations) and only then counts the step: the first step takes
    # schedule(0), the second schedule(1).
    schedule = schedules.PiecewiseConstantDecay([0], [1.0, 0.0])
    optimizer = optimizers.SGD(learning_rate=schedule)
    w = Variable("w", np.array([0.0], np.float32))
    assert optimizer.learning_rate == 1.0
    optimizer.apply([np.array([1.0], np.float32)], [w])
    assert w.value[0] == -1.0 and optimizer.iterations == 1 and optimizer.learning_rate == 0.0
    optimizer.apply([np.array([1.0], np.float32)], [w])
    assert w.value[0] == -1.0


def test_callables_give_the_rate_without_argument_as_in_keras_or_from_the_step():
    w = Variable("w", np.array([0.0], np.float32))
    optimizer = optimizers.SGD(learning_rate=lambda: 0.5)
    optimizer.apply([np.array([1.0], np.float32)], [w])
    assert w.value[0] == -0.5 and optimizer.learning_rate == 0.5
    optimizer = optimizers.SGD(learning_rate=lambda step: 1.0 / (step + 1))
    optimizer.apply([np.array([1.0], np.float32)], [w])
    optimizer.apply([np.array([1.0], np.float32)], [w])
    assert w.value[0] == -2.0 and optimizer.learning_rate == pytest.approx(1 / 3)
    assert [len(o.variables) for o in (optimizer, optimizers.SGD())] == [1, 2]  # no rate variable


@pytest.mark.parametrize(
    ("rate", "error", "message"),
    [
        (lambda step: float("nan"), ValueError, r"Optimizer 'sgd': its learning_rate .* returned nan at step 0; expected a finite number >= 0"),
        (lambda step: -0.1, ValueError, r"returned -0\.1 at step 0"),
        (lambda step: "0.1", TypeError, r"returned '0\.1' at step 0; expected a number"),
    ],
)
def test_a_rate_function_giving_no_valid_rate_is_refused_before_the_step(rate, error, message):
    w = Variable("w", np.array([1.0], np.float32))
    optimizer = optimizers.SGD(learning_rate=rate)
    with pytest.raises(error, match=message):
        optimizer.apply([np.array([1.0], np.float32)], [w])
    assert w.value[0] == 1.0 and optimizer.iterations == 0


def test_a_schedule_cannot_be_overwritten_with_a_number_but_can_be_replaced():
    optimizer = optimizers.Adam(schedules.ExponentialDecay(0.1, 10, 0.5))
    for name in ("learning_rate", "lr"):
        with pytest.raises(TypeError, match=(
            r"Optimizer 'adam' was created with a LearningRateSchedule \(ExponentialDecay\(.*\)\) as its "
            rf"learning_rate, hence its learning rate is not settable\. Received: {name}=0\.5\. .*instantiate "
            r"the optimizer with a float learning_rate")):
            setattr(optimizer, name, 0.5)
    optimizer.learning_rate = schedules.PiecewiseConstantDecay([5], [0.3, 0.1])
    assert optimizer.learning_rate == pytest.approx(0.3)
    assert optimizer.lr == optimizer.learning_rate


def test_state_without_the_rate_restores_with_a_schedule():
    def trained(steps):
        optimizer = optimizers.Nadam(schedules.InverseTimeDecay(0.05, 1, 0.5), weight_decay=0.01)
        w = Variable("w", np.array([1.0, -2.0], np.float32))
        for step in range(steps):
            optimizer.apply([np.array([0.5, 0.25 * step], np.float32)], [w])
        return optimizer, w

    optimizer, w = trained(3)
    names = optimizer.variable_names(["w"])
    assert names == ["nadam/iteration", "nadam/w_momentum", "nadam/w_velocity", "variable"]
    restored, restored_w = trained(0)
    restored.build([restored_w])
    restored.set_weights([np.array(v) for v in optimizer.variables])
    restored_w.value[...] = w.value
    assert restored.iterations == 3 and restored.learning_rate == optimizer.learning_rate
    for o, v in ((optimizer, w), (restored, restored_w)):
        o.apply([np.array([0.5, 0.75], np.float32)], [v])
    np.testing.assert_array_equal(restored_w.value, w.value)


# ---- weight decay ----------------------------------------------------------------------------


def test_weight_decay_exclusion_by_variable_equals_exclusion_by_name():
    def final(exclude):
        optimizer = optimizers.AdamW(learning_rate=0.05, weight_decay=0.5)
        w, b = Variable("kernel", np.ones(3, np.float32)), Variable("bias", np.ones(2, np.float32))
        exclude(optimizer, w, b)
        for _ in range(3):
            optimizer.apply([np.full(3, 0.1, np.float32), np.full(2, 0.1, np.float32)], [w, b])
        return w.numpy(), b.numpy()

    by_name = final(lambda o, w, b: o.exclude_from_weight_decay(var_names=["bias"]))
    by_variable = final(lambda o, w, b: o.exclude_from_weight_decay(var_list=[b]))
    decayed = final(lambda o, w, b: None)
    np.testing.assert_array_equal(by_name[1], by_variable[1])
    np.testing.assert_array_equal(by_name[0], decayed[0])
    assert (by_name[1] > decayed[1]).all()


def test_weight_decay_comes_first_at_the_steps_rate():
    # Plain SGD with weight decay: w <- (w - w * wd * lr) - lr * g.
    w = Variable("w", np.array([2.0]))
    optimizer = optimizers.SGD(learning_rate=schedules.PiecewiseConstantDecay([0], [0.1, 0.2]), weight_decay=0.5)
    optimizer.apply([np.array([1.0])], [w])
    lr = float(np.float32(0.1))  # the schedule's value at step 0, computed in floatx
    assert w.value[0] == pytest.approx((2.0 - 2.0 * 0.5 * lr) - lr * 1.0, rel=1e-15)


def test_adagrad_accumulators_start_at_their_initial_value():
    optimizer = optimizers.Adagrad(initial_accumulator_value=0.25)
    optimizer.build([Variable("w", np.zeros((2, 2), np.float32))])
    np.testing.assert_array_equal(optimizer.variables[2], np.full((2, 2), 0.25, np.float32))


@pytest.mark.parametrize("class_name", CLASSES)
def test_float64_variables_stay_float64_and_in_place(class_name):
    value = np.array([1.0, -2.0, 0.5])
    w = Variable("w", value)
    optimizer = fresh(class_name, learning_rate=0.1, weight_decay=0.01, clipnorm=1.0)
    for _ in range(3):
        optimizer.apply([np.array([0.3, -0.2, 0.0])], [w])
    assert w.value is value and value.dtype == np.float64
    assert all(s.dtype == np.float64 for s in optimizer.variables[2:])
    assert not np.allclose(value, [1.0, -2.0, 0.5])


@pytest.mark.parametrize("class_name", CLASSES)
def test_fused_kernels_give_the_numpy_forms_bits(class_name):
    # A Fortran-ordered variable is not C-contiguous: its optimizer runs the NumPy form.
    rng = np.random.default_rng(5)
    start = rng.standard_normal((7, 9)).astype(np.float32)
    grads = [(rng.standard_normal((7, 9)) * scale).astype(np.float32) for scale in (1.0, 3.0, 0.1, 0.5)]
    results = []
    for order in ("C", "F"):
        w = Variable("w", np.array(start, order=order))
        optimizer = fresh(class_name, learning_rate=schedules.ExponentialDecay(0.05, 2, 0.7), weight_decay=0.02)
        for g in grads:
            optimizer.apply([g], [w])
        results.append((w.numpy(), [np.array(s) for s in optimizer.variables]))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    for fused, plain in zip(results[0][1], results[1][1], strict=True):
        np.testing.assert_array_equal(fused, plain)


def test_a_non_finite_joint_norm_makes_the_gradients_nan_as_in_keras():
    w = Variable("w", np.array([1.0, 1.0], np.float32))
    optimizers.SGD(global_clipnorm=1.0).apply([np.array([np.inf, 1.0], np.float32)], [w])
    assert np.isnan(w.value).all()


def test_clipping_by_norm_always_rescales_as_keras_does():
    # Keras computes g * clipnorm / max(||g||, clipnorm) even when the norm is below clipnorm.
    g = np.array([0.3, 0.7, 0.1], np.float32)
    w = Variable("w", np.zeros(3, np.float32))
    optimizers.SGD(learning_rate=1.0, clipnorm=3.0).apply([g], [w])
    np.testing.assert_array_equal(-w.value, g * np.float32(3.0) / np.float32(3.0))


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: optimizers.Lion(beta_1=0.0), ValueError, r"Lion: beta_1 must be in \(0, 1\]"),
        (lambda: optimizers.Adagrad(initial_accumulator_value=-1), ValueError, r"Adagrad: initial_accumulator_value"),
        (lambda: optimizers.Adadelta(rho=1.5), ValueError, r"Adadelta: rho must be in \[0, 1\]"),
        (lambda: optimizers.Adamax(beta_1=1.0), ValueError, r"Adamax: beta_1 must be in \[0, 1\)"),
        (lambda: optimizers.Nadam(epsilon="small"), TypeError, r"Nadam: epsilon"),
        (lambda: optimizers.AdamW(beta_2=2.0), ValueError, r"AdamW: beta_2"),
        (lambda: optimizers.Adam(weight_decay=float("nan")), ValueError, r"Adam: weight_decay .*nan"),
        (lambda: optimizers.Adagrad(clipvalue=-1), ValueError, r"Adagrad: clipvalue must be positive"),
        (lambda: optimizers.Lion(clipnorm=1.0, clipvalue=1.0), ValueError, r"Only one of clipnorm"),
    ],
)
def test_arguments_are_checked(make, error, message):
    with pytest.raises(error, match=message):
        make()


# ---- models and files ------------------------------------------------------------------------


def small_model(optimizer):
    model = cases.model(keras)
    model.compile(optimizer=optimizer, loss="categorical_crossentropy")
    return model


@pytest.mark.parametrize("case", sorted(cases.MODEL_CASES))
def test_keras_files_with_schedules_load_and_train_on_as_in_keras(case):
    model = keras.saving.load_model(os.path.join(FIXTURES, f"keras_{case}.keras"))
    with np.load(os.path.join(FIXTURES, f"keras_{case}.npz")) as data:
        saved = dict(data)
    class_name, arguments = cases.MODEL_CASES[case]
    expected = cases.make_optimizer(keras, class_name, arguments)
    assert type(model.optimizer) is type(expected)
    assert {k: v for k, v in model.optimizer.get_config().items() if k != "name"} == {
        k: v for k, v in expected.get_config().items() if k != "name"}
    state = model.optimizer.variables
    assert len(state) == sum(k.startswith("state_") for k in saved)
    for index, array in enumerate(state):
        np.testing.assert_array_equal(array, saved[f"state_{index}"])
    assert model.optimizer.iterations == cases.TRAINED_STEPS
    assert model.optimizer.learning_rate == model.optimizer._learning_rate(cases.TRAINED_STEPS)
    after = cases.next_weights(model)
    for key, value in after.items():
        np.testing.assert_allclose(value, saved[key], rtol=RTOL, atol=ATOL, err_msg=key)


@pytest.mark.parametrize("case", sorted(cases.CHECK_CASES))
def test_files_round_trip_and_train_on_identically(case, tmp_path):
    class_name, arguments = cases.CHECK_CASES[case]
    model = cases.trained_model(keras, class_name, arguments)
    for extension in (".keras", ".h5"):
        path = tmp_path / f"m{extension}"
        model.save(path)
        loaded = keras.saving.load_model(path)
        assert saving._optimizer_entry(loaded.optimizer) == saving._optimizer_entry(model.optimizer)
        for got, want in zip(loaded.optimizer.variables, model.optimizer.variables, strict=True):
            np.testing.assert_array_equal(got, want)
        x, y = cases.training_batch()
        loaded.train_on_batch(x, y)
        reference = cases.trained_model(keras, class_name, arguments)
        reference.train_on_batch(x, y)
        for got, want in zip(loaded.get_weights(), reference.get_weights(), strict=True):
            np.testing.assert_array_equal(got, want)


def test_a_model_file_written_with_a_schedule_holds_it_as_keras_writes_it(tmp_path):
    model = small_model(optimizers.AdamW(schedules.CosineDecay(0.01, 100, warmup_target=0.02, warmup_steps=5)))
    model.save(tmp_path / "m.keras")
    import zipfile

    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        config = json.loads(archive.read("config.json"))
    rate = config["compile_config"]["optimizer"]["config"]["learning_rate"]
    assert rate == {"module": "keras.optimizers.schedules", "class_name": "CosineDecay", "registered_name": None,
                    "config": {"initial_learning_rate": 0.01, "decay_steps": 100, "alpha": 0.0, "name": "CosineDecay",
                               "warmup_target": 0.02, "warmup_steps": 5}}


def test_a_rate_function_cannot_be_written_to_a_model_file(tmp_path):
    model = small_model(optimizers.Adam(lambda: 0.01))
    with pytest.raises(ValueError, match=r"Optimizer 'adam': its learning_rate is a Python callable .*cannot "
                                         r"describe\. Use a number or a keras\.optimizers\.schedules"):
        model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "m.weights.h5")


def test_a_file_with_an_unknown_schedule_loads_uncompiled_with_a_warning(tmp_path):
    model = small_model(optimizers.SGD(schedules.ExponentialDecay(0.1, 10, 0.5)))
    model.save(tmp_path / "m.keras")
    import zipfile

    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["config.json"] = members["config.json"].replace(b'"ExponentialDecay"', b'"StepDecay"', 1)
    with zipfile.ZipFile(tmp_path / "n.keras", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.warns(UserWarning, match=r"compile_config cannot be restored \(Unknown learning-rate schedule: 'StepDecay'"):
        loaded = keras.saving.load_model(tmp_path / "n.keras")
    assert not loaded.compiled


def test_fit_with_a_schedule_follows_it():
    x, y = cases.training_batch()
    schedule = schedules.ExponentialDecay(0.05, decay_steps=4, decay_rate=0.5)
    model = small_model(keras.optimizers.Adam(schedule))
    plateau = callbacks.ReduceLROnPlateau(monitor="loss", patience=100)
    history = model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[plateau])
    assert model.optimizer.iterations == 8
    assert model.optimizer.learning_rate == schedule(8)
    assert history.history["learning_rate"] == [float(np.float32(schedule(4))), float(np.float32(schedule(8)))]
    assert history.history["loss"][1] < history.history["loss"][0]


@pytest.mark.parametrize(
    "callback",
    [
        lambda: callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5),
        lambda: callbacks.ReduceLROnPlateau(monitor="loss", patience=0, min_delta=10.0),
    ],
)
def test_callbacks_that_set_the_rate_refuse_a_schedule_as_keras_does(callback):
    x, y = cases.training_batch()
    model = small_model(optimizers.SGD(schedules.InverseTimeDecay(0.1, 1, 0.5)))
    with pytest.raises(TypeError, match=r"Optimizer 'sgd' was created with a LearningRateSchedule .* not settable"):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[callback()])


def test_backup_and_restore_with_a_schedule_resumes_identically(tmp_path):
    x, y = cases.training_batch()

    def make():
        return small_model(optimizers.AdamW(schedules.ExponentialDecay(0.02, 2, 0.5), weight_decay=0.1))

    class StopAfterFirstEpoch(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                raise KeyboardInterrupt

    interrupted = make()
    backup = callbacks.BackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                        callbacks=[backup, StopAfterFirstEpoch()])
    resumed = make()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resumed.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                    callbacks=[callbacks.BackupAndRestore(str(tmp_path / "backup"))])
    straight = make()
    straight.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    assert resumed.optimizer.iterations == straight.optimizer.iterations == 6
    for got, want in zip(resumed.get_weights(), straight.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
