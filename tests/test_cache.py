"""The content-addressed cache: keys, atomic writes, damaged files, unwritable folders."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from engine.cache import Cache, cache_key
from engine.errors import StoreError
from engine.extract.tracks import Track


def _track(n=5) -> Track:
    return Track(
        "flow",
        "dis",
        "1",
        {"short_side": 256},
        times=np.arange(n) / 30,
        arrays={"stats": np.random.default_rng(0).random((n, 4)).astype(np.float32)},
        meta={"note": "é"},
    )


def test_key_depends_on_every_part():
    base = cache_key("a" * 64, "track", "flow/dis", "1", {"x": 1, "y": [1, 2]})
    assert base == cache_key("a" * 64, "track", "flow/dis", "1", {"y": [1, 2], "x": 1})
    others = [
        cache_key("b" * 64, "track", "flow/dis", "1", {"x": 1, "y": [1, 2]}),
        cache_key("a" * 64, "features", "flow/dis", "1", {"x": 1, "y": [1, 2]}),
        cache_key("a" * 64, "track", "flow/farneback", "1", {"x": 1, "y": [1, 2]}),
        cache_key("a" * 64, "track", "flow/dis", "2", {"x": 1, "y": [1, 2]}),
        cache_key("a" * 64, "track", "flow/dis", "1", {"x": 2, "y": [1, 2]}),
    ]
    assert len({base, *others}) == 6


def test_round_trip_without_pickle(tmp_path):
    cache = Cache(tmp_path / "c")
    key = cache_key("0" * 64, "track", "flow/dis", "1", {})
    assert cache.load(key, Track.read) is None
    path = cache.save(key, _track().write)
    assert path.is_file() and not list(path.parent.glob("*.part"))
    back = cache.load(key, Track.read)
    assert back.header() == _track().header()
    np.testing.assert_array_equal(back["stats"], _track()["stats"])
    with np.load(path, allow_pickle=False) as data:  # readable without pickle
        assert "a_stats" in data.files


def test_damaged_file_is_a_miss(tmp_path):
    cache = Cache(tmp_path)
    key = cache_key("1" * 64, "track", "flow/dis", "1", {})
    path = cache.save(key, _track().write)
    path.write_bytes(path.read_bytes()[:100])
    assert cache.load(key, Track.read) is None


def test_failed_writer_leaves_nothing(tmp_path):
    cache = Cache(tmp_path)
    key = cache_key("2" * 64, "track", "flow/dis", "1", {})

    def broken(fh):
        fh.write(b"half a file")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.save(key, broken)
    assert not cache.path(key).exists()
    assert sorted(tmp_path.rglob("*")) == [tmp_path / ".secret", cache.path(key).parent]


def test_a_file_swapped_in_at_a_key_is_not_served(tmp_path):
    """Another key's file (with its MAC), an edited file, a foreign cache's file: all misses."""
    cache = Cache(tmp_path / "a")
    good, other = (cache_key(c * 64, "track", "flow/dis", "1", {}) for c in "34")
    cache.save(good, _track().write)
    cache.save(other, _track(3).write)
    assert cache.load(good, Track.read) is not None
    for suffix in ("", ".mac"):
        src = cache.path(other).with_name(cache.path(other).name + suffix)
        cache.path(good).with_name(cache.path(good).name + suffix).write_bytes(src.read_bytes())
    assert cache.load(good, Track.read) is None
    foreign = Cache(tmp_path / "b")  # same key, same bytes, another secret
    foreign.save(good, _track().write)
    for suffix in ("", ".mac"):
        src = foreign.path(good).with_name(foreign.path(good).name + suffix)
        cache.path(good).with_name(cache.path(good).name + suffix).write_bytes(src.read_bytes())
    assert cache.load(good, Track.read) is None
    cache.save(good, _track().write)
    assert cache.load(good, Track.read) is not None


def test_killed_writer_leaves_only_a_part_file(tmp_path):
    """SIGKILL in the middle of a write: the real name never appears; the leftover is cleaned."""
    cache_root = tmp_path / "c"
    script = textwrap.dedent(
        f"""
        import os, sys, time
        from engine.cache import Cache
        def slow(fh):
            fh.write(b"x" * 1000)
            fh.flush()
            print("writing", flush=True)
            time.sleep(60)
        Cache({str(cache_root)!r}).save("ab" + "0" * 62, slow)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.kill()
    proc.wait()
    cache = Cache(cache_root)
    key = "ab" + "0" * 62
    assert cache.load(key, Track.read) is None and not cache.path(key).exists()
    assert cache.remove_partials() == 1


def test_unwritable_cache_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    cache = Cache(blocker / "cache")
    with pytest.raises(StoreError) as err:
        cache.save("cd" + "0" * 62, _track().write)
    assert "cannot be written" in str(err.value) and "AQA_HOME" in str(err.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_cache_folder(tmp_path):
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o500)
    try:
        with pytest.raises(StoreError):
            Cache(root).save("ef" + "0" * 62, _track().write)
    finally:
        root.chmod(0o700)


def test_a_file_is_hashed_once_while_it_stays_unchanged(tmp_path, monkeypatch):
    """The remembered hash serves the same file; a changed file (even of the same size, its
    mtime set back) is read again; a file written a moment ago is not remembered; a forged
    memo is not trusted."""
    import hashlib
    import os
    import time

    import engine.hashing
    from engine.hashing import file_sha256

    reads = []
    real = engine.hashing._sha256
    monkeypatch.setattr(engine.hashing, "_sha256", lambda p: reads.append(p) or real(p))

    def age(path, seconds):
        os.utime(path, (time.time() - seconds, time.time() - seconds))

    video = tmp_path / "clip.bin"
    video.write_bytes(b"first take")
    age(video, 60)
    assert file_sha256(video) == hashlib.sha256(b"first take").hexdigest()
    memos = tmp_path / "aqa-home" / "cache" / "hashes"
    assert file_sha256(video) == hashlib.sha256(b"first take").hexdigest()
    assert len(reads) == 1  # the second answer came from the memo
    stat = video.stat()
    video.write_bytes(b"other take")  # the same size, new content, the old mtime restored
    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file_sha256(video) == hashlib.sha256(b"other take").hexdigest()
    for m in memos.rglob("*.sha256"):
        m.write_text("f" * 64)  # a forged memo fails its MAC: the file is read again
    assert file_sha256(video) == hashlib.sha256(b"other take").hexdigest()
    assert len(reads) == 3
    age(video, 30)
    video.write_bytes(b"third take")  # just written: hashed, not remembered
    assert file_sha256(video) == hashlib.sha256(b"third take").hexdigest()
    assert len(list(memos.rglob("*.sha256"))) == 2
