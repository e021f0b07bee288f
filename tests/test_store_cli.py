"""The ``aqa`` record-keeping commands, end to end on the real database."""

import json
import subprocess
import sys
from pathlib import Path

from engine.cli import main

INJECTION = "x'); DROP TABLE subjects;--"
CODE = "Zoë-01.a_b"  # a subject code may hold letters of any script, digits, '-', '_', '.'


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_full_session_flow(capsys, vtest_video, aqa_home, monkeypatch):
    monkeypatch.setenv("AQA_PASSWORD", "pw-ø")
    assert run(capsys, "db", "init")[0] == 0
    code, out, _ = run(capsys, "user", "add", "drO", "--role", "admin", "--full-name", "Dr Ø")
    assert code == 0 and "user drO added (admin, printed name 'Dr Ø')" in out
    monkeypatch.setenv("AQA_USER", "drO")
    assert (aqa_home / "aqa.sqlite").exists()
    assert run(capsys, "subject", "add", CODE, "--birth-year", "2014")[0] == 0
    code, out, _ = run(
        capsys,
        "session",
        "new",
        "--subject",
        CODE,
        "--protocol",
        "cmas",
        "--date",
        "2026-02-03",
        "--examiner",
        "Dr Ø " + INJECTION,
    )
    assert code == 0 and "session 1 created" in out
    code, out, _ = run(
        capsys,
        "recording",
        "add",
        "1",
        str(vtest_video),
        "--item",
        "head_elevation",
        "--view",
        "side",
    )
    assert code == 0 and "recording 1 added" in out
    assert run(capsys, "rate", "1", "4", "--reason", "held 75 s")[0] == 0
    code, out, _ = run(capsys, "session", "show", "1")
    assert code == 0
    assert CODE in out and INJECTION in out and "4/52, 1 of 14 items rated" in out
    code, out, _ = run(capsys, "session", "show", "1", "--json")
    summary = json.loads(out)
    assert summary["subject"] == CODE and summary["total"] == 4
    assert summary["items"][0]["rater"] == "drO"
    code, out, _ = run(capsys, "subject", "list", "--json")
    assert json.loads(out)[0]["code"] == CODE


def test_refusals_are_one_sentence_and_nonzero(capsys, vtest_video):
    main(["subject", "add", "S"])
    main(["session", "new", "--subject", "S", "--protocol", "cmas"])
    main(["recording", "add", "1", str(vtest_video), "--item", "pick_up"])
    capsys.readouterr()
    code, _, err = run(capsys, "rate", "1", "3")
    assert code == 2 and err.strip() == (
        "aqa: Grade 3 is not valid for Pick-up: use a whole number from 0 to 2."
    )
    code, _, err = run(capsys, "session", "new", "--subject", "ghost", "--protocol", "cmas")
    assert code == 2 and "no subject with the code 'ghost'" in err
    code, _, err = run(capsys, "recording", "add", "1", "/no/such/video.mp4", "--item", "pick_up")
    assert code == 2 and "does not exist" in err and "Traceback" not in err
    code, _, err = run(capsys, "session", "show", "42")
    assert code == 2 and "no session 42" in err


def test_db_info_check_backup(capsys, tmp_path):
    main(["subject", "add", "B-1"])
    capsys.readouterr()
    code, out, _ = run(capsys, "db", "info", "--json")
    info = json.loads(out)
    assert code == 0 and info["counts"]["subjects"] == 1 and info["journal_mode"] == "wal"
    code, out, _ = run(capsys, "db", "check")
    assert code == 0 and out.startswith("ok:")
    target = tmp_path / "backup.sqlite"
    assert run(capsys, "db", "backup", str(target))[0] == 0
    code, _, err = run(capsys, "db", "backup", str(target))
    assert code == 3 and "already exists" in err


def test_demo_runs_the_whole_job(capsys, aqa_home, demo_clip, pose_models):
    code, out, _ = run(capsys, "demo", "--video", str(demo_clip))
    assert code == 0, out
    assert f"database: {aqa_home / 'aqa.sqlite'}" in out
    assert "skeleton: ok" in out and "flow: ok" in out and "audio: ok" in out
    assert "model proposal: grade" in out and "DEMO model" in out
    assert "1 of 14 items rated" in out
    report = aqa_home / "reports" / "session-1.pdf"
    assert f"report: {report}" in out and report.read_bytes()[:5] == b"%PDF-"


def test_demo_offline_and_uncached_says_how_to_provide_a_video(capsys, offline):
    code, _, err = run(capsys, "demo")
    assert code == 2 and "--video PATH" in err and "Traceback" not in err


def test_installed_entry_point_runs(aqa_home):
    result = subprocess.run(
        [str(Path(sys.executable).with_name("aqa")), "rate", "7", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "aqa: There is no recording 7."
