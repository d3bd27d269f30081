"""SimpleRNN, LSTM and GRU: backpropagation through time against finite differences (float64,
hypothesis shapes), against PyTorch (tests/fixtures/torch_recurrent.npz), and Keras' own files
(tests/fixtures/keras_recurrent_*): predictions, configs, weights layout, optimizer state and
the next training step; dropout and recurrent dropout under Keras' own fixed masks, and stateful
layers over consecutive calls (keras_recurrent_dropout.npz); then the arguments, outputs and
errors."""
import json
import os
import sys
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keras_fixtures import ATOL, FIXTURES, keras_written_config, weight_group_paths, without_bookkeeping
from model_gradients import assert_weight_gradients_match
from wrapped_layers import Around, with_random_weights

import tinykeras as keras
from tinykeras.functional_config import keras_variables
from tinykeras.kernels import recurrent as cells
from tinykeras.layers import GRU, LSTM, SimpleRNN
from tinykeras.models import load_model
from tinykeras.utils import check_gradients

sys.path.insert(0, FIXTURES)
import make_keras_recurrent_fixture as fixture  # noqa: E402

CLASSES = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU, "GRU_reset_before": GRU}
RESET_BEFORE = {"GRU_reset_before": {"reset_after": False}}

kinds = st.sampled_from(sorted(CLASSES))
shapes = st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3))


def make(kind, units, **kwargs):
    return CLASSES[kind](units, dtype="float64", **RESET_BEFORE.get(kind, {}), **kwargs)


# ---- backpropagation through time ----------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(kind=kinds, shape=shapes, return_sequences=st.booleans(), go_backwards=st.booleans(),
       use_bias=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_gradients_match_finite_differences(kind, shape, return_sequences, go_backwards, use_bias, seed):
    batch, steps, features, units = shape
    rng = np.random.default_rng(seed)
    layer = make(kind, units, return_sequences=return_sequences, go_backwards=go_backwards, use_bias=use_bias)
    with_random_weights(layer, rng, (None, steps, features))

    errors = check_gradients(layer, rng.standard_normal((batch, steps, features)))

    assert set(errors) == {"input", "kernel", "recurrent_kernel"} | ({"bias"} if use_bias else set())


