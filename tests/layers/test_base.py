"""The layer protocol: a custom layer whose methods the model would silently skip is refused when
it is built (added to a model, built, called or gradient-checked), naming the method and the fix;
layers that keep the protocol, built-in or custom, are unaffected."""

import re

import numpy as np
import pytest

from tinykeras import Sequential
from tinykeras.layers import (
    ActivatedLayer,
    Activation,
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    InputLayer,
    Layer,
    MaxPooling2D,
    Reshape,
    ZeroPadding2D,
)
from tinykeras.layers.base import check_protocol
from tinykeras.utils import check_gradients

# ---- layers written the Keras way, or half-way ----------------------------------------------


class KerasScale(Layer):
    """Keras' way, but computing with the weight's array: the weight would never train."""

    def build(self, input_shape):
        self.w = self.add_weight("w", (input_shape[-1],), initializer="ones")

    def call(self, inputs):
        return inputs * self.w.value


class DoubledDense(Dense):
    """A Dense subclass that means to change Dense's output through Keras' call."""

    def call(self, inputs):
        return 2 * inputs


class CallableDouble(Layer):
    """Computes in __call__ only."""

    def __call__(self, x, training=False):
        return 2 * np.asarray(x)


class ForwardOnlyScale(Layer):
    """forward with a weight, and the identity backward inherited from Layer."""

    def build(self, input_shape):
        self.w = self.add_weight("w", (input_shape[-1],), initializer="ones")

    def forward(self, x, training=False):
        return x * self.w.value


class ForwardOnlySquare(Layer):
    """forward without weights, and the identity backward inherited from Layer."""

    def forward(self, x, training=False):
        return x * x


class LinearOnly(ActivatedLayer):
    """forward_linear without backward_linear."""

    def forward_linear(self, x, training=False):
        return 3 * x


MESSAGES = {
    KerasScale: (
        "Layer 'my_layer' (KerasScale): call() does not compute with its weight(s) ['w'] as "
        "variables, so they would never train. Use the variable itself in keras.ops or "
        "arithmetic (inputs * self.w), not its array (self.w.value)."
    ),
    DoubledDense: (
        "Layer 'my_layer' (DoubledDense) defines call(); .* As written, call() would "
        "never run and the layer would compute only what Dense computes."
    ),
    CallableDouble: (
        "Layer 'my_layer' (CallableDouble) defines __call__(); a model runs its layers "
        "through forward(x, training) and backward(dy) .*, never through __call__. Move the "
        "computation into forward and write its backward: .* As written, the layer would pass "
        "its input through unchanged in a model."
    ),
    ForwardOnlyScale: (
        "Layer 'my_layer' (ForwardOnlyScale) overrides forward() but not backward(): "
        "the inherited backward passes the gradient through unchanged, so fit would train on "
        "wrong gradients (and none for the layer's weights). Write backward(dy) (see the README "
        "section 'Write a layer, check its gradient'). backward receives dLoss/doutput"
    ),
    ForwardOnlySquare: "Layer 'my_layer' (ForwardOnlySquare) overrides forward() but not backward()",
    LinearOnly: (
        "Layer 'my_layer' (LinearOnly) overrides forward_linear() but not backward_linear(): "
        "the inherited backward_linear passes the gradient through unchanged"
    ),
}


def pattern(cls):
    """The message's start, as a regular expression: literal text, with '.*' for a skipped part."""
    return "^" + ".*".join(re.escape(part) for part in MESSAGES[cls].split(".*"))


def make(cls, **kwargs):
    """An instance named 'my_layer'."""
    return cls(name="my_layer", **kwargs) if cls is not DoubledDense else cls(2, name="my_layer", **kwargs)


REFUSED = list(MESSAGES)


@pytest.mark.parametrize("cls", REFUSED, ids=lambda c: c.__name__)
def test_a_model_refuses_the_layer_when_it_is_added(cls):
    model = Sequential([Dense(3, input_shape=(3,))])
    with pytest.raises(TypeError, match=pattern(cls)):
        model.add(make(cls))
    assert len(model.layers) == 1  # not added


@pytest.mark.parametrize("cls", REFUSED, ids=lambda c: c.__name__)
def test_a_model_refuses_the_layer_as_its_first_layer(cls):
    with pytest.raises(TypeError, match=pattern(cls)):
        Sequential([make(cls, input_shape=(3,))])
    if cls is KerasScale:
        return  # what its call computes shows only once it is traced, for a shape
    model = Sequential()
    with pytest.raises(TypeError, match=pattern(cls)):
        model.add(make(cls))  # no input shape yet: refused all the same
    assert model.layers == []


