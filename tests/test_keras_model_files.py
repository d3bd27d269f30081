"""Whole models in Keras 3's '.keras' format: files written by real Keras 3 load into tinykeras
and predict the same, tinykeras' files round-trip with their compile state, and malformed or
unsupported files raise ValueError naming the problem.

The keras_<model>.keras fixtures were written by tests/fixtures/make_keras_fixtures.py (see its
docstring) with real Keras; these tests need only tinykeras.
"""
import json
import os
import zipfile

import numpy as np
import pytest
from keras_fixtures import ATOL, interchange, keras_fixture, keras_written_config, NAMES

import tinykeras
from tinykeras import layers, optimizers
from tinykeras.models import Sequential, load_model, model_from_json


def seeded_model(name):
    model = interchange.MODELS[name](tinykeras)
    model.set_weights(interchange.random_weights(model, seed=5))
    return model


def read_members(path):
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def write_members(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def edited_fixture(tmp_path, edit, name="mnist_cnn"):
    """A copy of Keras' '.keras' fixture whose config.json went through ``edit(config)``."""
    members = read_members(keras_fixture(name, ".keras")[0])
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config)
    return write_members(tmp_path / "edited.keras", members)


# ---- Keras -> tinykeras ----------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_keras_model_file_predicts_like_keras(name):
    path, x, expected = keras_fixture(name, ".keras")

    model = load_model(path)

    assert [type(layer).__name__ for layer in model.layers] == [
        type(layer).__name__ for layer in interchange.MODELS[name](tinykeras).layers
    ]
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=0, atol=ATOL)
    assert model.compiled
    assert isinstance(model.optimizer, optimizers.Adam)
    assert model.optimizer.learning_rate == pytest.approx(1e-3)
    assert type(model.loss).__name__ == "CategoricalCrossentropy"
    assert [m.name for m in model.metrics] == ["loss", "accuracy"]


@pytest.mark.parametrize("name", NAMES)
def test_config_mirrors_the_one_keras_wrote(name):
    path = keras_fixture(name, ".keras")[0]
    ours = tinykeras.saving.serialize_model(load_model(path))
    assert ours == keras_written_config(path)


def test_keras_model_compiled_from_file_trains():
    path, x, _ = keras_fixture("batchnorm_cnn", ".keras")
    model = load_model(path)
    y = np.eye(3, dtype=np.float32)[np.arange(len(x)) % 3]
    history = model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_load_model_compile_false_leaves_the_model_uncompiled():
    assert not load_model(keras_fixture("mnist_cnn", ".keras")[0], compile=False).compiled


# ---- tinykeras round trip ------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip_keeps_predictions_and_compile_state(tmp_path, name):
    model = seeded_model(name)
    model.compile(optimizer=optimizers.SGD(0.05, momentum=0.9), loss="categorical_crossentropy", metrics=["acc"])
    x = interchange.sample_inputs(name, seed=6)
    path = tmp_path / "model.keras"

    model.save(path)
    loaded = load_model(path)

    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.get_config() == model.get_config()
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert isinstance(loaded.optimizer, optimizers.SGD)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert type(loaded.loss) is type(model.loss)
    assert [m.name for m in loaded.metrics] == ["loss", "acc"]
    assert sorted(read_members(path)) == ["config.json", "metadata.json", "model.weights.h5"]


def test_round_trip_of_every_supported_layer(tmp_path):
    model = Sequential(
        [
            layers.Input(shape=(6, 6, 2)),
            layers.ZeroPadding2D(((1, 0), (0, 2))),
            layers.Conv2D(3, (2, 3), strides=(1, 2), padding="same", activation="tanh", use_bias=False),
            layers.BatchNormalization(momentum=0.9, epsilon=1e-4, center=False),
            layers.AveragePooling2D(2, strides=1),
            layers.MaxPooling2D(2, padding="same"),
            layers.GlobalMaxPooling2D(keepdims=True),
            layers.Reshape((-1,)),
            layers.Dropout(0.25, seed=3),
            layers.Activation("relu"),
            layers.Dense(4, kernel_initializer="he_normal", bias_initializer="ones"),
        ]
    )
    model.compile(optimizer=optimizers.RMSprop(0.01, centered=True), loss="mse")
    x = np.random.default_rng(0).random((3, 6, 6, 2), dtype=np.float32)
    path = tmp_path / "all.keras"

    model.save(path)
    loaded = load_model(path)

    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.get_config() == model.get_config()
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert type(loaded.loss).__name__ == "MeanSquaredError"


