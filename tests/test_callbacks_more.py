"""ModelCheckpoint (batch frequency, best-only, templates), ReduceLROnPlateau and
LearningRateScheduler on scripted logs, CSVLogger's files, TerminateOnNaN, LambdaCallback and
BackupAndRestore, each against what Keras 3.15.1 (JAX) printed, wrote or logged for the same
inputs (the expected values below were observed with it)."""
import json
import os

import h5py
import numpy as np
import pytest

import tinykeras as keras
from tinykeras import callbacks, optimizers
from tinykeras.layers import Dense, Dropout


def f32(value):
    """A rate as Keras reads it from its float32 variable."""
    return float(np.float32(value))


class FakeModel:
    """What a callback sees of a model: an optimizer and stop_training."""

    def __init__(self, learning_rate=0.1):
        self.optimizer = optimizers.SGD(learning_rate)
        self.stop_training = False


def drive(callback, values, monitor="val_loss", model=None):
    """Runs the epoch hooks as fit does, with ``values`` as the monitored log; returns the
    model and each epoch's logs."""
    model = model or FakeModel()
    callback.set_model(model)
    callback.on_train_begin({})
    all_logs = []
    for epoch, value in enumerate(values):
        callback.on_epoch_begin(epoch, {})
        logs = {monitor: value}
        callback.on_epoch_end(epoch, logs)
        all_logs.append(logs)
    callback.on_train_end({})
    return model, all_logs


def data():
    x = np.arange(24, dtype="float32").reshape(8, 3) / 10
    return x, x.sum(axis=1, keepdims=True)


def small_model(learning_rate=0.1):
    model = keras.Sequential([keras.Input((3,)), Dense(1)])
    model.compile(optimizers.SGD(learning_rate), "mse", metrics=["mae"])
    return model


# ---- ModelCheckpoint ----------------------------------------------------------------------------


def test_checkpoint_every_n_batches_counts_across_epochs(tmp_path, capsys):
    x, y = data()
    model = small_model()
    snapshots = []
    record = callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: snapshots.append(model.get_weights()))
    pattern = str(tmp_path / "m-{epoch:02d}-{batch:03d}.weights.h5")
    checkpoint = callbacks.ModelCheckpoint(pattern, save_weights_only=True, save_freq=3, verbose=1)
    model.fit(x, y, batch_size=2, epochs=2, verbose=0, callbacks=[checkpoint, record])
    # Keras: 4 batches per epoch, saved after the 3rd batch overall and the 6th (batch 2 of
    # epoch 2), the batch counted from 1 in the name.
    assert sorted(os.listdir(tmp_path)) == ["m-01-003.weights.h5", "m-02-002.weights.h5"]
    assert capsys.readouterr().out.replace(str(tmp_path), "<D>") == (
        "\nEpoch 1: saving model to <D>/m-01-003.weights.h5\n"
        "\nEpoch 1: finished saving model to <D>/m-01-003.weights.h5\n"
        "\nEpoch 2: saving model to <D>/m-02-002.weights.h5\n"
        "\nEpoch 2: finished saving model to <D>/m-02-002.weights.h5\n"
    )
    for name, after_batch in [("m-01-003.weights.h5", 2), ("m-02-002.weights.h5", 5)]:
        restored = small_model()
        restored.load_weights(tmp_path / name)
        for saved, expected in zip(restored.get_weights(), snapshots[after_batch]):
            np.testing.assert_array_equal(saved, expected)


