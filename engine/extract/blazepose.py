"""BlazePose (pose detector + full landmark model) on LiteRT with our own pre/post-processing.

The steps follow mediapipe's pose graphs (``pose_detection_cpu``, ``pose_detection_to_roi``,
``pose_landmark_by_roi_cpu``, ``pose_landmarks_to_roi``): the detector sees the whole frame
letterboxed to 224x224; its SSD outputs are decoded against generated anchors, filtered by a
sigmoid score and merged by weighted non-maximum suppression. The first detection's hip centre and
scale keypoint give a rotated square region that is cropped to 256x256 for the landmark model,
whose 33 landmarks (refined on the heatmap) are projected back to the frame. Two auxiliary
landmarks give the region for the next frame, so the detector only runs when the person is lost.
"""

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from engine.errors import MissingWeightsError
from engine.extract.pose_models import find_pose_models

DETECTOR_INPUT = 224
LANDMARK_INPUT = 256
NUM_LANDMARKS = 33
# SsdAnchorsCalculator options of mediapipe's pose detection graph.
ANCHOR_STRIDES = (8, 16, 32, 32, 32)
ANCHORS_PER_LAYER = 2  # one aspect ratio (1.0) plus the interpolated scale
NUM_KEYPOINTS = 4  # hip centre, full-body scale point, shoulder centre, upper-body scale point
SCORE_CLIP = 100.0
NMS_IOU = 0.3
ROI_SCALE = 1.25
HEATMAP_KERNEL = 7
HEATMAP_MIN_CONFIDENCE = 0.5
# One-euro filter on the two auxiliary landmarks that place the next frame's region (mediapipe
# smooths them whether or not the output landmarks are smoothed); frames are 1/30 s apart unless
# timestamps are given.
AUX_MIN_CUTOFF = 0.01
AUX_BETA = 10.0
AUX_DERIVATIVE_CUTOFF = 1.0
DEFAULT_FRAME_INTERVAL = 1.0 / 30.0
# BlazePose-33 indices of the COCO-17 keypoints, in COCO order: nose, eyes, ears, shoulders,
# elbows, wrists, hips, knees, ankles (left before right).
BLAZEPOSE_TO_COCO = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)


@dataclass(frozen=True)
class Roi:
    """A rotated square region of the frame in pixels (rotation in radians, clockwise on screen)."""

    cx: float
    cy: float
    size: float
    rotation: float


@dataclass(frozen=True)
class PoseFrame:
    """One frame's pose: zeros everywhere when ``detected`` is False.

    ``landmarks33``: [33, 5] x, y (pixels), z (pixels, same scale as x, hips at 0), visibility,
    presence. ``coco17``: [17, 3] x, y (pixels), confidence (the landmark's visibility).
    ``box``: (x0, y0, x1, y1) around the landmarks, clipped to the frame. ``roi``: the region the
    landmark model saw. ``tracked``: the region came from the previous frame's landmarks.
    """

    landmarks33: np.ndarray
    coco17: np.ndarray
    detected: bool
    box: tuple[float, float, float, float] | None = None
    score: float = 0.0
    roi: Roi | None = None
    tracked: bool = False


@dataclass(frozen=True)
class Detection:
    """A decoded detector output in frame pixels: box (x0, y0, x1, y1), 4 keypoints [4, 2]."""

    box: np.ndarray
    keypoints: np.ndarray
    score: float


def expit(x: np.ndarray) -> np.ndarray:
    """The logistic sigmoid, without overflow for large logits (scipy.special.expit's values;
    numpy's spares the extraction importing scipy.special)."""
    return np.exp(-np.logaddexp(0.0, -x))


