"""ImageDataGenerator and its flow() iterator.

Geometry: the identity, zoom 1 and rotation 0 return the image exactly; integer shifts equal
hand-written rows for every fill mode; flips reverse columns / rows exactly, after the
transform as in Keras; a rotation by 90 degrees is np.rot90; zoom acts about the centre;
random parameters build the same maps as Keras' R @ T @ S @ Z product about the centre; the
ranges mean what Keras documents. Normalization: fit's per-channel statistics, standardize's
order, and the warnings. flow: len, batch contents against the drawn order, the last partial
batch, endless iteration, reproducibility with a seed and with set_random_seed, y None,
errors, channels_first and dtypes.
"""
import math
import os
import warnings

import numpy as np
import pytest

import tinykeras
from keras_fixtures import FIXTURES
from tinykeras import Sequential, backend
from tinykeras.kernels import affine_transform_reference
from tinykeras.layers import Dense, Flatten
from tinykeras.preprocessing import image as image_module
from tinykeras.preprocessing import transforms
from tinykeras.preprocessing.image import ImageDataGenerator, NumpyArrayIterator

FILL_MODES = ["constant", "nearest", "reflect", "wrap"]
PICTURE = np.arange(1.0, 13.0).reshape(3, 4, 1)  # rows [1 2 3 4], [5 6 7 8], [9 10 11 12]


def images(n=10, rows=6, cols=5, channels=3, seed=0):
    return np.random.default_rng(seed).standard_normal((n, rows, cols, channels)).astype(np.float32)


# ---- geometry of single images ----------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [{}, {"theta": 0, "tx": 0, "ty": 0, "shear": 0, "zx": 1, "zy": 1}, {"zx": 1.0, "zy": 1.0, "theta": 0.0}],
    ids=["empty", "all-keys", "zoom-1-rotation-0"],
)
@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_identity_parameters_return_the_image_exactly(params, fill_mode):
    x = images(1)[0]
    out = ImageDataGenerator(fill_mode=fill_mode).apply_transform(x, params)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, x)


def test_generator_without_transforms_returns_the_images_exactly():
    x = images(7)
    generator = ImageDataGenerator(rotation_range=0, zoom_range=0.0, width_shift_range=0)
    np.testing.assert_array_equal(generator.random_transform(x[0], seed=1), x[0])
    batch = generator.flow(x, batch_size=7, shuffle=False)[0]
    np.testing.assert_array_equal(batch, x)


# Output pixel (i, j) reads input pixel (i + ty, j + tx): tx=2, ty=-1 on PICTURE.
SHIFTED = {
    "constant": [[-1, -1, -1, -1], [3, 4, -1, -1], [7, 8, -1, -1]],
    "nearest": [[3, 4, 4, 4], [3, 4, 4, 4], [7, 8, 8, 8]],
    "reflect": [[3, 4, 4, 3], [3, 4, 4, 3], [7, 8, 8, 7]],
    "wrap": [[11, 12, 9, 10], [3, 4, 1, 2], [7, 8, 5, 6]],
}


@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_integer_shift_fills_as_written_out_by_hand(fill_mode):
    generator = ImageDataGenerator(fill_mode=fill_mode, cval=-1.0)
    out = generator.apply_transform(PICTURE, {"tx": 2, "ty": -1})
    np.testing.assert_array_equal(out[:, :, 0], SHIFTED[fill_mode])


def rolled_with_fill(x, ty, tx, fill_mode, cval):
    """x shifted like np.roll(x, (-ty, -tx)), with the wrapped-around pixels filled instead."""
    rows, cols = x.shape[:2]

    def source(i, n):
        if fill_mode == "wrap":
            return i % n
        if fill_mode == "reflect":
            i = i % (2 * n)
            return np.where(i < n, i, 2 * n - 1 - i)
        return np.clip(i, 0, n - 1)

    r, c = np.arange(rows) + ty, np.arange(cols) + tx
    out = x[source(r, rows)][:, source(c, cols)]
    if fill_mode == "constant":
        out[(r < 0) | (r >= rows)] = cval
        out[:, (c < 0) | (c >= cols)] = cval
    return out


@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("ty, tx", [(0, 1), (2, 0), (-3, 4), (7, -9), (-1, -2)])
def test_integer_shifts_are_rolls_with_fill(fill_mode, ty, tx):
    x = images(1, rows=5, cols=6)[0]
    out = ImageDataGenerator(fill_mode=fill_mode, cval=0.5).apply_transform(x, {"tx": tx, "ty": ty})
    np.testing.assert_array_equal(out, rolled_with_fill(x, ty, tx, fill_mode, 0.5))
    if fill_mode == "wrap":
        np.testing.assert_array_equal(out, np.roll(x, (-ty, -tx), axis=(0, 1)))


