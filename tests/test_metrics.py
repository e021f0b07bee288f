"""The papers' metrics against values computed by hand."""

import math

import pytest

from engine.training.metrics import (
    accuracy,
    fisher_z_mean,
    modality_subsets,
    mse,
    rmse_relative,
    srcc,
)


def test_srcc_with_ties_by_hand():
    # ranks of truth [5, 6, 7, 8, 7] are [1, 2, 3.5, 5, 3.5]; Pearson of ranks = 8 / sqrt(10 * 9.5)
    assert srcc([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / math.sqrt(95), abs=1e-12)
    assert srcc([3, 2, 1], [1, 2, 3]) == pytest.approx(-1.0)


def test_srcc_undefined_for_constant_predictions():
    assert math.isnan(srcc([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError):
        srcc([1, 2], [1, 2, 3])


def test_mse_in_score_units():
    assert mse([1, 2, 3], [2, 2, 5]) == pytest.approx(5 / 3)


def test_relative_mse_uses_the_score_range_and_percent():
    # errors 1, 0, 2 over a range of 10: (0.01 + 0 + 0.04) / 3 * 100
    assert rmse_relative([1, 2, 3], [2, 2, 5], 0, 10) == pytest.approx(5 / 3)
    assert rmse_relative([1, 2, 3], [2, 2, 5], 5, 15) == pytest.approx(5 / 3)
    with pytest.raises(ValueError):
        rmse_relative([1], [1], 3, 3)


def test_accuracy_for_integer_grades_only():
    assert accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75
    with pytest.raises(ValueError):
        accuracy([0.2, 1.0], [0, 1])


def test_fisher_z_mean_by_hand():
    # z = arctanh: 0.549306 and 1.472219, mean 1.010763, tanh -> 0.766077
    assert fisher_z_mean([0.5, 0.9]) == pytest.approx(0.7660773415974732, abs=1e-12)
    assert fisher_z_mean([0.3]) == pytest.approx(0.3)
    assert fisher_z_mean([0.4, -0.4]) == pytest.approx(0.0, abs=1e-12)
    assert math.isfinite(fisher_z_mean([1.0, 0.5]))
    assert math.isnan(fisher_z_mean([]))


def test_subsets_follow_table_1_order():
    assert modality_subsets(["rgb", "flow", "audio"]) == [
        ("rgb", "flow"),
        ("rgb", "audio"),
        ("flow", "audio"),
        ("rgb",),
        ("flow",),
        ("audio",),
        ("rgb", "flow", "audio"),
    ]
    assert len(modality_subsets(["a", "b", "c", "d"])) == 15
    assert modality_subsets(["rgb"]) == [("rgb",)]
