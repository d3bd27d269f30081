"""Layers written the Keras 3 way: build with add_weight(shape=..., initializer=...), call on
keras.ops and other layers; their backward comes from the ops' and layers' own. The Keras guide's
Linear and MLPBlock, gradients, training, freezing, sharing, and Keras' weights files."""
import os
import sys
import traceback

import numpy as np
import pytest
from keras_fixtures import weight_group_paths
from model_gradients import assert_weight_gradients_match

import tinykeras as keras
from tinykeras import backend, layers, ops
from tinykeras.utils import check_gradients

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures")
sys.path.insert(0, FIXTURES)

import make_keras_custom_layers_fixture as fixture  # noqa: E402

Linear, MLPBlock = fixture.custom_layer_classes(keras)


class LinearBuiltInInit(keras.layers.Layer):
    """The guide's first Linear: weights made in __init__ for a known input size."""

    def __init__(self, units=4, input_dim=3):
        super().__init__()
        self.w = self.add_weight(shape=(input_dim, units), initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True)

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b


class NoisyScale(keras.layers.Layer):
    """A weight, a sublayer, and call branching on training."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dropout = layers.Dropout(0.5)

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

    def call(self, inputs, training=False):
        x = inputs * self.scale
        return self.dropout(x, training=training) if training else ops.tanh(x)


def test_the_guides_linear_layer_computes_and_lists_its_weights():
    x = np.ones((2, 3), np.float32)
    layer = LinearBuiltInInit()
    y = layer(x)
    np.testing.assert_allclose(y, x @ layer.w.value + layer.b.value, rtol=1e-6)
    assert [w.shape for w in layer.weights] == [(3, 4), (4,)] and [w.name for w in layer.weights] == ["variable", "variable_1"]
    block = MLPBlock()
    block(np.ones((3, 64), np.float32))
    assert len(block.weights) == 6 and len(block.trainable_weights) == 6  # as the guide prints
    assert block.count_params() == 64 * 8 + 8 + 8 * 8 + 8 + 8 * 3 + 3


@pytest.mark.parametrize("make", [lambda: Linear(3), MLPBlock, LinearBuiltInInit], ids=["Linear", "MLPBlock", "init"])
def test_check_gradients_needs_nothing_from_the_user(make):
    backend.set_floatx("float64")
    errors = check_gradients(make(), np.random.default_rng(0).standard_normal((4, 3)))
    assert set(errors) >= {"input"} and len(errors) > 2 and max(errors.values()) < 1e-6


def test_a_custom_layer_trains_like_the_dense_layer_it_equals():
    rng = np.random.default_rng(1)
    x, y = rng.random((32, 5), dtype=np.float32), rng.random((32, 3), dtype=np.float32)
    custom = keras.Sequential([keras.Input(shape=(5,)), Linear(3)])
    dense = keras.Sequential([keras.Input(shape=(5,)), layers.Dense(3)])
    dense.set_weights(custom.get_weights())
    for model in (custom, dense):
        model.compile("adam", "mse")
    history = custom.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(history, dense.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history["loss"], rtol=1e-6)
    for a, b in zip(custom.get_weights(), dense.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_model_gradients_through_custom_layers_match_finite_differences():
    backend.set_floatx("float64")
    model = fixture.model(keras)
    model.compile("sgd", "categorical_crossentropy")
    rng = np.random.default_rng(2)
    assert_weight_gradients_match(model, rng.random((6, 5)), np.eye(3)[rng.integers(0, 3, 6)])


def test_a_custom_layer_shared_by_two_calls_sums_its_gradients():
    backend.set_floatx("float64")
    shared = Linear(4)
    left, right = keras.Input(shape=(3,)), keras.Input(shape=(3,))
    model = keras.Model([left, right], layers.Dense(1)(layers.Concatenate()([shared(left), shared(right)])))
    model.compile("sgd", "mse")
    rng = np.random.default_rng(3)
    assert len(model.trainable_weights) == 4
    assert_weight_gradients_match(model, [rng.random((5, 3)), rng.random((5, 3))], rng.random((5, 1)))


def test_freezing_a_custom_layer_freezes_its_sublayers_and_its_own_weights():
    x, y = np.random.default_rng(4).random((16, 5), dtype=np.float32), np.eye(3, dtype=np.float32)[np.arange(16) % 3]
    block = MLPBlock()
    model = keras.Sequential([keras.Input(shape=(5,)), block, layers.Dense(3, activation="softmax")])
    block.trainable = False
    assert not block.linear_1.trainable and block.trainable_weights == [] and len(block.non_trainable_weights) == 6
    frozen = block.get_weights()
    model.compile("adam", "categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(frozen, block.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_call_taking_training_gets_a_graph_for_each():
    x = np.full((4, 3), 0.5, np.float32)
    layer = NoisyScale()
    np.testing.assert_allclose(layer(x), np.tanh(x), rtol=1e-6)
    backend.set_random_seed(0)
    noisy = layer(x, training=True)
    assert set(np.unique(noisy)) <= {0.0, 1.0}  # dropout at rate 0.5 scales kept values by 2


def test_weights_written_by_keras_load_and_ours_have_keras_paths(tmp_path):
    """Keras 3 saves a layer's sublayers under the attributes holding them
    ('layers/mlp_block/linear_1/vars'); its file loads here and ours has the same groups."""
    expected = np.load(os.path.join(FIXTURES, "keras_custom_layers.npz"))
    model = fixture.model(keras)
    model.load_weights(os.path.join(FIXTURES, "keras_custom_layers.weights.h5"))
    np.testing.assert_allclose(model.predict(expected["x"], verbose=0), expected["predicted"], atol=1e-6)
    model.save_weights(tmp_path / "ours.weights.h5")

    assert weight_group_paths(tmp_path / "ours.weights.h5") == weight_group_paths(os.path.join(FIXTURES, "keras_custom_layers.weights.h5"))


def test_what_would_not_train_is_refused():
    class UsesArray(keras.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],))

        def call(self, inputs):
            return inputs * self.w.value

    with pytest.raises(TypeError, match=r"does not compute with its weight\(s\) \['variable'\] as variables"):
        UsesArray()(np.ones((2, 3), np.float32))

    class Regularized(keras.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(3,), regularizer="l2", constraint="non_neg")

        def call(self, inputs):
            return inputs * self.w

    layer = Regularized()
    layer(np.ones((2, 3), np.float32))
    assert layer.losses == [pytest.approx(0.01 * float(np.sum(layer.w.value ** 2)))]
    assert isinstance(layer.w.constraint, keras.constraints.NonNeg)
    with pytest.raises(TypeError, match=r"add_loss takes a value computed inside call\(\)"):
        Linear(2).add_loss(1.0)
    with pytest.raises(TypeError, match=r"add_weight got \['initializer'\] both by position and by name"):
        Linear(2).add_weight("w", (3,), "zeros", initializer="ones")


def test_an_error_in_call_names_the_layer_and_keeps_the_users_line():
    class Faulty(keras.layers.Layer):
        def call(self, inputs):
            return inputs * self.missing  # the user's line

    with pytest.raises(AttributeError) as error:
        Faulty(name="faulty")(np.ones((2, 3), np.float32))
    assert any("Layer 'faulty' (Faulty): its call() failed" in note for note in error.value.__notes__)
    assert any("self.missing" in str(entry.statement) for entry in error.traceback)

    class WrongShapes(keras.layers.Layer):
        def call(self, inputs):
            return ops.matmul(inputs, ops.ones((4, 2)))

    with pytest.raises(ValueError, match=r"Layer 'wrong' \(WrongShapes\): its call\(\) failed") as error:
        WrongShapes(name="wrong")(np.ones((2, 3), np.float32))
    cause = traceback.extract_tb(error.value.__cause__.__traceback__)  # printed above the error
    assert any("ops.matmul(inputs" in frame.line for frame in cause)


class TableLookup(keras.layers.Layer):
    """A custom embedding: rows of a table picked by integer ids."""

    def build(self, input_shape):
        self.table = self.add_weight(shape=(10, 3), initializer="random_normal")

    def call(self, ids):
        return ops.take(self.table, ids, axis=0)


def test_a_custom_layer_takes_integer_ids_eagerly_and_in_a_model():
    ids = np.array([[1, 2], [3, 9]])
    layer = TableLookup()
    np.testing.assert_array_equal(layer(ids), layer.table.value[ids])  # ids kept as integers

    backend.set_floatx("float64")
    try:
        keras.utils.set_random_seed(3)
        inputs = keras.Input(shape=(2,), dtype="int32")
        model = keras.Model(inputs, layers.Dense(2)(layers.Flatten()(TableLookup()(inputs))))
        model.compile(optimizer="sgd", loss="mse")
        y = np.random.default_rng(0).standard_normal((4, 2))
        assert_weight_gradients_match(model, np.array([[1, 2], [3, 9], [1, 1], [0, 4]], np.int32), y)
    finally:
        backend.set_floatx("float32")


class RunningSum(keras.layers.Layer):
    """Adds up projected steps from a zero state of ``inputs.shape[0]`` rows: the guide's
    CustomRNN's pattern (its call needs the batch size)."""

    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.projection = layers.Dense(units, activation="tanh")

    def call(self, inputs):
        state = ops.zeros(shape=(inputs.shape[0], self.units))
        outputs = []
        for t in range(inputs.shape[1]):
            state = state + self.projection(inputs[:, t, :])
            outputs.append(state)
        return ops.stack(outputs, axis=1)