def test_checkpoint_best_only_with_a_template(tmp_path, capsys):
    model = small_model()
    checkpoint = callbacks.ModelCheckpoint(str(tmp_path / "m-{epoch:02d}-{loss:.2f}.keras"), monitor="loss",
                                           save_best_only=True, verbose=1)
    drive(checkpoint, [2.440640687942505, 0.03277696296572685, 0.021412793546915054], monitor="loss", model=model)
    assert sorted(os.listdir(tmp_path)) == ["m-01-2.44.keras", "m-02-0.03.keras", "m-03-0.02.keras"]
    assert capsys.readouterr().out.replace(str(tmp_path), "<D>") == (
        "\nEpoch 1: loss improved from None to 2.44064, saving model to <D>/m-01-2.44.keras\n"
        "\nEpoch 1: finished saving model to <D>/m-01-2.44.keras\n"
        "\nEpoch 2: loss improved from 2.44064 to 0.03278, saving model to <D>/m-02-0.03.keras\n"
        "\nEpoch 2: finished saving model to <D>/m-02-0.03.keras\n"
        "\nEpoch 3: loss improved from 0.03278 to 0.02141, saving model to <D>/m-03-0.02.keras\n"
        "\nEpoch 3: finished saving model to <D>/m-03-0.02.keras\n"
    )
    assert keras.models.load_model(tmp_path / "m-03-0.02.keras").compiled


def test_checkpoint_mode_max_keeps_the_highest(tmp_path, capsys):
    checkpoint = callbacks.ModelCheckpoint(str(tmp_path / "m-{epoch}.keras"), monitor="mae", mode="max",
                                           save_best_only=True, verbose=1)
    drive(checkpoint, [2.5046069622039795, 0.25724685192108154, 0.28869786858558655], monitor="mae", model=small_model())
    assert os.listdir(tmp_path) == ["m-1.keras"]
    assert capsys.readouterr().out.replace(str(tmp_path), "<D>") == (
        "\nEpoch 1: mae improved from None to 2.50461, saving model to <D>/m-1.keras\n"
        "\nEpoch 1: finished saving model to <D>/m-1.keras\n"
        "\nEpoch 2: mae did not improve from 2.50461\n"
        "\nEpoch 3: mae did not improve from 2.50461\n"
    )


def test_checkpoint_initial_value_threshold_must_be_beaten(tmp_path, capsys):
    checkpoint = callbacks.ModelCheckpoint(str(tmp_path / "sub" / "best.keras"), monitor="loss", save_best_only=True,
                                           initial_value_threshold=0.01, verbose=1)
    drive(checkpoint, [2.44, 0.03, 0.005], monitor="loss", model=small_model())
    assert capsys.readouterr().out.replace(str(tmp_path), "<D>") == (
        "\nEpoch 1: loss did not improve from 0.01000\n"
        "\nEpoch 2: loss did not improve from 0.01000\n"
        "\nEpoch 3: loss improved from 0.01000 to 0.00500, saving model to <D>/sub/best.keras\n"
        "\nEpoch 3: finished saving model to <D>/sub/best.keras\n"
    )
    assert os.listdir(tmp_path / "sub") == ["best.keras"]  # the folder made when first needed


def test_checkpoint_best_only_without_the_log_saves_every_epoch_with_a_warning(tmp_path, capsys):
    x, y = data()
    checkpoint = callbacks.ModelCheckpoint(str(tmp_path / "best.weights.h5"), save_best_only=True,
                                           save_weights_only=True, verbose=1)
    with pytest.warns(UserWarning, match=r"^Can save best model only with val_loss available\.$"):
        small_model().fit(x, y, batch_size=2, epochs=2, verbose=0, callbacks=[checkpoint])
    assert os.listdir(tmp_path) == ["best.weights.h5"]
    assert capsys.readouterr().out.replace(str(tmp_path), "<D>") == (
        "\nEpoch 1: finished saving model to <D>/best.weights.h5\n"
        "\nEpoch 2: finished saving model to <D>/best.weights.h5\n"
    )


def test_checkpoint_saves_a_whole_model_to_h5(tmp_path, capsys):
    x, y = data()
    model = small_model()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.ModelCheckpoint(str(tmp_path / "m.h5"), verbose=1)])
    assert capsys.readouterr().out.replace(str(tmp_path), "<D>") == (
        "\nEpoch 1: saving model to <D>/m.h5\n\nEpoch 1: finished saving model to <D>/m.h5\n"
    )
    np.testing.assert_array_equal(keras.models.load_model(tmp_path / "m.h5").predict(x, verbose=0),
                                  model.predict(x, verbose=0))


