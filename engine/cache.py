"""Content-addressed cache of tracks and feature sets under the data directory.

A key is the SHA-256 of (video sha256, kind, backend, version, parameters) as canonical JSON.
Files are written to a temporary name in the target folder, flushed to disk and renamed into place
(``os.replace``), so a cancelled or crashed run leaves at most a ``.part`` file that is never read;
a file that cannot be read back (damaged, foreign) counts as absent and is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from engine.errors import StoreError
from engine.paths import data_dir

log = logging.getLogger(__name__)

PART_SUFFIX = ".part"


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
        """``reader(path)`` of the cached file, or None when absent or unreadable."""
        path = self.path(key, suffix)
        if not path.is_file():
            return None
        try:
            return reader(path)
        except Exception as exc:  # a damaged or foreign file is a cache miss, never a crash
            log.warning("ignoring unreadable cache file %s (%s)", path, exc)
            return None

    def save(self, key: str, writer: Callable[[BinaryIO], None], suffix: str = ".npz") -> Path:
        """Write through ``writer(fh)`` to a temporary file, then rename it into place."""
        target = self.path(key, suffix)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(
                prefix=f".{key[:16]}-", suffix=PART_SUFFIX, dir=target.parent
            )
        except OSError as exc:
            raise StoreError(
                f"The cache folder {self.root} cannot be written ({exc.strerror or exc}); "
                f"set AQA_HOME to a writable folder."
            ) from exc
        try:
            with os.fdopen(fd, "wb") as fh:
                writer(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            _remove(tmp)
            raise StoreError(
                f"The cache file {target} cannot be written ({exc.strerror or exc}); "
                f"check the free disk space."
            ) from exc
        except BaseException:
            _remove(tmp)
            raise
        return target

    def remove_partials(self) -> int:
        """Delete ``.part`` files left by runs that were killed; returns how many."""
        count = 0
        for part in self.root.glob(f"*/*{PART_SUFFIX}"):
            if _remove(part):
                count += 1
        return count


def _remove(path: str | Path) -> bool:
    try:
        os.unlink(path)
        return True
    except OSError:
        return False