@settings(max_examples=15, deadline=None)
@given(kind=kinds, shape=shapes, return_sequences=st.booleans(), go_backwards=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_gradients_of_initial_states(kind, shape, return_sequences, go_backwards, seed):
    batch, steps, features, units = shape
    rng = np.random.default_rng(seed)
    layer = make(kind, units, return_sequences=return_sequences, go_backwards=go_backwards)
    states = [rng.standard_normal((batch, units)) for _ in layer.state_names]
    with_random_weights(layer, rng, [(None, steps, features)] + [(None, units)] * len(states))

    errors = check_gradients(layer, [rng.standard_normal((batch, steps, features)), *states])

    assert {f"input_{i}" for i in range(1 + len(states))} <= set(errors)


class Joined(Around):
    """A recurrent layer returning its states, its outputs joined on the last axis, so that the
    checker sees one output (the final states' gradients then arrive beside the output's); called
    with ``mask`` if one is given."""

    def __init__(self, inner, mask=None, **kwargs):
        super().__init__(inner, **kwargs)
        self.sequence_mask = mask

    def forward(self, x, training=False):
        outputs = self.inner.forward(x, training, mask=self.sequence_mask)
        self._sizes = [o.shape[-1] for o in outputs]
        self._first = outputs[0].shape
        last = outputs[0] if outputs[0].ndim == 2 else outputs[0][:, -1]
        return np.concatenate([last] + outputs[1:], axis=-1)

    def backward(self, dy):
        parts = np.split(dy, np.cumsum(self._sizes)[:-1], axis=-1)
        first = parts[0] if len(self._first) == 2 else np.zeros(self._first)
        if len(self._first) == 3:
            first[:, -1] = parts[0]
        dx = self.inner.backward([first] + parts[1:])
        self.grads = self.inner.grads
        return dx


@settings(max_examples=15, deadline=None)
@given(kind=kinds, shape=shapes, return_sequences=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_gradients_through_the_returned_states(kind, shape, return_sequences, seed):
    batch, steps, features, units = shape
    rng = np.random.default_rng(seed)
    layer = make(kind, units, return_sequences=return_sequences, return_state=True)
    with_random_weights(layer, rng, (None, steps, features))

    errors = check_gradients(Joined(layer, dtype="float64"), rng.standard_normal((batch, steps, features)))

    assert {"input", "kernel", "recurrent_kernel", "bias"} == set(errors)


@pytest.mark.parametrize("kind", sorted(CLASSES))
@pytest.mark.parametrize("activation", ["softsign", "linear", "sigmoid"])
def test_gradients_with_other_activations(kind, activation):
    rng = np.random.default_rng(5)
    extra = {} if kind == "SimpleRNN" else {"recurrent_activation": "softsign"}
    layer = make(kind, 3, activation=activation, return_sequences=True, **extra)
    with_random_weights(layer, rng, (None, 4, 2))
    check_gradients(layer, rng.standard_normal((2, 4, 2)))


@pytest.mark.parametrize("kind", sorted(CLASSES))
def test_dropout_masks_the_input_features_alike_at_every_step(kind):
    """The same mask for every step of a sequence: the training output equals the inference
    output on the masked input, and the gradients are those of that product."""
    rng = np.random.default_rng(2)
    layer = make(kind, 3, dropout=0.5, seed=4, return_sequences=True)
    with_random_weights(layer, rng, (None, 5, 4))
    x = rng.standard_normal((3, 5, 4))
    input_masks, recurrent_masks = layer._dropout_masks(3, 4, np.float64)
    assert len(input_masks) == 1 and recurrent_masks is None
    mask = input_masks[0]
    assert set(np.unique(mask)) <= {0.0, 2.0} and 0 < mask.mean() < 2
    layer._dropout_masks = lambda *shape: ([mask], None)

    np.testing.assert_allclose(layer.forward(x, training=True), layer.forward(x * mask[:, None, :]), rtol=1e-12)
    check_gradients(layer, x, training=True)
    np.testing.assert_array_equal(layer.forward(x), layer.forward(x, training=False))


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def keras_cell_steps(kind, x, weights, input_masks, recurrent_masks):
    """The outputs of every step by the equations of Keras 3's cells with per-gate dropout
    (``implementation=1``; SimpleRNN's single masks), written out one gate at a time: each
    gate's block of the kernels multiplies its own dropped copy of x_t and of h_{t-1}."""
    kernel, recurrent_kernel, bias = weights
    gates = kernel.shape[1] // recurrent_kernel.shape[0]
    units = recurrent_kernel.shape[0]

    def block(w, g):
        return w[..., g * units:(g + 1) * units]

    def mask(masks, g):
        return 1 if masks is None else masks[min(g, len(masks) - 1)]

    h = np.zeros((x.shape[0], units))
    c = np.zeros_like(h)
    outputs = []
    for t in range(x.shape[1]):
        xs = [(x[:, t] * mask(input_masks, g)) @ block(kernel, g) for g in range(gates)]
        hs = [h * mask(recurrent_masks, g) for g in range(gates)]
        if kind == "SimpleRNN":
            h = np.tanh(xs[0] + bias + hs[0] @ recurrent_kernel)
        elif kind == "LSTM":
            z = [xs[g] + block(bias, g) + hs[g] @ block(recurrent_kernel, g) for g in range(4)]
            c = sigmoid(z[1]) * c + sigmoid(z[0]) * np.tanh(z[2])
            h = sigmoid(z[3]) * np.tanh(c)
        elif kind == "GRU":  # reset_after: two biases
            xs = [xs[g] + block(bias[0], g) for g in range(3)]
            rec = [hs[g] @ block(recurrent_kernel, g) + block(bias[1], g) for g in range(3)]
            update, reset = sigmoid(xs[0] + rec[0]), sigmoid(xs[1] + rec[1])
            candidate = np.tanh(xs[2] + reset * rec[2])
            h = update * h + (1 - update) * candidate
        else:  # GRU_reset_before
            xs = [xs[g] + block(bias, g) for g in range(3)]
            update = sigmoid(xs[0] + hs[0] @ block(recurrent_kernel, 0))
            reset = sigmoid(xs[1] + hs[1] @ block(recurrent_kernel, 1))
            candidate = np.tanh(xs[2] + (reset * hs[2]) @ block(recurrent_kernel, 2))
            h = update * h + (1 - update) * candidate
        outputs.append(h)
    return np.stack(outputs, axis=1)


def fixed_masks(layer, batch, features, dropout=True):
    """Draws the layer's masks for one training call and makes every later call use them."""
    input_masks, recurrent_masks = layer._dropout_masks(batch, features, np.float64)
    input_masks = input_masks if dropout else None
    layer._dropout_masks = lambda *shape: (input_masks, recurrent_masks)
    return input_masks, recurrent_masks


KERAS_DROPOUT = np.load(os.path.join(FIXTURES, "keras_recurrent_dropout.npz"), allow_pickle=False)


def keras_case(kind):
    """The layer of a case of keras_recurrent_dropout.npz, with Keras' weights, and its input."""
    stored = {key.split("/", 1)[1]: KERAS_DROPOUT[key] for key in KERAS_DROPOUT.files if key.startswith(kind + "/")}
    weights = [stored[f"weight_{i}"] for i in range(sum(k.startswith("weight_") for k in stored))]
    return stored, weights


@pytest.mark.parametrize("kind", sorted(CLASSES))
def test_dropout_and_recurrent_dropout_equal_keras_under_the_same_masks(kind):
    """Keras 3 itself in training, its cells given fixed masks (tests/fixtures): the same masks
    in tinykeras give the same output sequences; without them the outputs differ."""
    stored, weights = keras_case(kind)
    layer = CLASSES[kind](4, dropout=0.3, recurrent_dropout=0.4, return_sequences=True, **RESET_BEFORE.get(kind, {}))
    layer.build_for((None,) + stored["x"].shape[1:])
    layer.set_weights(weights)
    gates = sum(k.startswith("input_mask_") for k in stored)
    masks = ([stored[f"input_mask_{g}"] for g in range(gates)], [stored[f"recurrent_mask_{g}"] for g in range(gates)])
    assert len(layer._dropout_masks(3, 2, np.float32)[1]) == gates
    layer._dropout_masks = lambda *shape: masks
    np.testing.assert_allclose(layer.forward(stored["x"], training=True), stored["y"], rtol=1e-5, atol=1e-5)
    assert not np.allclose(layer.forward(stored["x"]), stored["y"], atol=1e-3)


@pytest.mark.parametrize("kind", sorted(CLASSES))
def test_a_stateful_layer_equals_keras_over_consecutive_calls(kind):
    stored, weights = keras_case(kind)
    layer = CLASSES[kind](4, stateful=True, return_sequences=True, **RESET_BEFORE.get(kind, {}))
    layer.build_for((None,) + stored["x"].shape[1:])
    layer.set_weights(weights)
    for call, chunk in enumerate((stored["x"][:, :3], stored["x"][:, 3:])):
        np.testing.assert_allclose(layer(chunk), stored[f"stateful_y_{call}"], rtol=1e-5, atol=1e-5)
    for i, state in enumerate(layer.states):
        np.testing.assert_allclose(state.numpy(), stored[f"stateful_state_{i}"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", sorted(CLASSES))
def test_recurrent_dropout_follows_keras_cells(kind):
    """With recurrent_dropout, each gate sees h_{t-1} through its own mask (and x_t through its
    own with dropout), the masks shared by every step; the output and states are not dropped.
    Inference ignores both rates."""
    rng = np.random.default_rng(11)
    layer = make(kind, 4, dropout=0.3, recurrent_dropout=0.4, seed=5, return_sequences=True)
    with_random_weights(layer, rng, (None, 6, 3))
    x = rng.standard_normal((5, 6, 3))
    input_masks, recurrent_masks = fixed_masks(layer, 5, 3)
    count = 1 if kind == "SimpleRNN" else layer.gates
    assert layer.implementation == (2 if kind == "SimpleRNN" else 1) or kind == "SimpleRNN"
    assert len(input_masks) == len(recurrent_masks) == count
    assert all(m.shape == (5, 3) for m in input_masks) and all(m.shape == (5, 4) for m in recurrent_masks)
    for m in recurrent_masks:
        assert set(np.unique(m)) <= {0.0, 1 / 0.6}
    if count > 1:  # drawn independently
        assert not np.array_equal(recurrent_masks[0], recurrent_masks[1])

    expected = keras_cell_steps(kind.split("_")[0] if kind == "GRU" else kind, x, layer.get_weights(),
                                input_masks, recurrent_masks)
    np.testing.assert_allclose(layer.forward(x, training=True), expected, rtol=1e-12, atol=1e-12)
    undropped = keras_cell_steps(kind, x, layer.get_weights(), None, None)
    np.testing.assert_allclose(layer.forward(x), undropped, rtol=1e-12, atol=1e-12)
    assert not np.allclose(expected, undropped)


@settings(max_examples=20, deadline=None)
@given(kind=kinds, shape=shapes, dropout=st.booleans(), go_backwards=st.booleans(), masked=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_gradients_with_recurrent_dropout_match_finite_differences(kind, shape, dropout, go_backwards, masked, seed):
    """Backpropagation through the dropped recurrent products (fixed masks; with input dropout
    or without, a sequence mask or none, and the returned states)."""
    batch, steps, features, units = shape
    rng = np.random.default_rng(seed)
    layer = make(kind, units, dropout=0.5, recurrent_dropout=0.5, seed=seed % 1000, go_backwards=go_backwards,
                 return_sequences=True, return_state=True)
    with_random_weights(layer, rng, (None, steps, features))
    fixed_masks(layer, batch, features, dropout)
    mask = rng.random((batch, steps)) < 0.7 if masked else None
    errors = check_gradients(Joined(layer, mask, dtype="float64"), rng.standard_normal((batch, steps, features)),
                             training=True)
    assert {"input", "kernel", "recurrent_kernel", "bias"} == set(errors)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "GRU_reset_before"])
def test_implementation_1_draws_an_input_mask_per_gate(kind):
    """As in Keras: implementation=1 with dropout alone gives each gate its own input mask;
    implementation 2 (the default) one mask for all."""
    per_gate = make(kind, 3, dropout=0.5, seed=1, implementation=1)
    assert per_gate.implementation == 1
    input_masks, recurrent_masks = per_gate._dropout_masks(4, 2, np.float64)
    assert len(input_masks) == per_gate.gates and recurrent_masks is None
    shared = make(kind, 3, dropout=0.5, seed=1)
    assert shared.implementation == 2 and len(shared._dropout_masks(4, 2, np.float64)[0]) == 1
    rng = np.random.default_rng(4)
    with_random_weights(per_gate, rng, (None, 3, 2))
    x = rng.standard_normal((4, 3, 2))
    input_masks, _ = fixed_masks(per_gate, 4, 2)
    expected = keras_cell_steps(kind, x, per_gate.get_weights(), input_masks, None)[:, -1]
    np.testing.assert_allclose(per_gate.forward(x, training=True), expected, rtol=1e-12, atol=1e-12)
    check_gradients(per_gate, x, training=True)


def test_recurrent_dropout_trains_in_a_model_and_repeats_under_a_seed():
    """An LSTM with dropout and recurrent_dropout in fit: the loss falls, and the same seed gives
    the same weights."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 8, 3)).astype("float32")
    y = (x[:, :, 0].sum(axis=1) > 0).astype("float32")

    def train():
        keras.utils.set_random_seed(3)
        model = keras.Sequential([keras.Input((8, 3)), LSTM(8, dropout=0.2, recurrent_dropout=0.2),
                                  keras.layers.Dense(1, activation="sigmoid")])
        model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy")
        history = model.fit(x, y, batch_size=16, epochs=20, verbose=0)
        return history.history["loss"], model.get_weights()

    loss, weights = train()
    assert loss[-1] < 0.6 * loss[0]
    again, same = train()
    assert again == loss
    for a, b in zip(weights, same, strict=True):
        np.testing.assert_array_equal(a, b)


# ---- stateful layers -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(CLASSES))
def test_a_stateful_layer_continues_each_sequence_from_the_call_before(kind):
    """Calls on consecutive chunks of the sequences give what one call on the whole sequences
    gives; reset_states() starts again from zeros; another batch size is refused."""
    rng = np.random.default_rng(8)
    stateful = make(kind, 4, stateful=True, return_sequences=True, return_state=True)
    with_random_weights(stateful, rng, (None, 9, 3))
    whole = make(kind, 4, return_sequences=True, return_state=True)
    whole.build_for((None, 9, 3))
    whole.set_weights(stateful.get_weights())
    assert stateful.states is None and len(stateful.get_weights()) == len(whole.get_weights())
    x = rng.standard_normal((5, 9, 3))

    first, second = stateful(x[:, :4]), stateful(x[:, 4:])
    expected = whole(x)
    np.testing.assert_allclose(np.concatenate([first[0], second[0]], axis=1), expected[0], rtol=1e-12, atol=1e-12)
    for state, final, carried in zip(second[1:], expected[1:], stateful.states, strict=True):
        np.testing.assert_allclose(state, final, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(carried.numpy(), state)
    stateful.reset_states()
    assert not any(state.numpy().any() for state in stateful.states)
    np.testing.assert_allclose(stateful(x[:, :4])[0], first[0], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"stateful: its states continue 5 sequences, and it received a batch of 2"):
        stateful(x[:2, :4])


class FromStates(Around):
    """A stateful layer whose carried states are set to ``states`` before every forward pass,
    so that the checker's repeated passes all start from them."""

    def __init__(self, inner, states, **kwargs):
        super().__init__(inner, **kwargs)
        self.start = states

    def forward(self, x, training=False):
        for state, value in zip(self.inner.states, self.start, strict=True):
            state.assign(value)
        return self.inner.forward(x, training)


@pytest.mark.parametrize("kind", sorted(CLASSES))
def test_gradients_of_a_stateful_layer_hold_its_carried_states_constant(kind):
    rng = np.random.default_rng(9)
    layer = make(kind, 3, stateful=True, return_sequences=True)
    with_random_weights(layer, rng, (None, 4, 2))
    x = rng.standard_normal((2, 4, 2))
    layer(x)  # makes the states for batches of 2
    start = [rng.standard_normal((2, 3)) for _ in layer.state_names]
    errors = check_gradients(FromStates(layer, start, dtype="float64"), x)
    assert set(errors) == {"input", "kernel", "recurrent_kernel", "bias"}


def test_a_declared_batch_size_makes_the_states_when_the_model_is_built():
    inputs = keras.Input((6, 2), batch_size=3)
    lstm = LSTM(4, stateful=True)
    keras.Model(inputs, lstm(inputs))
    assert [state.shape for state in lstm.states] == [(3, 4), (3, 4)]
    with pytest.raises(ValueError, match="its states continue 3 sequences, and it received a batch of 2"):
        lstm(np.zeros((2, 6, 2)))


def test_the_keras_2_stateful_tutorial_loop_fits_and_predicts_batch_by_batch():
    """Sequential with batch_input_shape and a stateful LSTM, fit one epoch at a time without
    shuffling and reset_states() between epochs, predict with the same batch size (Keras 2's
    time-series tutorial). fit carries the states from batch to batch: with a learning rate of
    0, the states after an epoch are the layer's after the same batches in turn."""
    series = np.sin(np.arange(40) / 3)[:, None]
    x = np.stack([series[i:i + 3] for i in range(36)])  # (36, 3, 1)
    y = series[3:39, 0]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([LSTM(4, batch_input_shape=(4, 3, 1), stateful=True), keras.layers.Dense(1)])
    lstm = model.layers[0]
    model.compile(loss="mean_squared_error", optimizer=keras.optimizers.SGD(0.0))
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    after_fit = [state.numpy() for state in lstm.states]
    model.reset_states()
    assert not any(state.numpy().any() for state in lstm.states)
    for start in range(0, 36, 4):
        lstm(x[start:start + 4].astype("float32"))
    for ours, expected in zip(after_fit, lstm.states, strict=True):
        np.testing.assert_allclose(ours, expected.numpy(), rtol=1e-6, atol=1e-6)

    model.compile(loss="mean_squared_error", optimizer=keras.optimizers.Adam(0.01))
    losses = []
    for _ in range(30):
        losses.append(model.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False).history["loss"][0])
        model.reset_states()
    assert losses[-1] < 0.2 * losses[0], losses
    assert model.predict(x, batch_size=4, verbose=0).shape == (36, 1)
    with pytest.raises(ValueError, match="batch_size=4, with a number of samples divisible by it"):
        model.predict(x[:6], batch_size=4, verbose=0)


def test_reset_states_reaches_nested_models_and_bidirectional_layers():
    inner = keras.Sequential([keras.Input(batch_shape=(2, 5, 3)), keras.layers.Bidirectional(GRU(3, stateful=True))])
    model = keras.Sequential([keras.Input(batch_shape=(2, 5, 3)), inner, keras.layers.Dense(1)])
    wrapper = inner.layers[0]
    assert wrapper.stateful
    model.predict(np.ones((2, 5, 3)), verbose=0)
    assert all(state.numpy().any() for state in wrapper.states)
    model.reset_states()
    assert not any(state.numpy().any() for state in wrapper.states)
    with pytest.raises(AttributeError, match="reset_state needs a stateful layer"):
        keras.layers.Bidirectional(GRU(3)).reset_state()


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "GRU_reset_before"])
@pytest.mark.parametrize("dtype, tolerance", [("float32", 2e-6), ("float64", 1e-13)])
def test_fused_steps_match_the_numpy_steps(kind, dtype, tolerance, monkeypatch):
    """The kernels of kernels.recurrent (default activations) against the layer's NumPy steps
    (any activations): outputs, final states and every gradient, from given initial states."""
    rng = np.random.default_rng(0)
    layer = CLASSES[kind](5, return_sequences=True, return_state=True, dtype=dtype, **RESET_BEFORE.get(kind, {}))
    states = [rng.standard_normal((6, 5)).astype(dtype) for _ in layer.state_names]
    layer.build_for([(None, 7, 3)] + [(None, 5)] * len(states))
    layer.set_weights([rng.standard_normal(w.shape).astype(dtype) for w in layer.get_weights()])
    x = rng.standard_normal((6, 7, 3)).astype(dtype)
    upstream = [rng.standard_normal(s).astype(dtype) for s in [(6, 7, 5)] + [(6, 5)] * len(states)]

    def run():
        outputs = layer.forward([x, *states])
        return [*outputs, *layer.backward(upstream), *layer.grads]

    fused = run()
    monkeypatch.setattr(cells, "FUSED", False)
    reference = run()
    for ours, theirs in zip(fused, reference, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=tolerance, atol=tolerance)


