"""Keras 1 and Keras 2 spellings: each works, warns once naming the current spelling, and gives
the same result as the current spelling."""
import warnings

import numpy as np
import pytest

from tinykeras import backend, layers
from tinykeras.models import Sequential
from tinykeras.utils import np_utils


def deprecations(record):
    return [w for w in record if issubclass(w.category, DeprecationWarning)]


def call_warning_once(function, *args, **kwargs):
    """Calls function; returns (result, the text of its single DeprecationWarning)."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        result = function(*args, **kwargs)
    found = deprecations(record)
    assert len(found) == 1, [str(w.message) for w in found]
    assert found[0].filename == __file__  # points at the line that used the old spelling
    return result, str(found[0].message)


def call_silently(function, *args, **kwargs):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        result = function(*args, **kwargs)
    assert not deprecations(record), [str(w.message) for w in record]
    return result


def outputs(layer, input_shape, seed=3):
    """The layer's weights and output on a fixed input, built under a fixed seed."""
    backend.set_random_seed(seed)
    model = Sequential([layer])
    model.build((None,) + input_shape)
    x = np.random.default_rng(7).random((2,) + input_shape, dtype=np.float32)
    return [w.copy() for w in model.get_weights()], model.predict(x, verbose=0)


def assert_same(legacy, current, input_shape):
    legacy_weights, legacy_y = outputs(legacy, input_shape)
    current_weights, current_y = outputs(current, input_shape)
    for a, b in zip(legacy_weights, current_weights):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(legacy_y, current_y)


# ---- layers -------------------------------------------------------------------------------


def test_convolution2d_keras1_call_is_a_conv2d():
    conv, message = call_warning_once(
        layers.Convolution2D, 8, 3, 2, subsample=(2, 1), border_mode="same", init="he_normal",
        dim_ordering="th", activation="relu", input_shape=(1, 9, 9),
    )
    assert type(conv) is layers.Conv2D and conv.name == "conv2d"
    assert (conv.filters, conv.kernel_size, conv.strides) == (8, (3, 2), (2, 1))
    assert (conv.padding, conv.data_format) == ("same", "channels_first")
    assert "Conv2D(8, (3, 2), strides=(2, 1), padding='same'" in message
    assert "data_format='channels_first'" in message and "kernel_initializer='he_normal'" in message
    current = layers.Conv2D(
        8, (3, 2), strides=(2, 1), padding="same", kernel_initializer="he_normal",
        data_format="channels_first", activation="relu",
    )
    assert_same(conv, current, (1, 9, 9))


def test_convolution2d_tutorial_call_builds_the_keras1_shapes():
    backend.set_image_data_format("channels_first")
    model = Sequential()
    model.add(call_warning_once(
        layers.Convolution2D, 32, 3, 3, border_mode="valid", input_shape=(1, 28, 28)
    )[0])
    model.add(call_warning_once(layers.Convolution2D, 32, 3, 3)[0])
    assert model.layers[0].output_shape == (None, 32, 26, 26)
    assert model.layers[1].output_shape == (None, 32, 24, 24)
    assert [layer.name for layer in model.layers] == ["conv2d", "conv2d_1"]


@pytest.mark.parametrize(
    ("dim_ordering", "data_format"),
    [("th", "channels_first"), ("tf", "channels_last"), ("default", "channels_first")],
)
def test_dim_ordering_maps_to_data_format(dim_ordering, data_format):
    backend.set_image_data_format("channels_first")  # what 'default' follows
    conv, _ = call_warning_once(layers.Convolution2D, 4, 3, 3, dim_ordering=dim_ordering)
    assert conv.data_format == data_format


def test_convolution2d_with_current_arguments_is_a_silent_alias():
    conv = call_silently(layers.Convolution2D, 16, (3, 3), padding="same")
    assert type(conv) is layers.Conv2D and conv.kernel_size == (3, 3) and conv.padding == "same"


def test_conv2d_accepts_keras1_keywords():
    conv, message = call_warning_once(layers.Conv2D, 4, 3, border_mode="same", subsample=2)
    assert conv.padding == "same" and conv.strides == (2, 2)
    assert "Conv2D(strides=2, padding='same')" in message


