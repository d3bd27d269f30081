"""Errors at the boundary (compile/fit/evaluate/predict): each message names the layer (where a
layer is involved), the expected and the received value, and the likely fix.

Cases already covered elsewhere, and not repeated here:
- unknown optimizer, loss, activation and initializer names called directly through ``get()``:
  tests/test_optimizers.py, test_losses.py, test_activations.py, test_initializers.py (the tests
  below go through ``compile`` and the layers instead, and add the metric names);
- the loss messages on their own: tests/test_losses.py (integer labels with
  categorical_crossentropy, sparse labels out of range);
- Conv2D/pooling layers built directly on too small inputs: tests/layers/test_convolutional.py,
  tests/layers/test_pooling.py; malformed batches from a generator: tests/test_batch_sources.py.
"""

import re
import warnings

import numpy as np
import pytest

from tinykeras import Sequential
from tinykeras.layers import (
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Dense,
    Flatten,
    MaxPooling2D,
)

CALLS = {
    "fit": lambda model, x, y: model.fit(x, y, epochs=1, verbose=0),
    "evaluate": lambda model, x, y: model.evaluate(x, y, verbose=0),
    "predict": lambda model, x, y: model.predict(x, verbose=0),
}
WITH_TARGETS = ["fit", "evaluate"]


def mlp(loss="categorical_crossentropy", compile=True):
    model = Sequential(
        [
            Dense(4, activation="relu", input_shape=(3,), name="hidden"),
            Dense(3, activation="softmax", name="out"),
        ],
        name="mlp",
    )
    if compile:
        model.compile("sgd", loss, metrics=["accuracy"])
    return model


def data(n=10):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    labels = np.arange(n) % 3
    return x, np.eye(3, dtype=np.float32)[labels], labels


def unchanged(model, before):
    return all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


# ---- (a) x and y of different lengths -------------------------------------------------------


@pytest.mark.parametrize("method", WITH_TARGETS)
def test_x_and_y_of_different_lengths(method):
    x, y, _ = data()
    with pytest.raises(ValueError) as error:
        CALLS[method](mlp(), x, y[:7])
    message = str(error.value)
    assert message.startswith(f"{method}: x and y must have the same number of samples")
    assert "x with 10 and y with 7" in message
    assert "shapes (10, 3) and (7, 3)" in message
    assert "slice or shuffle x and y together" in message


# ---- (b) inputs that do not match input_shape ----------------------------------------------


def conv_model():
    model = Sequential(
        [
            Conv2D(4, 3, input_shape=(28, 28, 1), name="conv"),
            Flatten(),
            Dense(3, activation="softmax"),
        ],
        name="convnet",
    )
    model.compile("sgd", "categorical_crossentropy")
    return model


@pytest.mark.parametrize("method", list(CALLS))
def test_flat_images_into_conv2d_suggest_the_reshape(method):
    x = np.zeros((5, 784), np.float32)
    y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1]]
    pattern = (
        rf"^{method}: layer 'conv' of model 'convnet' expects inputs of shape "
        r"\(None, 28, 28, 1\), received inputs of shape \(None, 784\)\. "
        r"Reshape it with x\.reshape\(-1, 28, 28, 1\)\.$"
    )
    with pytest.raises(ValueError, match=pattern):
        CALLS[method](conv_model(), x, y)


@pytest.mark.parametrize("method", list(CALLS))
def test_wrong_number_of_features_suggests_input_shape(method):
    x = np.zeros((5, 4), np.float32)
    y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1]]
    pattern = (
        rf"{method}: layer 'hidden' of model 'mlp' expects inputs of shape \(None, 3\), received "
        r"inputs of shape \(None, 4\)\. .*input_shape=\(4,\)"
    )
    with pytest.raises(ValueError, match=pattern):
        CALLS[method](mlp(), x, y)


# ---- (c) integer labels with categorical_crossentropy ---------------------------------------


@pytest.mark.parametrize("method", WITH_TARGETS)
@pytest.mark.parametrize("shape", [(10,), (10, 1)])
def test_integer_labels_with_categorical_crossentropy(method, shape):
    x, _, labels = data()
    model = mlp()
    before = model.get_weights()
    with pytest.raises(ValueError) as error:
        CALLS[method](model, x, labels.reshape(shape))
    message = str(error.value)
    assert message.startswith(
        f"{method}: the targets do not fit the output of layer 'out'"
    )
    assert "(output shape (None, 3))" in message
    assert f"received targets of shape {shape[1:]} per sample" in message
    assert "to_categorical(y)" in message
    assert "loss='sparse_categorical_crossentropy'" in message
    assert unchanged(model, before)


