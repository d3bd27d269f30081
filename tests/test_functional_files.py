"""Functional and nested models in files: Keras 3's config of a functional model (get_config,
to_json, from_config), whole models ('.keras', '.h5') and weights ('.weights.h5', '.h5') of
models with branches, a shared layer and models inside models, and the errors a malformed
config raises.

The keras_<model> fixtures of GRAPH_MODELS were written by tests/fixtures/make_keras_fixtures.py
(see its docstring) with real Keras 3 on JAX, from the builders of interchange_models.py; these
tests need only tinykeras. Predictions are softmax probabilities, compared with rtol=0 and
atol=1e-5.
"""
import json
import zipfile

import h5py
import numpy as np
import pytest
import keras_fixtures
from keras_fixtures import ATOL, interchange, keras_fixture, keras_written_config

import tinykeras as keras
from tinykeras import layers, optimizers
from tinykeras.functional_config import keras_layers, keras_variables
from tinykeras.models import Functional, Model, Sequential, load_model, model_from_json

GRAPH = sorted(interchange.GRAPH_MODELS)


def build(name):
    return interchange.GRAPH_MODELS[name](keras)


def seeded(name, seed=3):
    return keras_fixtures.seeded(build(name), seed)


def keras_saved(name):
    """Everything keras_<name>.npz holds: 'x', 'y', 'state_<i>' and 'next_<i>' arrays."""
    with np.load(keras_fixture(name, ".npz")[0], allow_pickle=False) as data:
        return dict(data)


def numbered(saved, prefix):
    return [saved[f"{prefix}{i}"] for i in range(len([k for k in saved if k.startswith(prefix)]))]


def datasets(f):
    """Every dataset of an open HDF5 file or group as {path: shape}."""
    found = {}
    f.visititems(lambda key, item: found.update({key: item.shape}) if isinstance(item, h5py.Dataset) else None)
    return found


def archive_weights_layout(path):
    with zipfile.ZipFile(path) as archive, h5py.File(archive.open("model.weights.h5"), "r") as f:
        return datasets(f)


def legacy_layout(path):
    """The shapes of each layer's weights of a '.h5' file, layer by layer in the file's order
    (the names depend on how many layers the process made before)."""
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        return [[root[name][w].shape for w in root[name].attrs["weight_names"]] for name in root.attrs["layer_names"]]


def same_weights(model, other):
    for a, b in zip(keras_variables(model), keras_variables(other)):
        np.testing.assert_array_equal(a.value, b.value)


# ---- Keras -> tinykeras ----------------------------------------------------------------------


@pytest.mark.parametrize("extension", [".keras", ".h5"])
@pytest.mark.parametrize("name", GRAPH)
def test_keras_whole_model_files_predict_like_keras(name, extension):
    path, x, expected = keras_fixture(name, extension)

    model = load_model(path)

    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=0, atol=ATOL)
    assert [type(layer).__name__ for layer in keras_layers(model)] == [
        type(layer).__name__ for layer in keras_layers(build(name))
    ]
    assert model.compiled and isinstance(model.optimizer, optimizers.Adam)


@pytest.mark.parametrize("extension", [".weights.h5", ".h5"])
@pytest.mark.parametrize("name", GRAPH)
def test_keras_weights_load_into_the_model_built_in_code(name, extension):
    path, x, expected = keras_fixture(name, extension)
    model = build(name)
    assert not np.allclose(model.predict(x, verbose=0), expected, rtol=0, atol=1e-3)

    model.load_weights(path)

    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=0, atol=ATOL)


@pytest.mark.parametrize("extension", [".keras", ".h5"])
@pytest.mark.parametrize("name", GRAPH)
def test_keras_optimizer_state_is_read_in_keras_order_and_training_continues_like_keras(name, extension):
    """The siamese model's optimizer meets the shared Dense before the projection; Keras lists
    the projection first. Read in Keras' order, the state is Keras' bit for bit, and one more
    Adam step gives Keras' weights."""
    saved = keras_saved(name)
    model = load_model(keras_fixture(name, extension)[0])

    state = model.optimizer.variables
    expected = numbered(saved, "state_")
    assert len(state) == len(expected)
    for ours, theirs in zip(state, expected):
        np.testing.assert_array_equal(ours, theirs)
    model.train_on_batch(*interchange.training_batch(name, 5))
    for variable, theirs in zip(keras_variables(model), numbered(saved, "next_"), strict=True):
        np.testing.assert_allclose(variable.value, theirs, rtol=0, atol=ATOL)


