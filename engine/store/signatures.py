"""Electronic signatures of a session (21 CFR Part 11 §11.50/§11.70 in spirit).

A signature holds the signer (account and printed name), the time, the meaning (reviewed or
approved), the SHA-256 of the session's content at signing and the audit head of that moment.
The content is everything the grades rest on: the session, its subject code, the recordings'
video hashes, every rating, every model proposal and, where the subject of a video was chosen,
those choices. A session with a valid signature is locked; an admin may unlock it with a reason,
which voids its signatures (kept, marked void, in the record and on the PDF).
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlite_utils import Database

MEANINGS = ("reviewed", "approved")
# Tables of per-recording facts that belong to a session's signed content, when they exist.
CHOICE_TABLES = ("subject_choices",)


def session_content(db: Database, session_id: int) -> dict[str, Any]:
    session = db.execute(
        "select s.id, s.protocol, s.date, s.examiner, s.notes, j.code from sessions s "
        "join subjects j on j.id = s.subject_id where s.id = ?",
        [session_id],
    ).fetchone()
    recordings = [
        list(r)
        for r in db.execute(
            "select id, item, view, sha256 from recordings where session_id = ? order by id",
            [session_id],
        )
    ]
    ids = [r[0] for r in recordings]
    marks = ",".join("?" * len(ids)) or "null"

    def rows(table: str, columns: str) -> list[list]:
        sql = f"select {columns} from {table} where recording_id in ({marks}) order by id"
        return [list(r) for r in db.execute(sql, ids)]

    content = {
        "session": list(session),
        "recordings": recordings,
        "ratings": rows("ratings", "id, recording_id, grade, rater, reason, created_at"),
        "proposals": rows(
            "assessments", "id, recording_id, model_id, grade, expected_score, uncertain"
        ),
    }
    tables = set(db.table_names())
    for table in CHOICE_TABLES:
        if table in tables:
            content[table] = rows(table, "*")
    return content


def content_sha256(db: Database, session_id: int) -> str:
    text = json.dumps(session_content(db, session_id), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def valid(db: Database, session_id: int) -> list[dict[str, Any]]:
    """The session's signatures that are not void (a session with any is locked)."""
    return list(
        db["signatures"].rows_where(
            "session_id = ? and voided_at is null", [session_id], order_by="id"
        )
    )


def verify(db: Database) -> list[str]:
    """Valid signatures whose session no longer has the content that was signed."""
    problems = []
    for sig in db["signatures"].rows_where("voided_at is null", order_by="id"):
        if content_sha256(db, sig["session_id"]) != sig["content_sha256"]:
            problems.append(
                f"signature {sig['id']} ({sig['meaning']} by {sig['printed_name']}) no longer "
                f"matches the content of session {sig['session_id']}"
            )
    return problems
