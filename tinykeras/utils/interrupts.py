"""Ctrl-C during training and prediction, made safe: the interrupt waits for the batch under way.

Python raises KeyboardInterrupt wherever the program happens to be, which inside ``fit`` can be
halfway through the optimizer's update: some weights stepped, others not. Inside
``DeferredInterrupt`` a first Ctrl-C is only recorded; ``fit`` calls ``check`` at each batch
boundary and raises KeyboardInterrupt there, with every weight after the same batch. A second
Ctrl-C raises at once, for a user who will not wait.
"""
import functools
import signal
import threading


class DeferredInterrupt:
    """A context in which SIGINT is recorded instead of raised, until ``check`` is called.

    Only the main thread can handle signals, and a program that installed its own SIGINT handler
    keeps it: in both cases the context changes nothing.
    """

    def __init__(self):
        self.pending = False
        self._previous = None

    def __enter__(self):
        in_main_thread = threading.current_thread() is threading.main_thread()
        if in_main_thread and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._record)
        return self

    def _record(self, signum, frame):
        from tinykeras.kernels.blas import INTERRUPTS

        if not self.pending:
            self.pending = True
        elif INTERRUPTS.held():
            INTERRUPTS.defer()  # raised as the kernel under way returns
        else:
            raise KeyboardInterrupt

    def __exit__(self, *exc_info):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        return False

    def raise_if_pending(self, message):
        """Raises KeyboardInterrupt(message) if Ctrl-C was pressed."""
        if self.pending:
            raise KeyboardInterrupt(message)

    def check(self, epoch, batch=None):
        """Raises KeyboardInterrupt if Ctrl-C was pressed: after ``batch`` (counted from 0) of
        ``epoch``, or at the end of the epoch when ``batch`` is None."""
        if not self.pending:
            return
        where = f"after batch {batch + 1} of epoch {epoch + 1}"
        if batch is None:
            where = f"at the end of epoch {epoch + 1}"
        raise KeyboardInterrupt(
            f"Training interrupted {where}. The weights are those after that batch (no update "
            "was cut short), and model.history holds the finished epochs."
        )

    def __repr__(self):
        return f"<DeferredInterrupt pending={self.pending}, installed={self._previous is not None}>"


def completes_before_interrupt(method):
    """Decorates a method that runs one batch (``train_on_batch``, ``model(x)``, ...): a Ctrl-C
    during it is raised once it returns, so that no update or buffer is left half written."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with DeferredInterrupt() as interrupt:
            result = method(*args, **kwargs)
        interrupt.raise_if_pending(f"Interrupted; {method.__name__} finished its batch first.")
        return result

    return wrapper
