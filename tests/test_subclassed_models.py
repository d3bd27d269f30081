"""Subclassed models: layers set as attributes in __init__ (also in lists and dicts), composed in
call(inputs, training); trained, evaluated, predicted, summarised and saved like any model; a
call branching on ``training`` gets a graph for training and one for inference."""
import numpy as np
import pytest

from keras_fixtures import weight_group_paths
from model_gradients import assert_weight_gradients_match

import tinykeras as keras
from tinykeras import backend, layers


class MLP(keras.Model):
    def __init__(self, hidden=8, classes=3, **kwargs):
        super().__init__(**kwargs)
        self.dense1 = layers.Dense(hidden, activation="relu")
        self.blocks = [layers.Dense(hidden, activation="relu"), layers.Dense(hidden, activation="relu")]
        self.head = {"out": layers.Dense(classes, activation="softmax")}

    def call(self, inputs):
        x = self.dense1(inputs)
        for block in self.blocks:
            x = block(x)
        return self.head["out"](x)


class WithDropout(keras.Model):
    def __init__(self):
        super().__init__(name="with_dropout")
        self.hidden = layers.Dense(16, activation="relu")
        self.dropout = layers.Dropout(0.5)
        self.out = layers.Dense(3, activation="softmax")

    def call(self, inputs, training=False):
        x = self.hidden(inputs)
        if training:
            x = self.dropout(x, training=training)
        return self.out(x)


class Residual(keras.Model):
    """Two inputs, a residual connection, two outputs."""

    def __init__(self):
        super().__init__()
        self.left = layers.Dense(6, activation="tanh")
        self.right = layers.Dense(6, activation="tanh")
        self.add = layers.Add()
        self.cls = layers.Dense(2, activation="softmax", name="cls")
        self.reg = layers.Dense(1, name="reg")

    def call(self, inputs):
        joined = self.add([self.left(inputs["a"]), self.right(inputs["b"])])
        return [self.cls(joined), self.reg(joined)]


def data(n=48, features=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, features), dtype=np.float32)
    return x, np.eye(classes, dtype=np.float32)[rng.integers(0, classes, n)]


def functional_twin(hidden=8, classes=3, features=5):
    inputs = keras.Input(shape=(features,))
    x = layers.Dense(hidden, activation="relu")(inputs)
    for _ in range(2):
        x = layers.Dense(hidden, activation="relu")(x)
    return keras.Model(inputs, layers.Dense(classes, activation="softmax")(x))


def test_layers_in_attributes_lists_and_dicts_are_tracked_in_order():
    model = MLP()
    assert model.name == "mlp" and not model.built
    assert [type(layer).__name__ for layer in model.layers] == ["Dense"] * 4
    assert model.layers[0] is model.dense1 and model.layers[-1] is model.head["out"]
    model.build((None, 5))
    assert model.built and model.input_shape == (None, 5) and model.output_shape == (None, 3)
    assert [w.shape for w in model.get_weights()] == [(5, 8), (8,), (8, 8), (8,), (8, 8), (8,), (8, 3), (3,)]


