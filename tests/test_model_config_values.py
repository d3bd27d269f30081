"""A model description (a '.keras' file's config.json, a Keras 2 '.h5' file's model_config and
training_config attributes, model_from_json's string) is checked like constructor arguments:
settings that would train to NaN, nesting that exhausts Python's recursion, and sizes that
would allocate terabytes raise a ValueError naming the file, the member and the setting."""
import json
import zipfile

import h5py
import numpy as np
import pytest

from tinykeras import Sequential, backend, models
from tinykeras.layers import Dense


def mlp():
    backend.clear_session()
    model = Sequential([Dense(16, activation="relu", input_shape=(4,)), Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def keras_file(folder, change_config=None, text=None):
    """A '.keras' file of ``mlp()`` whose config.json is changed by ``change_config(dict)``, or
    replaced by ``text``."""
    path = folder / "m.keras"
    mlp().save(path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    if change_config is not None:
        config = json.loads(members["config.json"])
        change_config(config)
        text = json.dumps(config)
    members["config.json"] = text.encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def h5_file(folder, attribute, change=None, text=None):
    """A Keras 2 '.h5' model file of ``mlp()`` whose JSON attribute is changed or replaced."""
    path = folder / "m.h5"
    mlp().save(path)
    with h5py.File(path, "a") as f:
        if change is not None:
            value = json.loads(f.attrs[attribute])
            change(value)
            text = json.dumps(value)
        f.attrs[attribute] = text.encode()
    return path


def set_optimizer(key, value):
    def change(config):
        settings = config["compile_config"]["optimizer"]["config"] if "compile_config" in config \
            else config["optimizer_config"]["config"]
        settings[key] = value
    return change


# ---- optimizer settings --------------------------------------------------------------------


@pytest.mark.parametrize(("key", "value", "shown", "expected"), [
    ("learning_rate", float("nan"), "nan", "a finite number >= 0"),
    ("learning_rate", float("inf"), "inf", "a finite number >= 0"),
    ("learning_rate", -0.01, "-0.01", "a finite number >= 0"),
    ("beta_1", float("nan"), "nan", "a finite number"),
    ("epsilon", float("-inf"), "-inf", "a finite number"),
])
@pytest.mark.parametrize("kind", ["keras", "h5"])
def test_an_optimizer_setting_that_trains_to_nan_is_refused_naming_it(tmp_path, kind, key, value, shown, expected):
    if kind == "keras":
        path = keras_file(tmp_path, set_optimizer(key, value))
        where = f"{path} 'config.json'"
    else:
        path = h5_file(tmp_path, "training_config", set_optimizer(key, value))
        where = str(path)
    with pytest.raises(ValueError) as caught:
        models.load_model(path)
    assert str(caught.value) == (
        f"{where}: Optimizer Adam: {key}={shown} in the compile settings; expected {expected}. "
        "Load the model with compile=False and compile it with the settings you want."
    )
    assert not models.load_model(path, compile=False).compiled


# ---- nesting -------------------------------------------------------------------------------


def test_deeply_nested_json_raises_a_value_error_naming_where_it_is(tmp_path):
    deep = "[" * 100_000
    nests = "nests lists and objects more than 64 deep; a model description nests about 6 deep."

    with pytest.raises(ValueError, match=rf"^{tmp_path}/m\.keras: 'config\.json' {nests}"):
        models.load_model(keras_file(tmp_path, text=deep))
    with pytest.raises(ValueError, match=rf"^model_from_json: the string {nests}"):
        models.model_from_json(deep)
    for attribute in ("model_config", "training_config"):  # an attribute holds up to 64 KB
        path = h5_file(tmp_path, attribute, text="[" * 50_000)
        with pytest.raises(ValueError, match=rf"^{path}: the '{attribute}' attribute {nests}"):
            models.load_model(path)


def test_nesting_python_parses_but_no_model_has_is_refused(tmp_path):
    """200 levels parse, but a message quoting such a setting would print all of them (and
    nearer the recursion limit, printing it raises RecursionError)."""
    def add_setting(config):
        config["config"]["layers"][1]["config"]["note"] = json.loads("[" * 200 + "]" * 200)

    with pytest.raises(ValueError, match=rf"^{tmp_path}/m\.keras: 'config\.json' nests lists and objects more than 64"):
        models.load_model(keras_file(tmp_path, add_setting))


def test_keras_own_descriptions_are_far_from_the_nesting_limit():
    from tinykeras import saving
    from keras_fixtures import FIXTURES

    for name in ("keras_batchnorm_cnn.keras", "keras_trained_mnist_cnn.keras"):
        with zipfile.ZipFile(f"{FIXTURES}/{name}") as archive:
            config = json.loads(archive.read("config.json"))
        assert not saving._deeper_than(config, 10)


# ---- sizes ---------------------------------------------------------------------------------


def test_a_layer_whose_weights_would_take_terabytes_is_refused_before_allocating():
    layer = Dense(10**12)
    with pytest.raises(ValueError) as caught:
        layer.build_for((None, 4))
    assert str(caught.value) == (
        f"Layer '{layer.name}': weight 'kernel' of shape (4, 1000000000000) would hold "
        "4,000,000,000,000 values (14,901 GiB), more than the 2,147,483,648 a weight may hold. "
        "Check the layer's size arguments (units, filters, kernel_size) and the input shape it "
        "is built for."
    )
    assert layer.variables == []


def test_a_layer_of_the_largest_size_allowed_is_not_refused_by_the_bound(monkeypatch):
    layer = Dense(2)
    monkeypatch.setattr(type(layer), "max_weight_size", 8)
    layer.build_for((None, 4))  # a kernel of 8 values: at the bound
    assert [v.shape for v in layer.variables] == [(4, 2), (2,)]
    with pytest.raises(ValueError, match="would hold 10 values"):
        Dense(2).build_for((None, 5))


def test_huge_units_in_a_description_name_the_layer_and_the_file(tmp_path):
    text = mlp().to_json().replace('"units": 16', f'"units": {10**12}')
    with pytest.raises(ValueError, match=r"^Layer 'dense': weight 'kernel' of shape \(4, 1000000000000\)"):
        models.model_from_json(text)

    def huge(config):
        config["config"]["layers"][1]["config"]["units"] = 10**12

    path = h5_file(tmp_path, "model_config", huge)
    with pytest.raises(ValueError, match=rf"^{path}: Layer 'dense': weight 'kernel' of shape \(4, 1000000000000\)"):
        models.load_model(path)


# ---- every config error names the file -----------------------------------------------------


def test_errors_in_a_description_name_the_file_and_the_member(tmp_path):
    def unknown_layer(config):
        config["config"]["layers"][1]["class_name"] = "ConvLSTM2D"

    path = keras_file(tmp_path, unknown_layer)
    with pytest.raises(ValueError, match=rf"^{path} 'config\.json': The model uses layer class\(es\) "
                                         "tinykeras does not support: ConvLSTM2D"):
        models.load_model(path)
    path = h5_file(tmp_path, "model_config", unknown_layer)
    with pytest.raises(ValueError, match=rf"^{path}: The model uses layer class\(es\) tinykeras does not support: ConvLSTM2D"):
        models.load_model(path)


def test_a_model_saved_with_valid_settings_still_loads_compiled(tmp_path):
    for path in (keras_file(tmp_path, lambda config: None), h5_file(tmp_path, "training_config", lambda c: None)):
        loaded = models.load_model(path)
        assert loaded.compiled and loaded.optimizer.learning_rate == pytest.approx(1e-3)
        assert np.isfinite(loaded.predict(np.zeros((1, 4)), verbose=0)).all()
