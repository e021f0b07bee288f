"""Optical-flow backend: dense flow between consecutive fed frames, summarised per frame.

Flow is computed on grey images scaled to ``short_side`` (DIS by default; Farneback with OpenCV's
reference parameters, the method DualAlign names). Each frame's row of statistics, in velocity
units of short sides per second (so independent of resolution and frame rate):

- per cell of a ``grid`` (rows x cols): an orientation histogram of ``bins`` bins weighted by the
  speed and divided by the cell's pixel count (its sum is the cell's mean speed);
- a histogram of the speeds over the whole frame (fractions of pixels, log-spaced edges);
- mean velocity x, y and mean speed.

The first frame has no predecessor: its row is zero and ``valid`` is False.

When the extraction follows a subject, the same figures are also computed inside the subject's
box (``SubjectFlow``: the square around the box, in the frame and in the one before it, shrunk to
``BOX_SIDE`` pixels; speeds still in short sides of the frame per second), stored as
``subject_stats`` / ``subject_valid`` (valid where the subject was seen in both frames). The
feature rows hold the whole-frame figures, followed by the in-box ones with the option
``subject=True``.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from engine.extract.registry import FrameBackend, StreamInfo
from engine.extract.rgb import BoxSource, LiveBoxes, boxes_from_skeleton, crop_square
from engine.extract.tracks import FeatureRows, Track
from engine.media.decode import scaled_size

# Speed histogram edges in short sides per second (the last bin is open-ended).
SPEED_EDGES = (0.0, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
BOX_SIDE = 64  # pixels of the square around the subject's box the in-box flow is computed on
BOX_MARGIN = 0.2
DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
# OpenCV's reference Farneback parameters (pyr_scale, levels, winsize, iterations, poly_n,
# poly_sigma); DualAlign's paper and code name the method but publish no parameters.
FARNEBACK = {
    "pyr_scale": 0.5,
    "levels": 3,
    "winsize": 15,
    "iterations": 3,
    "poly_n": 5,
    "poly_sigma": 1.2,
}


class FlowEngine:
    """Dense flow between two grey uint8 images of equal size, [H, W, 2] float32 pixels."""

    def __init__(self, method: str = "dis", preset: str = "fast") -> None:
        self.method = method
        if method == "dis":
            if preset not in DIS_PRESETS:
                raise ValueError(f"unknown DIS preset {preset!r}")
            self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])
        elif method != "farneback":
            raise ValueError(f"unknown flow method {method!r}")

    def __call__(self, prev: np.ndarray, curr: np.ndarray) -> np.ndarray:
        if self.method == "dis":
            return self._dis.calc(prev, curr, None)
        return cv2.calcOpticalFlowFarneback(prev, curr, None, flags=0, **FARNEBACK)


def to_grey(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """RGB uint8 -> grey uint8 at (width, height)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if (grey.shape[1], grey.shape[0]) != size:
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return grey


