"""How long a posture is held: hysteresis on a per-frame signal, tolerant of short dropouts.

A hold starts on the first frame whose value reaches ``on`` and goes on while the value stays at or
above ``off`` (``off`` < ``on``, so jitter around one threshold neither starts nor ends holds).
Frames with no value (NaN: the person or the joints were not detected) do not end a hold when the
known frames on both sides still hold and the unknown stretch is shorter than ``max_gap_s``.

A hold lasts from its first frame's time to the time of the first frame after it that does not
hold (unknown or below ``off``); a hold running to the end of the video ends one median frame step
after its last frame. So N held frames at a constant rate last exactly N frame steps, and variable
frame rates are handled by the frame times themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Hold:
    """One continuous hold: times in seconds, ``first``/``last`` the held frames' indices."""

    start: float
    end: float
    first: int
    last: int

    @property
    def seconds(self) -> float:
        return self.end - self.start


def find_holds(
    values: np.ndarray, times: np.ndarray, on: float, off: float, max_gap_s: float = 0.3
) -> list[Hold]:
    """Every hold of ``values`` (see the module docstring), in time order."""
    values = np.asarray(values, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if off >= on:
        raise ValueError(f"off ({off}) must be below on ({on})")
    n = len(values)
    step = float(np.median(np.diff(times))) if n > 1 else 0.0
    holds: list[Hold] = []
    first = last = -1

    def close() -> None:
        end = times[last + 1] if last + 1 < n else times[last] + step
        holds.append(Hold(float(times[first]), float(end), first, last))

    for i, value in enumerate(values):
        if np.isnan(value):
            continue
        if first >= 0:
            gap = times[i] - times[last + 1] if i > last + 1 else 0.0
            if gap < max_gap_s and value >= off:
                last = i
                continue
            close()
            first = -1
        if value >= on:
            first = last = i
    if first >= 0:
        close()
    return holds


def longest_hold(
    values: np.ndarray, times: np.ndarray, on: float, off: float, max_gap_s: float = 0.3
) -> Hold | None:
    """The longest hold (the earliest of equally long ones), or None when there is none."""
    holds = find_holds(values, times, on, off, max_gap_s)
    return max(holds, key=lambda h: (h.seconds, -h.start)) if holds else None