def ssd_anchor_centres(
    input_size: int = DETECTOR_INPUT,
    strides: tuple[int, ...] = ANCHOR_STRIDES,
    anchors_per_layer: int = ANCHORS_PER_LAYER,
    offset: float = 0.5,
) -> np.ndarray:
    """Normalised anchor centres [N, 2] (x, y) in the order of mediapipe's SsdAnchorsCalculator.

    Consecutive layers with the same stride share one grid and contribute their anchors to each
    cell together. With ``fixed_anchor_size`` every anchor is 1x1, so only the centres matter.
    """
    parts = []
    first = 0
    while first < len(strides):
        last = first
        while last < len(strides) and strides[last] == strides[first]:
            last += 1
        cells = math.ceil(input_size / strides[first])
        rows, cols = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        centres = np.stack([(cols + offset) / cells, (rows + offset) / cells], axis=-1)
        per_cell = anchors_per_layer * (last - first)
        parts.append(np.repeat(centres.reshape(-1, 1, 2), per_cell, axis=1).reshape(-1, 2))
        first = last
    return np.concatenate(parts).astype(np.float32)


def weighted_nms(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou_threshold: float = NMS_IOU
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Weighted non-maximum suppression, best first.

    Each kept detection is the score-weighted mean of the boxes and keypoints that overlap the
    highest-scoring remaining one by more than ``iou_threshold``; it keeps that one's score.
    """
    order = np.argsort(-scores, kind="stable")
    out = []
    while order.size:
        top = boxes[order[0]]
        rest = boxes[order]
        ix = np.clip(np.minimum(rest[:, 2], top[2]) - np.maximum(rest[:, 0], top[0]), 0, None)
        iy = np.clip(np.minimum(rest[:, 3], top[3]) - np.maximum(rest[:, 1], top[1]), 0, None)
        inter = ix * iy
        areas = (rest[:, 2] - rest[:, 0]) * (rest[:, 3] - rest[:, 1])
        top_area = (top[2] - top[0]) * (top[3] - top[1])
        union = areas + top_area - inter
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
        merge = iou > iou_threshold
        weights = scores[order[merge]]
        total = weights.sum()
        box = (boxes[order[merge]] * weights[:, None]).sum(0) / total
        kps = (keypoints[order[merge]] * weights[:, None, None]).sum(0) / total
        out.append((box, kps, float(scores[order[0]])))
        order = order[~merge]
    return out


def roi_from_points(centre: np.ndarray, scale_point: np.ndarray) -> Roi:
    """The square region around a body: centred on ``centre`` (pixels), twice the distance to
    ``scale_point`` (enlarged by 1.25), rotated so that the centre-to-scale vector points up."""
    dx, dy = float(scale_point[0] - centre[0]), float(scale_point[1] - centre[1])
    rotation = math.pi / 2 - math.atan2(-dy, dx)
    rotation -= 2 * math.pi * math.floor((rotation + math.pi) / (2 * math.pi))
    size = 2.0 * math.hypot(dx, dy) * ROI_SCALE
    return Roi(float(centre[0]), float(centre[1]), size, rotation)


def crop(frame: np.ndarray, roi: Roi, out_size: int, border: int) -> np.ndarray:
    """The rotated square ``roi`` of ``frame`` resampled to ``out_size`` squared (uint8, bilinear).

    Output pixel (0, 0) samples the region's top-left corner, as mediapipe's image-to-tensor does.
    """
    c, s = math.cos(roi.rotation), math.sin(roi.rotation)
    half = 0.5 * roi.size
    step = roi.size / out_size
    matrix = np.array(
        [
            [step * c, -step * s, roi.cx - half * c + half * s],
            [step * s, step * c, roi.cy - half * s - half * c],
        ],
        dtype=np.float64,
    )
    return cv2.warpAffine(
        frame,
        matrix,
        (out_size, out_size),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=border,
        borderValue=(0, 0, 0),
    )


def project(points: np.ndarray, roi: Roi) -> np.ndarray:
    """Crop-normalised points [N, 2] (0..1) to frame pixels."""
    c, s = math.cos(roi.rotation), math.sin(roi.rotation)
    u = (points[:, 0] - 0.5) * roi.size
    v = (points[:, 1] - 0.5) * roi.size
    return np.stack([roi.cx + c * u - s * v, roi.cy + s * u + c * v], axis=-1)


def refine_on_heatmap(xy: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """Move each crop-normalised landmark to the sigmoid-weighted mean of its heatmap window.

    ``heatmap`` is [h, w, L]; landmarks outside it or without a confident window stay put.
    """
    hm_h, hm_w, count = heatmap.shape
    half = (HEATMAP_KERNEL - 1) // 2
    cols = np.trunc(xy[:count, 0] * hm_w).astype(np.int64)
    rows = np.trunc(xy[:count, 1] * hm_h).astype(np.int64)
    inside = (cols >= 0) & (cols < hm_w) & (rows >= 0) & (rows < hm_h)
    # Windows off the heatmap read -inf (sigmoid 0), which adds nothing to sums and maxima.
    padded = np.pad(heatmap, ((half, half), (half, half), (0, 0)), constant_values=-np.inf)
    offsets = np.arange(HEATMAP_KERNEL)
    r = np.clip(rows, 0, hm_h - 1)[:, None] + offsets
    c = np.clip(cols, 0, hm_w - 1)[:, None] + offsets
    window = padded[r[:, :, None], c[:, None, :], np.arange(count)[:, None, None]]
    conf = expit(window.astype(np.float64))
    total = conf.sum(axis=(1, 2))
    grid_r = (r - half)[:, :, None].astype(np.float64)
    grid_c = (c - half)[:, None, :].astype(np.float64)
    mean_c = (conf * grid_c).sum(axis=(1, 2)) / np.where(total > 0, total, 1)
    mean_r = (conf * grid_r).sum(axis=(1, 2)) / np.where(total > 0, total, 1)
    ok = inside & (conf.max(axis=(1, 2)) >= HEATMAP_MIN_CONFIDENCE) & (total > 0)
    out = xy.copy()
    out[:count][ok, 0] = mean_c[ok] / hm_w
    out[:count][ok, 1] = mean_r[ok] / hm_h
    return out


class OneEuroFilter:
    """The one-euro low-pass filter as mediapipe implements it, applied elementwise to an array.

    The cutoff rises with the filtered speed (value units per second times ``value_scale``).
    """

    def __init__(self, min_cutoff: float, beta: float, derivative_cutoff: float) -> None:
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.derivative_cutoff = derivative_cutoff
        self.reset()

    def reset(self) -> None:
        self._frequency = 1.0 / DEFAULT_FRAME_INTERVAL
        self._last_time: float | None = None
        self._raw: np.ndarray | None = None
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None

    def _alpha(self, cutoff: float | np.ndarray) -> float | np.ndarray:
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau * self._frequency)

    def __call__(self, value: np.ndarray, time_s: float, value_scale: float) -> np.ndarray:
        if self._last_time is not None:
            if time_s <= self._last_time:
                return value
            self._frequency = 1.0 / (time_s - self._last_time)
        self._last_time = time_s
        if self._raw is None:
            speed = np.zeros_like(value)
        else:
            speed = (value - self._raw) * value_scale * self._frequency
        if self._speed is not None:
            a = self._alpha(self.derivative_cutoff)
            speed = a * speed + (1.0 - a) * self._speed
        self._speed = speed
        self._raw = value
        if self._value is not None:
            a = self._alpha(self.min_cutoff + self.beta * np.abs(speed))
            value = a * value + (1.0 - a) * self._value
        self._value = value
        return value


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class _Model:
    """A LiteRT interpreter with its input index and outputs picked by shape."""

    interpreter: object
    input_index: int
    outputs: dict[str, int] = field(default_factory=dict)

    def run(self, tensor: np.ndarray) -> dict[str, np.ndarray]:
        self.interpreter.set_tensor(self.input_index, tensor)
        self.interpreter.invoke()
        return {key: self.interpreter.get_tensor(index) for key, index in self.outputs.items()}


def _load(path: Path, num_threads: int, size: int, outputs: dict[str, tuple[int, ...]]) -> _Model:
    """Open a ``.tflite`` file and check it has the expected input and output shapes."""
    from ai_edge_litert.interpreter import Interpreter

    from engine.native_log import quiet_native_stderr

    try:
        with quiet_native_stderr():
            interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise MissingWeightsError(
            f"{path} is not a readable BlazePose model file; delete it so that it is fetched again."
        ) from exc
    (inp,) = interpreter.get_input_details()
    shapes = {tuple(d["shape"]): d["index"] for d in interpreter.get_output_details()}
    if tuple(inp["shape"]) != (1, size, size, 3) or not all(s in shapes for s in outputs.values()):
        raise MissingWeightsError(
            f"{path} is not the expected BlazePose model (input {tuple(inp['shape'])}); "
            f"replace it with the file from the mediapipe 0.10.21 wheel."
        )
    return _Model(interpreter, inp["index"], {key: shapes[s] for key, s in outputs.items()})


class BlazePose:
    """Single-person BlazePose (full) tracker: call ``process`` on consecutive RGB frames.

    When the tracked region loses the person the detector runs again on the same frame (mediapipe
    waits for the next one). ``reset`` before every call gives mediapipe's static-image mode.
    The landmark network runs on ``num_threads`` XNNPACK threads, the detector on one: it runs
    beside decoding, where a second thread's waiting costs more CPU than it saves (the outputs do
    not depend on the number of threads).
    """

    name = "blazepose"
    version = "1"

    def __init__(
        self,
        model_dir: str | Path | None = None,
        num_threads: int = 2,
        min_detection: float = 0.5,
        min_presence: float = 0.5,
        fetch: bool = True,
    ) -> None:
        files = find_pose_models(model_dir, fetch=fetch)
        self.model_files = files
        self.num_threads = num_threads
        self.min_detection = min_detection
        self.min_presence = min_presence
        self._anchors = ssd_anchor_centres()
        n = len(self._anchors)
        self._detector = _load(
            files.detector,
            1,
            DETECTOR_INPUT,
            {"boxes": (1, n, 4 + 2 * NUM_KEYPOINTS), "scores": (1, n, 1)},
        )
        self._landmarker = _load(
            files.landmark,
            num_threads,
            LANDMARK_INPUT,
            {"landmarks": (1, 195), "flag": (1, 1), "heatmap": (1, 64, 64, 39)},
        )
        self._digests = (_sha256(files.detector)[:16], _sha256(files.landmark)[:16])
        self._roi: Roi | None = None
        self._time = 0.0
        self._aux_filter = OneEuroFilter(AUX_MIN_CUTOFF, AUX_BETA, AUX_DERIVATIVE_CUTOFF)

    def params(self) -> dict[str, object]:
        """What determines the output (for the cache key); threads do not."""
        return {
            "model": "full",
            "min_detection": self.min_detection,
            "min_presence": self.min_presence,
            "detector_sha256": self._digests[0],
            "landmark_sha256": self._digests[1],
        }

    def reset(self) -> None:
        """Forget the tracked person; the next frame runs the detector."""
        self._roi = None
        self._aux_filter.reset()

    def process(self, frame_rgb: np.ndarray, timestamp_s: float | None = None) -> PoseFrame:
        """The pose in one RGB frame [H, W, 3] uint8, tracking the person from the last call.

        ``timestamp_s`` (increasing) paces the smoothing of the tracked region; without it frames
        are taken to be 1/30 s apart.
        """
        if frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3 or frame_rgb.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 frame [H, W, 3], got {frame_rgb.shape}")
        frame = np.ascontiguousarray(frame_rgb)
        self._time = self._time + DEFAULT_FRAME_INTERVAL if timestamp_s is None else timestamp_s
        result = None
        if self._roi is not None:
            result = self.landmarks(frame, self._roi, tracked=True)
        if result is None:
            self._aux_filter.reset()
            detections = self.detect(frame)
            if detections:
                roi = roi_from_points(*detections[0].keypoints[:2])
                result = self.landmarks(frame, roi, tracked=False)
        if result is None:
            self._roi = None
            return _empty()
        pose, aux = result
        object_scale = 2.0 * float(np.hypot(*(aux[1] - aux[0])))
        if object_scale > 1e-6:
            aux = self._aux_filter(aux, self._time, 1.0 / object_scale)
        self._roi = roi_from_points(aux[0], aux[1])
        return pose

    def detect(self, frame: np.ndarray, region: Roi | None = None) -> list[Detection]:
        """All people the detector finds in the frame, best first; in the upright square
        ``region`` (pixels) when given, else in the whole frame letterboxed."""
        height, width = frame.shape[:2]
        if region is None:
            region = Roi(width / 2, height / 2, float(max(width, height)), 0.0)
        side = region.size
        image = crop(frame, region, DETECTOR_INPUT, cv2.BORDER_CONSTANT)
        tensor = image.astype(np.float32)[None] * np.float32(2.0 / 255.0) - np.float32(1.0)
        out = self._detector.run(tensor)
        raw = out["boxes"][0]
        scores = expit(np.clip(out["scores"][0, :, 0], -SCORE_CLIP, SCORE_CLIP))
        keep = scores >= self.min_detection
        if not keep.any():
            return []
        raw, scores, anchors = raw[keep], scores[keep], self._anchors[keep]
        # Outputs are x, y, w, h then keypoint x, y pairs, in tensor pixels relative to the anchor.
        centre = raw[:, :2] / DETECTOR_INPUT + anchors
        half = raw[:, 2:4] / DETECTOR_INPUT / 2
        boxes = np.concatenate([centre - half, centre + half], axis=1)
        kps = raw[:, 4:].reshape(-1, NUM_KEYPOINTS, 2) / DETECTOR_INPUT + anchors[:, None, :]
        # Tensor (normalised) -> frame pixels: both map through the square region.
        offset = np.array([side / 2 - region.cx, side / 2 - region.cy], dtype=np.float64)
        results = []
        for box, points, score in weighted_nms(boxes, kps, scores):
            box_px = (box.reshape(2, 2) * side - offset).reshape(4)
            results.append(Detection(box_px, points * side - offset, score))
        return results

    def landmarks(
        self, frame: np.ndarray, roi: Roi, tracked: bool
    ) -> tuple[PoseFrame, np.ndarray] | None:
        """Landmarks inside ``roi`` and the two auxiliary points [2, 2] (hip centre, scale point)
        that place the next region, or None if nobody is there."""
        if roi.size < 1.0:
            return None
        image = crop(frame, roi, LANDMARK_INPUT, cv2.BORDER_REPLICATE)
        tensor = image.astype(np.float32)[None] * np.float32(1.0 / 255.0)
        out = self._landmarker.run(tensor)
        score = float(out["flag"][0, 0])
        if score < self.min_presence:
            return None
        raw = out["landmarks"][0].reshape(-1, 5).astype(np.float64)
        xy = refine_on_heatmap(raw[:, :2] / LANDMARK_INPUT, out["heatmap"][0])
        points = project(xy[: NUM_LANDMARKS + 2], roi)
        landmarks = np.empty((NUM_LANDMARKS, 5), dtype=np.float32)
        landmarks[:, :2] = points[:NUM_LANDMARKS]
        landmarks[:, 2] = raw[:NUM_LANDMARKS, 2] / LANDMARK_INPUT * roi.size
        landmarks[:, 3] = expit(raw[:NUM_LANDMARKS, 3])
        landmarks[:, 4] = expit(raw[:NUM_LANDMARKS, 4])
        height, width = frame.shape[:2]
        x0, y0 = np.clip(points[:NUM_LANDMARKS].min(0), 0, [width, height])
        x1, y1 = np.clip(points[:NUM_LANDMARKS].max(0), 0, [width, height])
        coco = landmarks[list(BLAZEPOSE_TO_COCO)][:, [0, 1, 3]]
        pose = PoseFrame(
            landmarks33=landmarks,
            coco17=np.ascontiguousarray(coco),
            detected=True,
            box=(float(x0), float(y0), float(x1), float(y1)),
            score=score,
            roi=roi,
            tracked=tracked,
        )
        return pose, points[NUM_LANDMARKS : NUM_LANDMARKS + 2]


def _empty() -> PoseFrame:
    return PoseFrame(
        landmarks33=np.zeros((NUM_LANDMARKS, 5), dtype=np.float32),
        coco17=np.zeros((len(BLAZEPOSE_TO_COCO), 3), dtype=np.float32),
        detected=False,
    )
