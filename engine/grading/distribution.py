"""From a network's output to a proposal on the item's own scale.

Networks predict either a distribution over the item's grades (DualAlign's ETF classifier, one
prototype per grade) or weights over a few grade prototypes with anchor values (MCMoE's grade
queries, score = sum s_n * G_n). Both become a distribution over the item's grades whose mean is
the expected score; a continuous sports score keeps its prototypes, in score units.
"""

from dataclasses import dataclass

import numpy as np

from engine.protocols import Item

# A proposal is flagged for review when its distribution is this spread out (normalised entropy)
# or its two most likely grades are this close.
ENTROPY_LIMIT = 0.75
MARGIN_LIMIT = 0.15


@dataclass
class Proposal:
    grades: list[float]  # the support of ``probs`` on the item's scale
    probs: list[float]
    expected: float
    grade: float  # most likely grade (continuous: the expected score)
    uncertain: bool
    entropy: float
    margin: float


def spread_onto_grades(values: np.ndarray, weights: np.ndarray, grades: np.ndarray) -> np.ndarray:
    """Split each weight between the two grades around its value (linear), keeping the mean."""
    probs = np.zeros(len(grades))
    values = np.clip(values, grades[0], grades[-1])
    for value, weight in zip(values, weights):
        upper = int(np.searchsorted(grades, value, side="left"))
        if upper == 0 or grades[upper] == value:
            probs[upper] += weight
            continue
        lower = upper - 1
        share = (value - grades[lower]) / (grades[upper] - grades[lower])
        probs[lower] += weight * (1 - share)
        probs[upper] += weight * share
    return probs / max(probs.sum(), 1e-12)


def propose(
    item: Item, score01: float, probs: np.ndarray, anchors01: np.ndarray | None = None
) -> Proposal:
    """The proposal for ``item`` from a normalised score, the network's probabilities and, for
    prototype networks, the prototypes' normalised anchor values."""
    probs = np.asarray(probs, dtype=np.float64)
    probs = probs / max(probs.sum(), 1e-12)
    span = item.high - item.low
    if item.integer:
        grades = np.asarray(item.grades, dtype=np.float64)
        if len(probs) != len(grades):
            values = item.low + span * (
                np.asarray(anchors01) if anchors01 is not None else np.array([score01])
            )
            weights = probs if anchors01 is not None else np.ones(1)
            probs = spread_onto_grades(values, weights, grades)
        expected = float(probs @ grades)
        top = np.argsort(probs)[::-1]
        grade = float(grades[top[0]])
    else:
        grades = item.low + span * (
            np.asarray(anchors01) if anchors01 is not None else np.linspace(0, 1, len(probs))
        )
        expected = item.low + span * float(score01)
        top = np.argsort(probs)[::-1]
        grade = expected
    entropy = float(-(probs * np.log(np.clip(probs, 1e-12, 1))).sum() / np.log(max(len(probs), 2)))
    margin = float(probs[top[0]] - probs[top[1]]) if len(probs) > 1 else 1.0
    return Proposal(
        grades=[float(g) for g in grades],
        probs=[float(p) for p in probs],
        expected=expected,
        grade=grade,
        uncertain=bool(item.integer and (entropy > ENTROPY_LIMIT or margin < MARGIN_LIMIT)),
        entropy=entropy,
        margin=margin,
    )
