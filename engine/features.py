"""Tracks -> a ``FeatureSet``: one ``[T, D_m]`` array per modality plus the availability mask.

Every modality is first turned into per-row vectors with their times (skeleton: COCO-17 joints
centred on the hips and scaled by the body size, plus confidences; flow: the statistics row;
audio: the log-mel frame). The segmenting then cuts the video's frame timeline into T windows and
averages the valid rows of each modality inside each window, so modalities sampled at different
rates (video frames, 100 audio frames per second) line up:

- ``Segmenting.clips(32)``: consecutive segments of 32 frames (MCMoE's segment features);
- ``Segmenting.uniform(103)``: 103 frames sampled uniformly over the video (DualAlign), each
  window one frame interval wide.

A modality that is missing, or has no valid row in a window, gives zeros there; ``mask`` says
which modalities are present and ``valid`` which segments of each had data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from engine.extract.tracks import Track

COCO_HIPS = (11, 12)
COCO_SHOULDERS = (5, 6)
MIN_CONFIDENCE = 0.3


@dataclass(frozen=True)
class Segmenting:
    kind: Literal["clips", "uniform"]
    size: int

    @classmethod
    def clips(cls, frames: int = 32) -> Segmenting:
        return cls("clips", frames)

    @classmethod
    def uniform(cls, count: int = 103) -> Segmenting:
        return cls("uniform", count)

    @classmethod
    def parse(cls, text: str) -> Segmenting:
        """``clips:32`` or ``uniform:103``."""
        kind, _, size = text.partition(":")
        if kind not in ("clips", "uniform") or not size.isdigit() or int(size) < 1:
            raise ValueError(f"segmenting must be clips:N or uniform:N, not {text!r}")
        return cls(kind, int(size))  # type: ignore[arg-type]

    def windows(self, times: np.ndarray) -> np.ndarray:
        """[T, 2] start/end seconds over a frame timeline (half-open windows)."""
        times = np.asarray(times, np.float64)
        if len(times) == 0:
            return np.zeros((0, 2))
        step = float(np.median(np.diff(times))) if len(times) > 1 else 1 / 30
        ends = np.append(times[1:], times[-1] + step)
        if self.kind == "clips":
            starts = np.arange(0, len(times), self.size)
            last = np.minimum(starts + self.size, len(times)) - 1
            return np.stack([times[starts], ends[last]], axis=1)
        picks = np.linspace(0, len(times) - 1, self.size).round().astype(int)
        return np.stack([times[picks], ends[picks]], axis=1)


MCMOE = Segmenting.clips(32)
DUALALIGN = Segmenting.uniform(103)


@dataclass
class FeatureSet:
    """``features[m]``: [T, D_m] float32; ``mask[m]``: the modality is present; ``valid[m]``: [T]
    bool, the segment had data; ``windows``: [T, 2] seconds."""

    features: dict[str, np.ndarray]
    mask: dict[str, bool]
    valid: dict[str, np.ndarray]
    windows: np.ndarray
    segmenting: Segmenting
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def modalities(self) -> list[str]:
        return list(self.features)

    @property
    def length(self) -> int:
        return int(len(self.windows))

    def mask_vector(self, order: list[str] | None = None) -> np.ndarray:
        """[M] bool in ``order`` (default: this set's modality order)."""
        return np.array([self.mask.get(m, False) for m in order or self.modalities], bool)

    def write(self, fh) -> None:
        payload = {f"f_{m}": a for m, a in self.features.items()}
        payload.update({f"v_{m}": v for m, v in self.valid.items()})
        payload["windows"] = self.windows
        header = {
            "mask": self.mask,
            "segmenting": [self.segmenting.kind, self.segmenting.size],
            "sources": self.sources,
            "order": self.modalities,
        }
        payload["__meta__"] = np.array(json.dumps(header))
        np.savez(fh, **payload)

    @classmethod
    def read(cls, path) -> FeatureSet:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["__meta__"]))
            order = header["order"]
            return cls(
                features={m: data[f"f_{m}"] for m in order},
                mask={m: bool(header["mask"][m]) for m in order},
                valid={m: data[f"v_{m}"] for m in order},
                windows=data["windows"],
                segmenting=Segmenting(*header["segmenting"]),
                sources=header["sources"],
            )


def skeleton_rows(track: Track) -> tuple[np.ndarray, np.ndarray]:
    """[N, 51] (x, y centred on the hips and divided by the body size, confidence) and [N] valid.

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


def rows_of(track: Track) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times [N], rows [N, D], valid [N]) of a track of a known modality."""
    if track.modality == "skeleton":
        rows, valid = skeleton_rows(track)
    elif track.modality == "flow":
        rows, valid = track["stats"].astype(np.float32), track["valid"].astype(bool)
    elif track.modality == "audio":
        rows = track["logmel"].astype(np.float32)
        valid = np.ones(len(rows), bool)
    elif "features" in track.arrays:  # backends added later store their rows as "features"
        rows = track["features"].astype(np.float32)
        valid = track.arrays.get("valid", np.ones(len(rows), bool)).astype(bool)
    else:
        raise ValueError(f"no feature rows known for the {track.modality} modality")
    return np.asarray(track.times, np.float64), rows, valid