def test_it_trains_exactly_like_the_same_functional_model():
    x, y = data()
    subclassed, twin = MLP(), functional_twin()
    subclassed.build((None, 5))
    subclassed.set_weights(twin.get_weights())
    for model in (subclassed, twin):
        model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    history = subclassed.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0).history
    assert history == twin.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0).history
    for a, b in zip(subclassed.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(subclassed.predict(x, verbose=0), twin.predict(x, verbose=0))
    assert subclassed.evaluate(x, y, verbose=0) == twin.evaluate(x, y, verbose=0)


def test_fit_builds_the_model_from_the_data():
    x, y = data()
    model = MLP()
    model.compile("sgd", "categorical_crossentropy", metrics=["accuracy"])
    assert model.metrics_names == []  # as in Keras: known once the outputs are
    history = model.fit(x, y, epochs=2, verbose=0)
    assert sorted(history.history) == ["accuracy", "loss"] and model.built
    assert model.metrics_names == ["loss", "accuracy"]


def test_a_call_branching_on_training_gets_a_graph_for_each():
    x, y = data()
    model = WithDropout()
    model.compile("sgd", "categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    assert [n.layer.name for n in model._training_graph.nodes] == ["dense", "dropout", "dense_1"]
    assert [n.layer.name for n in model._graph.nodes] == ["dense", "dense_1"]
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    backend.set_random_seed(1)
    first = model(x, training=True)
    assert not np.array_equal(first, model(x, training=False))  # dropout only in training


def test_gradients_of_a_subclassed_model_match_finite_differences():
    backend.set_floatx("float64")
    model = MLP()
    model.compile("sgd", "categorical_crossentropy")
    x, y = data(n=5)
    model.build((None, 5))
    assert_weight_gradients_match(model, x.astype(np.float64), y.astype(np.float64))


def test_dict_inputs_and_several_outputs():
    rng = np.random.default_rng(2)
    xa, xb = rng.random((30, 4), dtype=np.float32), rng.random((30, 3), dtype=np.float32)
    labels, targets = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 30)], rng.random((30, 1), dtype=np.float32)
    model = Residual()
    model.compile("adam", {"cls": "categorical_crossentropy", "reg": "mse"}, metrics={"cls": "accuracy"})
    history = model.fit({"a": xa, "b": xb}, [labels, targets], epochs=2, verbose=0)
    assert sorted(history.history) == ["cls_accuracy", "cls_loss", "loss", "reg_loss"]
    predicted = model.predict({"a": xa, "b": xb}, verbose=0)
    assert [p.shape for p in predicted] == [(30, 2), (30, 1)]


def test_a_subclassed_model_inside_a_functional_model_and_a_sequential():
    x, y = data()
    inner = MLP(hidden=4)
    inputs = keras.Input(shape=(5,))
    model = keras.Model(inputs, inner(layers.Dense(5, activation="relu")(inputs)))
    model.compile("adam", "categorical_crossentropy")
    before = inner.dense1.get_weights()[0].copy()
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.array_equal(before, inner.dense1.get_weights()[0])
    stacked = keras.Sequential([keras.Input(shape=(5,)), MLP(hidden=4, classes=5), layers.Dense(3, activation="softmax")])
    stacked.compile("adam", "categorical_crossentropy")
    stacked.fit(x, y, epochs=1, verbose=0)
    assert stacked.predict(x, verbose=0).shape == (48, 3)


def test_weights_files_round_trip(tmp_path):
    x, _ = data()
    model = MLP()
    model.build((None, 5))
    model.save_weights(tmp_path / "mlp.weights.h5")
    other = MLP()
    other.build((None, 5))
    other.load_weights(tmp_path / "mlp.weights.h5")
    np.testing.assert_array_equal(model.predict(x, verbose=0), other.predict(x, verbose=0))


def test_a_functional_style_subclass_builds_from_inputs_and_outputs():
    class Wrapped(keras.Model):
        def __init__(self):
            inputs = keras.Input(shape=(5,))
            super().__init__(inputs, layers.Dense(3, activation="softmax")(inputs), name="wrapped")

    model = Wrapped()
    assert model.built and model.name == "wrapped" and model.output_shape == (None, 3)
    x, y = data()
    model.compile("sgd", "categorical_crossentropy")
    assert np.isfinite(model.fit(x, y, epochs=1, verbose=0).history["loss"][0])


def test_arithmetic_and_ops_inside_call_train_like_the_merge_layer():
    """``a + b`` and ``ops.relu`` in call record ops, which train exactly as the Add and
    Activation layers computing the same."""

    class Sums(keras.Model):
        def __init__(self, merged_by_layers=False):
            super().__init__()
            self.a, self.b, self.out = layers.Dense(3), layers.Dense(3), layers.Dense(2, activation="softmax")
            self.merged_by_layers = merged_by_layers

        def call(self, inputs):
            if self.merged_by_layers:
                return self.out(layers.Activation("relu")(layers.Add()([self.a(inputs), self.b(inputs)])))
            return self.out(keras.ops.relu(self.a(inputs) + self.b(inputs)))

    x, y = data(features=4, classes=2)
    with_ops, with_layers = Sums(), Sums(merged_by_layers=True)
    for model in (with_ops, with_layers):
        model.build((None, 4))
        model.compile("adam", "categorical_crossentropy")
    with_layers.set_weights(with_ops.get_weights())
    history = with_ops.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history
    assert history == with_layers.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history
    assert [type(n.layer).__name__ for n in with_ops._graph.nodes] == ["Dense", "Dense", "Add", "Relu", "Dense"]


