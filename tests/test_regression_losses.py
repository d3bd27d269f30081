"""Keras 3's regression, hinge and probabilistic losses: values, hand-derived gradients and
training, against real Keras (tests/fixtures/keras_losses.npz, written by
make_keras_losses_fixture.py) and float64 finite differences."""
import json
import os
import sys
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinykeras as keras
from tinykeras import losses, metrics
from tinykeras.utils import check_gradients

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
sys.path.insert(0, FIXTURES)

from make_keras_losses_fixture import activation, cases, training_data  # noqa: E402

KERAS = np.load(os.path.join(FIXTURES, "keras_losses.npz"))
CASES = cases()


def loss_of(name):
    class_name, kwargs, _, _ = CASES[name]
    return getattr(losses, class_name)(**kwargs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_equal_keras(name):
    class_name, kwargs, y_true, y_pred = CASES[name]
    loss = loss_of(name)
    function = getattr(losses, backend_name(class_name))
    np.testing.assert_allclose(function(y_true, y_pred, **kwargs), KERAS[f"{name}/per_sample"], rtol=2e-6, atol=1e-6)
    assert loss(y_true, y_pred) == pytest.approx(float(KERAS[f"{name}/value"]), rel=2e-6, abs=1e-6)
    value, grad = loss.value_and_grad(loss.prepare_targets(y_true, y_pred), y_pred)
    assert value == pytest.approx(float(KERAS[f"{name}/value"]), rel=2e-6, abs=1e-6)
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, KERAS[f"{name}/grad"], rtol=2e-5, atol=1e-7)


def backend_name(class_name):
    """The loss function behind a class, as Keras names it."""
    return {
        "MeanAbsoluteError": "mean_absolute_error", "MeanAbsolutePercentageError": "mean_absolute_percentage_error",
        "MeanSquaredLogarithmicError": "mean_squared_logarithmic_error", "MeanSquaredError": "mean_squared_error",
        "Huber": "huber", "LogCosh": "log_cosh", "Poisson": "poisson", "Hinge": "hinge", "SquaredHinge": "squared_hinge",
        "CategoricalHinge": "categorical_hinge", "KLDivergence": "kl_divergence", "CosineSimilarity": "cosine_similarity",
    }[class_name]


@pytest.mark.parametrize("name", sorted(n for n in CASES if CASES[n][2].ndim == 2))
def test_one_epoch_of_training_equals_keras(name):
    class_name, _, y_true, _ = CASES[name]
    x, kernel, bias = training_data(name, y_true)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(y_true.shape[-1], activation=activation(class_name))])
    model.set_weights([kernel, bias])
    model.compile(keras.optimizers.SGD(learning_rate=0.1), loss_of(name))
    history = model.fit(x, y_true, batch_size=2, epochs=1, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(float(KERAS[f"{name}/history"][0]), rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(model.get_weights()[0], KERAS[f"{name}/kernel"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.get_weights()[1], KERAS[f"{name}/bias"], rtol=1e-5, atol=1e-6)


def targets_and_predictions(name, rng, shape):
    """float64 data for a gradient check, away from the kinks of the piecewise losses."""
    y_pred = rng.standard_normal(shape)
    if name in ("Hinge", "SquaredHinge"):
        return np.where(rng.random(shape) < 0.5, -1.0, 1.0), y_pred
    if name == "CategoricalHinge":
        return np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])], y_pred
    if name == "KLDivergence":
        p = rng.uniform(0.05, 1, shape)
        q = rng.uniform(0.05, 1, shape)
        return p / p.sum(axis=-1, keepdims=True), q / q.sum(axis=-1, keepdims=True)
    if name == "Poisson":
        return rng.poisson(2, shape).astype(float), rng.uniform(0.1, 4, shape)
    if name == "MeanSquaredLogarithmicError":
        return np.abs(rng.standard_normal(shape)), np.abs(y_pred) + 0.01
    return rng.standard_normal(shape), 2 * y_pred


LOSS_CLASSES = ["MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "Huber", "LogCosh",
                "Poisson", "Hinge", "SquaredHinge", "CategoricalHinge", "KLDivergence", "CosineSimilarity"]


@pytest.mark.parametrize("name", LOSS_CLASSES)
@settings(max_examples=15, deadline=None)
@given(shape=st.lists(st.integers(2, 5), min_size=1, max_size=3).map(tuple), seed=st.integers(0, 2**16))
def test_gradients_in_float64(name, shape, seed):
    rng = np.random.default_rng(seed)
    y_true, y_pred = targets_and_predictions(name, rng, shape)
    check_gradients(getattr(losses, name)(), y_pred, y_true=y_true)