@pytest.mark.parametrize("name", GRAPH)
def test_config_mirrors_the_one_keras_wrote(name):
    path = keras_fixture(name, ".keras")[0]
    ours = keras.saving.serialize_model(load_model(path))
    assert ours == keras_written_config(path)


@pytest.mark.parametrize("name", GRAPH)
def test_h5_model_config_is_the_one_keras_writes(name, tmp_path):
    path = keras_fixture(name, ".h5")[0]
    model = load_model(path)

    model.save(tmp_path / "m.h5")

    with h5py.File(path, "r") as theirs, h5py.File(tmp_path / "m.h5", "r") as ours:
        assert json.loads(ours.attrs["model_config"]) == json.loads(theirs.attrs["model_config"])


@pytest.mark.parametrize("name", GRAPH)
def test_saved_files_have_keras_layout(name, tmp_path):
    model = build(name)
    model.compile("adam", "categorical_crossentropy")
    model.train_on_batch(*interchange.training_batch(name, 5))  # the optimizer's slots exist

    model.save_weights(tmp_path / "m.weights.h5")
    model.save(tmp_path / "m.keras")
    model.save(tmp_path / "m.h5")

    # Keras' save_weights also wrote the compiled model's optimizer state; tinykeras' writes the
    # layers' weights (and '.keras' archives the optimizer state).
    with h5py.File(tmp_path / "m.weights.h5", "r") as ours, h5py.File(keras_fixture(name, ".weights.h5")[0], "r") as theirs:
        assert datasets(ours) == {k: v for k, v in datasets(theirs).items() if k.startswith("layers/")}
        groups = []
        theirs.visit(groups.append)
        assert all(group in ours for group in groups if not group.startswith("optimizer"))
    assert archive_weights_layout(tmp_path / "m.keras") == archive_weights_layout(keras_fixture(name, ".keras")[0])
    assert legacy_layout(tmp_path / "m.h5") == legacy_layout(keras_fixture(name, ".h5")[0])


def test_nested_weights_sit_under_their_models_group():
    with h5py.File(keras_fixture("nested_functional", ".weights.h5")[0], "r") as f:
        assert sorted(k for k in datasets(f) if k.startswith("layers/")) == [
            "layers/dense/vars/0", "layers/dense/vars/1",
            "layers/functional/layers/dense/vars/0", "layers/functional/layers/dense/vars/1",
            "layers/sequential/layers/batch_normalization/vars/0",
            "layers/sequential/layers/batch_normalization/vars/1",
            "layers/sequential/layers/batch_normalization/vars/2",
            "layers/sequential/layers/batch_normalization/vars/3",
            "layers/sequential/layers/dense/vars/0", "layers/sequential/layers/dense/vars/1",
        ]
    with h5py.File(keras_fixture("nested_sequential", ".h5")[0], "r") as f:
        group = f["model_weights/inner"]
        shapes = [group[name].shape for name in group.attrs["weight_names"]]
    assert shapes == [(6,), (6,), (6, 8), (8,), (6,), (6,)]  # trainable first: gamma, beta, kernel, bias


# ---- tinykeras round trips -------------------------------------------------------------------


@pytest.mark.parametrize("extension", [".keras", ".h5"])
@pytest.mark.parametrize("name", GRAPH)
def test_save_load_continue_is_bit_for_bit(name, extension, tmp_path):
    """Two steps in one go equal one step, save, load and one more step, to the last bit."""
    x, y = interchange.training_batch(name, 5)
    models = []
    for _ in range(2):
        model = seeded(name)
        model.compile(optimizers.Adam(0.01), "categorical_crossentropy", metrics=["accuracy"])
        model.train_on_batch(x, y)
        models.append(model)
    straight, saved = models
    saved.save(tmp_path / f"m{extension}")

    loaded = load_model(tmp_path / f"m{extension}")

    np.testing.assert_array_equal(loaded.predict(x, verbose=0), saved.predict(x, verbose=0))
    assert loaded.get_config() == saved.get_config()
    for a, b in zip(loaded.optimizer.variables, keras.saving.keras_optimizer_state(saved), strict=True):
        np.testing.assert_array_equal(a, b)
    straight.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    same_weights(straight, loaded)


