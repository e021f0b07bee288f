"""Optical flow backends on frames with a known motion."""

import cv2
import numpy as np
import pytest

from engine.extract import registry
from engine.extract.flow import SPEED_EDGES, FlowBackend, FlowStatistics, flow_to_rgb
from engine.extract.registry import StreamInfo
from engine.media.decode import Frame


def _texture(h=240, w=320, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC), (5, 5), 0)


def _moving(dx: int, dy: int, n: int = 4, fps: float = 25.0) -> list[Frame]:
    big = _texture(400, 500)
    frames = []
    for i in range(n):
        x, y = 60 + dx * i, 60 + dy * i
        frames.append(Frame(index=i, time=i / fps, image=big[y : y + 240, x : x + 320].copy()))
    return frames


def _run(backend: FlowBackend, frames: list[Frame], fps: float = 25.0):
    h, w = frames[0].image.shape[:2]
    backend.start(StreamInfo(w, h, 1.0, fps, len(frames)))
    for frame in frames:
        backend.update(frame)
    return backend.finish()


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_uniform_motion_is_measured(method):
    # The crop window slides 4 px right per frame, so the content moves 4 px left.
    backend = registry.get("flow", method).build(short_side=240)
    track = _run(backend, _moving(4, 0))
    assert track.ok and track.frames == 4
    assert list(track["valid"]) == [False, True, True, True]
    stats = track["stats"]
    assert np.all(stats[0] == 0)
    layout = track.meta["layout"]
    vx, vy = stats[1:, slice(*layout["mean_velocity_xy"])].mean(axis=0)
    expected = -4 * 25.0 / 240  # short sides per second
    assert vx == pytest.approx(expected, rel=0.15)
    assert abs(vy) < 0.1 * abs(expected)
    hist = stats[2, slice(*layout["orientation_histograms"])].reshape(16, 8)
    assert np.argmax(hist.sum(axis=0)) in (3, 4)  # pointing along -x (angle pi)
    assert stats[2, -1] == pytest.approx(abs(expected), rel=0.15)


def test_speed_is_in_short_sides_per_second():
    fast = _run(FlowBackend(short_side=240), _moving(4, 0, fps=25.0))
    half = _run(FlowBackend(short_side=120), _moving(4, 0, fps=25.0))
    slow = _run(FlowBackend(short_side=240), _moving(2, 0, fps=12.5), fps=12.5)
    speed = [t["stats"][1:, -1].mean() for t in (fast, half, slow)]
    assert speed[1] == pytest.approx(speed[0], rel=0.15)
    assert slow["stats"][1:, -1].mean() == pytest.approx(speed[0] / 2 / 2, rel=0.2)


def test_still_scene_has_no_motion():
    still = [Frame(i, i / 25, _texture()) for i in range(3)]
    track = _run(FlowBackend(short_side=240), still)
    assert track["stats"][1:, -1].max() < 1e-3
    # All pixels fall in the slowest speed bin.
    speeds = track["stats"][2, 128 : 128 + len(SPEED_EDGES)]
    assert speeds[0] == pytest.approx(1.0)


def test_one_frame_gives_missing():
    track = _run(FlowBackend(), [Frame(0, 0.0, _texture())])
    assert track.status == "missing" and "two frames" in track.reason


def test_params_name_the_method():
    dis, farneback = FlowBackend(method="dis"), FlowBackend(method="farneback")
    assert dis.params()["preset"] == "fast" and "winsize" in farneback.params()
    assert dis.params() != farneback.params()
    with pytest.raises(ValueError):
        FlowBackend(method="tvl2")


def test_statistics_row_size():
    stats = FlowStatistics(256, 144, grid=(4, 4), bins=8)
    row = stats(np.zeros((144, 256, 2), np.float32), 0.04)
    assert row.shape == (stats.dim,) == (4 * 4 * 8 + len(SPEED_EDGES) + 3,)


def test_flow_picture_colours_direction():
    flow = np.zeros((10, 20, 2), np.float32)
    flow[:, :10, 0] = 3.0  # right
    flow[:, 10:, 0] = -3.0  # left
    rgb = flow_to_rgb(flow)
    assert rgb.shape == (10, 20, 3) and rgb.dtype == np.uint8
    assert not np.array_equal(rgb[0, 0], rgb[0, 15])
    assert rgb.max() == 255
