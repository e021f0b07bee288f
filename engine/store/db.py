"""Opening the SQLite database: pragmas, migrations with a backup first, online backups."""

import logging
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database

from engine.errors import StoreError
from engine.store.schema import MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger(__name__)
BUSY_TIMEOUT_MS = 30_000


def connect(path: Path) -> Database:
    """Open (creating if needed) and migrate the database at ``path``."""
    conn = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            log.warning("SQLite refused WAL mode for %s (journal mode %s)", path, mode)
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        raise fault(exc, path) from exc
    except OSError as exc:
        raise StoreError(f"The database folder {path.parent} cannot be used ({exc}).") from exc
    db = Database(conn)
    try:
        migrate(db, path)
    except BaseException:
        conn.close()
        raise
    return db


@contextmanager
def write(db: Database) -> Iterator[Database]:
    """A write transaction that takes the write lock up front (``BEGIN IMMEDIATE``).

    Taking it at the start lets a second writer wait out the busy timeout instead of failing
    on a read-to-write upgrade. Nested sqlite-utils calls become savepoints inside it.
    """
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.rollback()
        raise
    db.conn.execute("COMMIT")


# What each SQLite failure means to the user (``sqlite_errorname`` prefix -> sentence).
FAULTS = {
    "SQLITE_CORRUPT": "is damaged (malformed); run `aqa db check` and restore a backup",
    "SQLITE_NOTADB": "cannot be used: it is not an SQLite database, or it is damaged",
    "SQLITE_READONLY": "is read-only; check the file's permissions or choose another AQA_HOME",
    "SQLITE_FULL": "cannot be written because the disk is full; free some space and try again",
    "SQLITE_BUSY": "is locked by another program for longer than the 30 s timeout; try again",
    "SQLITE_LOCKED": "is locked by another program for longer than the 30 s timeout; try again",
    "SQLITE_CANTOPEN": "cannot be opened; check that its folder exists and is writable",
    "SQLITE_IOERR": "cannot be read or written (input/output error); check the disk",
}


LOW_SPACE = 1 << 20  # bytes


def fault(exc: sqlite3.Error, path: Path) -> StoreError:
    """One sentence for a SQLite failure (a ``StoreError``, exit code 3)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith("SQLITE_IOERR") and _free_bytes(path) < LOW_SPACE:
        name = "SQLITE_FULL"  # a write that failed for want of room (often in the WAL)
    elif name.startswith("SQLITE_CANTOPEN") and not os.access(Path(path).parent, os.W_OK):
        name = "SQLITE_READONLY"  # WAL needs its -shm file next to the database
    for prefix, meaning in FAULTS.items():
        if name.startswith(prefix):
            return StoreError(f"The database {path} {meaning}.")
    text = str(exc)
    if "malformed" in text:
        return StoreError(f"The database {path} {FAULTS['SQLITE_CORRUPT']}.")
    return StoreError(f"The database {path} failed ({text}).")


def _free_bytes(path: Path) -> int:
    try:
        return shutil.disk_usage(Path(path).parent).free
    except OSError:
        return LOW_SPACE


def schema_version(db: Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: Database, path: Path) -> None:
    """Bring the schema up to ``SCHEMA_VERSION``, backing up an existing database first."""
    try:
        version = schema_version(db)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"The database {path} was written by a newer AQA Studio (schema {version}); "
                f"this version understands schema {SCHEMA_VERSION} — please update the app."
            )
        if version == SCHEMA_VERSION:
            return
        if version > 0:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            backup(db, path.with_name(f"{path.name}.v{version}-{stamp}.bak"))
        for step in range(version, SCHEMA_VERSION):
            with write(db):
                MIGRATIONS[step](db)
                db.execute(f"PRAGMA user_version = {step + 1}")
            log.info("migrated %s to schema %d", path, step + 1)
    except sqlite3.Error as exc:
        raise fault(exc, path) from exc


def integrity_problems(db: Database) -> list[str]:
    """SQLite's integrity and foreign-key checks; a database too damaged to check says so."""
    try:
        problems = [r[0] for r in db.execute("PRAGMA integrity_check").fetchall()]
        problems = [p for p in problems if p != "ok"]
        for table, rowid, parent, _ in db.execute("PRAGMA foreign_key_check").fetchall():
            problems.append(f"{table} row {rowid} points to a missing {parent} row")
    except sqlite3.DatabaseError as exc:
        problems = [f"the database cannot be checked ({exc}): it is damaged"]
    return problems


def check_file(path: Path) -> list[str]:
    """``integrity_problems`` of a database that cannot be opened as a store (read-only)."""
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return [str(fault(exc, path))]
    try:
        return integrity_problems(Database(conn))
    finally:
        conn.close()


def backup(db: Database, target: Path) -> Path:
    """Copy the live database to ``target`` with SQLite's online backup API.

    A database that fails SQLite's integrity check is refused: a backup must be a good copy.
    """
    target = Path(target)
    if target.exists():
        raise StoreError(f"{target} already exists; choose a new file name for the backup.")
    problems = integrity_problems(db)
    if problems:
        raise StoreError(
            f"The database fails its integrity check ({problems[0]}); no backup was written — "
            "restore an earlier backup instead."
        )
    part = target.with_name(target.name + ".part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        dest = sqlite3.connect(part)
        try:
            db.conn.backup(dest)
        finally:
            dest.close()
        part.replace(target)
    except (OSError, sqlite3.DatabaseError) as exc:
        part.unlink(missing_ok=True)
        raise StoreError(f"The backup to {target} could not be written ({exc}).") from exc
    return target