@pytest.mark.parametrize("kwargs", [{"delta": 0.3}, {"delta": 3.0}])
def test_huber_gradient_for_other_deltas(kwargs, rng):
    y_true, y_pred = rng.standard_normal((4, 3)), 2 * rng.standard_normal((4, 3))
    check_gradients(losses.Huber(**kwargs), y_pred, y_true=y_true)


def test_cosine_similarity_gradient_along_another_axis(rng):
    check_gradients(losses.CosineSimilarity(axis=1), rng.standard_normal((3, 4, 2)), y_true=rng.standard_normal((3, 4, 2)))


def test_cosine_similarity_of_a_zero_prediction_is_zero_with_a_finite_gradient():
    value, grad = losses.CosineSimilarity().value_and_grad(np.ones((2, 3), np.float32), np.zeros((2, 3), np.float32))
    assert value == 0.0 and np.all(np.isfinite(grad))


def test_a_wrong_gradient_is_caught(rng):
    class HalfHuber(losses.Huber):
        def term(self, y_true, y_pred):
            values, slope = super().term(y_true, y_pred)
            return values, slope / 2

    with pytest.raises(AssertionError):
        check_gradients(HalfHuber(), 2 * rng.standard_normal((3, 2)), y_true=rng.standard_normal((3, 2)))


@pytest.mark.parametrize("identifier, cls", [
    ("mae", losses.MeanAbsoluteError), ("MAE", losses.MeanAbsoluteError), ("mape", losses.MeanAbsolutePercentageError),
    ("msle", losses.MeanSquaredLogarithmicError), ("huber", losses.Huber), ("Huber", losses.Huber),
    ("log_cosh", losses.LogCosh), ("logcosh", losses.LogCosh), ("LogCosh", losses.LogCosh),
    ("poisson", losses.Poisson), ("hinge", losses.Hinge), ("squared_hinge", losses.SquaredHinge),
    ("categorical_hinge", losses.CategoricalHinge), ("kld", losses.KLDivergence), ("KLD", losses.KLDivergence),
    ("kl_divergence", losses.KLDivergence), ("KLDivergence", losses.KLDivergence),
    ("cosine_similarity", losses.CosineSimilarity), (losses.huber, losses.Huber), (losses.mae, losses.MeanAbsoluteError),
])
def test_names_and_functions_give_the_loss(identifier, cls):
    assert type(losses.get(identifier)) is cls


def test_names_as_keras_logs_them():
    assert [losses.get(n).name for n in ("huber", "log_cosh", "kld", "mae")] == [
        "huber_loss", "log_cosh", "kl_divergence", "mean_absolute_error"]


@pytest.mark.parametrize("cls, fn", [
    (metrics.Hinge, losses.hinge), (metrics.SquaredHinge, losses.squared_hinge),
    (metrics.CategoricalHinge, losses.categorical_hinge), (metrics.KLDivergence, losses.kl_divergence),
    (metrics.Poisson, losses.poisson),
])
def test_metric_classes_average_the_loss_functions(cls, fn, rng):
    y_true = (rng.random((5, 3)) < 0.5).astype(np.float32)
    y_pred = rng.uniform(0.1, 0.9, (5, 3)).astype(np.float32)
    metric = cls()
    metric.update_state(y_true, y_pred)
    assert metric.result() == pytest.approx(float(np.mean(fn(y_true, y_pred))), rel=1e-6)
    assert metrics.get(cls.__name__).name == metric.name


def test_metric_cosine_similarity_is_the_loss_negated(rng):
    y_true, y_pred = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    np.testing.assert_allclose(metrics.cosine_similarity(y_true, y_pred), -losses.cosine_similarity(y_true, y_pred), rtol=1e-6)


def test_a_loss_with_settings_is_saved_with_them(tmp_path, rng):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", losses.Huber(delta=0.25))
    path = str(tmp_path / "m.keras")
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    assert config["compile_config"]["loss"]["class_name"] == "Huber"
    assert config["compile_config"]["loss"]["config"]["delta"] == 0.25
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.loss, losses.Huber) and loaded.loss.delta == 0.25
    y_true, y_pred = rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    assert loaded.loss(y_true, y_pred) == pytest.approx(losses.Huber(delta=0.25)(y_true, y_pred))


def test_a_loss_at_its_defaults_is_saved_by_name(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", "huber")
    path = str(tmp_path / "m.keras")
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        assert json.loads(archive.read("config.json"))["compile_config"]["loss"] == "huber_loss"
    assert isinstance(keras.models.load_model(path).loss, losses.Huber)


def test_targets_of_another_shape_are_refused_naming_the_loss():
    with pytest.raises(ValueError, match="huber_loss expects targets of the output's shape"):
        losses.Huber().value_and_grad(losses.Huber().prepare_targets(np.zeros((3, 2)), np.zeros((3, 4), np.float32)),
                                      np.zeros((3, 4), np.float32))