# ---- (d) labels out of range for sparse cross-entropy ---------------------------------------


@pytest.mark.parametrize("method", WITH_TARGETS)
@pytest.mark.parametrize("bad, low, high", [(3, 0, 3), (-1, -1, 2)])
def test_sparse_labels_out_of_range_are_refused_before_training(method, bad, low, high):
    # 40 samples in batches of 32 (fit's default): the bad label sits in the second batch, so
    # only a check of all the targets up front refuses it before the first update.
    x, _, labels = data(40)
    labels[-1] = bad
    model = mlp("sparse_categorical_crossentropy")
    before = model.get_weights()
    pattern = re.escape(
        f"{method}: the targets do not fit the output of layer 'out' (output shape (None, 3)). "
        f"sparse_categorical_crossentropy: labels must be in [0, 2] for an output of 3 classes; "
        f"received labels from {low} to {high}. Give the last layer as many units as classes."
    )
    with pytest.raises(ValueError, match=pattern):
        CALLS[method](model, x, labels)
    assert unchanged(model, before)


# ---- (e) unknown names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, kind, given, nearest, valid",
    [
        (
            lambda: mlp(compile=False).compile("adma", "mse"),
            "optimizer",
            "adma",
            "adam",
            ["rmsprop", "sgd"],
        ),
        (
            lambda: mlp(compile=False).compile("sgd", "categorical_crosentropy"),
            "loss",
            "categorical_crosentropy",
            "categorical_crossentropy",
            [
                "binary_crossentropy",
                "mean_squared_error",
                "sparse_categorical_crossentropy",
            ],
        ),
        (
            lambda: Dense(3, activation="rellu"),
            "activation",
            "rellu",
            "relu",
            ["sigmoid", "softmax", "tanh"],
        ),
        (
            lambda: Conv2D(2, 3, kernel_initializer="he_uniforn"),
            "initializer",
            "he_uniforn",
            "he_uniform",
            ["glorot_uniform", "zeros"],
        ),
        (
            lambda: mlp(compile=False).compile("sgd", "mse", metrics=["acuracy"]),
            "metric",
            "acuracy",
            "accuracy",
            [
                "acc",
                "binary_accuracy",
                "categorical_accuracy",
                "sparse_categorical_accuracy",
            ],
        ),
    ],
    ids=["optimizer", "loss", "activation", "initializer", "metric"],
)
def test_unknown_names_list_the_valid_ones_and_suggest_the_nearest(
    make, kind, given, nearest, valid
):
    pattern = rf"^Unknown {kind}: '{given}'\. Did you mean '{nearest}'\? Valid {kind} names: .*"
    with pytest.raises(ValueError, match=pattern) as error:
        make()
    listed = str(error.value).split("names: ")[1].rstrip(".").split(", ")
    assert nearest in listed
    assert set(valid) <= set(listed)


# ---- (f) fit before compile -----------------------------------------------------------------
# tests/test_models.py::test_fit_before_compile_says_how_to_compile checks fit's message start;
# this adds the other training/testing entry points and the example call that fixes it.


@pytest.mark.parametrize(
    "method, call",
    [
        ("fit", lambda model, x, y: model.fit(x, y, verbose=0)),
        ("evaluate", lambda model, x, y: model.evaluate(x, y, verbose=0)),
        ("train_on_batch", lambda model, x, y: model.train_on_batch(x, y)),
        ("test_on_batch", lambda model, x, y: model.test_on_batch(x, y)),
    ],
)
def test_training_or_testing_before_compile(method, call):
    x, y, _ = data()
    pattern = re.escape(
        f"You must call compile() before {method}(). For example: model.compile(optimizer='adam', "
        "loss='categorical_crossentropy', metrics=['accuracy'])."
    )
    with pytest.raises(RuntimeError, match=pattern):
        call(mlp(compile=False), x, y)


# ---- (g) Conv2D or pooling on an input too small --------------------------------------------


