"""One registry of extraction backends: which modality, name, version, parameters and device.

A frame backend sees the decoded frames one by one (``start`` / ``update`` / ``finish``); an audio
backend sees the whole 16 kHz mono signal (``run``). Specs name their class as ``module:Class`` so
that listing them imports nothing heavy; later modalities (rgb, text) register the same way.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from engine.errors import InputError

log = logging.getLogger(__name__)

Device = Literal["cpu", "cuda"]


@dataclass(frozen=True)
class StreamInfo:
    """The frame stream a frame backend is fed: image size, the factor from those pixels back to
    the displayed video's pixels, the frame rate of the fed frames and the expected count."""

    width: int
    height: int
    scale: float
    fps: float
    expected_frames: int


class Backend(ABC):
    """Common face of all backends: identity for the cache key and the device it runs on."""

    modality: ClassVar[str]
    name: ClassVar[str]
    version: ClassVar[str]
    device: str = "cpu"

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """Everything that changes the output (goes into the cache key)."""


class FrameBackend(Backend):
    #: Short side of the frames this backend wants (None: as decoded for the other backends).
    short_side: int | None = None
    #: Finds the person's box in each frame (``last_box()``): a pose backend.
    finds_person: ClassVar[bool] = False
    #: Crops around the person boxes a pose backend found (``use_person_boxes``): rgb.
    follows_person: ClassVar[bool] = False
    #: Can track everyone in the frames it is fed and follow the chosen subject
    #: (``follow_subject``): BlazePose through ``engine.people``.
    tracks_people: ClassVar[bool] = False
    #: Also computes its figures inside the subject's boxes (``follow_subject``): flow.
    subject_figures: ClassVar[bool] = False
    #: The share of this backend's work done while frames are fed (the rest in ``finish``).
    frame_share: float = 1.0

    @abstractmethod
    def start(self, stream: StreamInfo) -> None: ...

    @abstractmethod
    def update(self, frame) -> None:
        """Consume one ``engine.media.decode.Frame``."""

    @abstractmethod
    def finish(self):
        """The ``Track`` of everything seen since ``start``."""


class AudioBackend(Backend):
    @abstractmethod
    def run(self, audio, cancel=None):
        """The ``Track`` of an ``engine.media.decode.Audio`` (None when the video has no audio)."""


@dataclass(frozen=True)
class BackendSpec:
    modality: str
    name: str
    target: str  # "package.module:Class"
    kind: Literal["frames", "audio", "text"]
    devices: tuple[str, ...] = ("cpu",)
    default: bool = False
    options: tuple[tuple[str, Any], ...] = ()
    description: str = ""

    def build(self, device: str = "cpu", **overrides: Any) -> Backend:
        """An instance on ``device`` (falls back to CPU where the backend has no CUDA path)."""
        module, _, cls = self.target.partition(":")
        factory = getattr(importlib.import_module(module), cls)
        used = device if device in self.devices else "cpu"
        if used != device:
            log.info("%s/%s has no %s path; it runs on the CPU", self.modality, self.name, device)
        return factory(device=used, **{**dict(self.options), **overrides})


_REGISTRY: dict[tuple[str, str], BackendSpec] = {}
_ROWS: dict[str, str] = {}


def register(spec: BackendSpec, rows: str | None = None) -> None:
    """Add a backend; ``rows`` (``module:function``, once per modality) turns the modality's
    tracks into ``FeatureRows``: every backend of a modality writes the same track layout."""
    _REGISTRY[(spec.modality, spec.name)] = spec
    if rows is not None:
        _ROWS[spec.modality] = rows


def feature_rows(track):
    """The ``FeatureRows`` of a track, by its modality's registered function."""
    target = _ROWS.get(track.modality)
    if target is None:
        raise InputError(f"No feature rows are known for the {track.modality} modality.")
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)(track)


def modalities() -> list[str]:
    return list(dict.fromkeys(m for m, _ in _REGISTRY))


def specs(modality: str | None = None) -> list[BackendSpec]:
    return [s for (m, _), s in _REGISTRY.items() if modality in (None, m)]


def get(modality: str, name: str | None = None) -> BackendSpec:
    """The named backend of a modality, or its default one."""
    candidates = specs(modality)
    if not candidates:
        known = ", ".join(modalities())
        raise InputError(f"There is no modality called {modality!r}; choose from {known}.")
    if name is None:
        return next((s for s in candidates if s.default), candidates[0])
    for spec in candidates:
        if spec.name == name:
            return spec
    known = ", ".join(s.name for s in candidates)
    raise InputError(f"The {modality} modality has no backend {name!r}; choose from {known}.")


