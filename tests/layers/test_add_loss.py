"""``add_loss`` inside a custom layer's or a subclassed model's ``call``: the term is computed at
every forward pass, added to the loss fit and evaluate report, and its gradient reaches every
weight it depends on (checked against finite differences in float64)."""
import numpy as np
import pytest
from model_gradients import assert_weight_gradients_match

import tinykeras as keras
from tinykeras import layers, ops


class ActivityRegularization(layers.Layer):
    """The guide's layer: adds rate * mean(inputs) and passes its inputs on."""

    def __init__(self, rate=1e-2, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * ops.mean(inputs))
        return inputs


class Outer(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.activity_reg = ActivityRegularization(1e-2)

    def call(self, inputs):
        return self.activity_reg(inputs)


class PenalizedDense(layers.Layer):
    """x @ w + b, adding 0.1 * sum(w**2) (a term of the weights alone) and 0.05 * the mean
    squared output (a term of the inputs and weights)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal")
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal")

    def call(self, inputs):
        outputs = ops.matmul(inputs, self.w) + self.b
        self.add_loss(0.1 * ops.sum(self.w**2))
        self.add_loss(0.05 * ops.mean(ops.square(outputs)))
        return outputs


class TwoHeads(keras.Model):
    """A subclassed model adding a term over its hidden activations in call."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(5, activation="tanh")
        self.head = layers.Dense(2)

    def call(self, inputs):
        hidden = self.hidden(inputs)
        self.add_loss(0.3 * ops.mean(ops.square(hidden)))
        return self.head(hidden)


def data(seed=0, features=3, outputs=2, samples=6):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((samples, features)), rng.standard_normal((samples, outputs))


@pytest.fixture
def float64():
    keras.backend.set_floatx("float64")
    yield
    keras.backend.set_floatx("float32")


def test_guide_layer_losses_are_those_of_the_last_call():
    layer = Outer()
    assert len(layer.losses) == 0  # never called
    layer(ops.zeros((1, 1)))
    assert len(layer.losses) == 1
    layer(np.full((2, 1), 4.0))
    assert layer.losses == [pytest.approx(0.04)]


def test_guide_model_trains_with_and_without_a_compiled_loss():
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(3,))
    model = keras.Model(inputs, ActivityRegularization()(inputs))
    x, y = np.full((2, 3), 0.5), np.zeros((2, 3))
    model.compile(optimizer="adam", loss="mse")
    assert model.evaluate(x, y, verbose=0) == pytest.approx(0.25 + 0.005)
    model.compile(optimizer="adam")
    history = model.fit(x, y, verbose=0)
    assert history.history["loss"] == [pytest.approx(0.005)]
    assert model.evaluate(x, y, verbose=0) == pytest.approx(0.005)


def test_a_model_without_loss_or_added_terms_still_refuses_to_compile():
    inputs = keras.Input(shape=(3,))
    model = keras.Model(inputs, layers.Dense(2)(inputs))
    with pytest.raises(ValueError, match="compile needs a loss"):
        model.compile(optimizer="adam")


@pytest.mark.usefixtures("float64")
def test_gradients_of_terms_from_weights_and_activations_match_finite_differences():
    keras.utils.set_random_seed(1)
    inputs = keras.Input(shape=(3,))
    hidden = layers.Dense(4, activation="tanh")(inputs)
    outputs = PenalizedDense(2)(ActivityRegularization(0.2)(hidden))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    assert_weight_gradients_match(model, *data())


@pytest.mark.usefixtures("float64")
def test_gradients_through_a_nested_layer_and_a_subclassed_model():
    keras.utils.set_random_seed(2)
    model = TwoHeads()
    model.compile(optimizer="sgd", loss="mse")
    x, y = data(seed=3)
    model.fit(x, y, epochs=1, verbose=0)  # builds the traced graphs
    assert_weight_gradients_match(model, x, y)
    assert len(model.losses) == 1

    keras.utils.set_random_seed(4)
    sequential = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(4), Outer(), layers.Dense(2)])
    sequential.compile(optimizer="sgd", loss="mse")
    assert_weight_gradients_match(sequential, *data(seed=5))


@pytest.mark.usefixtures("float64")
def test_a_term_of_an_output_without_loss_still_trains_the_weights_it_reads():
    keras.utils.set_random_seed(6)
    inputs = keras.Input(shape=(3,))
    hidden = layers.Dense(4)(inputs)
    with_loss = layers.Dense(2, name="fitted")(hidden)
    unfitted = PenalizedDense(2, name="penalized")(hidden)
    model = keras.Model(inputs, [with_loss, unfitted])
    model.compile(optimizer="sgd", loss=["mse", None])
    x, y = data(seed=7)
    assert_weight_gradients_match(model, x, [y, np.zeros_like(y)])


def test_the_loss_logged_is_the_compiled_loss_plus_the_terms():
    keras.utils.set_random_seed(8)
    inputs = keras.Input(shape=(3,))
    model = keras.Model(inputs, PenalizedDense(2)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    x, y = (a.astype("float32") for a in data(seed=9))
    w, b = model.get_weights()
    z = x @ w + b
    expected = np.mean((z - y) ** 2) + 0.1 * np.sum(w**2) + 0.05 * np.mean(z**2)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-5)
    assert model.test_on_batch(x, y) == pytest.approx(expected, rel=1e-5)


def test_add_loss_outside_call_names_the_fix():
    layer = layers.Dense(2)
    with pytest.raises(TypeError, match=r"Dense 'dense.*': add_loss takes a value computed inside call\(\)"):
        layer.add_loss(1.0)
