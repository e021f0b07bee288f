"""Per-segment validity reaches MCMoE, DualAlign and LIMSSR: padding and undetected stretches are
masked out of their attention and pooling, never read as data."""

import importlib.util

import numpy as np
import pytest
import torch

import models
from engine.errors import InputError
from engine.grading.model_files import LoadedModel

MODS = ("rgb", "flow", "audio")
DIMS = {"rgb": 12, "flow": 8, "audio": 6}
SEGMENTS = 12
HAS_LLM = all(importlib.util.find_spec(p) for p in ("transformers", "peft", "tokenizers"))


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    """Tiny networks on a shared CPU: more threads only wait on each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def network(name: str, llm_dir=None):
    torch.manual_seed(0)
    if name == "mcmoe":
        net = models.build(
            "mcmoe", "small", modalities=MODS, input_dims=DIMS, segments=SEGMENTS, hidden=16
        )
    elif name == "dualalign":
        lengths = {m: SEGMENTS for m in MODS}
        net = models.build(
            "dualalign", "app", modalities=list(MODS), input_dims=DIMS, lengths=lengths,
            d1=16, d2=16, d3=8, heads=2, score="expected",
        )  # fmt: skip
    else:
        net = models.build(
            "limssr", "small", modalities=MODS, input_dims=DIMS, segments=SEGMENTS,
            llm_path=str(llm_dir),
        )  # fmt: skip
    with torch.no_grad():  # trained-looking batch norms: the padding would shift every output
        for bn in [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm1d)]:
            bn.running_mean.normal_(0, 0.3)
            bn.running_var.uniform_(0.5, 1.5)
    return net.eval()


def loaded(net) -> LoadedModel:
    return LoadedModel("test", 1, False, {}, net, "clips:12", None, "cpu")


def recording(t: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {m: rng.normal(size=(t, d)).astype(np.float32) for m, d in DIMS.items()}


@pytest.fixture(scope="module")
def llm_dir(tmp_path_factory):
    if not HAS_LLM:
        pytest.skip("the 'llm' extra (transformers, peft) is not installed")
    from models.limssr import write_tiny_backbone

    return write_tiny_backbone(tmp_path_factory.mktemp("tiny-qwen3"), MODS)


NETWORKS = ["mcmoe", "dualalign", pytest.param("limssr", marks=pytest.mark.slow)]


@pytest.fixture(params=NETWORKS)
def net(request):
    llm = request.getfixturevalue("llm_dir") if request.param == "limssr" else None
    return network(request.param, llm)


def test_padded_recording_grades_as_the_unpadded_one(net):
    n, pad = 7, 5
    feats = recording(n)
    available = torch.tensor([[True, True, True], [True, False, True]])
    x = {m: torch.from_numpy(a)[None].repeat(2, 1, 1) for m, a in feats.items()}
    padded = {m: torch.cat([a, torch.zeros(2, pad, a.shape[2])], dim=1) for m, a in x.items()}
    valid = {m: (torch.arange(n + pad) < n).expand(2, -1) for m in MODS}
    if net.build_args["name"] == "limssr":  # a missing block has the configured length
        available = available[:1]
        x, padded = ({m: a[:1] for m, a in d.items()} for d in (x, padded))
        valid = {m: v[:1] for m, v in valid.items()}
    with torch.no_grad():
        plain = net(x, available).score
        masked = net(padded, available, valid=valid).score
        as_data = net(padded, available).score
    assert (plain - masked).abs().max() < 1e-5
    assert (plain - as_data).abs().max() > 1e-4  # the zeros, read as data, change the grade

    # through the grading entry point: a short recording is padded to the network's length
    short, _ = loaded(net).predict(feats, list(MODS))
    assert abs(short - float(plain[0])) < 1e-5


def test_long_undetected_stretch_is_not_graded_from_its_zeros(net):
    feats = recording(SEGMENTS)
    seen = {m: np.ones(SEGMENTS, dtype=bool) for m in MODS}
    seen["rgb"][2:9] = False  # the person was not detected for 7 of 12 segments
    seen["flow"][2:9] = False
    zeros = {m: a.copy() for m, a in feats.items()}
    noise = {m: a.copy() for m, a in feats.items()}
    rng = np.random.default_rng(5)
    for m in ("rgb", "flow"):
        zeros[m][2:9] = 0.0
        noise[m][2:9] = rng.normal(scale=3.0, size=noise[m][2:9].shape)
    model = loaded(net)
    score, probs = model.predict(zeros, list(MODS), valid=seen)
    again, probs_again = model.predict(noise, list(MODS), valid=seen)
    assert abs(score - again) < 1e-5
    assert np.abs(probs - probs_again).max() < 1e-5
    assert abs(score - model.predict(zeros, list(MODS))[0]) > 1e-4  # zeros read as data differ


def test_a_modality_without_valid_segments_counts_as_missing(net):
    feats = recording(SEGMENTS)
    model = loaded(net)
    unseen = {"flow": np.zeros(SEGMENTS, dtype=bool)}
    without, _ = model.predict(feats, ["rgb", "audio"])
    assert abs(model.predict(feats, list(MODS), valid=unseen)[0] - without) < 1e-5
    with pytest.raises(InputError, match="valid segment"):
        model.predict(feats, ["flow"], valid=unseen)


def test_mcmoe_training_ignores_what_invalid_segments_hold():
    torch.manual_seed(0)
    net = models.build(
        "mcmoe", "small", modalities=MODS, input_dims=DIMS, segments=SEGMENTS, hidden=16,
        dropout=0.0,
    ).train()  # fmt: skip
    gen = torch.Generator().manual_seed(2)
    x = {m: torch.randn(4, SEGMENTS, d, generator=gen) for m, d in DIMS.items()}
    valid = {m: torch.arange(SEGMENTS).expand(4, -1) < 8 for m in MODS}
    noisy = {m: torch.where(valid[m][..., None], a, 50 * torch.randn_like(a)) for m, a in x.items()}
    available, target = torch.ones(4, 3, dtype=torch.bool), torch.rand(4)
    runs = []
    for feats in (x, noisy):
        torch.manual_seed(1)  # the same random modality masks
        runs.append(net(feats, available, target=target, valid=valid))
    assert (runs[0].score - runs[1].score).abs().max() < 1e-5
    for name, loss in runs[0].losses.items():
        assert abs(loss.item() - runs[1].losses[name].item()) < 1e-4, name


def test_mcmoe_trains_on_a_batch_with_a_single_valid_segment():
    """One sample of one real segment, the rest padding (a 2 s clip at clips:32): no batch
    statistics exist, so the running ones normalise it instead of the training crashing."""
    torch.manual_seed(0)
    net = models.build(
        "mcmoe", "small", modalities=MODS, input_dims=DIMS, segments=SEGMENTS, hidden=16
    ).train()
    x = {m: torch.randn(1, SEGMENTS, d) for m, d in DIMS.items()}
    valid = {m: torch.arange(SEGMENTS)[None] < 1 for m in MODS}
    out = net(x, torch.ones(1, 3, dtype=torch.bool), target=torch.rand(1), valid=valid)
    sum(out.losses.values()).backward()
    assert torch.isfinite(out.score).all()
