"""Background jobs: engine work runs in the worker process and reports through Qt signals.

``Job(title, func, *args)`` runs the module-level ``func(*args, progress=..., cancel=...)`` in
the worker process (``app.worker``); a ``QThreadPool`` thread of the GUI waits for it and relays
its progress, result and errors as queued signals (the Orange3 task-state idea): errors a user can
cause arrive as one sentence, and cancelling sets the event the engine checks between frames.
"""

import logging
import queue
import traceback
from concurrent.futures.process import BrokenProcessPool

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from app.worker import worker
from engine.errors import AqaError, Cancelled

log = logging.getLogger(__name__)


class JobSignals(QObject):
    progress = Signal(float, str)
    finished = Signal(object)  # the work's return value
    failed = Signal(str)  # one sentence for the user
    cancelled = Signal()


class Job(QRunnable):
    """One unit of engine work, run in the worker process."""

    def __init__(self, title: str, func, *args, **kwargs):
        super().__init__()
        self.title = title
        self.func, self.args, self.kwargs = func, args, kwargs
        self.signals = JobSignals()
        self.cancelled = False
        self.running = False
        self.setAutoDelete(False)

    def cancel(self) -> None:
        self.cancelled = True
        if self.running:
            worker().cancel_event.set()

    def run(self) -> None:
        if self.cancelled:  # cancelled while it waited in the queue
            self.signals.cancelled.emit()
            return
        runner = worker()
        self._relay(runner.messages, wait=0.0)  # left over from an earlier job
        runner.cancel_event.clear()
        self.running = True
        try:
            future = runner.submit(self.func, *self.args, **self.kwargs)
            while not future.done():
                self._relay(runner.messages, wait=0.05)
            self._relay(runner.messages, wait=0.0)
            result = future.result()
        except Cancelled:
            self.signals.cancelled.emit()
        except AqaError as exc:
            self.signals.failed.emit(str(exc))
        except BrokenProcessPool:
            runner.restart()
            log.error("job %r: the worker process died", self.title)
            self.signals.failed.emit(
                f"{self.title} stopped because the worker process ended unexpectedly "
                "(out of memory?); nothing of it was saved."
            )
        except Exception as exc:  # a bug: keep the details in the log, tell the user plainly
            log.error("job %r failed:\n%s", self.title, traceback.format_exc())
            self.signals.failed.emit(f"{self.title} failed unexpectedly ({type(exc).__name__}).")
        else:
            self.signals.finished.emit(result)
        finally:
            self.running = False

    def _relay(self, messages, wait: float) -> None:
        """Emit the progress messages waiting in the queue (waiting up to ``wait`` s for one)."""
        try:
            fraction, stage = messages.get(timeout=wait) if wait else messages.get_nowait()
            self.signals.progress.emit(fraction, stage)
            while True:
                fraction, stage = messages.get_nowait()
                self.signals.progress.emit(fraction, stage)
        except queue.Empty:
            return


class JobQueue(QObject):
    """Runs jobs one after another (one worker process), so heavy extractions never pile up."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.jobs: list[Job] = []

    def submit(self, job: Job) -> Job:
        self.jobs.append(job)
        for signal in (job.signals.finished, job.signals.failed, job.signals.cancelled):
            signal.connect(lambda *_, j=job: self._done(j))
        self.pool.start(job)
        self.changed.emit()
        return job

    def cancel_all(self) -> None:
        for job in self.jobs:
            job.cancel()

    def wait(self, msecs: int = -1) -> bool:
        return self.pool.waitForDone(msecs)

    def _done(self, job: Job) -> None:
        if job in self.jobs:
            self.jobs.remove(job)
        self.changed.emit()
