"""The Sequential engine: building, compile/fit/evaluate/predict, callbacks, weights, summary."""
import io
import os
import signal

import h5py
import numpy as np
import pytest

import tinykeras as keras
from tinykeras import Sequential, backend, callbacks, models, optimizers
from tinykeras.layers import Dense, Dropout, Flatten, Input
from tinykeras.utils import to_categorical


def blobs(n=240, seed=0):
    """Three well separated Gaussian blobs in 4-D: any working trainer reaches ~100%."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    centers = np.array([[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0]], dtype=float)
    return centers[labels] + rng.normal(0, 0.5, (n, 4)), labels


def mlp(hidden=16, outputs=3, activation="softmax"):
    return Sequential(
        [Dense(hidden, activation="relu", input_shape=(4,)), Dense(outputs, activation=activation)]
    )


# ---- building -----------------------------------------------------------------------------


def test_list_add_and_input_build_the_same_model():
    a = Sequential([Dense(5, input_shape=(3,)), Dense(2)])
    b = Sequential()
    b.add(Input(shape=(3,)))
    b.add(Dense(5))
    b.add(Dense(2))
    assert a.output_shape == b.output_shape == (None, 2)
    assert [w.shape for w in a.get_weights()] == [w.shape for w in b.get_weights()]
    assert [layer.name for layer in a.layers] == ["dense", "dense_1"]
    assert a.name == "sequential" and b.name == "sequential_1"


def test_model_builds_on_first_data():
    model = Sequential([Dense(4), Dense(2)])
    assert not model.built
    out = model.predict(np.ones((3, 7)), verbose=0)
    assert out.shape == (3, 2) and model.input_shape == (None, 7)


def test_unbuilt_model_has_no_output_shape():
    with pytest.raises(ValueError, match="not been built"):
        Sequential([Dense(2)]).output_shape


def test_duplicate_layer_names_are_refused():
    with pytest.raises(ValueError, match="already has a layer named 'x'"):
        Sequential([Dense(2, name="x", input_shape=(3,)), Dense(2, name="x")])


def test_unknown_layer_argument_is_refused():
    with pytest.raises(TypeError, match="unrecognized keyword"):
        Dense(3, units_typo=4)


# ---- compile and fit ------------------------------------------------------------------------


def test_fit_before_compile_says_how_to_compile():
    with pytest.raises(RuntimeError, match=r"compile\(\) before fit"):
        mlp().fit(*blobs())


def test_fit_learns_and_history_has_sorted_keys():
    x, y = blobs()
    model = mlp()
    model.compile("adam", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, to_categorical(y), epochs=15, batch_size=16, verbose=0)
    assert list(history.history) == ["accuracy", "loss"]
    assert len(history.history["loss"]) == 15 and history.epoch == list(range(15))
    assert history.history["loss"][-1] < history.history["loss"][0] / 3
    assert history.history["accuracy"][-1] > 0.95
    assert history.history["acc"] is history.history["accuracy"]


@pytest.mark.parametrize(
    "optimizer",
    [optimizers.SGD(0.1), optimizers.SGD(0.05, momentum=0.9, nesterov=True), optimizers.RMSprop(0.01), optimizers.Adam(0.01)],
)
def test_every_optimizer_learns(optimizer):
    x, y = blobs()
    model = mlp()
    model.compile(optimizer, loss="sparse_categorical_crossentropy", metrics=["acc"])
    history = model.fit(x, y, epochs=15, verbose=0)
    assert history.history["acc"][-1] > 0.95


def test_binary_and_mse_models_learn():
    x, y = blobs()
    binary = (y == 0).astype(float)
    model = mlp(outputs=1, activation="sigmoid")
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    assert model.fit(x, binary, epochs=20, verbose=0).history["accuracy"][-1] > 0.95
    regression = mlp(outputs=1, activation=None)
    regression.compile(optimizers.Adam(0.01), "mse")
    history = regression.fit(x, x.sum(axis=1), epochs=30, verbose=0)
    assert history.history["loss"][-1] < 0.05 * history.history["loss"][0]


def test_same_seed_gives_same_weights_and_history():
    x, y = blobs()

    def run():
        keras.utils.set_random_seed(7)
        backend.clear_session()
        model = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dropout(0.3), Dense(3, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model.fit(x, y, epochs=3, verbose=0).history, model.get_weights()

    (h1, w1), (h2, w2) = run(), run()
    assert h1 == h2
    assert all(np.array_equal(a, b) for a, b in zip(w1, w2))


def test_validation_split_holds_out_the_last_samples():
    x, y = blobs(100)
    model = mlp()
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    seen = []

    class Sizes(callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(batch)

    history = model.fit(x, y, batch_size=10, epochs=1, validation_split=0.2, callbacks=[Sizes()], verbose=0)
    assert len(seen) == 8  # 80 training samples in batches of 10
    val_loss, val_acc = model.evaluate(x[80:], y[80:], verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(val_loss)
    assert history.history["val_accuracy"][0] == pytest.approx(val_acc)
    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]


def test_initial_epoch_resumes_counting():
    x, y = blobs(40)
    model = mlp()
    model.compile("sgd", "sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=5, initial_epoch=3, verbose=0)
    assert history.epoch == [3, 4]


# ---- evaluate and predict -------------------------------------------------------------------


def test_evaluate_returns_loss_alone_or_with_metrics():
    x, y = blobs(50)
    model = mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    assert isinstance(model.evaluate(x, y, verbose=0), float)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert 0 <= accuracy <= 1
    assert model.evaluate(x, y, verbose=0, return_dict=True) == {"accuracy": accuracy, "loss": loss}


def test_evaluate_loss_equals_the_mean_loss_over_all_samples():
    x, y = blobs(70)
    model = mlp()
    model.compile("adam", "categorical_crossentropy")
    p = model.predict(x, verbose=0).astype(np.float64)
    expected = -np.log(p[np.arange(70), y]).mean()
    assert model.evaluate(x, to_categorical(y), batch_size=32, verbose=0) == pytest.approx(expected, rel=1e-5)


def test_predict_in_batches_equals_one_batch():
    x, _ = blobs(77)
    model = mlp()
    full = model.predict(x, batch_size=77, verbose=0)
    np.testing.assert_allclose(model.predict(x, batch_size=10, verbose=0), full, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model.predict_on_batch(x), full, rtol=1e-6, atol=1e-7)


def test_train_and_test_on_batch():
    x, y = blobs(32)
    model = mlp()
    model.compile(optimizers.Adam(0.02), "sparse_categorical_crossentropy", metrics=["accuracy"])
    before = model.test_on_batch(x, y)
    for _ in range(30):
        loss, acc = model.train_on_batch(x, y)
    assert model.optimizer.iterations == 30
    assert model.test_on_batch(x, y)[0] < before[0] and acc > 0.9


# ---- callbacks ------------------------------------------------------------------------------


def test_early_stopping_stops_and_restores_best_weights():
    x, y = blobs(60)
    model = mlp()
    model.compile(optimizers.SGD(0.0), "sparse_categorical_crossentropy")  # loss never improves
    stopper = callbacks.EarlyStopping(monitor="loss", min_delta=1e-4, patience=2, restore_best_weights=True)
    history = model.fit(x, y, epochs=20, callbacks=[stopper], verbose=0)
    assert len(history.epoch) == 3 and stopper.stopped_epoch == 2


def test_early_stopping_watches_val_loss_by_default():
    x, y = blobs(60)
    model = mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    stopper = callbacks.EarlyStopping(patience=0)
    model.fit(x, y, epochs=3, validation_data=(x, y), callbacks=[stopper], verbose=0)
    assert stopper.best < np.inf


def test_model_checkpoint_formats_the_file_name(tmp_path):
    x, y = blobs(40)
    model = mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    pattern = str(tmp_path / "w.{epoch:02d}-{val_loss:.2f}.weights.h5")
    model.fit(x, y, epochs=2, validation_data=(x, y), callbacks=[callbacks.ModelCheckpoint(pattern)], verbose=0)
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 2 and names[0].startswith("w.01-") and names[1].startswith("w.02-")


def test_model_checkpoint_save_best_only_skips_worse_epochs(tmp_path):
    x, y = blobs(40)
    model = mlp()
    model.compile(optimizers.SGD(0.0), "sparse_categorical_crossentropy")
    path = tmp_path / "best.weights.h5"
    checkpoint = callbacks.ModelCheckpoint(str(path), monitor="loss", save_best_only=True)
    model.fit(x, y, epochs=3, callbacks=[checkpoint], verbose=0)
    assert path.exists() and checkpoint.best == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-5)


def test_model_checkpoint_saves_the_whole_model_to_a_keras_file(tmp_path):
    x, y = blobs(40)
    model = mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    path = tmp_path / "model.{epoch:02d}.keras"
    model.fit(x, y, epochs=2, callbacks=[callbacks.ModelCheckpoint(str(path))], verbose=0)
    restored = models.load_model(tmp_path / "model.02.keras")
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    assert restored.compiled


@pytest.mark.parametrize(
    "filepath, weights_only, message",
    [("ckpt.keras", True, "must end in `.weights.h5`"), ("ckpt.txt", False, "must end in `.keras`")],
)
def test_model_checkpoint_refuses_a_file_name_it_cannot_write(filepath, weights_only, message):
    with pytest.raises(ValueError, match=message):
        callbacks.ModelCheckpoint(filepath, save_weights_only=weights_only)


def test_terminate_on_nan_stops_training():
    x, y = blobs(64)
    model = mlp()
    model.compile(optimizers.SGD(1e30), "mse")
    history = model.fit(x, np.ones((64, 3)), epochs=5, batch_size=8, callbacks=[callbacks.TerminateOnNaN()], verbose=0)
    assert len(history.epoch) == 1


# ---- weights --------------------------------------------------------------------------------


def test_save_and_load_weights_round_trip(tmp_path):
    x, _ = blobs(10)
    model = mlp()
    path = tmp_path / "m.weights.h5"
    model.save_weights(path)
    other = mlp()
    other.load_weights(path)
    np.testing.assert_array_equal(model.predict(x, verbose=0), other.predict(x, verbose=0))


def test_weights_file_uses_keras_3_layout(tmp_path):
    model = Sequential([Dense(5, input_shape=(4,)), Dropout(0.1), Flatten(), Dense(2)])
    path = tmp_path / "m.weights.h5"
    model.save_weights(path)
    with h5py.File(path, "r") as f:
        assert sorted(f["layers"]) == ["dense", "dense_1", "dropout", "flatten"]
        assert f["layers/dense/vars/0"].shape == (4, 5)
        assert f["layers/dense/vars/1"].shape == (5,)
        assert f["layers/dense_1/vars/0"].shape == (5, 2)
        assert len(f["layers/dropout/vars"]) == 0 and "vars" in f


def test_load_weights_of_another_architecture_changes_nothing(tmp_path):
    path = tmp_path / "m.weights.h5"
    mlp(hidden=16).save_weights(path)
    model = mlp(hidden=8)
    before = model.get_weights()
    with pytest.raises(ValueError, match="different architecture"):
        model.load_weights(path)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.parametrize("name", ["m.keras", "m.npz", "weights"])
def test_save_weights_names_the_accepted_suffixes(tmp_path, name):
    with pytest.raises(ValueError, match=r"'\.weights\.h5'.*'\.h5' / '\.hdf5'.*filepath=.*" + name):
        mlp().save_weights(tmp_path / name)
    assert not os.listdir(tmp_path)


def test_failed_save_leaves_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "m.weights.h5"
    model = mlp()
    model.save_weights(path)
    before = path.read_bytes()
    monkeypatch.setattr(h5py.Group, "create_dataset", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        mlp().save_weights(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.weights.h5"]


def test_set_weights_checks_every_shape_first():
    model = mlp()
    before = model.get_weights()
    bad = [w.copy() + 1 for w in before]
    bad[-1] = np.zeros(7)
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        model.set_weights(bad)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.parametrize(
    ("last", "error", "message"),
    [
        (np.array(["a", "b", "c"]), TypeError, r"weight 'dense_1/bias' must hold real numbers .*dtype <U1 \(text\)"),
        (np.array([None, None, None]), TypeError, r"weight 'dense_1/bias' .*dtype object \(Python objects, such as None"),
        (np.array([True, False, True]), TypeError, r"weight 'dense_1/bias' .*dtype bool \(booleans\)"),
        (np.array([1j, 2, 3]), TypeError, r"weight 'dense_1/bias' .*dtype complex128 \(complex numbers\)"),
        ([[1.0], [2.0, 3.0]], ValueError, r"weight 'dense_1/bias' cannot be read as an array"),
    ],
    ids=["strings", "nones", "booleans", "complex", "ragged"],
)
def test_set_weights_checks_every_array_before_changing_any(last, error, message):
    model = mlp()
    before = model.get_weights()
    new = [w + 1 for w in before[:-1]] + [last]
    with pytest.raises(error, match=rf"Model 'sequential': {message}.*"):
        model.set_weights(new)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_set_weights_casts_integers_and_keeps_nan_as_keras_does():
    model = mlp()
    weights = [np.arange(w.size).reshape(w.shape) for w in model.get_weights()]
    weights[-1] = np.array([np.nan, 1.0, np.inf])
    model.set_weights(weights)
    result = model.get_weights()
    assert all(w.dtype == np.float32 for w in result)
    np.testing.assert_array_equal(result[0], np.arange(64).reshape(4, 16))
    np.testing.assert_array_equal(result[-1], [np.nan, 1.0, np.inf])


def test_set_weights_reads_every_array_before_writing_any():
    # Swapping two kernels given as the live arrays: the second must receive the first's old
    # values, not the ones just written.
    model = Sequential([Dense(3, input_shape=(3,)), Dense(3)])
    first, second = model.layers[0].kernel.value, model.layers[1].kernel.value
    old_first, old_second = first.copy(), second.copy()
    model.set_weights([second, np.zeros(3), first, np.zeros(3)])
    np.testing.assert_array_equal(model.layers[0].kernel.value, old_second)
    np.testing.assert_array_equal(model.layers[1].kernel.value, old_first)


# ---- printed output -------------------------------------------------------------------------

KERAS_SUMMARY = """\
Model: "sequential"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ dense (Dense)                   │ (None, 64)             │        50,240 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 10)             │           650 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 152,672 (596.38 KB)
 Trainable params: 50,890 (198.79 KB)
 Non-trainable params: 0 (0.00 B)
 Optimizer params: 101,782 (397.59 KB)
