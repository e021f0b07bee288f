"""Tracks -> FeatureSet: segmenting as MCMoE (clips of 32) and DualAlign (103 uniform samples)."""

import numpy as np
import pytest

from engine.cache import Cache
from engine.extract.skeleton import skeleton_rows
from engine.extract.tracks import Track, missing
from engine.features import (
    DUALALIGN,
    MCMOE,
    FeatureSet,
    Segmenting,
    build_features,
    pool,
)


def _skeleton(n: int, fps: float = 30.0, shift: float = 0.0) -> Track:
    rng = np.random.default_rng(0)
    coco = np.zeros((n, 17, 3), np.float32)
    coco[..., :2] = rng.uniform(100, 300, (n, 17, 2)) + shift
    coco[..., 2] = 0.9
    detected = np.ones(n, bool)
    detected[::10] = False
    coco[~detected] = 0
    arrays = {"coco17": coco, "detected": detected}
    return Track("skeleton", "blazepose", "1", {}, times=np.arange(n) / fps, arrays=arrays)


def _flow(n: int, fps: float = 30.0) -> Track:
    stats = np.tile(np.arange(n, dtype=np.float32)[:, None], (1, 139))
    valid = np.arange(n) > 0
    return Track(
        "flow", "dis", "1", {}, times=np.arange(n) / fps, arrays={"stats": stats, "valid": valid}
    )


def _audio(seconds: float) -> Track:
    frames = int(seconds * 100)
    times = np.arange(frames) * 0.01 + 0.0125
    logmel = np.tile(times[:, None], (1, 128)).astype(np.float32)
    return Track("audio", "logmel", "1", {}, times=times, arrays={"logmel": logmel})


def test_mcmoe_clips_of_32_frames():
    n = 100
    fs = build_features({"skeleton": _skeleton(n), "flow": _flow(n), "audio": _audio(n / 30)})
    assert fs.segmenting == MCMOE and fs.length == 4  # ceil(100 / 32)
    assert fs.features["skeleton"].shape == (4, 51)
    assert fs.features["flow"].shape == (4, 139) and fs.features["audio"].shape == (4, 128)
    # Flow rows hold their frame number; frame 0 is invalid, so clip 0 averages frames 1..31.
    assert fs.features["flow"][0, 0] == pytest.approx(16.0)
    assert fs.features["flow"][3, 0] == pytest.approx(97.5)  # frames 96..99
    # Audio rows hold their own time: each clip averages the audio inside its 32 frames.
    assert fs.features["audio"][1, 0] == pytest.approx(48 / 30, abs=0.02)
    assert fs.mask == {"skeleton": True, "flow": True, "audio": True}
    np.testing.assert_array_equal(fs.mask_vector(["audio", "rgb"]), [True, False])


def test_dualalign_103_uniform_frames():
    n = 300
    fs = build_features({"flow": _flow(n)}, DUALALIGN)
    assert fs.length == 103 and fs.features["flow"].shape == (103, 139)
    picks = np.linspace(0, n - 1, 103).round()
    picks[0] = 1  # frame 0 has no flow: its window falls back to the nearest valid frame
    np.testing.assert_allclose(fs.features["flow"][:, 0], picks)
    assert fs.valid["flow"].all()


def test_short_video_still_gives_103_rows():
    fs = build_features({"flow": _flow(20)}, Segmenting.uniform(103))
    assert fs.features["flow"].shape == (103, 139)


def test_missing_modality_is_zero_and_masked():
    n = 64
    tracks = {
        "skeleton": _skeleton(n),
        "audio": missing("audio", "logmel", "1", {}, "no audio track"),
        "rgb": None,
    }
    fs = build_features(tracks, MCMOE, dims={"audio": 128, "rgb": 1280})
    assert fs.mask == {"skeleton": True, "audio": False, "rgb": False}
    assert fs.features["audio"].shape == (2, 128) and not fs.features["audio"].any()
    assert fs.features["rgb"].shape == (2, 1280)


def test_skeleton_rows_do_not_depend_on_position():
    a, valid = skeleton_rows(_skeleton(20))
    b, _ = skeleton_rows(_skeleton(20, shift=500.0))
    np.testing.assert_allclose(a, b, atol=1e-4)
    assert a.shape == (20, 51) and not a[~valid].any()


def test_pool_nearest_fallback_and_empty():
    times = np.array([0.0, 1.0])
    rows = np.array([[1.0], [3.0]], np.float32)
    windows = np.array([[0.0, 0.5], [0.05, 0.25], [0.4, 0.6]])
    out, has = pool(times, rows, np.ones(2, bool), windows)
    assert out[:, 0].tolist() == [1.0, 1.0, 0.0] and has.tolist() == [True, True, False]


def test_segmenting_parse():
    assert Segmenting.parse("clips:32") == MCMOE
    assert Segmenting.parse("uniform:103") == DUALALIGN
    with pytest.raises(ValueError):
        Segmenting.parse("random:5")


def test_feature_set_round_trip(tmp_path):
    fs = build_features({"flow": _flow(50), "audio": None}, MCMOE, dims={"audio": 128})
    cache = Cache(tmp_path)
    cache.save("ff" + "0" * 62, fs.write)
    back = cache.load("ff" + "0" * 62, FeatureSet.read)
    assert back.mask == fs.mask and back.segmenting == fs.segmenting
    np.testing.assert_array_equal(back.features["flow"], fs.features["flow"])
    assert back.features["audio"].shape == (2, 128)


def test_cached_features_of_an_extraction(demo_clip, aqa_home):
    from engine.extract.config import ExtractionConfig
    from engine.extract.pipeline import extract
    from engine.features import cached_features

    result = extract(demo_clip, ExtractionConfig.parse("flow,audio", "fast"))
    first = cached_features(result, DUALALIGN)
    assert first.features["flow"].shape == (103, 139) and first.mask == {
        "flow": True,
        "audio": True,
    }
    files = sorted((aqa_home / "cache").rglob("*.npz"))
    assert len(files) == 3  # two tracks and the feature set
    again = cached_features(result, DUALALIGN)
    np.testing.assert_array_equal(again.features["audio"], first.features["audio"])
    assert len(sorted((aqa_home / "cache").rglob("*.npz"))) == 3
    assert cached_features(result, MCMOE).length == 1  # 30 frames at 10 fps: one clip of 32
