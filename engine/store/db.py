"""Opening the SQLite database: pragmas, migrations with a backup first, online backups."""

import logging
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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            log.warning("SQLite refused WAL mode for %s (journal mode %s)", path, mode)
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"The database {path} cannot be opened ({exc}).") from exc
    except OSError as exc:
        raise StoreError(f"The database folder {path.parent} cannot be used ({exc}).") from exc
    db = Database(conn)
    migrate(db, path)
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
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"The database {path} cannot be read or upgraded ({exc}).") from exc


def backup(db: Database, target: Path) -> Path:
    """Copy the live database to ``target`` with SQLite's online backup API."""
    target = Path(target)
    if target.exists():
        raise StoreError(f"{target} already exists; choose a new file name for the backup.")
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