class FlowStatistics:
    """Turns a flow field into the fixed-length row described in the module docstring.

    The field is first averaged over 2x2 blocks: the histograms barely change and cost a quarter.
    """

    def __init__(self, width: int, height: int, grid: tuple[int, int], bins: int) -> None:
        self.size = (max(1, width // 2), max(1, height // 2))
        self._norm = 1.0 / min(width, height)
        width, height = self.size
        rows, cols = grid
        self.bins = bins
        self.cells = rows * cols
        cell_y = np.minimum(np.arange(height) * rows // height, rows - 1)
        cell_x = np.minimum(np.arange(width) * cols // width, cols - 1)
        self._cell = (cell_y[:, None] * cols + cell_x[None, :]).ravel() * bins
        self._cell_pixels = np.bincount(self._cell // bins, minlength=self.cells).astype(np.float64)

    @property
    def dim(self) -> int:
        return self.cells * self.bins + len(SPEED_EDGES) + 3

    def __call__(self, flow: np.ndarray, dt: float, norm: float | None = None) -> np.ndarray:
        """``norm``: short sides per flow pixel (default: this field's own short side)."""
        flow = cv2.resize(flow, self.size, interpolation=cv2.INTER_AREA)
        k = (self._norm if norm is None else norm) / dt
        speed, angle = cv2.cartToPolar(flow[..., 0], flow[..., 1])
        speed, angle = speed.ravel() * k, angle.ravel()
        orient = np.minimum((angle * (self.bins / (2 * np.pi))).astype(np.int64), self.bins - 1)
        hist = np.bincount(self._cell + orient, weights=speed, minlength=self.cells * self.bins)
        hist = hist.reshape(self.cells, self.bins) / self._cell_pixels[:, None]
        speeds = np.bincount(np.digitize(speed, SPEED_EDGES[1:]), minlength=len(SPEED_EDGES))
        means = flow.reshape(-1, 2).mean(axis=0) * k
        return np.concatenate([hist.ravel(), speeds / speed.size, means, [speed.mean()]]).astype(
            np.float32
        )


def flow_to_rgb(flow: np.ndarray, max_speed: float | None = None) -> np.ndarray:
    """The usual colour picture of a flow field: hue = direction, brightness = speed."""
    speed, angle = cv2.cartToPolar(flow[..., 0], flow[..., 1])
    top = max_speed if max_speed else max(float(np.percentile(speed, 99)), 1e-6)
    hsv = np.empty((*flow.shape[:2], 3), np.uint8)
    hsv[..., 0] = (angle * (90 / np.pi)).astype(np.uint8)
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(speed * (255 / top), 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


class FlowBackend(FrameBackend):
    modality = "flow"
    version = "1"
    subject_figures = True
    subject = False
    subject_key: str | None = None
    subject_flow: SubjectFlow | None = None

    def __init__(
        self,
        device: str = "cpu",
        method: str = "dis",
        short_side: int = 256,
        preset: str = "fast",
        grid: tuple[int, int] = (4, 4),
        bins: int = 8,
        subject: bool = False,
    ) -> None:
        self.device = "cpu"
        self.subject = bool(subject)
        self.method = method
        self.name = method
        self.flow_side = short_side
        self.short_side = short_side
        self.preset = preset
        self.grid = tuple(grid)
        self.bins = bins
        self.engine = FlowEngine(method, preset)

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "method": self.method,
            "short_side": self.flow_side,
            "grid": list(self.grid),
            "bins": self.bins,
            "speed_edges": list(SPEED_EDGES),
        }
        if self.method == "dis":
            params["preset"] = self.preset
        else:
            params.update(FARNEBACK)
        if self.subject:
            params["subject"] = True
        if self.subject_key is not None:
            params["subject_boxes"] = self.subject_key
        return params

    def follow_subject(self, key: str, boxes: Track | None = None) -> None:
        """Also the figures inside the boxes of the skeleton whose cache key is ``key``: in this
        pass from its finished track ``boxes``, or later by ``subject_flow_for(track)`` (a backend
        fed the same frames again) whose result ``add_subject`` puts into the flow track."""
        self.subject_key = key
        self.subject_flow = None if boxes is None else self.subject_flow_for(boxes)

    def subject_flow_for(self, boxes: Track | LiveBoxes) -> SubjectFlow:
        return SubjectFlow(self.method, self.preset, self.grid, self.bins, boxes)

    def start(self, stream: StreamInfo) -> None:
        if self.subject_flow is not None:
            self.subject_flow.start(stream)
        self.size = scaled_size(stream.width, stream.height, self.flow_side)
        self.stats = FlowStatistics(*self.size, grid=self.grid, bins=self.bins)
        self._prev: tuple[np.ndarray, float] | None = None
        self._rows: list[np.ndarray] = []
        self._times: list[float] = []
        self._index: list[int] = []
        self._valid: list[bool] = []
        self._fps = stream.fps or 30.0

    def update(self, frame) -> None:
        if self.subject_flow is not None:
            self.subject_flow.update(frame)
        grey = to_grey(frame.image, self.size)
        if self._prev is None:
            row, valid = np.zeros(self.stats.dim, np.float32), False
        else:
            prev, prev_time = self._prev
            dt = frame.time - prev_time
            dt = dt if dt > 1e-6 else 1.0 / self._fps
            row, valid = self.stats(self.engine(prev, grey), dt), True
        self._prev = (grey, frame.time)
        self._rows.append(row)
        self._times.append(frame.time)
        self._index.append(frame.index)
        self._valid.append(valid)

    def finish(self) -> Track:
        rows = np.stack(self._rows) if self._rows else np.zeros((0, self.stats.dim), np.float32)
        valid = np.array(self._valid, bool)
        enough = bool(valid.any())
        cells = self.stats.cells * self.bins
        track = Track(
            modality=self.modality,
            backend=self.name,
            version=self.version,
            params=self.params(),
            status="ok" if enough else "missing",
            reason="" if enough else "fewer than two frames, so no motion",
            times=np.array(self._times, np.float64),
            arrays={
                "stats": rows,
                "valid": valid,
                "frame_index": np.array(self._index, np.int64),
            },
            meta={
                "flow_size": list(self.size),
                "layout": {
                    "orientation_histograms": [0, cells],
                    "speed_histogram": [cells, cells + len(SPEED_EDGES)],
                    "mean_velocity_xy": [cells + len(SPEED_EDGES), cells + len(SPEED_EDGES) + 2],
                    "mean_speed": [self.stats.dim - 1, self.stats.dim],
                },
            },
        )
        self._rows, self._prev = [], None
        if self.subject_flow is not None:
            add_subject(track, self.subject_flow.finish())
        return track


def add_subject(track: Track, subject: Track) -> None:
    """Put the in-box figures of a ``SubjectFlow`` run into the flow ``track``."""
    if len(subject.times) != len(track.times):
        raise ValueError("the subject's flow saw other frames than the flow track")
    track.arrays.update(subject.arrays)


class SubjectFlow(FrameBackend):
    """The flow figures inside the subject's box, frame by frame (see the module docstring);
    ``boxes``: the subject's skeleton track, or the ``LiveBoxes`` it feeds. ``finish`` gives a
    track holding ``subject_stats`` and ``subject_valid``."""

    modality = "flow"
    name = "subject-box"
    version = "1"

    def __init__(self, method: str, preset: str, grid: tuple[int, int], bins: int, boxes) -> None:
        self.engine = FlowEngine(method, preset)
        self.stats = FlowStatistics(BOX_SIDE, BOX_SIDE, grid=grid, bins=bins)
        self.boxes: BoxSource = (
            boxes if isinstance(boxes, LiveBoxes) else boxes_from_skeleton(boxes)
        )

    def params(self) -> dict[str, Any]:
        return {"box_side": BOX_SIDE, "margin": BOX_MARGIN}

    def start(self, stream: StreamInfo) -> None:
        self._scale = stream.scale or 1.0
        self._short = float(min(stream.width, stream.height))
        self._fps = stream.fps or 30.0
        self._prev: tuple[np.ndarray, float] | None = None
        self._rows: list[np.ndarray] = []
        self._valid: list[bool] = []
        self._times: list[float] = []

    def update(self, frame) -> None:
        box = self.boxes(frame)
        row, valid = np.zeros(self.stats.dim, np.float32), False
        if box is not None and self._prev is not None:
            fed = [v / self._scale for v in box]
            after, square = crop_square(frame.image, fed, BOX_SIDE, BOX_MARGIN)
            before, _ = crop_square(self._prev[0], fed, BOX_SIDE, BOX_MARGIN)
            dt = frame.time - self._prev[1]
            dt = dt if dt > 1e-6 else 1.0 / self._fps
            flow = self.engine(to_grey(before, (BOX_SIDE,) * 2), to_grey(after, (BOX_SIDE,) * 2))
            # Flow pixels of the crop -> short sides of the frame.
            norm = (square[2] - square[0]) / BOX_SIDE / self._short
            row, valid = self.stats(flow, dt, norm), True
        self._prev = (frame.image, frame.time)
        self._rows.append(row)
        self._valid.append(valid)
        self._times.append(frame.time)

    def finish(self) -> Track:
        rows = np.stack(self._rows) if self._rows else np.zeros((0, self.stats.dim), np.float32)
        return Track(
            modality=self.modality,
            backend=self.name,
            version=self.version,
            params=self.params(),
            times=np.array(self._times, np.float64),
            arrays={"subject_stats": rows, "subject_valid": np.array(self._valid, bool)},
        )


def feature_rows(track: Track) -> FeatureRows:
    """Flow tracks: the statistics row of each frame pair, valid where the flow was computed;
    with the option ``subject`` followed by the figures inside the subject's box (zeros where
    the subject was not seen or none was followed)."""
    rows = track["stats"].astype(np.float32)
    if track.params.get("subject"):
        inside = track.arrays.get("subject_stats")
        inside = np.zeros_like(rows) if inside is None else inside.astype(np.float32)
        rows = np.concatenate([rows, inside], axis=1)
    return FeatureRows(rows, track["valid"].astype(bool), np.asarray(track.times, np.float64))
