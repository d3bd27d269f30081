"""Rescaling, Normalization, Resizing, CenterCrop, RandomFlip, RandomRotation, RandomZoom and
RandomTranslation.

Outputs and configs are compared with Keras 3's (JAX) on the cases of
fixtures/keras_preprocessing_cases.npz (random layers with a one-value factor range, so their
draw is fixed); each backward with finite differences in float64 over hypothesis shapes (the
random layers with their draws fixed); the random layers' draws for their distribution, one
draw per image and repeatability; and Keras' model file of all of them for equal predictions.
"""
import json
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinykeras
from tinykeras import backend, layers
from tinykeras.kernels.augment import (
    tap_transform,
    tap_transform_backward,
    tap_transform_backward_reference,
    tap_transform_reference,
)
from tinykeras.utils import check_gradients

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures")
CASES = np.load(os.path.join(FIXTURES, "keras_preprocessing_cases.npz"))
CASE_NAMES = sorted({key.split("/")[0] for key in CASES.files if "/" in key})
RANDOM = ("RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation")
data_formats = st.sampled_from(["channels_last", "channels_first"])
fill_modes = st.sampled_from(["reflect", "wrap", "constant", "nearest"])
interpolations = st.sampled_from(["bilinear", "nearest"])


def case_layer(name):
    spec = json.loads(str(CASES[f"{name}/layer"]))
    layer = getattr(layers, spec["class_name"])(**spec["config"])
    if f"{name}/adapt" in CASES.files:
        data = CASES[f"{name}/adapt"]
        layer.adapt([data[:3], data[3:6], data[6:]] if "batches" in name else data)
    return spec["class_name"], layer


@pytest.mark.parametrize("name", CASE_NAMES)
def test_outputs_and_configs_equal_keras(name):
    class_name, layer = case_layer(name)
    x = CASES[f"{name}/x"]
    training = class_name in RANDOM and "inference" not in name
    y = layer(x, training=training)
    expected = CASES[f"{name}/y"]
    assert y.shape == expected.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(expected).max()))
    keras_config = json.loads(str(CASES[f"{name}/config"]))
    ours = json.loads(json.dumps(tinykeras.saving.jsonable(layer.get_config())))
    shared = set(keras_config) - {"name", "dtype"}
    assert shared == set(ours) - {"name", "dtype"}
    assert {k: ours[k] for k in shared} == {k: keras_config[k] for k in shared}
    if f"{name}/weights" in CASES.files:
        for ours_w, keras_w in zip(layer.get_weights(), json.loads(str(CASES[f"{name}/weights"]))):
            np.testing.assert_allclose(ours_w, keras_w, rtol=1e-5, atol=1e-6)


def test_keras_model_file_loads_with_equal_predictions_and_summary(capsys):
    data = np.load(os.path.join(FIXTURES, "keras_preprocessing.npz"))
    model = tinykeras.models.load_model(os.path.join(FIXTURES, "keras_preprocessing.keras"))
    np.testing.assert_allclose(model.predict(data["x"], verbose=0), data["y"], atol=1e-6)
    import sys

    sys.path.insert(0, FIXTURES)
    import make_keras_preprocessing_fixture as fixture

    rebuilt = fixture.model(tinykeras)
    rebuilt.build((None,) + fixture.MODEL_INPUT)
    rebuilt.load_weights(os.path.join(FIXTURES, "keras_preprocessing.weights.h5"))
    np.testing.assert_allclose(rebuilt.predict(data["x"], verbose=0), data["y"], atol=1e-6)
    assert rebuilt.layers[1].count.value.dtype == np.int32 and rebuilt.layers[1].count.shape == ()
    model.summary()
    out = capsys.readouterr().out
    for row in ("(Rescaling)", "(Normalization)", "(Resizing)", "(CenterCrop)", "(RandomFlip)", "(RandomZoom)"):
        assert row in out
    assert "Non-trainable params: 7" in out


