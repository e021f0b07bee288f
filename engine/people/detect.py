"""People in one frame: BlazePose's detector over square tiles, merged into one box per person.

The detector sees a square letterboxed to 224x224, so in a wide frame people are small; square
tiles of the short side (two for 16:9) keep them large enough; to cost one detector run per
frame, consecutive frames search the tiles in turn (each is searched every second frame of a
16:9 video, and the overlap every frame). A detection's body box is the
square around the hip centre whose half-side is the distance to the full-body scale point (the
circle mediapipe's region is built from); boxes of the same person seen in two tiles are merged
by non-maximum suppression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from engine.extract.blazepose import BlazePose, Roi

MERGE_IOU = 0.4
HIST_BINS = (16, 8)  # hue, saturation


@dataclass(frozen=True)
class FramePeople:
    """The people found in one frame (pixels of the frame they were found in): body boxes
    [n, 4] (x0, y0, x1, y1), detector keypoints [n, 4, 2] (hip centre, scale point, shoulder
    centre, upper-body scale point), scores [n], colour histograms [n, 16 * 8] and the regions
    searched [r, 4] (x0, y0, x1, y1): nobody outside them can have been found."""

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    colours: np.ndarray
    searched: np.ndarray


NOBODY_SEARCHED = FramePeople(  # a frame the detector did not run on
    boxes=np.zeros((0, 4)),
    keypoints=np.zeros((0, 4, 2)),
    scores=np.zeros(0),
    colours=np.zeros((0, HIST_BINS[0] * HIST_BINS[1]), np.float32),
    searched=np.zeros((0, 4)),
)


def tiles(width: int, height: int) -> list[Roi]:
    """Square regions of the short side spread evenly along the long side (one when nearly
    square)."""
    short, long = min(width, height), max(width, height)
    count = max(1, math.ceil(long / short - 0.15))
    if count == 1:
        return [Roi(width / 2, height / 2, float(long), 0.0)]
    starts = np.linspace(short / 2, long - short / 2, count)
    if width >= height:
        return [Roi(float(c), height / 2, float(short), 0.0) for c in starts]
    return [Roi(width / 2, float(c), float(short), 0.0) for c in starts]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes a [n, 4] against b [m, 4] -> [n, m]."""
    ix = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    iy = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def colour_histogram(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Normalised hue-saturation histogram of the middle of a body box (the clothes)."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    height, width = frame.shape[:2]
    left, right = int(max(0, x0 + 0.3 * w)), int(min(width, x1 - 0.3 * w))
    top, bottom = int(max(0, y0 + 0.1 * h)), int(min(height, y1 - 0.1 * h))
    hist = np.zeros(HIST_BINS, np.float32)
    if right - left >= 2 and bottom - top >= 2:
        hsv = cv2.cvtColor(np.ascontiguousarray(frame[top:bottom, left:right]), cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1], None, list(HIST_BINS), [0, 180, 0, 256])
    total = float(hist.sum())
    return (hist / total if total > 0 else hist).reshape(-1).astype(np.float32)


def detect_people(pose: BlazePose, frame: np.ndarray, turn: int | None = None) -> FramePeople:
    """Everyone the detector finds in an RGB frame, best first, one box per person: in every
    tile, or only in tile number ``turn`` (modulo the number of tiles) when given."""
    height, width = frame.shape[:2]
    regions = tiles(width, height)
    if turn is not None:
        regions = [regions[turn % len(regions)]]
    found = [d for region in regions for d in pose.detect(frame, region)]
    found.sort(key=lambda d: -d.score)
    boxes = np.array([body_box(d.keypoints) for d in found], np.float64).reshape(-1, 4)
    keep: list[int] = []
    for i in range(len(found)):
        if not keep or box_iou(boxes[i : i + 1], boxes[keep]).max() <= MERGE_IOU:
            keep.append(i)
    colours = [colour_histogram(frame, boxes[i]) for i in keep]
    return FramePeople(
        boxes=boxes[keep],
        keypoints=np.array([found[i].keypoints for i in keep], np.float64).reshape(-1, 4, 2),
        scores=np.array([found[i].score for i in keep], np.float64),
        colours=np.array(colours, np.float32).reshape(-1, HIST_BINS[0] * HIST_BINS[1]),
        searched=np.array(
            [
                [r.cx - r.size / 2, r.cy - r.size / 2, r.cx + r.size / 2, r.cy + r.size / 2]
                for r in regions
            ]
        ),
    )


def body_box(keypoints: np.ndarray) -> np.ndarray:
    """The square around the hip centre reaching the full-body scale point."""
    centre = keypoints[0]
    radius = float(np.hypot(*(keypoints[1] - centre)))
    return np.array(
        [centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius]
    )
