"""A Sequential is a graph built as a chain: its layers' symbolic outputs start other models
(feature extractors), and its layers can move into another Sequential (transfer learning)."""
import numpy as np

import tinykeras as keras
from tinykeras import layers


def data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 4), dtype=np.float32), np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]


def test_a_feature_extractor_from_a_sequential_computes_its_first_layers():
    model = keras.Sequential([layers.Dense(8, activation="relu", input_shape=(4,), name="hidden"),
                              layers.Dense(3, activation="softmax")])
    extractor = keras.Model(inputs=model.inputs, outputs=model.get_layer("hidden").output)
    x, y = data()
    model.compile("adam", "categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    kernel, bias = model.get_layer("hidden").get_weights()
    np.testing.assert_allclose(extractor.predict(x, verbose=0), np.maximum(x @ kernel + bias, 0), rtol=1e-6)
    assert [layer.name for layer in extractor.layers][1:] == ["hidden"]
    assert model.input is model.inputs[0] and model.output.shape == (None, 3)


def test_rebuilding_a_sequential_moves_its_layers_outputs():
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(8), layers.Dense(3)])
    model.pop()
    model.add(layers.Dense(5))
    assert model.layers[0].output.shape == (None, 8) and model.output.shape == (None, 5)


def test_layers_moved_into_a_second_sequential_share_their_weights():
    base = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(8, activation="relu"), layers.Dense(3, activation="softmax")])
    transfer = keras.Sequential(base.layers[:-1] + [layers.Dense(2, activation="softmax")])
    base.layers[0].trainable = False
    x, y = data()
    transfer.compile("adam", "categorical_crossentropy")
    frozen = base.layers[0].get_weights()[0].copy()
    transfer.fit(x, y[:, :2], epochs=1, verbose=0)
    np.testing.assert_array_equal(base.layers[0].get_weights()[0], frozen)
    base.layers[0].trainable = True
    transfer.fit(x, y[:, :2], epochs=1, verbose=0)
    assert not np.array_equal(base.layers[0].get_weights()[0], frozen)
    np.testing.assert_array_equal(transfer.layers[0].get_weights()[0], base.layers[0].get_weights()[0])


KERAS_UNBUILT_SUMMARY = """\
Model: "unbuilt"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ d1 (Dense)                      │ ?                      │   0 (unbuilt) │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ drop (Dropout)                  │ ?                      │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ flat (Flatten)                  │ ?                      │   0 (unbuilt) │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 0 (0.00 B)
 Trainable params: 0 (0.00 B)
 Non-trainable params: 0 (0.00 B)"""


def test_an_unbuilt_summary_marks_only_layers_keras_builds_later():
    """Keras 3.15 prints the same: layers without build of their own (Dropout) are built from
    the start."""
    model = keras.Sequential([layers.Dense(3, name="d1"), layers.Dropout(0.5, name="drop"), layers.Flatten(name="flat")], name="unbuilt")
    lines = []
    model.summary(print_fn=lines.append, line_length=76)  # Keras: 80 columns less 4
    assert "\n".join(lines) == KERAS_UNBUILT_SUMMARY
