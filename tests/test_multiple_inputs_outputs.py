"""Models with several inputs and outputs: data as lists or dicts, a loss, a weight and metrics
per output, History and evaluate named and ordered as Keras 3 names and orders them, and the
same training as real Keras from the same start."""
import os
import sys

import numpy as np
import pytest

from model_gradients import assert_weight_gradients_match

import tinykeras as keras
from tinykeras import backend, layers

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
sys.path.insert(0, FIXTURES)

import make_keras_multi_output_fixture as oracle  # noqa: E402


def model_and_data():
    return oracle.two_inputs_two_outputs(keras), oracle.data()


def test_keras_trains_the_same_from_the_same_start():
    """Same initial weights, same batches: History, final weights and predictions equal Keras 3's
    (SGD, two epochs, validation data; loss and metric dicts with loss weights)."""
    expected = np.load(os.path.join(FIXTURES, "keras_multi_output.npz"))
    model, (a, b, labels, targets) = model_and_data()
    oracle.compile_model(keras, model)
    model.set_weights([expected[f"initial_{i}"] for i in range(len(model.get_weights()))])
    history = model.fit(
        [a, b], [labels, targets], epochs=2, batch_size=10, shuffle=False, verbose=0,
        validation_data=([a[:20], b[:20]], [labels[:20], targets[:20]]),
    )
    keras_keys = sorted(key[len("history_"):] for key in expected.files if key.startswith("history_"))
    assert sorted(history.history) == keras_keys
    for key in keras_keys:
        np.testing.assert_allclose(history.history[key], expected[f"history_{key}"], rtol=1e-5, atol=1e-6)
    for i, weight in enumerate(model.get_weights()):
        np.testing.assert_allclose(weight, expected[f"final_{i}"], rtol=1e-5, atol=1e-6)
    predicted = model.predict({"a": a, "b": b}, verbose=0)
    assert isinstance(predicted, list) and len(predicted) == 2
    np.testing.assert_allclose(predicted[0], expected["predicted_cls"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(predicted[1], expected["predicted_reg"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "loss, metrics, keys",
    [
        # Names as Keras 3.15 logs them (checked against it for each case).
        ("mse", None, ["cls_loss", "loss", "reg_loss"]),
        (["categorical_crossentropy", None], None, ["loss"]),
        (["categorical_crossentropy", None], [["accuracy"], ["mse"]], ["cls_accuracy", "loss", "reg_mse"]),
        (["categorical_crossentropy", "mse"], ["accuracy", None], ["cls_accuracy", "cls_loss", "loss", "reg_loss"]),
        (["categorical_crossentropy", "mse"], {"reg": "mse"}, ["cls_loss", "loss", "reg_loss", "reg_mse"]),
        (["categorical_crossentropy", "mse"], [["accuracy", "mse"], ["mse"]],
         ["cls_accuracy", "cls_loss", "cls_mse", "loss", "reg_loss", "reg_mse"]),
    ],
)
def test_history_names_follow_keras(loss, metrics, keys):
    model, (a, b, labels, targets) = model_and_data()
    model.compile("adam", loss, metrics=metrics)
    history = model.fit([a, b], [labels, targets], epochs=1, batch_size=10, verbose=0)
    assert sorted(history.history) == keys
    results = model.evaluate([a, b], [labels, targets], verbose=0, return_dict=True)
    assert sorted(results) == keys


def test_evaluate_orders_loss_then_output_losses_then_metrics():
    model, (a, b, labels, targets) = model_and_data()
    model.compile("sgd", ["categorical_crossentropy", "mse"], metrics=[["accuracy", "mse"], ["mse"]])
    values = model.evaluate([a, b], [labels, targets], verbose=0)
    logs = model.evaluate([a, b], [labels, targets], verbose=0, return_dict=True)
    order = ["loss", "cls_loss", "reg_loss", "cls_accuracy", "cls_mse", "reg_mse"]
    assert model.metrics_names == order
    assert values == [logs[name] for name in order]
    assert logs["loss"] == pytest.approx(logs["cls_loss"] + logs["reg_loss"], rel=1e-6)


def test_loss_weights_scale_the_total_and_the_gradients():
    """The total is the weighted sum; training with weight w on an output equals training with
    that output's loss scaled by w (checked through the first step's weights)."""
    model, (a, b, labels, targets) = model_and_data()
    start = model.get_weights()
    model.compile("sgd", ["categorical_crossentropy", "mse"], loss_weights=[0.0, 2.0])
    logs = model.train_on_batch([a, b], [labels, targets], return_dict=True)
    assert logs["loss"] == pytest.approx(2 * logs["reg_loss"], rel=1e-6)
    after = model.get_weights()
    np.testing.assert_array_equal(after[-4], start[-4])  # cls kernel: weight 0, no gradient
    assert not np.array_equal(after[-2], start[-2])


def test_a_loss_dict_without_an_output_trains_it_by_nothing_with_a_warning():
    model, (a, b, labels, targets) = model_and_data()
    with pytest.warns(UserWarning, match=r"no entry for the output\(s\) \['reg'\]"):
        model.compile("sgd", {"cls": "categorical_crossentropy"})
    history = model.fit([a, b], [labels, targets], epochs=1, verbose=0)
    assert sorted(history.history) == ["loss"]


def test_inputs_and_targets_as_dicts_tuples_and_lists_give_the_same_results():
    model, (a, b, labels, targets) = model_and_data()
    model.compile("sgd", ["categorical_crossentropy", "mse"])
    by_list = model.evaluate([a, b], [labels, targets], verbose=0)
    assert model.evaluate((a, b), (labels, targets), verbose=0) == by_list
    assert model.evaluate({"b": b, "a": a}, {"reg": targets, "cls": labels}, verbose=0) == by_list
    np.testing.assert_array_equal(model.predict([a, b], verbose=0)[1], model([a, b])[1])


def test_dict_outputs_are_named_by_their_keys_and_predicted_as_a_dict():
    a, b = keras.Input(shape=(4,), name="a"), keras.Input(shape=(3,), name="b")
    hidden = layers.Dense(5, activation="relu")(layers.Concatenate()([a, b]))
    model = keras.Model({"a": a, "b": b}, {"x": layers.Dense(2, activation="softmax")(hidden), "y": layers.Dense(1)(hidden)})
    assert model.output_names == ["x", "y"]
    _, (xa, xb, labels, targets) = model_and_data()
    model.compile("adam", {"x": "categorical_crossentropy", "y": "mse"}, metrics={"x": "accuracy"})
    history = model.fit({"a": xa, "b": xb}, {"x": labels, "y": targets}, epochs=1, verbose=0)
    assert sorted(history.history) == ["loss", "x_accuracy", "x_loss", "y_loss"]
    predicted = model.predict({"a": xa, "b": xb}, verbose=0, batch_size=16)
    assert isinstance(predicted, dict) and list(predicted) == ["x", "y"]
    assert predicted["x"].shape == (40, 2) and predicted["y"].shape == (40, 1)


def test_dicts_of_inputs_and_outputs_are_taken_by_sorted_key_as_in_keras():
    """Keras 3 flattens a dict by sorted key, whatever order it was written in: model.inputs,
    model.outputs, output_names, the layers' order and a list of losses follow it (Keras 3.15.1
    gives the same names, order and losses for this model)."""
    zeta, alpha = keras.Input(shape=(3,), name="zeta"), keras.Input(shape=(2,), name="alpha")
    priority = layers.Dense(1, name="priority")(layers.Concatenate(name="joined")([zeta, alpha]))
    department = layers.Dense(2, name="department")(zeta)
    model = keras.Model({"zeta": zeta, "alpha": alpha}, {"priority": priority, "department": department})
    assert model.inputs == [alpha, zeta] and model.outputs == [department, priority]
    assert model.output_names == ["department", "priority"]
    assert [layer.name for layer in model.layers] == ["zeta", "alpha", "joined", "department", "priority"]
    model.compile("sgd", loss=["mse", "mse"], loss_weights=[1.0, 0.2])  # 1.0 for department
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    x = {"zeta": np.ones((4, 3)), "alpha": np.ones((4, 2))}
    results = model.evaluate(x, {"priority": np.full((4, 1), 3.0), "department": np.full((4, 2), 2.0)},
                             verbose=0, return_dict=True)
    assert results == pytest.approx({"loss": 4.0 + 0.2 * 9.0, "department_loss": 4.0, "priority_loss": 9.0})
    assert list(model.predict(x, verbose=0)) == ["department", "priority"]


def test_several_inputs_one_output_and_a_one_entry_list():
    a, b = keras.Input(shape=(4,), name="a"), keras.Input(shape=(3,), name="b")
    output = layers.Dense(1)(layers.Concatenate()([a, b]))
    model = keras.Model([a, b], [output])
    _, (xa, xb, _, targets) = model_and_data()
    model.compile("sgd", "mse", metrics=["mse"])
    history = model.fit([xa, xb], targets, epochs=1, verbose=0, validation_split=0.25)
    assert sorted(history.history) == ["loss", "mse", "val_loss", "val_mse"]
    assert isinstance(model.predict([xa, xb], verbose=0), np.ndarray)  # as Keras: one array
    assert model.input_shape == [(None, 4), (None, 3)] and model.output_shape == (None, 1)


def test_gradients_of_two_weighted_losses_match_finite_differences():
    backend.set_floatx("float64")
    model, (a, b, labels, targets) = model_and_data()
    model.compile("sgd", ["categorical_crossentropy", "mse"], loss_weights=[1.0, 0.5])
    xs = [a.astype(np.float64)[:6], b.astype(np.float64)[:6]]
    ys = [labels.astype(np.float64)[:6], targets.astype(np.float64)[:6]]
    assert len(model.trainable_weights) == 6
    assert_weight_gradients_match(model, xs, ys)


def test_a_two_input_model_nested_in_another_gets_both_input_gradients():
    backend.set_floatx("float64")
    a, b = keras.Input(shape=(4,)), keras.Input(shape=(3,))
    inner = keras.Model([a, b], layers.Dense(2, activation="tanh")(layers.Concatenate()([a, b])))
    outer_a, outer_b = keras.Input(shape=(4,)), keras.Input(shape=(3,))
    joined = inner([layers.Dense(4, activation="tanh")(outer_a), layers.Dense(3, activation="tanh")(outer_b)])
    model = keras.Model([outer_a, outer_b], layers.Dense(1)(joined))
    model.compile("sgd", "mse")
    _, (xa, xb, _, targets) = model_and_data()
    xs, y = [xa[:5].astype(np.float64), xb[:5].astype(np.float64)], targets[:5].astype(np.float64)
    assert_weight_gradients_match(model, xs, y)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m, a, b, y1, y2: m.predict(a, verbose=0), r"has 2 inputs \(a, b\); received one array of shape \(40, 4\)"),
        (lambda m, a, b, y1, y2: m.predict([a, b, b], verbose=0), r"received a list of 3 entries"),
        (lambda m, a, b, y1, y2: m.fit([a, b], [y1], verbose=0), r"has 2 targets? \(cls, reg\)"),
        (lambda m, a, b, y1, y2: m.fit({"a": a}, [y1, y2], verbose=0), r"missing: \['b'\]"),
        (lambda m, a, b, y1, y2: m.fit([a, b[:10]], [y1, y2], verbose=0), r"same number of samples; received 'a': 40, 'b': 10"),
        (lambda m, a, b, y1, y2: m.fit([a, b], [y1, y2[:5]], verbose=0), r"same number of samples"),
        (lambda m, a, b, y1, y2: m.fit([b, a], [y1, y2], verbose=0), r"layer 'a' of model .* expects inputs of shape \(None, 4\)"),
    ],
)
def test_data_that_does_not_fit_the_inputs_and_outputs_is_refused(call, message):
    model, (a, b, labels, targets) = model_and_data()
    model.compile("sgd", ["categorical_crossentropy", "mse"])
    with pytest.raises(ValueError, match=message):
        call(model, a, b, labels, targets)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"loss": ["mse"]}, r"list of 1 entries for a model with 2 output\(s\) \(cls, reg\)"),
        ({"loss": {"cls": "mse", "other": "mse"}}, r"names the output\(s\) \['other'\]"),
        ({"loss": [None, None]}, r"compile needs a loss"),
        ({"loss": "mse", "loss_weights": 0.5}, r"needs one entry per output"),
        ({"loss": "mse", "metrics": {"nope": "mse"}}, r"names the output\(s\) \['nope'\]"),
    ],
)
def test_compile_arguments_that_do_not_fit_the_outputs_are_refused(arguments, message):
    model, _ = model_and_data()
    with pytest.raises(ValueError, match=message):
        model.compile("sgd", **arguments)


