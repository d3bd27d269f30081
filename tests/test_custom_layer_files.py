"""Whole models holding layer classes of the user's own in '.keras' files: Keras 3's files load
in tinykeras (the classes registered, or given in custom_objects or a custom object scope),
predict as Keras did and train on from Keras' optimizer state; tinykeras writes the config and
the weights layout Keras writes, round trips, and names what it cannot write or rebuild.

The keras_custom_layer_<model> fixtures were written by
tests/fixtures/make_keras_custom_layer_models_fixture.py with real Keras 3.15.1 on JAX; its
--check mode (also run by make_keras_fixtures.py --check, see their docstrings) loads tinykeras'
files of the same models in Keras. These tests need only tinykeras.

Tolerance: predictions and the weights one Adam step later are compared with rtol=1e-6 and
atol=1e-6. JAX and NumPy sum float32 products in different orders, which leaves differences of
about one unit in the last place of the terms (1.2e-7 for terms near 1); a regression output that
is a small sum of such terms (near 0.1) then differs by slightly more than 1e-6 of itself. The
optimizer's state is read from Keras' file bit for bit.
"""
import io
import json
import os
import sys
import zipfile

import h5py
import numpy as np
import pytest
from keras_fixtures import FIXTURES, without_bookkeeping

import tinykeras as keras
from tinykeras import layers, optimizers
from tinykeras.functional_config import keras_variables

sys.path.insert(0, FIXTURES)

import make_keras_custom_layer_models_fixture as fixture  # noqa: E402

ScaledDense, Gate = fixture.custom_layer_classes(keras)
CUSTOM_OBJECTS = {"Gate": Gate}
NAMES = sorted(fixture.MODELS)
TOLERANCE = {"rtol": 1e-6, "atol": 1e-6}


def keras_path(name):
    return os.path.join(FIXTURES, f"keras_{name}.keras")


def keras_saved(name):
    """What keras_<name>.npz holds: 'x', 'y', 'state_<i>' and 'next_<i>' arrays."""
    with np.load(os.path.join(FIXTURES, f"keras_{name}.npz"), allow_pickle=False) as data:
        return {key: data[key] for key in data.files if key != "made_with"}


def numbered(saved, prefix):
    return [saved[f"{prefix}{i}"] for i in range(sum(key.startswith(prefix) for key in saved))]


def archive_json(path, member="config.json"):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read(member))


def archive_datasets(path):
    """{path: shape} of every dataset of the archive's model.weights.h5."""
    with zipfile.ZipFile(path) as archive, h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as f:
        found = {}
        f.visititems(lambda key, item: found.update({key: item.shape}) if isinstance(item, h5py.Dataset) else None)
        return found


def custom_entries(config):
    return {e["config"]["name"]: e for e in config["config"]["layers"] if e["class_name"] in ("ScaledDense", "Gate")}


def comparable(serialized, module):
    """A config.json object without what differs between Keras' files and tinykeras' for
    reasons other than the model: the module of the custom classes (``module``: Keras ran the
    script defining them, whose module ``__main__`` it writes as null), Keras' object-sharing
    ids, the optimizer's name (Keras numbers it per process), the learning rate (Keras writes
    it rounded to float32), jit_compile (whether JAX compiles the step), and the loss given as
    'mse' (tinykeras writes its full name)."""
    serialized = without_bookkeeping(json.loads(json.dumps(serialized)))
    for entry in custom_entries(serialized).values():
        assert entry["module"] == module
        entry["module"] = "<module>"
    compile_config = serialized["compile_config"]
    compile_config["jit_compile"] = None
    optimizer = compile_config["optimizer"]["config"]
    optimizer.update(name="adam", learning_rate=float(np.float32(optimizer["learning_rate"])))
    if compile_config["loss"] == "mse":
        compile_config["loss"] = "mean_squared_error"
    return serialized


def written_by_keras(name):
    return comparable(archive_json(keras_path(name)), module=None)


