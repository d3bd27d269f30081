"""Callbacks against Keras 3's rules: ReduceLROnPlateau, LearningRateScheduler, CSVLogger and
EarlyStopping, driven by scripted logs and by real ``fit`` runs."""
import math

import numpy as np
import pytest

from tinykeras import Sequential, callbacks, optimizers
from tinykeras.layers import Dense


class FakeModel:
    """What a callback sees of a model: an optimizer, stop_training and weights.

    The weights are a single array holding the number of the epoch that last set them.
    """

    def __init__(self, learning_rate=1.0):
        self.optimizer = optimizers.SGD(learning_rate)
        self.stop_training = False
        self.weights = [np.array([-1.0])]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [w.copy() for w in weights]


def drive(callback, values, monitor="val_loss", model=None):
    """Runs the callback's epoch hooks like ``fit`` does, with ``values`` as the monitored log.

    Returns:
        The model and the logs of each epoch that ran (they stop early when the callback sets
        ``stop_training``).
    """
    model = model or FakeModel()
    callback.set_model(model)
    callback.on_train_begin()
    all_logs = []
    for epoch, value in enumerate(values):
        callback.on_epoch_begin(epoch, {})
        model.weights = [np.array([float(epoch)])]  # this epoch's training step
        logs = {monitor: value}
        callback.on_epoch_end(epoch, logs)
        all_logs.append(logs)
        if model.stop_training:
            break
    callback.on_train_end()
    return model, all_logs


def tiny_model(learning_rate=0.1):
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile(optimizers.SGD(learning_rate), "mse")
    return model


def tiny_data(n=32):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3))
    return x, x @ np.array([1.0, -2.0, 0.5]) + 0.1


# ---- ReduceLROnPlateau ----------------------------------------------------------------------


def learning_rates(logs):
    return [entry["learning_rate"] for entry in logs]


def f32(value):
    """A rate as Keras logs it: read from its float32 variable."""
    return float(np.float32(value))


def test_reduce_lr_after_patience_epochs_without_improvement():
    reducer = callbacks.ReduceLROnPlateau(factor=0.5, patience=2)
    _, logs = drive(reducer, [1.0, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8])
    # Each log holds the rate used during its epoch. Epochs 2 and 3 do not improve on 0.9: the
    # rate halves after epoch 3; epoch 4 improves; epochs 5 and 6 do not: halved after epoch 6;
    # the wait then restarts from 0, so epoch 7 alone changes nothing.
    assert learning_rates(logs) == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]
    assert reducer.wait == 1 and reducer.best == 0.8


def test_reduce_lr_logs_the_rate_used_during_the_epoch():
    model = FakeModel(0.3)
    _, logs = drive(callbacks.ReduceLROnPlateau(factor=0.1, patience=1), [1.0, 1.0], model=model)
    assert learning_rates(logs) == [f32(0.3), f32(0.3)]  # reduced only after the second epoch ended
    assert model.optimizer.learning_rate == pytest.approx(0.03)


def test_reduce_lr_min_delta_decides_what_counts_as_better():
    _, logs = drive(callbacks.ReduceLROnPlateau(factor=0.5, patience=1, min_delta=0.1), [1.0, 0.95, 0.85])
    # 0.95 is not 0.1 below 1.0 (reduce after epoch 1); 0.85 is (no reduction after epoch 2).
    assert learning_rates(logs) == [1.0, 1.0, 0.5]


def test_reduce_lr_cooldown_skips_epochs_after_a_reduction():
    flat = [1.0] * 10
    _, no_cooldown = drive(callbacks.ReduceLROnPlateau(factor=0.5, patience=2), flat)
    _, cooldown_2 = drive(callbacks.ReduceLROnPlateau(factor=0.5, patience=2, cooldown=2), flat)
    # The rate in each epoch's log is the one used during it: reductions after epochs 2, 4, 6, 8
    # without cooldown; with cooldown=2, after epochs 2, 5 and 8 (Keras counts the cooldown down
    # before it tests, so epoch 4 is the first counted again).
    assert learning_rates(no_cooldown) == [1, 1, 1, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.0625]
    assert learning_rates(cooldown_2) == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]


