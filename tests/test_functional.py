"""The functional API: keras.Input, layers called on symbolic tensors, keras.Model(inputs,
outputs); training through a graph with residual connections and merges; errors while the
graph is built; the summary and weights files as Keras 3 writes them."""
import os

import numpy as np
import pytest
from keras_fixtures import ATOL, FIXTURES, interchange

import tinykeras as keras
from tinykeras import backend, layers
from tinykeras.models import Functional, Sequential
from tinykeras.utils import numerical_gradient


def residual_model():
    return interchange.residual_mlp(keras)


def data(n=64, features=12, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, features), dtype=np.float32), np.eye(classes, dtype=np.float32)[rng.integers(0, classes, n)]


def test_input_and_model_give_keras_objects():
    inputs = keras.Input(shape=(784,), name="pixels")
    assert inputs.shape == (None, 784) and inputs.dtype == "float32"
    hidden = layers.Dense(64, activation="relu")(inputs)
    assert hidden.shape == (None, 64)
    model = keras.Model(inputs, layers.Dense(10)(hidden), name="mlp")
    assert isinstance(model, Functional) and isinstance(model, keras.Model)
    assert [layer.name for layer in model.layers] == ["pixels", "dense", "dense_1"]
    assert model.inputs == [inputs] and model.input_shape == (None, 784) and model.output_shape == (None, 10)
    assert model.get_layer("dense") is model.layers[1]
    assert isinstance(Sequential(), keras.Model)


def test_a_functional_chain_trains_exactly_like_the_same_sequential():
    x, y = data(features=8, classes=4)
    inputs = keras.Input(shape=(8,))
    outputs = layers.Dense(4, activation="softmax")(layers.Dense(16, activation="relu")(inputs))
    functional = keras.Model(inputs, outputs)
    sequential = Sequential([layers.Input(shape=(8,)), layers.Dense(16, activation="relu"), layers.Dense(4, activation="softmax")])
    sequential.set_weights(functional.get_weights())
    for model in (functional, sequential):
        model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    history_f = functional.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    history_s = sequential.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    assert history_f.history == history_s.history
    for a, b in zip(functional.get_weights(), sequential.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(functional.predict(x, verbose=0), sequential.predict(x, verbose=0))


def numerical_weight_gradients(model, x, y):
    """Central differences of the model's loss with respect to each trainable weight."""
    def loss():
        output = model._forward(x, training=False)
        return model.loss.value_and_grad(model.loss.prepare_targets(y, output), output)[0]

    return [numerical_gradient(loss, variable.value) for variable in model.trainable_weights]


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "mse"])
def test_gradients_through_residual_and_concatenated_branches_match_finite_differences(loss):
    """Backward through the graph sums the gradients of a tensor read twice (the residual
    connection, the concatenated side branch): every weight's gradient is checked in float64.
    With cross-entropy the loss starts from the softmax layer's logits."""
    backend.set_floatx("float64")
    model = residual_model()
    model.compile("sgd", loss)
    x, y = data(n=5)
    x, y = x.astype(np.float64), y.astype(np.float64)
    model._batch_outputs(x, y, training=True)  # forward, loss, backward
    analytic = [g for layer, _ in model._train_variables() for g in layer.grads]
    numeric = numerical_weight_gradients(model, x, y)
    assert len(analytic) == len(numeric) == 8  # four Dense layers
    for a, n in zip(analytic, numeric):
        np.testing.assert_allclose(a, n, rtol=1e-6, atol=1e-8)


def test_residual_model_learns():
    x, _ = data(n=256)
    y = np.eye(3, dtype=np.float32)[np.argmax(x[:, :3] - x[:, 3:6], axis=1)]  # a rule it can learn
    model = residual_model()
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=30, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]


# ---- errors while the graph is built -----------------------------------------------------------


def test_a_layer_called_on_an_incompatible_shape_names_it_and_both_shapes():
    inputs = keras.Input(shape=(8,))
    with pytest.raises(ValueError, match=r"Layer 'conv' \(Conv2D\) cannot be called on inputs of shape \(None, 8\)"):
        layers.Conv2D(4, 3, name="conv")(inputs)
    dense = layers.Dense(3, name="d")
    dense.build_for((None, 5))
    with pytest.raises(ValueError, match=r"Layer 'd' \(Dense\) was built for inputs of shape \(None, 5\); it is called on \(None, 8\)"):
        dense(inputs)
    with pytest.raises(ValueError, match=r"incompatible shapes"):
        layers.Add()([inputs, layers.Dense(4)(inputs)])


