"""Attach an extraction to a recording of a session (``aqa extract --session S --item I``).

The recording of that item with the same video content (sha256) is reused whatever its
view, else created; one row per modality goes into the ``extractions`` table (status, reason,
backend, version, parameters, cache key). The session and item are checked before any work starts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.extract.pipeline import ExtractionResult
from engine.protocols import get_protocol
from engine.recordings import existing_recording
from engine.store import Store


def check_target(store: Store, session_id: int, item: str) -> None:
    """NotFoundError / ProtocolError (one sentence) when the session or item does not exist."""
    session = store.session(session_id)
    get_protocol(session["protocol"]).item(item)


def attach(
    store: Store,
    result: ExtractionResult,
    session_id: int,
    item: str,
    view: str | None = None,
) -> dict[str, Any]:
    """Record ``result`` for the session's item; returns the recording id and extraction ids."""
    check_target(store, session_id, item)
    recording = existing_recording(store, session_id, item, result.sha256)
    reused = recording is not None
    if not reused:
        recording = store.add_recording(
            session_id, item, Path(result.video), result.sha256, result.media, view=view
        )
    ids = []
    for modality, entry in result.modalities.items():
        row = {
            "modality": modality,
            "backend": entry.backend,
            "version": entry.version,
            "params": json.dumps(entry.params, sort_keys=True, default=str),
            "cache_key": entry.cache_key,
            "status": entry.status,
            "reason": entry.reason,
        }
        ids.append(store.add_extraction(recording["id"], row)["id"])
    return {"recording_id": recording["id"], "reused": reused, "extraction_ids": ids}
