"""A record that survives faults and shows tampering: the audit chain, SQLite failures as one
sentence, atomic report files on a full disk, a closed pipe. Real database, real files, real
mounts (a tmpfs; these tests need root and are skipped without it)."""

import gc
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from engine.recordings import import_recording
from engine.store import Store
from engine.store.schema import MIGRATIONS

ROOT = os.geteuid() == 0


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def rated(vtest_video) -> int:
    """A session with one rated recording of the real vtest video; returns the recording id."""
    with Store() as store:
        store.add_subject("REC-1")
        session = store.new_session("REC-1", "cmas", on="2026-03-02", examiner="Dr A")
        rec = import_recording(store, session["id"], vtest_video, "pick_up")
        store.rate(rec["id"], 1, "first look")
        store.rate(rec["id"], 2, "re-watched")
    return rec["id"]


def raw(aqa_home) -> sqlite3.Connection:
    return sqlite3.connect(aqa_home / "aqa.sqlite", isolation_level=None)


def test_insert_or_replace_and_upsert_are_refused(rated, aqa_home):
    conn = raw(aqa_home)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute(
            "INSERT OR REPLACE INTO ratings (id, recording_id, grade, rater, created_at) "
            "VALUES (1, ?, 0, 'Mallory', 'now')",
            [rated],
        )
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute(
            "INSERT INTO ratings (id, recording_id, grade, rater, created_at) "
            "VALUES (1, ?, 0, 'Mallory', 'now') ON CONFLICT(id) DO UPDATE SET grade = 0",
            [rated],
        )
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("INSERT OR REPLACE INTO audit_log (id, at, actor, action) VALUES (1,'','','')")
    assert conn.execute("select grade from ratings order by id").fetchall() == [(1.0,), (2.0,)]
    conn.close()


def test_history_edited_with_triggers_dropped_is_named(rated, aqa_home, capsys):
    assert run(capsys, "db", "verify")[0] == 0
    conn = raw(aqa_home)
    conn.execute("DROP TRIGGER ratings_no_update")
    conn.execute("UPDATE ratings SET grade = 0 WHERE id = 2")
    conn.execute(
        "CREATE TRIGGER ratings_no_update BEFORE UPDATE ON ratings "
        "BEGIN SELECT RAISE(ABORT, 'ratings are append-only'); END"
    )
    conn.close()
    code, out, _ = run(capsys, "db", "verify")
    assert code == 3
    assert out.splitlines()[0] == "problem: ratings row 2 was edited outside the audit log (grade)"
    assert run(capsys, "db", "check")[0] == 3

    # Now also "fix" its audit row: the chain breaks at that row.
    conn = raw(aqa_home)
    audit_id, value = conn.execute(
        "select id, new_value from audit_log where table_name = 'ratings' and row_id = 2"
    ).fetchone()
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute(
        "UPDATE audit_log SET new_value = ? WHERE id = ?",
        [value.replace('"grade": 2.0', '"grade": 0.0'), audit_id],
    )
    conn.close()
    code, out, _ = run(capsys, "db", "verify")
    assert code == 3
    assert out.splitlines()[0] == (
        f"problem: audit row {audit_id} was edited: its content does not match its hash"
    )


def test_deleted_and_appended_audit_rows_are_named(rated, aqa_home, capsys):
    conn = raw(aqa_home)
    conn.execute("DROP TRIGGER audit_log_no_delete")
    conn.execute("DELETE FROM audit_log WHERE id = 2")
    conn.execute("INSERT INTO audit_log (id, at, actor, action) VALUES (99, 'x', 'Mallory', 'x')")
    conn.close()
    code, out, _ = run(capsys, "db", "verify")
    lines = out.splitlines()
    assert code == 3
    assert lines[0] == "problem: audit row(s) 2 were deleted: row 3 does not follow"
    assert "problem: audit row 99 was edited: its content does not match its hash" in lines
    assert "problem: sessions row 1 was inserted outside the audit log" in lines