def test_outputs_that_do_not_depend_on_the_inputs_are_refused_naming_the_input():
    first, second = keras.Input(shape=(4,), name="first"), keras.Input(shape=(4,), name="second")
    with pytest.raises(ValueError, match=r"depends on the Input 'second', which is not among the model's inputs \('first'\)"):
        keras.Model(first, layers.Dense(2)(second))
    with pytest.raises(ValueError, match=r"do not depend on its input\(s\) 'second'"):
        keras.Model([first, second], layers.Dense(2)(first))


def test_a_symbolic_tensor_holds_no_values():
    inputs = keras.Input(shape=(4,))
    with pytest.raises(TypeError, match=r"holds no values"):
        np.asarray(inputs)


# ---- as Keras 3 prints and writes it --------------------------------------------------------

KERAS_SUMMARY = """\
Model: "functional"
┏━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┓
┃ Layer (type)        ┃ Output Shape      ┃    Param # ┃ Connected to      ┃
┡━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━┩
│ input_layer         │ (None, 784)       │          0 │ -                 │
│ (InputLayer)        │                   │            │                   │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ dense (Dense)       │ (None, 64)        │     50,240 │ input_layer[0][0] │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ dense_1 (Dense)     │ (None, 64)        │      4,160 │ dense[0][0]       │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ add (Add)           │ (None, 64)        │          0 │ dense[0][0],      │
│                     │                   │            │ dense_1[0][0]     │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ dense_2 (Dense)     │ (None, 10)        │        650 │ add[0][0]         │
└─────────────────────┴───────────────────┴────────────┴───────────────────┘
 Total params: 55,050 (215.04 KB)
 Trainable params: 55,050 (215.04 KB)
 Non-trainable params: 0 (0.00 B)"""


def test_summary_of_a_branching_model_is_keras_3s_with_connected_to():
    """The table Keras 3.15 printed for this model in an 80-column terminal."""
    inputs = keras.Input(shape=(784,))
    x = layers.Dense(64, activation="relu")(inputs)
    y = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10, activation="softmax")(layers.Add()([x, y]))
    lines = []
    keras.Model(inputs, outputs).summary(line_length=76, print_fn=lines.append)
    assert "\n".join(lines) == KERAS_SUMMARY


def test_keras_weights_of_a_functional_model_load_and_predict_like_keras():
    with np.load(os.path.join(FIXTURES, "keras_residual_mlp.npz"), allow_pickle=False) as saved:
        x, expected = saved["x"], saved["y"]
    model = residual_model()
    model.load_weights(os.path.join(FIXTURES, "keras_residual_mlp.weights.h5"))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=0, atol=ATOL)


def test_weights_round_trip_in_keras_layout(tmp_path):
    import h5py

    model = residual_model()
    model.set_weights(interchange.random_weights(model, seed=3))
    path = tmp_path / "m.weights.h5"
    model.save_weights(path)
    with h5py.File(path, "r") as f:
        groups = sorted(f["layers"])
    assert groups == ["add", "concatenate", "dense", "dense_1", "dense_2", "dense_3", "input_layer"]
    other = residual_model()
    other.load_weights(path)
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)


# ---- a layer called at several places shares its weights -------------------------------------


def shared_model(activation="softmax"):
    """``shared`` is called twice: on the first layer's output, then on its own output."""
    inputs = keras.Input(shape=(6,))
    shared = layers.Dense(6, activation="tanh", name="shared")
    first = shared(layers.Dense(6, name="first")(inputs))
    second = shared(first)
    outputs = layers.Dense(3, activation=activation, name="head")(layers.Add()([first, second]))
    return keras.Model(inputs, outputs)


