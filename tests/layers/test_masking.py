"""Masks as Keras 3 carries them: made by Embedding(mask_zero=True) and Masking, passed on by the
layers that support masking (dropped, with Keras' warning, by those that do not), combined by
the merge layers, consumed by the recurrent layers (backpropagation through held steps against
finite differences, float64, hypothesis shapes and mask patterns), GlobalAveragePooling1D, the
loss and the metrics; layers written with call receive them; the Keras guide "Understanding
masking & padding" runs with only the import changed. Keras' own numbers are in
test_masking_files.py."""
import os
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keras_fixtures import FIXTURES
from wrapped_layers import Around, with_random_weights

import tinykeras as keras
from tinykeras import layers, losses, ops
from tinykeras.layers import GRU, LSTM, Layer, SimpleRNN
from tinykeras.utils import check_gradients

CLASSES = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU, "GRU_reset_before": GRU}
RESET_BEFORE = {"GRU_reset_before": {"reset_after": False}}


def make(kind, units, **kwargs):
    return CLASSES[kind](units, dtype="float64", **RESET_BEFORE.get(kind, {}), **kwargs)


class WithMask(Around):
    """Runs ``inner`` with a fixed mask, so that the gradient checker sees one input."""

    def __init__(self, inner, mask, **kwargs):
        super().__init__(inner, **kwargs)
        self.mask = mask

    def forward(self, x, training=False):
        return self.inner.forward(x, training, mask=self.mask)


def padded(lengths, steps, left):
    """(batch, steps) masks of sequences of ``lengths``, padded on the left or the right."""
    kept = np.arange(steps)[None, :] < np.asarray(lengths)[:, None]
    return kept[:, ::-1].copy() if left else kept


# ---- the recurrent layers through masked steps ---------------------------------------------------

masks = st.sampled_from(["right", "left", "random", "all_masked_row"])


def mask_of(pattern, batch, steps, rng):
    if pattern == "random":
        return rng.random((batch, steps)) < 0.6
    lengths = rng.integers(0, steps + 1, size=batch)
    mask = padded(lengths, steps, left=pattern == "left")
    if pattern == "all_masked_row":
        mask[0] = False
    return mask


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(sorted(CLASSES)), shape=st.tuples(st.integers(1, 3), st.integers(1, 5),
       st.integers(1, 3), st.integers(1, 3)), pattern=masks, return_sequences=st.booleans(),
       go_backwards=st.booleans(), zero_output=st.booleans(), unroll=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_gradients_through_masked_steps_match_finite_differences(
        kind, shape, pattern, return_sequences, go_backwards, zero_output, unroll, seed):
    batch, steps, features, units = shape
    rng = np.random.default_rng(seed)
    layer = make(kind, units, return_sequences=return_sequences, go_backwards=go_backwards,
                 zero_output_for_mask=zero_output, unroll=unroll)
    with_random_weights(layer, rng, (None, steps, features))
    mask = mask_of(pattern, batch, steps, rng)

    errors = check_gradients(WithMask(layer, mask, dtype="float64"), rng.standard_normal((batch, steps, features)))

    assert {"input", "kernel", "recurrent_kernel", "bias"} == set(errors)


