"""Ray: one task per video on this machine (``ray.init()``) or a cluster (``--address``).

At most ``workers`` tasks are in flight (each reserves one CPU, with ``task_memory`` that many
bytes, so Ray never packs more onto a node than fit, and a share of the GPUs when there are
any). A task past its timeout is cancelled
with ``force=True``, which kills its worker process; a task whose worker or node died is
submitted once more (Ray's own retries are off, so every runner counts attempts alike).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from engine.batch.outcomes import ATTEMPTS, timed_out, worker_died
from engine.batch.task import Task, run_task
from engine.errors import InputError

# Settings the workers need from the driver's environment (model and backend file locations);
# the data directory, the user and any password stay on the driver.
PRIVATE_ENV = ("AQA_HOME", "AQA_USER", "AQA_PASSWORD")


@contextmanager
def _sigint_ignored():
    """SIGINT ignored while Ray starts its processes (in the main thread; elsewhere as is)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def worker_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("AQA_") and k not in PRIVATE_ENV}


class RayRunner:
    """``address``: a cluster (``ray://HOST:PORT`` or ``HOST:PORT``; None: ``RAY_ADDRESS`` or a
    local Ray started for this batch); ``workers``: at most the CPUs Ray has (None: all of
    them); ``device`` other than cpu shares the cluster's GPUs among the workers."""

    def __init__(
        self,
        workers: int | None = None,
        timeout: float | None = None,
        address: str | None = None,
        task_memory: int | None = None,
        device: str = "auto",
    ) -> None:
        import ray

        self.ray = ray
        self.timeout = timeout
        address = address or os.environ.get("RAY_ADDRESS") or None
        runtime_env = {"env_vars": worker_env()}
        settings = dict(log_to_driver=False, include_dashboard=False, configure_logging=False)
        if not address:  # a Ray of this batch's own, never one left running on this machine
            settings["num_cpus"] = workers or os.cpu_count()
        try:
            with _sigint_ignored():  # Ray's processes inherit it: Ctrl-C reaches the driver only
                ray.init(address=address or "local", runtime_env=runtime_env, **settings)
        except (ConnectionError, ValueError, RuntimeError, TimeoutError) as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray"
            raise InputError(f"Ray could not start or reach {where} ({exc}).") from None
        self.where = f"the Ray cluster at {address}" if address else "a local Ray"
        resources = ray.cluster_resources()
        cpus, gpus = int(resources.get("CPU", 1)), float(resources.get("GPU", 0))
        self.workers = max(1, min(workers or cpus, cpus))  # queued tasks would time out
        self.options: dict[str, Any] = {"num_cpus": 1, "max_retries": 0}
        if task_memory:
            self.options["memory"] = task_memory
        if device == "cuda" and not gpus:
            ray.shutdown()
            raise InputError(f"--device cuda was asked for, but {self.where} has no GPU.")
        if device != "cpu" and gpus:  # Ray hides the GPUs from tasks that do not ask for one
            self.options["num_gpus"] = min(1.0, gpus / self.workers)

    @property
    def description(self) -> str:
        share = self.options.get("num_gpus")
        gpu = f", {share:g} GPU each" if share else ""
        return f"{self.where} with {self.workers} worker(s){gpu}"

    def run(self, tasks: list[Task]) -> Iterator[tuple[Task, dict[str, Any]]]:
        ray = self.ray
        remote = ray.remote(run_task).options(**self.options)
        pending = list(reversed(tasks))
        attempts = {t.index: 0 for t in tasks}
        flying: dict[Any, tuple[Task, float]] = {}
        try:
            while pending or flying:
                while pending and len(flying) < self.workers:
                    task = pending.pop()
                    attempts[task.index] += 1
                    flying[remote.remote(task)] = (task, time.monotonic())
                ready, _ = ray.wait(list(flying), num_returns=1, timeout=self._wait(flying))
                for ref in ready:
                    task, _ = flying.pop(ref)
                    outcome = self._outcome(ref, task, attempts[task.index])
                    if outcome is None:
                        pending.append(task)
                    else:
                        yield task, {**outcome, "attempts": attempts[task.index]}
                for ref, (task, started) in list(flying.items()):
                    if self.timeout is not None and time.monotonic() - started > self.timeout:
                        ray.cancel(ref, force=True)
                        del flying[ref]
                        yield task, {**timed_out(self.timeout), "attempts": attempts[task.index]}
        finally:
            for ref in flying:
                ray.cancel(ref, force=True)
            ray.shutdown()

    def _wait(self, flying: dict) -> float:
        if self.timeout is None:
            return 1.0
        left = min(started for _, started in flying.values()) + self.timeout - time.monotonic()
        return max(0.05, min(1.0, left))

    def _outcome(self, ref, task: Task, attempt: int) -> dict[str, Any] | None:
        """The task's row, or None when its worker died and it gets another attempt."""
        from ray import exceptions as rx

        died = tuple(
            getattr(rx, name)
            for name in ("WorkerCrashedError", "NodeDiedError", "OutOfMemoryError")
            if hasattr(rx, name)
        )
        try:
            return self.ray.get(ref)
        except died as exc:
            if attempt < ATTEMPTS:
                return None
            return worker_died(type(exc).__name__)
        except rx.RayError as exc:
            return {"status": "failed", "reason": f"Ray could not run the task ({exc})."}