@pytest.mark.parametrize(("arguments", "message"), [
    ({"filepath": "a.h5", "save_weights_only": True},
     r"When using `save_weights_only=True` in `ModelCheckpoint`, the filepath provided must end in `\.weights\.h5` \(Keras weights format\)\. Received: filepath=a\.h5"),
    ({"filepath": "a.txt"}, r"The filepath provided must end in `\.keras` \(Keras model format\).*Received: filepath=a\.txt"),
    ({"filepath": "a.keras", "save_freq": "batch"}, r"^Unrecognized save_freq: batch\. Expected save_freq are 'epoch' or integer values$"),
    ({"filepath": "a.keras", "save_freq": 2.0}, r"^Unrecognized save_freq: 2\.0\. Expected save_freq are 'epoch' or integer values$"),
    ({"filepath": "a.keras", "save_freq": 0}, r"^Unrecognized save_freq: 0\."),
])
def test_checkpoint_arguments_are_checked(arguments, message):
    with pytest.raises(ValueError, match=message):
        callbacks.ModelCheckpoint(**arguments)


def test_checkpoint_template_naming_a_missing_log_says_so(tmp_path):
    x, y = data()
    checkpoint = callbacks.ModelCheckpoint(str(tmp_path / "{nokey}.keras"))
    with pytest.raises(KeyError, match=r"Failed to format this callback filepath: \".*\{nokey\}\.keras\"\. Reason: .*nokey"):
        small_model().fit(x, y, epochs=1, verbose=0, callbacks=[checkpoint])


# ---- ReduceLROnPlateau and LearningRateScheduler: Keras' rates and lines -------------------------


@pytest.mark.parametrize(("arguments", "values", "lr", "logged", "final", "printed"), [
    ({"factor": 0.5, "patience": 2}, [1.0, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8], 0.1,
     [0.10000000149011612] * 4 + [0.05000000074505806] * 3 + [0.02500000037252903], 0.02500000037252903,
     "\nEpoch 4: ReduceLROnPlateau reducing learning rate to 0.05000000074505806.\n"
     "\nEpoch 7: ReduceLROnPlateau reducing learning rate to 0.02500000037252903.\n"),
    ({"factor": 0.5, "patience": 2, "cooldown": 2}, [1.0] * 10, 1.0,
     [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125], 0.125,
     "\nEpoch 3: ReduceLROnPlateau reducing learning rate to 0.5.\n"
     "\nEpoch 6: ReduceLROnPlateau reducing learning rate to 0.25.\n"
     "\nEpoch 9: ReduceLROnPlateau reducing learning rate to 0.125.\n"),
    ({"factor": 0.1, "patience": 1, "min_lr": 0.001}, [1.0] * 8, 0.1,
     [0.10000000149011612] * 2 + [0.009999999776482582] + [0.0010000000474974513] * 5, 0.0010000000474974513,
     "\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.010000000149011612.\n"
     "\nEpoch 3: ReduceLROnPlateau reducing learning rate to 0.001.\n"),
    ({"factor": 0.5, "patience": 1, "min_delta": 0.1}, [1.0, 0.95, 0.85, 0.7, 0.65], 0.1,
     [0.10000000149011612] * 2 + [0.05000000074505806] * 3, 0.02500000037252903,
     "\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.05000000074505806.\n"
     "\nEpoch 5: ReduceLROnPlateau reducing learning rate to 0.02500000037252903.\n"),
    ({"factor": 0.5, "patience": 1}, [float("nan"), 1.0, 0.5], 0.1,
     [0.10000000149011612] * 2 + [0.05000000074505806], 0.02500000037252903,
     "\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.05000000074505806.\n"
     "\nEpoch 3: ReduceLROnPlateau reducing learning rate to 0.02500000037252903.\n"),
])
def test_reduce_lr_on_scripted_logs_as_keras(capsys, arguments, values, lr, logged, final, printed):
    model, logs = drive(callbacks.ReduceLROnPlateau(verbose=1, **arguments), values, model=FakeModel(lr))
    assert [entry["learning_rate"] for entry in logs] == logged
    assert f32(model.optimizer.learning_rate) == final
    assert capsys.readouterr().out == printed


