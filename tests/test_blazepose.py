"""BlazePose on LiteRT: geometry helpers, model-file lookup, and real frames of the demo video."""

import importlib.util
import math
import os
import shutil
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from engine.errors import MissingWeightsError
from engine.extract import blazepose, pose_models
from engine.extract.blazepose import (
    BLAZEPOSE_TO_COCO,
    BlazePose,
    OneEuroFilter,
    Roi,
    crop,
    project,
    roi_from_points,
    ssd_anchor_centres,
    weighted_nms,
)
from engine.extract.pose_models import DETECTOR_FILE, LANDMARK_FILE, find_pose_models

DEMO_FRAMES = 48
MODEL_CACHE = Path(os.environ.get("AQA_TEST_CACHE", Path.home() / ".cache" / "aqa-studio-tests"))
MEDIAPIPE_INSTALLED = importlib.util.find_spec("mediapipe") is not None


@pytest.fixture(scope="session")
def pose_model_dir():
    """The two .tflite files, fetched once (mediapipe wheel, no dependencies) into the test cache."""
    folder = MODEL_CACHE / "blazepose"
    if not ((folder / DETECTOR_FILE).is_file() and (folder / LANDMARK_FILE).is_file()):
        try:
            pose_models.fetch_pose_models(folder)
        except MissingWeightsError as exc:
            pytest.skip(f"BlazePose model files cannot be fetched here: {exc}")
    return folder


