"""keras.metrics as Keras 3 defines them, against the numbers real Keras 3 wrote into
tests/fixtures/keras_metrics.json (tests/fixtures/make_keras_metrics_fixture.py): each class's
result after each of two batches, after ``reset_state``, its name and config; what
``keras.metrics.get`` makes of a string; and metrics compiled into models: History of ``fit``,
the logs of each batch, ``evaluate`` in one batch and in three. Then metrics written the Keras 3
way (``Metric`` subclasses, plain functions) in compile and fit, checked by hand.

Results are compared with rtol=1e-5, atol=1e-6: Keras computes in float32, and adds an epsilon of
1e-7 to the denominators of F1Score and FBetaScore (its F1 of exactly 0.5 reads 0.49999994), well
inside that tolerance.
"""
import builtins
import functools
import json
import os
import sys

import numpy as np
import pytest

import tinykeras as keras

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
sys.path.insert(0, FIXTURES)

import make_keras_metrics_fixture as oracle  # noqa: E402

with open(os.path.join(FIXTURES, "keras_metrics.json")) as _f:
    EXPECTED = json.load(_f)

CASES = {case["id"]: case for case in EXPECTED["cases"]}
MODELS = {model["id"]: model for model in EXPECTED["models"]}
RTOL, ATOL = 1e-5, 1e-6


def assert_close(actual, expected, where=""):
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64),
                               rtol=RTOL, atol=ATOL, err_msg=where)


def update(metric, batch, weighted):
    args = [oracle.decode(a) for a in batch["args"]]
    if weighted:
        metric.update_state(*args, sample_weight=oracle.decode(batch["sample_weight"]))
    else:
        metric.update_state(*args)


def build(case):
    return oracle.build_metric(keras, case["class"], case["kwargs"])


def function_name(value):
    """A config's 'fn' as the name of the function: Keras serializes it as a dict whose 'config'
    is the name."""
    if isinstance(value, dict):
        return value.get("config")
    return getattr(value, "__name__", value)


def assert_config_value(ours, theirs, where):
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), where
        for key, value in theirs.items():
            assert key in ours, f"{where}: no key {key!r}"
            assert_config_value(ours[key], value, f"{where}.{key}")
    elif isinstance(theirs, list):
        ours = list(np.asarray(ours).tolist()) if isinstance(ours, np.ndarray) else ours
        assert isinstance(ours, (list, tuple)) and len(ours) == len(theirs), f"{where}: {ours!r} != {theirs!r}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_config_value(a, b, f"{where}[{i}]")
    elif theirs is None or isinstance(theirs, (bool, str)):
        assert ours == theirs and type(ours) is type(theirs), f"{where}: {ours!r} != {theirs!r}"
    else:
        assert ours == pytest.approx(theirs, rel=1e-7), f"{where}: {ours!r} != {theirs!r}"


# ---- each class on its own ------------------------------------------------------------------------


@pytest.mark.parametrize("case_id", list(CASES))
def test_result_after_each_batch_matches_keras(case_id):
    """Two ``update_state`` calls: the result after each, so the second checks accumulation."""
    case = CASES[case_id]
    metric = build(case)
    for i, (batch, expected) in enumerate(zip(EXPECTED["inputs"][case["inputs"]], case["results"])):
        update(metric, batch, case["weighted"])
        assert_close(metric.result(), expected, f"{case_id}: result after batch {i + 1}")


@pytest.mark.parametrize("case_id", list(CASES))
def test_reset_state_starts_over(case_id):
    """After ``reset_state`` the result is Keras' empty one (0, or zeros of the result's shape),
    and the next batch counts alone."""
    case = CASES[case_id]
    batches = EXPECTED["inputs"][case["inputs"]]
    metric = build(case)
    for batch in batches:
        update(metric, batch, case["weighted"])
    metric.reset_state()
    assert_close(metric.result(), case["result_after_reset"], f"{case_id}: result after reset_state")
    update(metric, batches[0], case["weighted"])
    assert_close(metric.result(), case["results"][0], f"{case_id}: first batch after reset_state")


