"""``People``: every tracked person's body box on every sampled frame of a clip."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.extract.tracks import Track

MODALITY = "people"


def nearest(times: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The index into the sorted ``times`` of the entry nearest each of ``at``."""
    later = np.searchsorted(times, at).clip(0, len(times) - 1)
    earlier = (later - 1).clip(0)
    return np.where(np.abs(times[earlier] - at) < np.abs(times[later] - at), earlier, later)


def holds(boxes: np.ndarray, x, y) -> np.ndarray:
    """Whether the boxes [..., 4] (x0, y0, x1, y1) hold the point x, y (broadcast); NaN boxes
    hold nothing."""
    return (boxes[..., 0] <= x) & (x <= boxes[..., 2]) & (boxes[..., 1] <= y) & (y <= boxes[..., 3])


@dataclass(frozen=True)
class People:
    """Tracked people on the sampled frames of a video, in upright video pixels.

    ``boxes`` [frames, people, 4] (x0, y0, x1, y1, NaN where the person is not seen),
    ``keypoints`` [frames, people, 4, 2] the detector's hip centre, body scale point, shoulder
    centre and upper-body scale point, ``scores`` [frames, people] the detector's score (0 where
    not detected: boxes across short gaps are interpolated). Person
    ``ids[k]`` is column k. ``image_size`` is (width, height) of the upright video.
    """

    times: np.ndarray
    frame_index: np.ndarray
    ids: tuple[int, ...]
    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    image_size: tuple[int, int]

    @property
    def present(self) -> np.ndarray:
        """[frames, people] True where the person was detected."""
        return np.isfinite(self.boxes[..., 0])

    def column(self, person: int) -> int:
        return self.ids.index(person)

    def row_at(self, time_s: float) -> int:
        """The sampled frame nearest ``time_s``."""
        return int(np.argmin(np.abs(self.times - time_s)))

    def boxes_at(self, time_s: float) -> list[dict]:
        """``[{id, box}]`` of the people on the sampled frame nearest ``time_s`` (for a "People"
        overlay and for messages)."""
        row = self.row_at(time_s)
        return [
            {"id": person, "box": [round(float(v), 1) for v in self.boxes[row, k]]}
            for k, person in enumerate(self.ids)
            if self.present[row, k]
        ]

    def summary(self) -> list[dict]:
        """``[{id, first_s, last_s, coverage, box}]``: coverage is the fraction of sampled frames
        the person is seen on, box their median box (upright video pixels)."""
        out = []
        for k, person in enumerate(self.ids):
            seen = self.present[:, k]
            rows = np.flatnonzero(seen)
            box = np.median(self.boxes[rows, k], axis=0)
            out.append(
                {
                    "id": person,
                    "first_s": round(float(self.times[rows[0]]), 3),
                    "last_s": round(float(self.times[rows[-1]]), 3),
                    "coverage": round(float(seen.mean()), 4),
                    "box": [round(float(v), 1) for v in box],
                }
            )
        return out

    def to_track(self, version: str, params: dict) -> Track:
        return Track(
            modality=MODALITY,
            backend="blazepose-detector",
            version=version,
            params=params,
            times=self.times,
            arrays={
                "ids": np.asarray(self.ids, np.int64),
                "boxes": self.boxes.astype(np.float32),
                "keypoints": self.keypoints.astype(np.float32),
                "scores": self.scores.astype(np.float32),
                "frame_index": self.frame_index.astype(np.int64),
            },
            meta={"image_size": list(self.image_size), "people": len(self.ids)},
        )

    @classmethod
    def from_track(cls, track: Track) -> People:
        return cls(
            times=np.asarray(track.times, np.float64),
            frame_index=track["frame_index"],
            ids=tuple(int(v) for v in track["ids"]),
            boxes=track["boxes"].astype(np.float64),
            keypoints=track["keypoints"].astype(np.float64),
            scores=track["scores"].astype(np.float64),
            image_size=tuple(int(v) for v in track.meta["image_size"]),
        )