@pytest.mark.parametrize("extension", [".weights.h5", ".h5"])
@pytest.mark.parametrize("name", GRAPH)
def test_weights_round_trip(name, extension, tmp_path):
    model = seeded(name)
    model.save_weights(tmp_path / f"m{extension}")
    other = build(name)

    other.load_weights(tmp_path / f"m{extension}")

    same_weights(model, other)
    x = interchange.sample_inputs(name, seed=6)
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("name", GRAPH)
def test_get_config_from_config_and_json_round_trip(name):
    model = seeded(name)
    config = model.get_config()

    clone = type(model).from_config(config)

    assert clone.get_config() == config
    assert [layer.name for layer in keras_layers(clone)] == [layer.name for layer in keras_layers(model)]
    for a, b in zip(keras_variables(clone), keras_variables(model), strict=True):
        a.assign(b.value)
    x = interchange.sample_inputs(name, seed=7)
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    text = model.to_json()
    assert model_from_json(text).to_json() == text
    assert isinstance(Model.from_config(config), type(model))


def test_a_frozen_nested_layer_keeps_keras_h5_order(tmp_path):
    """Keras' '.h5' files list a nested model's trainable weights first: freezing a layer
    moves its weights after the others, in the file and back."""
    model = seeded("nested_sequential")
    model.layers[0].layers[1].trainable = False  # the inner Dense
    model.save_weights(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        names = [n.decode() for n in f["inner"].attrs["weight_names"]]
    assert [name.split("/")[-1] for name in names] == [
        "gamma:0", "beta:0", "moving_mean:0", "moving_variance:0", "kernel:0", "bias:0"
    ]
    other = build("nested_sequential")
    other.layers[0].layers[1].trainable = False
    other.load_weights(tmp_path / "m.h5")
    same_weights(model, other)


# ---- the config of functional models ---------------------------------------------------------


def test_a_shared_layer_has_one_entry_with_one_inbound_node_per_call():
    model = build("siamese")
    config = model.get_config()
    entries = {entry["name"]: entry for entry in config["layers"]}
    shared, projection = keras_layers(model)[2].name, keras_layers(model)[1].name

    def history(node, index=None):
        tensors = node["args"][0] if index is None else node["args"][0][index]
        return tensors["config"]["keras_history"]

    assert [history(node) for node in entries[shared]["inbound_nodes"]] == [["input_layer", 0, 0], [projection, 0, 0]]
    concatenate = next(e for e in config["layers"] if e["class_name"] == "Concatenate")
    assert [t["config"]["keras_history"] for t in concatenate["inbound_nodes"][0]["args"][0]] == [
        [shared, 0, 0], [shared, 1, 0], [keras_layers(model)[3].name, 0, 0], [keras_layers(model)[4].name, 0, 0]
    ]
    assert config["input_layers"] == ["input_layer", 0, 0]
    assert config["output_layers"] == [keras_layers(model)[-1].name, 0, 0]


def test_calls_are_numbered_within_the_model():
    """A layer also called in another model numbers its calls here from 0, as Keras does."""
    dense = layers.Dense(3, name="reused")
    first = keras.Input(shape=(3,), name="first")
    dense(first)
    second = keras.Input(shape=(3,), name="second")
    model = keras.Model(second, layers.Dense(2, name="head")(dense(second)))
    entry = next(e for e in model.get_config()["layers"] if e["name"] == "reused")
    assert [n["args"][0]["config"]["keras_history"] for n in entry["inbound_nodes"]] == [["second", 0, 0]]
    clone = Model.from_config(model.get_config())
    assert [layer.name for layer in clone.layers] == ["second", "reused", "head"]


def test_a_nested_functional_models_calls_count_from_1_in_output_layers():
    config = build("nested_functional").get_config()
    assert config["output_layers"] == ["head", 1, 0]
    head = next(e for e in config["layers"] if e["name"] == "head")
    assert head["module"] == "keras.src.models.functional" and head["registered_name"] == "Functional"
    assert head["inbound_nodes"][0]["kwargs"] == {"mask": None}
    assert head["build_config"] == {"input_shape": None} and head["compile_config"] == {}
    encoder = next(e for e in config["layers"] if e["name"] == "encoder")
    assert encoder["class_name"] == "Sequential" and encoder["build_config"] == {"input_shape": [None, 6]}


MERGES = [
    (layers.Add, {}), (layers.Subtract, {}), (layers.Multiply, {}), (layers.Average, {}),
    (layers.Maximum, {}), (layers.Minimum, {}), (layers.Concatenate, {"axis": 1}),
    (layers.Dot, {"axes": (1, 1), "normalize": True}), (layers.Dot, {"axes": 1}),
]


@pytest.mark.parametrize(("cls", "arguments"), MERGES)
def test_merge_layers_round_trip_through_their_config(cls, arguments, tmp_path):
    inputs = keras.Input(shape=(4,))
    merged = cls(**arguments)([layers.Dense(4)(inputs), layers.Dense(4, activation="tanh")(inputs)])
    model = keras.Model(inputs, layers.Dense(2)(merged))
    entry = next(e for e in model.get_config()["layers"] if e["class_name"] == cls.__name__)
    expected = {k: list(v) if isinstance(v, tuple) else v for k, v in arguments.items()}
    assert {k: entry["config"][k] for k in expected} == expected
    assert entry["build_config"] == {"input_shape": [[None, 4], [None, 4]]}
    model.save(tmp_path / "m.keras")

    loaded = load_model(tmp_path / "m.keras")

    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.get_config() == model.get_config()


def two_in_two_out(as_dict):
    a, b = keras.Input(shape=(4,), name="a"), keras.Input(shape=(3,), name="b")
    hidden = layers.Dense(5, name="h")(layers.Concatenate(name="cat")([a, b]))
    first = layers.Dense(2, name="o1")(hidden)
    second = layers.Dense(1, name="o2")(layers.Add(name="add")([hidden, layers.Dense(5, name="g")(a)]))
    if as_dict:
        return keras.Model({"a": a, "b": b}, {"first": first, "second": second})
    return keras.Model([a, b], [first, second])


@pytest.mark.parametrize("as_dict", [False, True])
def test_several_inputs_and_outputs_are_written_as_keras_writes_them(as_dict, tmp_path):
    """Keras 3.15 wrote these input_layers, output_layers and layer order for this model."""
    model = two_in_two_out(as_dict)
    config = model.get_config()
    if as_dict:
        assert config["input_layers"] == {"a": ["a", 0, 0], "b": ["b", 0, 0]}
        assert config["output_layers"] == {"first": ["o1", 0, 0], "second": ["o2", 0, 0]}
    else:
        assert config["input_layers"] == [["a", 0, 0], ["b", 0, 0]]
        assert config["output_layers"] == [["o1", 0, 0], ["o2", 0, 0]]
    assert [entry["name"] for entry in config["layers"]] == ["a", "b", "cat", "h", "g", "add", "o1", "o2"]
    model.save(tmp_path / "m.keras")

    loaded = load_model(tmp_path / "m.keras")

    assert loaded.get_config() == config
    rng = np.random.default_rng(0)
    x = [rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((3, 3)).astype(np.float32)]
    x = dict(zip("ab", x)) if as_dict else x
    ours, theirs = loaded.predict(x, verbose=0), model.predict(x, verbose=0)
    for key in (["first", "second"] if as_dict else [0, 1]):
        np.testing.assert_array_equal(ours[key], theirs[key])


def test_a_keras_2_style_functional_config_loads():
    """Keras 2 wrote each call as a list of [layer, call, tensor, kwargs] and the model's
    inputs and outputs as lists."""
    config = {
        "name": "model",
        "layers": [
            {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "dtype": "float32", "name": "x"},
             "name": "x", "inbound_nodes": []},
            {"class_name": "Dense", "config": {"name": "a", "units": 3, "dtype": "float32"}, "name": "a",
             "inbound_nodes": [[["x", 0, 0, {}]]]},
            {"class_name": "Dense", "config": {"name": "b", "units": 3, "dtype": "float32"}, "name": "b",
             "inbound_nodes": [[["x", 0, 0, {}]]]},
            {"class_name": "Add", "config": {"name": "add", "dtype": "float32"}, "name": "add",
             "inbound_nodes": [[["a", 0, 0, {}], ["b", 0, 0, {}]]]},
        ],
        "input_layers": [["x", 0, 0]],
        "output_layers": [["add", 0, 0]],
    }
    model = Model.from_config(config)
    assert isinstance(model, Functional) and model.output_shape == (None, 3)
    assert [layer.name for layer in keras_layers(model)] == ["x", "a", "b", "add"]


