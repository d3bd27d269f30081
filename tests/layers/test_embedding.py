"""Embedding: the lookup, its scatter-add gradient (checked against finite differences in
float64), the checks of the ids, and Keras' weights, config and summary row."""
import json
import os
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keras_fixtures import FIXTURES, without_bookkeeping
from model_gradients import assert_weight_gradients_match

import tinykeras as keras
from tinykeras.kernels.embedding import scatter_add_rows, scatter_add_rows_reference
from tinykeras.layers import Embedding
from tinykeras.models import load_model
from tinykeras.utils import check_gradients

# ---- the lookup and its gradient -------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(
    ids_shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
    input_dim=st.integers(1, 6),
    output_dim=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
)
def test_gradients_match_finite_differences(ids_shape, input_dim, output_dim, seed):
    """Ids of any rank, repeated ids among them (the table's rows then gather several terms).
    Float ids are read toward zero as Keras casts them, so ids + 0.5 keeps every finite-difference
    step on the same id: the ids' gradient is zero and checked as such."""
    rng = np.random.default_rng(seed)
    layer = Embedding(input_dim, output_dim, dtype="float64")
    ids = rng.integers(0, input_dim, ids_shape)
    layer.build_for((None,) + ids_shape[1:])
    layer.set_weights([rng.standard_normal((input_dim, output_dim))])

    errors = check_gradients(layer, ids + 0.5)

    assert set(errors) == {"input", "embeddings"}
    assert layer.forward(ids).shape == ids_shape + (output_dim,)


def test_output_rows_are_the_table_rows_of_the_ids():
    layer = Embedding(5, 3)
    table = np.arange(15, dtype=np.float32).reshape(5, 3)
    layer.build_for((None, 4))
    layer.set_weights([table])
    ids = np.array([[0, 4, 4, 2], [1, 1, 3, 0]], dtype=np.int32)

    out = layer(ids)

    np.testing.assert_array_equal(out, table[ids])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(layer(ids.astype(np.float32) + 0.9), table[ids])  # toward zero


def test_repeated_ids_accumulate_their_gradients():
    layer = Embedding(4, 2)
    layer.build_for((None, 3))
    ids = np.array([[1, 1, 3], [1, 0, 3]])
    layer.forward(ids)
    dy = np.arange(12, dtype=np.float32).reshape(2, 3, 2)

    layer.backward(dy)

    expected = np.zeros((4, 2), np.float32)
    np.add.at(expected, ids.ravel(), dy.reshape(-1, 2))
    np.testing.assert_array_equal(layer.grads[0], expected)
    np.testing.assert_array_equal(layer.grads[0][2], [0, 0])  # an id not read gets nothing


def test_the_ids_of_a_model_input_get_no_gradient():
    layer = Embedding(4, 2)
    layer.build_for((None, 3))
    layer.input_gradient = False
    layer.forward(np.array([[1, 2, 3]]))
    assert layer.backward(np.ones((1, 3, 2), np.float32)) is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scatter_add_kernel_matches_numpy(dtype):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 7, 50)
    rows = rng.standard_normal((50, 3)).astype(dtype)
    ours = scatter_add_rows(np.zeros((7, 3), dtype), ids, rows)
    np.testing.assert_allclose(ours, scatter_add_rows_reference(np.zeros((7, 3), dtype), ids, rows), rtol=1e-6)


# ---- in models ----------------------------------------------------------------------------------


def sequence_model():
    return keras.Sequential([
        keras.Input(shape=(None,), dtype="int32"),
        keras.layers.Embedding(12, 4),
        keras.layers.LSTM(3),
        keras.layers.Dense(2, activation="softmax"),
    ])


def test_model_weight_gradients_through_an_embedding(float64):
    rng = np.random.default_rng(3)
    model = sequence_model()
    model.compile("sgd", "categorical_crossentropy")
    x = rng.integers(0, 12, (4, 5)).astype(np.int32)
    y = np.eye(2)[rng.integers(0, 2, 4)]
    assert_weight_gradients_match(model, x, y)


