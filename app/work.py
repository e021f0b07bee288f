"""The GUI's engine work, as module-level functions the worker process can run (no Qt here).

Each takes plain arguments (paths, ids, settings values) and ``progress`` / ``cancel`` from the
worker, opens its own database connection where it needs one, and returns picklable results.
"""

from pathlib import Path


def extract_recording(db_path: Path, recording_id: int, device: str, config, progress, cancel):
    """Extract (or read from the cache) a stored recording for review with the settings'
    ``ExtractionConfig`` (``Settings.extraction()``), following its subject choice:
    ``engine.review.ReviewData`` with its people."""
    return _review(db_path, recording_id, device, config, progress, cancel, as_graded=False)


def load_recording(db_path: Path, recording_id: int, device: str, config, progress, cancel):
    """The review of a stored recording as ``extract_recording``, but, once it is graded, with
    the tracks its latest proposal was computed from (read from the cache)."""
    return _review(db_path, recording_id, device, config, progress, cancel, as_graded=True)


def _review(db_path: Path, recording_id: int, device: str, config, progress, cancel, as_graded):
    from engine.review import review_recording
    from engine.store import Store

    with Store(db_path) as store:
        return review_recording(store, recording_id, device, config, progress, cancel, as_graded)


def choose_subject(
    db_path: Path,
    recording_id: int,
    person: str,
    reason: str | None,
    device: str,
    config,
    progress,
    cancel,
):
    """Make ``person`` (an id or a point "X,Y@SECONDS" in upright video pixels) the recording's
    subject under the logged-in user, extract again what depends on it, and return the review
    that follows it (``load_recording``)."""
    from engine.recording_subject import choose

    return _changed(
        db_path,
        recording_id,
        lambda store: choose(store, recording_id, person, (), reason, progress, cancel, config),
        device,
        config,
        progress,
        cancel,
    )


def hand_over(
    db_path: Path,
    recording_id: int,
    time_s: float,
    person: int,
    device: str,
    config,
    progress,
    cancel,
):
    """ "From ``time_s`` on the subject is ``person``": stored, extracted again, and the review
    that follows it (``load_recording``)."""
    from engine.recording_subject import hand_over_at

    return _changed(
        db_path,
        recording_id,
        lambda store: hand_over_at(
            store, recording_id, time_s, person, None, progress, cancel, config
        ),
        device,
        config,
        progress,
        cancel,
    )


def _changed(db_path: Path, recording_id: int, change, device: str, config, progress, cancel):
    """Store a subject ``change(store)``, extract again what depends on the subject (as the
    latest proposal was extracted, so that grading again finds it), then the review."""
    from engine.recording_subject import extract_again
    from engine.store import Store

    with Store(db_path) as store:
        change(store)
        extract_again(store, recording_id, progress, cancel)
    return load_recording(db_path, recording_id, device, config, progress, cancel)


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


def render_overlay(db_path: Path, recording_id: int, target: Path, progress, cancel) -> Path:
    """Write the overlay video of a stored recording, its skeleton following the recording's
    subject choice (person and hand-overs)."""
    from engine.recording_subject import followed
    from engine.recordings import checked_path
    from engine.render import render
    from engine.store import Store

    with Store(db_path) as store:
        video = checked_path(store, recording_id)
        person, handovers = followed(store, recording_id)
    return render(video, target, progress=progress, cancel=cancel, person=person,
                  handovers=handovers)  # fmt: skip


def find_devices(progress, cancel) -> list[str]:
    """What this machine offers: one line per device or runtime (torch, onnxruntime)."""
    from engine.device import describe_devices

    return describe_devices()