def test_reduce_lr_mode_max(capsys):
    reducer = callbacks.ReduceLROnPlateau(monitor="val_mae", mode="max", factor=0.2, patience=1, verbose=1)
    model, logs = drive(reducer, [0.5, 0.6, 0.55, 0.7, 0.7], monitor="val_mae", model=FakeModel(0.3))
    assert [entry["learning_rate"] for entry in logs] == [0.30000001192092896] * 3 + [0.06000000238418579] * 2
    assert f32(model.optimizer.learning_rate) == 0.012000000104308128
    assert capsys.readouterr().out == (
        "\nEpoch 3: ReduceLROnPlateau reducing learning rate to 0.06000000238418579.\n"
        "\nEpoch 5: ReduceLROnPlateau reducing learning rate to 0.012000000476837159.\n"
    )


def test_scheduler_receives_and_logs_the_float32_rate(capsys):
    scheduler = callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch > 0 else lr, verbose=1)
    model, logs = drive(scheduler, [0.0] * 3, model=FakeModel(0.1))
    assert [entry["learning_rate"] for entry in logs] == [0.10000000149011612, 0.05000000074505806, 0.02500000037252903]
    assert capsys.readouterr().out == (
        "\nEpoch 1: LearningRateScheduler setting learning rate to 0.10000000149011612.\n"
        "\nEpoch 2: LearningRateScheduler setting learning rate to 0.05000000074505806.\n"
        "\nEpoch 3: LearningRateScheduler setting learning rate to 0.02500000037252903.\n"
    )


# ---- CSVLogger: Keras' bytes --------------------------------------------------------------------


def write_epochs(logger, rows):
    logger.set_model(FakeModel())
    logger.on_train_begin({})
    for epoch, logs in enumerate(rows):
        logger.on_epoch_end(epoch, dict(logs))
    logger.on_train_end({})


def test_csv_logger_values_of_every_kind(tmp_path):
    path = tmp_path / "log.csv"
    first = {"loss": 0.5, "val_loss": 0.25, "learning_rate": f32(0.1), "arr": np.array([1.0, 2.0]), "z": np.array(3.5)}
    write_epochs(callbacks.CSVLogger(path, separator=";"), [first, {"loss": 0.125}])
    keras_bytes = (b'epoch;arr;learning_rate;loss;val_loss;z\r\n0;"""[1.0, 2.0]""";0.10000000149011612;0.5;0.25;3.5\r\n'
                   b"1;NA;NA;0.125;NA;NA\r\n")
    assert path.read_bytes() == keras_bytes
    write_epochs(callbacks.CSVLogger(path, append=True), [{"loss": 1.0}])
    assert path.read_bytes() == keras_bytes + b"0,1.0,NA\r\n"  # no second header; its own columns


def test_csv_logger_strings_lists_and_late_validation(tmp_path):
    path = tmp_path / "a.csv"
    write_epochs(callbacks.CSVLogger(path), [{"loss": 1.0, "note": "a,b", "lst": [1, 2], "tup": (0.5,)}])
    assert path.read_bytes() == (b'epoch,loss,lst,note,tup,val_loss,val_lst,val_note,val_tup\r\n'
                                 b'0,1.0,"""[1, 2]""","a,b","""[0.5]""",NA,NA,NA,NA\r\n')
    write_epochs(callbacks.CSVLogger(path), [{"loss": 1.0}, {"loss": 0.5, "val_loss": 0.25}])
    assert path.read_bytes() == b"epoch,loss,val_loss\r\n0,1.0,NA\r\n1,0.5,0.25\r\n"
    write_epochs(callbacks.CSVLogger(path), [{}, {"loss": 1.0}])
    assert path.read_bytes() == b"epoch\r\n0\r\n1\r\n"


