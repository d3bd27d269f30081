"""Property tests over random small Sequential models: shapes, gradients and predictions of whole
stacks of layers, drawn by hypothesis.

A stack is drawn as a list of (layer class name, constructor arguments) specs, either on a flat
(features,) input (Dense, Activation, Dropout, BatchNormalization) or on a small (H, W, C) image
(Conv2D, pooling, ZeroPadding2D, BatchNormalization, Dropout, then Flatten or a global pooling and
Dense layers); every stack ends in Dense(k, softmax). Stacks whose image would shrink to nothing
are rejected, after checking that the layer's ValueError names that layer.
"""
import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from tests.layers.layer_helpers import concrete
from tinykeras import backend, layers, losses
from tinykeras.models import Sequential
from tinykeras.utils import numerical_gradient, to_categorical

ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid", "elu")
# Differentiable everywhere (elu's kink is in its second derivative): safe for finite differences.
SMOOTH_ACTIVATIONS = ("linear", "tanh", "sigmoid", "elu")
HEADS = ("Flatten", "GlobalAveragePooling2D", "GlobalMaxPooling2D")
FEW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---- drawing stacks -----------------------------------------------------------------------


def _windows(draw, activations):
    """One spec of a layer that works on images."""
    kind = draw(st.sampled_from(["Conv2D", "MaxPooling2D", "AveragePooling2D", "ZeroPadding2D"]))
    padding = draw(st.sampled_from(["valid", "same"]))
    if kind == "Conv2D":
        return kind, {
            "filters": draw(st.integers(1, 3)),
            "kernel_size": draw(st.integers(1, 3)),
            "strides": draw(st.integers(1, 2)),
            "padding": padding,
            "activation": draw(st.sampled_from(activations)),
        }
    if kind == "ZeroPadding2D":
        return kind, {"padding": draw(st.tuples(st.integers(0, 1), st.integers(0, 1)))}
    pool = draw(st.integers(1, 2))
    return kind, {"pool_size": pool, "strides": draw(st.sampled_from([None, 1, 2])), "padding": padding}


def _anywhere(draw, kinds, activations):
    """A shape-keeping layer (or Dense on a flat input)."""
    kind = draw(st.sampled_from(kinds))
    if kind == "Dense":
        return kind, {"units": draw(st.integers(1, 5)), "activation": draw(st.sampled_from(activations))}
    if kind == "Activation":
        return kind, {"activation": draw(st.sampled_from(activations))}
    if kind == "Dropout":
        return kind, {"rate": draw(st.sampled_from([0.0, 0.25, 0.5]))}
    return kind, {}


@st.composite
def stacks(draw, dropout=True, smooth=False, images=None):
    """(input_shape, specs) of a random small model ending in Dense(k, softmax).

    Args:
        dropout: whether Dropout layers may be drawn.
        smooth: only activations without kinks (for finite differences).
        images: True for image inputs only, False for flat inputs only, None for either.
    """
    activations = SMOOTH_ACTIVATIONS if smooth else ACTIVATIONS
    keeping = ["BatchNormalization"] + (["Dropout"] if dropout else [])
    specs = []
    if not (draw(st.booleans()) if images is None else images):
        input_shape = (draw(st.integers(1, 6)),)
        for _ in range(draw(st.integers(0, 4))):
            specs.append(_anywhere(draw, ["Dense", "Activation"] + keeping, activations))
    else:
        input_shape = (draw(st.integers(3, 10)), draw(st.integers(3, 10)), draw(st.integers(1, 3)))
        for _ in range(draw(st.integers(0, 4))):
            if draw(st.integers(0, 3)):
                specs.append(_windows(draw, activations))
            else:
                specs.append(_anywhere(draw, keeping, activations))
        specs.append((draw(st.sampled_from(HEADS)), {}))
        for _ in range(draw(st.integers(0, 2))):
            specs.append(_anywhere(draw, ["Dense"] + keeping, activations))
    specs.append(("Dense", {"units": draw(st.integers(2, 4)), "activation": "softmax"}))
    return input_shape, specs


# ---- building them ------------------------------------------------------------------------