def file_identity(path: Path) -> list:
    """``[path, size, mtime_ns]`` of a model file (for cache keys: a replaced file is a new
    model), or ``[path, None, None]`` when it is absent."""
    try:
        stat = Path(path).stat()
    except OSError:
        return [str(path), None, None]
    return [str(path), stat.st_size, stat.st_mtime_ns]


def resolve_device(requested: str = "auto") -> Device:
    """``auto`` means CUDA when torch can run on it, else the CPU (see ``engine.device``).

    A torch build without CUDA libraries answers ``cpu`` for ``auto`` without importing torch
    (the import alone costs seconds of CPU, more than the audio features of a short clip).
    """
    from engine.device import check_request, select_torch_device

    value = check_request(requested)
    if value == "cpu" or (value == "auto" and not torch_has_cuda_build()):
        return "cpu"
    return select_torch_device(value).device


def torch_has_cuda_build() -> bool:
    """Whether the installed torch ships its CUDA library (checked on disk, not imported)."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return False
    lib = Path(next(iter(spec.submodule_search_locations))) / "lib"
    return any(lib.glob("libtorch_cuda*")) or any(lib.glob("torch_cuda*.dll"))


ROWS = {
    "skeleton": "engine.extract.skeleton:feature_rows",
    "flow": "engine.extract.flow:feature_rows",
    "audio": "engine.extract.audio:feature_rows",
    "rgb": "engine.extract.rgb:feature_rows",
    "text": "engine.extract.text:feature_rows",
}
for _spec in (
    BackendSpec(
        "skeleton",
        "blazepose",
        "engine.extract.skeleton:SkeletonBackend",
        "frames",
        default=True,
        description="BlazePose full (33 landmarks) on LiteRT, stored also as COCO-17",
    ),
    BackendSpec(
        "flow",
        "dis",
        "engine.extract.flow:FlowBackend",
        "frames",
        default=True,
        options=(("method", "dis"),),
        description="OpenCV DIS optical flow at a reduced short side",
    ),
    BackendSpec(
        "flow",
        "farneback",
        "engine.extract.flow:FlowBackend",
        "frames",
        options=(("method", "farneback"),),
        description="OpenCV Farneback optical flow (as DualAlign)",
    ),
    BackendSpec(
        "audio",
        "logmel",
        "engine.extract.audio:LogMelBackend",
        "audio",
        devices=("cpu", "cuda"),
        default=True,
        description="Kaldi-style 128-bin log-mel filterbank (AST input), 25 ms window, 10 ms hop",
    ),
    BackendSpec(
        "flow",
        "tvl1-torch",
        "engine.extract.torch_flow:TorchFlowBackend",
        "frames",
        devices=("cpu", "cuda"),
        description="Pyramidal TV-L1 in torch, batched on CUDA (no weights)",
    ),
    BackendSpec(
        "skeleton",
        "onnx",
        "engine.extract.onnx_pose:OnnxPoseBackend",
        "frames",
        devices=("cpu", "cuda"),
        description="Top-down ONNX pose model (RTMPose/HRNet, option model=PATH) on onnxruntime",
    ),
    BackendSpec(
        "skeleton",
        "mmpose",
        "engine.extract.mmpose_pose:MmposeBackend",
        "frames",
        devices=("cpu", "cuda"),
        description="mmpose top-down HRNet-W32 (as DualAlign); needs an mmpose environment",
    ),
    BackendSpec(
        "rgb",
        "efficientnet-lite0",
        "engine.extract.rgb:RgbBackend",
        "frames",
        devices=("cpu", "cuda"),
        default=True,
        description="EfficientNet-Lite0 ImageNet features (1280-d) of the person crop, 4 per second",
    ),
    BackendSpec(
        "rgb",
        "onnx",
        "engine.extract.onnx_image:OnnxImageBackend",
        "frames",
        devices=("cpu", "cuda"),
        description="any ONNX image backbone given as a local file (option model=PATH)",
    ),
    BackendSpec(
        "text",
        "minilm",
        "engine.extract.text:TextBackend",
        "text",
        devices=("cpu", "cuda"),
        default=True,
        description="DualAlign's exam-note template embedded by all-MiniLM-L6-v2",
    ),
    BackendSpec(
        "text",
        "hashing",
        "engine.extract.text:TextBackend",
        "text",
        options=(("encoder", "hashing"),),
        description="deterministic feature hashing of word uni/bigrams into 384-d (fallback)",
    ),
):
    register(_spec, ROWS.get(_spec.modality))
