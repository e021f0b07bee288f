"""``aqa-studio --selftest`` from source: every check runs on the real app, engine and store."""

import io
import os
import re

import pytest

from app.__main__ import parse
from app.selftest import DRAWN_FPS, SelfTest, _drawn_frames, _Skip, _tone, _write_clip, run
from engine.media.probe import probe
from engine.paths import resources_dir

REQUIRED = ("pose models", "protocols", "main window", "clip", "import", "extract", "database")


@pytest.mark.slow
def test_selftest_passes_and_leaves_the_users_data_alone(pose_models, aqa_home, qapp):
    out = io.StringIO()
    code = run(out)
    text = out.getvalue()
    assert code == 0, text
    for name in REQUIRED + ("cli",):
        assert re.search(rf"^ok\s+{name}\s", text, re.M), text
    shipped = any((resources_dir() / "models").glob("*/*/*/card.json"))
    assert re.search(rf"^{'ok' if shipped else 'skipped'}\s+grade\s", text, re.M), text
    assert re.search(r"^self-test passed: \d+ ok", text, re.M), text
    # The run used a temporary data directory and put AQA_HOME back.
    assert not (aqa_home / "aqa.sqlite").exists()
    assert os.environ["AQA_HOME"] == str(aqa_home)


def test_the_drawn_clip_is_a_video_with_sound(tmp_path):
    path = tmp_path / "drawn.mp4"
    count = _write_clip(path, _drawn_frames(), DRAWN_FPS, _tone())
    info = probe(path)
    assert count == info.frame_count == 30
    assert (info.width, info.height, info.fps) == (640, 360, DRAWN_FPS)
    assert info.audio is not None and info.audio.channels == 1
    assert info.duration_s == pytest.approx(2.0, abs=0.15)


def test_a_failed_check_fails_the_run_and_a_skipped_one_does_not():
    out = io.StringIO()
    test = SelfTest(out)

    def skip():
        raise _Skip("nothing to grade")

    assert test.check("first", lambda: "fine")
    assert not test.check("second", skip)
    assert test.passed
    assert not test.check("third", lambda: 1 / 0)
    assert not test.passed
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("ok       first          fine")
    assert lines[1].startswith("skipped  second         nothing to grade")
    assert lines[2].startswith("FAILED   third          ZeroDivisionError: division by zero")


def test_the_flag_is_parsed():
    assert parse(["--selftest"]).selftest
    assert not parse([]).selftest