def trained(name, seed=1):
    """The model, its weights drawn with ``seed``, compiled and trained as Keras' was."""
    keras.utils.set_random_seed(seed)
    model = fixture.compiled(keras, name)
    fixture.train(model, name)
    return model


def single_layer_model(layer, shape=(3,)):
    inputs = keras.Input(shape=shape)
    return keras.Model(inputs, layer(inputs))


# ---- Keras -> tinykeras ----------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_keras_files_load_and_predict_like_keras(name):
    saved = keras_saved(name)

    model = keras.models.load_model(keras_path(name), custom_objects=CUSTOM_OBJECTS)

    np.testing.assert_allclose(model.predict(saved["x"], verbose=0), saved["y"], **TOLERANCE)
    scaled, gate = (next(layer for layer in model.layers if type(layer) is cls) for cls in (ScaledDense, Gate))
    expected = {"custom_layer_functional": (8, "tanh", 0.5, 0.5, 2.0), "custom_layer_sequential": (4, "relu", 2.0, 0.0, 1.0)}
    assert (scaled.units, scaled.activation, scaled.scale, gate.gate_bias, gate.temperature) == expected[name]
    assert [w.name for w in gate.weights] == ["kernel", "bias", "shift"]
    assert [w.trainable for w in gate.weights] == [True, True, False]
    assert model.compiled and isinstance(model.optimizer, optimizers.Adam)


@pytest.mark.parametrize("name", NAMES)
def test_keras_optimizer_state_is_read_and_training_continues_like_keras(name):
    saved = keras_saved(name)
    model = keras.models.load_model(keras_path(name), custom_objects=CUSTOM_OBJECTS)

    state = model.optimizer.variables
    expected = numbered(saved, "state_")
    assert len(state) == len(expected) and int(model.optimizer.iterations) == fixture.TRAIN_STEPS
    for ours, theirs in zip(state, expected):
        np.testing.assert_array_equal(ours, theirs)
    model.train_on_batch(*fixture.training_batch(name))
    for variable, theirs in zip(keras_variables(model), numbered(saved, "next_"), strict=True):
        np.testing.assert_allclose(variable.value, theirs, **TOLERANCE)


@pytest.mark.parametrize("name", NAMES)
def test_the_config_rebuilt_from_a_keras_file_is_the_one_keras_wrote(name):
    model = keras.models.load_model(keras_path(name), custom_objects=CUSTOM_OBJECTS)

    assert comparable(keras.saving.serialize_model(model), fixture.__name__) == written_by_keras(name)


@pytest.mark.parametrize("name", NAMES)
def test_keras_config_rebuilds_with_from_config_and_custom_objects(name):
    saved = keras_saved(name)
    loaded = keras.models.load_model(keras_path(name), custom_objects=CUSTOM_OBJECTS)
    serialized = archive_json(keras_path(name))
    cls = keras.Sequential if serialized["class_name"] == "Sequential" else keras.Model

    model = cls.from_config(serialized["config"], custom_objects=CUSTOM_OBJECTS)

    assert [type(layer) for layer in model.layers] == [type(layer) for layer in loaded.layers]
    model.set_weights(loaded.get_weights())
    np.testing.assert_array_equal(model.predict(saved["x"], verbose=0), loaded.predict(saved["x"], verbose=0))


def test_a_custom_object_scope_stands_in_for_custom_objects_while_it_lasts():
    name = "custom_layer_functional"
    with keras.saving.custom_object_scope({"Unrelated": layers.Dense}), keras.saving.custom_object_scope(CUSTOM_OBJECTS):
        model = keras.models.load_model(keras_path(name))
        config = model.get_config()
        assert isinstance(keras.Model.from_config(config).get_layer("gate"), Gate)
        assert isinstance(keras.models.model_from_json(model.to_json()).get_layer("gate"), Gate)
    saved = keras_saved(name)
    np.testing.assert_allclose(model.predict(saved["x"], verbose=0), saved["y"], **TOLERANCE)
    with pytest.raises(ValueError, match="Gate"):
        keras.Model.from_config(config)
    with keras.saving.CustomObjectScope(CUSTOM_OBJECTS):
        assert isinstance(keras.Model.from_config(config).get_layer("gate"), Gate)