def test_global_average_pooling_and_from_logits_loss_round_trip(tmp_path):
    model = Sequential([layers.Dense(3, input_shape=(5,)), layers.Reshape((3, 1, 1)), layers.GlobalAveragePooling2D()])
    model.compile(optimizer="adam", loss=tinykeras.losses.CategoricalCrossentropy(from_logits=True))
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert loaded.loss.from_logits
    assert loaded.get_config() == model.get_config()
    assert loaded.get_config()["layers"][0]["class_name"] == "InputLayer"


def test_uncompiled_model_round_trips_uncompiled(tmp_path):
    model = seeded_model("mnist_cnn")
    model.save(tmp_path / "m.keras")
    assert json.loads(read_members(tmp_path / "m.keras")["config.json"])["compile_config"] == {}
    assert not load_model(tmp_path / "m.keras").compiled


def test_metadata_records_the_keras_format_version(tmp_path):
    seeded_model("mnist_cnn").save(tmp_path / "m.keras")
    metadata = json.loads(read_members(tmp_path / "m.keras")["metadata.json"])
    assert metadata["keras_version"] == tinykeras.saving.KERAS_VERSION
    assert "@" in metadata["date_saved"]


@pytest.mark.parametrize("name", ["m.weights.h5", "m.json", "m"])
def test_save_rejects_other_extensions(tmp_path, name):
    with pytest.raises(ValueError, match=r"'\.keras'.*'\.h5' / '\.hdf5'.*save_weights"):
        seeded_model("mnist_cnn").save(tmp_path / name)
    assert not os.listdir(tmp_path)


def test_failed_save_leaves_the_previous_file_intact(tmp_path):
    class Custom(layers.Layer):
        def get_config(self):
            return {"table": np.ones(3)}  # no config file can hold an array

    path = tmp_path / "m.keras"
    seeded_model("mnist_cnn").save(path)
    before = path.read_bytes()
    model = Sequential([layers.Input(shape=(4,)), Custom()])
    with pytest.raises(TypeError, match=r"Layer 'custom' \(Custom\).*\['table'\]"):
        model.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.keras"]


def test_save_without_overwrite_refuses_an_existing_file(tmp_path):
    path = tmp_path / "m.keras"
    seeded_model("mnist_cnn").save(path)
    with pytest.raises(FileExistsError):
        seeded_model("mnist_cnn").save(path, overwrite=False)


# ---- get_config / from_config / to_json ----------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_to_json_model_from_json_round_trip(name):
    model = seeded_model(name)
    text = model.to_json()

    clone = model_from_json(text)

    assert clone.to_json() == text
    assert [type(layer) for layer in clone.layers] == [type(layer) for layer in model.layers]
    clone.set_weights(model.get_weights())
    x = interchange.sample_inputs(name, seed=7)
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    assert not clone.compiled


def test_from_config_rebuilds_the_model():
    model = seeded_model("batchnorm_cnn")
    clone = Sequential.from_config(model.get_config())
    assert clone.built and clone.get_config() == model.get_config()


def test_unbuilt_model_config_has_no_input_layer():
    model = Sequential([layers.Dense(2)])
    config = model.get_config()
    assert [entry["class_name"] for entry in config["layers"]] == ["Dense"]
    assert "build_input_shape" not in config
    assert not Sequential.from_config(config).built


def test_model_from_json_rejects_invalid_json():
    with pytest.raises(ValueError, match="not valid JSON"):
        model_from_json("{not json")


# ---- unsupported and malformed files -------------------------------------------------------


def test_unsupported_layers_are_named(tmp_path):
    def edit(config):
        entries = config["config"]["layers"]
        entries[1]["class_name"] = "ConvLSTM2D"
        entries[3]["class_name"] = "Attention"

    with pytest.raises(ValueError, match=r"Attention, ConvLSTM2D\..*Supported layers: InputLayer, Dense"):
        load_model(edited_fixture(tmp_path, edit))


