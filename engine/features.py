"""Tracks -> a ``FeatureSet``: one ``[T, D_m]`` array per modality plus the availability mask.

Every track is first turned into ``FeatureRows`` by its modality's function in the backend registry
(``engine.extract.registry.feature_rows``): rows with their times and validity, or one static row
(text) that holds for every segment. The segmenting then cuts the video's frame timeline into T windows and
averages the valid rows of each modality inside each window, so modalities sampled at different
rates (video frames, 100 audio frames per second) line up:

- ``Segmenting.clips(32)``: consecutive segments of 32 frames (MCMoE's segment features);
- ``Segmenting.uniform(103)``: 103 frames sampled uniformly over the video (DualAlign), each
  window one frame interval wide.

A modality that is missing, or has no valid row in a window (an undetected stretch), gives zeros
there; ``mask`` says which modalities are present and ``valid`` which segments of each had data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from engine.extract.registry import feature_rows
from engine.extract.tracks import Track


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
        found = feature_rows(track)
        if found.static:
            features[modality] = np.repeat(found.rows[:1], len(windows), axis=0)
            valid[modality] = np.full(len(windows), bool(found.valid[:1].all()))
        else:
            times = np.asarray(found.times, np.float64)
            features[modality], valid[modality] = pool(times, found.rows, found.valid, windows)
        mask[modality] = bool(valid[modality].any())
        sources[modality] = f"{track.backend}@{track.version}"
    return FeatureSet(features, mask, valid, windows, segmenting, sources)


def _timeline(tracks: dict[str, Track | None]) -> np.ndarray:
    """Frame times of the densest frame-based track; else a 30 fps grid over the audio."""
    frame_tracks = [
        t
        for t in tracks.values()
        if t is not None and t.modality not in ("audio", "text") and t.frames
    ]
    if frame_tracks:
        return np.asarray(max(frame_tracks, key=lambda t: t.frames).times, np.float64)
    audio = [t for t in tracks.values() if t is not None and t.frames]
    if audio:
        end = float(audio[0].times[-1])
        return np.arange(0.0, end + 1e-9, 1 / 30)
    return np.zeros(0)


FEATURES_VERSION = "2"


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
