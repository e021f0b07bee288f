"""Schema migrations. ``MIGRATIONS[n]`` brings a database from version n to n + 1.

Never edit a released migration; append a new one.
"""

from collections.abc import Callable

from sqlite_utils import Database


def _v1(db: Database) -> None:
    db["subjects"].create(
        {"id": int, "code": str, "birth_year": int, "sex": str, "notes": str, "created_at": str},
        pk="id",
        not_null={"code", "created_at"},
    )
    db["subjects"].create_index(["code"], unique=True)
    db["sessions"].create(
        {
            "id": int,
            "subject_id": int,
            "protocol": str,
            "date": str,
            "examiner": str,
            "notes": str,
            "created_at": str,
        },
        pk="id",
        not_null={"subject_id", "protocol", "date", "created_at"},
        foreign_keys=[("subject_id", "subjects", "id")],
    )
    db["recordings"].create(
        {
            "id": int,
            "session_id": int,
            "item": str,
            "view": str,
            "path": str,
            "sha256": str,
            "media": str,  # JSON of the probe result
            "created_at": str,
        },
        pk="id",
        not_null={"session_id", "item", "path", "sha256", "created_at"},
        foreign_keys=[("session_id", "sessions", "id")],
    )
    db["extractions"].create(
        {
            "id": int,
            "recording_id": int,
            "modality": str,
            "backend": str,
            "version": str,
            "params": str,  # JSON
            "cache_key": str,
            "status": str,  # ok / missing / error
            "reason": str,
            "created_at": str,
        },
        pk="id",
        not_null={"recording_id", "modality", "status", "created_at"},
        foreign_keys=[("recording_id", "recordings", "id")],
    )
    db["assessments"].create(
        {
            "id": int,
            "recording_id": int,
            "model_id": str,
            "grade_probs": str,  # JSON list over the item's grades
            "expected_score": float,
            "grade": float,
            "uncertain": int,
            "details": str,  # JSON: modalities used/missing, contributions, measurement, card
            "created_at": str,
        },
        pk="id",
        not_null={"recording_id", "model_id", "created_at"},
        foreign_keys=[("recording_id", "recordings", "id")],
    )
    db["ratings"].create(
        {
            "id": int,
            "recording_id": int,
            "grade": float,
            "rater": str,
            "reason": str,
            "created_at": str,
        },
        pk="id",
        not_null={"recording_id", "grade", "rater", "created_at"},
        foreign_keys=[("recording_id", "recordings", "id")],
    )
    db["audit_log"].create(
        {
            "id": int,
            "at": str,
            "actor": str,
            "action": str,
            "table_name": str,
            "row_id": int,
            "old_value": str,  # JSON
            "new_value": str,  # JSON
        },
        pk="id",
        not_null={"at", "actor", "action"},
    )
    for table in ("sessions", "recordings", "extractions", "assessments", "ratings"):
        column = {"sessions": "subject_id", "recordings": "session_id"}.get(table, "recording_id")
        db[table].create_index([column])
    # Ratings and the audit log are append-only: the database itself refuses edits.
    for table in ("ratings", "audit_log"):
        for event in ("UPDATE", "DELETE"):
            db.execute(
                f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END"
            )


def _v2(db: Database) -> None:
    """The model registry: grading models per (protocol, item) with their status."""
    db["models"].create(
        {
            "id": int,
            "protocol": str,
            "item": str,
            "name": str,  # network: mcmoe / dualalign / limssr
            "version": int,
            "path": str,  # checkpoint directory
            "card": str,  # JSON model card
            "metrics": str,  # JSON cross-validated metrics
            "status": str,  # candidate / active / retired
            "demo": int,
            "created_at": str,
        },
        pk="id",
        not_null={"protocol", "item", "name", "version", "path", "status", "created_at"},
    )
    db["models"].create_index(["protocol", "item", "status"])
    db["models"].create_index(["protocol", "item", "name", "version"], unique=True)