def running_sum(layer, x):
    kernel, bias = layer.projection.get_weights()
    return np.cumsum(np.tanh(x @ kernel + bias), axis=1)


def test_a_call_reading_the_batch_size_runs_on_arrays_of_any_batch_size():
    """As in Keras, where a call on arrays sees their shape: traced for the batch size of the
    array, and again for another."""
    rng = np.random.default_rng(5)
    layer = RunningSum()
    for batch in (1, 3, 1):
        x = rng.standard_normal((batch, 5, 3)).astype(np.float32)
        np.testing.assert_allclose(layer(x), running_sum(layer, x), rtol=1e-5, atol=1e-6)


def test_a_call_reading_the_batch_size_trains_on_inputs_of_a_fixed_batch_size():
    """keras.Input(batch_shape=...) gives call that batch size (the guide's CustomRNN after a
    Conv1D); without one the call cannot make its state, and the error names the layer."""
    backend.set_floatx("float64")
    try:
        inputs = keras.Input(batch_shape=(4, 6, 3))
        summed = RunningSum(name="running")
        model = keras.Model(inputs, layers.Dense(1)(summed(layers.Conv1D(2, 2)(inputs))))
        assert model.output_shape == (4, 5, 1)
        model.compile(optimizer="sgd", loss="mse")
        rng = np.random.default_rng(6)
        assert_weight_gradients_match(model, rng.standard_normal((4, 6, 3)), rng.standard_normal((4, 5, 1)))
    finally:
        backend.set_floatx("float32")
    with pytest.raises(ValueError, match=r"'running_1' \(RunningSum\).*traced it on symbolic inputs \(shape \(None, 6, 3\)\)"):
        RunningSum(name="running_1")(keras.Input(shape=(6, 3)))
