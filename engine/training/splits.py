"""Subject-grouped splits: every recording of one subject lands on one side.

Written with numpy only (seeded), in the spirit of scikit-learn's GroupKFold: the groups are
shuffled with the seed, then dealt largest first to the fold holding the fewest recordings so far,
so folds have similar sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Split:
    """Row indices of one train/test partition."""

    train: np.ndarray
    test: np.ndarray


def _fold_of_group(groups: Sequence[str], n_folds: int, seed: int) -> dict[str, int]:
    names, counts = np.unique(np.asarray(groups, dtype=str), return_counts=True)
    if len(names) < n_folds:
        raise ValueError(f"{len(names)} subjects cannot fill {n_folds} folds.")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(names))
    # Stable sort by size (descending) keeps the seeded order among groups of equal size.
    order = order[np.argsort(-counts[order], kind="stable")]
    load = np.zeros(n_folds, dtype=np.int64)
    fold: dict[str, int] = {}
    for i in order:
        target = int(np.argmin(load))
        fold[str(names[i])] = target
        load[target] += counts[i]
    return fold


def group_kfold(groups: Sequence[str], n_folds: int = 5, seed: int = 0) -> list[Split]:
    """``n_folds`` splits whose test sides partition the rows, never dividing a group."""
    if n_folds < 2:
        raise ValueError("Cross-validation needs at least 2 folds.")
    fold = _fold_of_group(groups, n_folds, seed)
    assignment = np.array([fold[str(g)] for g in groups])
    rows = np.arange(len(assignment))
    return [Split(rows[assignment != k], rows[assignment == k]) for k in range(n_folds)]


def group_holdout(groups: Sequence[str], test_fraction: float = 0.2, seed: int = 0) -> Split:
    """One split whose test side holds about ``test_fraction`` of the rows, by whole groups."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"The test fraction must be between 0 and 1, got {test_fraction}.")
    names, counts = np.unique(np.asarray(groups, dtype=str), return_counts=True)
    if len(names) < 2:
        raise ValueError("A hold-out split needs at least 2 subjects.")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(names))
    wanted = test_fraction * len(groups)
    chosen: set[str] = set()
    taken = 0
    for i in order:
        if taken >= wanted or len(chosen) == len(names) - 1:
            break
        chosen.add(str(names[i]))
        taken += counts[i]
    is_test = np.array([str(g) in chosen for g in groups])
    rows = np.arange(len(is_test))
    return Split(rows[~is_test], rows[is_test])