def test_flips_reverse_columns_and_rows_exactly():
    x = images(1)[0]
    generator = ImageDataGenerator()
    np.testing.assert_array_equal(generator.apply_transform(x, {"flip_horizontal": True}), x[:, ::-1])
    np.testing.assert_array_equal(generator.apply_transform(x, {"flip_vertical": True}), x[::-1])
    both = generator.apply_transform(x, {"flip_horizontal": True, "flip_vertical": True})
    np.testing.assert_array_equal(both, x[::-1, ::-1])


@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_flips_apply_after_the_transform_as_in_keras(fill_mode):
    x = images(1)[0]
    generator = ImageDataGenerator(fill_mode=fill_mode)
    shift = {"tx": 2, "ty": -1}
    np.testing.assert_array_equal(
        generator.apply_transform(x, {**shift, "flip_horizontal": True}), generator.apply_transform(x, shift)[:, ::-1]
    )
    params = {"theta": 17.0, "zx": 0.8, "zy": 1.3, "shear": 5.0, "tx": 0.5}
    np.testing.assert_allclose(
        generator.apply_transform(x, {**params, "flip_vertical": True}),
        generator.apply_transform(x, params)[::-1],
        atol=1e-5,
    )


@pytest.mark.parametrize("theta, turns", [(90, 1), (-90, -1), (180, 2), (270, 3)])
@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_rotation_by_right_angles_is_rot90_counter_clockwise(theta, turns, fill_mode):
    x = np.arange(48.0).reshape(4, 4, 3)
    out = ImageDataGenerator(fill_mode=fill_mode).apply_transform(x, {"theta": theta})
    np.testing.assert_allclose(out, np.rot90(x, turns), atol=1e-5)


def test_zoom_is_about_the_centre_and_zx_scales_columns():
    x = np.arange(25.0).reshape(5, 5, 1)
    generator = ImageDataGenerator(fill_mode="constant", cval=-1.0)
    # zx = 2 zooms out horizontally: output column j reads input column 2 * (j - 2) + 2.
    out = generator.apply_transform(x, {"zx": 2.0})[:, :, 0]
    np.testing.assert_array_equal(out[:, 1:4], x[:, 0:5:2, 0])
    np.testing.assert_array_equal(out[:, [0, 4]], -1.0)
    zoomed_in = generator.apply_transform(x, {"zx": 0.5, "zy": 0.5})
    assert zoomed_in[2, 2, 0] == x[2, 2, 0]


def keras_maps(params, rows, cols):
    """Each image's map as Keras builds it: 3x3 products R @ T @ S @ Z in (x, y), moved to the
    centre, then rows and columns swapped into (row, col) order."""
    maps = []
    for k in range(len(params["theta"])):
        theta, shear = np.deg2rad(params["theta"][k]), np.deg2rad(params["shear"][k])
        rotation = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
        shift = np.array([[1, 0, params["tx"][k]], [0, 1, params["ty"][k]], [0, 0, 1]])
        shearing = np.array([[1, -np.sin(shear), 0], [0, np.cos(shear), 0], [0, 0, 1]])
        zoom = np.diag([params["zx"][k], params["zy"][k], 1.0])
        centre = np.array([[1, 0, (cols - 1) / 2], [0, 1, (rows - 1) / 2], [0, 0, 1]])
        uncentre = np.array([[1, 0, -(cols - 1) / 2], [0, 1, -(rows - 1) / 2], [0, 0, 1]])
        m = centre @ rotation @ shift @ shearing @ zoom @ uncentre
        maps.append(m[[1, 0]][:, [1, 0, 2]][:2])
    return np.array(maps)


@pytest.mark.parametrize("rows, cols", [(8, 8), (7, 11), (12, 5)])
@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_random_transforms_compose_like_keras(rows, cols, fill_mode):
    generator = ImageDataGenerator(
        rotation_range=40, width_shift_range=0.2, height_shift_range=3, shear_range=20, zoom_range=0.3,
        fill_mode=fill_mode, cval=0.25, dtype="float64",
    )  # fmt: skip
    x = images(6, rows, cols).astype(np.float64)
    params = transforms.draw(generator, 6, rows, cols, np.random.default_rng(3))
    out = generator._transform(x, np.arange(6), params)
    expected = affine_transform_reference(x, keras_maps(params, rows, cols), fill_mode, 0.25)
    np.testing.assert_allclose(out, expected, atol=1e-9)


