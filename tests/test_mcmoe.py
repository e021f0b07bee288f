"""MCMoE: sizes of the paper presets, equality with the released code, masks, training losses."""

from pathlib import Path

import numpy as np
import pytest
import torch

import models
from models.checkpoint import CheckpointMismatchError, load_state, read_torch_state_dict
from models.mcmoe import from_official

FIXTURE = Path(__file__).parent / "fixtures" / "mcmoe_official"
# the released code's configuration the fixture was made with (see its README)
FIXTURE_OVERRIDES = {
    "input_dims": {"rgb": 40, "audio": 24, "flow": 32},
    "hidden": 32,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "queries": 5,
    "dropout": 0.0,
}


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(FIXTURE / "reference.npz") as data:
        return dict(data)


@pytest.fixture
def released():
    """Our network carrying the released code's weights of the fixture."""
    model = models.build("mcmoe", "fs1000", **FIXTURE_OVERRIDES)
    load_state(model, from_official(model, read_torch_state_dict(FIXTURE / "official_small.pkl")))
    return model.eval()


def _features(ref: dict[str, np.ndarray], prefix: str = "") -> dict[str, torch.Tensor]:
    return {m: torch.from_numpy(ref[prefix + m]) for m in ("rgb", "audio", "flow")}


def tiny(**overrides):
    settings = {
        "modalities": ("skeleton", "flow", "audio"),
        "input_dims": {"skeleton": 12, "flow": 8, "audio": 10},
        "hidden": 16,
        "queries": 4,
    }
    return models.build("mcmoe", "small", **{**settings, **overrides})


@pytest.mark.parametrize(("preset", "count"), [("fs1000", 9_122_183), ("rg", 9_384_711),
                                               ("fisv", 9_384_711)])  # fmt: skip
def test_parameter_count_equals_the_released_code(preset, count):
    model = models.build("mcmoe", preset)
    assert sum(p.numel() for p in model.parameters()) == count
    assert model.modalities == ("rgb", "audio", "flow")
    assert model.config.hidden == 256 and model.config.queries == 4


def test_eval_output_equals_the_released_code_for_all_seven_subsets(released, reference):
    features = _features(reference)
    batch = features["rgb"].shape[0]
    with torch.inference_mode():
        for s, subset in enumerate(reference["subsets"]):
            available = torch.from_numpy(subset)[None].expand(batch, -1)
            out = released(features, available)
            np.testing.assert_allclose(out.score.numpy(), reference["score"][s], atol=1e-5, rtol=0)
            np.testing.assert_allclose(
                out.grade_probs.numpy(), reference["grade_probs"][s], atol=1e-5, rtol=0
            )
    # the subsets really give different outputs: the comparison can fail
    assert np.ptp(reference["score"][:, 0]) > 1e-4


def test_per_sample_masks_in_one_batch(released, reference):
    features = _features(reference)
    rows = [0, 4, 6]  # sample b gets subset rows[b]: {v,a,f}, {v}, {f}
    available = torch.from_numpy(reference["subsets"][rows])
    with torch.inference_mode():
        out = released(features, available)
    expected = [reference["score"][s, b] for b, s in enumerate(rows)]
    np.testing.assert_allclose(out.score.numpy(), expected, atol=1e-5, rtol=0)


def test_absent_modalities_come_from_the_mask_not_from_zeros(released, reference):
    features = _features(reference)
    available = torch.tensor([[True, False, True]] * 3)
    with torch.inference_mode():
        base = released(features, available).score
        noisy = dict(features, audio=torch.full_like(features["audio"], float("nan")))
        assert torch.equal(released(noisy, available).score, base)
        without = {k: v for k, v in features.items() if k != "audio"}
        assert torch.equal(released(without, available).score, base)
        zeros = dict(features, audio=torch.zeros_like(features["audio"]))
        present = released(zeros, torch.ones(3, 3, dtype=torch.bool)).score
    assert not torch.allclose(present, base, atol=1e-6)


