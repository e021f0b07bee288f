"""Adding a video to a session: probe it, hash it, store it (shared by the CLI and the GUI)."""

from pathlib import Path
from typing import Any

from engine.hashing import file_sha256
from engine.media.probe import probe
from engine.store import Store


def import_recording(
    store: Store, session_id: int, video: Path, item: str, view: str | None = None
) -> dict[str, Any]:
    """The stored recording row; a bad video or item raises before anything is written."""
    store.session(session_id)
    info = probe(video)
    return store.add_recording(session_id, item, video, file_sha256(video), info.to_dict(), view)
