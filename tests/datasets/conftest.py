"""Fixtures shared by the dataset tests."""
import glob
import os
import subprocess
import sys
import textwrap
import time

import pytest


@pytest.fixture
def datasets_dir(tmp_path, monkeypatch):
    """An empty cache: TINYKERAS_HOME points at a temporary folder."""
    monkeypatch.setenv("TINYKERAS_HOME", str(tmp_path / "home"))
    folder = tmp_path / "home" / "datasets"
    folder.mkdir(parents=True)
    return folder


GATE = '''
import os
import sys
import time


def wait_for_the_others():
    """Says this process is ready, then waits until the test lets every process go at once."""
    gate = sys.argv[1]
    open(f"{gate}.ready-{os.getpid()}", "w").close()
    while not os.path.exists(gate):
        time.sleep(0.002)
'''


@pytest.fixture
def run_at_once(tmp_path):
    """Runs ``count`` Python processes on one script and releases them together.

    The script calls ``wait_for_the_others()`` (defined for it) after its imports; the processes
    inherit the environment, so ``TINYKERAS_HOME`` set by ``datasets_dir`` is shared. Returns a
    function ``run(script, count=3)`` giving the list of ``CompletedProcess``-like results
    ``(returncode, stdout, stderr)``.
    """
    def run(script, count=3, timeout=300):
        path = tmp_path / "worker.py"
        path.write_text(GATE + textwrap.dedent(script))
        gate = tmp_path / "go"
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [repo, os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
             os.environ.get("PYTHONPATH", "")]))
        processes = [subprocess.Popen([sys.executable, str(path), str(gate)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for _ in range(count)]
        try:
            deadline = time.monotonic() + timeout
            while len(glob.glob(f"{gate}.ready-*")) < count:
                if any(p.poll() is not None for p in processes) or time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            gate.touch()
            results = []
            for process in processes:
                out, err = process.communicate(timeout=timeout)
                results.append((process.returncode, out, err))
            return results
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()

    return run
