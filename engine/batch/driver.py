"""The batch driver: manifest -> tasks -> a runner -> ``results.jsonl`` (and the database).

Only the driver opens the database: to find each item's model (``grade``) and the subjects chosen
for the stored recordings of the rows' videos (followed by rows without a ``person``), and, with
``store``, to write each result as it arrives (the recording, its extractions or its proposal).
Results are written in manifest order when the batch ends, is cancelled (Ctrl-C) or stops on an
error, so a rerun finds what is done in the cache.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from engine.batch.manifest import Row, read_manifest
from engine.batch.results import RESULTS_FILE, Tally, result_line, write_results
from engine.batch.task import Task
from engine.errors import AqaError, Cancelled, InputError, MissingDependencyError, NotFoundError

NO_RAY = 'Ray is not installed (pip install "aqa-studio[scale]")'


@dataclass
class Batch:
    """A prepared batch: one task per manifest row, minus the rows that failed already (an
    item without a model, a session that does not exist)."""

    kind: str
    rows: list[Row]
    tasks: list[Task] = field(default_factory=list)
    failed: dict[int, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[int, int] = field(default_factory=dict)  # row index -> existing session id


def prepare(
    kind: str,
    manifest: Path,
    *,
    config=None,
    device: str = "auto",
    model_id: int | None = None,
    modalities: list[str] | None = None,
    cache: Path | None = None,
    store: bool = False,
) -> Batch:
    """Read and check the manifest and make the tasks (``config``: an ``ExtractionConfig`` for
    ``extract``); bad manifests raise ``InputError`` before any work."""
    from engine.extract.config import ExtractionConfig
    from engine.people.subject import check_person_text

    batch = Batch(kind, read_manifest(manifest))
    for row in batch.rows:
        try:
            check_person_text(row.person)
        except InputError as exc:
            raise InputError(f"Line {row.line} of the manifest: {exc}") from None
    config = config or ExtractionConfig()
    db = None
    if store or kind == "grade":
        from engine.store import Store

        db = Store()
    try:
        models: dict[tuple[str, str], Any] = {}
        for i, row in enumerate(batch.rows):
            try:
                notes = _session_notes(db, row, batch, i) if store else ""
                choices = ()
                if db is not None and row.person is None:
                    choices = _stored_choices(db, _known_session(db, row, batch, i), row.item)
                if kind == "extract":
                    more = {"config": config.to_dict()}
                else:
                    more = {
                        "model": _model(db, models, row, model_id),
                        "modalities": tuple(modalities) if modalities else None,
                    }
            except AqaError as exc:
                batch.failed[i] = {"status": "failed", "reason": str(exc), "attempts": 0}
                continue
            batch.tasks.append(
                Task(
                    index=i,
                    kind=kind,
                    video=row.video,
                    protocol=row.protocol,
                    item=row.item,
                    device=device,
                    person=row.person,
                    examination=notes,
                    cache=str(cache) if cache else None,
                    store=store,
                    choices=choices,
                    **more,
                )
            )
    finally:
        if db is not None:
            db.close()
    return batch


def _model(db, models: dict, row: Row, model_id: int | None) -> dict[str, Any]:
    """The model row for the row's item (found once per item)."""
    from engine.grading.model_files import model_for

    key = (row.protocol, row.item)
    if key not in models:
        try:
            models[key] = db.model(model_id) if model_id else model_for(db, *key)
        except AqaError as exc:
            models[key] = exc
    if isinstance(models[key], AqaError):
        raise models[key]
    return models[key]


def _session_notes(db, row: Row, batch: Batch, i: int) -> str:
    """The examination notes of the row's existing session (``session`` is an id), else ""."""
    if row.session is None or not row.session.isdigit():
        if not row.subject:
            raise InputError("Storing a result needs the row's session id or its subject's code.")
        return ""
    session = db.session(int(row.session))
    if session["protocol"] != row.protocol:
        raise InputError(f"Session {row.session} is a {session['protocol']} session.")
    batch.sessions[i] = session["id"]
    return session["notes"] or ""


def make_runner(
    which: str = "auto",
    workers: int | None = None,
    timeout: float | None = None,
    address: str | None = None,
    task_memory: int | None = None,
    device: str = "auto",
    note: Callable[[str], None] = print,
):
    """Ray when installed (``auto``), else a local process pool that says it is one."""
    from engine.batch.local import LocalPool

    remote = address or os.environ.get("RAY_ADDRESS")
    if which == "local":
        if address:
            raise InputError("--address needs Ray; it cannot be used with --runner local.")
        return LocalPool(workers or os.cpu_count() or 1, timeout)
    try:
        import ray  # noqa: F401
    except ImportError:
        if which == "ray" or remote:
            raise MissingDependencyError(f"{NO_RAY}; it is needed for a Ray cluster.") from None
        note(f"{NO_RAY}: running on a local process pool instead.")
        return LocalPool(workers or os.cpu_count() or 1, timeout)
    from engine.batch.ray_runner import RayRunner

    return RayRunner(workers, timeout, address, task_memory, device)