@pytest.mark.parametrize("cls", [c for c in REFUSED if c is not CallableDouble], ids=lambda c: c.__name__)
def test_building_or_calling_the_layer_refuses_it(cls):
    x = np.ones((2, 3), dtype=np.float32)
    with pytest.raises(TypeError, match=pattern(cls)):
        make(cls)(x)
    with pytest.raises(TypeError, match=pattern(cls)):
        make(cls).build_for((None, 3))
    with pytest.raises(TypeError, match=pattern(cls)):
        check_gradients(make(cls), x)


def test_a_layer_computing_in_its_own_dunder_call_works_alone():
    # Its own __call__ runs when it is called directly; only a model, which would skip it, refuses it.
    np.testing.assert_array_equal(CallableDouble()(np.ones((2, 3))), np.full((2, 3), 2.0))


# ---- layers that keep the protocol ----------------------------------------------------------


class Scale(Layer):
    """The README's example."""

    def build(self, input_shape):
        self.w = self.add_weight("w", (input_shape[-1],), initializer="ones")

    def forward(self, x, training=False):
        self.x = x
        return x * self.w.value

    def backward(self, dy):
        self.grads = [(dy * self.x).sum(axis=0)]
        return dy * self.w.value


class ScaleWithCall(Scale):
    """Keras' call beside forward and backward, forward delegating to it."""

    def call(self, inputs):
        return inputs * self.w.value

    def forward(self, x, training=False):
        self.x = x
        return self.call(x)


class ScaleWithDunderCall(Scale):
    """A __call__ of its own beside its own forward and backward."""

    calls = 0

    def __call__(self, x, training=False):
        type(self).calls += 1
        return super().__call__(x, training)

    def forward(self, x, training=False):
        return super().forward(x, training)

    def backward(self, dy):
        return super().backward(dy)


class GradientReversal(Layer):
    """An inherited (identity) forward with a backward of its own."""

    def backward(self, dy):
        return -dy


class RecordingDense(Dense):
    """Dense, recording its forward and backward calls (an inherited forward_linear/backward_linear
    pair below)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.record = []

    def forward(self, x, training=False):
        self.record.append("forward")
        return super().forward(x, training)

    def backward(self, dy):
        self.record.append("backward")
        return super().backward(dy)


def built_in_layers():
    return [
        Layer(),
        InputLayer(shape=(3,)),
        Dense(2),
        Activation("relu"),
        Dropout(0.5),
        Flatten(),
        Reshape((3,)),
        Conv2D(2, 3),
        ZeroPadding2D(),
        MaxPooling2D(),
        AveragePooling2D(),
        GlobalAveragePooling2D(),
        GlobalMaxPooling2D(),
        BatchNormalization(),
    ]


@pytest.mark.parametrize("index", range(len(built_in_layers())))
def test_built_in_layers_keep_the_protocol(index):
    check_protocol(built_in_layers()[index])


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("cls", [Scale, ScaleWithCall, ScaleWithDunderCall])
def test_custom_layers_with_forward_and_backward_build_train_and_check(cls):
    x = np.random.default_rng(0).standard_normal((4, 3))
    check_gradients(cls(), x)
    model = Sequential([Dense(3, input_shape=(3,)), cls(), Dense(2, activation="softmax")])
    model.compile("sgd", "categorical_crossentropy")
    before = model.layers[1].get_weights()[0].copy()
    model.fit(x, np.eye(2)[[0, 1, 1, 0]], epochs=1, verbose=0)
    assert not np.array_equal(model.layers[1].get_weights()[0], before)


def test_a_dunder_call_of_its_own_runs_when_the_layer_is_called():
    ScaleWithDunderCall.calls = 0
    y = ScaleWithDunderCall()(np.ones((2, 3)))
    assert ScaleWithDunderCall.calls == 1
    np.testing.assert_array_equal(y, np.ones((2, 3)))


def test_a_backward_of_its_own_under_the_identity_forward_is_accepted():
    layer = GradientReversal()
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer.backward(np.ones((2, 3))), -np.ones((2, 3)))
    Sequential([Dense(3, input_shape=(3,)), layer, Dense(2)])


def test_a_softmax_output_layer_with_its_own_forward_and_backward_runs_them_in_training():
    # The loss is then taken from the layer's output through its own backward, not from its
    # logits through Dense's backward_linear.
    x = np.random.default_rng(1).standard_normal((6, 3)).astype(np.float32)
    y = np.eye(2)[[0, 1, 1, 0, 1, 0]]
    last = RecordingDense(2, activation="softmax")
    model = Sequential([Dense(3, input_shape=(3,)), last])
    model.compile("sgd", "categorical_crossentropy")
    model.train_on_batch(x, y)
    assert last.record == ["forward", "backward"]