# ---- errors ----------------------------------------------------------------------------------


def edited_config(edit, name="siamese"):
    config = build(name).get_config()
    edit(config)
    return config


def entry_named(config, class_name, index=0):
    return [e for e in config["layers"] if e["class_name"] == class_name][index]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: entry_named(c, "Concatenate").update(class_name="ConvLSTM2D"),
         r"layer class\(es\) tinykeras does not support: ConvLSTM2D\. Supported layers: InputLayer, Dense"),
        (lambda c: entry_named(c, "Subtract")["inbound_nodes"][0]["args"][0][0]["config"].update(keras_history=["ghost", 0, 0]),
         r"Layer 'subtract' \(entry \d\) is called on the output of layer 'ghost', which the config does not define"),
        (lambda c: entry_named(c, "Subtract")["inbound_nodes"][0]["args"][0][0]["config"].update(keras_history=["input_layer", 3, 0]),
         r"cannot be rebuilt: these calls read calls that never happen.*'subtract' on input_layer\[3\]"),
        (lambda c: entry_named(c, "Subtract")["inbound_nodes"][0]["args"][0][0]["config"].update(keras_history=["input_layer", 0, 1]),
         r"Layer 'subtract' \(entry \d\) reads output 1 of layer 'input_layer', which gives 1\."),
        (lambda c: entry_named(c, "Dense")["inbound_nodes"][0].update(kwargs={"training": True}),
         r"is called with training=True; tinykeras calls a layer on its inputs alone"),
        (lambda c: entry_named(c, "Dense", 1).update(name=entry_named(c, "Dense", 0)["name"]),
         r"layer entries name 'dense_\d+' twice"),
        (lambda c: c.update(output_layers=["nowhere", 0, 0]),
         r"'output_layers' names layer 'nowhere', which the config does not define"),
        (lambda c: entry_named(c, "Dense").pop("inbound_nodes"),
         r"layer entry 1 lacks the key\(s\) inbound_nodes"),
        (lambda c: entry_named(c, "Dense")["inbound_nodes"][0].update(args=[{"a": 1}, {"b": 2}]),
         r"tinykeras' layers take one argument, a tensor or a list of tensors"),
    ],
)
def test_malformed_functional_configs_raise_naming_the_problem(edit, message):
    with pytest.raises(ValueError, match=message):
        Model.from_config(edited_config(edit))


