"""keras.models.clone_model (new layers and weights, the names, the compile settings, a
clone_function, shared layers, recursive cloning of inner models, a registered subclassed
model), keras.models.save_model, keras.utils.normalize and keras.utils.clear_session."""
import numpy as np
import pytest

import tinykeras as keras
from tinykeras import layers


def compiled_sequential():
    model = keras.Sequential([keras.Input((4,), name="pixels"), layers.Dense(8, activation="relu"),
                              layers.Dropout(0.1), layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    return model


def test_a_clone_has_new_layers_and_weights_the_same_names_and_compile_settings():
    model = compiled_sequential()
    clone = keras.models.clone_model(model)
    assert isinstance(clone, keras.Sequential) and clone.name == model.name
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    assert not any(a is b for a, b in zip(clone.layers, model.layers))
    assert clone.input.node.layer.name == "pixels"
    kernels = [w for w in model.get_weights() if w.ndim == 2]
    assert all(not np.array_equal(a, b) for a, b in zip([w for w in clone.get_weights() if w.ndim == 2], kernels))
    assert clone.compiled and clone.optimizer is not model.optimizer
    assert isinstance(clone.optimizer, keras.optimizers.Adam) and float(clone.optimizer.learning_rate) == 0.01
    x, y = np.ones((4, 4), "float32"), np.zeros((4, 2), "float32")
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    assert set(clone.evaluate(x, y, verbose=0, return_dict=True)) == {"loss", "mae"}


def test_clone_function_may_share_or_change_layers():
    model = compiled_sequential()

    def keep_dropout(layer):
        if isinstance(layer, layers.Dropout):
            return layer
        return type(layer).from_config({**layer.get_config(), "name": layer.name + "_copy"})

    clone = keras.models.clone_model(model, clone_function=keep_dropout)
    assert clone.layers[1] is model.layers[1] and clone.layers[0].name == "dense_copy"
    with pytest.raises(ValueError, match="`clone_function` argument to be a callable"):
        keras.models.clone_model(model, clone_function=3)
    with pytest.raises(ValueError, match="input_tensors and call_function are not supported"):
        keras.models.clone_model(model, input_tensors=[keras.Input((4,))])


def test_a_functional_clone_keeps_the_graph_and_its_shared_layers():
    inputs = keras.Input((3,))
    hidden = layers.Dense(4)(inputs)
    shared = layers.Dense(4, name="shared")
    model = keras.Model(inputs, layers.Add()([shared(hidden), shared(layers.ReLU()(hidden))]))
    x = np.random.default_rng(0).standard_normal((2, 3)).astype("float32")
    for clone in (keras.models.clone_model(model),
                  keras.models.clone_model(model, clone_function=lambda l: type(l).from_config(l.get_config()))):
        assert len(clone.get_weights()) == len(model.get_weights()) == 4  # the shared layer once
        clone.set_weights(model.get_weights())
        np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_recursive_clones_inner_models_layer_by_layer():
    inner = keras.Sequential([keras.Input((4,)), layers.Dense(3)], name="inner")
    outer = keras.Sequential([keras.Input((4,)), inner, layers.Dense(1)])
    seen = []

    def record(layer):
        seen.append(layer.name)
        return type(layer).from_config(layer.get_config())

    clone = keras.models.clone_model(outer, clone_function=record, recursive=True)
    assert seen == ["dense", "dense_1"] and clone.layers[0] is not inner and clone.layers[0].name == "inner"


@keras.saving.register_keras_serializable(package="CloneTest")
class Scaled(keras.Model):
    def __init__(self, units=2, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dense = layers.Dense(units)

    def call(self, x):
        return self.dense(x) * 2

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_a_subclassed_model_is_cloned_through_its_config():
    model = Scaled(3)
    model(np.ones((1, 2), "float32"))
    clone = keras.models.clone_model(model)
    assert isinstance(clone, Scaled) and clone.units == 3 and clone is not model
    with pytest.raises(ValueError, match="only supported for Sequential models or Functional models"):
        keras.models.clone_model(model, clone_function=lambda layer: layer)


def test_save_model_is_model_save(tmp_path):
    model = compiled_sequential()
    keras.models.save_model(model, tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    x = np.ones((1, 4), "float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match="zipped=False"):
        keras.models.save_model(model, tmp_path / "n.keras", zipped=False)


def test_normalize_divides_by_the_norm_and_leaves_zeros():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(keras.utils.normalize(x), [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(keras.utils.normalize(x, axis=0, order=1), [[1.0, 1.0], [0.0, 0.0]])


def test_clear_session_restarts_the_layer_names():
    keras.utils.clear_session()
    assert layers.Dense(1).name == "dense" and layers.Dense(1).name == "dense_1"
    keras.utils.clear_session()
    assert layers.Dense(1).name == "dense"