@pytest.mark.parametrize("case_id", list(CASES))
def test_name_and_config_match_keras(case_id):
    """The default (or given) name, and ``get_config`` holding every key Keras' has, with its
    value (a function as its name)."""
    case = CASES[case_id]
    metric = build(case)
    assert metric.name == case["name"]
    config = metric.get_config()
    if "fn" in config:
        config = {**config, "fn": function_name(config["fn"])}
    assert_config_value(config, case["config"], case_id)


@pytest.mark.parametrize("case_id", [c for c in CASES if CASES[c]["class"] != "MeanMetricWrapper"])
def test_from_config_rebuilds_the_same_metric(case_id):
    case = CASES[case_id]
    metric = build(case)
    rebuilt = type(metric).from_config(metric.get_config())
    assert type(rebuilt) is type(metric)
    assert rebuilt.get_config() == metric.get_config()
    batch = EXPECTED["inputs"][case["inputs"]][0]
    update(rebuilt, batch, case["weighted"])
    assert_close(rebuilt.result(), case["results"][0], case_id)


def test_every_class_is_a_metric():
    for name in sorted({case["class"] for case in CASES.values()}):
        assert issubclass(getattr(keras.metrics, name), keras.metrics.Metric), name


def test_default_names_count_up_within_a_session():
    """Precision, Recall and AUC are named after their class and numbered when the name is taken
    ('precision', 'precision_1'); classes with a fixed default name (F1Score, Mean, Accuracy,
    MeanSquaredError) keep it."""
    names = [getattr(keras.metrics, name)().name for name in EXPECTED["auto_names"]["classes"]]
    assert names == EXPECTED["auto_names"]["names"]


def test_calling_a_metric_updates_it_and_returns_the_result():
    case = CASES["mse"]
    metric = build(case)
    first, second = EXPECTED["inputs"][case["inputs"]]
    assert_close(metric(*[oracle.decode(a) for a in first["args"]]), case["results"][0])
    assert_close(metric(*[oracle.decode(a) for a in second["args"]]), case["results"][1])


# ---- keras.metrics.get ----------------------------------------------------------------------------


@pytest.mark.parametrize("entry", EXPECTED["get"], ids=[entry["identifier"] for entry in EXPECTED["get"]])
def test_get_resolves_a_string_as_keras_does(entry):
    """A class name or its snake_case form (and 'mse', 'mae', 'mape', 'bce' and their capitals)
    gives a new instance of the class, named by the class' default; 'acc', 'crossentropy' and
    unknown names raise (compile picks accuracy for 'acc' itself)."""
    if "raises" in entry:
        with pytest.raises(getattr(builtins, entry["raises"])):
            keras.metrics.get(entry["identifier"])
        return
    found = keras.metrics.get(entry["identifier"])
    if entry["kind"] == "instance":
        assert isinstance(found, keras.metrics.Metric)
        assert type(found).__name__ == entry["class"]
        assert found.name == entry["name"]
    else:
        assert callable(found) and found.__name__ == entry["name"]


def test_get_passes_metrics_and_functions_through_and_instantiates_classes():
    metric = keras.metrics.AUC(name="mine")
    assert keras.metrics.get(metric) is metric
    fn = oracle.max_abs_error_for(keras)
    assert keras.metrics.get(fn) is fn
    assert keras.metrics.get(None) is None
    made = keras.metrics.get(keras.metrics.Precision)
    assert type(made) is keras.metrics.Precision


def test_get_reads_a_config_dict():
    metric = keras.metrics.get({"class_name": "BinaryAccuracy", "config": {"threshold": 0.7}})
    assert type(metric) is keras.metrics.BinaryAccuracy
    assert metric.get_config()["threshold"] == 0.7


# ---- compiled into a model ------------------------------------------------------------------------


def model_with_keras_weights(model_id):
    """The fixture's model, compiled as Keras compiled it, with the weights Keras started from."""
    expected = MODELS[model_id]
    model = oracle.build_model(keras, model_id)
    oracle.compile_model(keras, model, model_id)
    model.set_weights([oracle.decode(w) for w in expected["weights"]])
    data = {key: oracle.decode(expected[key]) for key in ("x", "y", "x_val", "y_val")}
    return model, data