def _v3(db: Database) -> None:
    """The audit log becomes a hash chain; ratings and the log refuse ``INSERT OR REPLACE``;
    recordings remember their file's identity on disk.

    A REPLACE deletes the old row without firing delete triggers, so a row taking an existing
    id is refused before it is inserted (an upsert's update part meets the update trigger).
    """
    from engine.store.audit import rechain

    db["audit_log"].add_column("prev_hash", str)
    db["audit_log"].add_column("row_hash", str)
    db.execute("DROP TRIGGER audit_log_no_update")
    rechain(db)
    db.execute(
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log are append-only'); END"
    )
    for table in ("ratings", "audit_log"):
        _no_replace(db, table)
    # The video's identity on disk when last hashed ("dev:inode:size:mtime_ns:ctime_ns").
    db["recordings"].add_column("file_identity", str)


def _no_replace(db: Database, table: str) -> None:
    """Refuse a row that takes an existing id (what ``INSERT OR REPLACE`` would delete)."""
    db.execute(
        f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
        f"WHEN EXISTS (SELECT 1 FROM {table} WHERE id = NEW.id) "
        f"BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END"
    )


def _v4(db: Database) -> None:
    """User accounts, login attempts (for lockout) and e-signatures of sessions."""
    db["users"].create(
        {
            "id": int,
            "name": str,  # the login
            "full_name": str,  # the printed name on signatures
            "role": str,  # examiner / rater / admin
            "password": str,  # scrypt$n$r$p$salt$hash
            "created_at": str,
        },
        pk="id",
        not_null={"name", "full_name", "role", "password", "created_at"},
    )
    db["users"].create_index(["name"], unique=True)
    db["logins"].create(
        {"id": int, "name": str, "at": str, "ok": int}, pk="id", not_null={"name", "at", "ok"}
    )
    db["logins"].create_index(["name"])
    db["signatures"].create(
        {
            "id": int,
            "session_id": int,
            "user_id": int,
            "printed_name": str,
            "meaning": str,  # reviewed / approved
            "signed_at": str,
            "content_sha256": str,
            "audit_head": str,  # "id:hash" of the audit log when signed
            "voided_at": str,
            "voided_by": str,
            "void_reason": str,
        },
        pk="id",
        not_null={"session_id", "user_id", "printed_name", "meaning", "signed_at"},
        foreign_keys=[("session_id", "sessions", "id"), ("user_id", "users", "id")],
    )
    db["signatures"].create_index(["session_id"])
    # A signature is never deleted or rewritten; voiding fills the void columns once.
    db.execute(
        "CREATE TRIGGER signatures_no_delete BEFORE DELETE ON signatures "
        "BEGIN SELECT RAISE(ABORT, 'signatures are kept'); END"
    )
    immutable = ("session_id", "user_id", "printed_name", "meaning", "signed_at",
                 "content_sha256", "audit_head")  # fmt: skip
    changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in immutable)
    db.execute(
        "CREATE TRIGGER signatures_void_once BEFORE UPDATE ON signatures "
        f"WHEN OLD.voided_at IS NOT NULL OR {changed} "
        "BEGIN SELECT RAISE(ABORT, 'a signature can only be voided, once'); END"
    )
    _no_replace(db, "signatures")


def _v5(db: Database) -> None:
    """Who the subject of a recording is: append-only choices, the latest one in force.

    ``person`` is the tracked person's id from the start (NULL: chosen automatically again),
    ``handovers`` a JSON list of [seconds, id] ("from here on the patient is person 2"), ``how``
    what the user gave (an id, a point, a click), ``chosen_by`` the user."""
    db["subject_choices"].create(
        {
            "id": int,
            "recording_id": int,
            "person": int,
            "handovers": str,  # JSON [[seconds, id], ...]
            "how": str,
            "chosen_by": str,
            "reason": str,
            "created_at": str,
        },
        pk="id",
        not_null={"recording_id", "handovers", "chosen_by", "created_at"},
        foreign_keys=[("recording_id", "recordings", "id")],
    )
    db["subject_choices"].create_index(["recording_id"])
    for event in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER subject_choices_no_{event.lower()} BEFORE {event} ON "
            "subject_choices BEGIN SELECT RAISE(ABORT, 'subject choices are append-only'); END"
        )
    _no_replace(db, "subject_choices")


MIGRATIONS: list[Callable[[Database], None]] = [_v1, _v2, _v3, _v4, _v5]
SCHEMA_VERSION = len(MIGRATIONS)
