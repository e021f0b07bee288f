"""Per-segment contributions of a proposal (occlusion with the average segment), computed with
the shipped demo model of CMAS head elevation."""

import numpy as np
import pytest

from engine.features import MCMOE, FeatureSet
from engine.grading.model_files import load_model, model_for
from engine.grading.service import segment_contributions
from engine.protocols import get_protocol
from engine.store import Store

SEGMENTS = 20  # more than the demo model's 16 input segments


@pytest.fixture(scope="module")
def model():
    with Store(":memory:") as store:
        return load_model(model_for(store, "cmas", "head_elevation"), "cpu")


def feature_set(model, rows: dict[str, np.ndarray]) -> FeatureSet:
    windows = np.stack([np.arange(SEGMENTS), np.arange(1, SEGMENTS + 1)], axis=1) * 32 / 30
    return FeatureSet(
        features=rows,
        mask={m: True for m in rows},
        valid={m: np.ones(SEGMENTS, bool) for m in rows},
        windows=windows,
        segmenting=MCMOE,
    )


def constant_rows(model, seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    dims = dict(model.network.input_dims)
    return {m: np.tile(rng.normal(size=(1, dims[m])), (SEGMENTS, 1)).astype(np.float32)
            for m in model.network.modalities}  # fmt: skip


def contributions(model, rows):
    item = get_protocol("cmas").item("head_elevation")
    used = list(model.network.modalities)
    features = feature_set(model, rows)
    score, _ = model.predict(rows, used)
    return np.array(segment_contributions(model, features, used, score, item)["contribution"])


def test_identical_segments_contribute_nothing(model):
    assert np.abs(contributions(model, constant_rows(model))).max() < 1e-4


def test_a_changed_segment_moves_the_grade_and_unseen_segments_do_not(model):
    rows = constant_rows(model)
    for m in rows:
        rows[m][7] += 3.0
    found = contributions(model, rows)
    assert abs(found[7]) > 1e-3
    # The model reads the centred 16 of 20 segments (2..17): the first and last two are unseen.
    assert found[[0, 1, 18, 19]].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_windows_are_reported_in_seconds(model):
    rows = constant_rows(model)
    item = get_protocol("cmas").item("head_elevation")
    used = list(rows)
    out = segment_contributions(model, feature_set(model, rows), used, 0.5, item)
    assert out["start"][:2] == [0.0, pytest.approx(1.067, abs=1e-3)]
    assert len(out["end"]) == len(out["contribution"]) == SEGMENTS


def test_models_with_a_short_text_input_still_weigh_every_frame_segment():
    """DualAlign reads 16 segments of the frame modalities but one of text: the segments it
    reads follow the longest input, not the one-step text."""
    import torch

    from engine.grading.model_files import LoadedModel
    from models.registry import build

    torch.manual_seed(0)
    net = build("dualalign", "app", score="expected").eval()  # a score that moves smoothly
    dual = LoadedModel("dualalign/test", 1, False, {}, net, "uniform:20", None, "cpu")
    rows = constant_rows(dual, seed=1)
    for m in ("skeleton", "flow", "audio", "rgb"):
        rows[m][4] += 3.0
    found = contributions(dual, rows)
    assert abs(found[4]) > 1e-4  # inside the centred 16 of 20 (2..17), far from the middle
    assert found[[0, 1, 18, 19]].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_a_single_segment_lists_none(model):
    """A recording shorter than one segment (3 s at the fast profile: 32 frames are 3.2 s): its
    one segment equals the average, so its contribution was always 0 and the timeline drew an
    empty row; none is listed."""
    rows = {m: r[:1] for m, r in constant_rows(model).items()}
    features = FeatureSet(rows, {m: True for m in rows}, {m: np.ones(1, bool) for m in rows},
                          np.array([[0.0, 3.0]]), MCMOE)  # fmt: skip
    item = get_protocol("cmas").item("head_elevation")
    found = segment_contributions(model, features, list(rows), 0.5, item)
    assert found == {"start": [], "end": [], "contribution": []}
