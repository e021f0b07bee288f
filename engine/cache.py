"""Content-addressed cache of tracks and feature sets under the data directory.

A key is the SHA-256 of (video sha256, kind, backend, version, parameters) as canonical JSON.
Files are written to a temporary name in the target folder, flushed to disk and renamed into place
(``os.replace``), so a cancelled or crashed run leaves at most a ``.part`` file that is never read;
a file that cannot be read back (damaged, foreign) counts as absent and is recomputed.

Each file has a ``.mac`` beside it: HMAC-SHA256 of its key and bytes under a random secret of the
cache folder (``.secret``, readable by its owner only). A file swapped in at a key (another key's
file, an edited one, one written by another program) fails the check when read and counts as
absent, so it is never served.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from engine.errors import StoreError
from engine.paths import data_dir

log = logging.getLogger(__name__)

PART_SUFFIX = ".part"
MAC_SUFFIX = ".mac"
SECRET_BYTES = 32


def cache_key(video_sha256: str, kind: str, backend: str, version: str, params: dict) -> str:
    """Stable key: the same inputs always give the same hex string."""
    identity = {
        "video": video_sha256,
        "kind": kind,
        "backend": backend,
        "version": version,
        "params": params,
    }
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class Cache:
    """Files named by key under ``root`` (default ``<data dir>/cache/extract``)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else data_dir() / "cache" / "extract"

    def path(self, key: str, suffix: str = ".npz") -> Path:
        return self.root / key[:2] / f"{key}{suffix}"

    def load(self, key: str, reader: Callable[[Path], Any], suffix: str = ".npz") -> Any | None:
        """``reader(path)`` of the cached file, or None when absent, unverified or unreadable."""
        path = self.path(key, suffix)
        if not path.is_file():
            return None
        try:
            secret = self._secret(create=False)
            expected = path.with_name(path.name + MAC_SUFFIX).read_text().strip()
            if secret is None or not hmac.compare_digest(expected, _mac(secret, key, path)):
                log.warning("ignoring cache file %s: it is not the file stored at its key", path)
                return None
            return reader(path)
        except Exception as exc:  # a damaged or foreign file is a cache miss, never a crash
            log.warning("ignoring unreadable cache file %s (%s)", path, exc)
            return None

    def save(self, key: str, writer: Callable[[BinaryIO], None], suffix: str = ".npz") -> Path:
        """Write through ``writer(fh)`` to a temporary file, then rename it (and its MAC) into
        place; between the two renames the old MAC fails, so a crash there leaves a miss."""
        target = self.path(key, suffix)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            secret = self._secret(create=True)
            fd, tmp = tempfile.mkstemp(
                prefix=f".{key[:16]}-", suffix=PART_SUFFIX, dir=target.parent
            )
        except OSError as exc:
            raise StoreError(
                f"The cache folder {self.root} cannot be written ({exc.strerror or exc}); "
                f"set AQA_HOME to a writable folder."
            ) from exc
        mac_tmp = f"{tmp}{MAC_SUFFIX}"
        try:
            with os.fdopen(fd, "wb") as fh:
                writer(fh)
                fh.flush()
                os.fsync(fh.fileno())
            with open(mac_tmp, "w") as fh:
                fh.write(_mac(secret, key, Path(tmp)))
            os.replace(tmp, target)
            os.replace(mac_tmp, target.with_name(target.name + MAC_SUFFIX))
        except OSError as exc:
            _remove(tmp)
            _remove(mac_tmp)
            raise StoreError(
                f"The cache file {target} cannot be written ({exc.strerror or exc}); "
                f"check the free disk space."
            ) from exc
        except BaseException:
            _remove(tmp)
            _remove(mac_tmp)
            raise
        return target

    def _secret(self, create: bool) -> bytes | None:
        """The folder's MAC secret (made once, atomically, owner-only)."""
        path = self.root / ".secret"
        try:
            secret = path.read_bytes()
        except FileNotFoundError:
            if not create:
                return None
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = self.root / f".secret-{os.getpid()}-{secrets.token_hex(4)}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(SECRET_BYTES))
            try:
                os.link(tmp, path)  # fails when another process made it first: theirs counts
            except FileExistsError:
                pass
            finally:
                _remove(tmp)
            secret = path.read_bytes()
        return secret if len(secret) == SECRET_BYTES else None

    def remove_partials(self) -> int:
        """Delete ``.part`` files left by runs that were killed; returns how many."""
        count = 0
        for part in self.root.glob(f"*/*{PART_SUFFIX}"):
            if _remove(part):
                count += 1
        return count


def _mac(secret: bytes, key: str, path: Path) -> str:
    mac = hmac.new(secret, key.encode() + b"\0", hashlib.sha256)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            mac.update(chunk)
    return mac.hexdigest()


def _remove(path: str | Path) -> bool:
    try:
        os.unlink(path)
        return True
    except OSError:
        return False