def flat_metric_objects(model):
    """``model.metrics`` with a container of compiled metrics (Keras 3's 'compile_metrics')
    replaced by the metrics it holds."""
    found = []
    for metric in model.metrics:
        inner = getattr(metric, "metrics", None)
        if metric.name == "compile_metrics" and isinstance(inner, (list, tuple)):
            found.extend(inner)
        else:
            found.append(metric)
    return found


class BatchLogs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.train, self.test = [], []

    def on_train_batch_end(self, batch, logs=None):
        self.train.append({k: float(v) for k, v in logs.items()})

    def on_test_batch_end(self, batch, logs=None):
        self.test.append({k: float(v) for k, v in logs.items()})


@functools.lru_cache(maxsize=None)
def fit_as_keras(model_id):
    """History, training batch logs and validation batch logs of fitting the fixture's model as
    Keras did (once per model: three tests read them)."""
    model, data = model_with_keras_weights(model_id)
    logs = BatchLogs()
    history = model.fit(
        data["x"], data["y"], epochs=oracle.FIT["epochs"], batch_size=oracle.MODEL_BATCH_SIZE, shuffle=False,
        verbose=0, validation_data=(data["x_val"], data["y_val"]), callbacks=[logs],
    )
    return history.history, logs.train, logs.test


def assert_logs_match(ours, theirs, where):
    """The values of the keys both have, then the keys."""
    for key in theirs:
        if key in ours:
            assert_close(ours[key], theirs[key], f"{where}: {key}")
    assert sorted(ours) == sorted(theirs), where


@pytest.mark.parametrize("batch_size", [oracle.MODEL_SAMPLES, oracle.MODEL_BATCH_SIZE],
                         ids=["one_batch", "three_batches"])
@pytest.mark.parametrize("model_id", list(MODELS))
def test_evaluate_matches_keras(model_id, batch_size):
    """Same weights, same data: the loss and every metric as Keras reports them, named as it
    names them ('accuracy' for the string, 'precision_1' for a second metric named 'precision',
    the function's name for a function); in three batches the metrics accumulate to the same."""
    model, data = model_with_keras_weights(model_id)
    logs = model.evaluate(data["x"], data["y"], batch_size=batch_size, verbose=0, return_dict=True)
    assert_logs_match(logs, MODELS[model_id]["evaluate"][str(batch_size)], f"{model_id}, batch_size={batch_size}")


@pytest.mark.parametrize(
    "model_id",
    [m for m in MODELS if len(set(MODELS[m]["compiled_metric_names"])) == len(MODELS[m]["compiled_metric_names"])],
)
def test_evaluate_lists_loss_then_metrics_in_compile_order(model_id):
    """Without ``return_dict``: the loss, then each metric in the order compile was given them
    (for models whose metrics have distinct names)."""
    model, data = model_with_keras_weights(model_id)
    values = model.evaluate(data["x"], data["y"], batch_size=oracle.MODEL_BATCH_SIZE, verbose=0)
    assert_close(values, MODELS[model_id]["evaluate_list"], model_id)


@pytest.mark.parametrize("model_id", list(MODELS))
def test_fit_history_matches_keras(model_id):
    """SGD from Keras' weights, unshuffled batches of 4, 4 and 2, two epochs with validation
    data: the same History keys (val_ ones too) and values."""
    history, _, _ = fit_as_keras(model_id)
    assert_logs_match(history, MODELS[model_id]["history"], model_id)


@pytest.mark.parametrize("model_id", list(MODELS))
def test_batch_logs_accumulate_over_an_epoch_and_start_over_each_epoch(model_id):
    """The logs after each training batch hold the results so far in the epoch (batch 3 covers
    all 10 samples; batch 4, the first of epoch 2, only its own 4)."""
    _, train_logs, _ = fit_as_keras(model_id)
    expected = MODELS[model_id]["train_batch_logs"]
    assert len(train_logs) == len(expected)
    for i, (ours, theirs) in enumerate(zip(train_logs, expected)):
        assert_logs_match(ours, theirs, f"{model_id}: training batch {i}")


