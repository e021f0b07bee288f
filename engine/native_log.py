"""Silencing what native libraries print on stderr (TensorFlow Lite's "INFO: Created TensorFlow
Lite XNNPACK delegate for CPU."), unless the user asked for details (``aqa --verbose``).

The C++ runtime writes straight to file descriptor 2, beyond Python's ``sys.stderr`` and
``logging``, and ai-edge-litert ignores ``TF_CPP_MIN_LOG_LEVEL``; so the descriptor itself is
pointed at the null device for the duration of the call.
"""

import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_LOCK = threading.RLock()  # two threads swapping fd 2 at once could leave it on the null device


@contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Discard what native code writes to fd 2 inside the block (kept when logging at INFO)."""
    if logging.getLogger().isEnabledFor(logging.INFO):
        yield
        return
    with _LOCK:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with open(os.devnull, "wb") as null:
                os.dup2(null.fileno(), 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
