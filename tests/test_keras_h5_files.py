"""Keras 2's HDF5 files and the optimizer's state, both ways with real Keras 3.

``save_weights('model.h5')`` writes Keras 2's weights layout and ``save('model.h5')`` Keras 2's
whole-model file, as the tutorials written for Keras 2 do; ``load_weights`` and ``load_model``
read them, also as Keras wrote them. Whole models keep the optimizer's state, so training
continues exactly where it stopped.

The keras_trained_* and keras_legacy_* fixtures were written by tests/fixtures/make_keras_fixtures.py
(see its docstring) with real Keras: each model trained a few steps with Adam, then saved.
"""
import os

import h5py
import numpy as np
import pytest
import keras_fixtures
from keras_fixtures import ATOL, FIXTURES, NAMES, interchange

import tinykeras
from tinykeras import layers, optimizers
from tinykeras.models import Sequential, load_model

TRAIN_SEED = 5  # the seed of the training batch in make_keras_fixtures.py


def build(name):
    return interchange.MODELS[name](tinykeras)


def seeded(name, seed=5):
    return keras_fixtures.seeded(build(name), seed)


def trained_fixture(name):
    """Keras' predictions, optimizer state and next-step weights for keras_trained_<name>."""
    with np.load(os.path.join(FIXTURES, f"keras_trained_{name}.npz"), allow_pickle=False) as data:
        saved = dict(data)
    count = len([k for k in saved if k.startswith("state_")])
    return saved, [saved[f"state_{i}"] for i in range(count)]


def assert_same_state(optimizer, expected):
    state = optimizer.variables
    assert len(state) == len(expected)
    assert int(state[0]) == int(expected[0]) == interchange.TRAIN_STEPS
    assert np.float32(state[1]) == np.float32(expected[1])
    for ours, keras_value in zip(state[2:], expected[2:]):
        np.testing.assert_array_equal(ours, keras_value)


