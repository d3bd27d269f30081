"""Image files: load_img, img_to_array, array_to_img, save_img and
ImageDataGenerator.flow_from_directory against what Keras 3 reads from the same files
(tests/fixtures/keras_image_directory, keras_image_files.npz and the script that wrote them),
then batches, subsets, fit on a directory, and the errors."""
import io
import os
import pathlib
import sys
import warnings

import numpy as np
import pytest
from keras_fixtures import FIXTURES

import tinykeras as keras
from tinykeras.preprocessing.image import DirectoryIterator, ImageDataGenerator
from tinykeras.utils import array_to_img, img_to_array, load_img, save_img

sys.path.insert(0, FIXTURES)
import make_keras_image_files_fixture as fixture  # noqa: E402

KERAS = np.load(os.path.join(FIXTURES, "keras_image_files.npz"), allow_pickle=False)
DIRECTORY = fixture.DIRECTORY
#: JPEG decoders may round a pixel differently from one libjpeg version to the next.
JPEG_ATOL = 3 / 255


def close_to_keras(ours, theirs, filenames, scale=1.0):
    """Exact for lossless files; within a few levels for JPEGs."""
    for image, expected, name in zip(ours, theirs, filenames, strict=True):
        atol = JPEG_ATOL * scale if str(name).endswith(".jpg") else 1e-6 * scale
        np.testing.assert_allclose(image, expected, atol=atol, rtol=0, err_msg=str(name))


@pytest.mark.parametrize("name", sorted(fixture.CASES))
def test_flow_from_directory_reads_what_keras_reads(name, capsys):
    options = fixture.CASES[name]
    iterator = ImageDataGenerator(rescale=1 / 255).flow_from_directory(DIRECTORY, batch_size=100, shuffle=False,
                                                                        **options)
    classes = len(options.get("classes", ["birds", "cats", "dogs"]))
    assert f"Found {iterator.samples} images belonging to {classes} classes." in capsys.readouterr().out
    filenames = KERAS[f"flow/{name}/filenames"]
    assert iterator.filenames == [str(f) for f in filenames]
    np.testing.assert_array_equal(iterator.classes, KERAS[f"flow/{name}/classes"])
    batch = iterator[0]
    x, y = (batch, None) if options.get("class_mode", "categorical") is None else batch
    assert x.dtype == np.float32 and x.shape == KERAS[f"flow/{name}/x"].shape
    close_to_keras(x, KERAS[f"flow/{name}/x"], filenames)
    if y is not None:
        assert y.dtype == KERAS[f"flow/{name}/y"].dtype
        close_to_keras(y, KERAS[f"flow/{name}/y"], filenames)


def test_subsets_take_each_class_split_as_keras():
    generator = ImageDataGenerator(validation_split=0.34)
    for subset in ("training", "validation"):
        iterator = generator.flow_from_directory(DIRECTORY, target_size=(4, 4), subset=subset)
        assert iterator.filenames == [str(f) for f in KERAS[f"subset/{subset}/filenames"]]
        assert iterator.subset == subset


@pytest.mark.parametrize("case", range(len(fixture.LOADS)))
def test_load_img_and_img_to_array_equal_keras(case):
    name, options = fixture.LOADS[case]
    ours = img_to_array(load_img(os.path.join(DIRECTORY, name), **options))
    close_to_keras([ours], [KERAS[f"load/{case}"]], [name], scale=255)


def test_load_img_takes_paths_bytes_and_file_objects():
    path = os.path.join(DIRECTORY, "cats", "a.png")
    expected = img_to_array(load_img(path))
    with open(path, "rb") as file:
        data = file.read()
    for source in (path.encode(), pathlib.Path(path), io.BytesIO(data)):
        np.testing.assert_array_equal(img_to_array(load_img(source)), expected)
    with pytest.raises(TypeError, match="path must be a path"):
        load_img(3)
    with pytest.raises(ValueError, match="color_mode to be one of"):
        load_img(path, color_mode="cmyk")
    with pytest.raises(ValueError, match="interpolation to be one of"):
        load_img(path, target_size=(2, 2), interpolation="cubic")


@pytest.mark.parametrize("case", range(4))
def test_array_to_img_equals_keras(case):
    x, scale = KERAS[f"array_to_img/{case}/x"], bool(KERAS[f"array_to_img/{case}/scale"])
    np.testing.assert_array_equal(np.asarray(array_to_img(x, scale=scale)), KERAS[f"array_to_img/{case}/expected"])