def test_legacy_errors_name_the_argument_and_the_fix():
    with pytest.raises(ValueError, match=r"dim_ordering.*'th', 'tf', 'default'.*Received: dim_ordering='nchw'"):
        layers.Convolution2D(4, 3, 3, dim_ordering="nchw")
    with pytest.raises(TypeError, match=r"both `border_mode`.*and `padding`"):
        layers.Convolution2D(4, 3, 3, border_mode="same", padding="same")
    with pytest.raises(TypeError, match=r"two integers.*nb_col=\(3, 3\)"):
        layers.Convolution2D(4, 3, (3, 3))
    with pytest.raises(TypeError, match=r"both `output_dim`.*and `units`.*units=5"):
        layers.Dense(5, output_dim=10)
    with pytest.raises(TypeError, match=r"unrecognized keyword.*'nb_epoch'"):
        layers.Dense(5, nb_epoch=10)


def test_dense_output_dim():
    dense, message = call_warning_once(layers.Dense, output_dim=6, init="he_uniform", activation="tanh")
    assert dense.units == 6
    assert "Dense(6, kernel_initializer='he_uniform')" in message and "`output_dim` -> `units`" in message
    assert_same(dense, layers.Dense(6, kernel_initializer="he_uniform", activation="tanh"), (5,))


@pytest.mark.parametrize("pool", [layers.MaxPooling2D, layers.AveragePooling2D])
def test_pooling_border_mode_and_dim_ordering(pool):
    legacy, message = call_warning_once(pool, pool_size=(2, 2), border_mode="same", dim_ordering="th")
    assert (legacy.padding, legacy.data_format) == ("same", "channels_first")
    assert f"{pool.__name__}(padding='same', data_format='channels_first')" in message
    assert_same(legacy, pool(pool_size=(2, 2), padding="same", data_format="channels_first"), (3, 5, 5))


# ---- models -------------------------------------------------------------------------------


def small_model(units=3, activation="softmax"):
    model = Sequential([layers.Dense(8, activation="relu", input_shape=(4,)), layers.Dense(units, activation=activation)])
    loss = "categorical_crossentropy" if units > 1 else "binary_crossentropy"
    model.compile(optimizer="sgd", loss=loss, metrics=["acc"])
    return model


def data(units=3, n=40):
    rng = np.random.default_rng(5)
    x = rng.random((n, 4), dtype=np.float32)
    labels = rng.integers(0, max(units, 2), n)
    y = np_utils.to_categorical(labels, units) if units > 1 else labels[:, None].astype("float32")
    return x, y


