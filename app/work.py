"""The GUI's engine work, as module-level functions the worker process can run (no Qt here).

Each takes plain arguments (paths, ids, settings values) and ``progress`` / ``cancel`` from the
worker, opens its own database connection where it needs one, and returns picklable results.
"""

from pathlib import Path


def extract_recording(video: str, device: str, config, progress, cancel):
    """Extract (or read from the cache) a recording for review with the settings'
    ``ExtractionConfig`` (``Settings.extraction()``): ``engine.review.ReviewData``."""
    from engine.review import extract_for_review

    return extract_for_review(video, device, progress, cancel, config)


def grade_recording(
    db_path: Path,
    recording_id: int,
    device: str,
    progress,
    cancel,
    settings=None,
    model_id: int | None = None,
) -> dict:
    """Grade one recording with ``model_id`` (default: its item's active model); the stored
    assessment row. ``settings``: the Settings dialog's ``ExtractionConfig`` (differences are
    reported)."""
    from engine.grading.service import grade_recording as grade
    from engine.store import Store

    with Store(db_path) as store:
        return grade(
            store,
            recording_id,
            model_id,
            device=device,
            progress=progress,
            cancel=cancel,
            settings=settings,
        )


def item_models(db_path: Path, recording_id: int, progress, cancel) -> list[dict]:
    """The models that can grade the recording's item (shipped demos registered first), the
    active one first; retired ones are left out."""
    from engine.grading.model_files import register_demos
    from engine.store import Store

    with Store(db_path) as store:
        recording = store.recording(recording_id)
        protocol = store.session(recording["session_id"])["protocol"]
        register_demos(store, protocol, recording["item"])
        rows = [m for m in store.models(protocol, recording["item"]) if m["status"] != "retired"]
    return sorted(rows, key=lambda m: m["status"] != "active")


def grade_session(
    db_path: Path, session_id: int, device: str, progress, cancel, settings=None
) -> int:
    """Grade the recordings of a session that have no proposal; how many were graded."""
    from engine.grading.service import grade_session as grade
    from engine.store import Store

    with Store(db_path) as store:
        rows = grade(
            store, session_id, device=device, progress=progress, cancel=cancel, settings=settings
        )
        return len(rows)


def train_item(db_path: Path, protocol: str, item: str, device: str, progress, cancel) -> dict:
    """Cross-validate and train the item's model on its confirmed grades (see ``train_item``)."""
    from engine.grading.learning import train_item as train
    from engine.store import Store

    with Store(db_path) as store:
        return train(store, protocol, item, device=device, progress=progress, cancel=cancel)


def write_report(db_path: Path, session_id: int, target: Path, progress, cancel) -> Path:
    """Write a session's PDF report with the key frame of each extracted item."""
    from engine.reports.key_frames import session_key_frames
    from engine.reports.pdf import write_pdf
    from engine.reports.sheet import session_report
    from engine.store import Store

    with Store(db_path) as store:
        frames = session_key_frames(store, session_id)
        return write_pdf(session_report(store, session_id), target, frames)


def render_overlay(video: str, target: Path, progress, cancel) -> Path:
    """Write the overlay video of a recording."""
    from engine.render import render

    return render(video, target, progress=progress, cancel=cancel)


def find_devices(progress, cancel) -> list[str]:
    """What this machine offers: one line per device or runtime (torch, onnxruntime)."""
    from engine.device import describe_devices

    return describe_devices()
