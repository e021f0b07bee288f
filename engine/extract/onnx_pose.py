"""Top-down pose from an ONNX model file (RTMPose / HRNet style) on onnxruntime, CUDA when it runs.

Per frame: a person box (the previous frame's keypoints, else a detector, else the whole frame) is
padded by 1.25, widened or heightened to the model's aspect ratio, and cropped by an affine warp to
the model's input size (read from the ONNX input shape); the crop is normalised with the ImageNet
mean and standard deviation (RGB, 0..255 scale, as mmpose's data pre-processor). Two output layouts
are decoded, as mmpose's codecs do:

- heatmaps ``[1, 17, h, w]`` (HRNet, MSRA codec): the arg-max of each map, moved a quarter of a
  cell towards the higher neighbour on each axis, scaled by input size / heatmap size; the
  confidence is the map's maximum;
- SimCC ``[1, 17, W*k]`` and ``[1, 17, H*k]`` (RTMPose): the arg-max of each 1-D distribution
  divided by the split ratio ``k``; the confidence is the smaller of the two maxima.

Crop coordinates map back through the same box to frame pixels, giving COCO-17 ``[17, 3]``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.device import create_onnx_session
from engine.errors import AqaError, InputError, MissingWeightsError
from engine.extract.registry import FrameBackend, StreamInfo
from engine.extract.tracks import Track, displayed_box

log = logging.getLogger(__name__)

NUM_KEYPOINTS = 17
MEAN = np.array([123.675, 116.28, 103.53], np.float32)
STD = np.array([58.395, 57.12, 57.375], np.float32)
BOX_PADDING = 1.25
INPUT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16"}
NO_PERSON = "no person detected"

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in frame pixels
Detector = Callable[[np.ndarray], Box | None]


@dataclass(frozen=True)
class CropBox:
    """The frame region the model sees: centre and size (w, h) in pixels, aspect of the input."""

    cx: float
    cy: float
    width: float
    height: float

    @classmethod
    def around(cls, box: Box, aspect: float, padding: float = BOX_PADDING) -> CropBox:
        """``box`` padded by ``padding`` and grown on one axis to ``aspect`` (width / height)."""
        x0, y0, x1, y1 = box
        w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
        if w > aspect * h:
            h = w / aspect
        else:
            w = h * aspect
        return cls((x0 + x1) / 2, (y0 + y1) / 2, w * padding, h * padding)

    def matrix(self, input_w: int, input_h: int) -> np.ndarray:
        """The 2x3 affine map from frame pixels to input pixels (the box fills the input)."""
        sx, sy = input_w / self.width, input_h / self.height
        return np.array(
            [
                [sx, 0.0, input_w / 2 - sx * self.cx],
                [0.0, sy, input_h / 2 - sy * self.cy],
            ],
            np.float64,
        )

    def to_frame(self, points: np.ndarray, input_w: int, input_h: int) -> np.ndarray:
        """Input-pixel points [K, 2] back to frame pixels."""
        scale = np.array([self.width / input_w, self.height / input_h])
        origin = np.array([self.cx - self.width / 2, self.cy - self.height / 2])
        return points * scale + origin


@dataclass(frozen=True)
class TopDownFrame:
    """One frame's result: ``coco17`` [17, 3] x, y (frame pixels), confidence; zeros when nobody
    was found. ``box`` surrounds the confident keypoints; ``source`` says where the box fed to
    the model came from (tracked, detector or frame)."""

    coco17: np.ndarray
    detected: bool
    box: Box | None
    score: float
    source: str


def decode_heatmaps(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[K, h, w] -> keypoints [K, 2] in heatmap cells (quarter-cell refined), scores [K]."""
    k, h, w = heatmaps.shape
    flat = heatmaps.reshape(k, -1)
    index = flat.argmax(axis=1)
    scores = flat[np.arange(k), index].astype(np.float32)
    ys, xs = np.divmod(index, w)
    points = np.stack([xs, ys], axis=1).astype(np.float32)
    for j in range(k):
        x, y, hm = xs[j], ys[j], heatmaps[j]
        # The bounds of mmpose's refine_keypoints (and HRNet's): index 1 is not refined either.
        if 1 < x < w - 1:
            points[j, 0] += 0.25 * np.sign(hm[y, x + 1] - hm[y, x - 1])
        if 1 < y < h - 1:
            points[j, 1] += 0.25 * np.sign(hm[y + 1, x] - hm[y - 1, x])
    return points, scores


