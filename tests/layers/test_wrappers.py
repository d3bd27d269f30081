"""Bidirectional and TimeDistributed: backward passes against finite differences (float64,
hypothesis shapes), Bidirectional against PyTorch (tests/fixtures/torch_bidirectional.npz), Keras'
own files (tests/fixtures/keras_wrappers_*: predictions, configs, weights layout, optimizer state
and the next training step, both ways), then names, weights, summaries, arguments and errors."""
import json
import os
import sys
import zipfile

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keras_fixtures import ATOL, FIXTURES, keras_written_config, weight_group_paths, without_bookkeeping
from test_masking import WithMask
from wrapped_layers import Around, with_random_weights

import tinykeras as keras
from tinykeras.functional_config import keras_variables
from tinykeras.layers import (
    GRU,
    LSTM,
    BatchNormalization,
    Bidirectional,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    SimpleRNN,
    TimeDistributed,
)
from tinykeras.models import load_model
from tinykeras.utils import check_gradients

sys.path.insert(0, FIXTURES)
import make_keras_wrappers_fixture as fixture  # noqa: E402

RECURRENT = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}
merge_modes = st.sampled_from(["concat", "sum", "mul", "ave"])
kinds = st.sampled_from(sorted(RECURRENT))
shapes = st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3))


class Flattened(Around):
    """A layer giving several outputs, seen as one: each flattened per sample and joined, so that
    the gradient checker sees one output (the gradients of all arrive together)."""

    def forward(self, x, training=False):
        outputs = self.inner.forward(x, training)
        self._shapes = [o.shape for o in outputs]
        return np.concatenate([o.reshape(len(o), -1) for o in outputs], axis=-1)

    def backward(self, dy):
        sizes = [int(np.prod(shape[1:])) for shape in self._shapes]
        parts = np.split(dy, np.cumsum(sizes)[:-1], axis=-1)
        dx = self.inner.backward([part.reshape(shape) for part, shape in zip(parts, self._shapes)])
        self.grads = self.inner.grads
        return dx


def weight_keys(layer):
    """The names check_gradients gives the layer's weights: their names, or paths when names repeat."""
    names = [v.name for v in layer.trainable_weights]
    return {v.name if names.count(v.name) == 1 else v.path for v in layer.trainable_weights}


# ---- Bidirectional: backward ---------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(kind=kinds, shape=shapes, merge_mode=merge_modes, return_sequences=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_bidirectional_gradients_match_finite_differences(kind, shape, merge_mode, return_sequences, seed):
    batch, steps, features, units = shape
    rng = np.random.default_rng(seed)
    layer = Bidirectional(RECURRENT[kind](units, return_sequences=return_sequences, dtype="float64"),
                          merge_mode=merge_mode, dtype="float64")
    with_random_weights(layer, rng, (None, steps, features))

    errors = check_gradients(layer, rng.standard_normal((batch, steps, features)))

    assert set(errors) == {"input"} | weight_keys(layer)
    assert len(weight_keys(layer)) == 6


