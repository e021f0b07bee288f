"""``aqa train --nproc``: data-parallel training in two processes (gloo on this CPU) takes the
same optimiser steps as one process on the same global batches."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import models
from engine.cli import main
from engine.synthetic import SyntheticSpec, generate
from engine.training import distributed
from engine.training.baselines import LateFusion
from engine.training.config import TrainConfig
from engine.training.datasets import write_dataset
from engine.training.trainer import train_model

DIMS = {"rgb": 12, "flow": 8, "audio": 6}
# float32 sums in another order: observed differences are ~1e-7; 1e-5 leaves room, while one
# step taken differently (another batch, another weighting) moves weights by ~1e-3. SGD, not
# Adam: Adam turns the rounding noise of gradients that are zero in exact arithmetic (attention
# key biases, a bias before a softmax) into full-size steps (3e-4 apart after 3 epochs).
TOLERANCE = 1e-5


def data():
    spec = SyntheticSpec(
        dims=dict(DIMS),
        signal={"rgb": 2.0, "flow": 1.5, "audio": 1.0},
        subjects=16,
        recordings_per_subject=3,
        segments=6,
        seed=0,
    )
    return generate(spec)


def train_late_fusion(out: str) -> int:
    """Train the late-fusion baseline (its loss is a mean over rows; no dropout) for 3 epochs
    in batches of 7 (48 rows: shards of 4 and 3 rows in two processes, a last batch of 6)."""
    distributed.join("cpu")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = LateFusion(DIMS, hidden=16, dropout=0.0)
    config = TrainConfig(
        epochs=3, batch_size=7, lr=1e-2, optimizer="sgd", segments=6, seed=0, device="cpu"
    )
    train_model(net, data(), config)
    if distributed.is_main():
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, out)
    distributed.leave()
    return 0


def test_two_processes_take_the_steps_of_one(tmp_path):
    one, two = tmp_path / "one.safetensors", tmp_path / "two.safetensors"
    assert train_late_fusion(str(one)) == 0
    assert distributed.launch(train_late_fusion, (str(two),), 2) == 0
    a, b = load_file(one), load_file(two)
    assert a.keys() == b.keys()
    start = LateFusion(DIMS, hidden=16, dropout=0.0).state_dict()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=TOLERANCE, rtol=0), key
    moved = max(float((a[k] - start[k]).abs().max()) for k in a if a[k].is_floating_point())
    assert moved > 100 * TOLERANCE  # training changed the weights


def train_mcmoe_validated(out: str, epochs: int, patience: int) -> int:
    """Train MCMoE (BatchNorm, validation with early stopping) in this process; each process
    writes its network, the epochs it ran and its validation SRCCs next to ``out``."""
    distributed.join("cpu")
    torch.manual_seed(0)
    rows = data()
    net = models.build("mcmoe", "small", modalities=tuple(DIMS), input_dims=DIMS)
    config = TrainConfig(epochs=epochs, batch_size=8, lr=1e-3, seed=0, patience=patience,
                         device="cpu")  # fmt: skip
    cut = len(rows) - 12
    result = train_model(net, rows.subset(range(cut)), config, rows.subset(range(cut, len(rows))))
    rank = distributed.rank()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, f"{out}.{rank}")
    summary = {"epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
               "val_srcc": [e.val_srcc for e in result.history]}  # fmt: skip
    Path(f"{out}.{rank}.json").write_text(json.dumps(summary))
    distributed.leave()
    return 0


@pytest.mark.slow
def test_processes_keep_one_network_and_stop_together(tmp_path):
    """Each process's BatchNorm follows its own rows: their running statistics are averaged
    after every epoch and the first process validates for all. Before, each process validated
    its own statistics, so one could stop early while the other waited for it (the run failed)
    and each kept another "best" epoch."""
    out = str(tmp_path / "net")
    assert distributed.launch(train_mcmoe_validated, (out, 12, 3), 2) == 0
    first, second = load_file(f"{out}.0"), load_file(f"{out}.1")
    for key in first:  # the same network: weights and running statistics
        assert torch.equal(first[key], second[key]), key
    runs = [json.loads(Path(f"{out}.{r}.json").read_text()) for r in (0, 1)]
    assert runs[0] == runs[1]
    assert runs[0]["epochs_run"] < 12  # patience stopped it, in both processes at once
    stats = [k for k in first if k.endswith("running_mean")]
    assert stats and any(float(first[k].abs().max()) > 0 for k in stats)


@pytest.mark.slow
def test_aqa_train_nproc_2(tmp_path, capfd):
    source = data()
    rows = ((r, source.features(i)) for i, r in enumerate(source.records))
    write_dataset(tmp_path / "data", source.spec, rows)
    out = tmp_path / "model"
    args = ["train", "--data", str(tmp_path / "data"), "--model", "mcmoe", "--preset", "small"]
    run = ["--out", str(out), "--epochs", "3", "--patience", "1", "--nproc", "2", "--json"]
    assert main([*args, *run]) == 0
    printed = capfd.readouterr().out
    assert printed.count('"model_dir"') == 1  # one process reports and saves
    training = json.loads((out / "card.json").read_text())["extras"]["training"]
    assert training["processes"] == 2 and training["patience"] == 1
    assert 1 <= training["best_epoch"] <= training["epochs_run"] <= 3
    assert main([*args, "--out", str(out), "--nproc", "0"]) == 2


def test_processes_train_on_cuda_only_with_a_gpu_each():
    """nccl cannot put two processes on one GPU (the H200 run of ``aqa train --nproc 2`` failed
    so): ``auto`` then trains on the CPU, ``cuda`` is refused with one sentence."""
    from engine.errors import InputError

    assert distributed.group_device("auto", 2, 2) == "cuda"
    assert distributed.group_device("auto", 2, 1) == "cpu"
    assert distributed.group_device("auto", 2, 0) == "cpu"
    assert distributed.group_device("cpu", 2, 8) == "cpu"
    with pytest.raises(InputError, match="need a GPU each and this machine has 1"):
        distributed.group_device("cuda", 2, 1)
    with pytest.raises(InputError, match="no CUDA device"):
        distributed.group_device("cuda", 2, 0)