def decode_simcc(
    simcc_x: np.ndarray, simcc_y: np.ndarray, split_ratio: float
) -> tuple[np.ndarray, np.ndarray]:
    """[K, Wx], [K, Wy] -> keypoints [K, 2] in input pixels, scores [K] (min of both maxima)."""
    xs, ys = simcc_x.argmax(axis=1), simcc_y.argmax(axis=1)
    points = np.stack([xs, ys], axis=1).astype(np.float32) / np.float32(split_ratio)
    scores = np.minimum(simcc_x.max(axis=1), simcc_y.max(axis=1)).astype(np.float32)
    return points, scores


@dataclass(frozen=True)
class ModelLayout:
    """What the ONNX file takes and gives: input (w, h), ``kind`` heatmap or simcc, output order
    (for SimCC: index of the x and y outputs) and the SimCC split ratio."""

    input_name: str
    input_w: int
    input_h: int
    kind: str
    outputs: tuple[int, ...]
    split_ratio: float = 1.0
    input_type: str = "float32"


def _read_layout(session, path: Path) -> ModelLayout:
    """Check the input shape and run one blank crop to learn and check the output layout."""
    inputs = session.get_inputs()
    expected = "one input of shape [1, 3, H, W] (an RGB image crop)"
    if len(inputs) != 1:
        raise InputError(
            f"{path} has {len(inputs)} inputs; a top-down pose model needs {expected}."
        )
    shape = list(inputs[0].shape)
    if len(shape) != 4 or shape[1] != 3 or not all(isinstance(v, int) and v > 0 for v in shape[2:]):
        raise InputError(
            f"{path} takes input of shape {shape}; a top-down pose model needs {expected}."
        )
    input_h, input_w = int(shape[2]), int(shape[3])
    input_type = INPUT_TYPES.get(inputs[0].type)
    if input_type is None:
        raise InputError(
            f"{path} takes {inputs[0].type} input; a top-down pose model takes float32 or float16."
        )
    blank = np.zeros((1, 3, input_h, input_w), input_type)
    outputs = [np.asarray(o) for o in session.run(None, {inputs[0].name: blank})]
    shapes = [tuple(o.shape) for o in outputs]
    names = [o.name.lower() for o in session.get_outputs()]
    heatmap = [i for i, s in enumerate(shapes) if len(s) == 4 and s[:2] == (1, NUM_KEYPOINTS)]
    simcc = [i for i, s in enumerate(shapes) if len(s) == 3 and s[:2] == (1, NUM_KEYPOINTS)]
    if len(heatmap) == 1 and not simcc:
        return ModelLayout(
            inputs[0].name, input_w, input_h, "heatmap", (heatmap[0],), input_type=input_type
        )
    if len(simcc) == 2 and not heatmap:
        first, second = simcc
        # mmpose exports simcc_x then simcc_y; names decide when present.
        if "y" in names[first].split("_")[-1] and "x" in names[second].split("_")[-1]:
            first, second = second, first
        ratio_x = shapes[first][2] / input_w
        ratio_y = shapes[second][2] / input_h
        if abs(ratio_x - ratio_y) > 1e-6:
            raise InputError(
                f"{path} gives 1-D outputs of lengths {shapes[first][2]} and {shapes[second][2]}, "
                f"which are not one split ratio of the input width {input_w} and height {input_h}."
            )
        return ModelLayout(
            inputs[0].name, input_w, input_h, "simcc", (first, second), ratio_x, input_type
        )
    raise InputError(
        f"{path} gives outputs of shapes {shapes}; expected COCO-17 heatmaps [1, 17, h, w] or "
        f"two SimCC vectors [1, 17, W*k] and [1, 17, H*k]."
    )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def keypoint_box(coco17: np.ndarray, min_score: float) -> Box | None:
    """The box around the confident keypoints, or None when fewer than four are confident."""
    good = coco17[:, 2] >= min_score
    if good.sum() < 4:
        return None
    x0, y0 = coco17[good, :2].min(axis=0)
    x1, y1 = coco17[good, :2].max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def blazepose_person_box(pose) -> Detector:
    """A detector from ``engine.extract.blazepose.BlazePose``: the square around its full-body
    circle (centre at the hips, radius to the scale keypoint) of the best detection."""

    def detect(frame: np.ndarray) -> Box | None:
        found = pose.detect(frame)
        if not found:
            return None
        centre, edge = found[0].keypoints[0], found[0].keypoints[1]
        r = float(np.hypot(*(edge - centre)))
        return (
            float(centre[0] - r),
            float(centre[1] - r),
            float(centre[0] + r),
            float(centre[1] + r),
        )

    return detect