def text(value):
    """An HDF5 string attribute as str (h5py returns bytes or str depending on how it was stored)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def weights_of(model):
    return [w.copy() for w in model.get_weights()]


# ---- Keras -> tinykeras ----------------------------------------------------------------------


@pytest.mark.parametrize("extension", [".keras", ".h5"])
@pytest.mark.parametrize("name", NAMES)
def test_keras_trained_model_loads_with_its_optimizer_state(name, extension):
    saved, state = trained_fixture(name)

    model = load_model(os.path.join(FIXTURES, f"keras_trained_{name}{extension}"))

    np.testing.assert_allclose(model.predict(saved["x"], verbose=0), saved["y"], rtol=0, atol=ATOL)
    assert isinstance(model.optimizer, optimizers.Adam) and model.compiled
    assert [m.name for m in model.metrics] == ["loss", "accuracy"]
    assert_same_state(model.optimizer, state)


@pytest.mark.parametrize("extension", [".keras", ".h5"])
@pytest.mark.parametrize("name", interchange.STEP_COMPARABLE)
def test_training_continues_from_keras_state_like_keras(name, extension):
    saved, _ = trained_fixture(name)
    model = load_model(os.path.join(FIXTURES, f"keras_trained_{name}{extension}"))

    model.train_on_batch(*interchange.training_batch(name, TRAIN_SEED))

    for i, weight in enumerate(model.get_weights()):
        np.testing.assert_allclose(weight, saved[f"next_{i}"], rtol=0, atol=ATOL)


@pytest.mark.parametrize("name", NAMES)
def test_keras_2_weights_file_written_by_keras_predicts_like_keras(name):
    saved, _ = trained_fixture(name)
    model = build(name)

    model.load_weights(os.path.join(FIXTURES, f"keras_legacy_{name}.h5"))

    np.testing.assert_allclose(model.predict(saved["x"], verbose=0), saved["y"], rtol=0, atol=ATOL)


# ---- save_weights('model.h5'): Keras 2's weights layout ---------------------------------------


def test_save_weights_h5_writes_keras_2_layout(tmp_path):
    model = seeded("batchnorm_cnn")
    path = tmp_path / "model.h5"

    model.save_weights(path)

    with h5py.File(path, "r") as f:
        assert [n.decode() for n in f.attrs["layer_names"]] == [layer.name for layer in model.layers]
        assert text(f.attrs["keras_version"]) == tinykeras.saving.KERAS_VERSION
        assert "backend" in f.attrs
        for layer in model.layers:
            names = [n.decode() for n in f[layer.name].attrs["weight_names"]]
            assert names == [f"{layer.name}/{v.name}:0" for v in layer.variables]
            for name, variable in zip(names, layer.variables):
                np.testing.assert_array_equal(f[layer.name][name][()], variable.value)
        assert "top_level_model_weights" in f


@pytest.mark.parametrize("suffix", [".h5", ".hdf5"])
def test_save_weights_h5_round_trip(tmp_path, suffix):
    model = seeded("batchnorm_cnn")
    path = tmp_path / f"model{suffix}"
    model.save_weights(path)

    other = build("batchnorm_cnn")
    other.load_weights(path)

    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_save_weights_h5_chunks_long_name_lists(tmp_path):
    """Layer names beyond HDF5's 64 KB attribute limit are split as Keras splits them."""
    model = Sequential([layers.Input(shape=(2,))] + [layers.Dense(2, name="d" * 200 + str(i)) for i in range(400)])
    model.set_weights([w + 0.5 for w in model.get_weights()])
    path = tmp_path / "long.h5"
    model.save_weights(path)

    with h5py.File(path, "r") as f:
        assert "layer_names" not in f.attrs and "layer_names0" in f.attrs and "layer_names1" in f.attrs
    other = Sequential([layers.Input(shape=(2,))] + [layers.Dense(2) for _ in range(400)])
    other.load_weights(path)
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_load_weights_by_name_loads_matching_layers_only(tmp_path):
    source = Sequential([layers.Input(shape=(4,)), layers.Dense(3, name="shared"), layers.Dense(2, name="head")])
    source.set_weights([w + 1.0 for w in source.get_weights()])
    path = tmp_path / "source.h5"
    source.save_weights(path)
    target = Sequential(
        [layers.Input(shape=(4,)), layers.Dense(3, name="shared"), layers.Dense(5, name="new"), layers.Dense(2, name="other")]
    )
    new_before, other_before = target.get_layer("new").get_weights(), target.get_layer("other").get_weights()

    target.load_weights(path, by_name=True)

    for a, b in zip(target.get_layer("shared").get_weights(), source.get_layer("shared").get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(target.get_layer("new").get_weights() + target.get_layer("other").get_weights(), new_before + other_before):
        np.testing.assert_array_equal(a, b)


def test_load_weights_by_name_with_a_mismatch_raises_and_changes_nothing(tmp_path):
    source = Sequential([layers.Input(shape=(4,)), layers.Dense(3, name="a"), layers.Dense(2, name="b")])
    path = tmp_path / "source.h5"
    source.save_weights(path)
    target = Sequential([layers.Input(shape=(4,)), layers.Dense(3, name="a"), layers.Dense(7, name="b")])
    before = weights_of(target)

    with pytest.raises(ValueError, match=r"Layer 'b': weight 'kernel' has shape \(3, 7\).*\(3, 2\)"):
        target.load_weights(path, by_name=True)

    for a, b in zip(before, target.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("by_name", [False, True])
def test_skip_mismatch_loads_what_fits_and_warns(tmp_path, by_name):
    source = Sequential([layers.Input(shape=(4,)), layers.Dense(3, name="a"), layers.Dense(2, name="b")])
    source.set_weights([w + 1.0 for w in source.get_weights()])
    path = tmp_path / "source.h5"
    source.save_weights(path)
    target = Sequential([layers.Input(shape=(4,)), layers.Dense(3, name="a"), layers.Dense(7, name="b")])
    b_before = target.get_layer("b").get_weights()

    with pytest.warns(UserWarning, match=r"Skipping loading weights for layer 'b'"):
        target.load_weights(path, by_name=by_name, skip_mismatch=True)

    for a, b in zip(target.get_layer("a").get_weights(), source.get_layer("a").get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(target.get_layer("b").get_weights(), b_before):
        np.testing.assert_array_equal(a, b)


def test_skip_mismatch_on_a_keras_3_weights_file(tmp_path):
    source = Sequential([layers.Input(shape=(4,)), layers.Dense(3), layers.Dense(2)])
    source.set_weights([w + 1.0 for w in source.get_weights()])
    path = tmp_path / "source.weights.h5"
    source.save_weights(path)
    target = Sequential([layers.Input(shape=(4,)), layers.Dense(3), layers.Dense(7)])

    with pytest.warns(UserWarning, match=r"Skipping loading weights for layer"):
        target.load_weights(path, skip_mismatch=True)

    np.testing.assert_array_equal(target.layers[0].get_weights()[0], source.layers[0].get_weights()[0])


def test_by_name_on_a_keras_3_weights_file_says_what_to_do(tmp_path):
    model = seeded("mnist_cnn")
    path = tmp_path / "m.weights.h5"
    model.save_weights(path)
    with pytest.raises(ValueError, match=r"by_name=True\) reads Keras 2's '\.h5' files.*without by_name"):
        model.load_weights(path, by_name=True)


def test_load_weights_arguments_are_keyword_only(tmp_path):
    """Keras 2's second positional argument was by_name, Keras 3's skip_mismatch: neither is
    guessed."""
    model = seeded("mnist_cnn")
    path = tmp_path / "m.h5"
    model.save_weights(path)
    with pytest.raises(TypeError):
        model.load_weights(path, True)


# ---- save('model.h5'): Keras 2's whole-model file ---------------------------------------------


def compiled(name, optimizer="adam"):
    model = seeded(name)
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("name", NAMES)
def test_whole_model_h5_round_trip(tmp_path, name):
    model = compiled(name)
    interchange.train(model, name, seed=8)
    path = tmp_path / "model.h5"

    model.save(path)
    loaded = load_model(path)

    x = interchange.sample_inputs(name, seed=6)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.get_config() == model.get_config()
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert [m.name for m in loaded.metrics] == ["loss", "accuracy"]
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(a, b)
    with h5py.File(path, "r") as f:
        assert {"model_config", "training_config", "keras_version", "backend"} <= set(f.attrs)
        assert "model_weights" in f and "optimizer_weights" in f


def test_whole_model_h5_without_compile(tmp_path):
    model = seeded("mnist_cnn")
    path = tmp_path / "model.h5"
    model.save(path)
    loaded = load_model(path)
    assert not loaded.compiled
    assert not load_model(path, compile=False).compiled


def test_load_model_on_a_weights_only_h5_says_what_to_do(tmp_path):
    path = tmp_path / "weights.h5"
    seeded("mnist_cnn").save_weights(path)
    with pytest.raises(ValueError, match=r"no 'model_config'.*load_weights"):
        load_model(path)


# ---- the optimizer's state: training continues exactly -----------------------------------------


def small_model():
    return Sequential(
        [
            layers.Input(shape=(28, 28, 1)),
            layers.Conv2D(4, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )


@pytest.mark.parametrize(
    ("extension", "optimizer"),
    [(".keras", "adam"), (".h5", "adam"), (".keras", "rmsprop"), (".keras", "sgd_momentum"), (".h5", "amsgrad")],
)
def test_two_epochs_equal_one_then_save_load_then_one(tmp_path, extension, optimizer):
    def make_optimizer():
        return {
            "adam": lambda: "adam",
            "rmsprop": lambda: optimizers.RMSprop(momentum=0.5, centered=True),
            "sgd_momentum": lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
            "amsgrad": lambda: optimizers.Adam(amsgrad=True),
        }[optimizer]()

    rng = np.random.default_rng(0)
    x = rng.random((96, 28, 28, 1), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 96)]
    tinykeras.utils.set_random_seed(1)
    straight = small_model()
    start = straight.get_weights()
    straight.compile(make_optimizer(), "categorical_crossentropy", metrics=["accuracy"])
    straight.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)

    first = small_model()
    first.set_weights(start)
    first.compile(make_optimizer(), "categorical_crossentropy", metrics=["accuracy"])
    first.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    path = tmp_path / f"half{extension}"
    first.save(path)
    resumed = load_model(path)
    resumed.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)

    assert resumed.optimizer.iterations == straight.optimizer.iterations == 12
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_untrained_compiled_model_saves_step_count_and_learning_rate(tmp_path):
    model = compiled("mnist_cnn", optimizers.Adam(learning_rate=0.01))
    path = tmp_path / "m.keras"
    model.save(path)

    loaded = load_model(path)

    assert loaded.optimizer.iterations == 0 and loaded.optimizer.learning_rate == 0.01
    x, y = interchange.training_batch("mnist_cnn", 1)
    loaded.train_on_batch(x, y)
    assert loaded.optimizer.iterations == 1


def test_changed_learning_rate_is_restored(tmp_path):
    model = compiled("mnist_cnn")
    interchange.train(model, "mnist_cnn", seed=8)
    model.optimizer.learning_rate = 0.0003
    path = tmp_path / "m.keras"
    model.save(path)
    assert load_model(path).optimizer.learning_rate == pytest.approx(0.0003, rel=1e-7)


def test_optimizer_state_that_does_not_fit_leaves_a_fresh_optimizer_with_a_warning(tmp_path):
    model = compiled("mnist_cnn", optimizers.Adam(amsgrad=True))
    interchange.train(model, "mnist_cnn", seed=8)
    path = tmp_path / "m.h5"
    model.save(path)
    with h5py.File(path, "a") as f:  # claim plain Adam: one slot fewer per variable
        config = text(f.attrs["training_config"]).replace('"amsgrad": true', '"amsgrad": false')
        f.attrs["training_config"] = config.encode()

    with pytest.warns(UserWarning, match=r"optimizer's state cannot be restored.*freshly initialized"):
        loaded = load_model(path)

    assert loaded.optimizer.iterations == 0


# ---- files written by Keras 2 (tf.keras 2.15) -------------------------------------------------


def keras2_fixture(name):
    with np.load(os.path.join(FIXTURES, f"keras2_{name}.npz"), allow_pickle=False) as data:
        return dict(data)


@pytest.mark.parametrize("name", NAMES)
def test_keras_2_weights_file_predicts_like_keras_2(name):
    saved = keras2_fixture(name)
    model = build(name)

    model.load_weights(os.path.join(FIXTURES, f"keras2_{name}.h5"))

    np.testing.assert_allclose(model.predict(saved["x"], verbose=0), saved["y"], rtol=0, atol=ATOL)


@pytest.mark.parametrize("name", NAMES)
def test_keras_2_model_file_loads_compiled_with_its_optimizer_state(name):
    saved = keras2_fixture(name)

    model = load_model(os.path.join(FIXTURES, f"keras2_model_{name}.h5"))

    np.testing.assert_allclose(model.predict(saved["x"], verbose=0), saved["y"], rtol=0, atol=ATOL)
    assert isinstance(model.optimizer, optimizers.Adam)
    assert model.optimizer.learning_rate == pytest.approx(1e-3)
    assert [m.name for m in model.metrics] == ["loss", "accuracy"]
    assert model.optimizer.iterations == interchange.TRAIN_STEPS
    if name in interchange.STEP_COMPARABLE:
        model.train_on_batch(*interchange.training_batch(name, TRAIN_SEED))
        for i, weight in enumerate(model.get_weights()):
            np.testing.assert_allclose(weight, saved[f"next_{i}"], rtol=0, atol=ATOL)


def test_optimizer_state_in_an_older_layout_is_left_with_a_warning(tmp_path):
    path = tmp_path / "old.h5"
    model = compiled("mnist_cnn")
    interchange.train(model, "mnist_cnn", seed=8)
    model.save(path)
    with h5py.File(path, "a") as f:  # Keras 2.0-2.10 named the step count 'Adam/iter:0'
        names = [n.decode() if isinstance(n, bytes) else n for n in f["optimizer_weights"].attrs["weight_names"]]
        f["optimizer_weights"].attrs["weight_names"] = [("Adam/iter:0" if i == 0 else n).encode() for i, n in enumerate(names)]

    with pytest.warns(UserWarning, match=r"older Keras layout.*freshly initialized"):
        loaded = load_model(path)

    assert loaded.compiled and loaded.optimizer.iterations == 0
