"""Subject-grouped splits keep every recording of a subject on one side."""

import numpy as np
import pytest

from engine.training.splits import group_holdout, group_kfold


def _groups(seed=0):
    rng = np.random.default_rng(seed)
    # 23 subjects with 1..7 recordings each, shuffled
    groups = [f"S{s:02d}" for s in range(23) for _ in range(int(rng.integers(1, 8)))]
    return list(rng.permutation(groups))


def test_kfold_partitions_rows_and_never_splits_a_subject():
    groups = _groups()
    folds = group_kfold(groups, n_folds=5, seed=3)
    tests = np.concatenate([f.test for f in folds])
    assert sorted(tests.tolist()) == list(range(len(groups)))
    for f in folds:
        assert len(np.intersect1d(f.train, f.test)) == 0
        assert len(f.train) + len(f.test) == len(groups)
        train_subjects = {groups[i] for i in f.train}
        test_subjects = {groups[i] for i in f.test}
        assert not train_subjects & test_subjects
    sizes = [len(f.test) for f in folds]
    assert max(sizes) - min(sizes) <= 7  # balanced to within the largest subject


def test_kfold_is_seeded():
    groups = _groups()
    a = group_kfold(groups, 4, seed=1)
    b = group_kfold(groups, 4, seed=1)
    c = group_kfold(groups, 4, seed=2)
    assert all(np.array_equal(x.test, y.test) for x, y in zip(a, b))
    assert not all(np.array_equal(x.test, y.test) for x, y in zip(a, c))


def test_kfold_needs_enough_subjects():
    with pytest.raises(ValueError):
        group_kfold(["a", "a", "b"], n_folds=3)


def test_holdout_takes_whole_subjects_near_the_fraction():
    groups = _groups(1)
    split = group_holdout(groups, 0.25, seed=0)
    test_subjects = {groups[i] for i in split.test}
    assert not test_subjects & {groups[i] for i in split.train}
    assert 0.2 <= len(split.test) / len(groups) <= 0.45
    assert np.array_equal(group_holdout(groups, 0.25, seed=0).test, split.test)


def test_holdout_leaves_training_subjects():
    split = group_holdout(["a", "b"], 0.9, seed=0)
    assert len(split.train) == 1 and len(split.test) == 1
