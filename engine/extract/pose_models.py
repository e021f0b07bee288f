"""The two BlazePose model files (detector and full landmark model) from the ``mediapipe`` wheel.

They are looked up, in order, in a directory given by the caller, in ``$AQA_POSE_MODELS``, in
``<data_dir>/models/blazepose/``, in an installed ``mediapipe`` package (found without importing
it) and among the files shipped with AQA Studio (``resources/extractors/blazepose``, checked
against the wheel's checksums). Failing all (a copy without its resources),
the ``mediapipe`` wheel is fetched once with ``pip download --no-deps`` and just the two files are
extracted into the data directory.
"""

import hashlib
import importlib.util
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from engine.errors import MissingWeightsError
from engine.paths import data_dir, resources_dir

log = logging.getLogger(__name__)

ENV_VAR = "AQA_POSE_MODELS"
MEDIAPIPE_VERSION = "0.10.21"
DETECTOR_FILE = "pose_detection.tflite"
LANDMARK_FILE = "pose_landmark_full.tflite"
# Member path inside the mediapipe package, and the sha256 of the file in the 0.10.21 wheel.
MEMBERS = {
    DETECTOR_FILE: (
        "mediapipe/modules/pose_detection/pose_detection.tflite",
        "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
    ),
    LANDMARK_FILE: (
        "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
        "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
    ),
}
SHIPPED = resources_dir() / "extractors" / "blazepose"
# Tried when pip finds no wheel for this interpreter; the model files are the same in every wheel.
FALLBACK_PLATFORM = ["--python-version", "3.11", "--platform", "manylinux_2_28_x86_64"]


@dataclass(frozen=True)
class PoseModelFiles:
    """Paths of the detector and landmark ``.tflite`` files and where they were found."""

    detector: Path
    landmark: Path
    source: str


def default_model_dir() -> Path:
    """``<data_dir>/models/blazepose``: where fetched files are kept."""
    return data_dir() / "models" / "blazepose"


def find_pose_models(model_dir: str | Path | None = None, fetch: bool = True) -> PoseModelFiles:
    """The model files from the first place that holds both, fetching them if allowed."""
    candidates: list[tuple[str, Path]] = []
    if model_dir is not None:
        candidates.append(("given directory", Path(model_dir).expanduser()))
    if os.environ.get(ENV_VAR):
        candidates.append((ENV_VAR, Path(os.environ[ENV_VAR]).expanduser()))
    candidates.append(("data directory", default_model_dir()))
    for source, folder in candidates:
        found = _files_in(folder, source)
        if found is not None:
            return found
    installed = _installed_mediapipe()
    if installed is not None:
        return installed
    if shipped_intact():
        return _files_in(SHIPPED, "shipped with AQA Studio")
    target = default_model_dir()
    if fetch:
        fetch_pose_models(target)
        return PoseModelFiles(target / DETECTOR_FILE, target / LANDMARK_FILE, "fetched")
    raise MissingWeightsError(_how_to_provide(target))


def shipped_intact() -> bool:
    """Whether both shipped files are there with the wheel's checksums."""
    return all(
        (SHIPPED / name).is_file()
        and hashlib.sha256((SHIPPED / name).read_bytes()).hexdigest() == sha256
        for name, (_, sha256) in MEMBERS.items()
    )


def fetch_pose_models(target: Path) -> None:
    """Download the mediapipe wheel (no dependencies) and extract the two files into ``target``."""
    try:
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target, prefix=".fetch-") as tmp:
            wheel = _download_wheel(Path(tmp))
            log.info("extracting BlazePose models from %s", wheel.name)
            staged = []
            with zipfile.ZipFile(wheel) as zf:
                for name, (member, sha256) in MEMBERS.items():
                    data = zf.read(member)
                    if hashlib.sha256(data).hexdigest() != sha256:
                        raise OSError(f"{member} in {wheel.name} has an unexpected checksum")
                    part = Path(tmp) / name
                    part.write_bytes(data)
                    staged.append(part)
            for part in staged:
                part.replace(target / part.name)
    except (subprocess.SubprocessError, OSError, KeyError, zipfile.BadZipFile) as exc:
        log.warning("fetching the BlazePose models failed: %s", exc)
        raise MissingWeightsError(_how_to_provide(target)) from exc


def _download_wheel(folder: Path) -> Path:
    base = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--only-binary=:all:"]
    base += ["-d", str(folder), f"mediapipe=={MEDIAPIPE_VERSION}"]
    log.info("fetching mediapipe==%s (no dependencies) for the BlazePose models", MEDIAPIPE_VERSION)
    result = subprocess.run(base, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        log.info("no mediapipe wheel for this interpreter; trying the cp311 manylinux wheel")
        result = subprocess.run(
            base + FALLBACK_PLATFORM, capture_output=True, text=True, timeout=900
        )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        raise subprocess.SubprocessError(lines[-1] if lines else "pip download failed")
    wheels = sorted(folder.glob("mediapipe-*.whl"))
    if not wheels:
        raise OSError("pip download produced no mediapipe wheel")
    return wheels[0]


def _files_in(folder: Path, source: str) -> PoseModelFiles | None:
    detector, landmark = folder / DETECTOR_FILE, folder / LANDMARK_FILE
    if detector.is_file() and landmark.is_file():
        return PoseModelFiles(detector, landmark, f"{source}: {folder}")
    return None


def _installed_mediapipe() -> PoseModelFiles | None:
    """The files of an installed mediapipe package, located without importing it."""
    try:
        spec = importlib.util.find_spec("mediapipe")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        root = Path(location).parent
        detector = root / MEMBERS[DETECTOR_FILE][0]
        landmark = root / MEMBERS[LANDMARK_FILE][0]
        if detector.is_file() and landmark.is_file():
            return PoseModelFiles(detector, landmark, f"installed mediapipe: {location}")
    return None


def _how_to_provide(target: Path) -> str:
    return (
        f"The BlazePose model files {DETECTOR_FILE} and {LANDMARK_FILE} are missing and could not "
        f"be fetched; copy them from the mediapipe=={MEDIAPIPE_VERSION} wheel "
        f"(mediapipe/modules/pose_detection/ and mediapipe/modules/pose_landmark/) into {target} "
        f"or into a directory named by ${ENV_VAR}."
    )
