"""A local process pool with the behaviour of the Ray runner, for machines without Ray.

Each worker is a long-lived ``spawn`` process fed one task at a time through a pipe, so a hung
task is stopped by killing its worker (the row fails, a fresh worker takes the next task) and a
worker that dies mid-task has its task tried once more. Workers ignore Ctrl-C: the driver stops
them.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any

from engine.batch.outcomes import ATTEMPTS, timed_out, worker_died
from engine.batch.task import Task, run_task


def _serve(conn, threads: int) -> None:
    """A worker process: run the tasks sent until the pipe closes or sends None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _limit_threads(threads)
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        conn.send(run_task(task))


def _limit_threads(threads: int) -> None:
    """Share the cores among the workers (as Ray does with OMP_NUM_THREADS per task)."""
    import cv2
    import torch

    cv2.setNumThreads(threads)
    torch.set_num_threads(threads)


@dataclass
class _Slot:
    process: Any = None
    conn: Any = None
    task: Task | None = None
    attempt: int = 0
    started: float = 0.0

    def start(self, ctx, threads: int) -> None:
        here, there = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(there, threads), daemon=True)
        self.process.start()
        there.close()
        self.conn = here

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.join(5)
            self.conn.close()
        self.process = self.conn = self.task = None


class LocalPool:
    """``workers`` processes on this machine; ``timeout``: seconds per task (None: no limit)."""

    def __init__(self, workers: int, timeout: float | None = None) -> None:
        self.workers = max(1, workers)
        self.timeout = timeout
        self._slots: list[_Slot] = []

    @property
    def description(self) -> str:
        return f"a local process pool of {self.workers} worker(s)"

    @property
    def pids(self) -> list[int]:
        """The worker processes busy with a task (for tests that kill one)."""
        return [s.process.pid for s in self._slots if s.task is not None]

    def run(self, tasks: list[Task]) -> Iterator[tuple[Task, dict[str, Any]]]:
        """(task, outcome) as each task ends, in completion order."""
        ctx = multiprocessing.get_context("spawn")
        cores = multiprocessing.cpu_count()
        threads = max(1, cores // self.workers)
        pending = deque((t, 1) for t in tasks)
        self._slots = [_Slot() for _ in range(min(self.workers, len(tasks)))]
        try:
            while pending or any(s.task for s in self._slots):
                for slot in self._slots:
                    if slot.task is None and pending:
                        if slot.process is None:
                            slot.start(ctx, threads)
                        slot.task, slot.attempt = pending.popleft()
                        slot.started = time.monotonic()
                        try:
                            slot.conn.send(slot.task)
                        except OSError:  # it died while idle: _check sees it and tries again
                            pass
                busy = [s for s in self._slots if s.task is not None]
                wait([s.conn for s in busy] + [s.process.sentinel for s in busy], self._wait(busy))
                for slot in busy:
                    ended = self._check(slot, pending)
                    if ended is not None:
                        yield ended
        finally:
            for slot in self._slots:
                slot.stop()

    def _wait(self, busy: list[_Slot]) -> float:
        if self.timeout is None:
            return 1.0
        left = min(s.started + self.timeout for s in busy) - time.monotonic()
        return max(0.05, min(1.0, left))

    def _check(self, slot: _Slot, pending: deque) -> tuple[Task, dict[str, Any]] | None:
        """The slot's finished (or failed) task, or None while it works; a dead worker's task
        goes back to the front of the queue once."""
        task, attempt = slot.task, slot.attempt
        try:
            if slot.conn.poll():
                outcome = slot.conn.recv()
                slot.task = None
                return task, {**outcome, "attempts": attempt}
        except (EOFError, OSError):
            pass
        if slot.process.is_alive():
            if self.timeout is None or time.monotonic() - slot.started < self.timeout:
                return None
            slot.stop()
            return task, {**timed_out(self.timeout), "attempts": attempt}
        code = slot.process.exitcode
        slot.stop()
        if attempt < ATTEMPTS:
            pending.appendleft((task, attempt + 1))
            return None
        return task, {**worker_died(f"exit code {code}"), "attempts": attempt}