def test_csv_logger_in_fit_has_keras_columns(tmp_path):
    x, y = data()
    path = tmp_path / "fit.csv"
    history = small_model().fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=[callbacks.CSVLogger(path)])
    lines = path.read_bytes().decode().split("\r\n")
    assert lines[0] == "epoch,loss,mae,val_loss,val_mae" and lines[-1] == ""
    for epoch, line in enumerate(lines[1:-1]):
        assert line == f"{epoch},{history.history['loss'][epoch]},{history.history['mae'][epoch]},NA,NA"


# ---- TerminateOnNaN -----------------------------------------------------------------------------


def test_terminate_on_nan_stops_gracefully(capsys):
    model = FakeModel()
    stopper = callbacks.TerminateOnNaN()
    stopper.set_model(model)
    stopper.on_train_batch_end(0, {"loss": 1.0})
    assert not model.stop_training
    stopper.on_train_batch_end(1, {"loss": float("inf")})
    assert model.stop_training and capsys.readouterr().out == "Batch 1: Invalid loss, terminating training\n"


def test_terminate_on_nan_can_raise(tmp_path):
    x, y = data()
    backup = tmp_path / "backup"
    stopper = callbacks.TerminateOnNaN(raise_error=True)
    stopper.set_model(FakeModel())
    with pytest.raises(RuntimeError, match=r"^NaN or Inf loss encountered at batch 1\. Loss value: inf\. Terminating training immediately\.$"):
        stopper.on_train_batch_end(1, {"loss": float("inf")})
    model = small_model(learning_rate=1e30)
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered"):
        model.fit(x * 1e10, y, batch_size=2, epochs=3, verbose=0,
                  callbacks=[callbacks.BackupAndRestore(backup), callbacks.TerminateOnNaN(raise_error=True)])
    assert not backup.exists()  # no epoch ended: nothing was backed up, and nothing cleaned up


# ---- LambdaCallback -----------------------------------------------------------------------------


def test_lambda_callback_hooks_are_called_as_keras_calls_them():
    x, y = data()
    model = keras.Sequential([keras.Input((3,)), Dense(1)])
    model.compile(optimizers.SGD(0.1), "mse")
    calls = []
    lambdas = callbacks.LambdaCallback(
        on_train_begin=lambda logs: calls.append(("train_begin", logs)),
        on_train_end=lambda logs: calls.append(("train_end", sorted(logs))),
        on_epoch_begin=lambda epoch, logs: calls.append(("epoch_begin", epoch, logs)),
        on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch, sorted(logs))),
        on_train_batch_begin=lambda batch, logs: calls.append(("batch_begin", batch, logs)),
        on_train_batch_end=lambda batch, logs: calls.append(("batch_end", batch, sorted(logs))),
        on_test_begin=lambda logs: calls.append(("test_begin",)),
    )
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, validation_data=(x, y), callbacks=[lambdas])
    epoch = [("batch_begin", 0, {}), ("batch_end", 0, ["loss"]), ("batch_begin", 1, {}), ("batch_end", 1, ["loss"]),
             ("test_begin",)]
    assert calls == [("train_begin", {}), ("epoch_begin", 0, {}), *epoch, ("epoch_end", 0, ["loss", "val_loss"]),
                     ("epoch_begin", 1, {}), *epoch, ("epoch_end", 1, ["loss", "val_loss"]),
                     ("train_end", ["loss", "val_loss"])]