def _window_size(size, window, stride, padding):
    """Keras' output length along one axis: ceil(n / s) for 'same', floor((n - k) / s) + 1 else."""
    return -(-size // stride) if padding == "same" else (size - window) // stride + 1


def expected_output_shape(kind, kwargs, shape):
    """The output shape of a spec, worked out from Keras' formulas (not from the layer)."""
    if kind == "Dense":
        return shape[:-1] + (kwargs["units"],)
    if kind in ("Activation", "Dropout", "BatchNormalization"):
        return shape
    if kind == "Flatten":
        return (shape[0], math.prod(shape[1:]))
    if kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        return (shape[0], shape[-1])
    batch, height, width, channels = shape
    if kind == "ZeroPadding2D":
        rows, cols = kwargs["padding"]
        return (batch, height + 2 * rows, width + 2 * cols, channels)
    if kind == "Conv2D":
        window, stride, channels = kwargs["kernel_size"], kwargs["strides"], kwargs["filters"]
    else:
        window = kwargs["pool_size"]
        stride = window if kwargs["strides"] is None else kwargs["strides"]
    sizes = tuple(_window_size(n, window, stride, kwargs["padding"]) for n in (height, width))
    return (batch, *sizes, channels)


def build_layers(input_shape, specs):
    """Fresh built layers for the specs, each checked to announce Keras' output shape.

    An example whose image shrinks to nothing is rejected once the layer has been seen to refuse
    it with a ValueError that names the layer.
    """
    built = []
    shape = (None,) + tuple(input_shape)
    for kind, kwargs in specs:
        layer = getattr(layers, kind)(**kwargs)
        expected = expected_output_shape(kind, kwargs, shape)
        if any(d is not None and d <= 0 for d in expected):
            with pytest.raises(ValueError, match=re.escape(f"'{layer.name}'")):
                layer.build_for(shape)
            reject()
        shape = layer.build_for(shape)
        assert shape == expected, (kind, kwargs)
        built.append(layer)
    return built


def make_model(input_shape, specs):
    model = Sequential([layers.Input(shape=input_shape), *build_layers(input_shape, specs)])
    assert model.output_shape == (None, specs[-1][1]["units"])
    return model


def data(seed, batch, input_shape, classes, dtype):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch,) + tuple(input_shape)).astype(dtype)
    y = to_categorical(rng.integers(0, classes, batch), classes).astype(dtype)
    return x, y


class Float64:
    """Inside the block, layers are built with float64 weights; the previous floatx is restored."""

    def __enter__(self):
        self.previous = backend.floatx()
        backend.set_floatx("float64")

    def __exit__(self, *exc):
        backend.set_floatx(self.previous)


seeds = st.integers(0, 2**16)


# ---- the properties -----------------------------------------------------------------------


@FEW
@given(stacks(images=True), st.sampled_from(["Conv2D", "MaxPooling2D", "AveragePooling2D"]), st.integers(1, 3))
def test_a_window_larger_than_the_image_is_refused_naming_the_layer(stack, kind, extra):
    input_shape, specs = stack
    body = specs[: next(i for i, (k, _) in enumerate(specs) if k in HEADS)]
    built = build_layers(input_shape, body)
    shape = built[-1].output_shape if built else (None,) + input_shape
    window = min(shape[1:3]) + extra
    kwargs = {"filters": 1, "kernel_size": window} if kind == "Conv2D" else {"pool_size": window}
    too_big = getattr(layers, kind)(padding="valid", **kwargs)
    with pytest.raises(ValueError, match=re.escape(f"'{too_big.name}'")):
        too_big.build_for(shape)
    with pytest.raises(ValueError, match=re.escape(f"'{too_big.name}'")):
        Sequential([layers.Input(shape=input_shape), *built, too_big])


@FEW
@given(stacks(), st.integers(1, 4), st.booleans(), seeds)
def test_forward_shapes_follow_compute_output_shape(stack, batch, training, seed):
    input_shape, specs = stack
    model = make_model(input_shape, specs)
    x = data(seed, batch, input_shape, 2, np.float32)[0]
    for layer in model.layers:
        declared = layer.compute_output_shape((None,) + x.shape[1:])
        y = layer.forward(x, training)
        assert y.shape == concrete(declared, batch), layer.name
        assert y.shape == concrete(layer.output_shape, batch), layer.name
        assert y.dtype == np.float32, layer.name
        x = y
    assert np.allclose(x.sum(axis=1), 1, atol=1e-5)