@settings(max_examples=15, deadline=None)
@given(kind=st.sampled_from(sorted(CLASSES)), pattern=masks, unroll=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_gradients_of_initial_states_and_returned_states_through_masked_steps(kind, pattern, unroll, seed):
    rng = np.random.default_rng(seed)
    layer = make(kind, 2, return_sequences=True, return_state=True, unroll=unroll)
    count = len(layer.state_names)
    with_random_weights(layer, rng, [(None, 4, 3)] + [(None, 2)] * count)
    mask = mask_of(pattern, 3, 4, rng)

    class Joined(WithMask):  # the sequences and the final states as one output
        def forward(self, x, training=False):
            outputs = self.inner.forward(x, training, mask=self.mask)
            return np.concatenate([outputs[0].reshape(len(outputs[0]), -1)] + outputs[1:], axis=1)

        def backward(self, dy):
            first = dy[:, :8].reshape(3, 4, 2)
            dx = self.inner.backward([first] + np.split(dy[:, 8:], count, axis=1))
            self.grads = self.inner.grads
            return dx

    inputs = [rng.standard_normal((3, 4, 3))] + [rng.standard_normal((3, 2)) for _ in range(count)]
    errors = check_gradients(Joined(layer, mask, dtype="float64"), inputs)

    assert {f"input_{i}" for i in range(1 + count)} <= set(errors)


@pytest.mark.parametrize("kind", sorted(CLASSES))
def test_a_masked_step_holds_the_states_and_repeats_or_zeroes_the_output(kind):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 5, 2))
    mask = np.array([[1, 1, 1, 0, 0], [0, 0, 1, 1, 1], [0, 0, 0, 0, 0]], bool)
    layer = with_random_weights(make(kind, 3, return_sequences=True, return_state=True), rng, (None, 5, 2))
    sequences, *states = layer(x, mask=mask)
    alone_right, *states_right = layer(x[:1, :3])
    alone_left = layer(x[1:2, 2:])[0]

    np.testing.assert_allclose(sequences[0, :3], alone_right[0], atol=1e-12)  # right padding: the prefix
    np.testing.assert_allclose(sequences[0, 3:], np.repeat(alone_right[0, -1:], 2, axis=0), atol=1e-12)
    np.testing.assert_allclose(sequences[1, :2], 0)  # left padding: the zero initial state, held
    np.testing.assert_allclose(sequences[1, 2:], alone_left[0], atol=1e-12)
    np.testing.assert_allclose(sequences[2], 0)  # every step masked
    for state, alone in zip(states, states_right):
        np.testing.assert_allclose(state[0], alone[0], atol=1e-12)

    layer.zero_output_for_mask = True
    zeroed = layer(x, mask=mask)[0]
    np.testing.assert_array_equal(zeroed[~mask], 0)
    np.testing.assert_allclose(zeroed[mask], sequences[mask], atol=1e-12)


def test_unrolled_masked_outputs_are_the_previous_output_zeros_at_first_as_keras_unrolls():
    rng = np.random.default_rng(4)
    x, h0 = rng.standard_normal((1, 4, 2)), rng.standard_normal((1, 3))
    mask = np.array([[0, 1, 0, 1]], bool)
    for unroll, first in ((False, h0[0]), (True, np.zeros(3))):
        layer = with_random_weights(make("SimpleRNN", 3, return_sequences=True, unroll=unroll,
                                    zero_output_for_mask=True), np.random.default_rng(1), [(None, 4, 2), (None, 3)])
        out = layer(x, initial_state=[h0], mask=mask)
        if unroll:  # Keras' unrolled loop ignores zero_output_for_mask
            np.testing.assert_allclose(out[0, 0], first)
            np.testing.assert_allclose(out[0, 2], out[0, 1])
        else:
            np.testing.assert_array_equal(out[0, [0, 2]], 0)


def test_go_backwards_reads_the_mask_in_the_order_of_processing():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 4, 2))
    layer = with_random_weights(make("LSTM", 3, go_backwards=True), rng, (None, 4, 2))
    mask = np.array([[1, 1, 0, 0]], bool)
    np.testing.assert_allclose(layer(x, mask=mask), layer(x[:, :2]), atol=1e-12)


def test_the_recurrent_output_mask_follows_return_sequences_and_return_state():
    mask = np.array([[True, False]])
    assert LSTM(2, return_sequences=True).compute_mask(None, mask) is mask
    assert LSTM(2).compute_mask(None, mask) is None
    assert LSTM(2, return_sequences=True, return_state=True).compute_mask(None, mask) == [mask, None, None]


def test_a_mask_of_the_wrong_shape_is_named():
    layer = LSTM(2, name="lstm")
    with pytest.raises(ValueError, match=r"Layer 'lstm' \(LSTM\) received a mask of shape \(2, 3\) for sequences "
                                         r"of shape \(2, 4, 1\); expected one of shape \(batch, timesteps\) = \(2, 4\)"):
        layer(np.zeros((2, 4, 1)), mask=np.ones((2, 3), bool))


# ---- making, passing and dropping masks ----------------------------------------------------------


def tagger(lstm_units=3, return_sequences=True, dropout=0.1):
    ids = keras.Input((5,), dtype="int32")
    hidden = layers.Embedding(9, 4, mask_zero=True)(ids)
    hidden = layers.Dropout(dropout)(layers.Dense(4, activation="relu")(hidden))
    hidden = layers.LSTM(lstm_units, return_sequences=return_sequences)(hidden)
    return keras.Model(ids, layers.Dense(2, activation="softmax")(hidden))


IDS = np.array([[3, 4, 1, 0, 0], [0, 0, 5, 6, 2], [7, 8, 1, 2, 3], [0, 0, 0, 0, 0]])


