"""Repetition counts and time-to-complete from per-frame signals (NaN = unknown frame).

A repetition is a rise of the signal from at or below ``off`` to at or above ``on``; it must come
back to ``off`` before the next one counts (hysteresis), and a sequence that starts above ``off``
counts its first rise only after it has been down once. Unknown frames leave the state as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Repetition:
    """One repetition: ``start`` the last time at or below ``off`` before it, ``top`` the time it
    reached ``on`` (seconds)."""

    start: float
    top: float


def count_repetitions(
    values: np.ndarray, times: np.ndarray, on: float, off: float
) -> list[Repetition]:
    """Every repetition of ``values`` in time order."""
    if off >= on:
        raise ValueError(f"off ({off}) must be below on ({on})")
    reps: list[Repetition] = []
    down_at: float | None = None  # time last seen at or below off, while waiting to rise
    for value, time in zip(np.asarray(values, np.float64), np.asarray(times, np.float64)):
        if np.isnan(value):
            continue
        if value <= off:
            down_at = float(time)
        elif value >= on and down_at is not None:
            reps.append(Repetition(down_at, float(time)))
            down_at = None
    return reps


@dataclass(frozen=True)
class Completion:
    """A movement from its onset to the first frame at the goal (seconds; None where not seen)."""

    onset: float | None
    done: float | None

    @property
    def seconds(self) -> float | None:
        if self.onset is None or self.done is None:
            return None
        return self.done - self.onset


def time_to_complete(
    moved: np.ndarray, goal: np.ndarray, times: np.ndarray, on: float = 1.0
) -> Completion:
    """From the first frame where ``moved`` reaches ``on`` (the movement began) to the first
    later frame where ``goal`` rises to ``on`` from below (the target posture is reached; a
    person already in it when the movement begins has to leave it and come back)."""
    moved = np.asarray(moved, np.float64)
    goal = np.asarray(goal, np.float64)
    started = np.flatnonzero(moved >= on)
    if started.size == 0:
        return Completion(None, None)
    first = int(started[0])
    known = np.flatnonzero(~np.isnan(goal[: first + 1]))
    below = bool(known.size) and goal[known[-1]] < on
    for i in range(first, len(goal)):
        if np.isnan(goal[i]):
            continue
        if goal[i] >= on and below:
            return Completion(float(times[first]), float(times[i]))
        below = goal[i] < on
    return Completion(float(times[first]), None)