def test_width_shift_moves_columns_and_height_shift_moves_rows():
    columns = np.tile(np.arange(6.0)[None, :, None], (6, 1, 1))  # every row is 0 1 2 3 4 5
    x = np.stack([columns, columns.transpose(1, 0, 2)])  # then every column is 0 1 2 ... 5
    wide = ImageDataGenerator(width_shift_range=3).flow(x, batch_size=2, shuffle=False, seed=0)
    tall = ImageDataGenerator(height_shift_range=3).flow(x, batch_size=2, shuffle=False, seed=0)
    # A horizontal shift leaves an image whose columns are constant unchanged, and vice versa.
    for _ in range(20):
        np.testing.assert_array_equal(next(wide)[1], x[1])
        np.testing.assert_array_equal(next(tall)[0], x[0])


# ---- random parameters ----------------------------------------------------------------------------


def draw(count=4000, rows=20, cols=50, **kwargs):
    return transforms.draw(ImageDataGenerator(**kwargs), count, rows, cols, np.random.default_rng(0))


def test_float_shift_range_below_one_is_a_fraction_of_the_size():
    params = draw(width_shift_range=0.2, height_shift_range=0.1)
    assert np.abs(params["tx"]).max() <= 10 and np.abs(params["tx"]).max() > 9.5
    assert np.abs(params["ty"]).max() <= 2 and np.abs(params["ty"]).max() > 1.9
    assert not np.array_equal(params["tx"], np.round(params["tx"]))


def test_float_shift_range_from_one_is_pixels():
    tx = draw(width_shift_range=3.0)["tx"]
    assert 2.9 < np.abs(tx).max() <= 3 and not np.array_equal(tx, np.round(tx))


def test_int_shift_range_draws_integer_pixels_in_the_open_interval():
    assert set(draw(width_shift_range=2)["tx"]) == {-1.0, 0.0, 1.0}


def test_list_shift_range_draws_its_values_with_a_random_sign():
    assert set(draw(width_shift_range=[3, 5])["tx"]) == {-5.0, -3.0, 3.0, 5.0}
    assert set(draw(height_shift_range=[0.25, 0.5])["ty"]) == {-10.0, -5.0, 5.0, 10.0}


def test_rotation_shear_zoom_and_flips_draw_within_their_ranges():
    params = draw(rotation_range=30, shear_range=10, zoom_range=0.25, horizontal_flip=True)
    assert 29 < np.abs(params["theta"]).max() <= 30 and 9.9 < np.abs(params["shear"]).max() <= 10
    for key in ("zx", "zy"):
        assert 0.75 <= params[key].min() < 0.76 and 1.24 < params[key].max() <= 1.25
    assert not np.array_equal(params["zx"], params["zy"])
    assert 0.45 < params["flip_horizontal"].mean() < 0.55 and not params["flip_vertical"].any()
    assert draw(zoom_range=[0.5, 0.9])["zx"].max() <= 0.9


def test_get_random_transform_returns_keras_keys_and_plain_values():
    generator = ImageDataGenerator(rotation_range=10, width_shift_range=0.1, horizontal_flip=True)
    params = generator.get_random_transform((8, 9, 3), seed=4)
    assert list(params) == list(transforms.KEYS)
    assert isinstance(params["theta"], float) and isinstance(params["flip_horizontal"], bool)
    assert params == generator.get_random_transform((8, 9, 3), seed=4)
    x = images(1, 8, 9)[0]
    np.testing.assert_array_equal(generator.random_transform(x, seed=4), generator.apply_transform(x, params))


def test_apply_transform_takes_one_image_and_none_for_an_unset_shift():
    generator = ImageDataGenerator()
    x = images(1)[0]
    np.testing.assert_array_equal(generator.apply_transform(x, {"brightness": None, "channel_shift_intensity": None}), x)
    with pytest.raises(ValueError, match=r"x.shape=\(1, 6, 5, 3\)"):
        generator.apply_transform(x[None], {})
    with pytest.raises(ValueError, match="brightness_range needs images of 1, 3 or 4 channels.*5 channels"):
        generator.apply_transform(images(1, channels=5)[0], {"brightness": 1.2})


# ---- arguments ----------------------------------------------------------------------------------------


def test_zoom_range_float_becomes_an_interval():
    assert ImageDataGenerator(zoom_range=0.2).zoom_range == pytest.approx([0.8, 1.2])
    assert ImageDataGenerator(zoom_range=(0.5, 2)).zoom_range == [0.5, 2.0]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"fill_mode": "mirror"}, "Received: fill_mode='mirror'"),
        ({"dtype": "int32"}, "Received: dtype='int32'"),
        ({"rotation_range": -5}, "Received: rotation_range=-5"),
        ({"shear_range": float("nan")}, "Received: shear_range=nan"),
        ({"width_shift_range": -0.1}, "Received: width_shift_range=-0.1"),
        ({"height_shift_range": "0.1"}, "Received: height_shift_range='0.1'"),
        ({"width_shift_range": []}, r"Received: width_shift_range=\[\]"),
        ({"width_shift_range": True}, "Received: width_shift_range=True"),
        ({"zoom_range": 1.5}, "Received: zoom_range=1.5"),
        ({"zoom_range": [1.2, 0.8]}, r"Received: zoom_range=\[1.2, 0.8\]"),
        ({"zoom_range": [0.8]}, r"Received: zoom_range=\[0.8\]"),
        ({"cval": None}, "Received: cval=None"),
        ({"rescale": "1/255"}, "Received: rescale='1/255'"),
    ],
)
def test_invalid_arguments_raise_keras_style_messages(kwargs, match):
    with pytest.raises(ValueError, match="Expected .*" + match):
        ImageDataGenerator(**kwargs)
    with pytest.raises(ValueError, match="`data_format` argument must be one of .*Received: data_format='NHWC'"):
        ImageDataGenerator(data_format="NHWC")


