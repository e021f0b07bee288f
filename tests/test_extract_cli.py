"""``engine.extract.pipeline.extract`` and ``aqa extract`` on real clips and on bad input."""

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import videos

from engine.cache import Cache
from engine.cli import main
from engine.errors import Cancelled, MediaError
from engine.extract.config import ExtractionConfig
from engine.extract.pipeline import extract
from engine.extract.tracks import Track
from engine.jobs import CancelToken


def _cache_files(home: Path) -> list[Path]:
    """Track files of the extraction cache (not their MACs, the decoder's counts or the secret;
    the remembered file hashes live beside it)."""
    folder = home / "cache" / "extract"
    return list(folder.rglob("*.npz")) if folder.exists() else []


def test_demo_clip_all_modalities(demo_clip, pose_models, aqa_home):
    result = extract(demo_clip, ExtractionConfig(profile="fast"))
    mods = result.modalities
    assert {m: r.status for m, r in mods.items()} == {
        "skeleton": "ok",
        "flow": "ok",
        "audio": "ok",
    }
    assert mods["skeleton"].frames == 30 == mods["flow"].frames  # 3 s at 10 fps
    assert mods["skeleton"].detection_rate > 0.8
    assert mods["audio"].frames == pytest.approx(298, abs=3)
    coco = result.track("skeleton")["coco17"]
    detected = result.track("skeleton")["detected"]
    assert coco.shape == (30, 17, 3) and result.track("skeleton")["landmarks33"].shape[1:] == (
        33,
        5,
    )
    xy = coco[detected][..., :2]
    assert xy[..., 0].max() <= 640 * 1.2 and xy[..., 1].max() <= 360 * 1.2
    assert result.decode["frames_decoded"] == 90 and result.decode["bad_packets"] == 0
    assert len(_cache_files(aqa_home)) == 4  # skeleton, flow, audio and the people found

    again = extract(demo_clip, ExtractionConfig(profile="fast"))
    assert all(r.cached for r in again.modalities.values())
    np.testing.assert_array_equal(again.track("skeleton")["coco17"], coco)
    assert again.decode["cached"] and again.decode["bad_packets"] == 0  # remembered, not decoded


def test_rgb_behind_the_running_skeleton_equals_rgb_on_its_cached_track(
    demo_clip, pose_models, tmp_path
):
    """One pass (rgb takes each frame's box from the skeleton running beside it) and two runs
    (rgb reads the cached skeleton track) crop and embed the same, under the same cache key."""
    one_pass = extract(
        demo_clip, ExtractionConfig.parse("skeleton,rgb", "fast"), cache=Cache(tmp_path / "a")
    )
    later = Cache(tmp_path / "b")
    extract(demo_clip, ExtractionConfig.parse("skeleton", "fast"), cache=later)
    two_runs = extract(demo_clip, ExtractionConfig.parse("skeleton,rgb", "fast"), cache=later)
    assert two_runs.modalities["skeleton"].cached and not two_runs.modalities["rgb"].cached
    a, b = one_pass.modalities["rgb"], two_runs.modalities["rgb"]
    assert a.status == b.status == "ok" and a.cache_key == b.cache_key
    assert a.track["person"].mean() > 0.8
    np.testing.assert_array_equal(a.track["crop_box"], b.track["crop_box"])
    np.testing.assert_allclose(a.track["features"], b.track["features"], atol=1e-5)
    assert one_pass.decode["frames_decoded"] == 90  # one decoding pass for both


def test_rgb_is_not_cached_when_the_skeleton_beside_it_fails(
    demo_clip, pose_models, tmp_path, monkeypatch
):
    """A skeleton that fails leaves rgb with centre crops: shown, but not cached under the key a
    later, successful skeleton run would give."""
    from engine.extract.skeleton import SkeletonBackend

    subject_track = SkeletonBackend._finish_subject

    def failing(self, *args, **kwargs):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(SkeletonBackend, "_finish_subject", failing)
    cache = Cache(tmp_path / "c")
    broken = extract(demo_clip, ExtractionConfig.parse("skeleton,rgb", "fast"), cache=cache)
    assert broken.modalities["skeleton"].status == "error"
    assert "injected failure" in broken.modalities["skeleton"].reason
    assert broken.modalities["rgb"].status == "ok"
    monkeypatch.setattr(SkeletonBackend, "_finish_subject", subject_track)
    fixed = extract(demo_clip, ExtractionConfig.parse("skeleton,rgb", "fast"), cache=cache)
    assert not fixed.modalities["rgb"].cached
    assert fixed.modalities["rgb"].track["person"].mean() > 0.8


