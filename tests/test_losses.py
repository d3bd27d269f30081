"""Losses: gradients against finite differences, values against hand formulas, Keras' clipping,
the loss functions' one value per sample and the Loss objects' reductions, and the error
messages."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinykeras import Sequential, backend, losses
from tinykeras.layers import Dense
from tinykeras.utils import check_gradients, to_categorical

EPS = 1e-7
seeds = st.integers(0, 2**32 - 1)
batch_sizes = st.integers(1, 5)
class_counts = st.integers(2, 7)


def probabilities(rng, shape):
    """Probabilities away from the clip edges, so finite differences see no clipping."""
    return rng.uniform(0.05, 0.95, shape)


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def one_hot(labels, classes):
    out = np.zeros((len(labels), classes))
    out[np.arange(len(labels)), labels] = 1
    return out


# ---- gradients --------------------------------------------------------------------------


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("soft_targets", [False, True])
@settings(max_examples=30, deadline=None)
@given(batch=batch_sizes, classes=class_counts, seed=seeds)
def test_categorical_crossentropy_gradients(from_logits, soft_targets, batch, classes, seed):
    rng = np.random.default_rng(seed)
    if soft_targets:
        y = softmax(rng.standard_normal((batch, classes)))
    else:
        y = one_hot(rng.integers(0, classes, batch), classes)
    x = (
        rng.standard_normal((batch, classes)) * 2
        if from_logits
        else probabilities(rng, (batch, classes))
    )
    check_gradients(losses.CategoricalCrossentropy(from_logits=from_logits), x, y_true=y)


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("column_labels", [False, True])
@settings(max_examples=30, deadline=None)
@given(batch=batch_sizes, classes=class_counts, seed=seeds)
def test_sparse_categorical_crossentropy_gradients(
    from_logits, column_labels, batch, classes, seed
):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, batch)
    if column_labels:
        labels = labels[:, None]
    x = (
        rng.standard_normal((batch, classes)) * 2
        if from_logits
        else probabilities(rng, (batch, classes))
    )
    check_gradients(losses.SparseCategoricalCrossentropy(from_logits=from_logits), x, y_true=labels)


@pytest.mark.parametrize("from_logits", [False, True])
@settings(max_examples=30, deadline=None)
@given(batch=batch_sizes, outputs=st.integers(1, 6), soft=st.booleans(), seed=seeds)
def test_binary_crossentropy_gradients(from_logits, batch, outputs, soft, seed):
    rng = np.random.default_rng(seed)
    shape = (batch, outputs)
    y = rng.uniform(0, 1, shape) if soft else rng.integers(0, 2, shape).astype(float)
    x = rng.standard_normal(shape) * 2 if from_logits else probabilities(rng, shape)
    check_gradients(losses.BinaryCrossentropy(from_logits=from_logits), x, y_true=y)


@settings(max_examples=30, deadline=None)
@given(
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple),
    seed=seeds,
)
def test_mean_squared_error_gradients(shape, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal(shape), rng.standard_normal(shape)
    check_gradients(losses.MeanSquaredError(), x, y_true=y)


def test_gradient_check_catches_a_wrong_loss_gradient(rng):
    class HalfGradientMSE(losses.MeanSquaredError):
        def value_and_grad(self, y_true, y_pred):
            value, grad = super().value_and_grad(y_true, y_pred)
            return value, grad / 2

    with pytest.raises(AssertionError):
        check_gradients(HalfGradientMSE(), rng.standard_normal((3, 2)), y_true=np.zeros((3, 2)))


# ---- exact values -----------------------------------------------------------------------


def test_categorical_crossentropy_keras_docstring_example():
    # keras.ops.categorical_crossentropy docstring: per-sample [0.10536, 0.11653, 0.06188].
    y = np.eye(3)
    p = np.array([[0.9, 0.05, 0.05], [0.05, 0.89, 0.06], [0.05, 0.01, 0.94]])
    values = losses.categorical_crossentropy(y, p)
    assert values.shape == (3,)
    np.testing.assert_allclose(values, [-math.log(0.9), -math.log(0.89), -math.log(0.94)], rtol=1e-6)
    np.testing.assert_allclose(values, [0.10536, 0.11653, 0.06188], atol=1e-5)
    assert losses.CategoricalCrossentropy()(y, p) == pytest.approx(values.mean(), rel=1e-6)


@pytest.mark.usefixtures("float64")
def test_categorical_crossentropy_value_and_gradient_by_hand(rng):
    labels = np.array([2, 0, 1, 1])
    y = one_hot(labels, 3)
    p = softmax(rng.standard_normal((4, 3)))
    expected = sum(-math.log(p[n, labels[n]]) for n in range(4)) / 4
    loss = losses.CategoricalCrossentropy()
    value, grad = loss.value_and_grad(loss.prepare_targets(y, p), p)
    assert value == pytest.approx(expected, rel=1e-12)
    # p sums to one, so d/dp of -log(p_k / sum p) is (1 - y/p) / batch at the normalized point.
    np.testing.assert_allclose(grad, (1 - y / p) / 4, rtol=1e-10, atol=1e-12)


@pytest.mark.usefixtures("float64")
def test_categorical_crossentropy_normalizes_probabilities_like_keras():
    y = np.array([[0.0, 1.0]])
    p = np.array([[0.2, 0.6]])  # sums to 0.8: Keras divides by the sum first
    np.testing.assert_allclose(losses.categorical_crossentropy(y, p), [-math.log(0.75)], rtol=1e-12)
    assert losses.CategoricalCrossentropy()(y, p) == pytest.approx(-math.log(0.75), rel=1e-12)


@pytest.mark.usefixtures("float64")
def test_binary_crossentropy_averages_the_last_axis_then_the_batch():
    y = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    p = np.array([[0.8, 0.3, 0.6], [0.1, 0.5, 0.9]])
    per_sample = [
        -sum(y[n, j] * math.log(p[n, j]) + (1 - y[n, j]) * math.log(1 - p[n, j]) for j in range(3))
        / 3
        for n in range(2)
    ]
    np.testing.assert_allclose(losses.binary_crossentropy(y, p), per_sample, rtol=1e-12)
    assert losses.BinaryCrossentropy()(y, p) == pytest.approx(sum(per_sample) / 2, rel=1e-12)


@pytest.mark.usefixtures("float64")
def test_binary_crossentropy_accepts_one_label_per_sample_for_one_output():
    y = np.array([1, 0, 1])
    p = np.array([[0.7], [0.2], [0.4]])
    expected = [-math.log(0.7), -math.log(0.8), -math.log(0.4)]
    np.testing.assert_allclose(losses.binary_crossentropy(y, p), expected, rtol=1e-12)
    assert losses.BinaryCrossentropy()(y, p) == pytest.approx(sum(expected) / 3, rel=1e-12)


@pytest.mark.usefixtures("float64")
def test_binary_crossentropy_from_logits_equals_from_sigmoid(rng):
    z = rng.standard_normal((5, 3)) * 3
    y = rng.integers(0, 2, (5, 3)).astype(float)
    from_logits = losses.BinaryCrossentropy(from_logits=True)(y, z)
    from_probs = losses.BinaryCrossentropy()(y, 1 / (1 + np.exp(-z)))
    assert from_logits == pytest.approx(from_probs, rel=1e-9)


def test_binary_crossentropy_from_logits_is_stable_for_large_logits():
    z = np.array([[1000.0, -1000.0]])
    y = np.array([[0.0, 1.0]])
    assert losses.BinaryCrossentropy(from_logits=True)(y, z) == pytest.approx(1000.0, rel=1e-6)


@pytest.mark.usefixtures("float64")
def test_mean_squared_error_by_hand(rng):
    y, p = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    expected = sum((y[n, j] - p[n, j]) ** 2 for n in range(4) for j in range(3)) / 12
    loss = losses.MeanSquaredError()
    assert loss(y, p) == pytest.approx(expected, rel=1e-12)
    per_sample = [sum((y[n, j] - p[n, j]) ** 2 for j in range(3)) / 3 for n in range(4)]
    np.testing.assert_allclose(losses.mean_squared_error(y, p), per_sample, rtol=1e-12)
    _, grad = loss.value_and_grad(y, p)
    np.testing.assert_allclose(grad, 2 * (p - y) / 12, rtol=1e-12)


@pytest.mark.usefixtures("float64")
def test_mean_squared_error_accepts_flat_targets_for_one_output():
    y = np.array([1.0, 2.0, 3.0])
    p = np.array([[1.5], [2.0], [2.0]])
    assert losses.MeanSquaredError()(y, p) == pytest.approx((0.25 + 0 + 1) / 3, rel=1e-12)


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("soft", [False, True])
def test_categorical_crossentropy_from_logits_equals_from_softmax(rng, soft):
    z = rng.standard_normal((6, 5)) * 3
    y = softmax(rng.standard_normal((6, 5))) if soft else one_hot(rng.integers(0, 5, 6), 5)
    from_logits = losses.CategoricalCrossentropy(from_logits=True)(y, z)
    from_probs = losses.CategoricalCrossentropy()(y, softmax(z))
    assert abs(from_logits - from_probs) < 1e-6
    assert from_logits == pytest.approx(from_probs, rel=1e-9)


@pytest.mark.usefixtures("float64")
def test_categorical_crossentropy_logits_gradient_is_p_minus_y_over_batch(rng):
    z = rng.standard_normal((4, 3))
    y = one_hot(np.array([0, 2, 1, 2]), 3)
    _, grad = losses.CategoricalCrossentropy(from_logits=True).value_and_grad(y, z)
    np.testing.assert_allclose(grad, (softmax(z) - y) / 4, rtol=1e-12, atol=1e-15)


def test_categorical_crossentropy_from_logits_is_stable_for_large_logits():
    z = np.array([[1000.0, 0.0, -1000.0]])
    value = losses.CategoricalCrossentropy(from_logits=True)(np.array([[0.0, 1.0, 0.0]]), z)
    assert value == pytest.approx(1000.0, rel=1e-6)


# ---- loss functions: one value per sample, as in Keras 3 ---------------------------------


def _logsumexp(z):
    top = max(z)
    return top + math.log(sum(math.exp(v - top) for v in z))


def _clip(v):
    return min(max(v, EPS), 1 - EPS)


def _by_hand(name, from_logits, y, x):
    """The per-sample loss of one sample (1-D x over the last axis), written out from Keras'
    formulas on TensorFlow."""
    if name == "categorical_crossentropy":
        if from_logits:
            return -sum(t * (z - _logsumexp(x)) for t, z in zip(y, x))
        total = sum(x)
        return -sum(t * math.log(_clip(p / total)) for t, p in zip(y, x))
    if name == "sparse_categorical_crossentropy":
        if from_logits:
            return _logsumexp(x) - x[int(y)]
        clipped = [_clip(p) for p in x]
        return -math.log(clipped[int(y)] / sum(clipped))
    if name == "binary_crossentropy":
        if from_logits:
            x = [1 / (1 + math.exp(-z)) for z in x]
        return -sum(t * math.log(_clip(p)) + (1 - t) * math.log(1 - _clip(p)) for t, p in zip(y, x)) / len(x)
    return sum((t - p) ** 2 for t, p in zip(y, x)) / len(x)


def _batch(name, from_logits, rng, batch_shape, classes=4):
    """Targets and predictions for a batch of ``batch_shape`` samples, some probabilities 0 or 1
    so that clipping shows."""
    shape = batch_shape + (classes,)
    if from_logits or name == "mean_squared_error":
        x = rng.standard_normal(shape) * 3
    else:
        x = rng.uniform(0, 1, shape)
        x.flat[:: 5] = 0.0
        x.flat[1 :: 7] = 1.0
    labels = rng.integers(0, classes, batch_shape)
    if name == "sparse_categorical_crossentropy":
        y = labels
    elif name == "categorical_crossentropy":
        y = np.eye(classes)[labels]
    elif name == "binary_crossentropy":
        y = rng.integers(0, 2, shape).astype(float)
    else:
        y = rng.standard_normal(shape)
    return y, x


LOSS_CASES = [
    ("categorical_crossentropy", losses.CategoricalCrossentropy, False),
    ("categorical_crossentropy", losses.CategoricalCrossentropy, True),
    ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy, False),
    ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy, True),
    ("binary_crossentropy", losses.BinaryCrossentropy, False),
    ("binary_crossentropy", losses.BinaryCrossentropy, True),
    ("mean_squared_error", losses.MeanSquaredError, False),
]


def _call(name, y, x, from_logits, **kwargs):
    function = getattr(losses, name)
    if name == "mean_squared_error":
        return function(y, x)
    return function(y, x, from_logits=from_logits, **kwargs)


def _make(cls, from_logits, **kwargs):
    if cls is losses.MeanSquaredError:
        return cls(**kwargs)
    return cls(from_logits=from_logits, **kwargs)


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("name, cls, from_logits", LOSS_CASES)
@pytest.mark.parametrize("batch_shape", [(6,), (1,), (2, 3)])
def test_loss_functions_return_one_value_per_sample(rng, name, cls, from_logits, batch_shape):
    y, x = _batch(name, from_logits, rng, batch_shape)
    values = _call(name, y, x, from_logits)
    assert isinstance(values, np.ndarray)
    assert values.shape == batch_shape  # only the last axis is reduced
    expected = np.empty(batch_shape)
    for index in np.ndindex(*batch_shape):
        expected[index] = _by_hand(name, from_logits, y[index], x[index])
    np.testing.assert_allclose(values, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("name, cls, from_logits", LOSS_CASES)
def test_loss_objects_reduce_the_per_sample_values(rng, name, cls, from_logits):
    y, x = _batch(name, from_logits, rng, (5, 2))
    values = _call(name, y, x, from_logits)
    mean = _make(cls, from_logits)(y, x)
    assert isinstance(mean, float)
    assert mean == pytest.approx(values.mean(), rel=1e-12)  # over all 10 values, as Keras
    assert _make(cls, from_logits, reduction="sum_over_batch_size")(y, x) == mean
    assert _make(cls, from_logits, reduction="mean")(y, x) == mean
    assert _make(cls, from_logits, reduction="sum")(y, x) == pytest.approx(values.sum(), rel=1e-12)
    for none in ("none", None):
        np.testing.assert_array_equal(_make(cls, from_logits, reduction=none)(y, x), values)


@pytest.mark.parametrize("name, cls, from_logits", LOSS_CASES)
def test_loss_functions_compute_in_floatx(rng, name, cls, from_logits):
    y, x = _batch(name, from_logits, rng, (7,))
    values = _call(name, y, x, from_logits)
    assert values.shape == (7,) and values.dtype == np.float32


@pytest.mark.parametrize("name, cls, from_logits", LOSS_CASES)
def test_the_training_value_is_the_mean_of_the_per_sample_values(rng, name, cls, from_logits):
    y, x = _batch(name, from_logits, rng, (8,))
    x = x.astype(np.float32)
    loss = _make(cls, from_logits)
    value, _ = loss.value_and_grad(loss.prepare_targets(y, x), x)
    assert value == pytest.approx(float(_call(name, y, x, from_logits).mean()), rel=1e-6)


def test_keras_docstring_examples_per_sample():
    # From Keras 3's docstrings of keras.losses.categorical_crossentropy,
    # sparse_categorical_crossentropy and binary_crossentropy, and of BinaryCrossentropy.
    p = [[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]]
    np.testing.assert_allclose(losses.categorical_crossentropy([[0, 1, 0], [0, 0, 1]], p), [0.0513, 2.303], atol=1e-3)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy([1, 2], p), [0.0513, 2.303], atol=1e-3)
    np.testing.assert_allclose(
        losses.binary_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]), [0.916, 0.714], atol=1e-3
    )
    logits = [-18.6, 0.51, 2.94, -12.8]
    assert losses.BinaryCrossentropy(from_logits=True)([0, 1, 0, 0], logits) == pytest.approx(0.865, abs=1e-3)


@pytest.mark.usefixtures("float64")
def test_sample_weight_weights_each_sample_before_the_reduction(rng):
    y, x = _batch("categorical_crossentropy", False, rng, (4,))
    values = losses.categorical_crossentropy(y, x)
    weights = np.array([1.0, 0.0, 2.0, 0.5])
    loss = losses.CategoricalCrossentropy()
    # Keras divides by the number of samples, not by the sum of the weights...
    assert loss(y, x, sample_weight=weights) == pytest.approx((values * weights).sum() / 4, rel=1e-12)
    assert loss(y, x, sample_weight=weights[:, None]) == pytest.approx((values * weights).sum() / 4, rel=1e-12)
    assert loss(y, x, sample_weight=2.0) == pytest.approx(2 * values.mean(), rel=1e-12)
    # ... except with reduction='mean_with_sample_weight'.
    weighted_mean = losses.CategoricalCrossentropy(reduction="mean_with_sample_weight")
    assert weighted_mean(y, x, sample_weight=weights) == pytest.approx((values * weights).sum() / 3.5, rel=1e-12)
    np.testing.assert_allclose(losses.CategoricalCrossentropy(reduction="none")(y, x, weights), values * weights)


def test_sample_weight_of_another_shape_names_both_shapes():
    with pytest.raises(ValueError, match=r"sample_weight of shape \(3,\) .* losses of shape \(4,\)"):
        losses.MeanSquaredError()(np.zeros((4, 2)), np.ones((4, 2)), sample_weight=[1, 2, 3])


@pytest.mark.parametrize("reduction", ["avg", "auto", "SUM", 1])
def test_unknown_reductions_are_refused(reduction):
    with pytest.raises(ValueError) as error:
        losses.CategoricalCrossentropy(reduction=reduction)
    message = str(error.value)
    assert f"reduction={reduction!r}" in message
    assert "'sum_over_batch_size'" in message and "'sum'" in message and "'none'" in message


def test_loss_config_and_repr_name_the_reduction():
    loss = losses.BinaryCrossentropy(from_logits=True, reduction="sum")
    assert loss.get_config() == {"name": "binary_crossentropy", "reduction": "sum", "from_logits": True}
    assert repr(loss) == "BinaryCrossentropy(from_logits=True, reduction='sum')"


@pytest.mark.usefixtures("float64")
def test_label_smoothing_as_in_keras():
    y = np.array([[0.0, 1.0, 0.0]])
    p = np.array([[0.2, 0.5, 0.3]])
    smooth = y * 0.9 + 0.1 / 3
    expected = -(smooth * np.log(p)).sum(axis=-1)
    np.testing.assert_allclose(losses.categorical_crossentropy(y, p, label_smoothing=0.1), expected, rtol=1e-12)
    binary = y * 0.8 + 0.1
    expected = -(binary * np.log(p) + (1 - binary) * np.log(1 - p)).mean(axis=-1)
    np.testing.assert_allclose(losses.binary_crossentropy(y, p, label_smoothing=0.2), expected, rtol=1e-12)


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("from_logits", [False, True])
def test_axis_picks_the_class_axis(rng, from_logits):
    y, x = _batch("categorical_crossentropy", from_logits, rng, (2, 3))  # (2, 3, 4)
    moved = losses.categorical_crossentropy(
        np.moveaxis(y, -1, 1), np.moveaxis(x, -1, 1), from_logits=from_logits, axis=1
    )
    np.testing.assert_allclose(moved, losses.categorical_crossentropy(y, x, from_logits=from_logits), rtol=1e-12)
    y, x = _batch("binary_crossentropy", from_logits, rng, (2, 3))
    averaged_over_first = losses.binary_crossentropy(y, x, from_logits=from_logits, axis=0)
    assert averaged_over_first.shape == (3, 4)
    np.testing.assert_allclose(
        averaged_over_first,
        losses.binary_crossentropy(np.moveaxis(y, 0, -1), np.moveaxis(x, 0, -1), from_logits=from_logits),
        rtol=1e-12,
    )


@pytest.mark.parametrize("axis", [True, 1.0, 3, -4])
def test_bad_axes_are_refused(axis):
    with pytest.raises(ValueError, match="categorical_crossentropy: .*axis"):
        losses.categorical_crossentropy(np.eye(3)[None], np.full((1, 3, 3), 1 / 3), axis=axis)


def test_sparse_categorical_crossentropy_takes_only_the_last_axis_as_keras_on_tensorflow():
    with pytest.raises(ValueError, match=r"only axis=-1 .* Received: axis=1 for y_pred of shape \(2, 3, 4\)"):
        losses.sparse_categorical_crossentropy(np.zeros((2, 4)), np.full((2, 3, 4), 0.25), axis=1)
    values = losses.sparse_categorical_crossentropy(np.zeros((2, 3)), np.full((2, 3, 4), 0.25), axis=2)
    np.testing.assert_allclose(values, np.full((2, 3), math.log(4)), rtol=1e-6)


@pytest.mark.usefixtures("float64")
def test_sparse_categorical_crossentropy_ignore_class_gives_those_samples_zero(rng):
    x = softmax(rng.standard_normal((4, 3)))
    labels = np.array([2, 255, 0, 255])
    values = losses.sparse_categorical_crossentropy(labels, x, ignore_class=255)
    np.testing.assert_allclose(values, [-math.log(x[0, 2]), 0, -math.log(x[2, 0]), 0], rtol=1e-10)
    np.testing.assert_array_equal(
        losses.sparse_categorical_crossentropy(labels[:, None], x, ignore_class=255), values
    )


def _tiny_model(loss, metrics=None):
    model = Sequential([Dense(3, activation="softmax", input_shape=(4,))])
    model.compile("sgd", loss, metrics=metrics)
    return model


def test_compile_takes_the_loss_functions_as_before(rng):
    x = rng.standard_normal((16, 4)).astype(np.float32)
    y = np.eye(3)[rng.integers(0, 3, 16)]
    histories = []
    for loss in ("categorical_crossentropy", losses.categorical_crossentropy):
        backend.clear_session()
        backend.set_random_seed(5)
        histories.append(_tiny_model(loss).fit(x, y, epochs=2, batch_size=4, verbose=0).history)
    assert histories[0] == histories[1]


@pytest.mark.parametrize("reduction", ["sum", "none", None])
def test_compile_refuses_a_reduction_fit_would_not_apply(reduction):
    with pytest.raises(ValueError, match=rf"mean loss over each batch; received a loss with reduction={reduction!r}"):
        _tiny_model(losses.CategoricalCrossentropy(reduction=reduction))


@pytest.mark.parametrize("metric", [losses.categorical_crossentropy, "categorical_crossentropy", losses.mse])
def test_loss_functions_serve_as_metrics(rng, metric):
    x = rng.standard_normal((10, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 10)]
    model = _tiny_model("categorical_crossentropy", metrics=[metric])
    logs = model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    name = metric if isinstance(metric, str) else metric.__name__
    function = getattr(losses, name)
    assert logs[name] == pytest.approx(float(function(y, model.predict(x, verbose=0)).mean()), rel=1e-6)


# ---- clipping ---------------------------------------------------------------------------


@pytest.mark.usefixtures("float64")
def test_categorical_crossentropy_clips_zero_probabilities():
    y = np.array([[1.0, 0.0]])
    p = np.array([[0.0, 1.0]])
    loss = losses.CategoricalCrossentropy()
    assert loss(y, p) == pytest.approx(-math.log(EPS), rel=1e-6)
    _, grad = loss.value_and_grad(y, p)
    assert np.all(np.isfinite(grad))


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("y, p", [(1.0, 0.0), (0.0, 1.0)])
def test_binary_crossentropy_clips_zero_and_one(y, p):
    loss = losses.BinaryCrossentropy()
    value = loss(np.array([[y]]), np.array([[p]]))
    assert value == pytest.approx(-math.log(EPS), rel=1e-6)
    _, grad = loss.value_and_grad(np.array([[y]]), np.array([[p]]))
    assert np.all(np.isfinite(grad))


def test_clipped_losses_are_finite_in_float32():
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    p = np.array([[0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    for loss in (losses.CategoricalCrossentropy(), losses.BinaryCrossentropy()):
        value = loss(y, p)
        assert math.isfinite(value)
        assert 15.0 < value < 17.0  # about -log(1e-7)


@pytest.mark.usefixtures("float64")
def test_perfect_probabilities_give_a_near_zero_loss():
    y = np.array([[0.0, 1.0, 0.0]])
    value = losses.CategoricalCrossentropy()(y, y)
    assert 0 <= value <= 2 * EPS


# ---- sparse vs one-hot ------------------------------------------------------------------


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_equals_categorical_with_one_hot(rng, from_logits):
    labels = rng.integers(0, 4, 7)
    x = rng.standard_normal((7, 4)) if from_logits else softmax(rng.standard_normal((7, 4)))
    sparse = losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    dense = losses.CategoricalCrossentropy(from_logits=from_logits)
    assert sparse(labels, x) == pytest.approx(dense(to_categorical(labels, 4), x), rel=1e-12)
    assert sparse(labels[:, None], x) == pytest.approx(dense(one_hot(labels, 4), x), rel=1e-12)
    _, sparse_grad = sparse.value_and_grad(sparse.prepare_targets(labels, x), x)
    _, dense_grad = dense.value_and_grad(one_hot(labels, 4), x)
    np.testing.assert_allclose(sparse_grad, dense_grad, rtol=1e-12)


# ---- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize("labels", [np.array([0, 2, 1]), np.array([[0], [2], [1]])])
def test_integer_labels_with_categorical_crossentropy_explain_the_fix(labels):
    p = np.full((3, 3), 1 / 3)
    with pytest.raises(ValueError) as error:
        losses.CategoricalCrossentropy()(labels, p)
    message = str(error.value)
    assert "to_categorical" in message
    assert "sparse_categorical_crossentropy" in message


def test_categorical_crossentropy_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError) as error:
        losses.CategoricalCrossentropy()(np.zeros((3, 4)), np.full((3, 5), 0.2))
    assert "(5,)" in str(error.value) and "(4,)" in str(error.value)


@pytest.mark.parametrize("labels", [[0, 3, 1], [-1, 0, 2]])
def test_sparse_labels_out_of_range_name_the_range(labels):
    p = np.full((3, 3), 1 / 3)
    with pytest.raises(ValueError) as error:
        losses.SparseCategoricalCrossentropy()(np.array(labels), p)
    assert "[0, 2]" in str(error.value)


def test_sparse_labels_with_one_hot_targets_suggest_categorical():
    with pytest.raises(ValueError, match="'categorical_crossentropy'"):
        losses.SparseCategoricalCrossentropy()(np.eye(3), np.full((3, 3), 1 / 3))


def test_binary_crossentropy_shape_mismatch_raises():
    with pytest.raises(ValueError, match="binary_crossentropy"):
        losses.BinaryCrossentropy()(np.zeros((3, 2)), np.full((3, 4), 0.5))


def test_mean_squared_error_shape_mismatch_raises():
    with pytest.raises(ValueError, match="mean_squared_error"):
        losses.MeanSquaredError()(np.zeros((3, 2)), np.zeros((3, 4)))


# ---- lookup -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "identifier, cls",
    [
        ("mse", losses.MeanSquaredError),
        ("mean_squared_error", losses.MeanSquaredError),
        ("MeanSquaredError", losses.MeanSquaredError),
        ("categorical_crossentropy", losses.CategoricalCrossentropy),
        ("CategoricalCrossentropy", losses.CategoricalCrossentropy),
        ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy),
        ("SparseCategoricalCrossentropy", losses.SparseCategoricalCrossentropy),
        ("binary_crossentropy", losses.BinaryCrossentropy),
        ("BinaryCrossentropy", losses.BinaryCrossentropy),
        (losses.mean_squared_error, losses.MeanSquaredError),
        (losses.mse, losses.MeanSquaredError),
        (losses.categorical_crossentropy, losses.CategoricalCrossentropy),
    ],
)
def test_get_resolves_names_classes_and_functions(identifier, cls):
    loss = losses.get(identifier)
    assert type(loss) is cls
    assert loss.from_logits is False


def test_get_returns_loss_instances_unchanged():
    loss = losses.CategoricalCrossentropy(from_logits=True)
    assert losses.get(loss) is loss


@pytest.mark.parametrize(
    "name, nearest",
    [
        ("mean_sqared_error", "mean_squared_error"),
        ("categorical_crossentropyy", "categorical_crossentropy"),
        ("binary_crosentropy", "binary_crossentropy"),
    ],
)
def test_unknown_loss_names_suggest_the_nearest(name, nearest):
    with pytest.raises(ValueError) as error:
        losses.get(name)
    message = str(error.value)
    assert f"Did you mean '{nearest}'" in message
    assert "sparse_categorical_crossentropy" in message


def test_get_rejects_other_types():
    with pytest.raises(TypeError):
        losses.get(42)


def test_loss_default_names():
    assert losses.CategoricalCrossentropy().name == "categorical_crossentropy"
    assert losses.MeanSquaredError().name == "mean_squared_error"


@pytest.mark.parametrize("name", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
@pytest.mark.parametrize("from_logits", [False, True])
def test_cross_entropy_of_outputs_with_more_axes_averages_over_every_position(name, from_logits):
    """For (batch, steps, classes) outputs Keras averages the loss over batch * steps values; the
    training value must be the mean of the per-position losses, and its gradient consistent."""
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((2, 3, 4))
    p = scores if from_logits else np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True)
    labels = rng.integers(0, 4, (2, 3))
    y = labels if name.startswith("sparse") else np.eye(4)[labels]
    loss = losses.get(name)
    loss.from_logits = from_logits
    value, _ = loss.value_and_grad(loss.prepare_targets(y, p), p)
    per_position = getattr(losses, name)(y, p, from_logits=from_logits)
    assert per_position.shape == (2, 3)
    assert value == pytest.approx(float(np.mean(per_position)), rel=1e-6)  # the functions give floatx
    check_gradients(loss, p, y)