def test_keras_functional_model_file_loads_with_equal_predictions():
    # Keras records training=True in these layers' calls; the model's own mode still rules.
    data = np.load(os.path.join(FIXTURES, "keras_preprocessing_functional.npz"))
    model = tinykeras.models.load_model(os.path.join(FIXTURES, "keras_preprocessing_functional.keras"))
    np.testing.assert_allclose(model.predict(data["x"], verbose=0), data["y"], atol=1e-6)
    calls = {entry["class_name"]: entry["inbound_nodes"][0]["kwargs"] for entry in model.get_config()["layers"]
             if entry["inbound_nodes"]}
    assert calls["RandomRotation"] == {"training": True} and calls["Rescaling"] == {}


def test_model_files_round_trip_in_tinykeras(tmp_path, rng):
    inputs = tinykeras.Input((9, 8, 2))
    x = layers.Rescaling(0.5, offset=1.0)(inputs)
    x = layers.RandomFlip("vertical", seed=1)(x)
    x = layers.RandomZoom((-0.2, 0.1), width_factor=0.3, fill_mode="constant", seed=2)(x)
    x = layers.Resizing(6, 6, interpolation="nearest", crop_to_aspect_ratio=True)(x)
    x = layers.CenterCrop(4, 5)(x)
    outputs = layers.Dense(2)(layers.Flatten()(x))
    model = tinykeras.Model(inputs, outputs)
    data = rng.standard_normal((3, 9, 8, 2)).astype(np.float32)
    model.save(tmp_path / "m.keras")
    loaded = tinykeras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), model.predict(data, verbose=0))
    again = tinykeras.Model.from_config(model.get_config())
    assert [type(layer).__name__ for layer in again.layers] == [type(layer).__name__ for layer in model.layers]
    zoom = again.layers[3]
    assert (zoom.height_factor, zoom.width_factor, zoom.fill_mode, zoom.seed) == ((-0.2, 0.1), 0.3, "constant", 2)


# ---- gradients -------------------------------------------------------------------------------


def fixed_draws(layer, seed=0):
    """Makes every forward of a random layer draw the same transforms (one function for the
    finite differences)."""
    forward = layer.forward

    def forward_with_fixed_draws(x, training=False):
        layer._rng = np.random.default_rng(seed)
        return forward(x, training)

    layer.forward = forward_with_fixed_draws
    return layer


def as_format(shape, data_format):
    n, h, w, c = shape
    return shape if data_format == "channels_last" else (n, c, h, w)


image_shapes = st.tuples(st.integers(1, 2), st.integers(1, 6), st.integers(1, 6), st.integers(1, 2))


@settings(max_examples=25, deadline=None)
@given(shape=image_shapes, size=st.tuples(st.integers(1, 7), st.integers(1, 7)), data_format=data_formats,
       interpolation=interpolations, aspect=st.sampled_from(["none", "crop", "pad"]), antialias=st.booleans(),
       seed=st.integers(0, 2**16))
def test_resizing_gradient(shape, size, data_format, interpolation, aspect, antialias, seed):
    layer = layers.Resizing(*size, interpolation=interpolation, crop_to_aspect_ratio=aspect == "crop",
                            pad_to_aspect_ratio=aspect == "pad", fill_value=0.5, antialias=antialias,
                            data_format=data_format)
    x = np.random.default_rng(seed).standard_normal(as_format(shape, data_format))
    check_gradients(layer, x)


@settings(max_examples=20, deadline=None)
@given(shape=image_shapes, size=st.tuples(st.integers(1, 7), st.integers(1, 7)), data_format=data_formats,
       seed=st.integers(0, 2**16))
def test_center_crop_gradient(shape, size, data_format, seed):
    x = np.random.default_rng(seed).standard_normal(as_format(shape, data_format))
    check_gradients(layers.CenterCrop(*size, data_format=data_format), x)