def test_a_registered_class_needs_no_custom_objects(tmp_path):
    model = single_layer_model(ScaledDense(2, activation="relu", name="scaled"))
    entry = model.get_config()["layers"][1]
    assert (entry["class_name"], entry["registered_name"]) == ("ScaledDense", "tinykeras_tests>ScaledDense")
    model.save(tmp_path / "m.keras")

    loaded = keras.models.load_model(tmp_path / "m.keras")

    assert isinstance(loaded.get_layer("scaled"), ScaledDense)
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# ---- tinykeras -> Keras ----------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_tinykeras_writes_the_config_and_weights_layout_keras_writes(name, tmp_path):
    model = trained(name)

    model.save(tmp_path / "m.keras")

    ours = archive_json(tmp_path / "m.keras")
    assert comparable(ours, fixture.__name__) == written_by_keras(name)
    assert archive_datasets(tmp_path / "m.keras") == archive_datasets(keras_path(name))
    assert archive_json(tmp_path / "m.keras", "metadata.json")["keras_version"].startswith("3.")


def test_a_custom_layer_entry_is_keras_own():
    """The ScaledDense and Gate entries of the functional model, as Keras 3.15 wrote them (the
    module aside: the classes lived in the script Keras ran)."""
    ours = custom_entries(keras.saving.serialize_model(trained("custom_layer_functional")))
    policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}

    def call(source, size):
        tensor = {"shape": [None, size], "dtype": "float32", "keras_history": [source, 0, 0]}
        return [{"args": [{"class_name": "__keras_tensor__", "config": tensor}], "kwargs": {}}]

    assert ours["scaled"] == {
        "module": fixture.__name__, "class_name": "ScaledDense",
        "config": {"name": "scaled", "trainable": True, "dtype": policy, "units": 8, "activation": "tanh", "scale": 0.5},
        "registered_name": "tinykeras_tests>ScaledDense", "build_config": {"input_shape": [None, 6]},
        "name": "scaled", "inbound_nodes": call("features", 6),
    }
    assert ours["gate"] == {
        "module": fixture.__name__, "class_name": "Gate",
        "config": {"name": "gate", "gate_bias": 0.5, "temperature": 2.0, "trainable": True, "dtype": policy},
        "registered_name": "Gate", "build_config": {"input_shape": [None, 8]},
        "name": "gate", "inbound_nodes": call("scaled", 8),
    }
    assert {k: without_bookkeeping(v) for k, v in custom_entries(archive_json(keras_path("custom_layer_functional"))).items()} == {
        key: {**entry, "module": None} for key, entry in ours.items()
    }


# ---- tinykeras round trips -------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_save_load_continue_is_bit_for_bit(name, tmp_path):
    """Four steps in one go equal three, save, load and one more, to the last bit."""
    straight, saved = trained(name), trained(name)
    saved.save(tmp_path / "m.keras")

    loaded = keras.models.load_model(tmp_path / "m.keras", custom_objects=CUSTOM_OBJECTS)

    x, y = fixture.training_batch(name)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), saved.predict(x, verbose=0))
    assert loaded.get_config() == saved.get_config()
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in saved.layers]
    for a, b in zip(loaded.optimizer.variables, keras.saving.keras_optimizer_state(saved), strict=True):
        np.testing.assert_array_equal(a, b)
    straight.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    for a, b in zip(keras_variables(loaded), keras_variables(straight), strict=True):
        np.testing.assert_array_equal(a.value, b.value)


