"""Content hashes that identify a video whatever its file name.

A file's hash is remembered in the cache under its identity on disk (device, inode, size and
modification time, as build tools judge a file unchanged), so selecting, grading or reviewing a
recording again does not read a long video once more. Any change to the file gives a new identity
and a fresh hash. A file modified in the last few seconds is not remembered (as git treats "racy"
files): a rewrite within the file system's timestamp resolution could otherwise keep its identity.
"""

import hashlib
import time
from pathlib import Path

from engine.errors import AqaError

CHUNK = 1 << 20
SETTLED_S = 3.0  # a file untouched this long is remembered


def file_sha256(path: Path) -> str:
    """SHA-256 of the file's bytes (remembered while the file stays unchanged)."""
    from engine.cache import Cache

    path = Path(path)
    stat = path.stat()
    identity = f"{path.resolve()}|{stat.st_dev}|{stat.st_ino}|{stat.st_size}|{stat.st_mtime_ns}"
    key = hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()
    try:
        memo = Cache(_memo_root())
        known = memo.load(key, lambda p: p.read_text().strip(), suffix=".sha256")
    except AqaError:  # no usable data directory: just hash
        return _sha256(path)
    if known and len(known) == 64:
        return known
    digest = _sha256(path)
    if time.time() - stat.st_mtime < SETTLED_S:
        return digest
    try:
        memo.save(key, lambda fh: fh.write(digest.encode()), suffix=".sha256")
    except AqaError:
        pass  # an unwritable cache only costs reading the file again next time
    return digest


def _memo_root() -> Path:
    from engine.paths import cache_dir

    return cache_dir() / "hashes"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