@FEW
@given(stacks(), st.integers(1, 4), st.booleans(), seeds)
def test_backward_gives_every_layer_finite_gradients_of_the_right_shapes(stack, batch, training, seed):
    input_shape, specs = stack
    with Float64():
        built = build_layers(input_shape, specs)
        x = data(seed, batch, input_shape, 2, np.float64)[0]
        inputs = []
        for layer in built:
            inputs.append(x.shape)
            x = layer.forward(x, training)
        dy = np.random.default_rng(seed + 1).standard_normal(x.shape)
        for layer, input_shape_seen in zip(reversed(built), reversed(inputs)):
            dy = layer.backward(dy)
            assert dy.shape == input_shape_seen, layer.name
            assert dy.dtype == np.float64, layer.name
            assert np.isfinite(dy).all(), layer.name
            assert len(layer.grads) == len(layer.trainable_weights), layer.name
            for variable, grad in zip(layer.trainable_weights, layer.grads):
                assert np.shape(grad) == variable.shape, variable.path
                assert np.isfinite(grad).all(), variable.path


@FEW
@given(stacks(), st.integers(1, 5), seeds)
def test_training_step_on_finite_data_stays_finite(stack, batch, seed):
    input_shape, specs = stack
    model = make_model(input_shape, specs)
    model.compile("adam", "categorical_crossentropy")
    x, y = data(seed, batch, input_shape, specs[-1][1]["units"], np.float32)
    assert np.isfinite(model.predict(x, verbose=0)).all()
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    assert all(np.isfinite(w).all() for w in model.get_weights())
    after = model.predict(x, verbose=0)
    assert np.isfinite(after).all()
    assert np.allclose(after.sum(axis=1), 1, atol=1e-5)


@FEW
@given(stacks(), st.integers(1, 7), seeds)
def test_predict_does_not_depend_on_the_batch_size(stack, samples, seed):
    input_shape, specs = stack
    model = make_model(input_shape, specs)
    x = data(seed, samples, input_shape, 2, np.float32)[0]
    # Move BatchNormalization's moving statistics off their initial values.
    model.compile("sgd", "categorical_crossentropy")
    model.train_on_batch(x, data(seed, samples, input_shape, specs[-1][1]["units"], np.float32)[1])
    whole = model.predict(x, batch_size=samples, verbose=0)
    assert whole.shape == (samples, specs[-1][1]["units"])
    for batch_size in (1, 3):
        np.testing.assert_allclose(model.predict(x, batch_size=batch_size, verbose=0), whole, rtol=1e-5, atol=1e-6)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks(dropout=False, smooth=True), st.integers(1, 3), seeds)
def test_loss_gradient_with_respect_to_the_model_input(stack, batch, seed):
    """Back-propagation through the whole model in inference mode agrees with central
    differences of the loss along random directions of the input."""
    input_shape, specs = stack
    with Float64():
        model = make_model(input_shape, specs)
        model.compile("sgd", "categorical_crossentropy")
        rng = np.random.default_rng(seed)
        for layer in model.layers:
            # Moving statistics away from (0, 1), so inference-mode normalization is not the identity.
            if isinstance(layer, layers.BatchNormalization):
                layer.moving_mean.value[...] = rng.normal(0, 0.5, layer.moving_mean.shape)
                layer.moving_variance.value[...] = rng.uniform(0.5, 2, layer.moving_variance.shape)
                layer.gamma.value[...] = rng.uniform(0.5, 1.5, layer.gamma.shape)
                layer.beta.value[...] = rng.normal(0, 0.5, layer.beta.shape)
        x, y = data(seed, batch, input_shape, specs[-1][1]["units"], np.float64)
        loss = losses.get("categorical_crossentropy")

        def objective():
            return float(model.test_on_batch(x, y))

        model._graph.mark_input_gradients(True)  # back-propagate to the input through every layer
        output = model._forward(x, training=False)
        targets = loss.prepare_targets(y, output)
        last = model.layers[-1]
        value, dz = loss.value_and_grad_logits(targets, last.logits)
        np.testing.assert_allclose(value, objective(), rtol=1e-12)
        dx = last.backward_linear(dz)
        for layer in model.layers[-2::-1]:
            dx = layer.backward(dx)
        assert dx.shape == x.shape
        directions = [rng.standard_normal(x.shape) for _ in range(4)]
        numeric = numerical_gradient(objective, x, 1e-6, directions)
        analytic = np.array([(dx * d).sum() for d in directions])
        scale = max(np.abs(analytic).max(), np.abs(numeric).max(), 1e-8)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-6 * scale)