"""


def test_summary_matches_keras_3():
    model = Sequential([Dense(64, input_shape=(784,)), Dense(10, activation="softmax")])
    model.compile("adam", "categorical_crossentropy")
    model.train_on_batch(np.zeros((2, 784)), np.eye(10)[:2])
    lines = []
    model.summary(line_length=76, print_fn=lines.append)
    assert "\n".join(lines) + "\n" == KERAS_SUMMARY


def test_progress_output_without_a_terminal(capsys):
    x, y = blobs(64)
    model = mlp()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=16, verbose=1)
    out = capsys.readouterr().out
    assert "\r" not in out and "\x1b" not in out
    lines = out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert lines[1].startswith("4/4 ━━━━━━━━━━━━━━━━━━━━ ")
    assert "/step - accuracy: " in lines[1] and " - loss: " in lines[1]
    model.fit(x, y, epochs=1, batch_size=16, verbose=2)
    line = capsys.readouterr().out.strip()
    assert line.startswith("4/4 - ") and "/step - accuracy: " in line


def test_validation_metrics_end_the_epoch_line(capsys):
    x, y = blobs(64)
    model = mlp()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=16, validation_data=(x[:20], y[:20]), verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("4/4 ━")
    keys = [part.split(":")[0] for part in lines[0].split(" - ")[1:]]
    assert keys == ["accuracy", "loss", "val_accuracy", "val_loss"]


def test_progress_bar_redraws_in_place_on_a_terminal():
    from tinykeras.utils.progbar import Progbar

    stream = io.StringIO()
    stream.isatty = lambda: True
    bar = Progbar(3, stream=stream, interval=0)
    for step in range(1, 4):
        bar.update(step, {"loss": 0.5})
    out = stream.getvalue()
    assert out.count("\r") == 3 and out.endswith("loss: 0.5000\n")


def test_legacy_lr_argument_is_accepted_with_a_warning():
    with pytest.warns(DeprecationWarning, match="learning_rate"):
        optimizer = optimizers.Adam(lr=0.01)
    assert optimizer.learning_rate == 0.01


def test_only_the_first_layer_skips_its_input_gradient():
    x, y = blobs(32)
    model = mlp()
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.train_on_batch(x, y)
    assert [layer.input_gradient for layer in model.layers] == [False] + [True] * (len(model.layers) - 1)
    first = model.layers[0]
    assert first.backward(np.ones((len(x), first.units), "float32")) is None
    model.add(Dense(3))
    assert model.layers[-1].input_gradient and not model.layers[0].input_gradient


# ---- interrupting fit -----------------------------------------------------------------------


class CtrlC(callbacks.Callback):
    """Sends this process a SIGINT (as Ctrl-C does) when batch ``batch`` of epoch ``epoch`` starts."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at, self.epoch = (epoch, batch), None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            os.kill(os.getpid(), signal.SIGINT)