def test_training_forward_equals_the_released_code(released, reference):
    keep = torch.from_numpy(reference["train_keep"])
    released.train()
    released.draw_training_mask = lambda available: keep[None].expand(available.shape[0], -1)
    features = _features(reference, "train_")
    out = released(features, torch.ones(4, 3, dtype=torch.bool), target=torch.zeros(4))
    # only sample 0 is comparable: the released code adds the batch index's position encoding
    assert out.score[0].item() == pytest.approx(float(reference["train_score"][0]), abs=1e-5)
    recon_align = (out.losses["recon"] + out.losses["align"]).item()
    assert recon_align == pytest.approx(float(reference["train_recon_plus_align"]), abs=1e-5)
    np.testing.assert_allclose(
        released.experts[0].bn1.running_mean.numpy(), reference["train_bn_running_mean"], atol=1e-6
    )


def _eval_batch_norms(model):
    with torch.no_grad():
        for bn in [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]:
            bn.running_mean.normal_(0, 0.3)
            bn.running_var.uniform_(0.5, 1.5)
            bn.weight.normal_(1, 0.2)
            bn.bias.normal_(0, 0.2)


def test_fused_inference_path_equals_the_per_stream_path():
    """Eval folds batch norms, merges the experts into the fusion's first layer and the fusion's
    output into the decoder's keys and values; the result equals the layers run one by one."""
    torch.manual_seed(0)
    model = tiny().eval()
    _eval_batch_norms(model)
    streams = torch.randn(2, 3, 7, 16)
    keep = torch.rand(2, 7) > 0.3
    keep[:, 0] = True
    with torch.no_grad():
        hidden, w_fused = model._mix_fused(streams, keep)
        patterns = model._decode(hidden, keep)
        each, w_each, _ = model._mix_each(
            streams, streams, torch.ones(2, 3, dtype=torch.bool), keep
        )
        fused = model.fusion(each.permute(0, 2, 1, 3).flatten(2))
        queries = (model.prototypes + model.prototype_pos).expand(2, -1, -1)
        expected = model.decoder(queries, fused, keep=keep)
    # (torch.testing.assert_close is avoided: its first call imports for seconds)
    assert (patterns - expected).abs().max() < 1e-5
    assert (w_fused - w_each).abs().max() < 1e-6
    assert expected.std() > 0.1


def test_inference_weights_follow_every_change_of_the_weights():
    """The folded inference weights are cached; eval() after a change by hand, loading a state,
    moving the model or training a step must reach the next eval output."""
    torch.manual_seed(0)
    model = tiny().eval()
    feats = {m: torch.randn(2, 6, d) for m, d in model.input_dims.items()}
    available = torch.ones(2, 3, dtype=torch.bool)

    def score(net=model):
        with torch.inference_mode():
            return net(feats, available).score

    def fresh():
        other = tiny().eval()
        other.load_state_dict(model.state_dict())
        return score(other)

    before = score()
    with torch.no_grad():
        model.experts[1].bn2.running_mean.add_(0.5)
        model.fusion.fc2.weight.mul_(1.5)
    model.eval()
    assert not torch.equal(score(), before)
    assert torch.equal(score(), fresh())
    model.load_state_dict(tiny().state_dict())
    assert torch.equal(score(), fresh())
    model.double()
    with torch.inference_mode():
        double = model({m: v.double() for m, v in feats.items()}, available).score
    assert (double - score(model.float())).abs().max() < 1e-5
    model.train()
    model(feats, available, target=torch.rand(2)).losses["total"].backward()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    model.eval()
    assert torch.equal(score(), fresh())
    with torch.enable_grad():  # not cached where a gradient is recorded
        model.head.bias.grad = None
        model(feats, available).score.sum().backward()
        assert model.fusion.fc1.weight.grad.abs().sum() > 0


def test_training_mask_keeps_a_proper_nonempty_subset_of_what_is_there():
    torch.manual_seed(0)
    model = models.build("mcmoe", "small")  # four modalities
    available = torch.tensor([[1, 1, 1, 1], [1, 0, 1, 0], [0, 0, 1, 0], [0, 1, 1, 1]] * 50).bool()
    keep = model.draw_training_mask(available)
    assert not (keep & ~available).any()
    assert (keep.sum(1) >= 1).all()
    several = available.sum(1) > 1
    assert (keep.sum(1)[several] < available.sum(1)[several]).all()
    assert torch.equal(keep[2::4], available[2::4])
    assert len({tuple(k.tolist()) for k in keep[0::4]}) == 14  # every proper subset of 4 drawn


