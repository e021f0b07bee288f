"""BlazePose landmarks for chosen people, each on their own region only.

A person's region comes from their own landmarks on the previous sampled frame (as the
single-person tracker does) while those still land on them, else from their own detection on
this frame. Another person's detection never seeds it: a tracked region that drifts onto
someone else is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from engine.extract.blazepose import (
    AUX_BETA,
    AUX_DERIVATIVE_CUTOFF,
    AUX_MIN_CUTOFF,
    NUM_LANDMARKS,
    OneEuroFilter,
    Roi,
    roi_from_points,
)
from engine.extract.skeleton import NO_PERSON
from engine.extract.tracks import Track
from engine.media.decode import Frame
from engine.people.people import People

NO_SUBJECT = "no person found"


class _Follower:
    """One wanted sequence's region and smoothing state."""

    def __init__(self) -> None:
        self.roi: Roi | None = None
        self.person = 0
        self.filter = OneEuroFilter(AUX_MIN_CUTOFF, AUX_BETA, AUX_DERIVATIVE_CUTOFF)

    def drop(self) -> None:
        self.roi = None
        self.filter.reset()


def _on_person(hip: np.ndarray, people: People, row: int, k: int, scale: float) -> bool:
    """Whether a hip centre (frame pixels) belongs to person column ``k`` at ``row``: inside
    their box when they are seen, else not nearer anybody else's box centre."""
    boxes = people.boxes[row] / scale
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    radius = (boxes[:, 2] - boxes[:, 0]) / 2
    seen = people.present[row]
    if seen[k]:
        return bool(np.linalg.norm(hip - centres[k]) <= radius[k])
    others = np.flatnonzero(seen)
    return not any(np.linalg.norm(hip - centres[j]) <= 0.5 * radius[j] for j in others)


def _landmarks(frame, row, people, wanted, followers, out, pose, scale) -> None:
    """One sampled frame's landmarks for every wanted sequence, into ``out``'s rows."""
    image = np.ascontiguousarray(frame.image)
    for key, ids in wanted.items():
        follower = followers[key]
        person = int(ids[row])
        if person not in people.ids:
            follower.drop()
            continue
        k = people.column(person)
        if follower.person != person:
            follower.drop()
            follower.person = person
        result = None
        if follower.roi is not None:
            result = pose.landmarks(image, follower.roi, tracked=True)
            if result is not None and not _on_person(result[1][0], people, row, k, scale):
                result = None
        if result is None:
            follower.filter.reset()
            if people.present[row, k]:
                kps = people.keypoints[row, k] / scale
                result = pose.landmarks(image, roi_from_points(kps[0], kps[1]), tracked=False)
        if result is None:
            follower.drop()
            continue
        found, aux = result
        object_scale = 2.0 * float(np.hypot(*(aux[1] - aux[0])))
        if object_scale > 1e-6:
            aux = follower.filter(aux, frame.time, 1.0 / object_scale)
        follower.roi = roi_from_points(aux[0], aux[1])
        arrays = out[key]
        arrays["coco17"][row] = found.coco17
        arrays["landmarks33"][row] = found.landmarks33
        arrays["detected"][row] = True
        arrays["box"][row] = found.box


def pose_tracks(
    frames: Iterable[Frame],
    people: People,
    wanted: dict[str, np.ndarray],
    pose,
    scale: float,
    then: Callable[[Frame, tuple[float, ...] | None], None] | None = None,
) -> dict[str, Track]:
    """For each key of ``wanted`` ([frames] person id per sampled frame, 0 = nobody), the
    skeleton ``Track`` of that sequence of people (the format of ``SkeletonBackend``).

    ``frames`` are the sampled frames ``people`` was found on (matched by frame index);
    ``scale`` maps their pixels to upright video pixels. ``then(frame, box)`` hears each frame
    once it is done, with the ``"subject"`` sequence's box (upright video pixels, as in its
    track) or None.
    """
    rows = {int(index): r for r, index in enumerate(people.frame_index)}
    n = len(people.times)
    out = {
        key: {
            "coco17": np.zeros((n, 17, 3), np.float32),
            "landmarks33": np.zeros((n, NUM_LANDMARKS, 5), np.float32),
            "detected": np.zeros(n, bool),
            "box": np.full((n, 4), np.nan, np.float32),
        }
        for key in wanted
    }
    followers = {key: _Follower() for key in wanted}
    for frame in frames:
        row = rows.get(frame.index)
        if row is not None:
            _landmarks(frame, row, people, wanted, followers, out, pose, scale)
        if then is not None:
            found = row is not None and "subject" in out and out["subject"]["detected"][row]
            box = out["subject"]["box"][row] * np.float32(scale) if found else None
            then(frame, None if box is None else tuple(float(v) for v in box))
    tracks = {}
    for key, arrays in out.items():
        arrays["coco17"][..., :2] *= scale
        arrays["landmarks33"][..., :3] *= scale
        arrays["box"] *= scale
        rate = float(arrays["detected"].mean()) if n else 0.0
        anybody = bool(np.isin(wanted[key], people.ids).any())
        tracks[key] = Track(
            modality="skeleton",
            backend="blazepose",
            version=f"1+blazepose{pose.version}+people",
            params=pose.params(),
            status="ok" if rate > 0 else "missing",
            reason="" if rate > 0 else (NO_PERSON if anybody else NO_SUBJECT),
            times=people.times.copy(),
            arrays={
                **arrays,
                "frame_index": people.frame_index.copy(),
                "person": np.asarray(wanted[key], np.int64),
            },
            meta={
                "detection_rate": round(rate, 4),
                "layout": "coco17 x,y,conf; blazepose33",
                "image_size": list(people.image_size),
            },
        )
    return tracks
