"""Weighted samples as Keras 3 weighs them: ``sample_weight`` in fit, evaluate, train_on_batch
and validation data, ``class_weight``, and ``weighted_metrics``, against what real Keras wrote
from the same weights and data (tests/fixtures/make_keras_sample_weight_fixture.py); and the
gradient of a weighted loss against finite differences."""
import json
import os
import sys

import numpy as np
import pytest
from model_gradients import assert_weight_gradients_match

import tinykeras as keras

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
sys.path.insert(0, FIXTURES)

import make_keras_sample_weight_fixture as oracle  # noqa: E402

with open(os.path.join(FIXTURES, "keras_sample_weight.json")) as _f:
    EXPECTED = json.load(_f)

RTOL, ATOL = 2e-5, 1e-6


@pytest.fixture(scope="module")
def tiny():
    return oracle.run(keras)


@pytest.mark.parametrize("case", ["evaluate_one_batch", "evaluate_batches_of_8"])
def test_evaluate_weighs_the_loss_and_the_weighted_metrics(tiny, case):
    assert tiny[case] == pytest.approx(EXPECTED[case], rel=RTOL, abs=ATOL)


@pytest.mark.parametrize("case", ["fit_sample_weight", "fit_class_weight", "fit_class_weight_onehot_targets",
                                  "two_outputs"])
def test_fit_with_weights_trains_as_keras_does(tiny, case):
    ours, theirs = tiny[case], EXPECTED[case]
    assert sorted(ours["history"]) == sorted(theirs["history"])
    for key, values in theirs["history"].items():
        np.testing.assert_allclose(ours["history"][key], values, rtol=RTOL, atol=ATOL, err_msg=key)
    for mine, keras_weights in zip(ours["weights"], theirs["weights"]):
        np.testing.assert_allclose(mine, keras_weights, rtol=RTOL, atol=ATOL)
    if "evaluate" in theirs:
        assert ours["evaluate"] == pytest.approx(theirs["evaluate"], rel=RTOL, abs=ATOL)


def test_train_and_test_on_batch_take_sample_weights():
    data = oracle.case_data()
    model = oracle.classifier(keras, data)
    logs = model.test_on_batch(data["x"], data["labels"], sample_weight=data["weights"], return_dict=True)
    assert logs == pytest.approx(EXPECTED["evaluate_one_batch"], rel=RTOL, abs=ATOL)
    model.train_on_batch(data["x"], data["labels"], class_weight={0: 0.5, 2: 3.0})
    reference = oracle.classifier(keras, data)
    weights = np.array([{0: 0.5, 2: 3.0}.get(int(label), 1.0) for label in data["labels"]], "float32")
    reference.train_on_batch(data["x"], data["labels"], sample_weight=weights)
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_generator_may_yield_weighted_batches():
    data = oracle.case_data()
    model = oracle.classifier(keras, data)
    batches = [(data["x"][i:i + 8], data["labels"][i:i + 8], data["weights"][i:i + 8]) for i in range(0, 20, 8)]
    logs = model.evaluate(iter(batches), verbose=0, return_dict=True)
    assert logs == pytest.approx(EXPECTED["evaluate_batches_of_8"], rel=RTOL, abs=ATOL)


@pytest.mark.parametrize("loss, logits", [("sparse_categorical_crossentropy", False),
                                          ("sparse_categorical_crossentropy", True), ("mse", False)])
def test_weighted_loss_gradients_match_finite_differences(loss, logits):
    keras.backend.set_floatx("float64")
    try:
        keras.utils.set_random_seed(5)
        rng = np.random.default_rng(5)
        x = rng.standard_normal((6, 4))
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="tanh"),
                                  keras.layers.Dense(3, activation=None if logits else "softmax")])
        if loss == "mse":
            y = rng.standard_normal((6, 3))
        else:
            y = rng.integers(0, 3, 6)
        model.compile("sgd", keras.losses.get(loss) if not logits else
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        weights = [rng.uniform(0, 2, 6)]
        original = model._batch_outputs

        def weighted(x, y, training, sample_weights=None):
            return original(x, y, training, weights)

        model._batch_outputs = weighted
        assert_weight_gradients_match(model, x, y)
    finally:
        keras.backend.set_floatx("float32")


@pytest.mark.parametrize("kwargs, message", [
    ({"sample_weight": np.ones(3)}, r"sample_weight for output 'dense.*' has 3 weights for 20 samples"),
    ({"sample_weight": np.ones(20), "class_weight": {0: 2.0}}, r"class_weight or sample_weight, not both"),
    ({"class_weight": [1.0, 2.0]}, r"class_weight must be a dict"),
    ({"sample_weight": np.full(20, np.nan)}, r"NaN or infinite"),
])
def test_bad_weights_name_the_problem(kwargs, message):
    data = oracle.case_data()
    model = oracle.classifier(keras, data)
    with pytest.raises(ValueError, match=message):
        model.fit(data["x"], data["labels"], verbose=0, **kwargs)