@pytest.mark.parametrize("model_id", list(MODELS))
def test_validation_batch_logs_match_keras(model_id):
    _, _, test_logs = fit_as_keras(model_id)
    expected = MODELS[model_id]["test_batch_logs"]
    assert len(test_logs) == len(expected)
    for i, (ours, theirs) in enumerate(zip(test_logs, expected)):
        assert_logs_match(ours, theirs, f"{model_id}: validation batch {i}")


def fitted_once(model_id):
    model, data = model_with_keras_weights(model_id)
    model.fit(data["x"], data["y"], epochs=1, batch_size=oracle.MODEL_BATCH_SIZE, verbose=0)
    return model


@pytest.mark.parametrize("model_id", list(MODELS))
def test_model_metrics_are_named_as_keras_names_them(model_id):
    """After fit: the loss tracker, then the compiled metrics in compile order, each named as
    written (a string as given, an object by its name: both Precision metrics are 'precision',
    only the logs tell them apart). ``metrics_names`` names ``model.metrics``."""
    model = fitted_once(model_id)
    flat = flat_metric_objects(model)
    assert [m.name for m in flat] == ["loss", *MODELS[model_id]["compiled_metric_names"]]
    assert all(isinstance(m, keras.metrics.Metric) for m in flat)
    assert model.metrics_names == [m.name for m in model.metrics]


@pytest.mark.parametrize("model_id", list(MODELS))
def test_compiled_metrics_are_the_classes_keras_picks(model_id):
    """'accuracy' and 'acc' become BinaryAccuracy, CategoricalAccuracy or
    SparseCategoricalAccuracy by the shapes of targets and outputs, 'mae' a MeanAbsoluteError,
    'precision' a Precision, and a function is wrapped in a MeanMetricWrapper."""
    flat = flat_metric_objects(fitted_once(model_id))
    assert [type(m).__name__ for m in flat[1:]] == MODELS[model_id]["compiled_metric_classes"]


def test_metric_objects_passed_to_compile_are_the_ones_updated():
    model, data = model_with_keras_weights("softmax")
    precision, auc = keras.metrics.Precision(), keras.metrics.AUC(name="my_auc")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="categorical_crossentropy",
                  metrics=["accuracy", precision, auc])
    logs = model.evaluate(data["x"], data["y"], batch_size=oracle.MODEL_BATCH_SIZE, verbose=0, return_dict=True)
    flat = flat_metric_objects(model)
    assert any(m is precision for m in flat) and any(m is auc for m in flat)
    assert_close(precision.result(), MODELS["softmax"]["evaluate"]["4"]["precision"])
    assert_close(auc.result(), MODELS["softmax"]["evaluate"]["4"]["my_auc"])
    assert_close(logs["my_auc"], auc.result())


# ---- metrics written by users ---------------------------------------------------------------------