@pytest.mark.parametrize("name", NAMES)
def test_get_config_from_config_and_json_round_trip(name):
    model = trained(name)
    config = model.get_config()

    clone = type(model).from_config(config, custom_objects=CUSTOM_OBJECTS)

    assert clone.get_config() == config
    assert [type(layer) for layer in clone.layers] == [type(layer) for layer in model.layers]
    clone.set_weights(model.get_weights())
    x = fixture.training_batch(name, seed=7)[0]
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    with keras.saving.custom_object_scope(CUSTOM_OBJECTS):
        assert keras.models.model_from_json(model.to_json()).get_config() == config


class Window(keras.layers.Layer):
    """A layer whose config holds a tuple, or ``factor`` as a NumPy scalar."""

    def __init__(self, size=(2, 2), factor=1.0, numpy_factor=False, **kwargs):
        super().__init__(**kwargs)
        self.size, self.factor, self.numpy_factor = tuple(size), factor, numpy_factor

    def call(self, inputs):
        return inputs * self.factor

    def get_config(self):
        factor = np.float32(self.factor) if self.numpy_factor else self.factor
        return {**super().get_config(), "size": self.size, "factor": factor, "numpy_factor": self.numpy_factor}


def test_a_tuple_in_a_config_is_written_as_a_list(tmp_path):
    model = single_layer_model(Window(size=(3, 1), factor=0.5, name="window"))
    model.save(tmp_path / "m.keras")

    config = archive_json(tmp_path / "m.keras")["config"]["layers"][1]["config"]
    assert (config["size"], config["factor"]) == ([3, 1], 0.5)
    loaded = keras.models.load_model(tmp_path / "m.keras", custom_objects={"Window": Window})
    assert loaded.get_layer("window").size == (3, 1) and loaded.get_layer("window").factor == 0.5


