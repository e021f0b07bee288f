"""Offline multi-person tracking: per-frame links into tracklets, then tracklets stitched.

1. *Link.* Each open tracklet predicts its body box at the next sampled frame (constant
   velocity from its last two boxes); the cost of giving it a detection is the distance between
   the centres in body radii plus the log-ratio of the sizes; an optimal assignment
   (``engine.people.matching``) finds the cheapest links, and a link costing more than
   ``LINK_GATE`` is refused. A tracklet not seen for ``MAX_GAP_S`` is closed; a detection left
   over opens a new one. When two people cross, the detector sees one box: a tracklet left
   without a box although one was within its gate (taken by another) closes together with that
   other one, and the shared box opens a *merged* tracklet (nobody's, dropped) that closes when
   it finds two boxes again or after ``MERGED_MAX_S``; who is who after the crossing is left to
   stitching, which compares motion before and colours. Only the tracklets expected inside the
   regions searched on a frame take part in its links.
2. *Stitch.* The whole clip is known, so a tracklet that ends is joined to one that starts
   later (within ``STITCH_S``) when the later one begins where the first was heading, at a
   similar size, in similar colours (Bhattacharyya distance of hue-saturation histograms).
   One assignment over all (end, start) pairs gives each tracklet at most one successor.
3. Tracks seen on fewer than ``MIN_FRAMES`` frames (or all of a shorter clip's) are dropped
   (detector noise); ids are
   1, 2, ... in order of first appearance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.people.detect import FramePeople
from engine.people.matching import assignment, groups

MAX_GAP_S = 0.5
LINK_GATE = 1.0
STITCH_S = 4.0
STITCH_GATE = 1.6
COLOUR_GATE = 0.55
MIN_FRAMES = 3
MERGED_MAX_S = 1.0
REFUSED = 1e6


@dataclass
class Tracklet:
    """Frame numbers (rows of the sampled frames) and the detection index on each."""

    frames: list[int] = field(default_factory=list)
    detections: list[int] = field(default_factory=list)
    centres: list[np.ndarray] = field(default_factory=list)
    radii: list[float] = field(default_factory=list)
    merged: bool = False  # a box two people shared while crossing: nobody's

    def add(self, frame: int, detection: int, box: np.ndarray) -> None:
        self.frames.append(frame)
        self.detections.append(detection)
        self.centres.append((box[:2] + box[2:]) / 2)
        self.radii.append(float(box[2] - box[0]) / 2)

    def velocity(self, times: np.ndarray, end: bool = True, span_s: float = 0.5) -> np.ndarray:
        """Pixels per second over the last (or first) ``span_s`` of the tracklet."""
        idx = range(len(self.frames)) if not end else range(len(self.frames) - 1, -1, -1)
        idx = list(idx)
        first = idx[0]
        other = first
        for i in idx[1:]:
            if abs(times[self.frames[i]] - times[self.frames[first]]) > span_s:
                break
            other = i
        dt = times[self.frames[first]] - times[self.frames[other]]
        if other == first or dt == 0:
            return np.zeros(2)
        return (self.centres[first] - self.centres[other]) / dt

    def predict(self, times: np.ndarray, time_s: float) -> tuple[np.ndarray, float]:
        """Centre and radius expected at ``time_s`` after the tracklet's end (where it was
        last for a merged tracklet: its box moves as two people's do, not as one's)."""
        if self.merged:
            return self.centres[-1], self.radii[-1]
        dt = time_s - times[self.frames[-1]]
        return self.centres[-1] + self.velocity(times) * min(dt, 1.0), self.radii[-1]


def link(times: np.ndarray, frames: list[FramePeople]) -> list[Tracklet]:
    """Tracklets from the detections of every sampled frame (boxes in one pixel space)."""
    done: list[Tracklet] = []
    open_: list[Tracklet] = []
    for f, people in enumerate(frames):
        still = [t for t in open_ if times[f] - times[t.frames[-1]] <= MAX_GAP_S]
        done += [t for t in open_ if t not in still]
        open_ = still
        boxes = people.boxes
        # Only tracklets expected inside the regions searched on this frame take part.
        expected = [t for t in open_ if _inside(t.predict(times, times[f])[0], people.searched)]
        waiting = [t for t in open_ if not any(t is e for e in expected)]
        open_ = expected
        cost = link_costs(open_, boxes, times, times[f])
        owner: dict[int, int] = {}
        if cost.size:
            for i, j in zip(*assignment(cost), strict=True):
                if cost[i, j] < REFUSED:
                    owner[j] = i
        gated = cost < REFUSED
        closing = set()
        merged = set()
        for i, track in enumerate(open_):
            if track.merged and (
                gated[i].sum() >= 2 or times[f] - times[track.frames[0]] > MERGED_MAX_S
            ):
                closing.add(i)  # the people it stood for are apart again
            elif i not in owner.values():
                rivals = {owner[j] for j in np.flatnonzero(gated[i]) if j in owner}
                if rivals:  # its person went into someone else's box: a crossing
                    closing |= {i, *rivals}
                    merged |= {j for j in owner if owner[j] in rivals}
        for j, i in owner.items():
            if i not in closing:
                open_[i].add(f, j, boxes[j])
        done += [open_[i] for i in sorted(closing)]
        open_ = [t for i, t in enumerate(open_) if i not in closing] + waiting
        for j in range(len(boxes)):
            if j not in owner or owner[j] in closing:
                track = Tracklet(merged=j in merged)
                track.add(f, j, boxes[j])
                open_.append(track)
    return sorted(done + open_, key=lambda t: t.frames[0])


def _inside(point: np.ndarray, regions: np.ndarray) -> bool:
    x, y = point
    return bool(
        np.any(
            (regions[:, 0] <= x)
            & (x <= regions[:, 2])
            & (regions[:, 1] <= y)
            & (y <= regions[:, 3])
        )
    )


def link_costs(
    tracks: list[Tracklet], boxes: np.ndarray, times: np.ndarray, time_s: float
) -> np.ndarray:
    """[tracklets, detections] link costs, ``REFUSED`` beyond the gate."""
    cost = np.full((len(tracks), len(boxes)), REFUSED)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    radii = (boxes[:, 2] - boxes[:, 0]) / 2
    for i, track in enumerate(tracks):
        centre, radius = track.predict(times, time_s)
        scale = np.maximum((radius + radii) / 2, 1e-6)
        c = np.linalg.norm(centres - centre, axis=1) / scale
        c += np.abs(np.log(np.maximum(radii, 1e-6) / max(radius, 1e-6)))
        cost[i] = np.where(c <= LINK_GATE, c, REFUSED)
    return cost


def bhattacharyya(p: np.ndarray, q: np.ndarray) -> float:
    """0 for identical normalised histograms, 1 for disjoint ones."""
    return float(np.sqrt(max(0.0, 1.0 - float(np.sum(np.sqrt(p * q))))))


def tracklet_colour(track: Tracklet, frames: list[FramePeople], end: bool, count: int = 5):
    picks = list(zip(track.frames, track.detections, strict=True))
    picks = picks[-count:] if end else picks[:count]
    hist = np.mean([frames[f].colours[d] for f, d in picks], axis=0)
    total = hist.sum()
    return hist / total if total > 0 else hist


def stitch_cost(
    a: Tracklet, b: Tracklet, times: np.ndarray, colour_a: np.ndarray, colour_b: np.ndarray
) -> float:
    """How unlikely it is that ``b`` continues ``a`` (``REFUSED`` when it cannot); the colours
    are those of ``a``'s end and ``b``'s start."""
    gap = times[b.frames[0]] - times[a.frames[-1]]
    if gap <= 0 or gap > STITCH_S:
        return REFUSED
    centre, radius = a.predict(times, times[b.frames[0]])
    scale = (radius + b.radii[0]) / 2 * (1.0 + gap)
    position = float(np.linalg.norm(b.centres[0] - centre)) / max(scale, 1e-6)
    size = abs(float(np.log(max(b.radii[0], 1e-6) / max(radius, 1e-6))))
    colour = bhattacharyya(colour_a, colour_b)
    if colour > COLOUR_GATE:
        return REFUSED
    cost = position + 0.5 * size + colour
    return cost if cost <= STITCH_GATE else REFUSED


def stitch(
    tracklets: list[Tracklet], times: np.ndarray, frames: list[FramePeople]
) -> list[list[Tracklet]]:
    """Chains of tracklets that are one person each, in order of first appearance.

    Only pairs within ``STITCH_S`` of each other are scored; the assignment is solved on each
    connected group of such pairs, so a long video costs about linearly in its length.
    """
    n = len(tracklets)
    ends = [tracklet_colour(t, frames, end=True) for t in tracklets]
    starts_at = np.array([times[t.frames[0]] for t in tracklets])
    begins = [tracklet_colour(t, frames, end=False) for t in tracklets]
    order = np.argsort(starts_at, kind="stable")
    pairs: dict[tuple[int, int], float] = {}
    for i, a in enumerate(tracklets):
        end_s = times[a.frames[-1]]
        lo, hi = np.searchsorted(starts_at[order], [end_s, end_s + STITCH_S], side="right")
        for j in order[lo:hi]:
            cost = stitch_cost(a, tracklets[j], times, ends[i], begins[j])
            if cost < REFUSED:
                pairs[(i, int(j))] = cost
    successor: dict[int, int] = {}
    if pairs:
        group = groups(n, list(pairs))
        by_group: dict[int, list[tuple[int, int, float]]] = {}
        for (i, j), c in pairs.items():
            by_group.setdefault(int(group[i]), []).append((i, j, c))
        for g, edges in by_group.items():
            members = np.flatnonzero(group == g)
            index = {m: k for k, m in enumerate(members)}
            cost = np.full((len(members), len(members)), REFUSED)
            for i, j, c in edges:
                cost[index[i], index[j]] = c
            for r, c in zip(*assignment(cost), strict=True):
                if cost[r, c] < REFUSED:
                    successor[int(members[r])] = int(members[c])
    firsts = set(range(n)) - set(successor.values())
    chains = []
    for first in sorted(firsts, key=lambda i: tracklets[i].frames[0]):
        chain = [tracklets[first]]
        while first in successor:
            first = successor[first]
            chain.append(tracklets[first])
        chains.append(chain)
    return chains


def track_people(times: np.ndarray, frames: list[FramePeople]) -> list[list[tuple[int, int]]]:
    """Each person as their (sampled frame, detection index) pairs, person 1 first."""
    chains = stitch([t for t in link(times, frames) if not t.merged], times, frames)
    people = []
    for chain in chains:
        pairs = [p for t in chain for p in zip(t.frames, t.detections, strict=True)]
        if len(pairs) >= min(MIN_FRAMES, len(frames)):
            people.append(sorted(pairs))
    people.sort(key=lambda pairs: (pairs[0][0], frames[pairs[0][0]].boxes[pairs[0][1], 0]))
    return people
