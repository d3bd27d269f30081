"""The progress bar printed by ``fit``, ``evaluate`` and ``predict``, in Keras 3's format.

verbose=1 on a terminal redraws one line in place; when output is not a terminal (a log file, CI)
it prints only the finished line, so logs carry no carriage-return spam. verbose=2 prints one
line per epoch.
"""
import math
import os
import sys
import time


def _is_dynamic(stream):
    """Whether the stream is an interactive terminal (or a notebook) that can redraw a line."""
    return (
        (hasattr(stream, "isatty") and stream.isatty())
        or "ipykernel" in sys.modules
        or "posix" in os.environ.get("TINYKERAS_PROGBAR", "")
    )


def format_time(seconds_per_unit, unit_name="step"):
    """'1s/step', '35ms/step' or '12us/step', choosing the unit as Keras does."""
    if seconds_per_unit >= 1 or seconds_per_unit == 0:
        return f"{seconds_per_unit:.0f}s/{unit_name}"
    if seconds_per_unit >= 1e-3:
        return f"{seconds_per_unit * 1e3:.0f}ms/{unit_name}"
    return f"{seconds_per_unit * 1e6:.0f}us/{unit_name}"


def format_value(value, signed=True):
    """Metric values: 4 decimals, or scientific notation for tiny ones, as Keras prints them
    (its one-line-per-epoch mode compares the signed value, its bar the absolute one)."""
    return f"{value:.4f}" if (abs(value) if signed else value) > 1e-3 else f"{value:.4e}"


class Progbar:
    """Displays progress over ``target`` steps (``keras.utils.Progbar``).

    Args (Keras' order):
        target: the total number of steps, or None when unknown.
        width: the bar's width in characters.
        verbose: 1 for the bar, 2 for one line at the end, 0 for silence.
        interval: the least number of seconds between two redraws.
        stateful_metrics: names of the values given to ``update`` as ``(name, value)`` pairs
            that are shown as they are; the others are shown averaged over the steps so far
            (each weighted by the steps since the update before), as Keras does.
        stateless_metrics: instead, the names to average (the others shown as they are).
        unit_name: what a step is called ('step').
        stream: where to print (standard output by default).
    """

    def __init__(self, target, width=20, verbose=1, interval=0.05, stateful_metrics=None, stateless_metrics=None,
                 unit_name="step", stream=None):
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError("Only one of `stateful_metrics` or `stateless_metrics` can be provided.")
        self.stateful_metrics = set(stateful_metrics) if stateful_metrics is not None else (
            None if stateless_metrics is not None else set())
        self.stateless_metrics = None if stateless_metrics is None else set(stateless_metrics)
        self._sums = {}  # name -> [weighted sum, weight] of the averaged values
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stream = stream or sys.stdout
        self.dynamic = _is_dynamic(self.stream)
        self.seen = 0
        self._start = time.perf_counter()
        self._first_step_end = None
        self._last_update = 0.0
        self._previous_width = 0
        self._done = False

    def update(self, current, values=None, finalize=None):
        """Records that ``current`` steps are done and redraws when it is time.

        Args:
            current: the number of finished steps.
            values: the values to show: a dict, shown as it is (fit's running metrics), or
                Keras' list of ``(name, value for the last step)`` pairs, averaged unless
                stateful (see the class).
            finalize: whether this is the last update (default: ``current == target``).
        """
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        if values is not None and not isinstance(values, dict):
            values = self._averaged(current, values, finalize)
        if self._first_step_end is None and current >= 1:
            self._first_step_end = (time.perf_counter(), current)
        self.seen = current
        if self.verbose == 0 or self._done:
            return
        now = time.perf_counter()
        if self.verbose == 2 or not self.dynamic:
            if finalize:
                self._write(self._line(current, values, now, finalize) + "\n")
                self._done = True
            return
        if not finalize and now - self._last_update < self.interval:
            return
        self._last_update = now
        line = self._line(current, values, now, finalize)
        padding = " " * max(0, self._previous_width - len(line))
        self._previous_width = len(line)
        self._write("\r" + line + padding + ("\n" if finalize else ""))
        self._done = finalize

    def add(self, n, values=None):
        """``update(steps so far + n, values)``."""
        self.update(self.seen + n, values)

    def _averaged(self, current, pairs, finalize):
        """The values to show for Keras' ``(name, value)`` pairs: a stateless value's average
        over the steps, each weighted by the steps since the update before (the last value
        alone on the final update, as Keras shows it); a stateful one as it is."""
        for name, value in pairs:
            stateless = (name not in self.stateful_metrics if self.stateful_metrics is not None
                         else name in self.stateless_metrics)
            if not stateless or finalize:
                self._sums[name] = [value, 1]
            else:
                weight = max(current - self.seen, 1)
                total = self._sums.setdefault(name, [0.0, 0])
                total[0] += value * weight
                total[1] += weight
        return {name: total / weight for name, (total, weight) in self._sums.items()}

    def _per_step(self, current, now):
        """Seconds per step, leaving out the first step (it carries one-off costs) when possible."""
        first_end, first_count = self._first_step_end or (self._start, 0)
        if current > first_count and first_count:
            return (now - first_end) / (current - first_count)
        return (now - self._start) / current if current else 0.0

    def _line(self, current, values, now, finalize):
        elapsed = now - self._start
        per_step = self._per_step(current, now)
        if self.target is not None:
            digits = int(math.log10(max(self.target, 1))) + 1
            counter = f"{current:{digits}d}/{self.target}"
        else:
            counter = f"{current}"
        if self.verbose == 2:
            parts = [counter, f"{elapsed:.0f}s", format_time(per_step, self.unit_name)]
        else:
            bar = self._bar(current)
            if finalize or self.target is None:
                timing = f"{elapsed:.0f}s {format_time(per_step, self.unit_name)}"
            else:
                timing = _format_eta(per_step * (self.target - current))
            parts = [f"{counter} {bar} {timing}".replace("  ", " ")]
        for key, value in (values or {}).items():
            parts.append(f"{key}: {format_value(value, signed=self.verbose != 2)}")
        return " - ".join(parts)

    def _bar(self, current):
        """The bar: done cells green and the rest white on a terminal; on a plain stream, done
        cells as '━' and the rest as spaces, so the progress still shows without colours."""
        if not self.target:
            return ""
        filled = int(self.width * current / self.target)
        if self.dynamic:
            return f"\33[32m{'━' * filled}\x1b[0m\33[37m{'━' * (self.width - filled)}\x1b[0m"
        return "━" * filled + " " * (self.width - filled)

    def _write(self, text):
        self.stream.write(text)
        self.stream.flush()


def _format_eta(seconds):
    if seconds > 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds > 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{seconds:.0f}s"