def test_a_shared_layer_is_one_layer_with_one_set_of_weights():
    model = shared_model()
    assert [layer.name for layer in model.layers] == ["input_layer", "first", "shared", "add", "head"]
    assert model.count_params() == 42 + 42 + 21 and len(model.get_weights()) == 6
    lines = []
    model.summary(line_length=90, print_fn=lines.append)
    table = "\n".join(lines)
    assert "│ first[0][0],          │" in table and "│ shared[0][0],         │" in table
    assert "│ shared[1][0]          │" in table


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "mse"])
def test_a_shared_layers_gradient_is_the_sum_over_its_calls(loss):
    backend.set_floatx("float64")
    model = shared_model()
    model.compile("sgd", loss)
    x, y = data(n=4, features=6)
    x, y = x.astype(np.float64), y.astype(np.float64)
    model._batch_outputs(x, y, training=True)  # forward, loss, backward
    from tinykeras.functional import gradient_pairs

    pairs = {id(v): g for g, v in gradient_pairs(model._train_variables())}
    analytic = [pairs[id(v)] for v in model.trainable_weights]
    numeric = numerical_weight_gradients(model, x, y)
    assert len(analytic) == len(numeric) == 6
    for a, n in zip(analytic, numeric):
        np.testing.assert_allclose(a, n, rtol=1e-6, atol=1e-8)


def test_a_shared_layer_trains_once_per_step_and_freezes_at_every_call():
    x, y = data(n=64, features=6)
    model = shared_model()
    model.compile("adam", "categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert model.optimizer.iterations == 8
    assert len(model.optimizer.variables) == 2 + 2 * 6  # moments of 6 variables, not 8
    shared = model.get_layer("shared")
    shared.trainable = False
    frozen = shared.get_weights()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    for a, b in zip(frozen, shared.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_shared_layer_called_on_another_shape_names_both():
    inputs = keras.Input(shape=(6,))
    shared = layers.Dense(6, name="shared")
    shared(inputs)
    with pytest.raises(ValueError, match=r"'shared' \(Dense\) was built for inputs of shape \(None, 6\); it is called on \(None, 3\)"):
        shared(layers.Dense(3)(inputs))


def test_layer_input_and_output_are_the_tensors_of_its_call():
    inputs = keras.Input(shape=(4,), name="features")
    dense = layers.Dense(4)
    hidden = dense(inputs)
    merge = layers.Concatenate()
    joined = merge([inputs, hidden])
    model = keras.Model(inputs, joined)
    assert dense.input is inputs and dense.output is hidden
    assert merge.input == [inputs, hidden] and merge.output is joined
    assert model.get_layer("features").output is inputs
    with pytest.raises(AttributeError, match=r"has not been called on a symbolic tensor"):
        layers.Dense(2).output
    dense(hidden)
    with pytest.raises(AttributeError, match=r"called at 2 places, so it has no single input"):
        dense.input


def test_the_keras_io_mnist_convnet_runs_as_written():
    """keras.io's "Simple MNIST convnet", model and training calls as published (on 512 images)."""
    rng = np.random.default_rng(0)
    x_train = rng.random((512, 28, 28, 1), dtype=np.float32)
    y_train = keras.utils.to_categorical(rng.integers(0, 10, 512), 10)
    num_classes, input_shape = 10, (28, 28, 1)
    model = keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax"),
        ]
    )
    lines = []
    model.summary(print_fn=lines.append)
    assert " Total params: 34,826 (136.04 KB)" in lines
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=128, epochs=1, validation_split=0.1, verbose=0)
    assert set(history.history) == {"accuracy", "loss", "val_accuracy", "val_loss"}
    score = model.evaluate(x_train[:64], y_train[:64], verbose=0)
    assert len(score) == 2


def flat_and_nested():
    """The same three Dense layers as one Sequential, and as a Sequential holding a Sequential."""
    flat = Sequential([layers.Input(shape=(4,)), layers.Dense(8, activation="relu"),
                       layers.Dense(8, activation="relu"), layers.Dense(3, activation="softmax")])
    inner = Sequential([layers.Input(shape=(4,)), layers.Dense(8, activation="relu"),
                        layers.Dense(8, activation="relu")], name="inner")
    nested = Sequential([layers.Input(shape=(4,)), inner, layers.Dense(3, activation="softmax")], name="outer")
    nested.set_weights(flat.get_weights())
    return flat, nested, inner