def test_masks_travel_through_layers_that_support_masking_to_the_output():
    model = tagger()
    model.predict(IDS, verbose=0)
    np.testing.assert_array_equal(model._ran.output_masks[0], IDS != 0)
    assert model._graph.masked
    assert tagger(return_sequences=False).predict(IDS, verbose=0).shape == (4, 2)


def test_the_chain_of_a_sequential_without_masks_stays_the_fast_path():
    plain = keras.Sequential([keras.Input((5,), dtype="int32"), layers.Embedding(9, 4), layers.LSTM(3)])
    masked = keras.Sequential([keras.Input((5,), dtype="int32"), layers.Embedding(9, 4, mask_zero=True),
                               layers.LSTM(3)])
    assert not plain._graph.masked and plain._graph._passes_along()
    assert masked._graph.masked
    masked.set_weights(plain.get_weights())
    unpadded = IDS[2:3]
    np.testing.assert_allclose(masked.predict(unpadded, verbose=0), plain.predict(unpadded, verbose=0), rtol=1e-6)
    lstm = plain.layers[-1]
    np.testing.assert_allclose(masked.predict(IDS[:1], verbose=0), lstm(plain.layers[0](IDS[:1, :3])), rtol=1e-6)


def test_a_layer_without_masking_drops_the_mask_with_keras_warning():
    ids = keras.Input((5,), dtype="int32")
    flat = layers.Flatten(name="flatten")(layers.Embedding(9, 2, mask_zero=True)(ids))
    model = keras.Model(ids, flat)
    message = ("Layer 'flatten' (of type Flatten) was passed an input with a mask attached to it. However, this "
               "layer does not support masking and will therefore destroy the mask information. Downstream "
               "layers will not see the mask.")
    with pytest.warns(UserWarning, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        model.predict(IDS, verbose=0)
    assert model._ran.output_masks == [None]


@pytest.mark.parametrize("layer", [layers.Dense(2), layers.Activation("relu"), layers.Dropout(0.5), layers.ReLU(),
                                   layers.LeakyReLU(), layers.PReLU(), layers.ELU(), layers.BatchNormalization(),
                                   layers.LayerNormalization(), layers.GaussianNoise(0.1), layers.Masking(),
                                   layers.LSTM(2), layers.GlobalAveragePooling1D(), layers.Add(),
                                   layers.Rescaling(2.0), layers.Normalization()])
def test_built_in_layers_support_masking_as_keras_sets_it(layer):
    assert layer.supports_masking


@pytest.mark.parametrize("layer", [layers.Flatten(), layers.Reshape((2,)), layers.Conv1D(2, 2),
                                   layers.GlobalMaxPooling1D(), layers.RepeatVector(2), Layer()])
def test_other_layers_do_not_support_masking(layer):
    assert not layer.supports_masking


def test_masking_zeroes_and_masks_the_steps_whose_features_all_equal_the_value():
    layer = layers.Masking(mask_value=-1.0)
    x = np.array([[[1.0, -1.0], [-1.0, -1.0], [2.0, 3.0]]])
    np.testing.assert_array_equal(layer.compute_mask(x), [[True, False, True]])
    np.testing.assert_array_equal(layer(x), [[[1.0, -1.0], [0.0, 0.0], [2.0, 3.0]]])
    masking = layers.Masking(-1.0, dtype="float64")
    masking(x)
    np.testing.assert_array_equal(masking.backward(np.ones_like(x)), [[[1, 1], [0, 0], [1, 1]]])
    assert set(check_gradients(layers.Masking(-1.0, dtype="float64"), x + 0.5)) == {"input"}  # no step masked
    assert layers.Masking.from_config(layer.get_config()).mask_value == -1.0


def test_masking_before_an_rnn_equals_the_unpadded_sequences():
    x = np.random.default_rng(6).standard_normal((2, 4, 3)).astype("float32")
    x[0, 2:] = 0.0
    inputs = keras.Input((4, 3))
    model = keras.Model(inputs, layers.GRU(2)(layers.Masking()(inputs)))
    gru = model.layers[-1]
    np.testing.assert_allclose(model.predict(x, verbose=0)[0], gru(x[:1, :2])[0], rtol=1e-6)


def test_merge_layers_combine_masks_as_keras():
    a, b = np.array([[1, 0, 0]], bool), np.array([[0, 0, 1]], bool)
    x = np.zeros((1, 3, 2))
    np.testing.assert_array_equal(layers.Add().compute_mask([x, x], [a, b]), [[True, False, True]])
    assert layers.Add().compute_mask([x, x], [a, None]) is None
    np.testing.assert_array_equal(layers.Concatenate().compute_mask([x, x], [a, None]), [[True, True, True]])
    np.testing.assert_array_equal(layers.Concatenate(axis=1).compute_mask([x, x], [a, b]),
                                  [[True, False, False, False, False, True]])
    assert layers.Dot(axes=2).compute_mask([x, x], [a, b]) is None
    with pytest.raises(ValueError, match="`mask` should be a list"):
        layers.Add().compute_mask([x, x], a)


def test_a_mask_reaching_softmax_or_batch_normalization_in_training_is_refused():
    ids = keras.Input((5,), dtype="int32")
    model = keras.Model(ids, layers.Softmax()(layers.Embedding(9, 4, mask_zero=True)(ids)))
    with pytest.raises(ValueError, match=r"\(Softmax\) received a mask.*not support"):
        model.predict(IDS, verbose=0)
    norm = layers.BatchNormalization(name="norm")
    norm.build_for((None, 5, 4))
    with pytest.raises(ValueError, match=r"Layer 'norm' \(BatchNormalization\) received a mask in training"):
        norm.forward(np.ones((2, 5, 4), "float32"), training=True, mask=np.ones((2, 5), bool))
    assert norm.forward(np.ones((2, 5, 4), "float32"), mask=np.ones((2, 5), bool)).shape == (2, 5, 4)


# ---- GlobalAveragePooling1D ----------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 3)), keepdims=st.booleans(),
       channels_first=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_masked_average_pooling_is_the_mean_of_the_kept_steps(shape, keepdims, channels_first, seed):
    batch, steps, channels = shape
    rng = np.random.default_rng(seed)
    mask = rng.random((batch, steps)) < 0.7
    mask[:, 0] = True
    x = rng.standard_normal(shape)
    data_format = "channels_first" if channels_first else "channels_last"
    layer = layers.GlobalAveragePooling1D(data_format=data_format, keepdims=keepdims, dtype="float64")
    given_x = np.ascontiguousarray(x.transpose(0, 2, 1)) if channels_first else x
    y = WithMask(layer, mask, dtype="float64")(given_x)
    expected = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
    np.testing.assert_allclose(np.reshape(y, expected.shape), expected, atol=1e-12)
    check_gradients(WithMask(layers.GlobalAveragePooling1D(data_format=data_format, keepdims=keepdims,
                                                           dtype="float64"), mask, dtype="float64"), given_x)


def test_masked_average_pooling_of_a_sequence_with_no_kept_step_is_nan_as_in_keras():
    layer = layers.GlobalAveragePooling1D()
    layer.build_for((None, 2, 1))
    y = layer.forward(np.ones((1, 2, 1), "float32"), mask=np.zeros((1, 2), bool))
    assert np.isnan(y).all()
    assert layer.compute_mask(None, np.ones((1, 2), bool)) is None


# ---- losses and metrics --------------------------------------------------------------------------


def test_the_output_mask_weighs_the_loss_and_the_metrics_over_the_kept_steps():
    model = tagger()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    y = np.random.default_rng(7).integers(0, 2, size=IDS.shape)
    loss, accuracy = model.evaluate(IDS, y, verbose=0)
    probabilities = model.predict(IDS, verbose=0)
    kept = IDS != 0
    nll = -np.log(np.take_along_axis(probabilities, y[..., None], -1)[..., 0])
    assert loss == pytest.approx(nll[kept].mean(), rel=1e-5)
    assert accuracy == pytest.approx((probabilities.argmax(-1) == y)[kept].mean(), rel=1e-6)


def test_masked_steps_get_no_gradient_and_any_label():
    model = tagger(dropout=0.0)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    y = np.random.default_rng(8).integers(0, 2, size=IDS.shape)
    other = np.where(IDS != 0, y, 1 - y)
    weights = model.get_weights()
    model.train_on_batch(IDS, y)
    trained = model.get_weights()
    model.set_weights(weights)
    model.train_on_batch(IDS, other)
    for a, b in zip(trained, model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_apply_mask_scales_the_kept_values_as_keras():
    mask = np.array([[True, False], [True, True]])
    np.testing.assert_allclose(losses.apply_mask(None, mask, "sum_over_batch_size", "float32"),
                               [[4 / 3, 0], [4 / 3, 4 / 3]], rtol=1e-6)
    np.testing.assert_array_equal(losses.apply_mask(np.array([[2.0, 2.0], [1.0, 3.0]]), mask, "sum", "float64"),
                                  [[2.0, 0.0], [1.0, 3.0]])
    np.testing.assert_array_equal(losses.apply_mask(None, np.zeros((1, 2), bool), "mean", "float32"), [[0, 0]])
    assert losses.apply_mask("weights", None, "mean", "float32") == "weights"


# ---- layers written with call, and the guide "Understanding masking & padding" ------------------


class TemporalSplit(keras.layers.Layer):
    """Split the input tensor into 2 tensors along the time dimension."""

    def call(self, inputs):
        return ops.split(inputs, 2, axis=1)

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        return ops.split(mask, 2, axis=1)


class CustomEmbedding(keras.layers.Layer):
    def __init__(self, input_dim, output_dim, mask_zero=False, **kwargs):
        super().__init__(**kwargs)
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.mask_zero = mask_zero

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            shape=(self.input_dim, self.output_dim),
            initializer="random_normal",
            dtype="float32",
        )

    def call(self, inputs):
        inputs = ops.cast(inputs, "int32")
        return ops.take(self.embeddings, inputs)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)


