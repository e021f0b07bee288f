"""Adding a video to a session: probe it, hash it, store it (shared by the CLI and the GUI).

A session item holds a video once: adding the same content (sha256) to the same item again
returns the recording that already holds it, so its extractions, proposals and grades stay on
one recording.
"""

from pathlib import Path
from typing import Any

from engine.hashing import file_sha256
from engine.media.probe import probe
from engine.store import Store


def existing_recording(
    store: Store, session_id: int, item: str, sha256: str
) -> dict[str, Any] | None:
    """The session's recording of ``item`` with this video content, if there is one."""
    return next(
        (r for r in store.recordings(session_id) if r["item"] == item and r["sha256"] == sha256),
        None,
    )


def import_recording(
    store: Store, session_id: int, video: Path, item: str, view: str | None = None
) -> dict[str, Any]:
    """The stored recording row (the existing one when the item already holds this video);
    a bad video or item raises before anything is written."""
    store.session(session_id)
    info = probe(video)
    sha256 = file_sha256(video)
    found = existing_recording(store, session_id, item, sha256)
    if found is not None:
        return {**found, "reused": True}
    row = store.add_recording(session_id, item, video, sha256, info.to_dict(), view)
    return {**row, "reused": False}