@settings(max_examples=15, deadline=None)
@given(kind=kinds, shape=shapes, merge_mode=st.sampled_from(["concat", "mul", None]),
       return_sequences=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_bidirectional_gradients_through_initial_and_returned_states(kind, shape, merge_mode, return_sequences, seed):
    batch, steps, features, units = shape
    rng = np.random.default_rng(seed)
    layer = Bidirectional(RECURRENT[kind](units, return_sequences=return_sequences, return_state=True, dtype="float64"),
                          merge_mode=merge_mode, dtype="float64")
    states = [rng.standard_normal((batch, units)) for _ in range(2 * len(layer.forward_layer.state_names))]
    with_random_weights(layer, rng, [(None, steps, features)] + [(None, units)] * len(states))

    x = rng.standard_normal((batch, steps, features))
    errors = check_gradients(Flattened(layer, dtype="float64"), [x, *states])

    assert set(errors) == {f"input_{i}" for i in range(1 + len(states))} | weight_keys(layer)


def test_a_direction_without_gradient_gets_zeros():
    rng = np.random.default_rng(0)
    layer = with_random_weights(Bidirectional(LSTM(3, dtype="float64"), merge_mode=None, dtype="float64"),
                                rng, (None, 4, 2))
    x = rng.standard_normal((2, 4, 2))
    forward_output, _ = layer(x)
    dx = layer.backward([np.ones_like(forward_output), None])
    np.testing.assert_array_equal(layer.grads[3], 0)  # the backward layer's kernel
    layer.forward_layer.forward(x)
    np.testing.assert_allclose(dx, layer.forward_layer.backward(np.ones_like(forward_output)), rtol=1e-12)


# ---- Bidirectional against PyTorch -------------------------------------------------------------

TORCH = np.load(os.path.join(FIXTURES, "torch_bidirectional.npz"), allow_pickle=False)
TORCH_CASES = sorted({key.split("/")[0] for key in TORCH.files if "/" in key})


@pytest.mark.parametrize("case", TORCH_CASES)
def test_bidirectional_outputs_and_gradients_match_pytorch(case):
    def stored(key):
        return TORCH[f"{case}/{key}"]

    kind, x = str(stored("kind")), stored("x")
    units = stored("recurrent_kernel").shape[0]
    layer = Bidirectional(RECURRENT[kind](units, return_sequences=bool(stored("return_sequences")), dtype="float64"),
                          dtype="float64")
    states = [stored(f"initial_{i}") for i in range(2 * len(layer.forward_layer.state_names))]
    names = ("kernel", "recurrent_kernel", "bias", "backward_kernel", "backward_recurrent_kernel", "backward_bias")
    layer.build_for([(None,) + x.shape[1:]] + [(None, units)] * len(states))
    layer.set_weights([stored(name) for name in names])

    output = layer(x, initial_state=states)
    d_x, *d_states = layer.backward(stored("upstream"))

    np.testing.assert_allclose(output, stored("output"), rtol=0, atol=1e-13)
    np.testing.assert_allclose(d_x, stored("d_x"), rtol=0, atol=1e-13)
    for name, grad in zip(names, layer.grads, strict=True):
        np.testing.assert_allclose(grad, stored(f"d_{name}"), rtol=0, atol=1e-13)
    for index, grad in enumerate(d_states):
        np.testing.assert_allclose(grad, stored(f"d_initial_{index}"), rtol=0, atol=1e-13)


# ---- TimeDistributed: backward -----------------------------------------------------------------

WRAPPED = {
    "Dense": (lambda: Dense(3, activation="tanh", dtype="float64"), (2,)),
    "Conv2D": (lambda: Conv2D(2, 2, padding="same", activation="sigmoid", dtype="float64"), (3, 3, 2)),
    "Flatten": (lambda: Flatten(dtype="float64"), (2, 3)),
    "LSTM": (lambda: LSTM(2, dtype="float64"), (3, 2)),
    "Bidirectional": (lambda: Bidirectional(GRU(2, dtype="float64"), merge_mode="sum", dtype="float64"), (3, 2)),
}


@settings(max_examples=25, deadline=None)
@given(wrapped=st.sampled_from(sorted(WRAPPED)), batch=st.integers(1, 3), steps=st.integers(1, 4),
       seed=st.integers(0, 2**32 - 1))
def test_time_distributed_gradients_match_finite_differences(wrapped, batch, steps, seed):
    make, step_shape = WRAPPED[wrapped]
    rng = np.random.default_rng(seed)
    layer = with_random_weights(TimeDistributed(make(), dtype="float64"), rng, (None, steps, *step_shape))

    errors = check_gradients(layer, rng.standard_normal((batch, steps, *step_shape)))

    assert set(errors) == {"input"} | weight_keys(layer)


def test_time_distributed_weight_gradients_are_the_sums_over_steps():
    """The weights are shared by every step: their gradient is the sum of each step's."""
    rng = np.random.default_rng(1)
    dense = Dense(3, dtype="float64")
    layer = with_random_weights(TimeDistributed(dense, dtype="float64"), rng, (None, 4, 2))
    x, dy = rng.standard_normal((2, 4, 2)), rng.standard_normal((2, 4, 3))

    layer(x)
    dx = layer.backward(dy)
    totals = [np.zeros_like(w) for w in dense.get_weights()]
    for step in range(4):
        np.testing.assert_allclose(layer(x)[:, step], dense(x[:, step]), rtol=1e-12)
        np.testing.assert_allclose(dx[:, step], dense.backward(dy[:, step]), rtol=1e-12)
        totals = [total + grad for total, grad in zip(totals, dense.grads)]
    layer(x)
    layer.backward(dy)
    for ours, total in zip(layer.grads, totals, strict=True):
        np.testing.assert_allclose(ours, total, rtol=1e-12)


def test_time_distributed_dropout_masks_in_training_only():
    layer = TimeDistributed(Dropout(0.5, seed=3))
    x = np.ones((4, 5, 6), np.float32)
    np.testing.assert_array_equal(layer(x), x)
    y = layer(x, training=True)
    assert y.shape == x.shape and set(np.unique(y)) == {0.0, 2.0}
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), y)


