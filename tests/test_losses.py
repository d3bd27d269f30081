"""Losses: gradients against finite differences, values against hand formulas, Keras' clipping
and the error messages."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinykeras import losses
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
    # keras.losses.categorical_crossentropy docstring: per-sample [0.10536, 0.11653, 0.06188].
    y = np.eye(3)
    p = np.array([[0.9, 0.05, 0.05], [0.05, 0.89, 0.06], [0.05, 0.01, 0.94]])
    expected = (-math.log(0.9) - math.log(0.89) - math.log(0.94)) / 3
    assert losses.categorical_crossentropy(y, p) == pytest.approx(expected, rel=1e-5)
    assert expected == pytest.approx((0.10536 + 0.11653 + 0.06188) / 3, abs=1e-5)


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
    assert losses.categorical_crossentropy(y, p) == pytest.approx(-math.log(0.75), rel=1e-12)


@pytest.mark.usefixtures("float64")
def test_binary_crossentropy_averages_the_last_axis_then_the_batch():
    y = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    p = np.array([[0.8, 0.3, 0.6], [0.1, 0.5, 0.9]])
    per_sample = [
        -sum(y[n, j] * math.log(p[n, j]) + (1 - y[n, j]) * math.log(1 - p[n, j]) for j in range(3))
        / 3
        for n in range(2)
    ]
    assert losses.binary_crossentropy(y, p) == pytest.approx(sum(per_sample) / 2, rel=1e-12)


@pytest.mark.usefixtures("float64")
def test_binary_crossentropy_accepts_one_label_per_sample_for_one_output():
    y = np.array([1, 0, 1])
    p = np.array([[0.7], [0.2], [0.4]])
    expected = -(math.log(0.7) + math.log(0.8) + math.log(0.4)) / 3
    assert losses.binary_crossentropy(y, p) == pytest.approx(expected, rel=1e-12)


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
    assert losses.mean_squared_error(y, p) == pytest.approx(expected, rel=1e-12)
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