def test_reduce_lr_stops_at_min_lr():
    model = FakeModel(1.0)
    _, logs = drive(callbacks.ReduceLROnPlateau(factor=0.1, patience=1, min_lr=0.05), [1.0] * 5, model=model)
    assert learning_rates(logs) == [1.0, 1.0, f32(0.1), f32(0.05), f32(0.05)]
    assert model.optimizer.learning_rate == 0.05


def test_reduce_lr_at_min_lr_prints_nothing_more(capsys):
    model = FakeModel(1.0)
    reducer = callbacks.ReduceLROnPlateau(factor=0.1, patience=1, min_lr=0.1, verbose=1)
    drive(reducer, [1.0] * 6, model=model)
    assert capsys.readouterr().out == "\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.1.\n"
    assert model.optimizer.learning_rate == 0.1


def test_reduce_lr_compares_with_min_lr_in_float32(capsys):
    # 0.1 * 0.1 * 0.1 is 0.0010000000000000002 in float64, above min_lr=0.001; in float32 (where
    # Keras keeps the rate) the two are equal, so the rate counts as at its floor: no third line.
    model = FakeModel(0.1)
    drive(callbacks.ReduceLROnPlateau(factor=0.1, patience=1, min_lr=0.001, verbose=1), [1.0] * 8, model=model)
    assert capsys.readouterr().out.count("ReduceLROnPlateau reducing") == 2
    assert model.optimizer.learning_rate == pytest.approx(0.001)


def test_reduce_lr_in_max_mode_watches_for_increases():
    reducer = callbacks.ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=1)
    assert reducer.mode == "max"
    _, logs = drive(reducer, [0.5, 0.6, 0.55, 0.7, 0.7], monitor="val_accuracy")
    assert learning_rates(logs) == [1.0, 1.0, 1.0, 0.5, 0.5]

    explicit = callbacks.ReduceLROnPlateau(monitor="score", mode="max", factor=0.5, patience=1)
    _, logs = drive(explicit, [1.0, 2.0, 3.0, 2.0], monitor="score")
    assert learning_rates(logs) == [1.0, 1.0, 1.0, 1.0] and explicit.model.optimizer.learning_rate == 0.5


def test_reduce_lr_refuses_a_factor_of_one_or_more():
    with pytest.raises(ValueError, match=r"factor >= 1.0.*Received: factor=1.5"):
        callbacks.ReduceLROnPlateau(factor=1.5)
    with pytest.raises(ValueError, match="factor"):
        callbacks.ReduceLROnPlateau(factor=1.0)


def test_reduce_lr_warns_when_the_log_is_missing():
    reducer = callbacks.ReduceLROnPlateau(monitor="val_loss", patience=0)
    with pytest.warns(UserWarning, match="'val_loss' is not available.*loss, learning_rate"):
        drive(reducer, [1.0, 1.0], monitor="loss")
    assert reducer.model.optimizer.learning_rate == 1.0


def test_reduce_lr_resets_when_training_starts_again():
    reducer = callbacks.ReduceLROnPlateau(factor=0.5, patience=2)
    model = FakeModel(1.0)
    drive(reducer, [0.1, 0.2], model=model)
    _, logs = drive(reducer, [1.0, 1.0, 1.0], model=model)  # 1.0 is worse than 0.1: a fresh best
    assert learning_rates(logs) == [1.0, 1.0, 1.0] and model.optimizer.learning_rate == 0.5


def test_reduce_lr_in_fit_adds_the_learning_rate_to_the_history():
    x, y = tiny_data()
    model = tiny_model(0.1)
    reducer = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=1e9)
    history = model.fit(x, y, epochs=4, batch_size=8, callbacks=[reducer], verbose=0)
    # min_delta=1e9: no epoch improves after the first, so the rate halves after every epoch from 2.
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    assert model.optimizer.learning_rate == pytest.approx(0.0125)
    assert "ReduceLROnPlateau(monitor='loss', factor=0.5, patience=1" in repr(reducer)


