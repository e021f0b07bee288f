"""The CLI a clinician reads: one recording per video, flags with reasons, lists, help, quiet."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import videos

from engine.cli import build_parser, main

ITEM = "arm_raise_duration"  # the demo model's item
ROOT = Path(__file__).resolve().parents[1]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def new_session(capsys, code="S-01") -> int:
    assert run(capsys, "subject", "add", code)[0] == 0
    assert run(capsys, "session", "new", "--subject", code, "--protocol", "cmas")[0] == 0
    return 1


def test_extract_grade_measure_reuse_the_items_recording(capsys, demo_clip, pose_models):
    session = new_session(capsys)
    code, out, _ = run(capsys, "recording", "add", session, demo_clip, "--item", ITEM)
    assert code == 0 and "recording 1 added" in out
    assert run(capsys, "rate", 1, 3)[0] == 0
    code, out, _ = run(
        capsys, "recording", "add", session, demo_clip, "--item", ITEM, "--view", "x"
    )
    assert code == 0 and "already holds this video" in out
    at = ["--session", session, "--item", ITEM]
    code, out, _ = run(capsys, "extract", demo_clip, "--profile", "fast", *at)
    assert code == 0 and "attached to recording 1 (the item's recording of this video)" in out
    code, out, _ = run(capsys, "grade", demo_clip, *at, "--json")
    assert code == 0 and json.loads(out)["recording_id"] == 1
    code, out, _ = run(capsys, "measure", demo_clip, *at)
    assert code == 0 and "recording 1 of session 1" in out
    code, out, _ = run(capsys, "recording", "list", "--session", session, "--json")
    assert [r["id"] for r in json.loads(out)] == [1]
    assert run(capsys, "rate", 1, 2)[0] == 0
    code, out, _ = run(capsys, "session", "show", session, "--json")
    row = next(i for i in json.loads(out)["items"] if i["item"] == ITEM)
    assert (row["recordings"], row["grade"]) == (1, 2) and row["rater"]
    assert row["proposal_grade"] is not None and isinstance(row["flags"], list)


def test_flags_with_reasons_from_a_damaged_video(capsys, demo_clip, pose_models, tmp_path):
    damaged = videos.corrupt_middle(demo_clip, tmp_path / "damaged.mp4", packets=[40, 41, 42])
    session = new_session(capsys)
    code, out, _ = run(capsys, "grade", damaged, "--session", session, "--item", ITEM)
    assert code == 0
    assert "⚠ Damaged video: 3 unreadable packets skipped" in out
    # The demo model proposes a grade the measured criterion (wrists up for seconds) refutes.
    assert "⚠ The model proposes 4 but the measurement gives 0 (held" in out
    code, out, _ = run(capsys, "grade", damaged, "--session", session, "--item", ITEM)
    assert "Damaged video" in out  # the second grading reads cached tracks: still flagged
    code, out, _ = run(capsys, "session", "show", session)
    assert "⚠ Arm raise / duration: Damaged video" in out
    code, out, _ = run(capsys, "recording", "list")
    assert "⚠ differs from measurement" in out and "damaged video" in out
    assert "⚠ recording 1: Damaged video" in out


def test_a_silent_track_is_graded_as_no_audio(capsys, demo_video, demo_clip, pose_models, tmp_path):
    """The demo's own audio track is digital silence: the grade says it read no audio, and why."""
    silent = videos.clip(demo_video, tmp_path / "silent.mp4", 3.0, 360, audio="source")
    session = new_session(capsys)
    at = ["--session", session, "--item", ITEM]
    code, out, _ = run(capsys, "grade", silent, *at)
    assert code == 0 and "modalities used: skeleton, flow\n" in out
    assert "⚠ No audio: the audio track holds only silence." in out
    code, out, _ = run(capsys, "recording", "list")
    assert "modality missing" in out
    code, out, _ = run(capsys, "grade", demo_clip, *at, "--json")  # the same pictures with sound
    details = json.loads(out)["details"]
    assert details["modalities_used"] == ["skeleton", "flow", "audio"]
    assert details["modalities_missing"] == {}


def test_every_argument_has_help():
    def walk(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    yield from walk(child, f"{path} {name}")
            elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
                yield path, action

    missing = [f"{path} {a.dest}" for path, a in walk(build_parser(), "aqa") if not a.help]
    assert missing == []


def test_version_lists_and_blanks(capsys, vtest_video):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("aqa ")
    code, out, _ = run(capsys, "session", "list")
    assert code == 0 and out.startswith("no sessions yet")
    new_session(capsys)
    run(capsys, "recording", "add", 1, vtest_video, "--item", "pick_up")
    code, out, _ = run(capsys, "subject", "list")
    assert code == 0 and "None" not in out and out.splitlines()[1].split() == ["1", "S-01"]
    code, out, _ = run(capsys, "session", "list")
    assert out.splitlines()[1].split()[:3] == ["1", "S-01", "cmas"]
    code, out, _ = run(capsys, "recording", "list")
    assert out.splitlines()[1].split() == ["1", "1", "pick_up", "vtest.avi", "new"]
    assert run(capsys, "recording", "list", "--session", 9)[0] == 2


def _aqa(*argv, home: Path, pose: Path) -> subprocess.CompletedProcess:
    """``aqa`` in a separate process, importing this tree's code."""
    env = {**os.environ, "AQA_HOME": str(home), "AQA_POSE_MODELS": str(pose)}
    env["PYTHONPATH"] = str(ROOT)
    code = "import sys; from engine.cli import main; sys.exit(main())"
    cmd = [sys.executable, "-c", code, *map(str, argv)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def test_native_log_noise_only_with_verbose(demo_clip, pose_model_dir, tmp_path):
    args = ["extract", demo_clip, "--modalities", "skeleton", "--profile", "fast", "--no-cache"]
    quiet = _aqa(*args, home=tmp_path / "a", pose=pose_model_dir)
    assert quiet.returncode == 0 and "skeleton: ok" in quiet.stdout
    assert quiet.stderr == ""
    loud = _aqa("--verbose", *args, home=tmp_path / "b", pose=pose_model_dir)
    assert loud.returncode == 0 and "XNNPACK delegate" in loud.stderr  # what was silenced


def test_demo_reuses_its_session(capsys, demo_clip, pose_models):
    assert run(capsys, "demo", "--video", demo_clip)[0] == 0
    code, out, _ = run(capsys, "demo", "--video", demo_clip)
    assert code == 0 and "reusing demo session 1 (add --new for another one)" in out
    assert "1 of 14 items rated" in out
    code, out, _ = run(capsys, "session", "list", "--json")
    assert [(s["id"], s["videos"]) for s in json.loads(out)] == [(1, 1)]
    code, out, _ = run(capsys, "demo", "--video", demo_clip, "--new")
    assert code == 0 and "demo session 2 created" in out