def test_a_sequential_inside_a_sequential_trains_like_the_flat_model():
    x, y = data(n=48, features=4)
    flat, nested, inner = flat_and_nested()
    assert [layer.name for layer in nested.layers] == ["inner", "dense_5"] and nested.count_params() == flat.count_params()
    for model in (flat, nested):
        model.compile("sgd", "categorical_crossentropy")
    flat.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    nested.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(flat.get_weights(), nested.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # the softmax's loss: logits vs clipped probabilities
    lines = []
    nested.summary(print_fn=lines.append)
    assert any(line.startswith("│ inner (Sequential)") and "(None, 8)" in line and "112" in line for line in lines)


def test_a_functional_model_inside_a_functional_model_has_exact_gradients():
    backend.set_floatx("float64")
    inner_inputs = keras.Input(shape=(5,))
    hidden = layers.Dense(5, activation="tanh")(inner_inputs)
    inner = keras.Model(inner_inputs, layers.Add()([inner_inputs, layers.Dense(5)(hidden)]), name="block")
    inputs = keras.Input(shape=(5,))
    outputs = layers.Dense(2)(inner(layers.Dense(5, activation="relu")(inputs)))
    model = keras.Model(inputs, outputs)
    model.compile("sgd", "mse")
    x, y = data(n=4, features=5, classes=2)
    x, y = x.astype(np.float64), y.astype(np.float64)
    model._batch_outputs(x, y, training=True)  # forward, loss, backward
    from tinykeras.functional import gradient_pairs

    pairs = {id(v): g for g, v in gradient_pairs(model._owners())}
    numeric = numerical_weight_gradients(model, x, y)
    assert len(pairs) == len(numeric) == 8
    for variable, n in zip(model.trainable_weights, numeric):
        np.testing.assert_allclose(pairs[id(variable)], n, rtol=1e-6, atol=1e-8)


def test_a_frozen_inner_model_does_not_train():
    x, y = data(n=32, features=4)
    _, nested, inner = flat_and_nested()
    inner.trainable = False
    nested.compile("adam", "categorical_crossentropy")
    before = inner.get_weights()
    nested.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(before, inner.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(nested.trainable_weights) == 2


def test_a_nested_model_called_on_another_shape_names_both():
    with pytest.raises(ValueError, match=r"Model 'inner' takes inputs of shape \(None, 4\); it is called on \(None, 6\)"):
        Sequential([layers.Input(shape=(6,)), flat_and_nested()[2]])


def test_a_nested_model_on_sequences_of_any_length_takes_a_fixed_length():
    """An axis built with no size (keras.Input(shape=(None, 4))) takes any, as in Keras; the
    other axes must still match."""
    sequences = keras.Input(shape=(None, 4))
    inner = keras.Model(sequences, layers.Dense(1)(layers.GlobalAveragePooling1D()(sequences)), name="pooled")
    fixed = keras.Input(batch_shape=(2, 6, 4))
    outer = keras.Model(fixed, inner(fixed))
    x = np.random.default_rng(0).random((2, 6, 4), dtype=np.float32)
    np.testing.assert_allclose(outer.predict(x, verbose=0), inner.predict(x, verbose=0), rtol=1e-6)
    with pytest.raises(ValueError, match=r"'pooled' \(Functional\) was built for inputs of shape \(None, None, 4\); it is called on \(2, 6, 3\)"):
        inner(keras.Input(batch_shape=(2, 6, 3)))


def test_model_input_and_output_are_what_the_model_was_given():
    """As Keras 3's: one tensor, or the list or dict the model was built from."""
    a, b = keras.Input(shape=(3,), name="a"), keras.Input(shape=(3,), name="b")
    total = layers.Add()([a, b])
    single = keras.Model(a, layers.Dense(2)(a))
    assert single.input is a and single.output is single.outputs[0]
    listed = keras.Model([a, b], [total])
    assert listed.input == [a, b] and listed.output == [total]
    named = keras.Model({"b": b, "a": a}, {"total": total})
    assert named.input == {"b": b, "a": a} and named.output == {"total": total}


def test_building_a_model_leaves_a_frozen_layer_frozen():
    inputs = keras.Input(shape=(4,))
    frozen = layers.Dense(4, trainable=False)
    model = keras.Model(inputs, layers.Dense(2)(frozen(inputs)))
    assert not frozen.trainable and len(model.trainable_weights) == 2
    assert not any(layer.trainable for layer in keras.Model(inputs, frozen.output, trainable=False).layers)


class CountingIdentity(layers.Layer):
    """A weight-free layer written by hand that counts its backward passes."""

    backward_calls = 0

    def forward(self, x, training=False):
        return x

    def backward(self, dy):
        type(self).backward_calls += 1
        return dy if self.input_gradient else None


@pytest.mark.parametrize("functional_model", [False, True])
def test_no_gradient_flows_through_weight_free_layers_before_the_first_trained_one(functional_model, rng):
    """Rescaling or augmentation layers at the front of a model are not differentiated (nothing
    needs their gradient); one after a trained layer is."""
    CountingIdentity.backward_calls = 0
    front, back = CountingIdentity(), CountingIdentity()
    stack = [layers.Rescaling(0.5), front, layers.Dense(4), back, layers.Dense(2)]
    if functional_model:
        inputs = keras.Input((3,))
        x = inputs
        for layer in stack:
            x = layer(x)
        model = keras.Model(inputs, x)
    else:
        model = keras.Sequential([keras.Input((3,))] + stack)
    model.compile("sgd", "mse")
    model.fit(rng.standard_normal((8, 3)), rng.standard_normal((8, 2)), batch_size=4, epochs=1, verbose=0)
    assert CountingIdentity.backward_calls == 2  # two steps, the back layer's only
    assert not front.input_gradient and back.input_gradient


class _OpsChain(layers.Layer):
    """A layer whose call is a chain of ops (each reads the one before), one of them chosen."""

    def __init__(self, middle, **kwargs):
        super().__init__(**kwargs)
        self.middle = middle

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], 3), initializer="glorot_uniform")
        self.b = self.add_weight(shape=(3,), initializer="ones")

    def call(self, inputs):
        from tinykeras import ops

        z = ops.matmul(inputs, self.w) + self.b
        if self.middle == "tanh":
            z = ops.tanh(z)
        elif self.middle == "comparison":  # no gradient passes: w and b get zeros
            z = ops.cast(ops.greater(z, 0.0), "float32") * 2.0
        elif self.middle == "stop_gradient":
            z = ops.stop_gradient(z) * 3.0
        return ops.square(z)


