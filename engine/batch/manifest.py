"""The batch manifest: a CSV (with a header) or JSONL file, one video per row.

Required columns: ``video``, ``protocol``, ``item``; optional: ``subject``, ``session``,
``person``, ``view``. A relative video path is relative to the manifest's folder.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InputError
from engine.protocols import get_protocol

REQUIRED = ("video", "protocol", "item")
OPTIONAL = ("subject", "session", "person", "view")


@dataclass(frozen=True)
class Row:
    """One manifest row; ``line`` is its line number in the file (for messages)."""

    line: int
    video: str
    protocol: str
    item: str
    subject: str | None = None
    session: str | None = None
    person: str | None = None
    view: str | None = None


def read_manifest(path: Path) -> list[Row]:
    """The rows of ``path``; a missing column, an unknown protocol or item, or an unreadable
    file raises ``InputError`` naming the line, before any work starts."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"The manifest {path} cannot be read ({exc}).") from None
    records = _jsonl(text, path) if path.suffix.lower() in (".jsonl", ".ndjson") else _csv(text)
    rows = [_row(line, record, path.parent) for line, record in records]
    if not rows:
        raise InputError(f"The manifest {path} lists no videos.")
    return rows


def _csv(text: str) -> list[tuple[int, dict]]:
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(
            f"The manifest's header lacks the column(s) {', '.join(missing)} "
            f"(it needs {', '.join(REQUIRED)})."
        )
    return [(n, record) for n, record in enumerate(reader, start=2) if any(record.values())]


def _jsonl(text: str, path: Path) -> list[tuple[int, dict]]:
    records = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise InputError(f"Line {n} of {path} is not JSON.") from None
        if not isinstance(record, dict):
            raise InputError(f"Line {n} of {path} is not a JSON object.")
        records.append((n, record))
    return records


def _row(line: int, record: dict, folder: Path) -> Row:
    values = {
        k: str(record[k]).strip() if record.get(k) not in (None, "") else None
        for k in REQUIRED + OPTIONAL
    }
    missing = [k for k in REQUIRED if not values[k]]
    if missing:
        raise InputError(f"Line {line} of the manifest has no {', '.join(missing)}.")
    try:
        get_protocol(values["protocol"]).item(values["item"])
    except InputError as exc:
        raise InputError(f"Line {line} of the manifest: {exc}") from None
    video = Path(values["video"]).expanduser()
    values["video"] = str(video if video.is_absolute() else (folder / video).resolve())
    return Row(line=line, **values)
