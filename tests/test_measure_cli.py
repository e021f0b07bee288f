"""``aqa measure``: generated skeleton tracks with known answers, bad input, the demo video."""

import json
from pathlib import Path

import numpy as np
from skeletons import SITTING, SUPINE, Pose, series

from engine.cli import main
from engine.extract.tracks import Track
from engine.kinematics.skeleton import SkeletonSeries

FPS = 30


def make_track(s: SkeletonSeries) -> Track:
    return Track(
        "skeleton",
        "generated",
        "1",
        {},
        times=s.times,
        arrays={"coco17": s.keypoints.astype(np.float32), "detected": s.detected},
        meta={"image_size": list(s.image_size)},
    )


def write_track(path: Path, s: SkeletonSeries) -> Path:
    with path.open("wb") as fh:
        make_track(s).write(fh)
    return path


def run_json(capsys, *argv) -> dict:
    assert main(["measure", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_held_seconds_and_grade(tmp_path, capsys):
    head_up = Pose(**{**SUPINE.__dict__, "head": 40})
    poses = [SUPINE] * 60 + [head_up] * 12 * FPS + [SUPINE] * 60
    path = write_track(tmp_path / "head.npz", series(poses, jitter=1.0, dropouts=((200, 205),)))
    result = run_json(capsys, path, "--item", "head_elevation")
    assert abs(result["value"] - 12.0) <= 1 / FPS and result["grade"] == 2
    assert result["unit"] == "s" and result["frames"] == len(poses)
    assert main(["measure", str(path), "--item", "head_elevation"]) == 0
    out = capsys.readouterr().out
    assert "criterion grade 2" in out and "person detected on 99% of frames" in out
    assert "skeleton: skeleton track file" in out
    assert "neck" in out and "right_knee" in out


def test_count_with_another_protocol(tmp_path, capsys):
    up = Pose(**{**SUPINE.__dict__, "trunk": -5})
    cycle = [SUPINE] * 20 + [up] * 20
    path = write_track(tmp_path / "situps.npz", series(cycle * 6 + [SUPINE] * 10))
    result = run_json(capsys, path, "--protocol", "mm-jdm", "--item", "sit_up_6_types")
    assert result["value"] == 6 and result["grade"] == 6 and len(result["events"]) == 6


def test_arms_above_head(tmp_path, capsys):
    up = Pose(**{**SITTING.__dict__, "upper_arm": 10, "forearm": -10})
    path = write_track(tmp_path / "arms.npz", series([SITTING] * 30 + [up] * 45 * FPS))
    result = run_json(capsys, path, "--item", "arm_raise_duration")
    assert result["value"] == 45.0 and result["grade"] == 3


def test_repeated_timestamps_are_dropped():
    track = make_track(series([SUPINE] * 30))
    track.times[10] = track.times[9]  # a damaged file repeats a timestamp
    kept = SkeletonSeries.from_track(track)
    assert kept.frames == 29 and kept.image_size == (640, 480)


def test_no_person_and_bad_input(tmp_path, capsys):
    nobody = write_track(tmp_path / "nobody.npz", series([SUPINE] * 30, dropouts=((0, 30),)))
    assert main(["measure", str(nobody), "--item", "head_elevation"]) == 2
    assert "No person was detected in nobody.npz" in capsys.readouterr().err
    assert main(["measure", str(tmp_path / "none.mp4"), "--item", "head_elevation"]) == 2
    assert "There is no file" in capsys.readouterr().err
    assert main(["measure", str(nobody), "--item", "jump"]) == 2
    assert "no item 'jump'" in capsys.readouterr().err
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a track")
    assert main(["measure", str(junk), "--item", "sit_ups"]) == 2
    assert "not a readable skeleton track" in capsys.readouterr().err


def test_video_without_a_person(tmp_path, capsys, pose_models):
    """A clip of a blank wall: the detector finds nobody, and measure says so."""
    import videos

    blank = videos.write_video(tmp_path / "blank.mp4", [np.full((240, 320, 3), 90, np.uint8)] * 15)
    assert main(["measure", str(blank), "--item", "head_elevation"]) == 2
    assert "No person was detected in blank.mp4" in capsys.readouterr().err


def test_demo_clip_measures_sane_angles(demo_clip, capsys, pose_models):
    """The first 3 s of the sports2d demo: a man doing jumping jacks on a box (another person
    walks in later): upright, knees mostly straight, arms above the head twice, briefly."""
    result = run_json(capsys, demo_clip, "--item", "arm_raise_duration")
    assert result["frames"] == 90 and result["detected_fraction"] > 0.9
    assert result["skeleton"].startswith("blazepose on cpu")
    angles = result["angles"]
    assert all(a["known"] > 0.5 for a in angles.values())
    assert angles["trunk"]["median"] < 30  # upright
    assert angles["left_knee"]["median"] > 120 and angles["right_knee"]["median"] > 120
    assert all(0 <= a["low"] <= a["high"] <= 180 for a in angles.values())
    assert len(result["events"]) >= 2 and 0 < result["value"] < 1 and result["grade"] == 0
