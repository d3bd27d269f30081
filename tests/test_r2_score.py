"""keras.metrics.R2Score against Keras 3's own results over weighted batches
(tests/fixtures/keras_r2.npz and its script), the reset, a fit logging it, and the errors."""
import json
import os

import numpy as np
import pytest
from keras_fixtures import FIXTURES

import tinykeras as keras
from tinykeras.metrics import R2Score

KERAS = np.load(os.path.join(FIXTURES, "keras_r2.npz"), allow_pickle=False)
CASES = json.loads(str(KERAS["settings"]))


def batches():
    return [(KERAS[f"y_true_{b}"], KERAS[f"y_pred_{b}"], KERAS[f"weight_{b}"] if f"weight_{b}" in KERAS.files else None)
            for b in range(3)]


@pytest.mark.parametrize("case", sorted(CASES))
def test_equals_keras_over_weighted_batches(case):
    metric = R2Score(**CASES[case])
    for y_true, y_pred, weight in batches():
        metric.update_state(y_true, y_pred, sample_weight=weight)
    expected = KERAS[case]
    if case == "adjusted":
        # The adjusted score's n counts samples (18 here), as Keras' main branch does; Keras
        # 3.15.1, which wrote the fixture, counted values (18 samples x 3 outputs).
        n, p = 18, CASES[case]["num_regressors"]
        expected = 1 - (1 - KERAS["uniform"]) * (n - 1) / (n - p - 1)
    np.testing.assert_allclose(metric.result(), expected, rtol=1e-5, atol=1e-6)
    metric.reset_state()
    y_true, y_pred, _ = batches()[0]
    metric.update_state(y_true, y_true)
    np.testing.assert_allclose(metric.result(), 1.0 if CASES[case].get("class_aggregation", 1) else np.ones(3))


def test_a_perfect_and_a_mean_predictor_and_the_adjusted_fallback():
    y = np.arange(8.0).reshape(4, 2)
    metric = R2Score()
    metric.update_state(y, np.broadcast_to(y.mean(axis=0), y.shape))
    np.testing.assert_allclose(metric.result(), 0.0, atol=1e-7)
    adjusted = R2Score(num_regressors=5)
    adjusted.update_state(y, y * 0.9)
    with pytest.warns(UserWarning, match="More independent predictors than datapoints"):
        plain = adjusted.result()
    reference = R2Score()
    reference.update_state(y, y * 0.9)
    np.testing.assert_allclose(plain, reference.result())


def test_fit_logs_it():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype("float32")
    y = x @ np.array([[1.0], [2.0], [-1.0]], "float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse", metrics=[R2Score()])
    history = model.fit(x, y, epochs=30, verbose=0)
    assert history.history["r2_score"][-1] > 0.95 > history.history["r2_score"][0]
    assert R2Score(class_aggregation=None).get_config()["class_aggregation"] is None


@pytest.mark.parametrize("kwargs, match", [
    ({"class_aggregation": "median"}, "Invalid value for argument `class_aggregation`"),
    ({"num_regressors": -1}, "Invalid value for argument `num_regressors`"),
])
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        R2Score(**kwargs)
    with pytest.raises(ValueError, match="R2Score expects 2D inputs"):
        R2Score().update_state(np.ones((2, 2, 2)), np.ones((2, 2, 2)))
