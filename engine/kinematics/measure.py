"""Measure one protocol item on a skeleton sequence: the value, the grade it implies, the angles."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from engine.errors import InputError
from engine.kinematics.angles import ANGLE_NAMES, joint_angles
from engine.kinematics.definitions import Definition, definition_for
from engine.kinematics.holds import find_holds
from engine.kinematics.repetitions import count_repetitions, time_to_complete
from engine.kinematics.signals import SIGNALS, Signal
from engine.kinematics.skeleton import MIN_CONFIDENCE, BodyGeometry, SkeletonSeries
from engine.kinematics.smoothing import median_smooth
from engine.protocols import get_protocol

UNITS = {"hold": "s", "repetitions": "repetitions", "time_to_complete": "s"}


@dataclass(frozen=True)
class AngleSummary:
    median: float | None
    low: float | None
    high: float | None
    known: float  # fraction of frames where the angle could be measured


@dataclass(frozen=True)
class Measurement:
    """What ``aqa measure`` reports for one item. ``value`` is the held seconds, the number of
    repetitions or the seconds to complete (None when the movement was not completed); ``grade``
    is the grade the protocol's criterion gives that value (None where the item has none);
    ``events`` are the holds, repetitions or onset/completion times behind the value."""

    protocol: str
    item: str
    item_name: str
    method: str | None
    signal: str | None
    value: float | None
    unit: str
    grade: int | None
    frames: int
    duration_s: float
    detected_fraction: float
    angles: dict[str, AngleSummary]
    events: list[dict[str, float]] = field(default_factory=list)

    def summary(self) -> str:
        """One line, e.g. ``held 34.2 s -> criterion grade 3``."""
        if self.method is None:
            return f"{self.item_name}: no kinematic measurement is defined; joint angles only"
        grade = "" if self.grade is None else f" -> criterion grade {self.grade}"
        if self.method == "hold":
            return f"held {self.value:.1f} s{grade}"
        if self.method == "repetitions":
            return f"{int(self.value)} repetitions{grade}"
        if self.value is None:
            onset = self.events[0]["onset"] if self.events else None
            why = "no movement onset seen" if onset is None else "goal posture not reached after it"
            return f"not completed ({why}){grade}"
        return f"completed in {self.value:.1f} s{grade}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def item_signal(body: BodyGeometry, definition: Definition) -> Signal:
    """The per-frame signal an item is measured on (for plots as well as for ``measure``)."""
    function, _ = SIGNALS[definition.signal]
    return function(body, definition.params)


def measure(
    series: SkeletonSeries,
    protocol_id: str,
    item_id: str,
    min_confidence: float = MIN_CONFIDENCE,
) -> Measurement:
    """Measure ``item_id`` of ``protocol_id`` on ``series``; InputError when nobody is seen."""
    protocol = get_protocol(protocol_id)
    item = protocol.item(item_id)
    definition = definition_for(protocol.id, item)
    if series.frames == 0 or not series.detected.any():
        raise InputError("No person was detected in the video, so nothing can be measured.")
    body = BodyGeometry(series, min_confidence)
    angles = {name: _summary(values) for name, values in joint_angles(body).items()}
    value, events, unit = None, [], ""
    if definition is not None:
        value, events = _apply(body, definition)
        unit = UNITS[definition.method]
    grade = None
    if item.criterion is not None and value is not None:
        grade = item.criterion.grade_for(value, int(item.high))
    return Measurement(
        protocol=protocol.id,
        item=item.id,
        item_name=item.name,
        method=definition.method if definition else None,
        signal=definition.signal if definition else None,
        value=value,
        unit=unit,
        grade=grade,
        frames=series.frames,
        duration_s=round(series.duration_s, 3),
        detected_fraction=round(float(series.detected.mean()), 4),
        angles={name: angles[name] for name in ANGLE_NAMES},
        events=events,
    )


def _apply(body: BodyGeometry, definition: Definition) -> tuple[float | None, list[dict]]:
    times = body.series.times
    signal = item_signal(body, definition)
    p = definition.params
    if definition.method in ("hold", "repetitions"):
        level = median_smooth(signal.level, times, p["smooth_s"])
    if definition.method == "hold":
        holds = find_holds(level, times, on=1.0, off=0.0, max_gap_s=p["max_gap_s"])
        events = [_rounded(start=h.start, end=h.end, seconds=h.seconds) for h in holds]
        return max((e["seconds"] for e in events), default=0.0), events
    if definition.method == "repetitions":
        reps = count_repetitions(level, times, on=1.0, off=0.0)
        return float(len(reps)), [_rounded(start=r.start, top=r.top) for r in reps]
    rise = _hip_rise(body, p["baseline_s"])
    done = time_to_complete(rise / p["onset"], signal.level, times)
    event = {
        k: None if v is None else round(v, 3)
        for k, v in (("onset", done.onset), ("done", done.done))
    }
    seconds = None if done.seconds is None else round(done.seconds, 3)
    return seconds, [event]


def _hip_rise(body: BodyGeometry, baseline_s: float) -> np.ndarray:
    """The hip centre's rise above its median height over the first ``baseline_s`` seconds of
    frames where it is known, in body scales."""
    y = body.hips[:, 1]
    known = np.flatnonzero(~np.isnan(y))
    if known.size == 0:
        return np.full(len(y), np.nan)
    times = body.series.times
    start = known[times[known] <= times[known[0]] + baseline_s]
    return (float(np.median(y[start])) - y) / body.scale


def _rounded(**values: float) -> dict[str, float]:
    return {k: round(float(v), 3) for k, v in values.items()}


def _summary(values: np.ndarray) -> AngleSummary:
    known = values[~np.isnan(values)]
    if known.size == 0:
        return AngleSummary(None, None, None, 0.0)
    return AngleSummary(
        round(float(np.median(known)), 1),
        round(float(known.min()), 1),
        round(float(known.max()), 1),
        round(known.size / len(values), 4),
    )
