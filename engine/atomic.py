"""Writing a user's file so that a failure never replaces a good one.

The content goes to a temporary file in the target's folder, is flushed and fsynced, then renamed
over the target (``os.replace`` is atomic on one file system) and the folder is fsynced. A full
disk, a missing folder or a cancelled run removes the temporary file, keeps the previous file and
raises ``InputError`` with one sentence: it never claims success.
"""

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from engine.errors import InputError


@contextmanager
def atomic_file(path: Path, mode: str = "w", **open_args) -> Iterator[IO]:
    """Open a temporary file for ``path``; on a clean exit it replaces ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
    try:
        fh = open(tmp, mode.replace("w", "x"), **open_args)  # new file, permissions per umask
    except OSError as exc:
        raise _failed(path, exc) from exc
    try:
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _unlink(tmp)
        raise _failed(path, exc) from exc
    except BaseException:
        _unlink(tmp)
        raise
    _sync_folder(path.parent)


def write_bytes(path: Path, data: bytes) -> Path:
    with atomic_file(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def write_text(path: Path, text: str) -> Path:
    with atomic_file(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    return Path(path)


def _failed(path: Path, exc: OSError) -> InputError:
    reason = exc.strerror or str(exc)
    kept = " (the previous file is kept)" if path.exists() else ""
    return InputError(f"{path} cannot be written: {reason}{kept}.")


def _unlink(tmp: Path) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (not possible on every platform: then skipped)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