def test_model_weight_gradients_with_states_between_layers(float64):
    """An LSTM's returned states start a GRU (through a Dense) and another LSTM, in a model."""
    sequences = keras.Input(shape=(None, 2))
    outputs, h, c = LSTM(3, return_sequences=True, return_state=True)(sequences)
    summary = GRU(2, go_backwards=True)(outputs, initial_state=[keras.layers.Dense(2)(h)])
    decoded = LSTM(3)(outputs, initial_state=[h, c])
    model = keras.Model(sequences, keras.layers.Dense(2, activation="softmax")(keras.layers.Concatenate()([summary, decoded])))
    model.compile("sgd", "categorical_crossentropy")
    rng = np.random.default_rng(1)
    assert_weight_gradients_match(model, rng.standard_normal((3, 4, 2)), np.eye(2)[[0, 1, 1]])


# ---- against PyTorch ---------------------------------------------------------------------------

TORCH = np.load(os.path.join(FIXTURES, "torch_recurrent.npz"), allow_pickle=False)
TORCH_CASES = sorted({key.split("/")[0] for key in TORCH.files if "/" in key})


@pytest.mark.parametrize("case", TORCH_CASES)
def test_outputs_and_gradients_match_pytorch(case):
    def stored(key):
        return TORCH[f"{case}/{key}"]

    kind, x = str(stored("kind")), stored("x")
    units = stored("recurrent_kernel").shape[0]
    layer = CLASSES[kind](units, return_sequences=bool(stored("return_sequences")),
                          go_backwards=bool(stored("go_backwards")), dtype="float64")
    states = [stored(f"initial_{name}") for name in layer.state_names]
    layer.build_for([(None,) + x.shape[1:]] + [(None, units)] * len(states))
    layer.set_weights([stored("kernel"), stored("recurrent_kernel"), stored("bias")])

    output = layer([x, *states])
    d_x, *d_states = layer.backward(stored("upstream"))

    np.testing.assert_allclose(output, stored("output"), rtol=0, atol=1e-13)
    np.testing.assert_allclose(d_x, stored("d_x"), rtol=0, atol=1e-13)
    for name, grad in zip(("kernel", "recurrent_kernel", "bias"), layer.grads):
        np.testing.assert_allclose(grad, stored(f"d_{name}"), rtol=0, atol=1e-13)
    for name, grad in zip(layer.state_names, d_states):
        np.testing.assert_allclose(grad, stored(f"d_initial_{name}"), rtol=0, atol=1e-13)