class WeightedPositives(keras.metrics.Metric):
    """The (weighted) share of predictions above 0.5, written with keras.ops."""

    def __init__(self, name="positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.hits = self.add_variable(shape=(), initializer="zeros", name="hits")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        above = keras.ops.reshape(keras.ops.cast(keras.ops.greater(y_pred, 0.5), "float32"), (-1,))
        if sample_weight is None:
            weight = keras.ops.ones_like(above)
        else:
            weight = keras.ops.reshape(keras.ops.cast(sample_weight, "float32"), (-1,))
        self.hits.assign_add(keras.ops.sum(keras.ops.multiply(above, weight)))
        self.total.assign_add(keras.ops.sum(weight))

    def result(self):
        return keras.ops.divide(self.hits, keras.ops.maximum(self.total, 1.0))


class SeenSamples(keras.metrics.Metric):
    """How many samples it was updated with."""

    def __init__(self, name="seen", **kwargs):
        super().__init__(name=name, **kwargs)
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.count.assign_add(keras.ops.cast(keras.ops.shape(y_pred)[0], "float32"))

    def result(self):
        return keras.ops.convert_to_tensor(self.count)


class LargestSeen(keras.metrics.Metric):
    """The largest prediction so far, written with NumPy (for use outside a compiled step)."""

    def __init__(self, name="largest_seen", **kwargs):
        super().__init__(name=name, **kwargs)
        self.largest = self.add_variable(shape=(), initializer="zeros", name="largest")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.largest.assign(max(float(np.asarray(self.largest)), float(np.max(y_pred))))

    def result(self):
        return keras.ops.convert_to_tensor(self.largest)


class StartsAtOne(keras.metrics.Metric):
    def __init__(self, name="starts_at_one", **kwargs):
        super().__init__(name=name, **kwargs)
        self.value = self.add_variable(shape=(), initializer="ones", name="value")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.value.assign_add(1.0)

    def result(self):
        return keras.ops.convert_to_tensor(self.value)


POSITIVE = np.array([1, 0, 0, 0, 1, 1, 1, 1, 0, 1], dtype=bool)
"""Which of the 10 training samples the fixed model below scores above 0.5: the shares of the
first 4, 8 and 10 are 1/4, 5/8 and 6/10."""
POSITIVE_VAL = np.array([1, 1, 0, 0, 0], dtype=bool)


def fixed_sigmoid_model(metrics):
    """One sigmoid unit scoring each sample +-2 (0.88 or 0.12), trained with a learning rate of 0
    so the by-hand numbers hold in every batch."""
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="binary_crossentropy", metrics=metrics)
    model.set_weights([np.ones((4, 1), np.float32), np.zeros(1, np.float32)])
    x = np.where(POSITIVE, 0.5, -0.5)[:, None] * np.ones((1, 4), np.float32)
    x_val = np.where(POSITIVE_VAL, 0.5, -0.5)[:, None] * np.ones((1, 4), np.float32)
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0], np.float32)[:, None]
    y_val = np.array([1, 0, 1, 0, 1], np.float32)[:, None]
    return model, (x.astype(np.float32), y), (x_val.astype(np.float32), y_val)


def test_a_subclassed_metric_on_its_own():
    metric = WeightedPositives()
    assert metric.name == "positives"
    assert len(metric.variables) == 2
    assert float(metric.result()) == 0.0
    metric.update_state(np.zeros((3, 1)), np.array([[0.9], [0.2], [0.7]], np.float32))
    assert float(metric.result()) == pytest.approx(2 / 3)
    metric.update_state(np.zeros((2, 1)), np.array([[0.9], [0.1]], np.float32), sample_weight=np.array([3.0, 1.0]))
    assert float(metric.result()) == pytest.approx((2 + 3) / (3 + 4))
    metric.reset_state()
    assert float(metric.result()) == 0.0
    assert [float(np.asarray(v)) for v in metric.variables] == [0.0, 0.0]
    assert WeightedPositives(name="other").name == "other"


def test_default_reset_state_zeroes_every_variable_whatever_its_initializer():
    """Keras 3's ``Metric.reset_state`` assigns zeros to each variable (not its initializer)."""
    metric = StartsAtOne()
    assert float(metric.result()) == 1.0
    metric.update_state(None, None)
    assert float(metric.result()) == 2.0
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_a_subclassed_metric_trains_with_the_numbers_by_hand():
    model, (x, y), (x_val, y_val) = fixed_sigmoid_model([WeightedPositives()])
    logs = BatchLogs()
    history = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0, validation_data=(x_val, y_val),
                        callbacks=[logs])
    assert sorted(history.history) == ["loss", "positives", "val_loss", "val_positives"]
    assert history.history["positives"] == pytest.approx([0.6, 0.6])
    assert history.history["val_positives"] == pytest.approx([0.4, 0.4])
    assert [entry["positives"] for entry in logs.train] == pytest.approx([1 / 4, 5 / 8, 6 / 10] * 2)
    assert [entry["positives"] for entry in logs.test] == pytest.approx([2 / 4, 2 / 5] * 2)
    results = model.evaluate(x, y, batch_size=3, verbose=0, return_dict=True)
    assert results["positives"] == pytest.approx(0.6)