def test_two_writers_old_value_is_the_rating_just_before(rated):
    """Each rating's audit row names, as old value, the rating that was current when it was
    written: read inside the write transaction (two processes, real locking)."""
    writer = (
        "import sys\nfrom engine.store import Store\n"
        "with Store() as s:\n"
        "    for i in range(60):\n"
        "        s.rate(int(sys.argv[1]), i % 3, sys.argv[2])\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", writer, str(rated), f"R{n}"]) for n in (1, 2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    with Store() as store:
        rows = store.db.execute(
            "select row_id, old_value from audit_log where action = 'rate' order by row_id"
        ).fetchall()
        assert store.verify() == []
    import json

    for (row_id, old), (prev_id, _) in zip(rows[1:], rows[:-1]):
        assert json.loads(old)["id"] == prev_id, row_id


def test_migration_from_schema_2_builds_the_chain(aqa_home):
    from sqlite_utils import Database

    aqa_home.mkdir(parents=True)
    old = Database(aqa_home / "aqa.sqlite")
    for step in MIGRATIONS[:2]:
        step(old)
    old.execute("PRAGMA user_version = 2")
    old["subjects"].insert({"id": 1, "code": "OLD-1", "created_at": "2025-01-01"})
    old["audit_log"].insert(
        {
            "at": "2025-01-01",
            "actor": "x",
            "action": "insert",
            "table_name": "subjects",
            "row_id": 1,
            "new_value": '{"id": 1, "code": "OLD-1", "created_at": "2025-01-01"}',
        }
    )
    old.close()
    with Store() as store:
        assert store.verify() == []
        assert store.audit_head()[0] == 1
        store.add_subject("NEW-1")
        assert store.check() == []
    assert len(list(aqa_home.glob("aqa.sqlite.v2-*.bak"))) == 1


def corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for page in range(3, len(data) // 4096, 2):
        data[page * 4096 + 8 : page * 4096 + 200] = b"\xff" * 192
    path.write_bytes(data)


def test_malformed_database_is_one_sentence_and_exit_3(aqa_home, capsys, tmp_path):
    with Store() as store:
        for i in range(200):
            store.add_subject(f"S-{i}", notes="x" * 200)
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    corrupt(aqa_home / "aqa.sqlite")
    code, out, err = run(capsys, "subject", "list")
    assert code == 3 and "is damaged (malformed)" in err and len(err.splitlines()) == 1
    code, out, err = run(capsys, "db", "check")
    assert code == 3 and out.startswith("problem: ") and "FAILED" in out
    code, out, err = run(capsys, "db", "backup", tmp_path / "copy.sqlite")
    assert code == 3 and not (tmp_path / "copy.sqlite").exists()


def test_backup_refuses_a_database_that_fails_integrity_check(aqa_home, capsys, tmp_path):
    with Store() as store:
        for i in range(5):
            store.add_subject(f"S-{i}")
    conn = raw(aqa_home)  # the index now claims another column: it opens, but is inconsistent
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute(
        "UPDATE sqlite_master SET sql = 'CREATE UNIQUE INDEX idx_subjects_code ON subjects "
        "(created_at)' WHERE name = 'idx_subjects_code'"
    )
    conn.close()
    assert run(capsys, "subject", "list")[0] == 0
    code, _, err = run(capsys, "db", "backup", tmp_path / "copy.sqlite")
    assert code == 3 and "fails its integrity check (row 1 missing from index" in err
    assert not list(tmp_path.glob("copy.sqlite*"))
    code, out, _ = run(capsys, "db", "check")
    assert code == 3 and out.startswith("problem: row 1 missing from index idx_subjects_code")


def test_locked_database_is_one_sentence(rated, aqa_home, capsys, monkeypatch):
    import engine.store.db as db_module

    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 200)
    holder = raw(aqa_home)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        code, _, err = run(capsys, "rate", rated, "1", "--reason", "again")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code == 3 and "is locked by another program" in err and "Traceback" not in err


def aqa(*argv, **kw) -> subprocess.CompletedProcess:
    exe = str(Path(sys.executable).with_name("aqa"))
    return subprocess.run([exe, *map(str, argv)], capture_output=True, text=True, **kw)


def test_closed_pipe_ends_quietly(rated):
    exe = Path(sys.executable).with_name("aqa")
    result = subprocess.run(
        f"'{exe}' session show 1 | head -c 10 >/dev/null; exit ${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
    )
    # Either the output fitted the pipe (0) or the closed pipe was noticed (141): never a trace.
    assert result.returncode in (0, 141) and result.stderr == ""


@pytest.fixture
def tiny_disk(tmp_path):
    """A 256 KiB tmpfs (root only), unmounted afterwards."""
    if not ROOT:
        pytest.skip("mounting a tmpfs needs root")
    folder = tmp_path / "tiny"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)], check=True)
    yield folder
    gc.collect()  # connections of a failed command
    subprocess.run(["umount", "--lazy", str(folder)], check=True)


