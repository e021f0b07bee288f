"""Appearance (rgb) backends: an ImageNet embedding of the person crop a few times per second.

The fed frames are thinned to ``fps`` by timestamp. Each kept frame is cropped to a square around
the person's box (the skeleton's box grown by ``margin``; the part outside the frame is filled with
mid grey) or, without a box, to the centre square of the frame; the crop is resized to the network's
input and embedded. Crops are embedded in batches while frames arrive, so memory stays bounded.

Person boxes come from ``box_source``: a callable ``frame -> (x0, y0, x1, y1) | None`` in pixels of
the displayed video. ``use_person_boxes(boxes, key)`` sets it from a finished skeleton track or
from the ``LiveBoxes`` a skeleton running in the same pass feeds, and puts the skeleton's cache
key into ``params()``.

The default backend is EfficientNet-Lite0 (1280-d after global average pooling): torch on CUDA,
onnxruntime on the CPU where it can be exported (several times faster there), else torch;
``engine.extract.onnx_image`` runs any ONNX image backbone the same way.
"""

from __future__ import annotations

import bisect
import importlib.util
import logging
import threading
from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

from engine.errors import InputError
from engine.extract.registry import FrameBackend, StreamInfo
from engine.extract.tracks import FeatureRows, Track
from engine.hashing import file_sha256

log = logging.getLogger(__name__)

Box = Sequence[float]
BoxSource = Callable[[Any], Box | None]
FILL = 127  # grey outside the frame: about zero after normalisation
RUNTIMES = ("auto", "torch", "onnxruntime")


def crop_square(image: np.ndarray, box: Box | None, size: int, margin: float) -> tuple:
    """(``size`` x ``size`` RGB crop, the square it shows in ``image`` pixels).

    With a ``box`` the square is centred on it with side ``max(w, h) * (1 + margin)``; without,
    it is the centre square of the image.
    """
    height, width = image.shape[:2]
    if box is None:
        side = float(min(width, height))
        cx, cy = width / 2, height / 2
    else:
        x0, y0, x1, y1 = (float(v) for v in box)
        side = max(x1 - x0, y1 - y0, 8.0) * (1.0 + margin)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    sx0, sy0 = cx - side / 2, cy - side / 2
    scale = size / side
    ix0, iy0 = max(0, int(np.floor(sx0))), max(0, int(np.floor(sy0)))
    ix1, iy1 = min(width, int(np.ceil(sx0 + side))), min(height, int(np.ceil(sy0 + side)))
    canvas = np.full((size, size, 3), FILL, np.uint8)
    if ix1 > ix0 and iy1 > iy0:
        dx0, dy0 = max(0, round((ix0 - sx0) * scale)), max(0, round((iy0 - sy0) * scale))
        dx1 = min(size, round((ix1 - sx0) * scale))
        dy1 = min(size, round((iy1 - sy0) * scale))
        if dx1 > dx0 and dy1 > dy0:
            region = image[iy0:iy1, ix0:ix1]
            shrink = dx1 - dx0 < region.shape[1]
            canvas[dy0:dy1, dx0:dx1] = cv2.resize(
                region,
                (dx1 - dx0, dy1 - dy0),
                interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR,
            )
    return canvas, (sx0, sy0, sx0 + side, sy0 + side)


def boxes_from_skeleton(track: Track, max_gap: float = 0.25) -> BoxSource:
    """A ``box_source`` reading a finished skeleton track: the box of the last frame at or before
    the asked time (within ``max_gap`` seconds) where a person was detected."""
    boxes = LiveBoxes(max_gap)
    for time, found, box in zip(track.times, track["detected"], track["box"], strict=True):
        boxes.feed(float(time), tuple(float(v) for v in box) if found else None)
    return boxes


class LiveBoxes:
    """Person boxes fed frame by frame (by a skeleton running alongside, or from a finished
    track); as a ``box_source`` it answers with the box of the last frame at or before the
    asked frame, within ``max_gap`` seconds, where a person was detected (only the past is used,
    so a running skeleton and its finished track give the same crops)."""

    def __init__(self, max_gap: float = 0.25) -> None:
        self.max_gap = max_gap
        self._times: list[float] = []
        self._boxes: list[Box] = []
        self._lock = threading.Lock()

    def feed(self, time: float, box: Box | None) -> None:
        if box is not None and np.isfinite(box).all():
            with self._lock:
                self._times.append(time)
                self._boxes.append(box)

    def __call__(self, frame) -> Box | None:
        with self._lock:
            i = bisect.bisect_right(self._times, frame.time + 1e-9) - 1
            if i < 0 or frame.time - self._times[i] > self.max_gap:
                return None
            return self._boxes[i]