def test_cli_json(demo_clip, pose_models, capsys):
    code = main(["extract", str(demo_clip), "--profile", "fast", "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["profile"] == "fast" and data["device"] == "cpu"
    for modality in ("skeleton", "flow", "audio"):
        entry = data["modalities"][modality]
        assert entry["status"] == "ok" and entry["reason"] == ""
        assert len(entry["cache_key"]) == 64 and entry["frames"] > 0 and entry["seconds"] >= 0
    assert data["modalities"]["skeleton"]["detection_rate"] > 0.8
    assert data["modalities"]["flow"]["detection_rate"] is None


def test_nobody_visible_and_no_audio(tmp_path, pose_models, capsys):
    path = videos.nobody(tmp_path / "empty room.mp4", seconds=1.0)
    assert main(["extract", str(path), "--profile", "fast"]) == 0
    out = capsys.readouterr().out
    assert "skeleton: missing (no person found)" in out
    assert "audio: missing (no audio track)" in out
    assert "flow: ok" in out


def test_pose_models_offline(demo_clip, offline, capsys, monkeypatch, tmp_path):
    """Offline, the first extraction finds the shipped BlazePose files (nothing downloaded); a
    copy without them says which file is missing and extracts the rest."""
    from engine.extract import pose_models

    argv = ["extract", str(demo_clip), "--profile", "fast", "--json", "--no-cache"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)["modalities"]
    assert data["skeleton"]["status"] == "ok"
    monkeypatch.setattr(pose_models, "SHIPPED", tmp_path / "no-resources")
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)["modalities"]
    assert data["skeleton"]["status"] == "missing"
    assert "pose_detection.tflite" in data["skeleton"]["reason"]
    assert data["flow"]["status"] == "ok" and data["audio"]["status"] == "ok"


def test_only_missing_modalities_is_a_failed_job(tmp_path, capsys):
    path = videos.nobody(tmp_path / "silent.mp4", seconds=0.5)
    assert main(["extract", str(path), "--modalities", "audio"]) == 1
    assert "nothing could be extracted" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["zero", "text", "audio-only", "truncated", "missing"])
def test_bad_input_fails_cleanly(kind, tmp_path, demo_clip, aqa_home, capsys):
    path = {
        "zero": lambda: videos.zero_byte(tmp_path / "zero.mp4"),
        "text": lambda: videos.text_named_mp4(tmp_path / "text.mp4"),
        "audio-only": lambda: videos.write_audio_only(tmp_path / "sound.mp4"),
        "truncated": lambda: videos.truncated(demo_clip, tmp_path / "cut.mp4"),
        "missing": lambda: tmp_path / "nope.mp4",
    }[kind]()
    assert main(["extract", str(path), "--modalities", "flow,audio"]) == MediaError.exit_code
    err = capsys.readouterr().err
    assert err.startswith("aqa: ") and err.count("\n") == 1 and "Traceback" not in err
    assert _cache_files(aqa_home) == []


def test_corrupt_frames_in_the_middle(demo_clip, tmp_path):
    path = videos.corrupt_middle(demo_clip, tmp_path / "damaged.mp4", packets=[40, 41, 42])
    result = extract(path, ExtractionConfig.parse("flow", "fast"))
    assert result.decode["bad_packets"] >= 1
    assert result.modalities["flow"].status == "ok"
    assert 15 <= result.modalities["flow"].frames <= 30


def test_one_frame_video(demo_video, tmp_path, pose_models):
    path = videos.one_frame(tmp_path / "one.mp4", src=demo_video)
    result = extract(path, ExtractionConfig.parse("skeleton,flow"))
    assert result.modalities["skeleton"].frames == 1
    assert result.modalities["flow"].status == "missing"


def test_rotated_portrait(demo_video, tmp_path, pose_models):
    path = tmp_path / "phone.mp4"
    upright = videos.portrait_rotated(demo_video, path, seconds=0.5, short_side=360)
    result = extract(path, ExtractionConfig.parse("skeleton", "fast"))
    track = result.track("skeleton")
    assert result.media["rotation"] == 270 and result.media["height"] > result.media["width"]
    assert track.meta["detection_rate"] > 0.5
    xy = track["coco17"][track["detected"]][..., :2]
    height, width = upright.shape[:2]
    assert xy[..., 0].max() < width * 1.1 and xy[..., 1].max() < height * 1.1