def fill(folder: Path) -> None:
    with open(folder / "filler", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError:
            pass


def test_full_disk_keeps_the_previous_pdf_and_exits_nonzero(rated, tiny_disk, capsys):
    pdf = tiny_disk / "report.pdf"
    code, out, _ = run(capsys, "report", 1, "--pdf", pdf)
    assert code == 0 and "PDF report written" in out
    good = pdf.read_bytes()
    assert good[:5] == b"%PDF-"
    with Store() as store:  # a change, so that the new report differs
        store.rate(rated, 0, "third look")
    fill(tiny_disk)
    code, out, err = run(capsys, "report", 1, "--pdf", pdf, "--csv", tiny_disk / "r.csv")
    assert code == 2 and "written" not in out
    assert "No space left on device" in err and "previous file is kept" in err
    assert pdf.read_bytes() == good
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["filler", "report.pdf"]


def test_full_disk_under_the_database_is_exit_3(tiny_disk, capsys, monkeypatch):
    monkeypatch.setenv("AQA_HOME", str(tiny_disk))
    assert run(capsys, "subject", "add", "FULL-0")[0] == 0
    fill(tiny_disk)
    code = 0
    for i in range(1, 200):  # the WAL grows until SQLite finds no room
        code, _, err = run(capsys, "subject", "add", f"FULL-{i}", "--notes", "x" * 1500)
        if code:
            break
    assert code == 3 and "the disk is full" in err and len(err.splitlines()) == 1


def test_read_only_database_is_exit_3(rated, aqa_home, tmp_path, capsys):
    if not ROOT:
        pytest.skip("a read-only mount needs root")
    subprocess.run(["mount", "--bind", str(aqa_home), str(aqa_home)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(aqa_home)], check=True)
        code, _, err = run(capsys, "rate", rated, "1", "--reason", "again")
    finally:
        subprocess.run(["umount", str(aqa_home)], check=True)
    assert code == 3 and "read-only" in err and len(err.splitlines()) == 1


def test_csv_cells_cannot_be_formulas(rated, tmp_path, capsys):
    with Store() as store:
        store.add_assessment(
            rated,
            {
                "model_id": "m",
                "grade_probs": [0.5, 0.5, 0],
                "expected_score": 0.5,
                "grade": 0,
                "uncertain": 0,
                "details": {"measurement_text": '=HYPERLINK("http://x","y")'},
            },
        )
    out = tmp_path / "r.csv"
    assert run(capsys, "report", 1, "--csv", out)[0] == 0
    text = out.read_text()
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text
    from engine.reports.tables import safe_cell

    assert [safe_cell(v) for v in ("-2", "-1+1", "@SUM(A1)", "\tx", "ok", 3)] == [
        "-2",
        "'-1+1",
        "'@SUM(A1)",
        "'\tx",
        "ok",
        3,
    ]
