"""Faults injected from outside: Ctrl-C at random moments of fit and predict, and kill -9 during
every kind of save.

Each scenario runs in a child process under a timeout, so a hang or a crash fails the test
instead of stopping pytest. The moments are drawn from seeded generators; whatever moment a
signal lands on, the properties checked must hold.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from tinykeras import models
from tinykeras.layers import Dense
from tinykeras.models import Sequential

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 240


# A shell without job control starts background commands with SIGINT ignored, and Python then
# installs no KeyboardInterrupt handler: the child takes Ctrl-C as a terminal delivers it.
_CTRL_C_AS_IN_A_TERMINAL = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"


def run_child(source, *args):
    """Runs ``source`` in a fresh interpreter; returns the JSON object it prints last."""
    env = {**os.environ, "PYTHONPATH": ROOT}
    source = _CTRL_C_AS_IN_A_TERMINAL + textwrap.dedent(source)
    result = subprocess.run([sys.executable, "-c", source, *map(str, args)], env=env,
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---- Ctrl-C ----------------------------------------------------------------------------------

# Three wide Dense layers: each product is large enough to be split between tinykeras' helper
# threads, so the signals land inside hand-offs, products and the BLAS thread-count changes.
INTERRUPTED_PREDICT = """
    import json, os, signal, sys, threading, time
    import numpy as np
    import tinykeras as keras
    from tinykeras import layers
    from tinykeras.kernels import blas

    seed, rounds = int(sys.argv[1]), int(sys.argv[2])
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([layers.Input(shape=(512,)), layers.Dense(1024, activation="relu"),
                              layers.Dense(1024, activation="relu"), layers.Dense(10)])
    x = np.random.default_rng(seed).random((2048, 512), dtype=np.float32)
    expected = model.predict(x, batch_size=512, verbose=0)
    threads = blas.split_count()
    rng = np.random.default_rng(seed)
    interrupted = 0
    for _ in range(rounds):
        timer = threading.Timer(rng.uniform(0.001, 0.01), os.kill, (os.getpid(), signal.SIGINT))
        caught, started = False, False
        while True:  # until predict has run once and the round's signal has landed
            try:
                if not started:
                    started = True
                    timer.start()
                if not caught:
                    model.predict(x, batch_size=512, verbose=0)
                timer.join()
                time.sleep(0.002)
                break
            except KeyboardInterrupt:
                caught = True
        interrupted += caught
    after = model.predict(x, batch_size=512, verbose=0)
    print(json.dumps({
        "interrupted": interrupted,
        "exact": bool(np.array_equal(after, expected)),
        "threads": [threads, blas.split_count()],
        "helpers": sorted(t.name for t in threading.enumerate() if t.name.startswith("tinykeras")),
    }))
"""


@pytest.mark.parametrize("seed", [1, 2])
def test_ctrl_c_during_predict_leaves_the_threads_and_results_intact(seed):
    outcome = run_child(INTERRUPTED_PREDICT, seed, 40)
    assert outcome["interrupted"] >= 20  # most signals land inside predict
    assert outcome["exact"]
    assert outcome["threads"][0] == outcome["threads"][1]
    assert len(outcome["helpers"]) == outcome["threads"][0] - 1


# fit with SGD on fixed batches (shuffle=False): the weights after an interrupted fit must be
# those after exactly the batches it finished, which a second model reproduces with
# train_on_batch from the same start (each fit starts again from the first batch).
INTERRUPTED_FIT = """
    import json, os, signal, sys, threading, time
    import numpy as np
    import tinykeras as keras
    from tinykeras import layers
    from tinykeras.callbacks import Callback
    from tinykeras.kernels import blas

    seed, rounds, double = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "double"

    def build():
        model = keras.Sequential([layers.Input(shape=(256,)), layers.Dense(768, activation="relu"),
                                  layers.Dense(768, activation="relu"), layers.Dense(10, activation="softmax")])
        model.compile(keras.optimizers.SGD(0.01, momentum=0.9), "categorical_crossentropy")
        return model

    class Count(Callback):
        batches = []  # the index of each batch trained, within its epoch
        def on_train_batch_end(self, batch, logs=None):
            Count.batches.append(batch)

    keras.utils.set_random_seed(seed)
    model = build()
    start = model.get_weights()
    rng = np.random.default_rng(seed)
    x = rng.random((1024, 256), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 1024)]
    batch = 128
    threads = blas.split_count()
    # Compile (or load) every kernel first: a signal inside Numba's compiler is beyond reach.
    build().fit(x[:batch], y[:batch], verbose=0)

    def interrupt(delay):
        os.kill(os.getpid(), signal.SIGINT)
        if double:
            time.sleep(delay)
            os.kill(os.getpid(), signal.SIGINT)

    interrupted = 0
    for _ in range(rounds):
        timer = threading.Timer(rng.uniform(0.002, 0.05), interrupt, (rng.uniform(0.0, 0.003),))
        caught, started = 0, False
        while True:  # until fit has run once and every signal of the round has landed
            try:
                if not started:
                    started = True
                    timer.start()
                if not caught:
                    model.fit(x, y, batch_size=batch, epochs=1000, shuffle=False, verbose=0, callbacks=[Count()])
                timer.join()
                time.sleep(0.01)
                break
            except KeyboardInterrupt:
                caught += 1
        interrupted += caught > 0

    # The same batches again, one train_on_batch each, from the same start.
    replay = build()
    replay.set_weights(start)
    for step in Count.batches:
        replay.train_on_batch(x[step * batch:(step + 1) * batch], y[step * batch:(step + 1) * batch])
    same = all(np.array_equal(a, b) for a, b in zip(model.get_weights(), replay.get_weights()))
    # Usable afterwards: predictions agree with a fresh model holding the same weights.
    fresh = build()
    fresh.set_weights(model.get_weights())
    usable = np.array_equal(model.predict(x, verbose=0), fresh.predict(x, verbose=0))
    model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    print(json.dumps({
        "interrupted": interrupted, "batches": len(Count.batches), "exact": bool(same), "usable": bool(usable),
        "iterations": int(model.optimizer.iterations), "threads": [threads, blas.split_count()],
    }))
