"""What runners share: the retry-once rule and the reasons of rows that a runner failed."""

from __future__ import annotations

from typing import Any

ATTEMPTS = 2  # a task whose worker died is tried once more


def timed_out(seconds: float) -> dict[str, Any]:
    return {
        "status": "failed",
        "reason": f"The video took longer than {seconds:g} s (a hung decoder or backend); "
        f"its worker was stopped.",
    }


def worker_died(detail: str) -> dict[str, Any]:
    return {
        "status": "failed",
        "reason": f"The worker stopped twice while working on this video ({detail}).",
    }
