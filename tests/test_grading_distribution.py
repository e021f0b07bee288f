"""From network outputs to proposals on the item's scale."""

import numpy as np
import pytest

from engine.grading.distribution import propose, spread_onto_grades
from engine.protocols import get_protocol

HEAD = get_protocol("cmas").item("head_elevation")


def test_prototype_weights_spread_keep_the_mean():
    weights = np.array([0.1, 0.2, 0.3, 0.4])
    anchors = np.array([0.0, 1 / 3, 2 / 3, 1.0])
    p = propose(HEAD, 0.0, weights, anchors)
    assert p.grades == [0, 1, 2, 3, 4, 5]
    assert sum(p.probs) == pytest.approx(1.0)
    assert p.expected == pytest.approx(float(weights @ (anchors * 5)))
    assert p.probs[5] == pytest.approx(0.4)


def test_direct_grade_distribution():
    p = propose(HEAD, 0.42, np.array([0.0, 0.0, 0.9, 0.1, 0.0, 0.0]))
    assert (p.grade, p.expected, p.uncertain) == (2, pytest.approx(2.1), False)


@pytest.mark.parametrize(
    "probs",
    [np.full(6, 1 / 6), np.array([0, 0, 0.45, 0.4, 0.15, 0])],
)
def test_spread_or_close_call_is_uncertain(probs):
    assert propose(HEAD, 0.5, probs).uncertain


def test_single_score_becomes_two_neighbouring_grades():
    p = propose(HEAD, 0.46, np.array([1.0]))  # 2.3 on the 0-5 scale
    assert p.probs[2] == pytest.approx(0.7) and p.probs[3] == pytest.approx(0.3)
    assert p.expected == pytest.approx(2.3)


def test_continuous_scores_keep_prototypes_in_score_units():
    tes = get_protocol("fis-v").item("tes")
    p = propose(tes, 0.5, np.full(4, 0.25), np.linspace(0, 1, 4))
    assert p.grades == [0, 15, 30, 45] and p.expected == 22.5 and not p.uncertain


def test_spread_clips_values_outside_the_scale():
    grades = np.arange(3.0)
    assert spread_onto_grades(np.array([-1.0, 9.0]), np.array([0.5, 0.5]), grades).tolist() == [
        0.5,
        0.0,
        0.5,
    ]
