"""The worker process that runs the GUI's engine work (no Qt here).

Extraction, grading and training import torch and LiteRT and run Python between native calls;
in a thread of the GUI process that holds the interpreter lock long enough to stall the event loop
for hundreds of milliseconds. So the work runs in one persistent ``spawn`` process instead: the
heavy imports are paid once, and the GUI process only relays progress and results.

A job is a module-level function ``func(*args, progress=..., cancel=...)`` (it must pickle).
Progress comes back through a queue at most ten times a second per stage; cancelling sets an
event the work's ``CancelToken`` reads between frames. ``AQA_*`` environment variables are sent
with every job, so the worker always uses the data directory and files the GUI uses, and so is
the GUI's login (user and password, through the pipe: never in an environment).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor

from engine.jobs import CancelToken
from engine.store.users import forget_login, process_login, use_login

_CONTEXT = multiprocessing.get_context("spawn")
PROGRESS_INTERVAL_S = 0.1
PARENT_CHECK_S = 0.5


class Worker:
    """One worker process, started on first use and again after it died."""

    def __init__(self) -> None:
        self.cancel_event = _CONTEXT.Event()
        self.messages = _CONTEXT.Queue()
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the process now (it imports the engine in the background)."""
        self.submit(warm_up)

    def submit(self, func, *args, job_id: int = 0, **kwargs) -> Future:
        """Run ``func(*args, **kwargs)`` in the process; its progress messages carry ``job_id``."""
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    1,
                    mp_context=_CONTEXT,
                    initializer=_init_worker,
                    initargs=(self.cancel_event, self.messages),
                )
            return self._executor.submit(
                _run, func, args, kwargs, job_id, _aqa_environment(), _login()
            )

    def restart(self) -> None:
        """Drop a broken process; the next job starts a new one."""
        self._shutdown(wait=False)

    def stop(self) -> None:
        """Cancel what runs and end the process."""
        self.cancel_event.set()
        self._shutdown(wait=True)

    def _shutdown(self, wait: bool) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=wait, cancel_futures=True)
            self._executor = None


_worker: Worker | None = None


def worker() -> Worker:
    """The GUI's worker (one per GUI process)."""
    global _worker
    if _worker is None:
        _worker = Worker()
    return _worker


def warm_up(progress=None, cancel=None) -> None:
    """Import what every job needs, so the first real job starts at once."""
    import engine.extract.pipeline  # noqa: F401
    import engine.grading.service  # noqa: F401


# -- inside the worker process ------------------------------------------------------------------
_cancel_event = None
_messages = None


def _init_worker(cancel_event, messages) -> None:
    global _cancel_event, _messages
    _cancel_event, _messages = cancel_event, messages
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is the GUI's to handle
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """End this process when the GUI's has gone (killed or crashed: nobody would stop it)."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)


def _run(func, args, kwargs, job_id: int, environment: dict[str, str], login):
    _apply_environment(environment)
    if login is None:
        forget_login()
    else:
        name, password = login
        use_login(name, lambda: password)
    progress = _Progress(_messages, job_id)
    return func(*args, progress=progress, cancel=CancelToken(_cancel_event), **kwargs)


class _Progress:
    """``progress(fraction, stage)`` sent to the GUI as ``(job_id, fraction, stage)``, at most
    every 0.1 s per stage."""

    def __init__(self, messages, job_id: int) -> None:
        self.messages = messages
        self.job_id = job_id
        self.sent: dict[str, float] = {}

    def __call__(self, fraction: float, stage: str) -> None:
        now = time.monotonic()
        if fraction >= 1.0 or now - self.sent.get(stage, -1.0) >= PROGRESS_INTERVAL_S:
            self.sent[stage] = now
            self.messages.put((self.job_id, float(fraction), str(stage)))


def _aqa_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("AQA_")}


def _login() -> tuple[str, str] | None:
    """The GUI process's login as (user, password), or None."""
    login = process_login()
    return None if login is None else (login[0], login[1]())


def _apply_environment(environment: dict[str, str]) -> None:
    for key in [k for k in os.environ if k.startswith("AQA_") and k not in environment]:
        del os.environ[key]
    os.environ.update(environment)