@pytest.fixture
def ctrl_c_raises():
    """Python's own SIGINT handler, as in a terminal: a process started in the background by a
    shell inherits SIGINT ignored, and then Ctrl-C does nothing at all."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_in_fit_stops_after_the_batch_and_keeps_the_finished_epochs(ctrl_c_raises):
    x, y = blobs(64)
    interrupted, reference = mlp(), mlp()
    reference.set_weights(interrupted.get_weights())
    for model in (interrupted, reference):
        model.compile(optimizers.SGD(0.1), "sparse_categorical_crossentropy")

    with pytest.raises(KeyboardInterrupt, match="after batch 3 of epoch 2"):
        interrupted.fit(x, y, batch_size=16, epochs=3, shuffle=False, callbacks=[CtrlC(1, 2)], verbose=0)

    # One full epoch (4 batches) and then batches 1-3 of the second: every update whole.
    reference.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    reference.fit(x[:48], y[:48], batch_size=16, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(interrupted.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(interrupted.history.history["loss"]) == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ---- trainable changed after training: gradients reach their own variables -----------------


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop"])
def test_freezing_a_layer_after_fit_takes_effect_without_recompiling(optimizer):
    from tinykeras.layers import BatchNormalization

    rng = np.random.default_rng(0)
    x = rng.random((64, 6), dtype=np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 64)]
    model = Sequential([Dense(8, input_shape=(6,), activation="relu"), BatchNormalization(), Dense(3, activation="softmax")])
    model.compile(optimizer, "categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    frozen = model.layers[1]
    frozen.trainable = False
    before = [w.copy() for w in model.get_weights()]

    model.fit(x, y, epochs=1, batch_size=16, verbose=0)

    after = model.get_weights()
    for index in (2, 3, 4, 5):  # gamma, beta and the moving statistics stay as they were
        np.testing.assert_array_equal(after[index], before[index])
    for index in (0, 1, 6, 7):  # both Dense layers keep training
        assert not np.array_equal(after[index], before[index])


def test_unfreezing_a_layer_gives_it_fresh_optimizer_slots_and_keeps_the_others():
    rng = np.random.default_rng(1)
    x = rng.random((32, 4), dtype=np.float32)
    y = rng.random((32, 2), dtype=np.float32)
    first = Dense(5, input_shape=(4,), trainable=False)
    model = Sequential([first, Dense(2)])
    model.compile("adam", "mse")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    kept = [a.copy() for a in model.optimizer.variables[2:]]
    first_before = first.get_weights()

    first.trainable = True
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)

    assert not np.array_equal(first.get_weights()[0], first_before[0])
    assert len(model.optimizer.variables) == 2 + 2 * 4  # moments of 4 variables now
    assert kept[0].shape == (5, 2)


def test_model_trainable_false_sets_every_layer_and_trains_nothing():
    model = Sequential([Dense(3, input_shape=(2,)), Dense(1)])
    model.compile("sgd", "mse")
    model.trainable = False
    assert not any(layer.trainable for layer in model.layers)
    before = model.get_weights()
    model.fit(np.ones((4, 2), np.float32), np.ones((4, 1), np.float32), epochs=2, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    model.trainable = True
    assert all(layer.trainable for layer in model.layers)


def test_a_backward_that_sets_no_gradient_is_refused_naming_the_layer():
    from tinykeras.layers import Layer

    class Scale(Layer):
        def build(self, input_shape):
            self.w = self.add_weight("w", (input_shape[-1],), initializer="ones")

        def forward(self, x, training=False):
            return x * self.w.value

        def backward(self, dy):
            return dy * self.w.value  # forgets self.grads

    model = Sequential([Dense(3, input_shape=(2,)), Scale(name="scale"), Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(TypeError, match=r"Layer 'scale' has 1 trainable weight\(s\) \(w\); its backward set 0"):
        model.fit(np.ones((4, 2), np.float32), np.ones((4, 1), np.float32), verbose=0)


def test_optimizer_refuses_a_gradient_of_another_shape_or_an_unknown_variable():
    from tinykeras.layers.base import Variable

    w = Variable("w", np.zeros(3), path="dense/w")
    optimizer = optimizers.SGD()
    optimizer.build([w])
    with pytest.raises(ValueError, match=r"gradient of variable 'dense/w' has shape \(2,\).*\(3,\)"):
        optimizer.step([(np.ones(2), w)])
    other = Variable("v", np.zeros(3), path="dense/v")
    with pytest.raises(ValueError, match=r"does not update variable 'dense/v'"):
        optimizer.step([(np.ones(3), other)])
    np.testing.assert_array_equal(w.value, np.zeros(3))