# ---- Keras' files ------------------------------------------------------------------------------

MODELS = sorted(fixture.MODELS)


def keras_saved(name):
    with np.load(os.path.join(FIXTURES, f"keras_wrappers_{name}.npz"), allow_pickle=False) as data:
        return dict(data)


def numbered(saved, prefix):
    return [saved[f"{prefix}{i}"] for i in range(sum(k.startswith(prefix) for k in saved))]


@pytest.mark.parametrize("name", MODELS)
def test_keras_model_file_predicts_like_keras_and_trains_on_like_it(name):
    saved = keras_saved(name)
    model = load_model(os.path.join(FIXTURES, f"keras_wrappers_{name}.keras"))

    np.testing.assert_allclose(fixture.predictions(model, saved["x_0"]), saved["y_0"], rtol=0, atol=1e-6)
    for ours, theirs in zip(keras.saving.keras_optimizer_state(model), numbered(saved, "state_"), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    model.train_on_batch(*fixture.batch(name))
    for variable, theirs in zip(keras_variables(model), numbered(saved, "next_"), strict=True):
        np.testing.assert_allclose(variable.value, theirs, rtol=0, atol=ATOL)


@pytest.mark.parametrize("name", MODELS)
def test_keras_h5_model_file_predicts_like_keras(name):
    saved = keras_saved(name)
    model = load_model(os.path.join(FIXTURES, f"keras_wrappers_{name}.h5"))
    np.testing.assert_allclose(fixture.predictions(model, saved["x_0"]), saved["y_0"], rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_keras_weights_file_loads_into_the_model_built_here(name, tmp_path):
    saved = keras_saved(name)
    path = os.path.join(FIXTURES, f"keras_wrappers_{name}.weights.h5")
    model = fixture.MODELS[name](keras)

    model.load_weights(path)
    model.save_weights(tmp_path / "ours.weights.h5")

    np.testing.assert_allclose(fixture.predictions(model, saved["x_0"]), saved["y_0"], rtol=0, atol=1e-6)
    assert weight_group_paths(tmp_path / "ours.weights.h5") == weight_group_paths(path)


@pytest.mark.parametrize("name", MODELS)
def test_config_is_the_one_keras_wrote(name, tmp_path):
    path = os.path.join(FIXTURES, f"keras_wrappers_{name}.keras")
    written_by_keras = keras_written_config(path)

    model = load_model(path)
    model.save(tmp_path / "again.keras")

    assert keras.saving.serialize_model(model) == written_by_keras
    assert keras.saving.serialize_model(load_model(tmp_path / "again.keras")) == written_by_keras


def built_as_the_fixture_script_builds(name):
    """The model compiled here as make_keras_wrappers_fixture.py compiles it in Keras: after the
    models before it in one session, so that the automatic names are numbered alike."""
    keras.backend.clear_session()
    for before in fixture.MODELS:
        model = fixture.compiled(keras, before)
        if before == name:
            return model
    raise KeyError(name)


def test_models_built_here_save_what_keras_saves():
    for name in MODELS:
        entries = keras.saving.serialize_model(built_as_the_fixture_script_builds(name))["config"]["layers"]
        with zipfile.ZipFile(os.path.join(FIXTURES, f"keras_wrappers_{name}.keras")) as archive:
            theirs = without_bookkeeping(json.loads(archive.read("config.json")))["config"]["layers"]
        assert [e["config"] for e in entries] == [e["config"] for e in theirs]


@pytest.mark.parametrize("name", MODELS)
def test_files_written_here_hold_keras_weights_layout_and_round_trip(name, tmp_path):
    """tinykeras' '.h5' names each weight as Keras does; each file reads back to the same model
    (make_keras_wrappers_fixture.py --check loads these files in Keras)."""
    model = built_as_the_fixture_script_builds(name)
    x = fixture.train(model, name)
    with h5py.File(os.path.join(FIXTURES, f"keras_wrappers_{name}.h5"), "r") as f:
        theirs = {layer: list(f["model_weights"][layer].attrs["weight_names"]) for layer in f["model_weights"]
                  if "weight_names" in f["model_weights"][layer].attrs}
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        ours = {layer: list(f["model_weights"][layer].attrs["weight_names"]) for layer in f["model_weights"]
                if "weight_names" in f["model_weights"][layer].attrs}
    prefix = f"{model.name}/"  # Keras names the weights by their paths from the model
    wrappers = [layer.name for layer in model.layers if isinstance(layer, (Bidirectional, TimeDistributed))]
    assert {layer: [n.decode().removesuffix(":0") for n in ours[layer]] for layer in wrappers} == {
        layer: [(n if isinstance(n, str) else n.decode()).removeprefix(prefix) for n in theirs[layer]]
        for layer in wrappers}
    for extension in (".keras", ".h5"):
        model.save(tmp_path / f"m{extension}")
        loaded = load_model(tmp_path / f"m{extension}")
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# ---- names, weights, summaries, configs --------------------------------------------------------


def test_directions_are_named_and_ordered_as_keras_names_them():
    layer = Bidirectional(LSTM(3, name="encoder"), name="both")
    layer.build_for((None, 5, 2))
    assert (layer.forward_layer.name, layer.backward_layer.name) == ("forward_encoder", "backward_encoder")
    assert layer.backward_layer.go_backwards and not layer.forward_layer.go_backwards
    assert [(v.path, v.shape) for v in layer.weights] == [
        ("both/forward_encoder/lstm_cell/kernel", (2, 12)),
        ("both/forward_encoder/lstm_cell/recurrent_kernel", (3, 12)),
        ("both/forward_encoder/lstm_cell/bias", (12,)), ("both/backward_encoder/lstm_cell/kernel", (2, 12)),
        ("both/backward_encoder/lstm_cell/recurrent_kernel", (3, 12)), ("both/backward_encoder/lstm_cell/bias", (12,))]
    assert layer.count_params() == 2 * (24 + 36 + 12)
    # Rebuilt from its config (the forward layer under 'layer'), the names stay.
    again = Bidirectional.from_config(layer.get_config())
    assert (again.forward_layer.name, again.backward_layer.name) == ("forward_encoder", "backward_encoder")


def test_summary_rows_as_keras_prints_them():
    """Rows Keras 3.15.1 printed for the same model (line_length=108)."""
    lines = []
    fixture.merged_directions(keras).summary(line_length=108, print_fn=lines.append)
    for row in [
        "│ summed (Bidirectional)        │ (None, None, 4)           │             216 │ features[0][0]             │",
        "│ per_step (TimeDistributed)    │ (None, None, 3)           │              15 │ summed[0][0]               │",
        "│ averaged (Bidirectional)      │ [(None, 3), (None, 3),    │             168 │ per_step[0][0]             │",
        "│                               │ (None, 3)]                │                 │                            │",
        "│ joined (Concatenate)          │ (None, 9)                 │               0 │ averaged[0][0],            │",
        "│                               │                           │                 │ averaged[0][4]             │",
    ]:
        assert row in lines
    lines = []
    fixture.frames(keras).summary(print_fn=lines.append)
    assert "│ time_distributed                │ (None, 4, 4, 4, 3)     │            57 │" in lines
    assert "│ (TimeDistributed)               │                        │               │" in lines


@pytest.mark.parametrize("merge_mode, expected", [
    ("concat", (2, 5, 8)), ("sum", (2, 5, 4)), ("mul", (2, 5, 4)), ("ave", (2, 5, 4)), (None, [(2, 5, 4), (2, 5, 4)]),
])
def test_merge_modes_combine_the_directions(merge_mode, expected):
    rng = np.random.default_rng(0)
    layer = Bidirectional(GRU(4, return_sequences=True), merge_mode=merge_mode)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    y = layer(x)
    forward = layer.forward_layer(x)
    backward = layer.backward_layer(x)[:, ::-1]  # processed from the end: reversed back in time
    combined = {"concat": np.concatenate([forward, backward], -1), "sum": forward + backward,
                "mul": forward * backward, "ave": (forward + backward) / 2}
    if merge_mode is None:
        assert [a.shape for a in y] == expected
        np.testing.assert_array_equal(y[0], forward)
        np.testing.assert_array_equal(y[1], backward)
    else:
        assert y.shape == expected
        np.testing.assert_allclose(y, combined[merge_mode], rtol=1e-6)
    output_shape = layer.compute_output_shape((None, 5, 3))
    assert output_shape == ([(None, 5, 4)] * 2 if merge_mode is None else (None, 5, expected[-1]))


def test_return_state_gives_the_forward_states_then_the_backward_ones():
    rng = np.random.default_rng(0)
    layer = Bidirectional(LSTM(3, return_state=True))
    x = rng.standard_normal((2, 4, 5)).astype(np.float32)
    output, forward_h, forward_c, backward_h, backward_c = layer(x)
    np.testing.assert_array_equal(output, np.concatenate([forward_h, backward_h], -1))
    _, h, c = layer.backward_layer(x)
    np.testing.assert_array_equal(backward_c, c)
    assert layer.compute_output_shape((None, 4, 5)) == [(None, 6)] + [(None, 3)] * 4
    assert len(Bidirectional(GRU(3, return_state=True), merge_mode=None).compute_output_shape((None, 4, 5))) == 4


def test_an_explicit_backward_layer_and_initial_weights():
    forward = LSTM(3, return_sequences=True)
    backward = LSTM(3, return_sequences=True, go_backwards=True, activation="relu", name="other")
    layer = Bidirectional(forward, backward_layer=backward)
    assert layer.backward_layer is backward and layer.forward_layer.name == "forward_lstm"
    config = layer.get_config()
    assert config["backward_layer"]["config"]["activation"] == "relu"
    assert config["layer"]["config"]["zero_output_for_mask"] is True  # as Keras forces it
    weights = [np.full(w.shape, i, np.float32) for i, w in enumerate(
        with_random_weights(Bidirectional(SimpleRNN(2)), np.random.default_rng(0), (None, 3, 4)).get_weights())]
    given = Bidirectional(SimpleRNN(2), weights=weights)
    given.build_for((None, 3, 4))
    for ours, theirs in zip(given.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_time_distributed_shapes_config_and_weights():
    layer = TimeDistributed(Conv2D(4, 3, name="conv"), name="frames")
    assert layer.compute_output_shape((None, 5, 8, 8, 2)) == (None, 5, 6, 6, 4)
    layer.build_for((None, 5, 8, 8, 2))
    assert [v.path for v in layer.weights] == ["frames/conv/kernel", "frames/conv/bias"]
    config = layer.get_config()
    assert config["layer"]["class_name"] == "Conv2D"
    assert config["layer"]["build_config"] == {"input_shape": [None, 8, 8, 2]}
    again = TimeDistributed.from_config(config)
    assert again.layer.get_config() == layer.layer.get_config()
    assert layer(np.zeros((2, 5, 8, 8, 2), np.float32)).shape == (2, 5, 6, 6, 4)


def test_freezing_a_wrapper_freezes_its_layers():
    model = fixture.bidirectional_stack(keras)
    wrapper = model.layers[1]
    wrapper.trainable = False
    assert not wrapper.forward_layer.trainable and not wrapper.trainable_weights
    assert len(wrapper.non_trainable_weights) == 6
    model.compile("sgd", "categorical_crossentropy")
    before = wrapper.get_weights()
    model.train_on_batch(*fixture.batch("bidirectional_stack"))
    for ours, theirs in zip(wrapper.get_weights(), before, strict=True):
        np.testing.assert_array_equal(ours, theirs)


# ---- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("make, message", [
    (lambda: Bidirectional(Dense(3)), r"Bidirectional: `layer` must be a recurrent layer .*Received: layer="),
    (lambda: Bidirectional(None), r"Bidirectional: `layer` must be a recurrent layer .*Received: layer=None"),
    (lambda: Bidirectional(GRU(3), backward_layer=Dense(3)), r"`backward_layer` must be a recurrent layer"),
    (lambda: Bidirectional(LSTM(3), merge_mode="max"), r"invalid merge_mode.*Received: merge_mode='max'"),
    (lambda: Bidirectional(LSTM(3), backward_layer=LSTM(3)), "different go_backwards values"),
    (lambda: Bidirectional(LSTM(3), backward_layer=LSTM(3, go_backwards=True, return_sequences=True)),
     "the same return_sequences"),
    (lambda: Bidirectional(LSTM(3, activity_regularizer="l2")), "activity_regularizer, which is not supported"),
    (lambda: TimeDistributed("dense"), "TimeDistributed: `layer` must be a keras.layers.Layer"),
])
def test_invalid_arguments_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@settings(max_examples=25, deadline=None)
@given(kind=kinds, shape=shapes, merge_mode=st.sampled_from(["concat", "sum", "mul", "ave"]),
       return_sequences=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_bidirectional_gradients_through_masked_steps(kind, shape, merge_mode, return_sequences, seed):
    """Both directions hold their states through the padded steps (each in its own order of
    steps); the gradient of every weight and input still matches finite differences."""
    batch, steps, features, units = shape
    rng = np.random.default_rng(seed)
    layer = Bidirectional(RECURRENT[kind](units, return_sequences=return_sequences, dtype="float64"),
                          merge_mode=merge_mode, dtype="float64")
    with_random_weights(layer, rng, (None, steps, features))
    mask = rng.random((batch, steps)) < 0.6
    errors = check_gradients(WithMask(layer, mask, dtype="float64"), rng.standard_normal((batch, steps, features)))
    assert set(errors) == {"input"} | weight_keys(layer)


def test_a_mask_given_to_bidirectional_is_the_one_masking_would_carry(rng):
    x = rng.standard_normal((3, 5, 2)).astype(np.float32)
    x[0, 3:] = 0.0
    x[1, :2] = 0.0
    inputs = keras.Input((5, 2))
    both = Bidirectional(GRU(3, return_sequences=True), name="both")
    model = keras.Model(inputs, both(keras.layers.Masking(0.0)(inputs)))
    given = both(x, mask=np.any(x != 0.0, axis=-1))
    np.testing.assert_allclose(given, model.predict(x, verbose=0), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(given[0, 3:, 3:], 0.0)  # the padded steps' outputs are zeros
    assert both.compute_mask(x, np.ones((3, 5), bool)).shape == (3, 5)


def test_a_mask_given_to_time_distributed_reaches_a_wrapped_layer_that_uses_one(rng):
    """As Keras: each step's part of the mask goes to a wrapped layer computing with masks (an
    LSTM over each step's sequence); a Dense ignores it; a mask of another shape is refused."""
    x = rng.standard_normal((2, 3, 4, 2)).astype("float32")
    mask = rng.random((2, 3, 4)) < 0.6
    lstm = LSTM(3, name="inner")
    wrapped = TimeDistributed(lstm)
    outputs = wrapped(x, mask=mask)
    for t in range(3):
        np.testing.assert_allclose(outputs[:, t], lstm(x[:, t], mask=mask[:, t]), rtol=1e-6)
    assert not np.allclose(outputs, wrapped(x), atol=1e-4)
    dense = TimeDistributed(Dense(3), name="steps")
    flat = x.reshape(2, 3, 8)
    np.testing.assert_array_equal(dense(flat, mask=np.ones((2, 3), bool)), dense(flat))
    with pytest.raises(ValueError, match=r"'steps' \(TimeDistributed\): the `mask` must be at least 2-D and start"):
        dense(flat, mask=np.ones((2, 4), bool))


def test_shapes_and_states_are_checked():
    with pytest.raises(ValueError, match=r"takes 4 initial states .*received 2"):
        Bidirectional(LSTM(3))(np.zeros((2, 4, 5), np.float32), initial_state=[np.zeros((2, 3))] * 2)
    with pytest.raises(ValueError, match=r"\(TimeDistributed\) expects one input of at least 3 axes"):
        TimeDistributed(Dense(3)).build_for((None, 4))
    with pytest.raises(ValueError, match="gives 3 outputs; TimeDistributed supports layers with one"):
        TimeDistributed(LSTM(3, return_state=True)).build_for((None, 2, 4, 5))
    normalized = TimeDistributed(BatchNormalization())
    x = np.ones((2, 3, 4), np.float32)
    assert normalized(x).shape == x.shape  # inference mode runs
    with pytest.raises(ValueError, match="training a wrapped BatchNormalization is not supported"):
        normalized(x, training=True)


def test_functional_initial_state_and_a_shared_wrapper_round_trip(tmp_path):
    """Keras records a call from given states as {"initial_state": [tensors]}, others as
    {"mask": null}; a wrapper called twice keeps one set of weights, each file reads back."""
    sequences, h, c = keras.Input(shape=(None, 3)), keras.Input(shape=(4,)), keras.Input(shape=(4,))
    started = Bidirectional(LSTM(4, return_sequences=True), merge_mode="ave", name="started")(
        sequences, initial_state=[h, c, c, h])
    shared = Bidirectional(GRU(4, return_sequences=True, kernel_regularizer="l2"), merge_mode="sum", name="shared")
    steps = TimeDistributed(Dense(3), name="steps")(started)
    joined = keras.layers.Add()([started, shared(sequences), shared(steps)])
    model = keras.Model([sequences, h, c], keras.layers.GlobalAveragePooling1D()(joined))
    model.compile("adam", "mse")
    rng = np.random.default_rng(0)
    x = [rng.standard_normal(shape).astype(np.float32) for shape in ((2, 5, 3), (2, 4), (2, 4))]
    model.train_on_batch(x, np.zeros((2, 4), np.float32))

    calls = {entry["name"]: [call["kwargs"] for call in entry["inbound_nodes"]] for entry in model.get_config()["layers"]}
    assert list(calls["started"][0]) == ["initial_state"] and len(calls["started"][0]["initial_state"]) == 4
    assert calls["shared"] == [{"mask": None}, {"mask": None}] and calls["steps"] == [{"mask": None}]
    assert len(model.losses) == 2  # the shared layer's two kernels, once
    for extension in (".keras", ".h5"):
        model.save(tmp_path / f"m{extension}")
        loaded = load_model(tmp_path / f"m{extension}")
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("edit, message", [
    (lambda wrapper: wrapper["layer"]["config"].update(units=0),
     r"Layer 2 \(Bidirectional 'bidirectional'\) cannot be rebuilt .*LSTM 'forward_lstm'.*units must be a positive integer"),
    (lambda wrapper: wrapper["backward_layer"].update(class_name="ConvLSTM1D"),
     "does not support: ConvLSTM1D"),
    (lambda wrapper: wrapper.pop("layer"), r"Bidirectional 'layer' must be a JSON object; found NoneType"),
])
def test_a_keras_config_with_an_unsupported_wrapped_layer_is_named(edit, message, tmp_path):
    path = os.path.join(FIXTURES, "keras_wrappers_bidirectional_stack.keras")
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    edit(next(e for e in config["config"]["layers"] if e["class_name"] == "Bidirectional")["config"])
    members["config.json"] = json.dumps(config)
    with zipfile.ZipFile(tmp_path / "edited.keras", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ValueError, match=message):
        load_model(tmp_path / "edited.keras")


def test_gradients_through_time_distributed_with_a_mask(rng, float64):
    layer = TimeDistributed(GRU(2, dtype="float64"), dtype="float64")
    x = rng.standard_normal((2, 3, 4, 2))
    mask = rng.random((2, 3, 4)) < 0.7
    errors = check_gradients(WithMask(layer, mask, dtype="float64"), x)
    assert {"input", "kernel", "recurrent_kernel", "bias"} == set(errors)