@pytest.mark.parametrize(
    "layer, kind, window, strides, size, output",
    [
        (Conv2D(4, 5, name="small_conv"), "Conv2D", (5, 5), (1, 1), (3, 3), (-1, -1)),
        (
            MaxPooling2D(4, name="small_pool"),
            "MaxPooling2D",
            (4, 4),
            (4, 4),
            (3, 3),
            (0, 0),
        ),
        (
            AveragePooling2D((2, 5), name="small_avg"),
            "AveragePooling2D",
            (2, 5),
            (2, 5),
            (3, 3),
            (1, 0),
        ),
    ],
    ids=["conv", "max_pool", "average_pool"],
)
def test_window_larger_than_its_input_names_the_layer_and_the_sizes(
    layer, kind, window, strides, size, output
):
    pattern = re.escape(
        f"Layer '{layer.name}' ({kind}) with a {window} window (strides {strides}, padding "
        f"'valid') cannot be applied to an input of spatial size {size}: the output would be "
        f"{output}. Use padding='same', a smaller window, or fewer downsampling layers before it."
    )
    with pytest.raises(ValueError, match=pattern):
        Sequential([Conv2D(2, 3, input_shape=(5, 5, 1), name="first"), layer])


# ---- (h) empty arrays -----------------------------------------------------------------------


@pytest.mark.parametrize("method", list(CALLS))
def test_empty_inputs(method):
    pattern = (
        rf"^{method}: expected at least one input sample; received empty inputs of shape "
        r"\(0, 3\)\. Check that the data loaded"
    )
    with pytest.raises(ValueError, match=pattern):
        CALLS[method](mlp(), np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32))


@pytest.mark.parametrize("method", WITH_TARGETS)
def test_empty_targets(method):
    x, _, _ = data()
    with pytest.raises(
        ValueError, match=rf"^{method}: .*x with 10 and y with 0 .*together\.$"
    ):
        CALLS[method](mlp(), x, np.zeros((0, 3), np.float32))


@pytest.mark.parametrize("method", list(CALLS))
def test_a_scalar_has_no_batch_axis(method):
    with pytest.raises(
        ValueError,
        match=rf"^{method}: expected inputs with a batch axis first; received a scalar",
    ):
        CALLS[method](mlp(), 1.5, 1.0)


# ---- (i) non-numeric or object arrays -------------------------------------------------------


@pytest.mark.parametrize("method", list(CALLS))
@pytest.mark.parametrize(
    "x, dtype",
    [
        (np.array([["a", "b", "c"]] * 10), "<U1"),
        (np.array([[1.0, 2.0, None]] * 10, dtype=object), "object"),
    ],
    ids=["strings", "object"],
)
def test_non_numeric_inputs(method, x, dtype):
    _, y, _ = data()
    pattern = (
        rf"^{method}: inputs must be numeric; received an array of dtype {re.escape(dtype)}\. "
        r"Convert them with np\.asarray\(x, dtype='float32'\)"
    )
    with pytest.raises(TypeError, match=pattern):
        CALLS[method](mlp(), x, y)


@pytest.mark.parametrize("method", WITH_TARGETS)
def test_non_numeric_targets(method):
    x, _, labels = data()
    names = np.array(["cat", "dog", "bird"])[labels]
    pattern = (
        rf"^{method}: targets must be numeric; received an array of dtype <U4\. .*"
        r"np\.unique\(y, return_inverse=True\)"
    )
    with pytest.raises(TypeError, match=pattern):
        CALLS[method](mlp("sparse_categorical_crossentropy"), x, names)


@pytest.mark.parametrize("method", list(CALLS))
def test_rows_of_different_lengths(method):
    _, y, _ = data(2)
    pattern = rf"^{method}: the inputs must form a rectangular array, one row per sample; .*Pad or truncate"
    with pytest.raises(ValueError, match=pattern):
        CALLS[method](mlp(), [[1.0, 2.0, 3.0], [1.0, 2.0]], y)


# ---- (j) NaN or inf -------------------------------------------------------------------------


TRAINING_AND_EVALUATION = {
    "fit": CALLS["fit"],
    "evaluate": CALLS["evaluate"],
    "train_on_batch": lambda model, x, y: model.train_on_batch(x, y),
    "test_on_batch": lambda model, x, y: model.test_on_batch(x, y),
}