@pytest.mark.parametrize("middle", ["tanh", "comparison", "stop_gradient"])
def test_a_call_made_of_a_chain_of_ops_passes_one_array_along_with_the_general_pass_s_gradients(middle, rng):
    """A call whose ops each read the one before runs as a chain (one array handed along); its
    gradients, and the input's, equal those of the general pass over the same graph."""
    x = rng.standard_normal((5, 4)).astype(np.float32)
    dy = rng.standard_normal((5, 3)).astype(np.float32)
    layer = _OpsChain(middle)
    layer.build_for((5, 4))
    layer.input_gradient = True

    def pass_through(chain):
        graph = layer._call_graphs[0]
        graph.chain, graph._along = chain, None
        layer.forward(x, training=False)
        return layer.backward(dy), [np.array(g) for g in layer.grads]

    assert layer._call_graphs[0].chain
    chained_dx, chained_grads = pass_through(True)
    general_dx, general_grads = pass_through(False)
    np.testing.assert_array_equal(chained_dx, general_dx)
    for chained, general in zip(chained_grads, general_grads, strict=True):
        np.testing.assert_array_equal(chained, general)
    if middle != "tanh":  # nothing reaches the input either
        assert all(not g.any() for g in chained_grads) and chained_dx is None


def test_a_call_no_gradient_passes_leaves_the_layers_before_it_unchanged(rng):
    """A weight-free custom layer whose call compares (no gradient) between two Dense layers:
    the model trains, the Dense before it gets zero gradients."""
    from tinykeras import ops

    class Positive(layers.Layer):
        def call(self, inputs):
            return ops.cast(ops.greater(inputs, 0.0), "float32")

    model = keras.Sequential([keras.Input((4,)), layers.Dense(3), Positive(), layers.Dense(2)])
    model.compile("sgd", "mse")
    before = [layer.get_weights() for layer in (model.layers[0], model.layers[2])]
    model.fit(rng.standard_normal((8, 4)), rng.standard_normal((8, 2)), epochs=1, verbose=0)
    for a, b in zip(before[0], model.layers[0].get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(before[1][0], model.layers[2].get_weights()[0])
