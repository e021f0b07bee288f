"""Shared fixtures: a private AQA_HOME per test and the real videos, fetched once into a cache."""

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

VIDEO_CACHE = Path(os.environ.get("AQA_TEST_CACHE", Path.home() / ".cache" / "aqa-studio-tests"))
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


@pytest.fixture(scope="session", autouse=True)
def widgets_application():
    """One QApplication for the whole run, made before any test: a PDF written first would
    otherwise make a plain QGuiApplication, on which a later widget test aborts."""
    try:
        from PySide6.QtWidgets import QApplication
    except ImportError:  # the mediapipe venv has no Qt
        yield None
        return
    yield QApplication.instance() or QApplication([])


@pytest.fixture(autouse=True)
def aqa_home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own data directory (database, cache)."""
    home = tmp_path / "aqa-home"
    monkeypatch.setenv("AQA_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def qt_settings(tmp_path, monkeypatch) -> Path:
    """The app's settings go to files of this test, never to the user's configuration (also in
    the app processes a test starts, through XDG_CONFIG_HOME). The mediapipe comparison runs
    these fixtures in a virtual environment without Qt."""
    folder = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    try:
        from PySide6.QtCore import QSettings
    except ImportError:
        return folder
    for form in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(form, QSettings.Scope.UserScope, str(folder))
    return folder


@pytest.fixture(scope="session")
def demo_video() -> Path:
    """The sports2d demo (1768x994, 30 fps, VP9 + AAC audio)."""
    from engine.demo_video import demo_video as fetch
    from engine.errors import InputError

    try:
        return fetch(VIDEO_CACHE)
    except InputError as exc:
        pytest.skip(f"sports2d demo video cannot be fetched here: {exc}")


@pytest.fixture(scope="session")
def vtest_video() -> Path:
    """OpenCV's vtest.avi (Debian package opencv-doc; no audio, small pedestrians)."""
    cached = VIDEO_CACHE / "vtest.avi"
    if not cached.exists():
        if not VTEST.exists():
            pytest.skip("vtest.avi is missing: install the Debian package opencv-doc")
        VIDEO_CACHE.mkdir(parents=True, exist_ok=True)
        shutil.copy(VTEST, cached)
    return cached


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory) -> Path:
    """One folder for the small test clips made once per test session."""
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def demo_clip(demo_video, clip_dir) -> Path:
    """The first 3 s of the demo at 640x360, 90 frames, H.264 + AAC (16 kHz mono) holding
    ``videos.tone``: the demo's own track is silent, which grading counts as no audio."""
    import videos

    return videos.clip(demo_video, clip_dir / "demo-3s.mp4", seconds=3.0, short_side=360)


@pytest.fixture(scope="session")
def pose_model_dir() -> Path:
    """The two BlazePose .tflite files, fetched once (mediapipe wheel, no deps) into the cache."""
    from engine.errors import MissingWeightsError
    from engine.extract.pose_models import DETECTOR_FILE, LANDMARK_FILE, fetch_pose_models

    target = VIDEO_CACHE / "blazepose"
    if not ((target / DETECTOR_FILE).exists() and (target / LANDMARK_FILE).exists()):
        try:
            fetch_pose_models(target)
        except MissingWeightsError as exc:
            pytest.skip(f"BlazePose model files cannot be fetched here: {exc}")
    return target


@pytest.fixture
def pose_models(pose_model_dir, monkeypatch) -> Path:
    """Point the skeleton backend at the cached BlazePose files for this test."""
    monkeypatch.setenv("AQA_POSE_MODELS", str(pose_model_dir))
    return pose_model_dir


@pytest.fixture
def offline(monkeypatch, tmp_path) -> None:
    """pip cannot reach any package index (an offline first run)."""
    monkeypatch.delenv("AQA_POSE_MODELS", raising=False)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "no-packages"))