def test_arguments_by_position_follow_keras_order():
    with pytest.warns(UserWarning, match="`zca_whitening`, which overrides setting of `featurewise_center`"):
        generator = ImageDataGenerator(False, False, False, False, True, 0.01, 10, 0.1, 0.2, [0.5, 1.5], 5, 0.1, 20.0,
                                       "reflect", 0.0, True, True, 1 / 255, None, "channels_last", 0.2, 1, "float64")
    assert generator.zca_whitening and generator.featurewise_center and generator.zca_epsilon == 0.01
    assert (generator.rotation_range, generator.width_shift_range, generator.height_shift_range) == (10, 0.1, 0.2)
    assert generator.brightness_range == [0.5, 1.5] and generator.channel_shift_range == 20.0
    assert generator.fill_mode == "reflect" and generator.validation_split == 0.2 and generator.dtype == "float64"


@pytest.mark.parametrize("kwargs, match", [
    ({"interpolation_order": 3}, r"interpolation_order=3 is not supported by tinykeras \(only 1, bilinear"),
    ({"validation_split": 1.0}, "validation_split to be strictly between 0 and 1"),
    ({"brightness_range": 1.2}, "brightness_range to be a tuple or list of two floats"),
    ({"brightness_range": [0.5]}, "brightness_range to be a tuple or list of two floats"),
    ({"channel_shift_range": "10"}, "channel_shift_range to be a finite number"),
    ({"preprocessing_function": "vgg16"}, "preprocessing_function to be a function of one image"),
])
def test_unsupported_or_invalid_options_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ImageDataGenerator(**kwargs)
    with pytest.raises(ValueError, match="save_to_dir='out' is not supported by tinykeras"):
        ImageDataGenerator().flow(images(2), save_to_dir="out")


def test_std_normalization_turns_centering_on_with_a_warning():
    with pytest.warns(UserWarning, match="overrides setting of `featurewise_center`"):
        generator = ImageDataGenerator(featurewise_std_normalization=True)
    assert generator.featurewise_center
    with pytest.warns(UserWarning, match="overrides setting of `samplewise_center`"):
        assert ImageDataGenerator(samplewise_std_normalization=True).samplewise_center


def test_repr_shows_the_changed_arguments():
    text = repr(ImageDataGenerator(width_shift_range=0.2, horizontal_flip=True))
    assert text == (
        "ImageDataGenerator(width_shift_range=0.2, horizontal_flip=True, data_format='channels_last', "
        "dtype='float32')"
    )
    assert "batches=3" in repr(ImageDataGenerator().flow(images(10), batch_size=4))


# ---- fit and standardize ----------------------------------------------------------------------------