class MyActivation(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # Signal that the layer is safe for mask propagation
        self.supports_masking = True

    def call(self, inputs):
        return ops.relu(inputs)


class TemporalSoftmax(keras.layers.Layer):
    def call(self, inputs, mask=None):
        broadcast_float_mask = ops.expand_dims(ops.cast(mask, "float32"), -1)
        inputs_exp = ops.exp(inputs) * broadcast_float_mask
        inputs_sum = ops.sum(inputs_exp * broadcast_float_mask, axis=-1, keepdims=True)
        return inputs_exp / inputs_sum


class MyLayer(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.embedding = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)
        self.lstm = layers.LSTM(32)

    def call(self, inputs):
        x = self.embedding(inputs)
        # Note that you could also prepare a `mask` tensor manually.
        # It only needs to be a boolean tensor
        # with the right shape, i.e. (batch_size, timesteps).
        mask = self.embedding.compute_mask(inputs)
        output = self.lstm(x, mask=mask)  # The layer will ignore the masked values
        return output


def test_guide_passing_mask_tensors_directly_to_layers():
    layer = MyLayer()
    x = np.random.random((32, 10)) * 100
    x = x.astype("int32")
    x[0, 4:] = 0
    out = layer(x)
    assert out.shape == (32, 32)
    np.testing.assert_allclose(out[0], layer.lstm(layer.embedding(x[:1, :4]))[0], rtol=1e-5, atol=1e-7)


def test_guide_custom_layers_that_make_pass_and_consume_masks():
    layer = CustomEmbedding(10, 32, mask_zero=True)
    x = np.random.random((3, 10)) * 9
    x = x.astype("int32")
    y = layer(x)
    mask = layer.compute_mask(x)
    np.testing.assert_array_equal(mask, x != 0)
    assert y.shape == (3, 10)  # ops.take without an axis reads the flattened table, as in Keras

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)(inputs)
    x = MyActivation()(x)  # Will pass the mask along
    outputs = layers.LSTM(32)(x)  # Will receive the mask
    model = keras.Model(inputs, outputs)
    tokens = np.array([[5, 6, 0, 0]])
    lstm, embedding = model.layers[-1], model.layers[1]
    np.testing.assert_allclose(model.predict(tokens, verbose=0),
                               lstm(np.maximum(embedding(tokens[:, :2]), 0)), rtol=1e-5, atol=1e-7)

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=10, output_dim=32, mask_zero=True)(inputs)
    x = layers.Dense(1)(x)
    outputs = TemporalSoftmax()(x)
    model = keras.Model(inputs, outputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TemporalSoftmax drops the mask, as Keras warns
        y = model(np.random.randint(0, 10, size=(32, 100)))
    assert y.shape == (32, 100, 1)


def test_custom_compute_mask_travels_and_a_call_needing_a_mask_says_so():
    inputs = keras.Input(shape=(4,), dtype="int32")
    hidden = layers.Embedding(10, 3, mask_zero=True)(inputs)
    first, second = TemporalSplit()(hidden)
    model = keras.Model(inputs, [layers.GRU(2)(first), layers.GRU(2)(second)])
    tokens = np.array([[1, 2, 3, 0]])
    embedded = model.layers[1](tokens)
    outputs = model.predict(tokens, verbose=0)
    np.testing.assert_allclose(outputs[1], model.layers[-1](embedded[:, 2:3]), rtol=1e-5, atol=1e-7)

    class KeptOnly(keras.layers.Layer):  # its call cannot run without a mask
        def call(self, inputs, mask=None):
            if mask is None:
                raise ValueError("KeptOnly needs a mask")
            return inputs * ops.cast(ops.expand_dims(mask, -1), "float32")

    kept = KeptOnly(name="kept_only")
    with pytest.warns(UserWarning, match="'kept_only' .* does not support masking"):
        masked = keras.Model(inputs, kept(layers.Embedding(10, 3, mask_zero=True)(inputs)))
        out = masked.predict(tokens, verbose=0)
    np.testing.assert_array_equal(out[0, 3], 0)
    assert np.all(out[0, :3] != 0)
    with pytest.raises(ValueError, match=r"'kept_only' \(KeptOnly\): its call computes with its mask argument, "
                                         r"and was called without one"):
        kept(np.ones((1, 4, 3), "float32"))


# ---- against PyTorch's packed sequences (tests/fixtures/torch_masking.npz) -----------------------

TORCH = np.load(os.path.join(FIXTURES, "torch_masking.npz"))


@pytest.mark.parametrize("case", ["simple_rnn", "lstm", "gru"])
def test_right_padded_sequences_match_pytorch_packed_sequences(case):
    """Keras' masking with zero_output_for_mask is PyTorch's pack_padded_sequence: outputs, final
    states and every gradient (float64)."""
    saved = {key.split("/", 1)[1]: TORCH[key] for key in TORCH.files if key.startswith(case + "/")}
    kind = str(saved["kind"])
    x, lengths = saved["x"], saved["lengths"]
    layer = make(kind, saved["kernel"].shape[1] // {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}[kind],
                 return_sequences=True, return_state=True, zero_output_for_mask=True)
    names = layer.state_names
    layer.build_for([(None,) + x.shape[1:]] + [(None, layer.units)] * len(names))
    layer.set_weights([saved["kernel"], saved["recurrent_kernel"], saved["bias"]])
    mask = padded(lengths, x.shape[1], left=False)

    output, *finals = layer.forward([x] + [saved[f"initial_{n}"] for n in names], mask=mask)
    dx, *d_initial = layer.backward([saved["upstream"]] + [saved[f"upstream_{n}"] for n in names])

    np.testing.assert_allclose(output, saved["output"], atol=1e-12)
    np.testing.assert_allclose(dx, saved["d_x"], atol=1e-12)
    for name, final, d in zip(names, finals, d_initial):
        np.testing.assert_allclose(final, saved[f"final_{name}"], atol=1e-12)
        np.testing.assert_allclose(d, saved[f"d_initial_{name}"], atol=1e-12)
    for grad, key in zip(layer.grads, ("d_kernel", "d_recurrent_kernel", "d_bias")):
        np.testing.assert_allclose(grad, saved[key], atol=1e-12)


def test_a_mask_tensor_given_to_a_call_in_a_functional_model_is_used_and_not_written(tmp_path):
    ids = keras.Input((5,), dtype="int32")
    embedding, lstm = layers.Embedding(9, 3), layers.LSTM(2, name="lstm")
    model = keras.Model(ids, lstm(embedding(ids), mask=ops.not_equal(ids, 0)))
    tokens = np.array([[1, 2, 0, 0, 0]])
    np.testing.assert_allclose(model.predict(tokens, verbose=0), lstm(embedding(tokens[:, :2])), rtol=1e-6)
    with pytest.raises(ValueError, match=r"Layer 'lstm' is called with mask= a tensor of the model"):
        model.save(tmp_path / "model.keras")


def test_a_nested_model_uses_the_mask_inside_and_drops_it_with_keras_warning():
    inner = keras.Sequential([keras.Input((4, 3)), layers.SimpleRNN(2, return_sequences=True)], name="inner")
    ids = keras.Input((4,), dtype="int32")
    model = keras.Model(ids, inner(layers.Embedding(9, 3, mask_zero=True)(ids)))
    with pytest.warns(UserWarning, match="Layer 'inner' \\(of type Sequential\\) was passed an input with a mask"):
        out = model.predict(np.array([[1, 2, 0, 0]]), verbose=0)
    np.testing.assert_allclose(out[0, 2:], out[0, 1:2].repeat(2, axis=0))  # held through the padding
    assert model._ran.output_masks == [None]
