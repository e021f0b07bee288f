"""Crash safety and concurrency of the store, with real processes on the real database."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from engine.hashing import file_sha256
from engine.media.probe import probe
from engine.store import Store

WRITER = textwrap.dedent(
    """
    import sys
    from engine.store import Store

    recording, count, rater = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    with Store() as store:
        store.login(rater, "pw-" + rater)
        for i in range(count):
            row = store.rate(recording, i % 6, f"rating {i}")
            print(row["id"], flush=True)
    """
)


@pytest.fixture
def recording_id(aqa_home, vtest_video) -> int:
    with Store() as store:
        store.add_subject("CRASH-1")
        session = store.new_session("CRASH-1", "cmas")
        info = probe(vtest_video).to_dict()
        rec = store.add_recording(
            session["id"], "sit_ups", vtest_video, file_sha256(vtest_video), info
        )
        store.add_user("DrKill", "admin", "pw-DrKill")
        store.login("DrKill", "pw-DrKill")
        for name in ("Rater1", "Rater2"):
            store.add_user(name, "rater", "pw-" + name)
    return rec["id"]


def writer(recording: int, count: int, rater: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(recording), str(count), rater],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )


def test_sigkill_while_writing_loses_nothing_returned(recording_id):
    proc = writer(recording_id, 100_000, "DrKill")
    returned = []
    for line in proc.stdout:
        returned.append(int(line))
        if len(returned) >= 300:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    returned += [int(line) for line in proc.stdout.read().split()]  # printed before the kill
    with Store() as store:
        assert store.check() == []
        stored = {r["id"] for r in store.ratings(recording_id)}
        audited = store.db.execute(
            "select count(*) from audit_log where action = 'rate'"
        ).fetchone()[0]
    assert set(returned) <= stored
    assert audited == len(stored)  # each rating has its audit row: no half transaction


def test_two_processes_write_at_once(recording_id):
    procs = [writer(recording_id, 150, f"Rater{n}") for n in (1, 2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
        assert len(out.split()) == 150
    with Store() as store:
        ratings = store.ratings(recording_id)
        assert store.check() == []
    assert len(ratings) == 300
    assert {r["rater"] for r in ratings} == {"Rater1", "Rater2"}


def test_two_registrations_at_once_get_different_versions(aqa_home, monkeypatch):
    """Store A reads the next version number; store B registers in between (another thread,
    given half a second, which it cannot finish while A holds the write lock); A then writes."""
    import threading

    def register(store: Store, folder: str) -> dict:
        return store.register_model("cmas", "head_elevation", "mcmoe", aqa_home / folder, {})

    with Store() as first:
        other: list[dict] = []

        def register_other() -> None:
            with Store() as second:
                other.append(register(second, "b"))

        thread = threading.Thread(target=register_other)
        execute = first.db.execute

        def read_then_let_the_other_in(sql, *args):
            result = execute(sql, *args)
            if "max(version)" in sql and not thread.is_alive() and not other:
                thread.start()
                thread.join(0.5)
            return result

        monkeypatch.setattr(first.db, "execute", read_then_let_the_other_in)
        mine = register(first, "a")
        thread.join()
    assert sorted([mine["version"], other[0]["version"]]) == [1, 2]