def test_odd_path(demo_clip, tmp_path, capsys):
    path = videos.odd_path_copy(demo_clip, tmp_path)
    assert main(["extract", str(path), "--modalities", "flow", "--profile", "fast", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["video"] == str(path) and data["modalities"]["flow"]["status"] == "ok"


@pytest.mark.parametrize("at", [0.2, 0.7])
def test_cancel_writes_nothing(demo_clip, pose_models, aqa_home, at):
    """Cancelled in the pass (0.2) or while the landmarks replay the frames to rgb and flow's
    in-box figures (0.7): nothing kept, no thread left waiting."""
    token = CancelToken()

    def progress(fraction: float, stage: str) -> None:
        if stage == "skeleton" and fraction > at:
            token.cancel()

    config = ExtractionConfig.parse("skeleton,flow,rgb")
    with pytest.raises(Cancelled):
        extract(demo_clip, config, progress=progress, cancel=token)
    assert not [t for t in threading.enumerate() if t.name.startswith(("extract-", "decode-"))]
    # Only the people found over the whole pass may be kept (complete before the landmarks).
    kept = [Track.read(p).modality for p in _cache_files(aqa_home) if p.suffix == ".npz"]
    assert kept == ([] if at < 0.5 else ["people"])
    assert Cache().remove_partials() == 0


def test_cuda_requested_without_cuda(demo_clip, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["extract", str(demo_clip), "--device", "cuda"]) == 2
    assert "CUDA" in capsys.readouterr().err


def test_unknown_modality(demo_clip, capsys):
    assert main(["extract", str(demo_clip), "--modalities", "skeleton,smell"]) == 2
    assert "no modality called 'smell'" in capsys.readouterr().err


def test_ctrl_c_in_a_real_process(demo_video, pose_model_dir, tmp_path):
    """SIGINT to ``aqa extract`` while it works: exit 130, one line, no cache file."""
    exe = Path(sys.executable).with_name("aqa")
    if not exe.exists():
        pytest.skip("the aqa console script is not installed next to this Python")
    home = tmp_path / "home"
    env = {"AQA_HOME": str(home), "AQA_POSE_MODELS": str(pose_model_dir), "PATH": "/usr/bin"}
    # The full profile with rgb: several seconds of work, so the signal lands while it runs.
    cmd = [exe, "extract", demo_video, "--modalities", "skeleton,flow,rgb", "--profile", "full"]
    cmd.append("--no-cache")
    # As from a terminal: SIGINT handled by default, even when this test runs in the background
    # (where the shell started it with SIGINT ignored, which its children would inherit).
    proc = subprocess.Popen(
        cmd,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 30
    while time.time() < deadline and not home.exists() and proc.poll() is None:
        time.sleep(0.05)  # the data folder appears once the video is probed and hashed
    time.sleep(0.5)
    if proc.poll() is not None:
        pytest.skip("the extraction finished before it could be interrupted")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "cancelled" in err and "Traceback" not in err
    assert not [p for p in (home / "cache").rglob("*.npz")]


def test_attach_to_a_session_recording(demo_clip, tmp_path, capsys):
    from engine.store import Store

    with Store() as store:
        store.add_subject("S-01")
        session = store.new_session("S-01", "cmas")["id"]
    item = "head_elevation"
    args = ["extract", str(demo_clip), "--modalities", "flow,audio", "--profile", "fast"]
    assert main([*args, "--session", str(session), "--item", item, "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main([*args, "--session", str(session), "--item", item, "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert first["recording_id"] == second["recording_id"]  # same video, same recording
    with Store() as store:
        rows = list(store.db["extractions"].rows_where("recording_id = ?", [first["recording_id"]]))
        recording = store.recording(first["recording_id"])
    assert recording["item"] == item and recording["sha256"] == first["sha256"]
    assert sorted(r["modality"] for r in rows) == ["audio", "audio", "flow", "flow"]
    assert {r["status"] for r in rows} == {"ok"} and all(len(r["cache_key"]) == 64 for r in rows)


def test_attach_refuses_unknown_session_before_working(demo_clip, aqa_home, capsys):
    code = main(["extract", str(demo_clip), "--session", "99", "--item", "x"])
    assert code == 2 and "no session 99" in capsys.readouterr().err
    assert _cache_files(aqa_home) == []
    assert main(["extract", str(demo_clip), "--session", "1"]) == 2
    assert "go together" in capsys.readouterr().err