def test_fit_computes_per_channel_statistics_after_rescale():
    x = images(20) * np.array([1.0, 3.0, 0.5], np.float32) + np.array([4.0, -2.0, 0.0], np.float32)
    generator = ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True, rescale=0.5)
    generator.fit(x)
    assert generator.mean.shape == generator.std.shape == (1, 1, 3)
    np.testing.assert_allclose(generator.mean[0, 0], (x * 0.5).mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(generator.std[0, 0], (x * 0.5).std(axis=(0, 1, 2)), rtol=1e-5)


def test_fit_channels_first_takes_statistics_over_samples_rows_and_columns():
    x = images(20).transpose(0, 3, 1, 2) + np.array([4.0, -2.0, 0.0], np.float32)[:, None, None]
    generator = ImageDataGenerator(featurewise_center=True, data_format="channels_first")
    generator.fit(x)
    assert generator.mean.shape == (3, 1, 1) and generator.std is None
    np.testing.assert_allclose(generator.mean[:, 0, 0], x.mean(axis=(0, 2, 3)), rtol=1e-5)


def test_fit_with_augment_uses_rounds_of_transformed_copies():
    x = images(5)
    plain = ImageDataGenerator(featurewise_center=True)
    plain.fit(x, augment=True, rounds=3, seed=0)
    np.testing.assert_allclose(plain.mean[0, 0], x.mean(axis=(0, 1, 2)), rtol=1e-5, atol=1e-6)
    shifted = ImageDataGenerator(featurewise_center=True, width_shift_range=0.4, fill_mode="constant", cval=10.0)
    shifted.fit(x, augment=True, rounds=3, seed=0)
    assert np.all(shifted.mean > plain.mean + 0.5)  # the cval borders count
    again = ImageDataGenerator(featurewise_center=True, width_shift_range=0.4, fill_mode="constant", cval=10.0)
    again.fit(x, augment=True, rounds=3, seed=0)
    np.testing.assert_array_equal(again.mean, shifted.mean)


def test_fit_rejects_a_single_image():
    with pytest.raises(ValueError, match=r"x.shape=\(6, 5, 3\)"):
        ImageDataGenerator(featurewise_center=True).fit(images(1)[0])


def test_standardize_applies_rescale_then_samplewise_then_featurewise():
    x = images(8) * 3 + 1
    with pytest.warns(UserWarning):
        generator = ImageDataGenerator(
            featurewise_std_normalization=True, samplewise_std_normalization=True, rescale=0.5
        )
    generator.mean = np.array([0.3, -0.2, 0.1], np.float32).reshape(1, 1, 3)
    generator.std = np.array([2.0, 0.5, 1.0], np.float32).reshape(1, 1, 3)
    expected = x.astype(np.float64) * 0.5
    expected -= expected.mean(axis=(1, 2, 3), keepdims=True)
    expected /= expected.std(axis=(1, 2, 3), keepdims=True) + 1e-6
    expected = (expected - generator.mean) / (generator.std + 1e-6)
    out = generator.standardize(x.copy())
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    # One image gets its own statistics, as in Keras' per-image standardize.
    np.testing.assert_allclose(generator.standardize(x[3].copy()), expected[3], rtol=1e-5, atol=1e-5)


def test_standardize_works_in_place_like_keras():
    x = images(2)
    assert ImageDataGenerator(rescale=2.0).standardize(x) is x


def test_featurewise_without_fit_warns_like_keras_and_leaves_the_images():
    generator = ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True)
    x = images(2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = generator.standardize(x.copy())
    assert [str(w.message).split(",")[0] for w in caught] == [
        "This ImageDataGenerator specifies `featurewise_center`",
        "This ImageDataGenerator specifies `featurewise_std_normalization`",
    ]
    assert all("hasn't been fit on any training data. Fit it first by calling `.fit(numpy_data)`" in str(w.message) for w in caught)
    np.testing.assert_array_equal(out, x)


def test_flow_batches_are_standardized():
    x = images(6) * 4 + 2
    generator = ImageDataGenerator(samplewise_center=True)
    batch = generator.flow(x, batch_size=6, shuffle=False)[0]
    np.testing.assert_allclose(batch.mean(axis=(1, 2, 3)), 0, atol=1e-5)


# ---- flow ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n, batch_size, batches", [(10, 4, 3), (8, 4, 2), (3, 32, 1), (1, 1, 1)])
def test_len_is_the_number_of_batches_per_epoch(n, batch_size, batches):
    assert len(ImageDataGenerator().flow(images(n), batch_size=batch_size)) == batches == math.ceil(n / batch_size)


def test_batches_hold_the_images_of_the_drawn_order_and_a_last_partial_batch():
    x, y = images(10), np.arange(10) * 10
    it = ImageDataGenerator().flow(x, y, batch_size=4, seed=1)
    batches = [it[i] for i in range(len(it))]
    order = it.index_array
    assert sorted(order) == list(range(10)) and not np.array_equal(order, np.arange(10))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    for i, (xb, yb) in enumerate(batches):
        np.testing.assert_array_equal(xb, x[order[4 * i : 4 * i + 4]])
        np.testing.assert_array_equal(yb, y[order[4 * i : 4 * i + 4]])
    np.testing.assert_array_equal(it[-1][1], batches[2][1])


def test_on_epoch_end_reshuffles_and_no_shuffle_keeps_the_order():
    it = ImageDataGenerator().flow(images(50), np.arange(50), batch_size=8, seed=2)
    first = np.concatenate([it[i][1] for i in range(len(it))])
    it.on_epoch_end()
    second = np.concatenate([it[i][1] for i in range(len(it))])
    assert sorted(first) == sorted(second) == list(range(50)) and not np.array_equal(first, second)
    fixed = ImageDataGenerator().flow(images(50), np.arange(50), batch_size=8, shuffle=False)
    fixed.on_epoch_end()
    np.testing.assert_array_equal(np.concatenate([fixed[i][1] for i in range(len(fixed))]), np.arange(50))


def test_next_loops_over_epochs_forever_reshuffling_each():
    it = ImageDataGenerator().flow(images(10), np.arange(10), batch_size=4, seed=3)
    labels = [next(it)[1] for _ in range(9)]
    assert [len(y) for y in labels] == [4, 4, 2] * 3
    epochs = [np.concatenate(labels[3 * e : 3 * e + 3]) for e in range(3)]
    assert all(sorted(epoch) == list(range(10)) for epoch in epochs)
    assert not np.array_equal(epochs[0], epochs[1])
    assert iter(it) is it


def test_a_seed_makes_augmented_batches_reproducible():
    generator = ImageDataGenerator(rotation_range=30, width_shift_range=0.2, zoom_range=0.2, horizontal_flip=True)
    x, y = images(20), np.arange(20)

    def run(seed):
        it = generator.flow(x, y, batch_size=8, seed=seed)
        return [it[i] for i in range(len(it))] + [next(it) for _ in range(4)]

    first, again, other = run(7), run(7), run(8)
    for (xa, ya), (xb, yb) in zip(first, again):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(first[0][0], other[0][0])


def test_set_random_seed_makes_unseeded_flows_reproducible():
    generator = ImageDataGenerator(width_shift_range=0.2, height_shift_range=0.2, zoom_range=0.2, horizontal_flip=True)
    x = images(12)

    def run():
        tinykeras.utils.set_random_seed(11)
        it = generator.flow(x, batch_size=5)
        return [next(it) for _ in range(5)] + [generator.random_transform(x[0])]

    for a, b in zip(run(), run()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(run()[0], generator.flow(x, batch_size=5)[0])


def test_flow_without_y_yields_images_only():
    it = ImageDataGenerator().flow(images(5), batch_size=2)
    assert isinstance(it[0], np.ndarray) and it[0].shape == (2, 6, 5, 3)
    assert isinstance(next(it), np.ndarray)


def test_flips_only_skip_the_kernel_and_flip_about_half(monkeypatch):
    def no_kernel(*args, **kwargs):
        raise AssertionError("the resampling kernel ran for a batch of flips")

    monkeypatch.setattr(image_module, "affine_transform", no_kernel)
    x = images(400)
    batch = ImageDataGenerator(horizontal_flip=True).flow(x, batch_size=400, shuffle=False, seed=0)[0]
    flipped = np.array([np.array_equal(b, a[:, ::-1]) for a, b in zip(x, batch)])
    kept = np.array([np.array_equal(b, a) for a, b in zip(x, batch)])
    assert np.all(flipped ^ kept) and 150 < flipped.sum() < 250


@pytest.mark.parametrize(
    "x, y, kwargs, error, match",
    [
        (np.zeros((4, 6, 5)), None, {}, ValueError, r"rank 4.*x.shape=\(4, 6, 5\).*x\[\.\.\., None\]"),
        (np.zeros((6, 5)), None, {}, ValueError, r"x.shape=\(6, 5\)"),
        (np.zeros((0, 6, 5, 3)), None, {}, ValueError, "at least one image"),
        (np.zeros((4, 6, 5, 3)), np.zeros(3), {}, ValueError, r"x.shape=\(4, 6, 5, 3\), y.shape=\(3,\)"),
        (np.zeros((4, 6, 5, 3)), np.float64(1.0), {}, ValueError, r"y.shape=\(\)"),
        (np.array([["a"]]), None, {}, TypeError, "numeric"),
        (np.zeros((4, 6, 5, 3)), None, {"batch_size": 0}, ValueError, "batch_size=0"),
    ],
    ids=["rank-3", "rank-2", "empty", "length-mismatch", "scalar-y", "strings", "batch-size"],
)
def test_flow_rejects_bad_data_naming_the_shapes(x, y, kwargs, error, match):
    with pytest.raises(error, match=match):
        ImageDataGenerator().flow(x, y, **kwargs)


def test_out_of_range_batch_index_raises():
    it = ImageDataGenerator().flow(images(10), batch_size=4)
    with pytest.raises(IndexError, match="has 3 batches"):
        it[3]
    with pytest.raises(IndexError):
        it[-4]


def test_unusual_channel_count_warns():
    with pytest.warns(UserWarning, match="5 channels"):
        ImageDataGenerator().flow(np.zeros((2, 4, 4, 5)))


# ---- data formats and dtypes ----------------------------------------------------------------------


def test_channels_first_gives_the_transposed_channels_last_batches():
    arguments = {"rotation_range": 20, "width_shift_range": 0.2, "zoom_range": 0.2, "horizontal_flip": True}
    x, y = images(9, rows=7, cols=6), np.arange(9)
    last = ImageDataGenerator(**arguments).flow(x, y, batch_size=4, seed=5)
    first = ImageDataGenerator(**arguments, data_format="channels_first").flow(x.transpose(0, 3, 1, 2), y, batch_size=4, seed=5)
    for _ in range(4):
        (xl, yl), (xf, yf) = next(last), next(first)
        assert xf.shape == (len(yl), 3, 7, 6) and xf.flags.c_contiguous
        np.testing.assert_array_equal(xf, xl.transpose(0, 3, 1, 2))
        np.testing.assert_array_equal(yf, yl)


def test_channels_first_single_image_transforms():
    x = images(1)[0]
    generator = ImageDataGenerator(data_format="channels_first")
    out = generator.apply_transform(x.transpose(2, 0, 1), {"tx": 1, "theta": 30})
    expected = ImageDataGenerator().apply_transform(x, {"tx": 1, "theta": 30})
    np.testing.assert_array_equal(out, expected.transpose(2, 0, 1))


def test_default_data_format_follows_the_backend():
    backend.set_image_data_format("channels_first")
    assert ImageDataGenerator().data_format == "channels_first"


def test_uint8_images_become_floatx_batches():
    x = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3)).astype(np.uint8)
    generator = ImageDataGenerator(rescale=1 / 255, width_shift_range=2)
    batch = generator.flow(x, batch_size=6, shuffle=False)[0]
    assert batch.dtype == np.float32 and 0 <= batch.min() and batch.max() <= 1
    plain = ImageDataGenerator(rescale=1 / 255).flow(x, batch_size=6, shuffle=False)[0]
    np.testing.assert_allclose(plain, x / 255, rtol=1e-6)