class ImageEmbeddingBackend(FrameBackend):
    """Shared frame thinning, cropping, batching and track building of the rgb backends."""

    follows_person = True
    modality = "rgb"

    def __init__(
        self,
        fps: float = 4.0,
        margin: float = 0.2,
        batch_size: int = 4,
        short_side: int | None = None,
    ) -> None:
        self.fps = float(fps)
        self.margin = float(margin)
        self.batch_size = max(1, int(batch_size))
        self.short_side = short_side
        self.box_source: BoxSource | None = None
        self.box_key: str | None = None

    @property
    @abstractmethod
    def input_size(self) -> int:
        """Side of the square network input in pixels."""

    @abstractmethod
    def embed(self, crops: np.ndarray) -> np.ndarray:
        """[B, S, S, 3] uint8 RGB crops -> [B, D] float32 embeddings."""

    def use_person_boxes(self, boxes: Track | LiveBoxes, key: str) -> None:
        """Crop around the boxes of a skeleton (its finished track, or the boxes its running
        backend feeds); ``key`` (the skeleton's cache key) joins ``params()``."""
        self.box_source = boxes if isinstance(boxes, LiveBoxes) else boxes_from_skeleton(boxes)
        self.box_key = key

    def crop_params(self) -> dict[str, Any]:
        return {
            "fps": self.fps,
            "margin": self.margin,
            "input_size": self.input_size,
            "short_side": self.short_side,
            "person_boxes": self.box_key,
        }

    def start(self, stream: StreamInfo) -> None:
        self._scale = stream.scale or 1.0
        self._next_time: float | None = None
        self._origin: float | None = None
        self._pending: list[np.ndarray] = []
        self._features: list[np.ndarray] = []
        self._rows: list[tuple[int, float, tuple, bool]] = []

    def _keep(self, time: float) -> bool:
        """The first frame at or after each point of a 1/fps grid starting at the first frame."""
        if self.fps <= 0:
            return True
        if self._next_time is not None and time < self._next_time - 1e-6:
            return False
        step = 1.0 / self.fps
        self._origin = time if self._origin is None else self._origin
        self._next_time = self._origin + (np.floor((time - self._origin) / step + 1e-6) + 1) * step
        return True

    def update(self, frame) -> None:
        if not self._keep(frame.time):
            return
        box = self.box_source(frame) if self.box_source is not None else None
        fed_box = None if box is None else [v / self._scale for v in box]
        crop, square = crop_square(frame.image, fed_box, self.input_size, self.margin)
        self._pending.append(crop)
        shown = tuple(v * self._scale for v in square)
        self._rows.append((frame.index, frame.time, shown, box is not None))
        if len(self._pending) >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._features.append(np.asarray(self.embed(np.stack(self._pending)), np.float32))
            self._pending = []

    def finish(self) -> Track:
        self._flush()
        n = len(self._rows)
        features = (
            np.concatenate(self._features) if self._features else np.zeros((0, 0), np.float32)
        )
        person = np.array([r[3] for r in self._rows], bool)
        track = Track(
            modality=self.modality,
            backend=self.name,
            version=self.version,
            params=self.params(),
            status="ok" if n else "missing",
            reason="" if n else "no frame reached the rgb backend",
            times=np.array([r[1] for r in self._rows], np.float64),
            arrays={
                "features": features,
                "frame_index": np.array([r[0] for r in self._rows], np.int64),
                "crop_box": np.array([r[2] for r in self._rows], np.float32).reshape(n, 4),
                "person": person,
            },
            meta={"person_rate": round(float(person.mean()), 4) if n else 0.0, **self.meta()},
        )
        self._rows, self._features = [], []
        return track

    def meta(self) -> dict[str, Any]:
        return {}