def test_an_unregistered_model_class_and_a_mislabelled_config_are_named(tmp_path):
    with pytest.raises(ValueError, match="model of class 'MyModel'.*has not registered: decorate the class"):
        load_model(edited_fixture(tmp_path, lambda config: config.update(class_name="MyModel")))
    with pytest.raises(ValueError, match="functional model's 'config' lacks the key.*input_layers, output_layers"):
        load_model(edited_fixture(tmp_path, lambda config: config.update(class_name="Functional")))


def test_unsupported_setting_is_named(tmp_path):
    def edit(config):
        config["config"]["layers"][1]["config"]["groups"] = 2

    with pytest.raises(ValueError, match=r"Conv2D 'conv2d'.*groups=2"):
        load_model(edited_fixture(tmp_path, edit))


def test_unsupported_compile_config_loads_uncompiled_with_a_warning(tmp_path):
    def edit(config):
        config["compile_config"]["optimizer"]["config"]["learning_rate"] = {
            "module": "my_schedules", "class_name": "WarmupCosine",  # a user's class, not registered
            "config": {"initial_learning_rate": 0.1, "first_decay_steps": 10}, "registered_name": "WarmupCosine"}

    with pytest.warns(UserWarning, match="learning-rate schedule.*uncompiled"):
        model = load_model(edited_fixture(tmp_path, edit))
    assert not model.compiled


def test_weighted_metrics_are_written_and_read_back(tmp_path):
    def edit(config):
        config["compile_config"]["weighted_metrics"] = ["accuracy"]

    model = load_model(edited_fixture(tmp_path, edit))
    assert model.get_compile_config()["weighted_metrics"] == ["accuracy"]


def test_weights_that_do_not_fit_the_config(tmp_path):
    def edit(config):
        config["config"]["layers"][-1]["config"]["units"] = 7

    with pytest.raises(ValueError, match="dense.*shape"):
        load_model(edited_fixture(tmp_path, edit))


def test_not_a_zip(tmp_path):
    path = tmp_path / "m.keras"
    path.write_bytes(b"\x89HDF\r\n\x1a\n not a zip at all")
    with pytest.raises(ValueError, match="not a '.keras' zip"):
        load_model(path)


def test_truncated_zip(tmp_path):
    with open(keras_fixture("mnist_cnn", ".keras")[0], "rb") as file:
        data = file.read()
    path = tmp_path / "m.keras"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="zip"):
        load_model(path)


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        load_model("/nonexistent/m.keras")


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"metadata.json": b"{}"}, "no 'config.json'"),
        ({"config.json": b"{\"module\": "}, "'config.json' is not valid JSON"),
        ({"config.json": b"[1, 2]"}, "must be a JSON object"),
        ({"config.json": b"{\"class_name\": \"Sequential\"}"}, "lacks the key.*config"),
        ({"config.json": b"{\"class_name\": \"Sequential\", \"config\": {\"layers\": 3}}"}, "'layers' must be a list"),
        ({"config.json": b"{\"class_name\": \"Sequential\", \"config\": {\"layers\": [{\"config\": {}}]}}"}, "lacks the key.*class_name"),
        ({"../config.json": b"{}"}, "outside the archive"),
        ({"/etc/passwd": b""}, "outside the archive"),
        ({"metadata.json": b"\"text\"", "config.json": b"{}"}, "metadata.json.*JSON object"),
    ],
)
def test_malformed_archives(tmp_path, members, message):
    path = write_members(tmp_path / "m.keras", members)
    with pytest.raises(ValueError, match=message):
        load_model(path)


def test_missing_weights_file(tmp_path):
    members = read_members(keras_fixture("mnist_cnn", ".keras")[0])
    del members["model.weights.h5"]
    with pytest.raises(ValueError, match="no 'model.weights.h5'"):
        load_model(write_members(tmp_path / "m.keras", members))


def test_corrupt_weights_file(tmp_path):
    members = read_members(keras_fixture("mnist_cnn", ".keras")[0])
    members["model.weights.h5"] = b"garbage"
    with pytest.raises(ValueError, match="model.weights.h5"):
        load_model(write_members(tmp_path / "m.keras", members))


def test_unsupported_dtype_policy(tmp_path):
    def edit(config):
        config["config"]["layers"][1]["config"]["dtype"]["config"]["name"] = "mixed_float16"

    with pytest.raises(ValueError, match="mixed_float16"):
        load_model(edited_fixture(tmp_path, edit))