class CustomStep(MLP):
    """Keras' "customizing fit" model, in the tinykeras form of train_step."""

    def train_step(self, data):
        x, y = data
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        weights = self.trainable_weights
        self.optimizer.apply([v.grad for v in weights], weights)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def test_a_custom_train_step_trains_as_the_built_in_one():
    """The same model, weights and batches: the custom step gives the built-in step's weights
    (the loss is logged per step, unweighted by batch size, as Keras' custom loop does)."""
    x, y = data(n=64)
    custom, builtin = CustomStep(), MLP()
    custom.build((None, 5))
    builtin.build((None, 5))
    builtin.set_weights(custom.get_weights())
    for model in (custom, builtin):
        model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    history = custom.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history
    expected = builtin.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history
    for a, b in zip(custom.get_weights(), builtin.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert sorted(history) == ["accuracy", "loss"]
    np.testing.assert_allclose(history["accuracy"], expected["accuracy"])
    logs = custom.train_on_batch(x[:16], y[:16], return_dict=True)
    assert sorted(logs) == ["accuracy", "loss"]


def test_custom_test_and_predict_steps_run():
    class Steps(MLP):
        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            return {"mean_output": float(np.mean(y_pred))}

        def predict_step(self, data):
            return {"probabilities": self(data[0], training=False)}

    x, y = data()
    model = Steps()
    model.compile("sgd", "categorical_crossentropy")
    assert model.evaluate(x, y, verbose=0, batch_size=48) == pytest.approx(1 / 3, rel=1e-6)  # softmax rows
    predicted = model.predict(x, batch_size=20, verbose=0)
    assert list(predicted) == ["probabilities"] and predicted["probabilities"].shape == (48, 3)


def test_compute_loss_backward_needs_the_outputs_of_the_last_call():
    model = MLP()
    model.compile("sgd", "categorical_crossentropy")
    x, y = data()
    first = model(x, training=True)
    model(x[:4], training=True)
    with pytest.raises(ValueError, match=r"compute_loss\(y_pred=...\) takes what the model's last call returned"):
        model.compute_loss(y=y, y_pred=first)


def test_what_cannot_run_is_refused_not_ignored():
    class OwnLoss(MLP):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return 0.0

    with pytest.raises(TypeError, match=r"OwnLoss overrides compute_loss\(\).*Override train_step"):
        OwnLoss().compile("sgd", "mse")

    class NoCall(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)

    with pytest.raises(TypeError, match=r"NoCall subclasses keras.Model but defines no call"):
        NoCall().build((None, 3))
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['units'\]"):
        MLP(units=3)
    with pytest.raises(ValueError, match=r"MLP: keras.Model.__init__\(dtype='float16'\) is not supported"):
        MLP(dtype="float16")
    assert MLP(dtype="float32").get_config()["dtype"]["config"]["name"] == "float32"

    class NotADict(MLP):
        def train_step(self, data):
            return 1.0

    model = NotADict()
    model.compile("sgd", "categorical_crossentropy")
    with pytest.raises(TypeError, match=r"train_step\(\) must return a dict of logs.*returned float"):
        model.fit(*data(), verbose=0)


def test_call_returning_something_else_than_tensors_is_refused():
    class ReturnsNumber(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)

        def call(self, inputs):
            self.dense(inputs)
            return 3

    with pytest.raises(TypeError, match=r"call\(\) must return what its layers and ops return .* it returned int"):
        ReturnsNumber().build((None, 3))


def test_summary_lists_the_tracked_layers():
    model = MLP()
    lines = []
    model.summary(print_fn=lines.append)
    assert "0 (unbuilt)" in "\n".join(lines)
    model.build((None, 5))
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert 'Model: "mlp' in text and "(None, 8)" in text and "Connected to" not in text
    assert "Total params: 219" in text


def test_weights_saved_by_keras_load_by_the_attributes_that_hold_the_layers(tmp_path):
    """Keras 3 names a subclassed model's weight groups after its attributes (sorted, private
    ones last, 'layers' for the rest); the file it wrote loads here, and ours has its paths."""
    import os
    import sys

    fixtures = os.path.join(os.path.dirname(__file__), "fixtures")
    sys.path.insert(0, fixtures)
    import make_keras_subclassed_fixture as fixture

    expected = np.load(os.path.join(fixtures, "keras_subclassed.npz"))
    model = fixture.subclassed_model(keras)
    model.build((None, 5))
    model.load_weights(os.path.join(fixtures, "keras_subclassed.weights.h5"))
    np.testing.assert_allclose(model.predict(expected["x"], verbose=0), expected["predicted"], atol=1e-6)
    model.save_weights(tmp_path / "ours.weights.h5")

    assert weight_group_paths(tmp_path / "ours.weights.h5") == weight_group_paths(os.path.join(fixtures, "keras_subclassed.weights.h5"))


def _fixture_module():
    import os
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "fixtures"))
    import make_keras_subclassed_fixture

    return make_keras_subclassed_fixture


