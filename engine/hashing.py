"""Content hashes that identify a video whatever its file name.

A file's hash is remembered in the cache under its identity on disk (device, inode, size,
modification time and inode change time), so selecting, grading or reviewing a recording again
does not read a long video once more. Any change to the file gives a new identity and a fresh
hash: the change time cannot be set back by a program (unlike the modification time), so a
same-size rewrite with its old mtime restored is hashed again. A file modified in the last few seconds is not remembered (as git treats "racy"
files): a rewrite within the file system's timestamp resolution could otherwise keep its identity.
"""

import hashlib
import time
from pathlib import Path

from engine.errors import AqaError

CHUNK = 1 << 20
SETTLED_S = 3.0  # a file untouched this long is remembered


def file_identity(path: Path) -> str:
    """The file's identity on disk: "device:inode:size:mtime_ns:ctime_ns"."""
    s = Path(path).stat()
    return f"{s.st_dev}:{s.st_ino}:{s.st_size}:{s.st_mtime_ns}:{s.st_ctime_ns}"


def file_sha256(path: Path, fresh: bool = False) -> str:
    """SHA-256 of the file's bytes (remembered while the file stays unchanged; ``fresh``
    reads the file whatever is remembered)."""
    from engine.cache import Cache

    path = Path(path)
    stat = path.stat()
    identity = f"{path.resolve()}|{file_identity(path)}"
    key = hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()
    try:
        memo = Cache(_memo_root())
        known = memo.load(key, lambda p: p.read_text().strip(), suffix=".sha256")
    except AqaError:  # no usable data directory: just hash
        return _sha256(path)
    if known and len(known) == 64 and not fresh:
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