def test_fit_nb_epoch_is_epochs():
    x, y = data()
    backend.set_random_seed(1)
    legacy = small_model()
    history, message = call_warning_once(legacy.fit, x, y, batch_size=8, nb_epoch=3, verbose=0)
    assert "epochs=3" in message
    backend.set_random_seed(1)
    current = small_model()
    expected = current.fit(x, y, batch_size=8, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3
    np.testing.assert_array_equal(history.history["loss"], expected.history["loss"])
    for a, b in zip(legacy.get_weights(), current.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_fit_still_rejects_unknown_keywords():
    x, y = data()
    with pytest.raises(TypeError, match=r"fit\(\) got unexpected keyword argument\(s\) \['nb_epochs'\]"):
        small_model().fit(x, y, nb_epochs=2, verbose=0)


def test_predict_classes_multiclass_is_argmax():
    x, _ = data()
    model = small_model()
    classes, message = call_warning_once(model.predict_classes, x, batch_size=32, verbose=0)
    assert "np.argmax(model.predict(x), axis=-1)" in message
    np.testing.assert_array_equal(classes, np.argmax(model.predict(x, verbose=0), axis=-1))


def test_predict_classes_single_sigmoid_unit_thresholds_at_half():
    x, _ = data(units=1)
    model = small_model(units=1, activation="sigmoid")
    classes, _ = call_warning_once(model.predict_classes, x, verbose=0)
    p = model.predict(x, verbose=0)
    assert classes.shape == (len(x), 1) and classes.dtype == np.int32
    np.testing.assert_array_equal(classes, (p > 0.5).astype("int32"))


def test_predict_proba_is_predict():
    x, _ = data()
    model = small_model()
    proba, message = call_warning_once(model.predict_proba, x, batch_size=16, verbose=0)
    assert "model.predict(x)" in message
    np.testing.assert_array_equal(proba, model.predict(x, verbose=0))


def test_history_acc_keys_and_metrics_acc():
    """Keras 1/2 tutorials read history['acc'] and history['val_acc'] after metrics=['acc']."""
    x, y = data()
    history = small_model().fit(x, y, batch_size=8, epochs=2, validation_split=0.25, verbose=0)
    assert len(history.history["acc"]) == len(history.history["val_acc"]) == 2
    assert history.history["acc"] == history.history["accuracy"]
    assert history.history["val_acc"] == history.history["val_accuracy"]


# ---- utils --------------------------------------------------------------------------------


def test_np_utils_to_categorical():
    y = np.array([0, 3, 9, 3])
    one_hot = call_silently(np_utils.to_categorical, y, 10)
    assert one_hot.shape == (4, 10) and one_hot.dtype == np.float32
    np.testing.assert_array_equal(one_hot.argmax(axis=-1), y)
    assert one_hot.sum() == 4


# ---- Keras 2's *_generator methods and float step counts --------------------------------------


class RecordingBatches:
    """A sequence of 4 fixed (x, y) batches that records which ones were read."""

    def __init__(self):
        rng = np.random.default_rng(0)
        self.x = rng.random((4, 8, 3), dtype=np.float32)
        self.y = rng.random((4, 8, 2), dtype=np.float32)
        self.read = []

    def __len__(self):
        return 4

    def __getitem__(self, index):
        self.read.append(index)
        return self.x[index], self.y[index]


def two_unit_model():
    model = Sequential([layers.Dense(2, input_shape=(3,))])
    model.compile("sgd", "mse")
    return model


def test_fit_generator_without_shuffle_trains_like_fit():
    expected, model = two_unit_model(), two_unit_model()
    model.set_weights(expected.get_weights())
    expected.fit(RecordingBatches(), epochs=2, shuffle=False, verbose=0)
    with pytest.warns(DeprecationWarning, match=r"`Model.fit_generator` is deprecated: use `Model.fit\(generator, ...\)`"):
        history = model.fit_generator(RecordingBatches(), epochs=2, verbose=0, shuffle=False)
    for a, b in zip(expected.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(history.history["loss"]) == 2


def test_fit_generator_shuffles_a_sequences_batch_order_each_epoch():
    batches = RecordingBatches()
    with pytest.warns(DeprecationWarning):
        two_unit_model().fit_generator(batches, epochs=3, verbose=0)
    epochs = [batches.read[i:i + 4] for i in range(0, 12, 4)]
    assert all(sorted(order) == [0, 1, 2, 3] for order in epochs)
    assert epochs != [[0, 1, 2, 3]] * 3


def test_evaluate_and_predict_generator_give_what_evaluate_and_predict_give():
    model = two_unit_model()
    with pytest.warns(DeprecationWarning, match="evaluate_generator"):
        loss = model.evaluate_generator(RecordingBatches())
    assert loss == model.evaluate(RecordingBatches(), verbose=0)
    with pytest.warns(DeprecationWarning, match="predict_generator"):
        outputs = model.predict_generator(RecordingBatches())
    np.testing.assert_array_equal(outputs, model.predict(RecordingBatches(), verbose=0))


def test_fit_generator_refuses_what_it_cannot_honour_and_says_what_workers_do():
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match=r"class_weight=\{0: 2.0\} is not supported"):
        two_unit_model().fit_generator(RecordingBatches(), class_weight={0: 2.0})
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match=r"validation_freq=2 is not supported"):
        two_unit_model().fit_generator(RecordingBatches(), validation_freq=2)
    with pytest.warns(DeprecationWarning), pytest.warns(UserWarning, match=r"workers=4.*no effect.*the same"):
        two_unit_model().fit_generator(RecordingBatches(), workers=4, verbose=0)


def test_a_float_step_count_runs_the_steps_rounded_up_as_keras_2_did():
    """Keras 2 tutorials write steps_per_epoch=len(x) / batch_size."""
    batches = RecordingBatches()
    with pytest.warns(DeprecationWarning, match=r"steps_per_epoch=2.5 is not an integer; it is taken as 3 steps.*steps_per_epoch=3"):
        two_unit_model().fit(batches, steps_per_epoch=10 / 4, shuffle=False, verbose=0)
    assert batches.read == [0, 1, 2]
    with pytest.raises(TypeError, match=r"steps_per_epoch must be a positive integer"):
        two_unit_model().fit(batches, steps_per_epoch=-2.5, verbose=0)