def test_save_img_writes_what_load_img_reads(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (5, 4, 3)).astype(np.float32)
    save_img(tmp_path / "a.png", x, scale=False)
    np.testing.assert_array_equal(img_to_array(load_img(tmp_path / "a.png")), x)
    channels_first = x.transpose(2, 0, 1)
    save_img(str(tmp_path / "b.png"), channels_first, data_format="channels_first", scale=False)
    np.testing.assert_array_equal(img_to_array(load_img(tmp_path / "b.png"), data_format="channels_first"),
                                  channels_first)
    with pytest.warns(UserWarning, match="JPEG format does not support RGBA"):
        save_img(tmp_path / "c.jpg", np.full((3, 3, 4), 200.0), scale=False)
    assert load_img(tmp_path / "c.jpg").size == (3, 3)
    with pytest.raises(ValueError, match="images need 1, 3 or 4 channels"):
        array_to_img(np.zeros((2, 2, 2)))


def test_keras_2_names_and_attributes():
    from tinykeras.preprocessing import image

    assert image.load_img is load_img and image.img_to_array is img_to_array and keras.utils.save_img is save_img
    iterator = ImageDataGenerator().flow_from_directory(DIRECTORY, target_size=(4, 4), classes=["dogs", "cats"])
    assert isinstance(iterator, DirectoryIterator) and iterator.class_indices == {"dogs": 0, "cats": 1}
    assert iterator.num_classes == 2 and iterator.samples == len(iterator.filepaths) == 7
    assert iterator.image_shape == (4, 4, 3) and iterator.sample_weight is None
    np.testing.assert_array_equal(iterator.labels, [0, 0, 0, 1, 1, 1, 1])
    assert all(os.path.isfile(path) for path in iterator.filepaths)


def test_batches_shuffle_augment_and_channels_first():
    generator = ImageDataGenerator(rescale=1 / 255, horizontal_flip=True, data_format="channels_first")
    iterator = generator.flow_from_directory(DIRECTORY, target_size=(6, 5), batch_size=4, seed=3)
    assert len(iterator) == 3
    x, y = iterator[2]
    assert x.shape == (2, 3, 6, 5) and y.shape == (2, 3)
    seen = np.concatenate([iterator[i][1].argmax(axis=1) for i in range(3)])
    np.testing.assert_array_equal(np.sort(seen), np.sort(iterator.classes))
    first = next(iterator)[0]
    assert first.shape == (4, 3, 6, 5) and 0 <= first.min() and first.max() <= 1


def test_model_fits_on_the_training_and_validation_subsets(capsys):
    generator = ImageDataGenerator(rescale=1 / 255, validation_split=0.34, width_shift_range=0.1)
    train = generator.flow_from_directory(DIRECTORY, target_size=(8, 8), batch_size=4, subset="training", seed=0)
    validation = generator.flow_from_directory(DIRECTORY, target_size=(8, 8), batch_size=4, subset="validation")
    model = keras.Sequential([keras.layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 3)),
                              keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(train, validation_data=validation, epochs=2, verbose=0)
    assert len(history.history["val_accuracy"]) == 2
    assert model.predict(validation, verbose=0).shape == (3, 3)


@pytest.mark.parametrize("kwargs, match", [
    ({"color_mode": "cmyk"}, "Invalid color mode: 'cmyk'"),
    ({"class_mode": "other"}, "Invalid class_mode: 'other'"),
    ({"subset": "test"}, "Invalid subset name: 'test'"),
    ({"interpolation": "cubic"}, "interpolation to be one of"),
    ({"save_to_dir": "out"}, "save_to_dir='out' is not supported by tinykeras"),
])
def test_invalid_settings_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ImageDataGenerator().flow_from_directory(DIRECTORY, **kwargs)


def test_a_missing_directory_and_tiff_files_are_reported(tmp_path):
    with pytest.raises(ValueError, match="is not a directory"):
        ImageDataGenerator().flow_from_directory(tmp_path / "absent")
    (tmp_path / "a").mkdir()
    array_to_img(np.zeros((2, 2, 3))).save(tmp_path / "a" / "x.tiff")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        iterator = ImageDataGenerator().flow_from_directory(tmp_path, target_size=(2, 2))
    assert iterator.samples == 1 and any(".tiff" in str(w.message) for w in caught)


def test_without_pillow_the_error_says_how_to_install_it(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pil(name, *args, **kwargs):
        if name == "PIL" or name.startswith("PIL."):
            raise ImportError("No module named 'PIL'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pil)
    with pytest.raises(ImportError, match=r"load_img needs Pillow.*pip install tinykeras\[image\]"):
        load_img(os.path.join(DIRECTORY, "cats", "a.png"))
    with pytest.raises(ImportError, match="flow_from_directory needs Pillow"):
        ImageDataGenerator().flow_from_directory(DIRECTORY)
