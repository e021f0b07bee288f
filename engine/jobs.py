"""Cancellation shared by long-running engine work (extraction, training, reports)."""

import threading

from engine.errors import Cancelled


class CancelToken:
    """Set once by the user (GUI button, Ctrl-C); long work calls ``check()`` between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise ``Cancelled`` once ``cancel()`` was called."""
        if self._event.is_set():
            raise Cancelled("The work was cancelled.")