# ---- Keras' files ------------------------------------------------------------------------------

MODELS = sorted(fixture.MODELS)


def keras_saved(name):
    with np.load(os.path.join(FIXTURES, f"keras_recurrent_{name}.npz"), allow_pickle=False) as data:
        saved = dict(data)
    return saved, [saved[f"x_{i}"] for i in range(sum(k.startswith("x_") for k in saved))]


def numbered(saved, prefix):
    return [saved[f"{prefix}{i}"] for i in range(sum(k.startswith(prefix) for k in saved))]


@pytest.mark.parametrize("name", MODELS)
def test_keras_model_file_predicts_like_keras_and_trains_on_like_it(name):
    saved, x = keras_saved(name)
    model = load_model(os.path.join(FIXTURES, f"keras_recurrent_{name}.keras"))

    for ours, theirs in zip(fixture.predictions(model, x), numbered(saved, "y_"), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)
    for ours, theirs in zip(keras.saving.keras_optimizer_state(model), numbered(saved, "state_"), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    model.train_on_batch(*(fixture._one_or_list(part) for part in fixture.batch(name)))
    for variable, theirs in zip(keras_variables(model), numbered(saved, "next_"), strict=True):
        np.testing.assert_allclose(variable.value, theirs, rtol=0, atol=ATOL)


@pytest.mark.parametrize("name", MODELS)
def test_keras_weights_file_loads_into_the_model_built_here(name, tmp_path):
    saved, x = keras_saved(name)
    path = os.path.join(FIXTURES, f"keras_recurrent_{name}.weights.h5")
    model = fixture.MODELS[name](keras)

    model.load_weights(path)
    model.save_weights(tmp_path / "ours.weights.h5")

    for ours, theirs in zip(fixture.predictions(model, x), numbered(saved, "y_"), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)
    assert weight_group_paths(tmp_path / "ours.weights.h5") == weight_group_paths(path)


@pytest.mark.parametrize("name", MODELS)
def test_config_is_the_one_keras_wrote(name, tmp_path):
    path = os.path.join(FIXTURES, f"keras_recurrent_{name}.keras")
    written_by_keras = keras_written_config(path)

    model = load_model(path)
    model.save(tmp_path / "again.keras")

    assert keras.saving.serialize_model(model) == written_by_keras
    assert keras.saving.serialize_model(load_model(tmp_path / "again.keras")) == written_by_keras


def test_models_built_here_save_what_keras_saves(tmp_path):
    """Built here from the same code, each model's config is Keras' (once the names Keras gave
    its automatically named layers are read back)."""
    for name in MODELS:
        keras.backend.clear_session()
        model = fixture.compiled(keras, name)
        entries = keras.saving.serialize_model(model)["config"]["layers"]
        with zipfile.ZipFile(os.path.join(FIXTURES, f"keras_recurrent_{name}.keras")) as archive:
            theirs = without_bookkeeping(json.loads(archive.read("config.json")))["config"]["layers"]
        assert [(e["class_name"], e["config"].get("name")) for e in entries] == [
            (e["class_name"], e["config"].get("name")) for e in theirs]
        assert [e["config"] for e in entries] == [e["config"] for e in theirs]


def test_non_default_arguments_round_trip_through_keras_and_h5_files(tmp_path):
    model = keras.Sequential([
        keras.Input(shape=(5,), dtype="int32"),
        keras.layers.Embedding(9, 3, embeddings_initializer="he_normal", embeddings_regularizer="l2"),
        SimpleRNN(4, activation="relu", dropout=0.2, seed=1, return_sequences=True, kernel_regularizer="l1"),
        GRU(3, reset_after=False, recurrent_activation="softsign", go_backwards=True, return_sequences=True,
            bias_constraint="non_neg", unroll=True),
        LSTM(2, unit_forget_bias=False, use_bias=False, recurrent_initializer="glorot_normal"),
    ])
    model.compile("adam", "mse")
    x = np.random.default_rng(0).integers(0, 9, (4, 5)).astype(np.int32)
    for extension in (".keras", ".h5"):
        model.save(tmp_path / f"m{extension}")
        loaded = load_model(tmp_path / f"m{extension}")
        assert loaded.get_config() == model.get_config()
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_variable_length_sequences_share_one_model():
    model = fixture.embedding_lstm(keras)
    rng = np.random.default_rng(0)
    for steps in (1, 4, 9):
        assert model.predict(rng.integers(0, 20, (3, steps)).astype(np.int32), verbose=0).shape == (3, 3)


# ---- outputs and arguments ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(CLASSES))
def test_go_backwards_reads_the_reversed_sequence_and_returns_outputs_in_processing_order(kind):
    rng = np.random.default_rng(0)
    forward = make(kind, 3, return_sequences=True)
    backward = make(kind, 3, return_sequences=True, go_backwards=True)
    with_random_weights(forward, rng, (None, 5, 2))
    backward.build_for((None, 5, 2))
    backward.set_weights(forward.get_weights())
    x = rng.standard_normal((2, 5, 2))
    np.testing.assert_allclose(backward(x), forward(x[:, ::-1]), rtol=1e-12)


def test_return_state_gives_the_output_and_each_state():
    rng = np.random.default_rng(0)
    lstm = LSTM(4, return_sequences=True, return_state=True)
    sequence, h, c = lstm(rng.standard_normal((2, 3, 5)).astype(np.float32))
    assert sequence.shape == (2, 3, 4) and h.shape == c.shape == (2, 4)
    np.testing.assert_array_equal(sequence[:, -1], h)
    output, state = GRU(3, return_state=True)(rng.standard_normal((2, 3, 5)))
    np.testing.assert_array_equal(output, state)


def test_a_sequential_refuses_a_layer_after_one_returning_states():
    with pytest.raises(ValueError, match=r"Layer 'dense' \(Dense\) follows a layer giving 3 outputs .*functional API"):
        keras.Sequential([keras.Input(shape=(5, 3)), LSTM(4, return_state=True), keras.layers.Dense(2)])


def test_summary_rows_as_keras_prints_them():
    """Rows Keras 3.15.1 printed for the same model (line_length=108)."""
    lines = []
    fixture.encoder_decoder(keras).summary(line_length=108, print_fn=lines.append)
    for row in [
        "│ encoder (LSTM)                │ [(None, 6), (None, 6),    │             240 │ source[0][0]               │",
        "│                               │ (None, 6)]                │                 │                            │",
        "│ decoder (LSTM)                │ (None, None, 6)           │             216 │ target[0][0],              │",
        "│                               │                           │                 │ encoder[0][2]              │",
        "│ summary (GRU)                 │ (None, 4)                 │              96 │ target[0][0], bridge[0][0] │",
    ]:
        assert row in lines


def test_weights_shapes_order_and_initial_values_are_keras():
    lstm = LSTM(3)
    lstm.build_for((None, 4, 2))
    assert [(v.path, v.shape) for v in lstm.weights] == [
        ("lstm/lstm_cell/kernel", (2, 12)), ("lstm/lstm_cell/recurrent_kernel", (3, 12)), ("lstm/lstm_cell/bias", (12,))]
    np.testing.assert_array_equal(lstm.bias.value, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])  # unit_forget_bias
    recurrent_kernel = lstm.recurrent_kernel.value
    np.testing.assert_allclose(recurrent_kernel @ recurrent_kernel.T, np.eye(3), atol=1e-6)  # orthogonal rows
    gru = GRU(3)
    gru.build_for((None, 4, 2))
    assert [v.shape for v in gru.weights] == [(2, 9), (3, 9), (2, 9)]
    before = GRU(3, reset_after=False)
    before.build_for((None, 4, 2))
    assert before.bias.shape == (9,)
    assert LSTM(3, unit_forget_bias=False).get_config()["unit_forget_bias"] is False


