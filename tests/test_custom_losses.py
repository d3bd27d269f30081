"""Losses written by the user with keras.ops: a function (y_true, y_pred) returning per-sample
values, or a keras.losses.Loss subclass with call; their gradient comes from the ops'."""
import numpy as np
import pytest

import tinykeras as keras
from tinykeras import backend, layers, ops
from tinykeras.utils import numerical_gradient


def my_mse(y_true, y_pred):
    return ops.mean(ops.square(y_true - y_pred), axis=-1)


class ScaledHuber(keras.losses.Loss):
    """A Huber loss times a factor, to exercise where, abs and constants."""

    def __init__(self, scale=2.0, delta=0.5, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.delta = scale, delta

    def call(self, y_true, y_pred):
        error = ops.abs(y_pred - y_true)
        quadratic = 0.5 * ops.square(error)
        linear = self.delta * error - 0.5 * self.delta**2
        return self.scale * ops.mean(ops.where(error <= self.delta, quadratic, linear), axis=-1)


def data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((32, 4), dtype=np.float32), rng.random((32, 2), dtype=np.float32) * 3


def history(loss):
    backend.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(2)])
    model.compile("sgd", loss)
    x, y = data()
    return model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]


def test_a_loss_function_on_ops_trains_like_the_built_in_loss():
    np.testing.assert_allclose(history(my_mse), history("mse"), rtol=1e-6)


@pytest.mark.parametrize("loss", [my_mse, ScaledHuber(), ScaledHuber(delta=5.0, name="wide")], ids=["fn", "huber", "wide"])
def test_the_traced_gradient_matches_finite_differences(loss):
    backend.set_floatx("float64")
    rng = np.random.default_rng(1)
    y_true, y_pred = rng.random((5, 3)) * 3, rng.random((5, 3))
    wrapped = keras.losses.get(loss)
    value, grad = wrapped.value_and_grad(y_true, y_pred)
    assert value == pytest.approx(float(np.mean(wrapped.call(y_true, y_pred))), rel=1e-12)
    np.testing.assert_allclose(grad, numerical_gradient(lambda: wrapped.value_and_grad(y_true, y_pred)[0], y_pred),
                               rtol=1e-6, atol=1e-9)


def test_a_loss_subclass_reduces_and_names_itself_as_keras_does():
    y_true, y_pred = np.ones((4, 2), np.float32), np.zeros((4, 2), np.float32)
    assert ScaledHuber()(y_true, y_pred) == pytest.approx(2 * (0.5 - 0.125))
    assert ScaledHuber().name == "scaled_huber" and keras.losses.get(my_mse).name == "my_mse"
    assert ScaledHuber(reduction="sum")(y_true, y_pred) == pytest.approx(4 * 2 * (0.5 - 0.125))


def test_a_loss_written_with_numpy_says_to_use_ops():
    def numpy_loss(y_true, y_pred):
        return np.mean((y_true - y_pred) ** 2, axis=-1)

    with pytest.raises(TypeError, match=r"Loss 'numpy_loss': its call\(y_true, y_pred\) could not be differentiated.*keras.ops"):
        history(numpy_loss)


def test_a_metric_function_on_ops_is_logged_under_its_name():
    def mean_error(y_true, y_pred):
        return ops.mean(ops.abs(y_true - y_pred), axis=-1)

    backend.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(2)])
    model.compile("sgd", "mse", metrics=[mean_error])
    x, y = data()
    logs = model.fit(x, y, epochs=1, verbose=0).history
    assert sorted(logs) == ["loss", "mean_error"]
    assert logs["mean_error"][0] > 0