def test_the_progress_line_shows_the_learning_rate_a_callback_logs(capsys):
    x, y = tiny_data()
    reducer = callbacks.ReduceLROnPlateau(monitor="loss", patience=100)
    tiny_model(0.1).fit(x, y, epochs=1, batch_size=8, callbacks=[reducer], verbose=2)
    assert "learning_rate: 0.1000" in capsys.readouterr().out


# ---- LearningRateScheduler ------------------------------------------------------------------


def test_scheduler_sets_the_rate_before_each_epoch():
    seen = []

    def schedule(epoch, lr):
        seen.append((epoch, lr))
        return lr if epoch < 2 else lr * 0.5

    model = FakeModel(0.8)
    _, logs = drive(callbacks.LearningRateScheduler(schedule), [0.0] * 4, model=model)
    assert seen == [(0, f32(0.8)), (1, f32(0.8)), (2, f32(0.8)), (3, f32(0.4))]  # read in float32
    assert learning_rates(logs) == [f32(0.8), f32(0.8), f32(0.4), f32(0.2)]
    assert model.optimizer.learning_rate == f32(0.2)


def test_scheduler_of_the_epoch_alone():
    model = FakeModel(1.0)
    _, logs = drive(callbacks.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1)), [0.0] * 3, model=model)
    assert learning_rates(logs) == pytest.approx([0.1, 0.05, 0.1 / 3])


def test_scheduler_does_not_hide_errors_raised_inside_the_schedule():
    def schedule(epoch, lr):
        return lr + "oops"

    with pytest.raises(TypeError, match="unsupported operand"):
        drive(callbacks.LearningRateScheduler(schedule), [0.0])


@pytest.mark.parametrize("bad", ["0.1", None, [0.1], np.array([0.1]), True])
def test_scheduler_output_must_be_a_number(bad):
    with pytest.raises(ValueError, match="The output of the `schedule` function should be a float"):
        drive(callbacks.LearningRateScheduler(lambda epoch, lr: bad), [0.0])


@pytest.mark.parametrize("good", [1, np.float32(0.5), np.float64(0.25), 0.125])
def test_scheduler_accepts_python_and_numpy_numbers(good):
    model = FakeModel(1.0)
    drive(callbacks.LearningRateScheduler(lambda epoch, lr: good), [0.0], model=model)
    assert model.optimizer.learning_rate == float(good)
    assert type(model.optimizer.learning_rate) is float


def test_scheduler_refuses_what_is_not_a_function():
    with pytest.raises(TypeError, match="schedule"):
        callbacks.LearningRateScheduler(0.1)


def test_scheduler_verbose_prints_each_rate(capsys):
    drive(callbacks.LearningRateScheduler(lambda epoch, lr: 0.5**epoch, verbose=1), [0.0, 0.0])
    assert capsys.readouterr().out == (
        "\nEpoch 1: LearningRateScheduler setting learning rate to 1.0.\n"
        "\nEpoch 2: LearningRateScheduler setting learning rate to 0.5.\n"
    )


def test_scheduler_in_fit_trains_with_the_scheduled_rates():
    x, y = tiny_data()
    zero = tiny_model(0.1)
    start = zero.get_weights()
    zero.fit(x, y, epochs=2, batch_size=8, callbacks=[callbacks.LearningRateScheduler(lambda e, lr: 0.0)], verbose=0)
    for before, after in zip(start, zero.get_weights()):
        np.testing.assert_array_equal(before, after)  # a zero rate leaves the weights alone

    model = tiny_model(0.1)
    scheduler = callbacks.LearningRateScheduler(lambda epoch, lr: 0.05 * math.exp(-epoch))
    history = model.fit(x, y, epochs=3, batch_size=8, callbacks=[scheduler], verbose=0)
    assert history.history["learning_rate"] == pytest.approx([0.05, 0.05 * math.exp(-1), 0.05 * math.exp(-2)])
    assert history.history["loss"][-1] < history.history["loss"][0]