@pytest.fixture(scope="module")
def demo_run(pose_model_dir, demo_video):
    """The tracker run over the first frames of the demo video; keeps frame 45 for later tests."""
    pose = BlazePose(model_dir=pose_model_dir)
    results, kept = [], None
    with av.open(str(demo_video)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index >= DEMO_FRAMES:
                break
            image = frame.to_ndarray(format="rgb24")
            results.append(pose.process(image, frame.time))
            if index == 45:
                kept = image
    return pose, results, kept


def test_anchors_follow_the_detector_layout():
    anchors = ssd_anchor_centres()
    assert anchors.shape == (2254, 2)
    # Stride 8: a 28x28 grid with two anchors per cell, first cell centred at half a cell.
    np.testing.assert_allclose(anchors[0], [0.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(anchors[1], anchors[0])
    np.testing.assert_allclose(anchors[2], [1.5 / 28, 0.5 / 28])
    # Stride 16 starts after 28*28*2 anchors; the three stride-32 layers share a 7x7 grid, 6 each.
    np.testing.assert_allclose(anchors[1568], [0.5 / 14, 0.5 / 14])
    np.testing.assert_allclose(anchors[1960:1966], np.full((6, 2), 0.5 / 7))
    np.testing.assert_allclose(anchors[-1], [6.5 / 7, 6.5 / 7])


def test_weighted_nms_merges_overlaps_by_score():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], float)
    keypoints = np.array([[[0, 0]], [[4, 0]], [[55, 55]]], float)
    scores = np.array([0.9, 0.6, 0.7])
    merged = weighted_nms(boxes, keypoints, scores)
    assert [m[2] for m in merged] == [0.9, 0.7]
    np.testing.assert_allclose(merged[0][0], [0.4, 0, 10.4, 10])
    np.testing.assert_allclose(merged[0][1], [[1.6, 0]])
    np.testing.assert_allclose(merged[1][0], boxes[2])


def test_roi_points_up_from_the_hips():
    upright = roi_from_points(np.array([100.0, 200.0]), np.array([100.0, 120.0]))
    assert upright == Roi(100.0, 200.0, 200.0, 0.0)
    # Head to the right: the region turns a quarter clockwise, so that its "up" is the image's right.
    lying = roi_from_points(np.array([100.0, 200.0]), np.array([180.0, 200.0]))
    assert lying.rotation == pytest.approx(math.pi / 2)
    up = project(np.array([[0.5, 0.0]]), lying)[0]
    np.testing.assert_allclose(up, [100.0 + lying.size / 2, 200.0], atol=1e-9)


def test_crop_and_project_are_inverse():
    frame = np.zeros((300, 400, 3), np.uint8)
    cv2.circle(frame, (250, 120), 3, (255, 255, 255), -1)
    roi = Roi(cx=220.0, cy=150.0, size=180.0, rotation=0.7)
    patch = crop(frame, roi, 256, cv2.BORDER_CONSTANT)
    ys, xs = np.nonzero(patch[..., 0] > 128)
    spot = np.array([[xs.mean() + 0.5, ys.mean() + 0.5]]) / 256
    np.testing.assert_allclose(project(spot, roi)[0], [250.5, 120.5], atol=1.0)


def test_one_euro_filter_smooths_a_step():
    smooth = OneEuroFilter(min_cutoff=0.01, beta=10.0, derivative_cutoff=1.0)
    assert smooth(np.array([5.0]), 0.0, 1.0)[0] == 5.0
    assert smooth(np.array([5.0]), 1 / 30, 1.0)[0] == 5.0
    stepped = smooth(np.array([6.0]), 2 / 30, 1.0)[0]
    assert 5.0 < stepped < 6.0
    smooth.reset()
    assert smooth(np.array([6.0]), 3 / 30, 1.0)[0] == 6.0


def test_demo_person_detected_and_tracked(demo_run):
    _, results, _ = demo_run
    detected = [r.detected for r in results]
    assert np.mean(detected) >= 0.9
    first = detected.index(True)
    assert not results[first].tracked
    assert np.mean([r.tracked for r in results[first + 1 :]]) >= 0.9
    for r in results:
        if r.detected:
            np.testing.assert_array_equal(
                r.coco17[:, :2], r.landmarks33[list(BLAZEPOSE_TO_COCO), :2]
            )
            np.testing.assert_array_equal(r.coco17[:, 2], r.landmarks33[list(BLAZEPOSE_TO_COCO), 3])


def test_demo_keypoints_inside_frame_and_plausible(demo_run):
    _, results, _ = demo_run
    width, height = 1768, 994
    same_side = []
    for r in results[8:]:
        assert r.detected
        k = r.coco17
        confident = k[:, 2] > 0.5
        assert confident.sum() >= 12
        assert np.all((k[confident, 0] >= 0) & (k[confident, 0] < width))
        assert np.all((k[confident, 1] >= 0) & (k[confident, 1] < height))
        x0, y0, x1, y1 = r.box
        assert x0 <= k[confident, 0].min() and k[confident, 0].max() <= x1
        # Image y grows downwards: shoulders above hips above knees above ankles.
        shoulders, hips, knees, ankles = (k[[i, i + 1], 1].mean() for i in (5, 11, 13, 15))
        assert shoulders < hips < knees < ankles
        assert k[0, 1] < shoulders  # nose above the shoulders
        # Left and right are consistent: the left shoulder and left hip lie on the same side.
        same_side.append(np.sign(k[5, 0] - k[6, 0]) == np.sign(k[11, 0] - k[12, 0]))
    assert np.mean(same_side) >= 0.9


def test_demo_tracking_moves_smoothly(demo_run):
    _, results, _ = demo_run
    steps = []
    for before, after in zip(results[8:], results[9:], strict=False):
        steps.append(np.median(np.linalg.norm(after.coco17[:, :2] - before.coco17[:, :2], axis=1)))
    assert np.mean(np.array(steps) < 25.0) >= 0.9
    assert np.median(steps) < 12.0


def test_blank_frame_detects_nobody_and_resets_tracking(demo_run):
    pose, _, frame = demo_run
    black = np.zeros((480, 640, 3), np.uint8)
    pose.reset()
    empty = pose.process(black)
    assert not empty.detected and empty.box is None
    assert not empty.landmarks33.any() and not empty.coco17.any()
    assert pose.process(frame).detected
    assert pose.process(frame).tracked
    assert not pose.process(black).detected
    again = pose.process(frame)
    assert again.detected and not again.tracked


def test_detector_finds_the_person_on_a_single_frame(demo_run):
    pose, results, frame = demo_run
    detections = pose.detect(frame)
    assert detections and detections[0].score >= 0.5
    x0, y0, x1, y1 = results[45].box
    hip_centre = detections[0].keypoints[0]
    assert x0 < hip_centre[0] < x1 and y0 < hip_centre[1] < y1


def test_threads_leave_the_outputs_alone(demo_run, pose_model_dir):
    """The number of XNNPACK threads is kept out of the cache key: it must not change a result
    (the landmark network runs on ``num_threads``, the detector on one)."""
    pose, results, frame = demo_run
    single = BlazePose(model_dir=pose_model_dir, num_threads=1)
    roi = results[45].roi
    np.testing.assert_array_equal(
        pose.landmarks(frame, roi, True)[0].landmarks33,
        single.landmarks(frame, roi, True)[0].landmarks33,
    )
    tensor = np.random.default_rng(0).uniform(-1, 1, (1, 224, 224, 3)).astype(np.float32)
    expected = {k: v.copy() for k, v in pose._detector.run(tensor).items()}
    shapes = {k: v.shape for k, v in expected.items()}
    two = blazepose._load(pose.model_files.detector, 2, 224, shapes)
    for key, value in two.run(tensor).items():
        np.testing.assert_array_equal(value, expected[key])


def test_identity_for_the_cache_key(pose_model_dir):
    a = BlazePose(model_dir=pose_model_dir, num_threads=1)
    b = BlazePose(model_dir=pose_model_dir, num_threads=2, min_presence=0.6)
    assert a.name == "blazepose" and a.version
    assert a.params()["landmark_sha256"] == pose_models.MEMBERS[LANDMARK_FILE][1][:16]
    assert a.params() != b.params()
    assert "num_threads" not in a.params()


def test_model_lookup_order(pose_model_dir, tmp_path, monkeypatch):
    given = tmp_path / "given"
    given.mkdir()
    for name in (DETECTOR_FILE, LANDMARK_FILE):
        (given / name).symlink_to(pose_model_dir / name)
    monkeypatch.setenv(pose_models.ENV_VAR, str(pose_model_dir))
    assert find_pose_models(given, fetch=False).source.startswith("given directory")
    assert find_pose_models(None, fetch=False).source.startswith(pose_models.ENV_VAR)
    monkeypatch.delenv(pose_models.ENV_VAR)
    stored = pose_models.default_model_dir()
    shutil.copytree(given, stored, symlinks=True)
    assert find_pose_models(tmp_path / "empty", fetch=False).source.startswith("data directory")


@pytest.mark.skipif(MEDIAPIPE_INSTALLED, reason="an installed mediapipe package provides the files")
def test_missing_files_without_fetching(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(pose_models, "SHIPPED", empty)  # a copy without its resources
    monkeypatch.setenv(pose_models.ENV_VAR, str(empty))
    with pytest.raises(MissingWeightsError, match="pose_detection.tflite") as caught:
        BlazePose(fetch=False)
    assert str(pose_models.default_model_dir()) in str(caught.value)


@pytest.mark.skipif(MEDIAPIPE_INSTALLED, reason="an installed mediapipe package provides the files")
def test_offline_fetch_fails_with_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(pose_models.ENV_VAR, str(tmp_path))
    monkeypatch.setattr(pose_models, "SHIPPED", tmp_path)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="could not be fetched"):
        find_pose_models(fetch=True)
    assert not any(pose_models.default_model_dir().iterdir())


@pytest.mark.slow
@pytest.mark.skipif(MEDIAPIPE_INSTALLED, reason="an installed mediapipe package provides the files")
def test_first_run_fetches_the_files_into_the_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv(pose_models.ENV_VAR, raising=False)
    monkeypatch.setattr(pose_models, "SHIPPED", tmp_path)
    try:
        files = find_pose_models(fetch=True)
    except MissingWeightsError as exc:
        pytest.skip(f"the package index cannot be reached here: {exc}")
    assert files.source == "fetched"
    assert files.detector.parent == pose_models.default_model_dir()
    assert sorted(p.name for p in files.detector.parent.iterdir()) == [DETECTOR_FILE, LANDMARK_FILE]
    assert find_pose_models(fetch=False).source.startswith("data directory")


def test_shipped_files_are_the_wheels(monkeypatch, tmp_path):
    """The files shipped in resources/ are the wheel's, found when nothing else provides them
    (no download at first use); a damaged shipped file is not used."""
    assert pose_models.shipped_intact()
    monkeypatch.delenv(pose_models.ENV_VAR, raising=False)
    if not MEDIAPIPE_INSTALLED:
        assert find_pose_models(fetch=False).source.startswith("shipped with AQA Studio")
    damaged = tmp_path / "damaged"
    shutil.copytree(pose_models.SHIPPED, damaged)
    with open(damaged / DETECTOR_FILE, "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\0\0\0\0")
    monkeypatch.setattr(pose_models, "SHIPPED", damaged)
    assert not pose_models.shipped_intact()