@settings(max_examples=30, deadline=None)
@given(shape=image_shapes, data_format=data_formats, fill_mode=fill_modes, interpolation=interpolations,
       kind=st.sampled_from(["rotation", "zoom", "translation", "flip"]), seed=st.integers(0, 2**16))
def test_random_layers_gradients_with_fixed_draws(shape, data_format, fill_mode, interpolation, kind, seed):
    options = dict(fill_mode=fill_mode, interpolation=interpolation, fill_value=0.7, data_format=data_format)
    layer = {
        "rotation": lambda: layers.RandomRotation(0.5, **options),
        "zoom": lambda: layers.RandomZoom(0.5, (-0.6, 0.9), **options),
        "translation": lambda: layers.RandomTranslation(0.4, (-1, 1), **options),
        "flip": lambda: layers.RandomFlip(data_format=data_format),
    }[kind]()
    x = np.random.default_rng(seed).standard_normal(as_format(shape, data_format))
    check_gradients(fixed_draws(layer, seed), x, training=True)


@settings(max_examples=20, deadline=None)
@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 3)), invert=st.booleans(),
       given_statistics=st.booleans(), seed=st.integers(0, 2**16))
def test_rescaling_and_normalization_gradients(shape, invert, given_statistics, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    check_gradients(layers.Rescaling(rng.uniform(-2, 2), offset=0.5), x)
    statistics = dict(mean=rng.standard_normal(shape[-1]).tolist(), variance=rng.uniform(0.5, 2, shape[-1]).tolist())
    layer = layers.Normalization(invert=invert, **(statistics if given_statistics else {}))
    if not given_statistics:
        backend.set_floatx("float64")
        try:
            layer.adapt(rng.standard_normal((5,) + shape[1:]) * 2 + 1)
        finally:
            backend.set_floatx("float32")
    check_gradients(layer, x)


def test_tap_transform_matches_its_reference_and_its_backward_is_the_transpose(rng):
    x = rng.standard_normal((3, 5, 6, 2))
    angles = rng.uniform(-3, 3, 3)
    matrices = np.stack([[[np.cos(a), np.sin(a), 0.5], [-np.sin(a), np.cos(a), -1.0]] for a in angles])
    dy = rng.standard_normal(x.shape)
    for fill_mode in ("reflect", "wrap", "constant", "nearest"):
        for interpolation in ("bilinear", "nearest"):
            y = tap_transform(x, matrices, fill_mode, 0.3, interpolation)
            reference = tap_transform_reference(x, matrices, fill_mode, 0.3, interpolation)
            np.testing.assert_allclose(y, reference, atol=1e-12)
            dx = tap_transform_backward(dy, matrices, fill_mode, interpolation)
            np.testing.assert_allclose(dx, tap_transform_backward_reference(dy, matrices, fill_mode, interpolation),
                                       atol=1e-12)
            linear_part = tap_transform(x, matrices, fill_mode, 0.0, interpolation)
            assert abs((linear_part * dy).sum() - (x * dx).sum()) < 1e-10


# ---- random draws ----------------------------------------------------------------------------


def drawn_matrices(layer, batch=4000, size=(3, 4)):
    layer(np.zeros((batch, *size, 1), np.float32), training=True)
    return layer._cache


def test_rotation_zoom_and_translation_draw_uniformly_in_keras_ranges():
    matrices = drawn_matrices(layers.RandomRotation((-0.1, 0.2), seed=1))
    turns = np.arctan2(matrices[:, 0, 1], matrices[:, 0, 0]) / (2 * np.pi)  # row map: [cos, sin, .]
    assert -0.1 <= turns.min() < -0.099 and 0.199 < turns.max() <= 0.2
    assert abs(turns.mean() - 0.05) < 0.005 and abs(turns.std() - 0.3 / np.sqrt(12)) < 0.004
    zoom = drawn_matrices(layers.RandomZoom(0.5, seed=2))
    np.testing.assert_array_equal(zoom[:, 0, 0], zoom[:, 1, 1])  # width_factor=None: the rows' draw
    assert 0.5 <= zoom[:, 0, 0].min() < 0.51 and 1.49 < zoom[:, 0, 0].max() <= 1.5
    assert abs(zoom[:, 0, 0].mean() - 1.0) < 0.02
    zoom = drawn_matrices(layers.RandomZoom((0.1, 0.2), (-0.3, -0.2), seed=2))
    assert zoom[:, 0, 0].min() >= 1.1 and zoom[:, 1, 1].max() <= 0.8
    shifts = drawn_matrices(layers.RandomTranslation((0.0, 0.5), 0.25, seed=3), size=(10, 8))
    rows, cols = -shifts[:, 0, 2], -shifts[:, 1, 2]  # pixels: factor * height, factor * width
    assert 0 <= rows.min() < 0.05 and 4.95 < rows.max() <= 5 and abs(rows.mean() - 2.5) < 0.1
    assert -2 <= cols.min() < -1.95 and 1.95 < cols.max() <= 2 and abs(cols.mean()) < 0.1


def test_flip_draws_one_coin_per_image_and_flips_both_axes_together():
    layer = layers.RandomFlip(seed=4)
    x = np.arange(2000 * 6, dtype=np.float32).reshape(2000, 2, 3, 1)
    y = layer(x)  # training by default when called directly, as Keras
    flipped = np.all(y == x[:, ::-1, ::-1], axis=(1, 2, 3))
    kept = np.all(y == x, axis=(1, 2, 3))
    assert np.all(flipped | kept) and abs(flipped.mean() - 0.5) < 0.03
    horizontal = layers.RandomFlip("horizontal", seed=4)(x)
    assert np.all(np.all(horizontal == x[:, :, ::-1], axis=(1, 2, 3)) | np.all(horizontal == x, axis=(1, 2, 3)))


def test_each_image_gets_its_own_draw_and_seeds_repeat():
    x = np.tile(np.arange(30, dtype=np.float32).reshape(1, 5, 6, 1), (6, 1, 1, 1))
    for make in (lambda: layers.RandomRotation(0.3, seed=7), lambda: layers.RandomZoom(0.4, seed=7),
                 lambda: layers.RandomTranslation(0.3, 0.3, seed=7)):
        first, second = make(), make()
        y = first(x, training=True)
        assert len({image.tobytes() for image in y}) == len(x)  # identical inputs, six different outputs
        np.testing.assert_array_equal(second(x, training=True), y)
        assert not np.array_equal(first(x, training=True), y)  # the next call draws anew
    tinykeras.utils.set_random_seed(5)
    unseeded = layers.RandomRotation(0.3)(x)
    tinykeras.utils.set_random_seed(5)
    np.testing.assert_array_equal(layers.RandomRotation(0.3)(x), unseeded)


def test_random_layers_are_identity_in_inference_and_train_in_a_sequential(rng):
    x = rng.uniform(0, 255, (16, 8, 8, 3)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 16)]
    model = tinykeras.Sequential([
        tinykeras.Input((8, 8, 3)),
        layers.Rescaling(1 / 255),
        layers.RandomFlip("horizontal", seed=1),
        layers.RandomRotation(0.1, seed=2),
        layers.RandomZoom(0.1, seed=3),
        layers.RandomTranslation(0.1, 0.1, seed=4),
        layers.Conv2D(4, 3, activation="relu"),
        layers.Flatten(),
        layers.Dense(2, activation="softmax"),
    ])
    model.compile("adam", "categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert not np.array_equal(before[0], model.get_weights()[0])
    prediction = model.predict(x, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), prediction)
    for layer in model.layers[1:5]:
        np.testing.assert_array_equal(layer(x, training=False), x)
        assert not np.array_equal(layer(x, training=True), x)