def test_keras_2_batch_hook_names_work_in_lambdas_and_subclasses():
    x, y = data()
    calls = []
    lambdas = callbacks.LambdaCallback(on_batch_begin=lambda batch, logs: calls.append(("b", batch)),
                                       on_batch_end=lambda batch, logs: calls.append(("e", batch, sorted(logs))))

    class Keras2Style(callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            calls.append(("subclass", batch))

    small_model().fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[lambdas, Keras2Style()])
    assert calls == [("b", 0), ("e", 0, ["loss", "mae"]), ("subclass", 0), ("b", 1), ("e", 1, ["loss", "mae"]), ("subclass", 1)]


def test_lambda_callback_refuses_a_misspelt_hook():
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['on_epoch_ends'\]"):
        callbacks.LambdaCallback(on_epoch_ends=print)
    assert repr(callbacks.LambdaCallback(on_epoch_end=print)) == "LambdaCallback(on_epoch_end)"


# ---- BackupAndRestore ---------------------------------------------------------------------------


def classification_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)).astype("float32")
    return x, (x[:, :2].sum(axis=1) > 0).astype("int64")


def dropout_model(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((5,)), Dense(8, activation="relu"), Dropout(0.3), Dropout(0.2, seed=5),
                              Dense(2, activation="softmax")])
    model.compile(optimizers.Adam(0.01), "sparse_categorical_crossentropy", ["accuracy"])
    return model


