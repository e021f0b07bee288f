"""Per-frame results of one backend on one video (a *track*), saved as a single ``.npz`` file.

A track holds named arrays whose first axis is the frame (or audio frame) axis, the ``times`` of
those rows in seconds, and a small JSON-able ``meta`` dict. Files are read with
``allow_pickle=False``: nothing but numbers and one JSON string is ever loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

Status = Literal["ok", "fallback", "missing", "error"]
META_KEY = "__meta__"


@dataclass
class Track:
    """One modality's result. ``status`` is ok / fallback (usable, made by a stand-in) / missing /
    error and ``reason`` says why not ok."""

    modality: str
    backend: str
    version: str
    params: dict[str, Any]
    status: Status = "ok"
    reason: str = ""
    times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return int(len(self.times))

    @property
    def ok(self) -> bool:
        """The track holds usable data (also when a stand-in made it)."""
        return self.status in ("ok", "fallback")

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def header(self) -> dict[str, Any]:
        return {
            "modality": self.modality,
            "backend": self.backend,
            "version": self.version,
            "params": self.params,
            "status": self.status,
            "reason": self.reason,
            "meta": self.meta,
        }

    def write(self, fh) -> None:
        """Write to an open binary file (the cache renames it into place afterwards)."""
        payload = {f"a_{name}": value for name, value in self.arrays.items()}
        payload["times"] = np.asarray(self.times, dtype=np.float64)
        payload[META_KEY] = np.array(json.dumps(self.header(), default=_jsonable))
        np.savez(fh, **payload)

    @classmethod
    def read(cls, path: Path) -> Track:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data[META_KEY]))
            arrays = {k[2:]: data[k] for k in data.files if k.startswith("a_")}
            times = data["times"]
        return cls(times=times, arrays=arrays, **header)


@dataclass(frozen=True)
class FeatureRows:
    """What a model reads of a track: ``rows`` [N, D] at ``times`` [N] seconds, ``valid`` [N]
    saying which rows hold data. A *static* track (text: ``times`` None, one row) holds for the
    whole recording."""

    rows: np.ndarray
    valid: np.ndarray
    times: np.ndarray | None = None

    @property
    def static(self) -> bool:
        return self.times is None


def missing(modality: str, backend: str, version: str, params: dict, reason: str) -> Track:
    return Track(modality, backend, version, params, status="missing", reason=reason)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-able: {type(value).__name__}")


def displayed_box(box, scale: float | None) -> tuple[float, ...] | None:
    """A box in fed-frame pixels -> the displayed video's pixels (scaled in float32, as the
    skeleton tracks store them), or None for no box."""
    if box is None:
        return None
    shown = np.asarray(box, np.float32) * (scale or 1.0)
    return tuple(float(v) for v in shown) if np.isfinite(shown).all() else None