@pytest.mark.parametrize("method", list(TRAINING_AND_EVALUATION))
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_are_refused_before_training(method, bad):
    x, y, _ = data()
    x[2, 1] = x[7, 0] = bad
    model = mlp()
    before = model.get_weights()
    pattern = re.escape(
        f"{method}: the inputs contain 2 NaN or infinite value(s), first at index (2, 1), (7, 0). "
        f"Remove or impute them (e.g. with np.nan_to_num) before calling {method}."
    )
    with pytest.raises(ValueError, match=pattern):
        TRAINING_AND_EVALUATION[method](model, x, y)
    assert unchanged(model, before)


PREDICTIONS = {
    "predict": lambda model, x: model.predict(x, batch_size=8, verbose=0),
    "predict_on_batch": lambda model, x: model.predict_on_batch(x),
    "__call__": lambda model, x: model(x),
}


def trained_conv_pool_norm_model(input_shape=(8, 8, 2), filters=4):
    """Conv2D -> MaxPooling2D -> BatchNormalization -> Dense, its moving statistics moved away
    from 0 and 1 by two epochs of training."""
    model = Sequential(
        [
            Conv2D(filters, 3, activation="relu", input_shape=input_shape, name="conv"),
            MaxPooling2D(2, name="pool"),
            BatchNormalization(name="norm"),
            Flatten(),
            Dense(3, activation="softmax", name="out"),
        ],
        name="convnet",
    )
    model.compile("adam", "categorical_crossentropy")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((24,) + input_shape).astype(np.float32)
    model.fit(x, np.eye(3)[np.arange(24) % 3], epochs=2, batch_size=8, verbose=0)
    return model


def predict_rows_like_keras(predict, model, x, bad_rows):
    """Predicts x, whose ``bad_rows`` hold NaN or inf, and the same array with those rows made
    finite; checks that no warning escapes, that each bad row comes out non-finite and that every
    other row is bit-for-bit the same in both."""
    clean = x.copy()
    clean[bad_rows] = 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with_bad = predict(model, x)
        without = predict(model, clean)
    good_rows = [i for i in range(len(x)) if i not in bad_rows]
    assert np.isfinite(without).all()
    assert not np.isfinite(with_bad[bad_rows]).any()
    np.testing.assert_array_equal(with_bad[good_rows], without[good_rows], strict=True)


@pytest.mark.parametrize("method", list(PREDICTIONS))
def test_prediction_of_inputs_with_nan_or_inf_leaves_the_other_rows_unchanged(method):
    x, _, _ = data(20)
    bad_rows = [2, 9, 10, 17]  # in three of predict's batches of 8
    x[2, 1], x[9, 0], x[10] = np.nan, np.inf, -np.inf
    x[17, :2] = np.nan, np.inf
    predict_rows_like_keras(PREDICTIONS[method], mlp(), x, bad_rows)


@pytest.mark.parametrize("method", list(PREDICTIONS))
def test_nan_in_a_pooling_window_and_batch_normalization_stays_in_its_row(method):
    model = trained_conv_pool_norm_model()
    moving_mean, moving_variance = model.get_layer("norm").get_weights()[2:]
    assert np.abs(moving_mean).max() > 1e-3 and np.abs(moving_variance - 1).max() > 1e-3
    x = np.random.default_rng(2).standard_normal((20, 8, 8, 2)).astype(np.float32)
    bad_rows = [0, 5, 6, 19]
    x[0, 3, 3, 0] = np.nan  # one pixel: the pooling windows over its convolution outputs
    x[5, 0, 7, 1] = np.inf
    x[6] = np.nan
    x[19, 7, 0, 0] = -np.inf
    predict_rows_like_keras(PREDICTIONS[method], model, x, bad_rows)


def test_nan_stays_in_its_row_when_the_kernels_split_the_batch_between_threads():
    # 160 images of 32x32 in one batch: the convolution (from 5,000,000 flops) and the pooling
    # (from 1,000,000 inputs) each cut the batch in one part per thread, images 0-79 and 80-159
    # on 2 cores.
    model = trained_conv_pool_norm_model(input_shape=(32, 32, 3), filters=8)
    x = np.random.default_rng(3).standard_normal((160, 32, 32, 3)).astype(np.float32)
    bad_rows = [0, 79, 80, 159]  # at both ends of each half of the batch
    x[0, 0, 0, 0] = x[79, 31, 31, 2] = x[80, 15, 16, 1] = np.nan
    x[159, 4, 4, 0] = np.inf
    predict_rows_like_keras(lambda model, x: model.predict(x, batch_size=160, verbose=0), model, x, bad_rows)


