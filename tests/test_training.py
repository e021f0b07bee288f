"""Feature-set directories, batching, the trainer, checkpoints and the train/evaluate commands."""

import json
import math

import numpy as np
import pytest
import torch

from engine.cli import main
from engine.device import select_torch_device
from engine.errors import InputError
from engine.synthetic import SyntheticSpec, generate
from engine.training.baselines import LateFusion
from engine.training.config import TrainConfig, default_config
from engine.training.datasets import (
    FeatureDataset,
    crop_or_pad,
    input_lengths,
    iterate_batches,
    write_dataset,
)
from engine.training.evaluate import evaluate_subsets, format_table
from engine.training.throughput import training_throughput
from engine.training.trainer import train_model

DIMS = {"rgb": 12, "flow": 8, "audio": 6}


@pytest.fixture(autouse=True)
def one_thread():
    """Small networks: one torch thread is fastest, and steady on a shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small_data(seed=0, subjects=16, missing=None):
    spec = SyntheticSpec(
        dims=dict(DIMS),
        signal={"rgb": 2.0, "flow": 1.5, "audio": 1.0},
        subjects=subjects,
        recordings_per_subject=3,
        segments=6,
        missing=missing or {},
        seed=seed,
    )
    return generate(spec)


@pytest.fixture
def data_dir(tmp_path):
    data = small_data()
    rows = ((r, data.features(i)) for i, r in enumerate(data.records))
    write_dataset(tmp_path / "data", data.spec, rows)
    return tmp_path / "data"


def test_data_directory_round_trip(data_dir):
    data = small_data()
    back = FeatureDataset.open(data_dir)
    assert back.spec == data.spec
    assert back.records == data.records
    for i in (0, 7):
        for m, a in data.features(i).items():
            np.testing.assert_array_equal(back.features(i)[m], a)
    assert back.content_hash() == data.content_hash()
    other = small_data(seed=1)
    assert other.content_hash() != data.content_hash()


def test_open_refuses_a_broken_directory(data_dir):
    (data_dir / "labels.csv").write_text("sample,subject,score\ns000_r0,s000,high\n")
    with pytest.raises(InputError, match="not a number"):
        FeatureDataset.open(data_dir)
    with pytest.raises(InputError, match="not a feature-set directory"):
        FeatureDataset.open(data_dir / "samples")


def test_missing_modality_comes_from_the_file_not_from_zeros():
    data = small_data(missing={"audio": 0.5})
    absent = [i for i in range(len(data)) if "audio" not in data.features(i)]
    assert absent
    batches = list(iterate_batches(data, ["rgb", "flow", "audio"], DIMS, {m: 6 for m in DIMS}, 64))
    available = torch.cat([b.available for b in batches])
    features = torch.cat([b.features["audio"] for b in batches])
    assert not available[absent, 2].any()
    assert available[:, :2].all()
    assert (features[absent] == 0).all()


def test_batches_carry_the_validity_of_their_padding():
    data = small_data(missing={"audio": 0.5})  # 6 segments, read as 8: the last 2 are padding
    batch = next(iterate_batches(data, list(DIMS), DIMS, {m: 8 for m in DIMS}, 64))
    for i, m in enumerate(DIMS):
        ok = batch.valid[m]
        assert ok.shape == (len(batch.target), 8)
        assert not ok[:, 6:].any()
        assert (ok[:, :6].all(dim=1) == batch.available[:, i]).all()  # a lacking row: all False


def test_crop_is_centred_in_evaluation_and_padding_is_marked_invalid():
    a = np.arange(10, dtype=np.float32)[:, None]
    seen = np.arange(10) % 3 != 0  # an undetected segment every third
    out, valid = crop_or_pad(
        {"rgb": a, "flow": a[:3]}, {"rgb": 4, "flow": 4}, rng=None, valid={"rgb": seen}
    )
    assert out["rgb"][:, 0].tolist() == [3, 4, 5, 6]  # start (10 - 4) // 2, as MCMoE's test
    assert valid["rgb"].tolist() == [False, True, True, False]  # the window of ``seen``
    assert out["flow"][:, 0].tolist() == [0, 1, 2, 0]
    assert valid["flow"].tolist() == [True, True, True, False]  # the padding
    starts = {
        crop_or_pad({"rgb": a}, {"rgb": 4}, np.random.default_rng(s))[0]["rgb"][0, 0]
        for s in range(40)
    }
    assert starts == set(range(7))  # every start 0..6 is drawn in training


def test_subset_evaluation_hides_modalities():
    data = small_data()
    batches = list(
        iterate_batches(data, list(DIMS), DIMS, {m: 6 for m in DIMS}, 100, keep=["flow"])
    )
    b = batches[0]
    assert b.available[:, 1].all() and not b.available[:, [0, 2]].any()
    assert (b.features["rgb"] == 0).all()


def test_training_learns_and_early_stopping_stops():
    data = small_data(subjects=24)
    train, test = data.subset(range(0, 54)), data.subset(range(54, 72))
    net = LateFusion(DIMS, hidden=16)
    config = TrainConfig(epochs=25, lr=3e-3, batch_size=16, segments=6, seed=0)
    result = train_model(net, train, config, test)
    assert result.val_srcc > 0.6
    assert 1 <= result.best_epoch <= 25
    # Trained where ``auto`` points: the CPU here, CUDA (with mixed precision) on a GPU machine.
    device = select_torch_device("auto").device
    assert result.device == device and result.amp == (device == "cuda")
    report = evaluate_subsets(net, test, {m: 6 for m in DIMS})
    assert [r.subset for r in report.subsets][-1] == ["rgb", "flow", "audio"]
    assert report.full().srcc == pytest.approx(result.val_srcc)
    assert "Average" in format_table([report])

    frozen = LateFusion(DIMS, hidden=16)
    still = TrainConfig(epochs=25, lr=1e-12, segments=6, patience=2, seed=0)
    assert train_model(frozen, train, still, test).epochs_run == 3


def test_training_is_reproducible_with_a_seed():
    data = small_data()
    config = TrainConfig(epochs=2, lr=1e-3, batch_size=8, segments=6, seed=5)
    a, b = LateFusion(DIMS, hidden=8), LateFusion(DIMS, hidden=8)
    b.load_state_dict(a.state_dict())
    train_model(a, data, config)
    train_model(b, data, config)
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(x, y)


def test_paper_defaults():
    rg = default_config("mcmoe", "rg", "Ball")
    assert (rg.optimizer, rg.lr, rg.weight_decay, rg.batch_size) == ("adam", 2e-4, 1e-4, 32)
    assert (rg.epochs, rg.lr_min_ratio, rg.schedule, rg.seed) == (410, 0.01, "cosine", 0)
    assert default_config("mcmoe", "fs1000", "TES").lr == 1e-4
    da = default_config("dualalign", "mm-jdm")
    assert (da.optimizer, da.lr, da.weight_decay, da.schedule) == ("sgd", 1e-2, 1e-4, "cosine")
    with pytest.raises(InputError):
        TrainConfig(optimizer="lion")


def test_cuda_request_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    data = small_data()
    with pytest.raises(InputError, match="CUDA"):
        train_model(LateFusion(DIMS, 8), data, TrainConfig(epochs=1, segments=6, device="cuda"))


def test_throughput_is_measured_on_a_copy():
    import models

    net = models.build("mcmoe", "small", modalities=tuple(DIMS), input_dims=DIMS, segments=6)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rate = training_throughput(net, batch_size=4, steps=2)
    assert rate > 0 and math.isfinite(rate)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert input_lengths(net) == {m: 6 for m in DIMS}


def test_train_and_evaluate_commands(data_dir, tmp_path, capsys):
    out = tmp_path / "model"
    code = main(
        ["train", "--data", str(data_dir), "--model", "mcmoe", "--preset", "small",
         "--epochs", "2", "--batch-size", "16", "--out", str(out), "--json"]
    )  # fmt: skip
    assert code == 0
    trained = json.loads(capsys.readouterr().out)
    assert trained["split"]["train"] > 0 and trained["split"]["test"] > 0
    card = json.loads((out / "card.json").read_text())
    assert card["name"] == "mcmoe" and card["preset"] == "small"
    assert card["label_range"] == [0.0, 5.0]
    assert card["data_hash"] == FeatureDataset.open(data_dir).content_hash()
    assert card["modalities"] == ["flow", "audio", "rgb"]
    assert card["extras"]["training"]["optimizer"] == "adam"
    assert len(card["metrics"]["test"]["subsets"]) == 7

    assert main(["evaluate", str(out), "--data", str(data_dir), "--rows", "all", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [len(s["subset"]) for s in report["subsets"]] == [2, 2, 2, 1, 1, 1, 3]
    assert all(s["n"] == 48 for s in report["subsets"])
    assert main(["evaluate", str(out), "--data", str(data_dir), "--json"]) == 0
    held_out = json.loads(capsys.readouterr().out)  # the same test rows as in training
    # Equal up to float rounding (on a GPU, training and evaluation batch differently).
    assert rounded(held_out) == rounded(card["metrics"]["test"] | {"model": held_out["model"]})
    assert main(["evaluate", str(out), "--data", str(data_dir)]) == 0
    table = capsys.readouterr().out
    assert "{f,a}" in table and "Average" in table


def test_evaluate_refuses_data_on_another_scale(data_dir, tmp_path, capsys):
    out = tmp_path / "model"
    args = ["train", "--data", str(data_dir), "--model", "mcmoe", "--preset", "small"]
    assert main(args + ["--epochs", "1", "--out", str(out)]) == 0
    meta = json.loads((data_dir / "dataset.json").read_text())
    meta["score_max"] = 10.0
    (data_dir / "dataset.json").write_text(json.dumps(meta))
    capsys.readouterr()
    assert main(["evaluate", str(out), "--data", str(data_dir)]) == 2
    assert "trained on scores 0.0..5.0" in capsys.readouterr().err


def test_dualalign_trains_on_the_data_grades(data_dir, tmp_path, capsys):
    out = tmp_path / "dual"
    args = ["train", "--data", str(data_dir), "--model", "dualalign", "--preset", "app"]
    assert main(args + ["--epochs", "1", "--batch-size", "8", "--out", str(out), "--json"]) == 0
    capsys.readouterr()
    card = json.loads((out / "card.json").read_text())
    assert card["overrides"]["num_grades"] == 6 and card["modalities"] == ["flow", "rgb", "audio"]
    assert card["extras"]["training"]["optimizer"] == "sgd"  # the paper's optimiser
    assert main(["evaluate", str(out), "--data", str(data_dir), "--subsets", "full", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["subsets"]) == 1 and report["subsets"][0]["accuracy"] is not None


def test_trainer_aqa_train_and_the_benchmark_take_the_one_table_of_defaults(
    data_dir, tmp_path, capsys, monkeypatch
):
    from dataclasses import replace

    import models
    from engine.synthetic import BenchConfig, run_benchmark
    from engine.training.config import DEFAULTS

    # an unusual entry in the table: every path must pick it up from there
    mcmoe = replace(DEFAULTS["mcmoe"]["small"], lr=1.234e-3, weight_decay=2e-5, epochs=1)
    dual = replace(DEFAULTS["dualalign"]["app"], lr=4.321e-3, momentum=0.8, epochs=1)
    monkeypatch.setitem(DEFAULTS["mcmoe"], "small", mcmoe)
    monkeypatch.setitem(DEFAULTS["dualalign"], "app", dual)

    net = models.build("mcmoe", "small", modalities=tuple(DIMS), input_dims=DIMS, segments=6)
    assert train_model(net, small_data()).config == mcmoe  # the trainer without a config

    out = tmp_path / "model"
    args = ["train", "--data", str(data_dir), "--model", "mcmoe", "--preset", "small"]
    assert main(args + ["--out", str(out), "--json"]) == 0
    capsys.readouterr()
    trained = json.loads((out / "card.json").read_text())["extras"]["training"]
    chosen = {k: v for k, v in mcmoe.to_json().items() if k not in ("device", "amp")}  # resolved
    assert {k: trained[k] for k in chosen} == chosen

    spec = SyntheticSpec(dims=dict(DIMS), subjects=12, recordings_per_subject=2, segments=6)
    bench = run_benchmark(BenchConfig(data=spec, epochs=1, hidden=16)).config["training"]
    budget = {"epochs": 1, "batch_size": 32, "segments": 6, "seed": 0}  # the benchmark's own
    assert bench["MCMoE"] == replace(mcmoe, **budget).to_json()
    assert bench["DualAlign"] == replace(dual, **budget).to_json()


def test_every_preset_has_training_defaults():
    import models
    from engine.training.config import DEFAULTS

    for name in models.available_models():
        assert sorted(DEFAULTS[name]) == models.presets(name), name
    with pytest.raises(InputError, match="No training defaults for mcmoe/nope"):
        default_config("mcmoe", "nope")


def test_stored_segment_validity_reaches_the_batches(tmp_path):
    data = small_data(subjects=4)
    rows = list(range(len(data)))
    valid = [{"rgb": np.arange(6) % 2 == 0} if i == 0 else {} for i in rows]
    valid[1] = {"flow": np.zeros(6, bool)}  # nothing seen: flow counts as missing
    shown = FeatureDataset.in_memory(
        data.spec, data.records, [data.features(i) for i in rows], valid
    )
    assert shown.validity(0)["rgb"].tolist() == [True, False] * 3 and shown.validity(2) == {}
    assert set(shown.features(0)) == set(DIMS)
    assert shown.content_hash() != data.content_hash()
    on_disk = write_dataset(
        tmp_path / "data",
        data.spec,
        ((r, {**shown.features(i), **{f"valid/{m}": v for m, v in valid[i].items()}})
         for i, r in enumerate(data.records)),
    )  # fmt: skip
    again = FeatureDataset.open(on_disk)
    assert again.content_hash() == shown.content_hash()
    for source in (shown, again):
        batch = next(iterate_batches(source, list(DIMS), DIMS, {m: 6 for m in DIMS}, 64))
        assert batch.valid["rgb"][0].tolist() == [True, False] * 3
        assert batch.valid["flow"][0].all() and batch.valid["rgb"][1].all()
        assert not batch.available[1, list(DIMS).index("flow")]
        assert batch.available[2].all()


def rounded(value):
    """``value`` with every float rounded to 6 significant digits (nested dicts and lists)."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value
