"""The benchmark with modalities missing in the training set (per-sample masks in the data)."""

import numpy as np
import pytest

from engine.synthetic import SyntheticSpec, generate
from engine.training.missing_train import MissingTrainConfig, drop_modalities, run_missing_train


def test_drop_modalities_per_sample():
    data = generate(SyntheticSpec(subjects=60, recordings_per_subject=5, segments=4))
    rates = {"rgb": 0.5, "flow": 0.2, "audio": 0.0}
    dropped = drop_modalities(data, rates, np.random.default_rng(0))
    have = [set(dropped.features(i)) for i in range(len(dropped))]
    assert all(have)  # never all of them
    assert all(h <= set(data.features(i)) for i, h in enumerate(have))
    share = {m: np.mean([m not in h for h in have]) for m in rates}
    assert abs(share["rgb"] - 0.5) < 0.08 and abs(share["flow"] - 0.2) < 0.06
    assert share["audio"] == 0
    # kept features are the original arrays
    i = next(i for i, h in enumerate(have) if "rgb" in h)
    assert np.array_equal(dropped.features(i)["rgb"], data.features(i)["rgb"])
    again = drop_modalities(data, rates, np.random.default_rng(0))
    assert [set(again.features(i)) for i in range(len(again))] == have


def test_missing_rates_are_checked():
    with pytest.raises(ValueError, match="unknown modality"):
        MissingTrainConfig(train_missing={"skeleton": 0.5})
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        MissingTrainConfig(train_missing={"rgb": 1.0})


@pytest.mark.slow
def test_limssr_mcmoe_dualalign_on_incomplete_training_data():
    pytest.importorskip("peft", reason="the 'llm' extra (transformers, peft) is not installed")
    config = MissingTrainConfig(
        data=SyntheticSpec(subjects=40, recordings_per_subject=4, segments=8),
        train_missing={"rgb": 0.3, "flow": 0.3, "audio": 0.3},
        epochs=6,
        batch_size=16,
        hidden=32,
    )
    result = run_missing_train(config)
    assert [r.model for r in result.reports] == ["MCMoE", "DualAlign", "LIMSSR"]
    test_rows = result.config["test"]
    for report in result.reports:
        assert len(report.subsets) == 7
        assert all(s.n == test_rows for s in report.subsets)  # the test rows are complete
        assert np.isfinite(report.full().srcc)
    # the training set really lacks modalities, per sample, in many patterns
    assert all(0.15 < share < 0.45 for share in result.train_missing.values())
    assert len(result.train_patterns) == 7 and "{}" not in result.train_patterns
    limssr = result.reports[-1]
    assert np.isfinite([s.srcc for s in limssr.subsets]).all(), result.table()
    assert limssr.full().srcc > 0.5, result.table()
    counts = result.parameters["LIMSSR on Qwen3-0.6B (fs1000 preset, from the configuration)"]
    assert abs(counts["total"] - 618e6) < 1e6 and abs(counts["trainable"] - 177.5e6) < 1e6
    tiny = result.parameters["LIMSSR"]
    assert tiny["trainable"] < tiny["total"]
    assert "LIMSSR" in result.table() and "Average" in result.table()