def test_training_computes_the_four_losses_and_trains_every_part():
    torch.manual_seed(0)
    model = tiny().train()
    feats = {m: torch.randn(6, 5, d) for m, d in model.input_dims.items()}
    available = torch.tensor([[1, 1, 1], [1, 1, 0], [0, 1, 1], [1, 0, 0], [1, 1, 1], [1, 1, 1]])
    out = model(feats, available.bool(), target=torch.rand(6))
    assert set(out.losses) == {"recon", "align", "diversity", "task", "total"}
    assert all(torch.isfinite(v) for v in out.losses.values())
    assert out.losses["recon"] > 0 and out.losses["align"] > 0
    expected = (10 * out.losses["task"] + out.losses["recon"] + out.losses["align"]
                + out.losses["diversity"])  # fmt: skip
    assert abs(out.losses["total"].item() - expected.item()) < 1e-5
    out.losses["total"].backward()
    for part in ("proj", "encoder", "generators", "experts", "router", "fusion", "decoder"):
        grads = [p.grad for p in getattr(model, part).parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), part
    assert out.grade_probs.shape == (6, 4) and out.modality_weights.shape == (6, 3)
    assert (out.grade_probs.sum(1) - 1).abs().max() < 1e-6
    assert model(feats, available.bool()).losses.keys() == {"recon", "align", "diversity", "total"}


def test_small_preset_learns_a_score_from_one_informative_modality():
    torch.manual_seed(0)
    model = tiny(hidden=32, dropout=0.0)
    n, t = 24, 6
    quality = torch.rand(n)
    feats = {m: torch.randn(n, t, d) for m, d in model.input_dims.items()}
    feats["skeleton"][:, :, 0] += 3 * quality[:, None]
    available = torch.ones(n, 3, dtype=torch.bool)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(25):
        model.train()
        opt.zero_grad()
        model(feats, available, target=quality).losses["total"].backward()
        opt.step()
    model.eval()
    with torch.inference_mode():
        score = model(feats, available).score
    corr = np.corrcoef(score.numpy(), quality.numpy())[0, 1]
    assert corr > 0.8


def test_bad_inputs_are_refused():
    model = tiny().eval()
    feats = {m: torch.randn(2, 4, d) for m, d in model.input_dims.items()}
    with pytest.raises(ValueError, match="at least one"):
        model(feats, torch.tensor([[1, 0, 0], [0, 0, 0]]).bool())
    with pytest.raises(ValueError, match="'audio'"):
        model({"skeleton": feats["skeleton"]}, torch.tensor([[1, 0, 1], [1, 0, 0]]).bool())
    with pytest.raises(ValueError, match="input dimension"):
        models.build("mcmoe", "small", modalities=("skeleton", "depth"))


def test_released_weights_that_do_not_fit_are_refused_by_name():
    model = models.build("mcmoe", "fs1000", **FIXTURE_OVERRIDES)
    state = read_torch_state_dict(FIXTURE / "official_small.pkl")
    with pytest.raises(CheckpointMismatchError, match="'regressor.bias' is missing"):
        from_official(model, {k: v for k, v in state.items() if k != "regressor.bias"})
    with pytest.raises(CheckpointMismatchError, match="'extra.weight'"):
        from_official(model, {**state, "extra.weight": torch.zeros(1)})
    bigger = models.build("mcmoe", "fs1000", **{**FIXTURE_OVERRIDES, "input_dims": {"rgb": 41}})
    with pytest.raises(CheckpointMismatchError, match="'in_proj.v.0.weight'"):
        from_official(bigger, state)


def test_features_of_the_wrong_shape_are_refused():
    model = tiny().eval()
    feats = {m: torch.randn(2, 4, d) for m, d in model.input_dims.items()}
    available = torch.ones(2, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"'flow' must be \[B, T, 8\]"):
        model({**feats, "flow": torch.randn(2, 4, 9)}, available)
    with pytest.raises(ValueError, match="same batch size and number of segments"):
        model({**feats, "audio": torch.randn(2, 5, 10)}, available)