def test_a_subclassed_metric_written_with_numpy():
    metric = LargestSeen()
    metric.update_state(None, np.array([0.25, 0.5], np.float32))
    metric.update_state(None, np.array([[0.75], [0.125]], np.float32))
    metric.update_state(None, np.array([0.5], np.float32))
    assert float(metric.result()) == 0.75
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_metric_state_persists_across_batches_and_resets_each_epoch():
    """A metric counting its samples reads 4, 8, 10 after the batches of each epoch, 10 at each
    epoch's end, 4 and 5 in validation, and evaluate starts from 0."""
    counter = SeenSamples()
    model, (x, y), (x_val, y_val) = fixed_sigmoid_model([counter])
    logs = BatchLogs()
    history = model.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0, validation_data=(x_val, y_val),
                        callbacks=[logs])
    assert history.history["seen"] == [10.0, 10.0, 10.0]
    assert history.history["val_seen"] == [5.0, 5.0, 5.0]
    assert [entry["seen"] for entry in logs.train] == [4.0, 8.0, 10.0] * 3
    assert [entry["seen"] for entry in logs.test] == [4.0, 5.0] * 3
    assert model.evaluate(x, y, batch_size=3, verbose=0, return_dict=True)["seen"] == 10.0
    assert float(counter.result()) == 10.0


def largest_error(y_true, y_pred):
    return keras.ops.max(keras.ops.abs(y_true - y_pred), axis=-1)


def test_a_metric_function_is_logged_under_its_name():
    """A function returning one value per sample: logged as ``fn.__name__``, the mean over the
    epoch's samples (not of the batches' means: the last batch holds 2 samples, not 4)."""
    model, (x, y), (x_val, y_val) = fixed_sigmoid_model([largest_error])
    history = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0, validation_data=(x_val, y_val))
    assert sorted(history.history) == ["largest_error", "loss", "val_largest_error", "val_loss"]
    per_sample = np.abs(y - model.predict(x, verbose=0))[:, 0]
    per_sample_val = np.abs(y_val - model.predict(x_val, verbose=0))[:, 0]
    assert history.history["largest_error"] == pytest.approx([per_sample.mean()] * 2, rel=1e-5)
    assert history.history["val_largest_error"] == pytest.approx([per_sample_val.mean()] * 2, rel=1e-5)
    wrapped = [m for m in flat_metric_objects(model) if m.name == "largest_error"]
    assert len(wrapped) == 1 and isinstance(wrapped[0], keras.metrics.MeanMetricWrapper)


def test_metrics_of_a_model_before_and_after_compile():
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1, activation="sigmoid")])
    assert model.metrics == [] and model.metrics_names == []
    model, (x, y), _ = fixed_sigmoid_model(["accuracy", WeightedPositives()])
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    flat = flat_metric_objects(model)
    assert [m.name for m in flat] == ["loss", "accuracy", "positives"]
    assert type(flat[1]) is keras.metrics.BinaryAccuracy
    assert isinstance(flat[2], WeightedPositives)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mean_of_numpy_scalars_and_unweighted_arrays_equals_its_general_path(dtype):
    """A batch's loss arrives as a NumPy scalar with the batch size as its weight, a per-sample
    metric as a 1-D array without weights: each gives the bits the general path (the same
    values as a list, the weight as an array) gives."""
    rng = np.random.default_rng(0)
    values = rng.standard_normal(7).astype(dtype)
    for scalar_type in (np.float32, np.float64, float):
        quick, general = keras.metrics.Mean(dtype=dtype), keras.metrics.Mean(dtype=dtype)
        for value in values:
            quick.update_state(scalar_type(value), sample_weight=32)
            general.update_state([scalar_type(value)], sample_weight=np.array([32]))
        assert quick.result() == general.result() and quick.count.value == general.count.value
    quick, general = keras.metrics.Mean(dtype=dtype), keras.metrics.Mean(dtype=dtype)
    for _ in range(3):
        quick.update_state(values)
        general.update_state(values.tolist())
    assert quick.result() == general.result() and quick.count.value == general.count.value == 21