@pytest.mark.parametrize("method", WITH_TARGETS)
def test_non_finite_targets_are_refused_before_training(method):
    x, y, _ = data()
    y[4, 2] = np.nan
    model = mlp()
    before = model.get_weights()
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"{method}: the targets contain 1 NaN or infinite value(s), first at index (4, 2)."
        ),
    ):
        CALLS[method](model, x, y)
    assert unchanged(model, before)


@pytest.mark.parametrize("kind", ["generator", "sequence"])
def test_non_finite_inputs_in_a_later_batch_stop_training_at_that_batch(kind):
    # A generator's batches cannot be checked before training starts: the third batch is refused
    # as it arrives, the weights keep exactly the updates of the first two and stay finite.
    x, y, _ = data(40)
    x[21, 0] = np.nan  # batch 3 of 8 samples each
    batches = [(x[i : i + 8], y[i : i + 8]) for i in range(0, 40, 8)]
    model, twin = mlp(), mlp()
    twin.set_weights(model.get_weights())
    source = iter(batches) if kind == "generator" else Batches(batches)
    with pytest.raises(ValueError) as error:
        model.fit(source, epochs=1, shuffle=False, verbose=0)
    origin = "the generator" if kind == "generator" else "the Batches sequence"
    assert str(error.value).startswith(
        f"Batch 3 of the epoch from {origin} was refused. fit: the inputs contain 1 NaN or "
        "infinite value(s), first at index (5, 0)."
    )
    for batch_x, batch_y in batches[:2]:
        twin.train_on_batch(batch_x, batch_y)
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), twin.get_weights()))


class Batches:
    """A minimal sequence of ready-made batches."""

    def __init__(self, batches):
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        return self.batches[index]


# ---- (k) labels that do not fit the loss ----------------------------------------------------


@pytest.mark.parametrize("method", WITH_TARGETS)
def test_fractional_labels_with_sparse_crossentropy_are_refused(method):
    # Truncating 1.5 to 1 would train on labels the user never gave.
    x, _, labels = data(40)
    labels = labels.astype(np.float32)
    labels[33] = 1.5
    model = mlp("sparse_categorical_crossentropy")
    before = model.get_weights()
    pattern = re.escape(
        f"{method}: the targets do not fit the output of layer 'out' (output shape (None, 3)). "
        "sparse_categorical_crossentropy expects integer class labels; received 1 fractional "
        "label(s), the first 1.5 at index 33."
    )
    with pytest.raises(ValueError, match=pattern) as error:
        CALLS[method](model, x, labels)
    assert "loss='categorical_crossentropy'" in str(error.value)
    assert unchanged(model, before)


def test_whole_number_float_labels_train_like_integer_labels():
    x, _, labels = data(40)
    with_ints, with_floats = mlp("sparse_categorical_crossentropy"), mlp("sparse_categorical_crossentropy")
    with_floats.set_weights(with_ints.get_weights())
    with_ints.fit(x, labels, epochs=2, shuffle=False, verbose=0)
    with_floats.fit(x, labels.astype(np.float64), epochs=2, shuffle=False, verbose=0)
    for a, b in zip(with_ints.get_weights(), with_floats.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("method", WITH_TARGETS)
def test_mean_squared_error_targets_of_another_shape_are_refused_before_training(method):
    x, y, _ = data(40)
    model = mlp("mse")
    before = model.get_weights()
    pattern = re.escape(
        f"{method}: the targets do not fit the output of layer 'out' (output shape (None, 3)). "
        "mean_squared_error expects targets of the output's shape (3,) per sample; received "
        "targets of shape (2,) per sample. Reshape the targets to (samples, 3), or give the last "
        "layer as many units as each target has values."
    )
    with pytest.raises(ValueError, match=pattern):
        CALLS[method](model, x, y[:, :2])
    assert unchanged(model, before)


def test_mean_squared_error_takes_flat_targets_for_one_output():
    # (samples,) against an output of (samples, 1) is expanded, as Keras does, not broadcast to
    # (samples, samples).
    x, _, labels = data(40)
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile("sgd", "mse")
    flat = model.evaluate(x, labels.astype(np.float32), verbose=0)
    column = model.evaluate(x, labels.astype(np.float32)[:, None], verbose=0)
    assert flat == column
