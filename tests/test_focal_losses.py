"""Binary and categorical focal cross-entropy: values and gradients against Keras 3's own
(tests/fixtures/keras_focal.npz, JAX's gradients), float64 gradient checks through the ops,
training with them, their configs in a saved model, and their names as metrics."""
import json
import os

import numpy as np
import pytest
from keras_fixtures import FIXTURES

import tinykeras as keras
from tinykeras import losses
from tinykeras.utils import check_gradients

KERAS = np.load(os.path.join(FIXTURES, "keras_focal.npz"), allow_pickle=False)
CASES = sorted({"/".join(key.split("/")[:2]) for key in KERAS.files})
CLASSES = {"binary": losses.BinaryFocalCrossentropy, "categorical": losses.CategoricalFocalCrossentropy}
FUNCTIONS = {"binary": losses.binary_focal_crossentropy, "categorical": losses.categorical_focal_crossentropy}


@pytest.mark.parametrize("case", CASES)
def test_value_gradient_and_per_sample_values_equal_keras(case):
    kind = case.split("/")[0]
    settings = json.loads(str(KERAS[f"{case}/settings"]))
    y_true, y_pred = KERAS[f"{case}/y_true"], KERAS[f"{case}/y_pred"]
    loss = CLASSES[kind](**settings)
    with np.errstate(divide="ignore", invalid="ignore"):  # the infinite slopes below
        value, grad = loss.value_and_grad(y_true, y_pred)
    np.testing.assert_allclose(value, KERAS[f"{case}/value"], rtol=1e-5, atol=1e-7)
    # Where a prediction is exactly 0 or 1 and gamma < 1, (1 - p_t)**gamma has no finite slope:
    # JAX gives NaN there (also for gamma = 0, where tinykeras gives the cross-entropy's slope).
    finite = np.isfinite(KERAS[f"{case}/grad"])
    np.testing.assert_allclose(grad[finite], KERAS[f"{case}/grad"][finite], rtol=1e-4, atol=1e-6)
    if settings.get("gamma") == 0.0:
        assert np.isfinite(grad).all()
    np.testing.assert_allclose(FUNCTIONS[kind](y_true, y_pred, **settings), KERAS[f"{case}/per_sample"],
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(loss(y_true, y_pred), KERAS[f"{case}/value"], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind, settings", [
    ("binary", {}), ("binary", {"apply_class_balancing": True, "gamma": 1.5}), ("binary", {"from_logits": True}),
    ("categorical", {}), ("categorical", {"from_logits": True, "label_smoothing": 0.1}),
])
def test_gradients_match_finite_differences(kind, settings, float64):
    rng = np.random.default_rng(3)
    if kind == "binary":
        y_true = rng.integers(0, 2, (4, 3)).astype(float)
        y_pred = rng.uniform(0.1, 0.9, (4, 3))
    else:
        y_true = np.eye(3)[rng.integers(0, 3, 4)]
        y_pred = rng.dirichlet(np.ones(3), 4)
    if settings.get("from_logits"):
        y_pred = rng.standard_normal(y_pred.shape)
    check_gradients(CLASSES[kind](**settings), y_pred, y_true)


def test_a_model_trains_with_them_and_saves_their_settings(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(0.05),
                  loss=losses.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=1.0),
                  metrics=["binary_focal_crossentropy", "accuracy"])
    history = model.fit(x, y, epochs=40, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.8 and "binary_focal_crossentropy" in history.history
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.loss, losses.BinaryFocalCrossentropy)
    assert loaded.loss.get_config() == model.loss.get_config()
    assert loaded.loss.apply_class_balancing and loaded.loss.gamma == 1.0


def test_names_and_errors():
    assert isinstance(losses.get("categorical_focal_crossentropy"), losses.CategoricalFocalCrossentropy)
    assert isinstance(losses.get("BinaryFocalCrossentropy"), losses.BinaryFocalCrossentropy)
    assert keras.metrics.get("binary_focal_crossentropy") is losses.binary_focal_crossentropy
    with pytest.raises(ValueError, match="`axis` must be of type `int`"):
        losses.categorical_focal_crossentropy(np.eye(2), np.eye(2), axis=True)
    with pytest.warns(SyntaxWarning, match="num_classes > 1"):
        losses.categorical_focal_crossentropy(np.ones((2, 1)), np.ones((2, 1)) / 2)
