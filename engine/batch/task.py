"""One video's work, as a worker runs it: extract or grade through the public API, never raising.

A ``Task`` is plain data (it travels to Ray or a pool process); ``run_task`` returns the row of
``results.jsonl`` plus, with ``store``, ``record`` (what the driver writes to the database). A
bad video fails its own row with the one-sentence reason of the ``engine.errors`` exception.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import AqaError

log = logging.getLogger(__name__)

_MODELS: dict[tuple, Any] = {}  # loaded models, kept for the next task of this worker process


@dataclass(frozen=True)
class Task:
    """``config``: ``ExtractionConfig.to_dict()`` (extract); ``model``: the model's database row
    (grade); ``cache``: the cache folder (None: the data directory's); ``store``: send back the
    ``record`` the driver stores; ``choices``: (video sha256, person, hand-overs) of the stored
    recordings whose subject was chosen, followed without a ``person`` when the video is one."""

    index: int
    kind: str
    video: str
    protocol: str
    item: str
    device: str = "auto"
    person: str | None = None
    examination: str = ""
    config: dict[str, Any] | None = None
    model: dict[str, Any] | None = None
    modalities: tuple[str, ...] | None = None
    cache: str | None = None
    store: bool = False
    choices: tuple[tuple[str, str | None, tuple[tuple[float, int], ...]], ...] = ()


def run_task(task: Task) -> dict[str, Any]:
    """The outcome of ``task``: ``status`` ``ok`` or ``failed`` with its ``reason``."""
    started = time.perf_counter()
    out: dict[str, Any] = {"status": "ok", "reason": ""}
    try:
        out.update(_extract(task) if task.kind == "extract" else _grade(task))
    except AqaError as exc:
        out.update(status="failed", reason=str(exc))
    except Exception as exc:  # one video's unexpected failure never stops the batch
        log.exception("batch task for %s failed", task.video)
        out.update(status="failed", reason=f"Unexpected error: {type(exc).__name__}: {exc}.")
    if not task.store:
        out.pop("record", None)
    out["seconds"] = round(time.perf_counter() - started, 3)
    out["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return out


def _followed(task: Task) -> tuple[str | None, tuple[tuple[float, int], ...]]:
    """Whom the task follows: the row's person, else the subject chosen for the stored
    recording of this video (found by content), else the automatic one."""
    video = Path(task.video)
    if task.person is not None or not task.choices or not video.is_file():
        return task.person, ()
    from engine.hashing import file_sha256

    digest = file_sha256(video)
    return next(((p, h) for sha, p, h in task.choices if sha == digest), (None, ()))


def _cache(task: Task):
    from engine.cache import Cache

    return Cache(Path(task.cache)) if task.cache else None


def _extract(task: Task) -> dict[str, Any]:
    from engine.extract.config import ExtractionConfig
    from engine.extract.pipeline import extract

    config = (
        ExtractionConfig.from_dict(task.config or {"modalities": {}})
        .for_recording(task.protocol, task.item, task.examination)
        .following(*_followed(task))
    )
    result = extract(Path(task.video), config, cache=_cache(task))
    record = result.to_dict()
    out = {"sha256": result.sha256, "modalities": _modalities(record["modalities"])}
    out["subject"] = result.subject_details()
    if not result.ok:
        reasons = "; ".join(f"{m}: {r.reason}" for m, r in result.modalities.items())
        out.update(status="failed", reason=f"Nothing could be extracted ({reasons}).")
    return {**out, "record": record}


def _grade(task: Task) -> dict[str, Any]:
    from engine.grading.model_files import load_model
    from engine.grading.service import grade_video

    key = (task.model["id"], task.model["path"], task.device)
    if key not in _MODELS:
        _MODELS[key] = load_model(task.model, task.device)
    person, handovers = _followed(task)
    result = grade_video(
        Path(task.video),
        task.protocol,
        task.item,
        _MODELS[key],
        list(task.modalities) if task.modalities else None,
        task.device,
        examination=task.examination,
        person=person,
        handovers=handovers,
        cache=_cache(task),
    )
    details = result.details
    proposal = {
        "model_id": result.model_id,
        "grade": result.grade,
        "expected_score": result.expected_score,
        "grades": details["grades"],
        "grade_probs": result.grade_probs,
        "uncertain": result.uncertain,
        "modalities_used": details["modalities_used"],
        "modalities_missing": details["modalities_missing"],
    }
    return {
        "modalities": _modalities(result.extraction),
        "subject": details.get("subject"),
        "proposal": proposal,
        "record": result.row(),
    }


def _modalities(entries: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per modality: status, reason, seconds and whether it came from the cache."""
    return {
        m: {k: r[k] for k in ("status", "reason", "seconds", "cached", "backend")}
        for m, r in entries.items()
    }