def test_orthogonal_initializer_as_keras_defines_it():
    wide = keras.initializers.Orthogonal(seed=1)((3, 8))
    np.testing.assert_allclose(wide @ wide.T, np.eye(3), atol=1e-6)  # orthonormal rows
    tall = keras.initializers.get("orthogonal")((2, 3, 4), dtype="float64").reshape(6, 4)
    np.testing.assert_allclose(tall.T @ tall, np.eye(4), atol=1e-12)  # orthonormal columns
    scaled = keras.initializers.Orthogonal(gain=2.0, seed=1)((3, 8))
    np.testing.assert_allclose(scaled, 2 * wide, rtol=1e-6)
    assert keras.initializers.serialize(keras.initializers.Orthogonal()) == {
        "class_name": "Orthogonal", "config": {"seed": None, "gain": 1.0}}
    with pytest.raises(ValueError, match="at least two axes"):
        keras.initializers.Orthogonal()((4,))


@pytest.mark.parametrize("kind", sorted(CLASSES))
def test_config_round_trips(kind):
    layer = CLASSES[kind](5, return_sequences=True, go_backwards=True, dropout=0.25, recurrent_dropout=0.1, seed=3,
                          stateful=True, activation="relu", kernel_regularizer="l2", **RESET_BEFORE.get(kind, {}))
    rebuilt = type(layer).from_config(layer.get_config())
    assert rebuilt.get_config() == layer.get_config()