def test_an_activation_from_keras_activations_applies_inside_call():
    class Activated(keras.layers.Layer):
        def __init__(self, activation=None, **kwargs):
            super().__init__(**kwargs)
            self.activation = keras.activations.get(activation)

        def call(self, inputs):
            return self.activation(inputs)

    model = single_layer_model(Activated("tanh"))
    x = np.linspace(-2, 2, 6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(model.predict(x, verbose=0), np.tanh(x), rtol=1e-6)


# ---- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_loading_without_the_class_names_it_and_how_to_provide_it(name):
    message = r"Gate\b.*register_keras_serializable.*custom_objects"
    with pytest.raises(ValueError, match=message):
        keras.models.load_model(keras_path(name))
    serialized = archive_json(keras_path(name))
    cls = keras.Sequential if serialized["class_name"] == "Sequential" else keras.Model
    with pytest.raises(ValueError, match=message):
        cls.from_config(serialized["config"])


def test_a_class_registered_under_another_name_is_not_taken_for_it():
    config = archive_json(keras_path("custom_layer_functional"))
    custom_entries(config)["scaled"]["registered_name"] = "other_package>ScaledDense"
    with pytest.raises(ValueError, match=r"ScaledDense\b"):
        keras.saving.deserialize_model(config, custom_objects=CUSTOM_OBJECTS)


class _Unwritable:
    pass


@pytest.mark.parametrize(
    ("extra", "keys"),
    [
        ({"table": np.arange(3.0)}, ["table"]),
        ({"helper": _Unwritable(), "units": 2}, ["helper"]),
        ({"nested": {"weights": [1.0, np.ones(2)]}, "lookup": {1: "a"}}, ["nested", "lookup"]),
    ],
    ids=["array", "object", "nested"],
)
def test_a_config_value_json_cannot_hold_is_named_and_nothing_is_written(extra, keys, tmp_path):
    class Holder(keras.layers.Layer):
        def call(self, inputs):
            return inputs

        def get_config(self):
            return {**super().get_config(), **extra}

    model = single_layer_model(Holder(name="holder"))
    message = rf"Layer 'holder' \(Holder\): get_config\(\) returned {keys!r}".replace("[", r"\[")
    existing = tmp_path / "kept.keras"
    single_layer_model(layers.Dense(2)).save(existing)
    before = existing.read_bytes()

    with pytest.raises(TypeError, match=message):
        model.save(tmp_path / "m.keras")
    with pytest.raises(TypeError, match=message):
        model.save(existing)

    assert sorted(os.listdir(tmp_path)) == ["kept.keras"]
    assert existing.read_bytes() == before
    with pytest.raises(TypeError, match=message):
        model.to_json()


def test_constructor_arguments_an_automatic_config_cannot_hold_are_named(tmp_path):
    class Table(keras.layers.Layer):
        def __init__(self, values, **kwargs):
            super().__init__(**kwargs)
            self.values = values

        def call(self, inputs):
            return inputs

    model = single_layer_model(Table(np.ones(3), name="table"))
    with pytest.raises(TypeError, match=r"Table was created with argument\(s\) \['values'\].*define get_config"):
        model.save(tmp_path / "m.keras")
    assert os.listdir(tmp_path) == []


class NoKwargs(keras.layers.Layer):
    def __init__(self, units=2):
        super().__init__()
        self.units = units

    def call(self, inputs):
        return inputs


class Refusing(keras.layers.Layer):
    def call(self, inputs):
        return inputs

    @classmethod
    def from_config(cls, config):
        raise ValueError("this config is from another version")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: NoKwargs(units=3), r"\(NoKwargs 'no_kwargs(_\d+)?'\) cannot be rebuilt by NoKwargs\.from_config: .*unexpected keyword argument 'name'.*super\(\)\.__init__\(\*\*kwargs\)"),
        (lambda: Refusing(name="refusing"), r"\(Refusing 'refusing'\) cannot be rebuilt by Refusing\.from_config: this config is from another version"),
    ],
    ids=["init-without-kwargs", "from_config-raises"],
)
def test_a_from_config_that_fails_names_the_layer(make, message, tmp_path):
    model = single_layer_model(make())
    custom_objects = {type(model.layers[1]).__name__: type(model.layers[1])}
    model.save(tmp_path / "m.keras")

    with pytest.raises(ValueError, match=rf"m\.keras 'config\.json': Layer 1 {message}"):
        keras.models.load_model(tmp_path / "m.keras", custom_objects=custom_objects)
    with pytest.raises(ValueError, match=rf"Layer 1 {message}"):
        keras.Model.from_config(model.get_config(), custom_objects=custom_objects)
    sequential = keras.Sequential([keras.Input(shape=(3,)), make()])
    with pytest.raises(ValueError, match=rf"Layer 1 {message}"):
        keras.Sequential.from_config(sequential.get_config(), custom_objects=custom_objects)


# ---- more of what Keras 3 does ---------------------------------------------------------------


def test_any_error_of_from_config_names_the_layer(tmp_path):
    class Broken(keras.layers.Layer):
        def call(self, inputs):
            return inputs

        @classmethod
        def from_config(cls, config):
            raise RuntimeError("cannot rebuild")

    single_layer_model(Broken(name="broken")).save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match=r"Layer 1 \(Broken 'broken'\).*cannot rebuild"):
        keras.models.load_model(tmp_path / "m.keras", custom_objects={"Broken": Broken})


def test_model_from_json_takes_custom_objects():
    model = trained("custom_layer_functional")
    clone = keras.models.model_from_json(model.to_json(), custom_objects=CUSTOM_OBJECTS)
    assert isinstance(clone.get_layer("gate"), Gate)


def test_a_model_with_custom_layers_round_trips_through_h5(tmp_path):
    model = trained("custom_layer_functional")
    model.save(tmp_path / "m.h5")
    loaded = keras.models.load_model(tmp_path / "m.h5", custom_objects=CUSTOM_OBJECTS)
    x = fixture.training_batch("custom_layer_functional")[0]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_numpy_scalar_in_a_config_is_written_as_a_number(tmp_path):
    model = single_layer_model(Window(factor=0.5, numpy_factor=True, name="window"))
    model.save(tmp_path / "m.keras")
    assert archive_json(tmp_path / "m.keras")["config"]["layers"][1]["config"]["factor"] == 0.5
