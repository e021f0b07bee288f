"""``aqa train --nproc``: data-parallel training in two processes (gloo on this CPU) takes the
same optimiser steps as one process on the same global batches."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

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


@pytest.mark.slow
def test_aqa_train_nproc_2(tmp_path, capfd):
    source = data()
    rows = ((r, source.features(i)) for i, r in enumerate(source.records))
    write_dataset(tmp_path / "data", source.spec, rows)
    out = tmp_path / "model"
    args = ["train", "--data", str(tmp_path / "data"), "--model", "mcmoe", "--preset", "small"]
    assert main([*args, "--out", str(out), "--epochs", "2", "--nproc", "2", "--json"]) == 0
    printed = capfd.readouterr().out
    assert printed.count('"model_dir"') == 1  # one process reports and saves
    card = json.loads((out / "card.json").read_text())
    assert card["extras"]["training"]["processes"] == 2
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
