"""Cancellation shared by long-running engine work (extraction, training, reports)."""

import threading
from collections.abc import Callable

from engine.errors import Cancelled

Progress = Callable[[float, str], None]  # progress(fraction 0..1, stage) of long engine work


class CancelToken:
    """Set once by the user (GUI button, Ctrl-C); long work calls ``check()`` between steps.

    ``event`` may be a ``multiprocessing`` event, so that a GUI process can cancel work running
    in a worker process.
    """

    def __init__(self, event=None) -> None:
        self._event = event if event is not None else threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise ``Cancelled`` once ``cancel()`` was called."""
        if self._event.is_set():
            raise Cancelled("The work was cancelled.")