@pytest.mark.parametrize("arguments, error, message", [
    ({"units": 0}, ValueError, "LSTM: units must be a positive integer"),
    ({"units": 3, "recurrent_dropout": 1.0}, ValueError, r"LSTM: recurrent_dropout must be in \[0, 1\)"),
    ({"units": 3, "implementation": 3}, ValueError, "LSTM: implementation must be 1 or 2. Received: implementation=3"),
    ({"units": 3, "dropout": 1.0}, ValueError, r"LSTM: dropout must be in \[0, 1\)"),
    ({"units": 3, "return_state": True, "activity_regularizer": "l2"}, ValueError, "activity_regularizer with return_state"),
])
def test_unsupported_or_invalid_arguments_are_named(arguments, error, message):
    with pytest.raises(error, match=message):
        LSTM(**arguments)


def test_keras_only_call_arguments_are_accepted_and_a_mask_of_another_shape_refused():
    assert LSTM(3, implementation=1, use_cudnn="auto", unroll=True).unroll
    with pytest.raises(ValueError, match=r"Layer 'gru' \(GRU\) received a mask of shape \(1, 3\)"):
        GRU(3, name="gru")(np.zeros((1, 2, 3)), mask=np.ones((1, 3), bool))


@pytest.mark.parametrize("shape, message", [
    ((None, 5), r"expects inputs of shape \(batch, timesteps, features\); received input_shape=\(None, 5\)"),
    ((None, 4, None), "needs the feature axis"),
])
def test_input_shapes_are_checked(shape, message):
    with pytest.raises(ValueError, match=message):
        SimpleRNN(3, name="rnn").build_for(shape)


