"""The hash-chained audit log and its verification.

Each audit row carries ``row_hash`` = SHA-256 of its own content (id, time, actor, action, table,
row id, old and new value) together with ``prev_hash``, the previous row's ``row_hash``; the first
row follows ``GENESIS``. Editing, inserting or deleting a row breaks the chain from that row on.
``verify`` walks the chain, then replays the log onto the recorded tables: every row of them must
be exactly what its audit rows say (a grade edited with the triggers dropped is found even when its
audit row is left alone). Rewriting the whole chain from some row to the end cannot be told from a
true history: compare the head hash ``verify`` reports with one noted earlier (a signature keeps
the head of its moment).
"""

import hashlib
import json
from typing import Any

from sqlite_utils import Database

GENESIS = "0" * 64
FIELDS = ("id", "at", "actor", "action", "table_name", "row_id", "old_value", "new_value")
# Tables whose every row is written through the audit log (replayed by ``verify``).
RECORDED = (
    "users",
    "subjects",
    "sessions",
    "recordings",
    "extractions",
    "assessments",
    "ratings",
    "models",
    "signatures",
    "subject_choices",
)


def entry_hash(entry: dict[str, Any], prev_hash: str) -> str:
    content = json.dumps([entry[f] for f in FIELDS] + [prev_hash], ensure_ascii=False)
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def head(db: Database) -> tuple[int, str]:
    """(id, row_hash) of the last audit row; (0, GENESIS) for an empty log."""
    row = db.execute("select id, row_hash from audit_log order by id desc limit 1").fetchone()
    return (row[0], row[1]) if row else (0, GENESIS)


def append(db: Database, entry: dict[str, Any]) -> int:
    """Add ``entry`` (FIELDS but id) at the end of the chain; call inside a write transaction."""
    last_id, prev_hash = head(db)
    row = {**entry, "id": last_id + 1}
    row["prev_hash"] = prev_hash
    row["row_hash"] = entry_hash(row, prev_hash)
    db["audit_log"].insert(row)
    return row["id"]


def rechain(db: Database) -> int:
    """Compute the hashes of an existing log (migration only); returns the number of rows."""
    prev_hash, count = GENESIS, 0
    for row in list(db.query("select * from audit_log order by id")):
        row_hash = entry_hash(row, prev_hash)
        db.execute(
            "update audit_log set prev_hash = ?, row_hash = ? where id = ?",
            [prev_hash, row_hash, row["id"]],
        )
        prev_hash, count = row_hash, count + 1
    return count


def verify_chain(db: Database) -> list[str]:
    """Breaks in the chain, the first one first (empty when intact)."""
    problems: list[str] = []
    prev_id, prev_hash = 0, GENESIS
    for row in db.query("select * from audit_log order by id"):
        rid = row["id"]
        if row["row_hash"] != entry_hash(row, row["prev_hash"] or ""):
            problems.append(f"audit row {rid} was edited: its content does not match its hash")
        elif row["prev_hash"] != prev_hash:
            if rid != prev_id + 1:
                gap = f"{prev_id + 1}" if rid == prev_id + 2 else f"{prev_id + 1}-{rid - 1}"
                problems.append(f"audit row(s) {gap} were deleted: row {rid} does not follow")
            else:
                problems.append(
                    f"audit row {rid} was inserted, or row {prev_id} rewritten: "
                    f"row {rid} does not follow row {prev_id}"
                )
        prev_id, prev_hash = rid, row["row_hash"]
    return problems


def verify_tables(db: Database) -> list[str]:
    """Rows of the recorded tables that differ from what the audit log says they are."""
    state: dict[tuple[str, int], dict[str, Any]] = {}
    for row in db.query(
        "select table_name, row_id, new_value from audit_log where new_value is not null "
        "order by id"
    ):
        if row["table_name"] in RECORDED and row["row_id"] is not None:
            key = (row["table_name"], row["row_id"])
            state[key] = {**state.get(key, {}), **json.loads(row["new_value"])}
    problems = []
    tables = set(db.table_names())
    for table in RECORDED:
        if table not in tables:
            continue
        seen = set()
        for row in db[table].rows:
            seen.add(row["id"])
            expected = state.get((table, row["id"]))
            if expected is None:
                problems.append(f"{table} row {row['id']} was inserted outside the audit log")
                continue
            changed = sorted(k for k, v in expected.items() if k in row and row[k] != v)
            if changed:
                problems.append(
                    f"{table} row {row['id']} was edited outside the audit log "
                    f"({', '.join(changed)})"
                )
        for t, rid in state:
            if t == table and rid not in seen:
                problems.append(f"{table} row {rid} was deleted outside the audit log")
    return problems


def verify(db: Database) -> list[str]:
    """All problems of the audit chain, then of the recorded tables (empty when intact)."""
    return verify_chain(db) + verify_tables(db)
