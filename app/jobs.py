"""Background jobs: engine work runs in the worker process and reports through Qt signals.

``Job(title, func, *args)`` runs the module-level ``func(*args, progress=..., cancel=...)`` in
the worker process (``app.worker``); a ``QThreadPool`` thread of the GUI waits for it and relays
its progress, result and errors as queued signals (the Orange3 task-state idea): errors a user can
cause arrive as one sentence, and cancelling sets the event the engine checks between frames.
"""

import itertools
import logging
import queue
import traceback
from concurrent.futures.process import BrokenProcessPool

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from app.worker import worker
from engine.errors import AqaError, Cancelled

log = logging.getLogger(__name__)
_job_ids = itertools.count(1)


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
        self.id = next(_job_ids)
        self.cancelled = False
        self.running = False
        self.setAutoDelete(False)

    def cancel(self) -> None:
        self.cancelled = True
        if self.running:
            worker().cancel_event.set()

    def run(self) -> None:
        runner = worker()
        runner.cancel_event.clear()
        self.running = True
        # Checked after ``running`` is set: a cancel from now on sets the event the work reads,
        # one that came before (while it waited in the queue, or just now) is seen here.
        if self.cancelled:
            self.running = False
            self.signals.cancelled.emit()
            return
        try:
            future = runner.submit(self.func, *self.args, job_id=self.id, **self.kwargs)
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
        """Emit this job's progress messages waiting in the queue (waiting up to ``wait`` s for
        one); those an earlier job left behind are dropped."""
        try:
            message = messages.get(timeout=wait) if wait else messages.get_nowait()
            while True:
                job_id, fraction, stage = message
                if job_id == self.id:
                    self.signals.progress.emit(fraction, stage)
                message = messages.get_nowait()
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
            # Its connections (lambdas holding views and results) go with it once every slot
            # of this emission has run; kept, they would hold them for the app's lifetime.
            job.signals.deleteLater()
        self.changed.emit()