def test_initial_states_and_sequences_are_checked():
    lstm = LSTM(3, name="lstm")
    x = np.zeros((2, 4, 5), np.float32)
    with pytest.raises(ValueError, match=r"has 2 state\(s\) \(h, c\); initial_state holds 1"):
        lstm(x, initial_state=[np.zeros((2, 3))])
    with pytest.raises(ValueError, match=r"the initial state c must have shape \(batch, 3\); received \(None, 4\)"):
        lstm(x, initial_state=[np.zeros((2, 3)), np.zeros((2, 4))])
    lstm(x)
    with pytest.raises(ValueError, match="the initial state h has 1 rows; the batch has 2"):
        lstm(x, initial_state=[np.zeros((1, 3)), np.zeros((1, 3))])
    with pytest.raises(ValueError, match="0 timesteps"):
        lstm(np.zeros((2, 0, 5), np.float32))
    with pytest.raises(ValueError, match=r"built for inputs of shape \(batch, timesteps, 5\); received \(2, 4, 6\)"):
        lstm.forward(np.zeros((2, 4, 6), np.float32))


def test_a_keras_file_with_a_stateful_gru_and_recurrent_dropout_loads(tmp_path):
    """Keras' file with its GRU made stateful, with recurrent dropout: the loaded layer keeps
    both, and predict carries the states from one call to the next until reset_states()."""
    path = os.path.join(FIXTURES, "keras_recurrent_stacked_sequential.keras")
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    gru_config = next(e for e in config["config"]["layers"] if e["class_name"] == "GRU")["config"]
    gru_config.update(stateful=True, recurrent_dropout=0.3)
    members["config.json"] = json.dumps(config)
    with zipfile.ZipFile(tmp_path / "edited.keras", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    model = load_model(tmp_path / "edited.keras")
    gru = next(layer for layer in model.layers if isinstance(layer, GRU))
    assert gru.stateful and gru.recurrent_dropout == 0.3 and gru.implementation == 1
    x = np.random.default_rng(0).integers(0, 20, (2,) + tuple(model.input_shape[1:]))  # ids for its Embedding
    first = model.predict(x, verbose=0)
    assert not np.allclose(model.predict(x, verbose=0), first)
    model.reset_states()
    np.testing.assert_allclose(model.predict(x, verbose=0), first, rtol=1e-6)
