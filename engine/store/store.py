"""The record of subjects, sessions, recordings, model proposals and clinician ratings.

Every change goes through one write transaction together with its audit-log row. Ratings are
append-only: the latest rating of a recording is its current grade, earlier ones stay.
"""

import getpass
import json
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from engine.errors import InputError, NotFoundError
from engine.paths import database_path
from engine.protocols import Protocol, get_protocol
from engine.store import audit, choices, signatures, users
from engine.store.db import backup, connect, integrity_problems, schema_version, write
from engine.store.values import iso_date, lookalike_key, subject_code, text

MODEL_STATUSES = ("candidate", "active", "retired")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass
class ItemSummary:
    item: str
    name: str
    range: str
    recordings: int
    grade: float | None
    rater: str | None
    rated_at: str | None


class Store:
    """The SQLite database of AQA Studio (one file; ``AQA_HOME`` chooses where)."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else database_path()
        self.db: Database = connect(self.path)
        self.user: dict[str, Any] | None = None
        login = users.process_login()
        if login is not None:
            try:
                self.login(login[0], login[1]())
            except BaseException:
                self.close()
                raise

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- users ---------------------------------------------------------------------------------
    def has_users(self) -> bool:
        return self.db["users"].count > 0

    def add_user(self, name: str, role: str, password: str, full_name: str | None = None):
        """A new account. The first one needs no login and must be an admin; later ones are
        added by a logged-in admin."""
        name = subject_code(name)  # the same safe characters as a subject code
        if role not in users.ROLES:
            raise InputError(f"A role is one of {', '.join(users.ROLES)}.")
        if self.has_users():
            users.check_role(self.current_user(), ("admin",), "add users")
        elif role != "admin":
            raise InputError("The first account must be an admin (it adds the others).")
        if self._find("users", "name = ?", [name]):
            raise InputError(f"There is already a user {name!r}.")
        row = {
            "name": name,
            "full_name": text(full_name or name, "printed name", required=True, limit=100),
            "role": role,
            "password": users.hash_password(password),
            "created_at": now(),
        }
        stored = self._insert("users", row, self.user["name"] if self.user else name)
        return {k: v for k, v in stored.items() if k != "password"}

    def users(self) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in u.items() if k != "password"}
            for u in self.db["users"].rows_where(order_by="name")
        ]

    def login(self, name: str, password: str) -> dict[str, Any]:
        """Check the password (five failures in a row lock the account for 15 minutes)."""
        self.user = None
        name = unicodedata.normalize("NFC", name.strip())
        attempts = list(
            self.db["logins"].rows_where("name = ?", [name], order_by="id desc", limit=10)
        )
        until = users.locked_until(attempts)
        if until is not None:
            raise users.LoginError(
                f"The account {name!r} is locked after {users.MAX_FAILURES} failed logins, "
                f"until {until:%H:%M} UTC."
            )
        user = self._find("users", "name = ?", [name])
        ok = user is not None and users.password_matches(password, user["password"])
        with write(self.db):
            self.db["logins"].insert({"name": name, "at": now(), "ok": int(ok)})
        if not ok:
            raise users.LoginError("The user name or password is wrong.")
        self.user = user
        return user

    def current_user(self) -> dict[str, Any]:
        """The logged-in user; a sentence saying how to log in when there is none."""
        if self.user is None and not self.has_users():
            raise InputError(
                "This record has no user accounts yet; add the first (an admin) with "
                "`aqa user add NAME --role admin`."
            )
        if self.user is None:
            raise InputError(
                "This record has user accounts: log in to change it (aqa --user NAME, or "
                "AQA_USER; the password is asked, or read from --password-stdin or AQA_PASSWORD)."
            )
        return self.user

    def _actor(self, given: str | None = None) -> str:
        """Who a write is recorded under: the logged-in user; without accounts (a single-user
        record) the label given or the computer's login name."""
        if self.user is not None:
            return self.user["name"]
        if self.has_users():
            return self.current_user()["name"]
        return given or default_actor()

    # -- audit ---------------------------------------------------------------------------------
    def _audit(self, actor: str, action: str, table: str, row_id: int, old=None, new=None) -> None:
        """Chain an audit row (call inside the write transaction that makes the change)."""
        audit.append(
            self.db,
            {
                "at": now(),
                "actor": actor,
                "action": action,
                "table_name": table,
                "row_id": row_id,
                "old_value": None if old is None else json.dumps(old, ensure_ascii=False),
                "new_value": None if new is None else json.dumps(new, ensure_ascii=False),
            },
        )

    def _insert(
        self,
        table: str,
        row: dict[str, Any] | Callable[[], dict[str, Any]],
        actor: str | None = None,
        session_id: int | None = None,
    ) -> dict[str, Any]:
        """Insert ``row`` and its audit entry in one transaction; returns the stored row.

        ``row`` may be a function, called inside the transaction, for values that depend on what
        is stored (a version number). ``session_id``: the row belongs to that session, refused
        while the session is signed."""
        actor = self._actor(actor)
        with write(self.db):
            if session_id is not None:
                self._check_unlocked(session_id)
            if callable(row):
                row = row()
            row_id = self.db[table].insert(row).last_pk
            stored = self.db[table].get(row_id)
            self._audit(actor, "insert", table, row_id, new=stored)
        return stored

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        return list(self.db["audit_log"].rows_where(order_by="id desc", limit=limit))

    # -- subjects ------------------------------------------------------------------------------
    def add_subject(
        self,
        code: str,
        birth_year: int | None = None,
        sex: str | None = None,
        notes: str | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        code = subject_code(code)
        if birth_year is not None and not 1900 <= birth_year <= date.today().year:
            raise InputError(f"Birth year {birth_year} is not plausible.")
        if self._find("subjects", "code = ?", [code]):
            raise InputError(f"A subject with the code {code!r} already exists.")
        row = {
            "code": code,
            "birth_year": birth_year,
            "sex": text(sex, "sex", limit=16),
            "notes": text(notes, "notes", limit=2000),
            "created_at": now(),
        }
        return self._insert("subjects", row, actor)

    def subject(self, code: str) -> dict[str, Any]:
        code = unicodedata.normalize("NFC", code)
        found = self._find("subjects", "code = ?", [code])
        if not found:
            raise NotFoundError(f"There is no subject with the code {code!r}.")
        return found

    def lookalikes(self, code: str) -> list[str]:
        """Existing codes that look like ``code`` but are not it (to warn before a mix-up)."""
        key = lookalike_key(code)
        return [
            s["code"]
            for s in self.subjects()
            if s["code"] != code and lookalike_key(s["code"]) == key
        ]

    def subjects(self) -> list[dict[str, Any]]:
        return list(self.db["subjects"].rows_where(order_by="code"))

    # -- sessions ------------------------------------------------------------------------------
    def new_session(
        self,
        subject_code: str,
        protocol: str,
        on: str | None = None,
        examiner: str | None = None,
        notes: str | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        subject = self.subject(subject_code)
        get_protocol(protocol)
        when = iso_date(on) if on is not None else date.today().isoformat()
        row = {
            "subject_id": subject["id"],
            "protocol": protocol,
            "date": when,
            "examiner": text(examiner, "examiner name", limit=100),
            "notes": text(notes, "notes", limit=2000),
            "created_at": now(),
        }
        return self._insert("sessions", row, actor)

    def session(self, session_id: int) -> dict[str, Any]:
        found = self._find("sessions", "id = ?", [session_id])
        if not found:
            raise NotFoundError(f"There is no session {session_id}.")
        return found

    def sessions(self, subject_code: str | None = None) -> list[dict[str, Any]]:
        if subject_code is None:
            return list(self.db["sessions"].rows_where(order_by="date, id"))
        subject = self.subject(subject_code)
        return list(
            self.db["sessions"].rows_where("subject_id = ?", [subject["id"]], order_by="date, id")
        )

    # -- recordings ----------------------------------------------------------------------------
    def add_recording(
        self,
        session_id: int,
        item: str,
        path: Path,
        sha256: str,
        media: dict[str, Any],
        view: str | None = None,
        actor: str | None = None,
        identity: str | None = None,
    ) -> dict[str, Any]:
        """``identity``: the file's identity on disk taken before it was hashed (else now)."""
        session = self.session(session_id)
        get_protocol(session["protocol"]).item(item)
        row = {
            "session_id": session_id,
            "item": item,
            "view": text(view, "view", limit=40),
            "path": str(Path(path).resolve()),
            "sha256": sha256,
            "media": json.dumps(media, ensure_ascii=False),
            "created_at": now(),
            "file_identity": identity or _identity(path),
        }
        return self._insert("recordings", row, actor, session_id=session_id)

    def set_recording_file(
        self, recording_id: int, path: Path, identity: str, actor: str | None = None
    ) -> dict[str, Any]:
        """Record where the recording's (unchanged) video is now and its identity on disk."""
        change = {"path": str(Path(path).resolve()), "file_identity": identity}
        actor = self._actor(actor)
        with write(self.db):
            old = self.recording(recording_id)
            self.db["recordings"].update(recording_id, change)
            self._audit(
                actor,
                "relink" if change["path"] != old["path"] else "reidentify",
                "recordings",
                recording_id,
                {k: old[k] for k in change},
                change,
            )
        return self.recording(recording_id)

    def recording(self, recording_id: int) -> dict[str, Any]:
        found = self._find("recordings", "id = ?", [recording_id])
        if not found:
            raise NotFoundError(f"There is no recording {recording_id}.")
        return found

    def recordings(self, session_id: int) -> list[dict[str, Any]]:
        return list(self.db["recordings"].rows_where("session_id = ?", [session_id], order_by="id"))

    # -- extractions and assessments -----------------------------------------------------------
    def add_extraction(self, recording_id: int, row: dict[str, Any], actor: str | None = None):
        self.recording(recording_id)
        row = {**row, "recording_id": recording_id, "created_at": now()}
        return self._insert("extractions", row, actor)

    def extractions(
        self, recording_id: int, modality: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The recording's successful extractions (of ``modality``, else of every one), newest
        first (the ``limit`` newest)."""
        where = "recording_id = ? and status = 'ok'" + (" and modality = ?" if modality else "")
        args = [recording_id, modality] if modality else [recording_id]
        rows = self.db["extractions"].rows_where(where, args, order_by="id desc", limit=limit)
        return list(rows)

    def add_assessment(self, recording_id: int, row: dict[str, Any], actor: str | None = None):
        """Store a model proposal; ``grade_probs`` (list) and ``details`` (dict) become JSON."""
        session_id = self.recording(recording_id)["session_id"]
        row = {
            **row,
            "grade_probs": json.dumps([float(p) for p in row["grade_probs"]]),
            "details": json.dumps(row.get("details") or {}, ensure_ascii=False, default=str),
            "recording_id": recording_id,
            "created_at": now(),
        }
        return _decoded(self._insert("assessments", row, actor or "model", session_id=session_id))

    def assessments(self, recording_id: int) -> list[dict[str, Any]]:
        """The recording's proposals, oldest first; ``stale`` says why one no longer follows
        the subject in force (None when it does)."""
        rows = self.db["assessments"].rows_where("recording_id = ?", [recording_id], order_by="id")
        choice = self.subject_choice(recording_id)
        return [{**row, "stale": choices.stale_reason(row, choice)} for row in map(_decoded, rows)]

    def latest_assessment(self, recording_id: int) -> dict[str, Any] | None:
        rows = self.assessments(recording_id)
        return rows[-1] if rows else None

    def recording_status(self, recording_id: int) -> dict[str, Any]:
        """What has happened to a recording: extracted, graded, rated, and whether to review it."""
        assessment = self.latest_assessment(recording_id)
        details = (assessment or {}).get("details") or {}
        return {
            "extracted": bool(self.extractions(recording_id, limit=1)),
            "graded": assessment is not None,
            "rated": self.current_rating(recording_id) is not None,
            "needs_review": bool(
                assessment
                and (
                    assessment["uncertain"]
                    or details.get("disagrees_with_measurement")
                    or assessment["stale"]
                )
            ),
        }

    # -- model registry ------------------------------------------------------------------------
    def register_model(
        self,
        protocol: str,
        item: str,
        name: str,
        path: Path,
        card: dict[str, Any],
        metrics: dict[str, Any] | None = None,
        demo: bool = False,
        status: str = "candidate",
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Add a model version for (protocol, item); versions count up per network."""
        get_protocol(protocol).item(item)
        if status not in MODEL_STATUSES:
            raise InputError(f"A model status is one of {', '.join(MODEL_STATUSES)}.")
        row = {
            "protocol": protocol,
            "item": item,
            "name": name,
            "path": str(path),
            "card": json.dumps(card, ensure_ascii=False, default=str),
            "metrics": json.dumps(metrics or {}, default=str),
            "status": "candidate",
            "demo": int(demo),
            "created_at": now(),
        }

        def numbered() -> dict[str, Any]:  # inside the write transaction: no two get one number
            previous = self.db.execute(
                "select max(version) from models where protocol = ? and item = ? and name = ?",
                [protocol, item, name],
            ).fetchone()[0]
            return {**row, "version": (previous or 0) + 1}

        stored = _model(self._insert("models", numbered, actor))
        if status != "candidate":
            stored = self.set_model_status(stored["id"], status, actor)
        return stored

    def model(self, model_id: int) -> dict[str, Any]:
        found = self._find("models", "id = ?", [model_id])
        if not found:
            raise NotFoundError(f"There is no model {model_id}.")
        return _model(found)

    def models(self, protocol: str | None = None, item: str | None = None) -> list[dict[str, Any]]:
        where, args = [], []
        for column, value in (("protocol", protocol), ("item", item)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        rows = self.db["models"].rows_where(
            " and ".join(where) or None, args, order_by="protocol, item, name, version"
        )
        return [_model(r) for r in rows]

    def active_model(self, protocol: str, item: str) -> dict[str, Any] | None:
        rows = [m for m in self.models(protocol, item) if m["status"] == "active"]
        return rows[-1] if rows else None

    def set_model_status(
        self, model_id: int, status: str, actor: str | None = None
    ) -> dict[str, Any]:
        """Activate (retiring the model that was active for the item) or retire a model."""
        if status not in MODEL_STATUSES:
            raise InputError(f"A model status is one of {', '.join(MODEL_STATUSES)}.")
        actor = self._actor(actor)
        with write(self.db):
            model = self.model(model_id)
            if status == "active":
                for other in self.models(model["protocol"], model["item"]):
                    if other["status"] == "active" and other["id"] != model_id:
                        self.db["models"].update(other["id"], {"status": "retired"})
                        self._audit(
                            actor,
                            "retire",
                            "models",
                            other["id"],
                            {"status": "active"},
                            {"status": "retired"},
                        )
            self.db["models"].update(model_id, {"status": status})
            self._audit(
                actor, status, "models", model_id, {"status": model["status"]}, {"status": status}
            )
        return self.model(model_id)

    # -- ratings -------------------------------------------------------------------------------
    def rate(self, recording_id: int, grade: float, reason: str | None = None) -> dict[str, Any]:
        """Append a clinician grade under the logged-in user (a rater or admin); the grade must
        fit the recording's protocol item and the session must not be signed."""
        recording = self.recording(recording_id)
        item = self._protocol_of(recording).item(recording["item"])
        grade = item.check_value(grade)
        if self.has_users():
            users.check_role(self.current_user(), users.RATING_ROLES, "rate")
        rater = self._actor()
        row = {
            "recording_id": recording_id,
            "grade": grade,
            "rater": rater,
            "reason": text(reason, "reason", limit=2000),
            "created_at": now(),
        }
        with write(self.db):
            self._check_unlocked(recording["session_id"])
            previous = self.current_rating(recording_id)
            row_id = self.db["ratings"].insert(row).last_pk
            stored = self.db["ratings"].get(row_id)
            self._audit(rater, "rate", "ratings", row_id, old=previous, new=stored)
        return stored

    def ratings(self, recording_id: int) -> list[dict[str, Any]]:
        return list(
            self.db["ratings"].rows_where("recording_id = ?", [recording_id], order_by="id")
        )

    def current_rating(self, recording_id: int) -> dict[str, Any] | None:
        rows = list(
            self.db["ratings"].rows_where(
                "recording_id = ?", [recording_id], order_by="id desc", limit=1
            )
        )
        return rows[0] if rows else None

    # -- subject choices -----------------------------------------------------------------------
    def choose_subject(
        self,
        recording_id: int,
        person: int | None,
        handovers: Iterable[tuple[float, int]] = (),
        how: str = "",
        reason: str | None = None,
    ) -> dict[str, Any]:
        """Record who the recording's subject is (``engine.store.choices``) under the logged-in
        user; the recording's proposals that followed someone else become stale."""
        recording = self.recording(recording_id)
        if person is not None and int(person) < 1:
            raise InputError(f"A person id is a whole number from 1, not {person}.")
        row = {
            "recording_id": recording_id,
            "person": None if person is None else int(person),
            "handovers": json.dumps(choices.checked_handovers(handovers)),
            "how": text(how, "how", limit=200),
            "chosen_by": self._actor(),
            "reason": text(reason, "reason", limit=2000),
            "created_at": now(),
        }
        with write(self.db):
            self._check_unlocked(recording["session_id"])
            old = next(
                self.db["subject_choices"].rows_where(
                    "recording_id = ?", [recording_id], order_by="id desc", limit=1
                ),
                None,
            )
            row_id = self.db["subject_choices"].insert(row).last_pk
            stored = self.db["subject_choices"].get(row_id)
            self._audit(row["chosen_by"], "choose_subject", "subject_choices", row_id, old, stored)
        return choices.decoded(stored)

    def subject_choices(self, recording_id: int) -> list[dict[str, Any]]:
        """Every subject choice of the recording, oldest first."""
        rows = self.db["subject_choices"].rows_where(
            "recording_id = ?", [recording_id], order_by="id"
        )
        return [choices.decoded(row) for row in rows]

    def subject_choice(self, recording_id: int) -> dict[str, Any] | None:
        """The subject choice in force (the latest), or None (automatic, never chosen)."""
        found = self.subject_choices(recording_id)
        return found[-1] if found else None

    # -- signatures ----------------------------------------------------------------------------
    def sign(self, session_id: int, meaning: str, password: str) -> dict[str, Any]:
        """Sign the session as the logged-in user, who gives the password again; the session's
        videos are checked first and the signature locks the session."""
        from engine.recordings import check_session

        if meaning not in signatures.MEANINGS:
            raise InputError(f"A signature means one of: {', '.join(signatures.MEANINGS)}.")
        self.session(session_id)
        user = self.login(self.current_user()["name"], password)
        check_session(self, session_id)
        with write(self.db):
            if any(
                s["user_id"] == user["id"] and s["meaning"] == meaning
                for s in signatures.valid(self.db, session_id)
            ):
                raise InputError(f"You have already signed session {session_id} as {meaning}.")
            head_id, head_hash = audit.head(self.db)
            row = {
                "session_id": session_id,
                "user_id": user["id"],
                "printed_name": user["full_name"],
                "meaning": meaning,
                "signed_at": now(),
                "content_sha256": signatures.content_sha256(self.db, session_id),
                "audit_head": f"{head_id}:{head_hash}",
            }
            row_id = self.db["signatures"].insert(row).last_pk
            stored = self.db["signatures"].get(row_id)
            self._audit(user["name"], "sign", "signatures", row_id, new=stored)
        return stored

    def unlock(self, session_id: int, reason: str) -> list[dict[str, Any]]:
        """An admin unlocks a signed session with a reason: its signatures become void."""
        users.check_role(self.current_user(), ("admin",), "unlock a signed session")
        reason = text(reason, "reason", required=True, limit=2000)
        actor = self._actor()
        with write(self.db):
            voided = signatures.valid(self.db, session_id)
            if not voided:
                raise InputError(f"Session {session_id} is not signed.")
            change = {"voided_at": now(), "voided_by": actor, "void_reason": reason}
            for sig in voided:
                self.db["signatures"].update(sig["id"], change)
                self._audit(actor, "void", "signatures", sig["id"], {"voided_at": None}, change)
        return [self.db["signatures"].get(s["id"]) for s in voided]

    def signatures(self, session_id: int) -> list[dict[str, Any]]:
        """Every signature of the session, void ones included, oldest first."""
        return list(self.db["signatures"].rows_where("session_id = ?", [session_id], order_by="id"))

    def _check_unlocked(self, session_id: int) -> None:
        valid = signatures.valid(self.db, session_id)
        if valid:
            last = valid[-1]
            raise InputError(
                f"Session {session_id} is signed ({last['meaning']} by {last['printed_name']}, "
                f"{last['signed_at'][:16]}) and locked; an admin must unlock it with a reason first."
            )

    # -- summaries -----------------------------------------------------------------------------
    def session_summary(self, session_id: int) -> dict[str, Any]:
        """Per-item current grades, the total against the protocol maximum and completeness."""
        session = self.session(session_id)
        protocol = get_protocol(session["protocol"])
        subject = self.db["subjects"].get(session["subject_id"])
        latest = {
            row["item"]: row
            for row in self.db.query(
                "select r.item, g.grade, g.rater, g.created_at from ratings g "
                "join recordings r on r.id = g.recording_id where r.session_id = ? order by g.id",
                [session_id],
            )
        }
        counts = {
            row["item"]: row["n"]
            for row in self.db.query(
                "select item, count(*) as n from recordings where session_id = ? group by item",
                [session_id],
            )
        }
        items = [
            ItemSummary(
                item=item.id,
                name=item.name,
                range=item.range_text(),
                recordings=counts.get(item.id, 0),
                grade=latest.get(item.id, {}).get("grade"),
                rater=latest.get(item.id, {}).get("rater"),
                rated_at=latest.get(item.id, {}).get("created_at"),
            )
            for item in protocol.items
        ]
        rated = [i for i in items if i.grade is not None]
        total = sum(i.grade for i in rated)
        maximum = protocol.max_total
        return {
            "session": session,
            "subject": subject["code"],
            "protocol": protocol.id,
            "protocol_name": protocol.name,
            "items": [i.__dict__ for i in items],
            "rated_items": len(rated),
            "item_count": len(items),
            "total": total if maximum is not None else None,
            "max_total": maximum,
            "completeness": _completeness(total, maximum, len(rated), len(items)),
        }

    # -- maintenance ---------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        tables = ["subjects", "sessions", "recordings", "extractions", "assessments", "ratings"]
        return {
            "path": str(self.path),
            "schema_version": schema_version(self.db),
            "journal_mode": self.db.execute("PRAGMA journal_mode").fetchone()[0],
            "size_bytes": self.path.stat().st_size,
            "counts": {t: self.db[t].count for t in tables + ["audit_log"]},
        }

    def check(self) -> list[str]:
        """Problems found by SQLite's integrity and foreign-key checks and by ``verify``."""
        problems = integrity_problems(self.db)
        return problems or self.verify()

    def verify(self) -> list[str]:
        """Breaks in the audit chain, rows that differ from their audit history, and valid
        signatures whose session content changed."""
        return audit.verify(self.db) + signatures.verify(self.db)

    def audit_head(self) -> tuple[int, str]:
        """(id, hash) of the last audit row: note it to detect a history rewritten later."""
        return audit.head(self.db)

    def backup(self, target: Path) -> Path:
        return backup(self.db, target)

    # -- helpers -------------------------------------------------------------------------------
    def _find(self, table: str, where: str, args: list) -> dict[str, Any] | None:
        rows = list(self.db[table].rows_where(where, args, limit=1))
        return rows[0] if rows else None

    def _protocol_of(self, recording: dict[str, Any]) -> Protocol:
        return get_protocol(self.session(recording["session_id"])["protocol"])


def _identity(path: Path) -> str | None:
    from engine.hashing import file_identity

    try:
        return file_identity(path)
    except OSError:
        return None


def _model(row: dict[str, Any]) -> dict[str, Any]:
    """A model row with its card and metrics parsed."""
    return {
        **row,
        "card": json.loads(row["card"] or "{}"),
        "metrics": json.loads(row["metrics"] or "{}"),
    }


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    """An assessment row with its JSON columns parsed."""
    return {
        **row,
        "grade_probs": json.loads(row["grade_probs"] or "[]"),
        "details": json.loads(row["details"] or "{}"),
    }


def _completeness(total: float, maximum: float | None, rated: int, items: int) -> str:
    if maximum is None:
        return f"{rated} of {items} items rated"
    return f"{total:g}/{maximum:g}, {rated} of {items} items rated"
