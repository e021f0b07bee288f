"""A running median that removes single-frame pose glitches but keeps steps where they are."""

from __future__ import annotations

import numpy as np


def median_smooth(values: np.ndarray, times: np.ndarray, seconds: float) -> np.ndarray:
    """The median of the known values within about ``seconds`` around each frame (an odd number
    of frames at the median frame step). Unknown (NaN) frames stay unknown, so dropouts are still
    seen as dropouts; a clean step keeps its exact frame; runs of glitches shorter than half the
    window disappear."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 3 or seconds <= 0:
        return values.copy()
    step = float(np.median(np.diff(times)))
    half = int(round(seconds / step)) // 2
    if half < 1:
        return values.copy()
    padded = np.pad(values, half, constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    out = np.full(len(values), np.nan)
    known = ~np.isnan(values)
    out[known] = np.nanmedian(windows[known], axis=1)
    return out