def test_integer_and_float_ids_give_the_same_predictions_and_training_lowers_the_loss():
    rng = np.random.default_rng(0)
    model = sequence_model()
    x = rng.integers(0, 12, (32, 6)).astype(np.int32)
    y = np.eye(2, dtype=np.float32)[(x[:, 0] > 5).astype(int)]
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x.astype(np.float32), verbose=0))
    model.compile(keras.optimizers.Adam(0.05), "categorical_crossentropy")
    history = model.fit(x, y, epochs=15, batch_size=8, verbose=0).history["loss"]
    assert history[-1] < 0.5 * history[0]


def test_summary_row_as_keras_prints_it():
    lines = []
    sequence_model().summary(print_fn=lines.append)
    row = next(line for line in lines if "embedding (Embedding)" in line)
    assert "(None, None, 4)" in row and row.rstrip("│ ").endswith("48")


# ---- checks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad, fix", [(7, "Give the layer input_dim=8 or more"), (-1, "map the tokens to non-negative ids")])
def test_ids_outside_the_vocabulary_are_named_with_the_fix(bad, fix):
    layer = Embedding(7, 2, name="words")
    with pytest.raises(ValueError) as raised:
        layer(np.array([[1, 2], [bad, 0]]))
    message = str(raised.value)
    assert message.startswith("Layer 'words' (Embedding) has input_dim=7, so ids must be in [0, 7)")
    assert f"received id {bad} at index (1, 0)" in message and fix in message


def test_non_numeric_and_non_finite_ids_are_refused():
    layer = Embedding(4, 2)
    with pytest.raises(ValueError, match="NaN or infinite ids"):
        layer(np.array([[1.0, np.nan]]))
    with pytest.raises(TypeError, match="takes integer ids"):
        layer.forward(np.array([["a", "b"]]))


def test_mask_zero_masks_the_padding_id_and_keeps_it_in_the_config():
    layer = Embedding(10, 3, mask_zero=True)
    ids = np.array([[4, 2, 0], [0, 0, 7]])
    np.testing.assert_array_equal(layer.compute_mask(ids), ids != 0)
    assert Embedding(10, 3).compute_mask(ids) is None
    assert Embedding.from_config(layer.get_config()).mask_zero is True


@pytest.mark.parametrize("argument, value, error", [("input_dim", 0, ValueError), ("output_dim", 2.5, TypeError)])
def test_sizes_are_checked(argument, value, error):
    arguments = {"input_dim": 5, "output_dim": 3, argument: value}
    with pytest.raises(error, match=f"Embedding: {argument} must be a positive integer"):
        Embedding(**arguments)


def test_input_length_is_keras_2s_input_shape_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="input_length"):
        layer = Embedding(10, 3, input_length=6)
    model = keras.Sequential([layer, keras.layers.Flatten(), keras.layers.Dense(2)])
    assert model.built and model.layers[1].output_shape == (None, 18)
    assert "input_length" not in layer.get_config()


# ---- Keras' config and files ---------------------------------------------------------------


def test_config_round_trips():
    layer = Embedding(9, 4, embeddings_initializer="he_normal", name="tokens")
    rebuilt = Embedding.from_config(layer.get_config())
    assert rebuilt.get_config() == layer.get_config()
    assert (rebuilt.input_dim, rebuilt.output_dim, rebuilt.mask_zero) == (9, 4, False)


def test_entry_is_the_one_keras_wrote():
    path = os.path.join(FIXTURES, "keras_recurrent_embedding_lstm.keras")
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    written_by_keras = without_bookkeeping(next(e for e in config["config"]["layers"] if e["class_name"] == "Embedding"))
    layer = load_model(path).get_layer("embedding")
    ours = keras.saving.layer_entry(layer)
    assert ours == {k: v for k, v in written_by_keras.items() if k not in ("name", "inbound_nodes")}


def test_default_initializer_is_uniform_within_five_hundredths():
    layer = Embedding(200, 50)
    layer.build_for((None, 3))
    values = layer.get_weights()[0]
    assert values.shape == (200, 50) and -0.05 <= values.min() < -0.04 and 0.04 < values.max() <= 0.05