class OnnxTopDownPose:
    """Single-person top-down pose: call ``process`` on consecutive RGB frames."""

    def __init__(
        self,
        model: str | Path,
        device: str = "auto",
        detector: Detector | None = None,
        min_score: float = 0.3,
        threads: int = 0,
    ) -> None:
        path = Path(model).expanduser()
        if not path.is_file():
            raise MissingWeightsError(
                f"The ONNX pose model {path} does not exist; give the path of an exported "
                "RTMPose or HRNet .onnx file."
            )
        try:
            choice = create_onnx_session(path, device, threads)
        except AqaError:
            raise
        except Exception as exc:  # onnxruntime's own exception types derive from Exception
            raise MissingWeightsError(
                f"{path} is not a readable ONNX model ({_first_line(exc)}); export it again."
            ) from exc
        self.path = path
        self.choice = choice
        self.session = choice.session
        try:
            self.layout = _read_layout(self.session, path)
        except AqaError:
            raise
        except Exception as exc:
            raise InputError(
                f"{path} cannot be run by onnxruntime on a blank crop ({_first_line(exc)})."
            ) from exc
        self.detector = detector
        self.min_score = min_score
        self.sha256 = _sha256(path)
        self._box: Box | None = None
        log.info("%s runs on %s", path.name, choice.describe())

    @property
    def provider(self) -> str:
        return self.choice.provider

    def reset(self) -> None:
        self._box = None

    def person_box(self, frame: np.ndarray) -> tuple[Box, str]:
        """The box for this frame and its source: tracked, detector or frame."""
        if self._box is not None:
            return self._box, "tracked"
        if self.detector is not None:
            found = self.detector(frame)
            if found is not None:
                return found, "detector"
        height, width = frame.shape[:2]
        return (0.0, 0.0, float(width), float(height)), "frame"

    def estimate(self, frame: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints [17, 2] (frame pixels) and scores [17] of the person in ``box``."""
        lay = self.layout
        region = CropBox.around(box, lay.input_w / lay.input_h)
        crop = cv2.warpAffine(
            frame,
            region.matrix(lay.input_w, lay.input_h),
            (lay.input_w, lay.input_h),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0),
        )
        tensor = ((crop.astype(np.float32) - MEAN) / STD).transpose(2, 0, 1)[None]
        tensor = np.ascontiguousarray(tensor, dtype=lay.input_type)
        outputs = self.session.run(None, {lay.input_name: tensor})
        if lay.kind == "heatmap":
            heatmaps = np.asarray(outputs[lay.outputs[0]], np.float32)[0]
            cells, scores = decode_heatmaps(heatmaps)
            factor = np.array([lay.input_w / heatmaps.shape[2], lay.input_h / heatmaps.shape[1]])
            points = cells * factor
        else:
            sx, sy = (np.asarray(outputs[i], np.float32)[0] for i in lay.outputs)
            points, scores = decode_simcc(sx, sy, lay.split_ratio)
        return region.to_frame(points, lay.input_w, lay.input_h), scores

    def process(self, frame_rgb: np.ndarray) -> TopDownFrame:
        """The pose in one RGB frame [H, W, 3] uint8, tracking the person from the last call."""
        if frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3 or frame_rgb.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 frame [H, W, 3], got {frame_rgb.shape}")
        box, source = self.person_box(frame_rgb)
        points, scores = self.estimate(frame_rgb, box)
        coco = np.concatenate([points, scores[:, None]], axis=1).astype(np.float32)
        self._box = keypoint_box(coco, self.min_score)
        if self._box is None and source == "tracked":
            # Lost the tracked person: look again in this frame before giving up.
            box, source = self.person_box(frame_rgb)
            points, scores = self.estimate(frame_rgb, box)
            coco = np.concatenate([points, scores[:, None]], axis=1).astype(np.float32)
            self._box = keypoint_box(coco, self.min_score)
        if self._box is None:
            return TopDownFrame(np.zeros((NUM_KEYPOINTS, 3), np.float32), False, None, 0.0, source)
        return TopDownFrame(coco, True, self._box, float(scores.mean()), source)


class OnnxPoseBackend(FrameBackend):
    """Skeleton track from an ONNX top-down model; device ``auto`` asks onnxruntime for CUDA."""

    finds_person = True
    modality = "skeleton"
    name = "onnx"
    version = "1"

    def __init__(
        self,
        model: str | Path | None = None,
        device: str = "auto",
        short_side: int | None = 480,
        detector: str = "blazepose",
        min_score: float = 0.3,
        pose_model_dir: str | None = None,
        fetch: bool = True,
        threads: int = 0,
    ) -> None:
        if model is None:
            raise MissingWeightsError(
                "The ONNX skeleton backend needs a model file: give the path of an exported "
                "RTMPose or HRNet .onnx file."
            )
        if detector not in ("blazepose", "none"):
            raise InputError(f"Unknown person detector {detector!r}; use blazepose or none.")
        find_person = None
        if detector == "blazepose":
            from engine.extract.blazepose import BlazePose

            find_person = blazepose_person_box(BlazePose(model_dir=pose_model_dir, fetch=fetch))
        self.pose = OnnxTopDownPose(model, device, find_person, min_score, threads)
        self.device = self.pose.choice.device
        self.short_side = short_side
        self.detector_name = detector
        self._rows: list[tuple[int, float, TopDownFrame]] = []
        self._stream: StreamInfo | None = None

    def params(self) -> dict[str, Any]:
        lay = self.pose.layout
        return {
            "short_side": self.short_side,
            "model_sha256": self.pose.sha256[:16],
            "input_size": [lay.input_w, lay.input_h],
            "decoder": lay.kind,
            "detector": self.detector_name,
            "min_score": self.pose.min_score,
        }

    def start(self, stream: StreamInfo) -> None:
        self.pose.reset()
        self._rows = []
        self._stream = stream

    def update(self, frame) -> None:
        self._rows.append((frame.index, frame.time, self.pose.process(frame.image)))

    def last_box(self) -> tuple[float, ...] | None:
        """The person's box in the frame just processed (displayed pixels), or None."""
        if not self._rows or not self._rows[-1][2].detected:
            return None
        return displayed_box(self._rows[-1][2].box, self._stream.scale)

    def finish(self) -> Track:
        rows = [(i, time, r.coco17, r.box if r.detected else None) for i, time, r in self._rows]
        track = skeleton_track(rows, self._stream, self.name, self.version, self.params())
        track.meta.update(model=self.pose.path.name, provider=self.pose.provider)
        self._rows = []
        return track


def skeleton_track(
    rows: list[tuple[int, float, np.ndarray, np.ndarray | None]],
    stream: StreamInfo | None,
    backend: str,
    version: str,
    params: dict[str, Any],
) -> Track:
    """The skeleton track (COCO-17 in the displayed video's pixels) of per-frame results."""
    scale = stream.scale if stream else 1.0
    n = len(rows)
    coco = np.zeros((n, NUM_KEYPOINTS, 3), np.float32)
    boxes = np.full((n, 4), np.nan, np.float32)
    detected = np.zeros(n, bool)
    for i, (_, _, points, box) in enumerate(rows):
        coco[i] = points
        if box is not None:
            boxes[i], detected[i] = box, True
    coco[..., :2] *= scale
    boxes *= scale
    rate = float(detected.mean()) if n else 0.0
    return Track(
        modality="skeleton",
        backend=backend,
        version=version,
        params=params,
        status="ok" if rate > 0 else "missing",
        reason="" if rate > 0 else NO_PERSON,
        times=np.array([r[1] for r in rows], np.float64),
        arrays={
            "coco17": coco,
            "detected": detected,
            "box": boxes,
            "frame_index": np.array([r[0] for r in rows], np.int64),
        },
        meta={"detection_rate": round(rate, 4), "layout": "coco17 x,y,conf"},
    )