# ---- CSVLogger ------------------------------------------------------------------------------


def write_epochs(logger, rows, model=None):
    logger.set_model(model or FakeModel())
    logger.on_train_begin()
    for epoch, logs in enumerate(rows):
        logger.on_epoch_end(epoch, dict(logs))
    logger.on_train_end()


def test_csv_logger_writes_a_header_and_one_row_per_epoch(tmp_path):
    path = tmp_path / "log.csv"
    write_epochs(callbacks.CSVLogger(path), [{"loss": 0.5, "accuracy": 0.25}, {"loss": 0.125, "accuracy": 0.75}])
    # Without val_ logs in the first epoch, Keras 3 adds val_ columns for each log.
    assert path.read_bytes() == (
        b"epoch,accuracy,loss,val_accuracy,val_loss\r\n0,0.25,0.5,NA,NA\r\n1,0.75,0.125,NA,NA\r\n"
    )


def test_csv_logger_separator_and_missing_values(tmp_path):
    path = tmp_path / "log.tsv"
    write_epochs(callbacks.CSVLogger(path, separator="\t"), [{"b": 1.5, "a": 2}, {"a": 3, "c": 9}])
    # The columns are fixed by the first epoch: a later new log is left out, a missing one is NA.
    assert path.read_bytes().decode() == "epoch\ta\tb\tval_a\tval_b\r\n0\t2\t1.5\tNA\tNA\r\n1\t3\tNA\tNA\tNA\r\n"


def test_csv_logger_overwrites_unless_appending(tmp_path):
    path = tmp_path / "log.csv"
    write_epochs(callbacks.CSVLogger(path), [{"loss": 1.0}])
    write_epochs(callbacks.CSVLogger(path), [{"loss": 2.0}])
    assert path.read_bytes().decode() == "epoch,loss,val_loss\r\n0,2.0,NA\r\n"
    write_epochs(callbacks.CSVLogger(path, append=True), [{"loss": 3.0}, {"loss": 4.0}])
    assert path.read_bytes().decode() == "epoch,loss,val_loss\r\n0,2.0,NA\r\n0,3.0,NA\r\n1,4.0,NA\r\n"