def test_a_registered_subclassed_model_saves_whole_and_resumes_exactly(tmp_path):
    """get_config holds the arguments __init__ received; load_model rebuilds the registered
    class, builds it, loads weights and optimizer state: one epoch, save, load, one epoch
    equals two epochs."""
    classifier = _fixture_module().registered_class(keras)
    x, y = data()
    model = classifier(hidden=5, name="clf")
    assert model.get_config()["hidden"] == 5 and model.get_config()["classes"] == 3
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    model.build((None, 5))
    start = model.get_weights()
    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    model.save(tmp_path / "clf.keras")
    loaded = keras.models.load_model(tmp_path / "clf.keras")
    assert type(loaded) is classifier and loaded.name == "clf" and loaded.compiled
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    resumed = loaded.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0).history
    again = classifier(hidden=5)
    again.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    again.build((None, 5))
    again.set_weights(start)
    history = again.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history
    assert resumed["loss"][0] == history["loss"][1]
    for a, b in zip(loaded.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_subclassed_model_saved_by_keras_loads_registered():
    import os

    expected = np.load(os.path.join(os.path.dirname(__file__), "fixtures", "keras_subclassed.npz"))
    _fixture_module().registered_class(keras)
    loaded = keras.models.load_model(os.path.join(os.path.dirname(__file__), "fixtures", "keras_subclassed.keras"))
    np.testing.assert_allclose(loaded.predict(expected["x"], verbose=0), expected["classifier_predicted"], atol=1e-6)
    assert loaded.compiled and loaded.optimizer.iterations == 2


def test_an_unregistered_class_loads_through_custom_objects_or_is_named(tmp_path):
    class Plain(keras.Model):
        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(units)

        def call(self, inputs):
            return self.dense(inputs)

    model = Plain()
    model.build((None, 3))
    model.save(tmp_path / "plain.keras")
    with pytest.raises(ValueError, match=r"class 'Plain'.*register_keras_serializable.*custom_objects=\{'Plain': Plain\}"):
        keras.models.load_model(tmp_path / "plain.keras")
    loaded = keras.models.load_model(tmp_path / "plain.keras", custom_objects={"Plain": Plain})
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_arguments_a_config_cannot_hold_ask_for_get_config():
    class Wraps(keras.Model):
        def __init__(self, inner, **kwargs):
            super().__init__(**kwargs)
            self.inner = inner

        def call(self, inputs):
            return self.inner(inputs)

    with pytest.raises(TypeError, match=r"Wraps was created with argument\(s\) \['inner'\].*define get_config"):
        Wraps(layers.Dense(2)).get_config()

    class NoKwargs(keras.Model):
        def __init__(self, units=2):
            super().__init__()
            self.dense = layers.Dense(units)

        def call(self, inputs):
            return self.dense(inputs)

    with pytest.raises(TypeError, match=r"Unable to revive model NoKwargs.*\*\*kwargs"):
        NoKwargs.from_config(NoKwargs().get_config())
