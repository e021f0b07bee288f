"""The rows of ``results.jsonl`` and the batch's running tally (done, failed, speed, ETA)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.atomic import write_text
from engine.batch.manifest import Row

RESULTS_FILE = "results.jsonl"
FIELDS = (
    "status",
    "reason",
    "attempts",
    "seconds",
    "worker",
    "sha256",
    "modalities",
    "subject",
    "proposal",
)


def result_line(row: Row, outcome: dict[str, Any]) -> dict[str, Any]:
    """One line of ``results.jsonl``: the manifest row and what became of it."""
    line = {"line": row.line, "video": row.video, "protocol": row.protocol, "item": row.item}
    line.update({k: outcome[k] for k in FIELDS if k in outcome})
    line.setdefault("modalities", {})
    if "recording_id" in outcome:
        line["recording_id"] = outcome["recording_id"]
    return line


def write_results(folder: Path, lines: list[dict[str, Any]]) -> Path:
    """``folder/results.jsonl`` in manifest order, replaced atomically."""
    ordered = sorted(lines, key=lambda line: line["line"])
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in ordered)
    return write_text(Path(folder) / RESULTS_FILE, text)


@dataclass
class Tally:
    """Counts of a running batch; ``line()`` is its progress line."""

    total: int
    ok: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)

    def add(self, status: str) -> None:
        if status == "ok":
            self.ok += 1
        else:
            self.failed += 1

    @property
    def done(self) -> int:
        return self.ok + self.failed

    @property
    def rate(self) -> float:
        """Videos per second so far."""
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        remaining = self.total - self.done
        rate = self.rate
        eta = f"{remaining / rate:.0f} s" if rate > 0 else "unknown"
        return (
            f"{self.done}/{self.total} done ({self.failed} failed), {remaining} remaining, "
            f"{rate:.2f} videos/s, ETA {eta}"
        )
