"""Evaluation metrics exactly as the papers define them.

SRCC is Spearman's rank correlation (scipy); MSE is in score units; rMSE is the MSE of the error
relative to the score range, times 100 (DualAlign); accuracy is for integer grades; the average SRCC
over modality subsets is taken in Fisher-z space (MCMoE's Table 1 "Average").
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import spearmanr


def srcc(pred: Sequence[float], true: Sequence[float]) -> float:
    """Spearman's rank correlation; NaN when either side is constant."""
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(true, dtype=np.float64)
    if p.shape != t.shape or p.ndim != 1:
        raise ValueError(f"SRCC needs two 1-D arrays of one length, got {p.shape} and {t.shape}.")
    if len(p) < 2 or np.ptp(p) == 0 or np.ptp(t) == 0:
        return math.nan
    return float(spearmanr(p, t).statistic)


def mse(pred: Sequence[float], true: Sequence[float]) -> float:
    """Mean squared error in the units of the scores given."""
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(true, dtype=np.float64)
    return float(np.mean((p - t) ** 2))


def rmse_relative(
    pred: Sequence[float], true: Sequence[float], score_min: float, score_max: float
) -> float:
    """rMSE = mean(((pred - true) / (score_max - score_min))**2) * 100."""
    span = float(score_max) - float(score_min)
    if span <= 0:
        raise ValueError(f"The score range [{score_min}, {score_max}] is empty.")
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(true, dtype=np.float64)
    return float(np.mean(((p - t) / span) ** 2) * 100.0)


def accuracy(pred_grades: Sequence[int], true_grades: Sequence[int]) -> float:
    """Fraction of integer grades predicted exactly."""
    p = np.asarray(pred_grades)
    t = np.asarray(true_grades)
    if not (np.issubdtype(p.dtype, np.integer) and np.issubdtype(t.dtype, np.integer)):
        raise ValueError("Accuracy is defined for integer grades; round the scores first.")
    return float(np.mean(p == t))


def fisher_z_mean(values: Sequence[float]) -> float:
    """Average correlations through Fisher's z: tanh(mean(arctanh(r))).

    Correlations of exactly +-1 are clipped just inside the open interval so that the mean stays
    finite; NaN values (undefined correlations) make the result NaN.
    """
    r = np.asarray(values, dtype=np.float64)
    if r.size == 0:
        return math.nan
    eps = 1e-12
    z = np.arctanh(np.clip(r, -1 + eps, 1 - eps))
    return float(np.tanh(np.mean(z)))


def modality_subsets(modalities: Sequence[str]) -> list[tuple[str, ...]]:
    """Every non-empty subset in the order of MCMoE's Table 1.

    Incomplete subsets first, largest first and in the modalities' order within one size, then the
    full set last: for (v, f, a) -> vf, va, fa, v, f, a, vfa.
    """
    names = tuple(modalities)
    subsets: list[tuple[str, ...]] = []
    for size in range(len(names) - 1, 0, -1):
        subsets.extend(itertools.combinations(names, size))
    subsets.append(names)
    return subsets