def test_csv_logger_appending_to_an_empty_or_missing_file_writes_the_header(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    write_epochs(callbacks.CSVLogger(empty, append=True), [{"loss": 1.0}])
    missing = tmp_path / "missing.csv"
    write_epochs(callbacks.CSVLogger(missing, append=True), [{"loss": 1.0}])
    assert empty.read_bytes().decode() == missing.read_bytes().decode() == "epoch,loss,val_loss\r\n0,1.0,NA\r\n"


def test_csv_logger_rows_reach_the_file_before_training_ends(tmp_path):
    path = tmp_path / "log.csv"
    logger = callbacks.CSVLogger(path)
    logger.set_model(FakeModel())
    logger.on_train_begin()
    logger.on_epoch_end(0, {"loss": 1.0})
    assert path.read_bytes().decode() == "epoch,loss,val_loss\r\n0,1.0,NA\r\n"  # as after an interruption
    logger.on_train_end()
    assert logger.csv_file.closed


def test_csv_logger_in_fit_matches_the_history(tmp_path):
    x, y = tiny_data()
    model = tiny_model()
    path = tmp_path / "run.csv"
    reducer = callbacks.ReduceLROnPlateau(monitor="loss", patience=5)
    history = model.fit(
        x, y, epochs=3, batch_size=8, validation_data=(x, y), callbacks=[reducer, callbacks.CSVLogger(path)], verbose=0
    )
    lines = path.read_bytes().decode().split("\r\n")
    assert lines[0] == "epoch,learning_rate,loss,val_loss" and lines[-1] == ""
    rows = [line.split(",") for line in lines[1:-1]]
    assert [int(row[0]) for row in rows] == [0, 1, 2]
    for column, key in enumerate(["learning_rate", "loss", "val_loss"], start=1):
        assert [float(row[column]) for row in rows] == history.history[key]
    assert repr(callbacks.CSVLogger("a.csv")) == "CSVLogger(filename='a.csv', separator=',', append=False)"


# ---- EarlyStopping --------------------------------------------------------------------------


VAL_LOSS = [1.0, 0.8, 0.6, 0.7, 0.65, 0.61, 0.9, 0.62, 0.63, 0.64]  # best at epoch 2 (0.6)


@pytest.mark.parametrize("restore", [True, False])
def test_early_stopping_patience_5_on_val_loss(restore):
    stopper = callbacks.EarlyStopping(patience=5, restore_best_weights=restore)
    model, logs = drive(stopper, VAL_LOSS)
    # Epochs 3..7 do not beat 0.6: the fifth of them (epoch 7) stops training.
    assert len(logs) == 8 and stopper.stopped_epoch == 7 and model.stop_training
    assert stopper.best == 0.6 and stopper.best_epoch == 2
    assert model.weights[0][0] == (2.0 if restore else 7.0)


def test_early_stopping_restores_the_best_weights_even_without_stopping():
    # Keras 3 restores at the end of training whether or not it stopped early.
    stopper = callbacks.EarlyStopping(patience=5, restore_best_weights=True)
    model, logs = drive(stopper, VAL_LOSS[:6])
    assert len(logs) == 6 and stopper.stopped_epoch == 0 and not model.stop_training
    assert model.weights[0][0] == 2.0


def test_early_stopping_min_delta_and_mode_max():
    stopper = callbacks.EarlyStopping(monitor="val_accuracy", min_delta=0.05, patience=2)
    _, logs = drive(stopper, [0.5, 0.54, 0.53, 0.9], monitor="val_accuracy")
    # 0.54 and 0.53 are not 0.05 above 0.5: stopped after epoch 2.
    assert len(logs) == 3 and stopper.best == 0.5


def test_early_stopping_best_epoch_matches_the_weights_it_keeps():
    # start_from_epoch=2 and NaN from then on: no epoch improves, the weights kept are epoch 2's
    # (the first watched), and the best epoch reported with them is 2 as well, as in Keras 3.
    stopper = callbacks.EarlyStopping(patience=2, restore_best_weights=True, start_from_epoch=2)
    model, logs = drive(stopper, [0.1, 0.1, math.nan, math.nan, math.nan])
    assert len(logs) == 4 and model.weights[0][0] == 2.0 and stopper.best_epoch == 2


def test_early_stopping_is_reusable_across_fits():
    stopper = callbacks.EarlyStopping(patience=1)
    drive(stopper, [0.1, 0.2, 0.3])
    _, logs = drive(stopper, [1.0, 0.9, 0.8, 0.7])  # worse than 0.1, but a new run
    assert len(logs) == 4 and stopper.stopped_epoch == 0 and stopper.best == 0.7


def test_early_stopping_in_fit_restores_the_best_epoch():
    x, y = tiny_data()
    model = tiny_model(0.05)
    snapshots = []  # each epoch's weights, to compare with the restored ones

    class Snapshot(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append(self.model.get_weights())

    # A rate that makes training diverge from epoch 3 on makes epoch 2 the best.
    schedule = callbacks.LearningRateScheduler(lambda epoch, lr: 0.05 if epoch < 3 else 5.0)
    stopper = callbacks.EarlyStopping(monitor="loss", patience=2, restore_best_weights=True)
    history = model.fit(x, y, epochs=20, batch_size=8, callbacks=[schedule, Snapshot(), stopper], verbose=0)
    best = int(np.nanargmin(history.history["loss"]))
    assert best == 2 and len(history.epoch) == 5 and stopper.best_epoch == 2
    for restored, kept in zip(model.get_weights(), snapshots[best]):
        np.testing.assert_array_equal(restored, kept)