def pool(times: np.ndarray, rows: np.ndarray, valid: np.ndarray, windows: np.ndarray):
    """Mean of the valid rows inside each window; a window with none takes the valid row nearest
    its centre if that lies within one window width, else zeros. Returns ([T, D], [T] bool)."""
    out = np.zeros((len(windows), rows.shape[1]), np.float32)
    has = np.zeros(len(windows), bool)
    t, r = times[valid], rows[valid]
    if len(t) == 0:
        return out, has
    order = np.argsort(t, kind="stable")
    t, r = t[order], r[order]
    lo = np.searchsorted(t, windows[:, 0], side="left")
    hi = np.searchsorted(t, windows[:, 1], side="left")
    csum = np.concatenate([np.zeros((1, r.shape[1])), np.cumsum(r, axis=0, dtype=np.float64)])
    count = hi - lo
    full = count > 0
    out[full] = ((csum[hi[full]] - csum[lo[full]]) / count[full, None]).astype(np.float32)
    has[full] = True
    for i in np.flatnonzero(~full):
        start, end = windows[i]
        centre, width = (start + end) / 2, max(end - start, 1e-6)
        j = int(np.clip(np.searchsorted(t, centre), 1, len(t) - 1)) if len(t) > 1 else 0
        if len(t) > 1 and abs(t[j - 1] - centre) < abs(t[j] - centre):
            j -= 1
        if abs(t[j] - centre) <= width:
            out[i], has[i] = r[j], True
    return out, has


def build_features(
    tracks: dict[str, Track | None],
    segmenting: Segmenting = MCMOE,
    dims: dict[str, int] | None = None,
) -> FeatureSet:
    """Segment every track on the frame timeline of the frame-based tracks.

    ``dims`` gives the width of a modality whose track is absent (so its zero block has the
    right shape); a missing modality with no known width gets width 0.
    """
    timeline = _timeline(tracks)
    windows = segmenting.windows(timeline)
    features, mask, valid, sources = {}, {}, {}, {}
    for modality, track in tracks.items():
        if track is None or not track.ok:
            width = (dims or {}).get(modality, 0)
            features[modality] = np.zeros((len(windows), width), np.float32)
            mask[modality] = False
            valid[modality] = np.zeros(len(windows), bool)
            continue
        times, rows, ok = rows_of(track)
        features[modality], valid[modality] = pool(times, rows, ok, windows)
        mask[modality] = bool(valid[modality].any())
        sources[modality] = f"{track.backend}@{track.version}"
    return FeatureSet(features, mask, valid, windows, segmenting, sources)


def _timeline(tracks: dict[str, Track | None]) -> np.ndarray:
    """Frame times of the densest frame-based track; else a 30 fps grid over the audio."""
    frame_tracks = [
        t for t in tracks.values() if t is not None and t.modality != "audio" and t.frames
    ]
    if frame_tracks:
        return np.asarray(max(frame_tracks, key=lambda t: t.frames).times, np.float64)
    audio = [t for t in tracks.values() if t is not None and t.frames]
    if audio:
        end = float(audio[0].times[-1])
        return np.arange(0.0, end + 1e-9, 1 / 30)
    return np.zeros(0)


FEATURES_VERSION = "1"


def cached_features(result, segmenting: Segmenting = MCMOE, cache=None) -> FeatureSet:
    """The FeatureSet of an ``ExtractionResult``, cached under a key made of its tracks' keys."""
    from engine.cache import Cache, cache_key

    cache = cache or Cache()
    tracks = {m: r.track for m, r in result.modalities.items()}
    sources = {m: r.cache_key for m, r in result.modalities.items()}
    params = {"segmenting": [segmenting.kind, segmenting.size], "tracks": sources}
    key = cache_key(result.sha256, "features", "segments", FEATURES_VERSION, params)
    found = cache.load(key, FeatureSet.read)
    if found is not None:
        return found
    features = build_features(tracks, segmenting)
    cache.save(key, features.write)
    return features


def default_dims() -> dict[str, int]:
    """Feature widths the default backends produce (skeleton, flow, audio)."""
    from engine.extract.audio import LogMelBackend
    from engine.extract.flow import FlowBackend, FlowStatistics

    flow = FlowBackend()
    return {
        "skeleton": 17 * 3,
        "flow": FlowStatistics(64, 64, grid=flow.grid, bins=flow.bins).dim,
        "audio": LogMelBackend().logmel.n_mels,
    }