# ---- Normalization.adapt and single images ---------------------------------------------------


def test_adapt_reads_arrays_batches_generators_and_sequences_alike(rng):
    data = rng.standard_normal((10, 4, 3)).astype(np.float32) * 3 + 1
    reference = layers.Normalization(axis=(1, 2))
    reference.adapt(data)
    np.testing.assert_allclose(reference.get_weights()[0], data.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(reference.get_weights()[1], data.var(axis=0), rtol=1e-5)

    class Batches(tinykeras.utils.PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, index):
            return data[index * 3 : index * 3 + 3], None

    for source, options in (
        (data, {"batch_size": 4}),
        ([data[:3], data[3:]], {}),
        ((batch for batch in (data[:5], data[5:])), {}),
        (Batches(), {}),
        ((data[i : i + 2] for i in range(0, 100, 2) if i < 10), {"steps": 5}),
    ):
        layer = layers.Normalization(axis=(1, 2))
        layer.adapt(source, **options)
        for ours, expected in zip(layer.get_weights()[:2], reference.get_weights()[:2]):
            np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)
    partial = layers.Normalization(axis=(1, 2))
    partial.adapt(data, batch_size=2, steps=1)
    np.testing.assert_allclose(partial.get_weights()[0], data[:2].mean(axis=0), rtol=1e-5)