def run(
    batch: Batch,
    runner,
    out: Path,
    store: bool = False,
    report: Callable[[Tally, dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run the batch and write ``out/results.jsonl``; returns its lines. Ctrl-C stops the
    runner, writes the rows done and raises ``Cancelled``."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"The folder {out} cannot be made ({exc.strerror}).") from None
    tally = Tally(len(batch.rows))
    lines: list[dict[str, Any]] = []

    def finish(i: int, outcome: dict[str, Any]) -> None:
        if db is not None and outcome["status"] == "ok":
            outcome = _stored(db, batch, i, outcome)
        line = result_line(batch.rows[i], outcome)
        lines.append(line)
        tally.add(line["status"])
        if report is not None:
            report(tally, line)

    db = None
    if store and batch.tasks:
        from engine.store import Store

        db = Store()
    try:
        for i, outcome in batch.failed.items():
            finish(i, outcome)
        if batch.tasks:
            runs = runner.run(batch.tasks)
            try:
                for task, outcome in runs:
                    finish(task.index, outcome)
            finally:
                runs.close()
    except BaseException as exc:  # Ctrl-C or a database failure: keep the rows done
        write_results(out, lines)
        if isinstance(exc, KeyboardInterrupt):
            raise Cancelled(
                f"The batch was cancelled after {tally.done} of {tally.total} videos; their "
                f"results are in {out / RESULTS_FILE}, and the same command resumes from the "
                f"cache."
            ) from None
        raise
    finally:
        if db is not None:
            db.close()
    write_results(out, lines)
    return lines


def _stored(db, batch: Batch, i: int, outcome: dict[str, Any]) -> dict[str, Any]:
    """Write the result into the database (the driver's only); a refusal fails the row, and a
    proposal that does not follow the subject chosen for the recording before says so."""
    row = batch.rows[i]
    try:
        session_id = batch.sessions.get(i) or _session(db, row)
        recording_id = _store_result(db, batch.kind, row, session_id, outcome["record"])
    except AqaError as exc:
        return {**outcome, "status": "failed", "reason": f"Not stored: {exc}"}
    stored = {**outcome, "recording_id": recording_id}
    if batch.kind == "grade" and (stale := db.latest_assessment(recording_id)["stale"]):
        stored["reason"] = f"Stored as a stale proposal of recording {recording_id}. {stale}"
    return stored


def _session(db, row: Row) -> int:
    """The subject's session of the row's protocol on the row's date (``session``, default
    today), made with the subject when missing."""
    found = _existing_session(db, row)
    if found is not None:
        return found
    try:
        db.subject(row.subject)
    except NotFoundError:
        db.add_subject(row.subject)
    return db.new_session(row.subject, row.protocol, on=_day(row))["id"]


def _known_session(db, row: Row, batch: Batch, i: int) -> int | None:
    """The row's session if the database has it (its id, or the subject's session of the
    protocol on the row's date), else None."""
    if i in batch.sessions:
        return batch.sessions[i]
    if row.session is not None and row.session.isdigit():
        return int(row.session)
    return _existing_session(db, row) if row.subject else None


def _existing_session(db, row: Row) -> int | None:
    """The subject's session of the row's protocol on the row's date, if there is one."""
    try:
        sessions = db.sessions(row.subject)
    except NotFoundError:
        return None
    day = _day(row)
    return next(
        (s["id"] for s in sessions if s["protocol"] == row.protocol and s["date"] == day), None
    )


def _day(row: Row) -> str:
    return row.session or date.today().isoformat()


def _stored_choices(db, session_id: int | None, item: str) -> tuple:
    """(video sha256, person, hand-overs) of the session's recordings of ``item`` whose subject
    was chosen: a row without a ``person`` follows the choice of the recording of its video."""
    if session_id is None:
        return ()
    found = []
    for recording in db.recordings(session_id):
        choice = db.subject_choice(recording["id"]) if recording["item"] == item else None
        if choice is not None:
            person = None if choice["person"] is None else str(choice["person"])
            found.append((recording["sha256"], person, tuple(choice["handovers"])))
    return tuple(found)


def _store_result(db, kind: str, row: Row, session_id: int, record: dict[str, Any]) -> int:
    """Store the row's extraction or proposal; a ``person`` of the row becomes the recording's
    subject choice (the id the worker resolved it to), so that what is shown and graded later
    follows whom the batch followed."""
    if kind == "extract":
        from engine.extract.attach import attach

        attached = attach(db, _extraction(record), session_id, row.item, view=row.view)
        _keep_choice(db, attached["recording_id"], row.person, record.get("subject"))
        return attached["recording_id"]
    from engine.recordings import import_recording

    recording = import_recording(db, session_id, Path(row.video), row.item, row.view)
    _keep_choice(db, recording["id"], row.person, record["details"].get("subject"))
    db.add_assessment(recording["id"], record)
    return recording["id"]


def _keep_choice(db, recording_id: int, person: str | None, followed: dict | None) -> None:
    from engine.recording_subject import keep_choice

    if person is not None and followed is not None:
        keep_choice(db, recording_id, person, followed["id"])


def _extraction(record: dict[str, Any]):
    """The ``ExtractionResult`` (without tracks) a worker sent as ``to_dict()``."""
    from engine.extract.pipeline import ExtractionResult, ModalityResult

    return ExtractionResult(
        video=record["video"],
        sha256=record["sha256"],
        profile=record["profile"],
        device=record["device"],
        media=record["media"],
        decode=record["decode"],
        seconds=record["seconds"],
        modalities={m: ModalityResult(**r) for m, r in record["modalities"].items()},
    )
