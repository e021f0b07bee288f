"""One set of person ids per video, whatever the sampling.

The tracker numbers people per run, so tracking every frame of a video (the ``full`` profile)
may number them differently from tracking ten frames a second (``fast``, ``aqa tracks``, the
review window). A subject chosen by id is stored in the ids of the reference sampling
(``engine.people.api.SAMPLING``); ``relabel`` gives another run's people those ids by matching
tracks that overlap (mean IoU over the times both are seen, Hungarian assignment). A track the
reference does not have gets a new id above the reference's.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from engine.people.matching import assignment
from engine.people.people import People, nearest

MIN_IOU = 0.3  # mean overlap for two tracks to be the same person


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes [..., 4] (x0, y0, x1, y1); NaN boxes give NaN."""
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h
    area = lambda box: (box[..., 2] - box[..., 0]) * (box[..., 3] - box[..., 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def overlap(reference: People, other: People) -> np.ndarray:
    """[reference people, other people] mean IoU over the reference's sampled times on which
    both are seen (the other's nearest sampled frame); 0 when never seen together."""
    boxes = other.boxes[
        nearest(other.times, reference.times)
    ]  # [reference frames, other people, 4]
    scores = iou(reference.boxes[:, :, None, :], boxes[:, None, :, :])
    seen = np.isfinite(scores)
    return np.where(seen.any(axis=0), np.nansum(scores, axis=0) / seen.sum(axis=0).clip(1), 0.0)


def relabel(people: People, reference: People) -> People:
    """``people`` with the ids of the same persons in ``reference``."""
    if not people.ids or not reference.ids:
        return people
    scores = overlap(reference, people)
    rows, cols = assignment(-scores)
    mapping = {
        people.ids[c]: reference.ids[r] for r, c in zip(rows, cols) if scores[r, c] >= MIN_IOU
    }
    fresh = iter(range(max(reference.ids) + 1, max(reference.ids) + 1 + len(people.ids)))
    ids = tuple(mapping.get(p) or next(fresh) for p in people.ids)
    return replace(people, ids=ids)