"""


@pytest.mark.parametrize("seed", [1, 2])
def test_ctrl_c_during_fit_stops_after_a_whole_batch(seed):
    outcome = run_child(INTERRUPTED_FIT, seed, 12, "single")
    assert outcome["interrupted"] == 12
    assert outcome["exact"], outcome
    assert outcome["usable"]
    assert outcome["iterations"] == outcome["batches"] + 8
    assert outcome["threads"][0] == outcome["threads"][1]


def test_a_second_ctrl_c_during_fit_stops_at_once_and_leaves_the_model_usable():
    outcome = run_child(INTERRUPTED_FIT, 3, 12, "double")
    assert outcome["interrupted"] == 12
    assert outcome["usable"]
    assert outcome["threads"][0] == outcome["threads"][1]


# ---- kill -9 during a save -----------------------------------------------------------------

SAVER = """
    import sys
    import numpy as np
    from tinykeras.layers import Dense
    from tinykeras.models import Sequential

    path = sys.argv[1]
    model = Sequential([Dense(512, input_shape=(256,)), Dense(512), Dense(10)])
    model.compile("sgd", "mse")
    versions = [[np.full(w.shape, float(v)) for w in model.get_weights()] for v in (1, 2)]
    whole = path.endswith(".keras") or path.endswith("model.h5")
    save = model.save if whole else model.save_weights
    for count in range(10**6):
        model.set_weights(versions[count % 2])
        save(path)
        print(count, flush=True)
"""


def load_any(path):
    name = os.path.basename(path)
    if name.endswith(".keras") or name == "model.h5":
        return models.load_model(path)
    model = Sequential([Dense(512, input_shape=(256,)), Dense(512), Dense(10)])
    model.load_weights(path)
    return model


@pytest.mark.parametrize("name", ["m.weights.h5", "weights.h5", "m.keras", "model.h5"])
def test_kill_during_a_save_leaves_the_old_or_the_new_file(tmp_path, name):
    """A process saving a ~1.3 MB model in a loop is SIGKILLed at random moments; each time the
    file loads, and holds one whole version (all ones or all twos)."""
    path = tmp_path / name
    env = {**os.environ, "PYTHONPATH": ROOT}
    rng = np.random.default_rng(0)
    for _ in range(4):
        process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(SAVER), str(path)], env=env,
                                   stdout=subprocess.PIPE, text=True)
        try:
            process.stdout.readline()  # the first save is done
            time.sleep(rng.uniform(0.0, 0.2))
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            process.stdout.close()
        model = load_any(str(path))
        values = {float(v) for w in model.get_weights() for v in np.unique(w)}
        assert values in ({1.0}, {2.0})
    leftovers = [n for n in os.listdir(tmp_path) if n != name]
    assert all(n.startswith(f".{name}.") and n.endswith(".tmp") for n in leftovers)
    if os.name == "posix":  # the next save removes what the killed ones left
        save = model.save if name.endswith(".keras") or name == "model.h5" else model.save_weights
        save(path)
        assert os.listdir(tmp_path) == [name]
