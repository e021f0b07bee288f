"""Recordings: adding a video to a session, and making sure a stored recording is still the
video that was added (shared by the CLI and the GUI).

A recording keeps its file's SHA-256 and identity on disk (device, inode, size, modification and
change time). Before a recording is extracted, graded, reported or signed, ``checked_path``
compares the identity; when it changed the file is hashed again, and a different hash is refused
with one sentence. A moved file is accepted back by ``relink`` only when its hash matches.

A session item holds a video once: adding the same content (sha256) to the same item again
returns the recording that already holds it, so its extractions, proposals and grades stay on
one recording.
"""

from pathlib import Path
from typing import Any

from engine.errors import InputError
from engine.hashing import file_identity, file_sha256
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
    identity = file_identity(video)  # before hashing: a change while hashing shows later
    sha256 = file_sha256(video)
    found = existing_recording(store, session_id, item, sha256)
    if found is not None:
        return {**found, "reused": True}
    row = store.add_recording(
        session_id, item, video, sha256, info.to_dict(), view, identity=identity
    )
    return {**row, "reused": False}


def checked_path(store: Store, recording_id: int, actor: str | None = None) -> Path:
    """The recording's video, once it is known to be the content that was added."""
    row = store.recording(recording_id)
    path = Path(row["path"])
    try:
        identity = file_identity(path)
    except OSError:
        raise InputError(
            f"The video of recording {recording_id} is missing ({path}); if it was moved, run "
            f"`aqa recording relink {recording_id} NEWPATH`."
        ) from None
    if identity == row["file_identity"]:
        return path
    if file_sha256(path, fresh=True) != row["sha256"]:
        raise InputError(
            f"The video of recording {recording_id} ({path}) has changed since it was added "
            "(its SHA-256 differs); add the new video as a new recording."
        )
    store.set_recording_file(recording_id, path, identity, actor)  # same bytes: copied, touched
    return path


def relink(store: Store, recording_id: int, new_path: Path, actor: str | None = None) -> Path:
    """Point a recording at its moved video; refused unless the bytes are the same."""
    row = store.recording(recording_id)
    new_path = Path(new_path)
    if not new_path.is_file():
        raise InputError(f"There is no file {new_path}.")
    identity = file_identity(new_path)  # before hashing: a change while hashing shows later
    if file_sha256(new_path, fresh=True) != row["sha256"]:
        raise InputError(
            f"{new_path} is not the video of recording {recording_id} (its SHA-256 differs); "
            "nothing was changed."
        )
    store.set_recording_file(recording_id, new_path, identity, actor)
    return new_path.resolve()


def check_session(store: Store, session_id: int, allow_missing: bool = False) -> None:
    """``checked_path`` for every recording of the session (a missing video is let pass when
    ``allow_missing``: a report can go on without its picture, a signature cannot)."""
    for row in store.recordings(session_id):
        if allow_missing and not Path(row["path"]).exists():
            continue
        checked_path(store, row["id"])
