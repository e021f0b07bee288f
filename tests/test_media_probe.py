"""``engine.media.probe`` and ``aqa probe`` on real clips and on every kind of unusable file."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import videos

from engine.cli import main
from engine.errors import MediaError
from engine.media.probe import probe


def test_probe_demo(demo_video):
    info = probe(demo_video)
    assert info.container.startswith("mov,mp4")
    assert info.video_codec == "vp9"
    assert (info.width, info.height, info.rotation) == (1768, 994, 0)
    assert info.fps == pytest.approx(30.0)
    assert info.frame_count == 230 and info.frame_count_exact
    assert info.duration_s == pytest.approx(230 / 30, abs=0.1)
    assert info.audio is not None and info.audio.codec == "aac"
    assert info.audio.sample_rate == 44100 and info.audio.channels == 2


def test_probe_vtest_has_no_audio(vtest_video):
    info = probe(vtest_video)
    assert info.container == "avi"
    assert (info.width, info.height) == (768, 576)
    assert info.audio is None
    assert info.fps == pytest.approx(10.0)
    assert info.frame_count == 795


def test_probe_rotated_portrait(demo_video, clip_dir):
    path = clip_dir / "probe-portrait.mp4"
    upright = videos.portrait_rotated(demo_video, path, seconds=0.3, short_side=240)
    info = probe(path)
    assert info.rotation == 270
    assert (info.coded_width, info.coded_height) == (upright.shape[0], upright.shape[1])
    assert (info.width, info.height) == (upright.shape[1], upright.shape[0])
    assert info.portrait


def test_probe_one_frame_and_odd_path(tmp_path):
    path = videos.odd_path_copy(videos.one_frame(tmp_path / "one.mp4"), tmp_path)
    info = probe(path)
    assert info.frame_count == 1 and info.audio is None
    assert info.path == str(path)


def _bad_files(tmp_path: Path, clip: Path) -> dict[str, tuple[Path, str]]:
    folder = tmp_path / "folder.mp4"
    folder.mkdir()
    fast = videos.write_video(
        tmp_path / "fast.mp4", videos.read_frames(clip, 1.0, 120), faststart=True
    )
    return {
        "missing": (tmp_path / "nope.mp4", "does not exist"),
        "zero": (videos.zero_byte(tmp_path / "zero.mp4"), "is empty"),
        "text": (videos.text_named_mp4(tmp_path / "notes.mp4"), "not a video"),
        "truncated": (videos.truncated(clip, tmp_path / "cut.mp4"), "truncated"),
        "truncated-faststart": (videos.truncated(fast, tmp_path / "cut-fast.mp4"), "truncated"),
        "audio-only": (videos.write_audio_only(tmp_path / "sound.mp4"), "only audio"),
        "folder": (folder, "is a folder"),
    }


BAD = ["missing", "zero", "text", "truncated", "truncated-faststart", "audio-only", "folder"]


@pytest.mark.parametrize("kind", BAD)
def test_probe_bad_input_is_one_sentence(kind, tmp_path, demo_clip):
    path, words = _bad_files(tmp_path, demo_clip)[kind]
    with pytest.raises(MediaError) as err:
        probe(path)
    message = str(err.value)
    assert words in message
    assert message.endswith(".") and "\n" not in message
    assert str(path) in message


@pytest.mark.parametrize("kind", BAD)
def test_cli_probe_bad_input_exits_nonzero(kind, tmp_path, demo_clip, capsys):
    path, words = _bad_files(tmp_path, demo_clip)[kind]
    assert main(["probe", str(path)]) == MediaError.exit_code
    captured = capsys.readouterr()
    assert captured.err.startswith("aqa: ") and words in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_cli_probe_json(demo_clip, capsys):
    assert main(["probe", str(demo_clip), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["width"], data["height"]) == (640, 360)
    assert data["frame_count"] == 90
    assert data["audio"] == {"codec": "aac", "sample_rate": 16000, "channels": 1}


def test_cli_probe_text(demo_clip, capsys):
    assert main(["probe", str(demo_clip)]) == 0
    out = capsys.readouterr().out
    assert "640x360" in out and "16000 Hz" in out


def test_installed_entry_point(tmp_path, demo_clip):
    """The console script ``aqa`` next to this Python: a good file, then a text file."""
    exe = Path(sys.executable).with_name("aqa")
    if not exe.exists():
        pytest.skip("the aqa console script is not installed next to this Python")
    ok = subprocess.run([exe, "probe", demo_clip, "--json"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["video_codec"] == "h264"
    bad = videos.text_named_mp4(tmp_path / "text.mp4")
    res = subprocess.run([exe, "probe", bad], capture_output=True, text=True)
    assert res.returncode == MediaError.exit_code
    assert "not a video" in res.stderr and "Traceback" not in res.stderr