def test_a_flat_metrics_list_of_another_length_goes_to_every_output_as_in_keras_2():
    model, (a, b, labels, targets) = model_and_data()
    model.compile("sgd", ["categorical_crossentropy", "mse"], metrics=["mse"])
    history = model.fit([a, b], [labels, targets], epochs=1, verbose=0)
    assert sorted(history.history) == ["cls_loss", "cls_mse", "loss", "reg_loss", "reg_mse"]


def test_the_summary_lists_both_inputs_and_what_each_layer_reads():
    model, _ = model_and_data()
    lines = []
    model.summary(print_fn=lines.append, line_length=90)
    text = "\n".join(lines)
    assert "a (InputLayer)" in text and "b (InputLayer)" in text
    assert "a[0][0], b[0][0]" in text


def siamese(base):
    left, right = keras.Input(shape=(4,)), keras.Input(shape=(4,))
    merged = layers.Concatenate()([base(left), base(right)])
    return keras.Model([left, right], layers.Dense(1, activation="sigmoid")(merged))


@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_a_model_called_at_two_places_shares_its_weights_and_sums_their_gradients(kind):
    """The siamese network: one base model applied to two inputs. Its weights are one set,
    their gradient the sum over both calls (checked against finite differences in float64)."""
    backend.set_floatx("float64")
    if kind == "functional":
        inputs = keras.Input(shape=(4,))
        base = keras.Model(inputs, layers.Dense(3, activation="tanh")(layers.Dense(5, activation="relu")(inputs)))
    else:
        base = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(5, activation="relu"), layers.Dense(3, activation="tanh")])
    model = siamese(base)
    assert len(model.trainable_weights) == 6  # the base's four, once, and the head's two
    model.compile("sgd", "binary_crossentropy")
    rng = np.random.default_rng(3)
    xs = [rng.random((6, 4)), rng.random((6, 4))]
    y = rng.integers(0, 2, (6, 1)).astype(np.float64)
    assert_weight_gradients_match(model, xs, y)
    before = [w.copy() for w in base.get_weights()]
    model.fit(xs, y, epochs=2, verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(before, base.get_weights()))
    np.testing.assert_array_equal(base.predict(xs[0], verbose=0), model.layers[2].predict(xs[0], verbose=0))


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_a_compiled_model_with_several_outputs_saves_and_resumes_exactly(tmp_path, suffix):
    """The compile settings per output (loss dict, loss weights, metric dict) are written as
    Keras 3 writes them and restored: one epoch, save, load, one epoch equals two epochs."""
    model, (a, b, labels, targets) = model_and_data()
    oracle.compile_model(keras, model)
    start = model.get_weights()
    model.fit([a, b], [labels, targets], epochs=1, batch_size=10, shuffle=False, verbose=0)
    model.save(tmp_path / f"m{suffix}")
    loaded = keras.models.load_model(tmp_path / f"m{suffix}")
    assert loaded.get_compile_config()["loss"] == {"cls": "categorical_crossentropy", "reg": "mean_squared_error"}
    assert loaded.get_compile_config()["loss_weights"] == {"cls": 1.0, "reg": 0.5}
    assert loaded.get_compile_config()["metrics"] == {"cls": ["accuracy"], "reg": ["mse"]}
    resumed = loaded.fit([a, b], [labels, targets], epochs=1, batch_size=10, shuffle=False, verbose=0).history
    twice, _ = model_and_data()
    oracle.compile_model(keras, twice)
    twice.set_weights(start)
    history = twice.fit([a, b], [labels, targets], epochs=2, batch_size=10, shuffle=False, verbose=0).history
    assert sorted(resumed) == sorted(history)
    for key in history:
        assert resumed[key][0] == history[key][1]
    for x, y in zip(loaded.get_weights(), twice.get_weights()):
        np.testing.assert_array_equal(x, y)
