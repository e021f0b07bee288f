"""Background jobs: engine work runs in a ``QThreadPool`` and reports through Qt signals.

Engine functions take ``progress(fraction, message)`` and a ``CancelToken``; ``Job`` adapts them to
the GUI (the Orange3 task-state idea): progress and results arrive as queued signals in the GUI
thread, errors a user can cause arrive as one sentence, and cancelling sets the token the engine
checks between frames.
"""

import logging
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from engine.errors import AqaError, Cancelled
from engine.jobs import CancelToken

log = logging.getLogger(__name__)

Work = Callable[[Callable[[float, str], None], CancelToken], Any]


class JobSignals(QObject):
    progress = Signal(float, str)
    finished = Signal(object)  # the work's return value
    failed = Signal(str)  # one sentence for the user
    cancelled = Signal()


class Job(QRunnable):
    """One unit of engine work: ``work(progress, cancel)`` run on a pool thread."""

    def __init__(self, title: str, work: Work):
        super().__init__()
        self.title = title
        self.work = work
        self.token = CancelToken()
        self.signals = JobSignals()
        self.setAutoDelete(False)

    def cancel(self) -> None:
        self.token.cancel()

    def run(self) -> None:
        try:
            result = self.work(self.signals.progress.emit, self.token)
        except Cancelled:
            self.signals.cancelled.emit()
        except AqaError as exc:
            self.signals.failed.emit(str(exc))
        except Exception as exc:  # a bug: keep the details in the log, tell the user plainly
            log.error("job %r failed:\n%s", self.title, traceback.format_exc())
            self.signals.failed.emit(f"{self.title} failed unexpectedly ({type(exc).__name__}).")
        else:
            self.signals.finished.emit(result)


class JobQueue(QObject):
    """Runs jobs one after another on a private pool, so heavy extractions never pile up."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None, threads: int = 1):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
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