class RgbBackend(ImageEmbeddingBackend):
    """EfficientNet-Lite0 ImageNet features (1280-d, global average pooling) of the person crop.

    ``runtime``: ``torch`` (always used on CUDA), ``onnxruntime`` (the same network as the ONNX
    file that ships, ``engine.extract.lite0_files``: several times faster on the CPU, and torch is
    not even imported; other weights are exported once, which needs the ``onnx`` package) or
    ``auto`` (onnxruntime on the CPU when there is or can be such a file, else torch).
    """

    name = "efficientnet-lite0"
    version = "2"

    def __init__(
        self,
        device: str = "cpu",
        weights: str | None = None,
        runtime: str = "auto",
        fps: float = 4.0,
        margin: float = 0.2,
        batch_size: int = 4,  # 8 costs onnxruntime ~100 MB more for the same crops per second
        short_side: int | None = None,
    ) -> None:
        from engine.extract import lite0_files as lite0

        super().__init__(fps=fps, margin=margin, batch_size=batch_size, short_side=short_side)
        if runtime not in RUNTIMES:
            raise InputError(f"Unknown rgb runtime {runtime!r}; use one of: {', '.join(RUNTIMES)}.")
        self.weights = lite0.weights_file(weights)
        self.weights_sha256 = file_sha256(self.weights)
        onnx_path = lite0.find_onnx(self.weights_sha256)
        if runtime == "auto":
            exportable = onnx_path is not None or importlib.util.find_spec("onnx") is not None
            runtime = "onnxruntime" if device == "cpu" and exportable else "torch"
        self.runtime = runtime
        self._size = lite0.INPUT_SIZE
        if runtime == "onnxruntime":
            from engine.extract.onnx_image import OnnxImageModel

            if onnx_path is None:  # other weights than the shipped file's: exported once
                from engine.extract import efficientnet

                log.warning("rgb: exporting EfficientNet-Lite0 from %s to ONNX once", self.weights)
                model, _ = efficientnet.load_efficientnet_lite0(self.weights)
                onnx_path = efficientnet.exported_onnx(model, self.weights_sha256)
            self._onnx = OnnxImageModel(onnx_path, device, lite0.INPUT_SIZE)
            self.device = self._onnx.device
        else:
            import torch

            from engine.extract import efficientnet

            model, _ = efficientnet.load_efficientnet_lite0(self.weights)
            self.device = device
            self._torch = torch
            self._model = model.to(device)
            self._mean = torch.tensor(lite0.MEAN, device=device).view(1, 3, 1, 1) * 255.0
            self._std = torch.tensor(lite0.STD, device=device).view(1, 3, 1, 1) * 255.0
        log.info("rgb: EfficientNet-Lite0 from %s, %s on %s", self.weights, runtime, self.device)

    @property
    def input_size(self) -> int:
        return self._size

    def params(self) -> dict[str, Any]:
        return {
            **self.crop_params(),
            "weights_sha256": self.weights_sha256[:16],
            "runtime": self.runtime,
        }

    def meta(self) -> dict[str, Any]:
        return {
            "weights": self.weights.name,
            "normalisation": "(pixel - 127) / 128",
            "runtime": self.runtime,
            "device": self.device,
        }

    def embed(self, crops: np.ndarray) -> np.ndarray:
        if self.runtime == "onnxruntime":
            from engine.extract.lite0_files import MEAN, STD
            from engine.extract.onnx_image import normalise

            return self._onnx.run(normalise(crops, MEAN, STD))
        torch = self._torch
        batch = torch.from_numpy(crops).to(self.device, non_blocking=True)
        batch = (batch.permute(0, 3, 1, 2).float() - self._mean) / self._std
        with torch.inference_mode():
            return self._model.embed(batch).float().cpu().numpy()


def feature_rows(track: Track) -> FeatureRows:
    """Appearance tracks: one embedding per row. When the crops follow a skeleton's boxes, a row
    without a person box (an undetected stretch: the crop holds no subject) is not valid."""
    rows = track["features"].astype(np.float32)
    follows = bool(track.params.get("person_boxes"))
    valid = track["person"].astype(bool) if follows else np.ones(len(rows), bool)
    return FeatureRows(rows, valid, np.asarray(track.times, np.float64))