def test_dtype_follows_floatx_or_the_argument(float64):
    x = images(3)
    assert ImageDataGenerator(zoom_range=0.1).flow(x, batch_size=3)[0].dtype == np.float64
    assert ImageDataGenerator(dtype="float32").flow(x, batch_size=3)[0].dtype == np.float32


# ---- with a model -------------------------------------------------------------------------------------


def test_model_fit_trains_on_a_flow():
    x = images(32, rows=8, cols=8, channels=1)
    y = (x.mean(axis=(1, 2, 3)) > 0).astype(np.int64)
    model = Sequential([Flatten(input_shape=(8, 8, 1)), Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    it = ImageDataGenerator(horizontal_flip=True, width_shift_range=1).flow(x, y, batch_size=8, seed=0)
    history = model.fit(it, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert isinstance(it, NumpyArrayIterator)


# ---- the options beyond geometry, against Keras' own outputs (tests/fixtures) -----------------------

KERAS = np.load(os.path.join(FIXTURES, "keras_image_generator.npz"), allow_pickle=False)


def cases(kind):
    return sorted({int(key.split("/")[1]) for key in KERAS.files if key.startswith(kind + "/")})


@pytest.mark.parametrize("case", cases("brightness"))
def test_brightness_shift_equals_keras_through_pil(case):
    """Keras' brightness shift goes through 8-bit PIL images: in 0-255 the image is truncated
    to integers, a product truncated again; outside it, mapped there and back."""
    x, factor = KERAS[f"brightness/{case}/x"], float(KERAS[f"brightness/{case}/factor"])
    ours = ImageDataGenerator().apply_transform(x, {"brightness": factor})
    np.testing.assert_allclose(ours, KERAS[f"brightness/{case}/expected"], rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("case", cases("channel_shift"))
def test_channel_shift_equals_keras(case):
    x, intensity = KERAS[f"channel_shift/{case}/x"], float(KERAS[f"channel_shift/{case}/intensity"])
    ours = ImageDataGenerator().apply_transform(x, {"channel_shift_intensity": intensity})
    np.testing.assert_array_equal(ours, KERAS[f"channel_shift/{case}/expected"])


def test_flip_channel_shift_and_brightness_together_equal_keras():
    params = {"flip_horizontal": True, "channel_shift_intensity": 30.0, "brightness": 1.3}
    ours = ImageDataGenerator().apply_transform(KERAS["combined/0/x"], params)
    np.testing.assert_allclose(ours, KERAS["combined/0/expected"], rtol=1e-6, atol=1e-4)


def test_zca_whitening_fits_and_standardizes_as_keras():
    with pytest.warns(UserWarning, match="overrides setting of `featurewise_center`"):
        generator = ImageDataGenerator(zca_whitening=True, zca_epsilon=0.1)
    with pytest.warns(UserWarning, match="2 channels"):
        generator.fit(KERAS["zca/x"])
    np.testing.assert_allclose(generator.mean, KERAS["zca/mean"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(generator.zca_whitening_matrix, KERAS["zca/matrix"], rtol=1e-3, atol=1e-3)
    standardized = generator.standardize(KERAS["zca/batch"].copy())
    np.testing.assert_allclose(standardized, KERAS["zca/standardized"], rtol=1e-3, atol=1e-3)
    whitened = generator.standardize(KERAS["zca/x"].copy()).reshape(40, -1)  # the data it was fit on: whitened
    covariance = whitened.T @ whitened / 40
    assert np.abs(np.diag(covariance) - 1).max() < 0.05 and np.abs(covariance - np.diag(np.diag(covariance))).max() < 0.05
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ImageDataGenerator(zca_whitening=True, featurewise_center=True).standardize(images(1)[0])
    assert [str(w.message).split(",")[0] for w in caught] == [
        "This ImageDataGenerator specifies `featurewise_center`", "This ImageDataGenerator specifies `zca_whitening`"]


def test_preprocessing_function_runs_first_in_standardize_as_keras():
    generator = ImageDataGenerator(preprocessing_function=lambda image: image**2 / 100, rescale=0.5,
                                   samplewise_center=True)
    np.testing.assert_allclose(generator.standardize(KERAS["preprocess/x"].copy()), KERAS["preprocess/standardized"],
                               rtol=1e-6, atol=1e-6)


def test_flow_applies_preprocessing_function_to_each_image_after_augmenting():
    seen = []

    def negate(image):
        seen.append(image.shape)
        return -image

    x = images(5)
    batch = ImageDataGenerator(preprocessing_function=negate, rescale=2.0).flow(x, batch_size=5, shuffle=False)[0]
    np.testing.assert_array_equal(batch, -2 * x)
    assert seen == [x.shape[1:]] * 5
    with pytest.raises(ValueError, match=r"must return an image of the shape it receives: \(6, 5, 3\)"):
        ImageDataGenerator(preprocessing_function=lambda image: image[:2]).flow(x)[0]


def test_flow_subsets_split_as_keras_and_weights_travel_with_the_images():
    numbered = np.arange(10, dtype=np.float32)[:, None, None, None] * np.ones((1, 2, 2, 1), np.float32)
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    generator = ImageDataGenerator(validation_split=0.3)
    for subset in ("training", "validation"):
        part = generator.flow(numbered, labels, batch_size=10, shuffle=False, subset=subset)
        np.testing.assert_array_equal(part[0][0][:, 0, 0, 0], KERAS[f"subset/{subset}"])
        np.testing.assert_array_equal(part[0][1], labels[KERAS[f"subset/{subset}"]])
    weights = np.linspace(0.1, 1.0, 10)
    x, y, w = generator.flow(numbered, labels, batch_size=10, shuffle=True, sample_weight=weights, seed=1)[0]
    np.testing.assert_allclose(w, weights[x[:, 0, 0, 0].astype(int)])
    np.testing.assert_array_equal(y, labels[x[:, 0, 0, 0].astype(int)])
    with pytest.raises(ValueError, match="hold different classes after the split at sample 3"):
        generator.flow(numbered, np.sort(labels), subset="training")
    assert len(generator.flow(numbered, np.sort(labels), subset="training", ignore_class_split=True).x) == 7
    with pytest.raises(ValueError, match="Invalid subset name: 'test'"):
        generator.flow(numbered, labels, subset="test")
    with pytest.raises(ValueError, match="one weight per image"):
        generator.flow(numbered, labels, sample_weight=weights[:3])


def test_random_channel_and_brightness_shifts_draw_within_their_ranges():
    generator = ImageDataGenerator(channel_shift_range=10.0, brightness_range=[0.5, 0.8])
    params = [generator.get_random_transform((4, 4, 3), seed=s) for s in range(40)]
    shifts = [p["channel_shift_intensity"] for p in params]
    factors = [p["brightness"] for p in params]
    assert -10 <= min(shifts) < -5 and 5 < max(shifts) < 10
    assert 0.5 <= min(factors) < 0.55 and 0.75 < max(factors) < 0.8
    plain = ImageDataGenerator().get_random_transform((4, 4, 3), seed=0)
    assert plain["channel_shift_intensity"] is None and plain["brightness"] is None
    batch = generator.flow(np.full((8, 4, 4, 3), 100.0) + np.arange(3), batch_size=8, seed=0)[0]
    assert np.all(batch == np.floor(batch)) and batch.max() <= 102 * 0.8 and batch.min() >= np.floor(100 * 0.5)


def test_model_fit_trains_on_flows_of_a_validation_split():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (64, 6, 6, 1)).astype(np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 127).astype(np.int64)
    generator = ImageDataGenerator(rescale=1 / 255, validation_split=0.25, channel_shift_range=5.0,
                                   brightness_range=[0.9, 1.1], preprocessing_function=lambda image: image - 1)
    model = Sequential([Flatten(input_shape=(6, 6, 1)), Dense(2, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    history = model.fit(generator.flow(x, y, batch_size=16, subset="training", seed=0), epochs=2, verbose=0,
                        validation_data=generator.flow(x, y, batch_size=16, subset="validation", seed=0))
    assert len(history.history["val_loss"]) == 2 and np.isfinite(history.history["loss"]).all()
