"""A skeleton sequence in COCO-17 and the body geometry derived from it.

Image coordinates: x to the right, y downwards (pixels). A joint whose confidence is below
``min_confidence`` (or on a frame where nobody was detected) is NaN in every derived quantity, so
gaps stay visible instead of being filled with a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from engine.coco import JOINT
from engine.errors import InputError

MIN_CONFIDENCE = 0.3


@dataclass(frozen=True)
class SkeletonSeries:
    """COCO-17 keypoints [frames, 17, 3] (x, y pixels, confidence), their times [frames] in
    seconds (any spacing: variable frame rates are fine), a detected flag [frames] and the image
    size (width, height) in the same pixels."""

    keypoints: np.ndarray
    times: np.ndarray
    detected: np.ndarray
    image_size: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        kp = np.asarray(self.keypoints, dtype=np.float64)
        times = np.asarray(self.times, dtype=np.float64)
        detected = np.asarray(self.detected, dtype=bool)
        if kp.ndim != 3 or kp.shape[1:] != (17, 3):
            raise InputError(
                f"A skeleton must be [frames, 17, 3] COCO-17 keypoints, not {kp.shape}."
            )
        if times.shape != (len(kp),) or detected.shape != (len(kp),):
            raise InputError("A skeleton needs one time and one detected flag per frame.")
        if len(times) > 1 and np.any(np.diff(times) <= 0):
            raise InputError("Skeleton frame times must increase.")
        object.__setattr__(self, "keypoints", kp)
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "detected", detected)

    @classmethod
    def from_track(cls, track, image_size: tuple[int, int] | None = None) -> SkeletonSeries:
        """From a skeleton ``engine.extract.tracks.Track`` (arrays ``coco17`` and ``detected``).
        Frames whose time does not increase (a damaged file's repeated timestamps) are left out.
        """
        times = np.asarray(track.times, dtype=np.float64)
        keep = np.ones(len(times), bool)
        if len(times) > 1:
            keep[1:] = times[1:] > np.maximum.accumulate(times)[:-1]
        size = image_size or tuple(track.meta.get("image_size") or (0, 0))
        return cls(
            track["coco17"][keep], times[keep], track["detected"][keep], tuple(int(v) for v in size)
        )

    @property
    def frames(self) -> int:
        return len(self.times)

    @property
    def duration_s(self) -> float:
        """From the first frame to the end of the last one (the last frame lasts one median step)."""
        if self.frames == 0:
            return 0.0
        return float(self.times[-1] - self.times[0] + self.frame_step)

    @property
    def frame_step(self) -> float:
        """The median time between frames (1/30 s for a single frame)."""
        return float(np.median(np.diff(self.times))) if self.frames > 1 else 1 / 30


class BodyGeometry:
    """Confident joint positions and the body points and scale the measurements use."""

    def __init__(self, series: SkeletonSeries, min_confidence: float = MIN_CONFIDENCE) -> None:
        self.series = series
        confident = (series.keypoints[..., 2] >= min_confidence) & series.detected[:, None]
        self.valid = confident  # [frames, 17]
        self.xy = np.where(confident[..., None], series.keypoints[..., :2], np.nan)

    def joint(self, name: str) -> np.ndarray:
        """[frames, 2] position of one joint, NaN where it is not confident."""
        return self.xy[:, JOINT[name]]

    def centre(self, *names: str) -> np.ndarray:
        """[frames, 2] mean of the confident joints among ``names`` (one is enough: from the side
        the far shoulder or hip is often hidden and lies close to the near one)."""
        points = np.stack([self.joint(n) for n in names])
        count = np.sum(~np.isnan(points[..., 0]), axis=0)
        total = np.nansum(points, axis=0)
        return np.where(count[:, None] > 0, total / np.maximum(count, 1)[:, None], np.nan)

    @cached_property
    def shoulders(self) -> np.ndarray:
        return self.centre("left_shoulder", "right_shoulder")

    @cached_property
    def hips(self) -> np.ndarray:
        return self.centre("left_hip", "right_hip")

    @cached_property
    def head(self) -> np.ndarray:
        """The ears' centre, or the nose on frames where no ear is confident."""
        ears = self.centre("left_ear", "right_ear")
        return np.where(np.isnan(ears), self.joint("nose"), ears)

    @cached_property
    def scale(self) -> float:
        """Body scale in pixels: the median shoulder-to-hip distance over the sequence."""
        torso = np.linalg.norm(self.shoulders - self.hips, axis=1)
        torso = torso[np.isfinite(torso) & (torso > 0)]
        if torso.size == 0:
            raise InputError(
                "No frame shows the shoulders and hips clearly enough to measure the body."
            )
        return float(np.median(torso))

    def height_above(self, points: np.ndarray, level: np.ndarray) -> np.ndarray:
        """How far ``points`` are above ``level`` in the image (upwards positive), in body scales."""
        return (level[:, 1] - points[:, 1]) / self.scale

    def height_above_axis(self, points: np.ndarray) -> np.ndarray:
        """Distance of ``points`` from the body axis (the line through the hip and shoulder
        centres) on the upper side of the image, in body scales. For a person lying down this is
        the height above the surface line, whatever the camera's tilt."""
        axis = self.shoulders - self.hips
        length = np.linalg.norm(axis, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            unit = axis / length[:, None]
        # The normal that points up the image (negative y); its sign flips with the axis direction.
        normal = np.stack([unit[:, 1], -unit[:, 0]], axis=1)
        normal = np.where((normal[:, 1] > 0)[:, None], -normal, normal)
        rel = points - self.hips
        return np.sum(rel * normal, axis=1) / self.scale
