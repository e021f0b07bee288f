"""The job queue relays only its own job's progress and never loses a cancel (issue 14, point 7).
The jobs run in the real worker process."""

import time

from app.jobs import Job
from app.worker import worker


def report_stage(stage: str, progress, cancel) -> str:
    """Work that reports ``stage`` and returns it (module level: the worker imports it)."""
    progress(1.0, stage)
    return stage


def count_until_cancelled(seconds: float, progress, cancel) -> str:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        cancel.check()
        time.sleep(0.01)
    return "ran to the end"


def run_here(job: Job) -> dict:
    """Run ``job`` in this thread; what it emitted."""
    seen = {"progress": [], "finished": [], "cancelled": 0}
    job.signals.progress.connect(lambda fraction, stage: seen["progress"].append(stage))
    job.signals.finished.connect(seen["finished"].append)
    job.signals.cancelled.connect(lambda: seen.__setitem__("cancelled", seen["cancelled"] + 1))
    job.run()
    return seen


def test_a_job_relays_only_its_own_progress():
    # Work sent to the worker outside this job (as the warm-up at start) leaves its progress in
    # the shared queue after it has finished.
    assert worker().submit(report_stage, "an earlier job").result(timeout=120) == "an earlier job"
    time.sleep(0.5)  # its message has reached the queue
    seen = run_here(Job("second", report_stage, "this job"))
    assert seen["finished"] == ["this job"]
    assert "an earlier job" not in seen["progress"]
    assert "this job" in seen["progress"]


def test_a_cancel_while_the_job_starts_is_kept(monkeypatch):
    runner = worker()
    runner.submit(report_stage, "warm").result(timeout=120)
    job = Job("cancelled while starting", count_until_cancelled, 5.0)
    clear = runner.cancel_event.clear

    def clear_then_cancel():
        clear()
        job.cancel()  # the user clicks Cancel just as the job starts

    monkeypatch.setattr(runner.cancel_event, "clear", clear_then_cancel)
    started = time.monotonic()
    seen = run_here(job)
    assert seen["cancelled"] == 1 and seen["finished"] == []
    assert time.monotonic() - started < 3.0


def test_a_finished_job_releases_what_its_slots_hold(qtbot):
    """Connections of a finished job (lambdas holding views, tracks) do not live forever: the
    coach view's two video views leaked with every comparison."""
    import gc
    import weakref

    from PySide6.QtWidgets import QWidget

    from app.jobs import JobQueue

    queue = JobQueue()
    view = QWidget()
    alive = weakref.ref(view)
    job = Job("holds a view", report_stage, "done")
    job.signals.finished.connect(lambda result, view=view: view.setWindowTitle(result))
    with qtbot.waitSignal(job.signals.finished, timeout=120_000):
        queue.submit(job)
    qtbot.waitUntil(lambda: not queue.jobs)
    del view, job
    qtbot.wait(50)
    gc.collect()
    assert alive() is None
