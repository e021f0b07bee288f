"""Our BlazePose pipeline against mediapipe's own ``solutions.pose`` on real frames.

Runs only where ``mediapipe`` imports, i.e. in the separate environment that
``tests/mediapipe_reference.sh`` builds (mediapipe pins numpy<2 and pulls opencv-contrib and jax,
which the project itself must not). Both read the same model files: ours are found in the
installed mediapipe package. Only keypoints both call visible (> 0.5) are compared.
"""

import av
import numpy as np
import pytest

mp = pytest.importorskip(
    "mediapipe", reason="mediapipe is not installed here; run tests/mediapipe_reference.sh"
)

from engine.extract import pose_models  # noqa: E402
from engine.extract.blazepose import BlazePose  # noqa: E402


def _frames(path, step, limit):
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index >= limit:
                break
            if index % step == 0:
                yield frame.to_ndarray(format="rgb24")


def _compare(path, step, limit, static):
    """Per-frame detection flags of both, and pixel distances of the commonly visible keypoints."""
    ours = BlazePose(fetch=False)
    assert ours.model_files.source.startswith("installed mediapipe")
    reference = mp.solutions.pose.Pose(
        static_image_mode=static, model_complexity=1, smooth_landmarks=False
    )
    flags, distances = [], []
    with reference:
        for image in _frames(path, step, limit):
            height, width = image.shape[:2]
            if static:
                ours.reset()
            mine = ours.process(image)
            theirs = reference.process(image).pose_landmarks
            flags.append((mine.detected, theirs is not None))
            if mine.detected and theirs is not None:
                ref = np.array([[p.x * width, p.y * height, p.visibility] for p in theirs.landmark])
                both = (ref[:, 2] > 0.5) & (mine.landmarks33[:, 3] > 0.5)
                gap = np.linalg.norm(mine.landmarks33[:, :2] - ref[:, :2], axis=1)
                distances.append(gap[both])
    return np.array(flags), np.concatenate(distances) if distances else np.zeros(0)


@pytest.fixture(autouse=True)
def _no_model_dir(monkeypatch):
    monkeypatch.delenv(pose_models.ENV_VAR, raising=False)


def test_detector_per_frame_matches_mediapipe(demo_video):
    flags, gaps = _compare(demo_video, step=7, limit=10_000, static=True)
    assert np.mean(flags[:, 0] == flags[:, 1]) >= 0.9
    assert flags[:, 1].sum() >= 10 and gaps.size >= 200
    assert np.median(gaps) <= 1.0
    assert np.mean(gaps <= 5.0) >= 0.95


def test_tracking_matches_mediapipe(demo_video):
    flags, gaps = _compare(demo_video, step=1, limit=60, static=False)
    assert np.mean(flags[:, 0] == flags[:, 1]) >= 0.9
    assert np.median(gaps) <= 3.0
    assert np.mean(gaps <= 5.0) >= 0.75


def test_small_pedestrians_agree(vtest_video):
    flags, _ = _compare(vtest_video, step=60, limit=10_000, static=True)
    assert np.mean(flags[:, 0] == flags[:, 1]) >= 0.9
