"""Skeleton backend: BlazePose, stored as COCO-17 and the raw 33 landmarks.

Fed frame by frame (``start`` / ``update`` / ``finish``) it follows whoever the single-person
tracker finds; after ``follow_subject`` (what the extraction does) the same frames go to the
people layer instead: everyone tracked over the whole clip, the landmarks on the chosen subject
only.
Coordinates are in pixels of the displayed video (rotation applied, before any down-scaling).
A video in which nobody is ever detected gives a *missing* track ("no person detected", or "no
person found" through the people layer).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from engine.extract.registry import FrameBackend, StreamInfo
from engine.extract.tracks import FeatureRows, Track, displayed_box

NO_PERSON = "no person detected"
COCO_HIPS = (11, 12)
COCO_SHOULDERS = (5, 6)


class SkeletonBackend(FrameBackend):
    finds_person = True
    tracks_people = True
    modality = "skeleton"
    name = "blazepose"

    def __init__(
        self,
        device: str = "cpu",
        short_side: int | None = 480,
        model_dir: str | None = None,
        num_threads: int = 2,
        min_detection: float = 0.5,
        min_presence: float = 0.5,
        fetch: bool = True,
    ) -> None:
        from engine.extract.blazepose import BlazePose

        self.device = "cpu"  # LiteRT runs the .tflite files on the CPU
        self.short_side = short_side
        self.pose = BlazePose(
            model_dir=model_dir,
            num_threads=num_threads,
            min_detection=min_detection,
            min_presence=min_presence,
            fetch=fetch,
        )
        self.version = f"2+blazepose{self.pose.version}"  # 2: smoothing paced by frame times
        self._rows: list[tuple] = []
        self._stream: StreamInfo | None = None
        self._subject: tuple | None = None  # set by follow_subject

    def params(self) -> dict[str, Any]:
        return {"short_side": self.short_side, **self.pose.params()}

    def follow_subject(
        self,
        frames,
        sha256: str,
        person: str | None = None,
        handovers: Iterable[tuple[float, int]] = (),
        cache=None,
        use_cache: bool = True,
        progress=None,
        cancel=None,
        then=None,
    ) -> None:
        """From now on the fed frames go to the people layer (everyone detected and tracked) and
        ``finish`` returns the chosen subject's skeleton (landmarks on ``frames``, the
        ``engine.media.kept.KeptFrames`` whose pass feeds this backend, replayed); its ``meta``
        holds ``people`` and ``subject`` (the people layer's ``to_dict()``). ``progress``
        hears the landmark pass, the second half of the work. ``finish`` raises InputError
        for an unknown id or a point on nobody. ``then(frame, box)`` hears each replayed frame
        with the subject's box (displayed pixels) or None once its landmarks are done."""
        from engine.people.api import PeopleFinder

        finder = PeopleFinder(frames, self.pose, sha256, cache=cache, use_cache=use_cache)
        self._subject = (finder, person, handovers, progress, cancel, then)
        self.frame_share = 0.5

    def start(self, stream: StreamInfo) -> None:
        self.pose.reset()
        self._rows = []
        self._stream = stream

    def update(self, frame) -> None:
        if self._subject is not None:
            self._subject[0].add(frame)
            return
        result = self.pose.process(frame.image, frame.time)
        box = np.array(result.box if result.box is not None else (np.nan,) * 4, np.float32)
        self._rows.append((frame.index, frame.time, result, box))

    def last_box(self) -> tuple[float, ...] | None:
        """The person's box in the frame just processed (displayed pixels), or None."""
        return displayed_box(self._rows[-1][3], self._stream.scale) if self._rows else None

    def finish(self) -> Track:
        if self._subject is not None:
            return self._finish_subject()
        scale = self._stream.scale if self._stream else 1.0
        n = len(self._rows)
        coco = np.zeros((n, 17, 3), np.float32)
        raw = np.zeros((n, 33, 5), np.float32)
        for i, (_, _, result, _) in enumerate(self._rows):
            coco[i] = result.coco17
            raw[i] = result.landmarks33
        coco[..., :2] *= scale
        raw[..., :3] *= scale
        detected = np.array([r[2].detected for r in self._rows], bool)
        boxes = np.stack([r[3] for r in self._rows]) * scale if n else np.zeros((0, 4), np.float32)
        rate = float(detected.mean()) if n else 0.0
        track = Track(
            modality=self.modality,
            backend=self.name,
            version=self.version,
            params=self.params(),
            status="ok" if rate > 0 else "missing",
            reason="" if rate > 0 else NO_PERSON,
            times=np.array([r[1] for r in self._rows], np.float64),
            arrays={
                "coco17": coco,
                "landmarks33": raw,
                "detected": detected,
                "box": boxes.astype(np.float32),
                "frame_index": np.array([r[0] for r in self._rows], np.int64),
            },
            meta={"detection_rate": round(rate, 4), "layout": "coco17 x,y,conf; blazepose33"},
        )
        self._rows = []
        return track

    def _finish_subject(self) -> Track:
        from engine.people.api import follow

        finder, person, handovers, progress, cancel, then = self._subject
        found = follow(
            finder.frames,
            finder.finish(),
            person,
            handovers,
            pose=self.pose,
            progress=progress,
            cancel=cancel,
            cache=finder.cache,
            then=then,
        )
        track = found.tracks["subject"]
        track.meta.update(found.to_dict())
        return track


def skeleton_rows(track: Track) -> tuple[np.ndarray, np.ndarray]:
    """[N, 51] (x, y centred on the hips and divided by the body size, confidence) and [N] valid
    (a person was detected; the rows of the other frames are zeros).

    The body size is the larger of the box diagonal and the hip-shoulder distance, so the rows do
    not depend on where the person stands or how far the camera is.
    """
    coco = track["coco17"].astype(np.float64)
    detected = track["detected"].astype(bool)
    xy, conf = coco[..., :2], coco[..., 2:]
    hips = xy[:, list(COCO_HIPS)].mean(axis=1)
    shoulders = xy[:, list(COCO_SHOULDERS)].mean(axis=1)
    torso = np.linalg.norm(shoulders - hips, axis=1)
    extent = np.linalg.norm(xy.max(axis=1) - xy.min(axis=1), axis=1)
    size = np.maximum(np.maximum(torso, extent / 2), 1e-6)
    rel = (xy - hips[:, None]) / size[:, None, None]
    rows = np.concatenate([rel, conf], axis=2).reshape(len(coco), -1)
    rows[~detected] = 0.0
    return rows.astype(np.float32), detected


def feature_rows(track: Track) -> FeatureRows:
    """Skeleton tracks of every pose backend: ``skeleton_rows``, valid where detected."""
    rows, valid = skeleton_rows(track)
    return FeatureRows(rows, valid, np.asarray(track.times, np.float64))