def test_single_images_in_both_formats(rng):
    image = rng.standard_normal((5, 6, 2)).astype(np.float32)
    first = np.ascontiguousarray(image.transpose(2, 0, 1))
    for layer, other in (
        (layers.Resizing(3, 4), layers.Resizing(3, 4, data_format="channels_first")),
        (layers.CenterCrop(3, 4), layers.CenterCrop(3, 4, data_format="channels_first")),
        (layers.RandomRotation((0.2, 0.2)), layers.RandomRotation((0.2, 0.2), data_format="channels_first")),
    ):
        y = layer(image)
        assert y.shape == (3, 4, 2) if "Random" not in type(layer).__name__ else y.shape == image.shape
        np.testing.assert_allclose(other(first), y.transpose(2, 0, 1), atol=1e-6)


def test_errors_name_the_layer_argument_and_fix():
    with pytest.raises(ValueError, match=r"Resizing: interpolation='bicubic' is not implemented by tinykeras"):
        layers.Resizing(3, 3, interpolation="bicubic")
    with pytest.raises(ValueError, match=r"not one of Keras'"):
        layers.Resizing(3, 3, interpolation="cubic")
    with pytest.raises(ValueError, match=r"only one of crop_to_aspect_ratio and pad_to_aspect_ratio"):
        layers.Resizing(3, 3, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(ValueError, match=r"RandomRotation: unknown fill_mode 'mirror'"):
        layers.RandomRotation(0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match=r"RandomZoom: height_factor must be .* in \(-1, 1\]\. Received: height_fact"):
        layers.RandomZoom(-1)
    with pytest.raises(ValueError, match=r"RandomTranslation: width_factor must be .* in \[-1, 1\]"):
        layers.RandomTranslation(0.1, (0.1, 1.5))
    with pytest.raises(ValueError, match=r"RandomFlip: mode must be one of"):
        layers.RandomFlip("diagonal")
    with pytest.raises(ValueError, match=r"both `mean` and `variance` must be set"):
        layers.Normalization(mean=1.0)
    layer = layers.Normalization()
    layer.adapt(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"built for inputs of shape \(None, 3\); adapt\(\) received a batch of shape"):
        layer.adapt(np.ones((2, 5)))
    with pytest.raises(ValueError, match=r"was given its mean and variance in the constructor"):
        layers.Normalization(mean=0.0, variance=1.0).adapt(np.ones((2, 1)))
    with pytest.raises(ValueError, match=r"expects 4-D inputs"):
        tinykeras.Sequential([tinykeras.Input((4,)), layers.Resizing(2, 2)])
    with pytest.raises(ValueError, match=r"Layer 'random_flip\w*' \(RandomFlip\) expects 4-D inputs .* Add a channel"):
        layers.RandomFlip()(tinykeras.Input((5, 6)))  # a batch of 2-D images, not one image