def test_an_error_in_a_nested_model_names_it(tmp_path):
    path, _, _ = keras_fixture("nested_functional", ".keras")
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    config = json.loads(members["config.json"])
    encoder = next(e for e in config["config"]["layers"] if e["name"] == "encoder")
    encoder["config"]["layers"][1]["class_name"] = "UnitNormalization"
    members["config.json"] = json.dumps(config)
    with zipfile.ZipFile(tmp_path / "m.keras", "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    with pytest.raises(ValueError, match=r"Layer 1 \(Sequential 'encoder'\): The model uses layer class\(es\) tinykeras does not support: UnitNormalization"):
        load_model(tmp_path / "m.keras")


def test_nested_weights_that_do_not_fit_name_the_group(tmp_path):
    model = seeded("nested_sequential")
    model.save_weights(tmp_path / "m.weights.h5")
    inner = Sequential([layers.Input(shape=(6,)), layers.BatchNormalization(), layers.Dense(7)], name="inner")
    other = Sequential([layers.Input(shape=(6,)), inner, layers.Dense(3)])
    with pytest.raises(ValueError, match=r"weight 'kernel' has shape \(6, 7\).*\(6, 8\) at 'layers/sequential/layers/dense'"):
        other.load_weights(tmp_path / "m.weights.h5")