class Crash(callbacks.Callback):
    """Raises in the middle of epoch ``epoch``, as a killed process would stop."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)
        self.epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise RuntimeError("killed")


def schedule():
    return callbacks.LearningRateScheduler(lambda epoch, lr: 0.01 * 0.5**epoch)


def test_a_run_resumed_after_a_crash_ends_with_the_same_weights_to_the_bit(tmp_path):
    x, y = classification_data()
    uninterrupted = dropout_model(1)
    expected = uninterrupted.fit(x, y, epochs=6, batch_size=8, verbose=0, callbacks=[schedule()]).history

    backup = tmp_path / "backup"
    crashed = dropout_model(1)
    with pytest.raises(RuntimeError, match="killed"):
        crashed.fit(x, y, epochs=6, batch_size=8, verbose=0,
                    callbacks=[schedule(), callbacks.BackupAndRestore(backup), Crash(epoch=3, batch=4)])
    assert sorted(os.listdir(backup)) == ["latest.weights.h5", "training_metadata.json"]
    metadata = json.loads((backup / "training_metadata.json").read_text())
    assert {key: metadata[key] for key in ("epoch", "batch")} == {"epoch": 3, "batch": 0}  # Keras' entries

    resumed_model = dropout_model(2)  # another process: other initial weights, other random state
    resumed = resumed_model.fit(x, y, epochs=6, batch_size=8, verbose=0,
                                callbacks=[schedule(), callbacks.BackupAndRestore(backup)])
    assert resumed.epoch == [3, 4, 5]
    assert resumed.history["loss"] == expected["loss"][3:]
    assert resumed_model.optimizer.iterations == uninterrupted.optimizer.iterations == 48
    for got, want in zip(resumed_model.get_weights(), uninterrupted.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert not backup.exists()  # deleted once training ended


def test_the_backup_is_laid_out_as_keras_writes_it(tmp_path):
    x, y = data()
    model = keras.Sequential([keras.Input((3,)), Dense(2)])
    model.compile("adam", "mse")
    backup = tmp_path / "backup"
    model.fit(x, np.ones((8, 2)), epochs=1, verbose=0, callbacks=[callbacks.BackupAndRestore(backup, delete_checkpoint=False)])
    with h5py.File(backup / "latest.weights.h5") as file:
        names = []
        file.visit(names.append)
    assert names == ["layers", "layers/dense", "layers/dense/vars", "layers/dense/vars/0", "layers/dense/vars/1",
                     "optimizer", "optimizer/vars", *[f"optimizer/vars/{i}" for i in range(6)], "vars"]


def test_a_backup_every_n_batches_restarts_its_epoch_as_keras_does(tmp_path):
    x, y = data()

    def model():
        keras.utils.set_random_seed(1)
        built = keras.Sequential([keras.Input((3,)), Dense(1)])
        built.compile(optimizers.Adam(0.01), "mse")
        return built

    class CrashAtStep(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.model.optimizer.iterations == 5:
                raise RuntimeError("killed")

    backup = tmp_path / "backup"
    with pytest.raises(RuntimeError):
        model().fit(x, y, epochs=6, batch_size=4, shuffle=False, verbose=0,
                    callbacks=[callbacks.BackupAndRestore(backup, save_freq=3, delete_checkpoint=False), CrashAtStep()])
    metadata = json.loads((backup / "training_metadata.json").read_text())
    assert (metadata["epoch"], metadata["batch"], metadata["iterations"]) == (1, 0, 3)
    resumed = model()
    history = resumed.fit(x, y, epochs=6, batch_size=4, shuffle=False, verbose=0,
                          callbacks=[callbacks.BackupAndRestore(backup, save_freq=3, delete_checkpoint=False)])
    # Keras: the backup after step 3 (epoch 1, batch 0) resumes at the start of epoch 1: 13 steps.
    assert history.epoch == [1, 2, 3, 4, 5] and resumed.optimizer.iterations == 13
    metadata = json.loads((backup / "training_metadata.json").read_text())
    assert (metadata["epoch"], metadata["batch"]) == (5, 0)


def test_double_checkpoint_falls_back_to_the_previous_backup(tmp_path):
    x, y = data()
    backup = tmp_path / "backup"
    with pytest.raises(RuntimeError):
        small_model().fit(x, y, epochs=5, batch_size=4, verbose=0,
                          callbacks=[callbacks.BackupAndRestore(backup, double_checkpoint=True), Crash(epoch=2, batch=0)])
    assert sorted(os.listdir(backup)) == ["latest.weights.h5", "latest.weights.h5.bkp", "training_metadata.json",
                                          "training_metadata.json.bkp"]
    (backup / "latest.weights.h5").write_bytes(b"truncated")
    history = small_model().fit(x, y, epochs=5, batch_size=4, verbose=0,
                                callbacks=[callbacks.BackupAndRestore(backup, double_checkpoint=True)])
    assert history.epoch == [1, 2, 3, 4]  # the previous backup: after epoch 0


def test_a_backup_written_halfway_is_detected(tmp_path):
    x, y = data()
    backup = tmp_path / "backup"
    with pytest.raises(RuntimeError):
        small_model().fit(x, y, epochs=3, batch_size=4, verbose=0,
                          callbacks=[callbacks.BackupAndRestore(backup), Crash(epoch=1, batch=1)])
    metadata = json.loads((backup / "training_metadata.json").read_text())
    (backup / "training_metadata.json").write_text(json.dumps({**metadata, "iterations": 4}))
    with pytest.raises(ValueError, match=r"holds the state after 2 steps, .* describes the state after 4: the backup was interrupted while being written\. Delete"):
        small_model().fit(x, y, epochs=3, batch_size=4, verbose=0, callbacks=[callbacks.BackupAndRestore(backup)])


def test_backup_needs_a_built_model(tmp_path):
    x, y = data()
    model = keras.Sequential([Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"To use the BackupAndRestore callback, your model must be built before you call `fit\(\)`"):
        model.fit(((x, y) for _ in range(2)), verbose=0, callbacks=[callbacks.BackupAndRestore(tmp_path / "b")])


def test_backup_arguments_are_checked_as_keras_checks_them():
    with pytest.raises(ValueError, match=r"^Empty `backup_dir` argument passed$"):
        callbacks.BackupAndRestore("")
    with pytest.raises(ValueError, match=r"^Invalid value for argument `save_freq`\. Received: save_freq=batch\. Expected either 'epoch' or an integer value\.$"):
        callbacks.BackupAndRestore("b", save_freq="batch")
