"""DualAlign: shapes, masks, ETF and GRAM geometry, and a real (tiny) training run."""

import itertools
import json
import math

import numpy as np
import pytest
import torch

from models import dualalign
from models.etf import simplex_etf
from models.gram import gram_contrastive_loss, gram_volume

TINY = {"d1": 32, "d2": 16, "d3": 16, "heads": 4}


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny matrices: one thread is faster and immune to a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _inputs(model, batch, length=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    feats = {
        m: torch.randn(batch, 1 if m == "text" else length, d, generator=gen)
        for m, d in model.input_dims.items()
    }
    return feats, torch.ones(batch, len(model.modalities), dtype=torch.bool)


def _quiet(preset="mm-jdm", **kw):
    """A tiny model without dropout (deterministic in train mode)."""
    return dualalign.build(preset, **TINY, attn_dropout=0.0, dropout=0.0, **kw)


@pytest.mark.parametrize("preset", sorted(dualalign.PRESETS))
def test_shapes_for_every_preset(preset):
    torch.manual_seed(0)
    model = dualalign.build(preset).eval()
    feats, avail = _inputs(model, batch=2, length=4)
    with torch.inference_mode():
        out = model(feats, avail)
    cfg = dualalign.PRESETS[preset]
    n = cfg["coarse_grades"] * cfg["fine_grades"] if cfg["continuous"] else cfg["num_grades"]
    assert out.score.shape == (2,)
    assert out.grade_probs.shape == (2, n)
    assert out.embedding.shape == (2, cfg["d2"])
    assert torch.allclose(out.grade_probs.sum(-1), torch.ones(2))
    assert ((out.score >= 0) & (out.score <= 1)).all()
    assert out.losses == {}
    assert set(model.input_dims) == set(model.modalities) == set(cfg["modalities"])


def test_mm_jdm_full_size_at_batch_one():
    model = dualalign.build("mm-jdm").eval()
    # our architecture's count (the official code builds ~36.7 M; see the module docstring)
    assert dualalign.parameter_count(model) == 25_856_064
    feats, avail = dualalign.example_inputs(model, batch=1)
    assert feats["image"].shape == (1, 103, 512)
    with torch.inference_mode():
        out = model(feats, avail)
    assert out.grade_probs.shape == (1, 6)


def test_mm_jdm_preset_follows_the_paper():
    cfg = dualalign.PRESETS["mm-jdm"]
    assert (cfg["d1"], cfg["d2"], cfg["tau"], cfg["dropout"]) == (1024, 512, 0.1, 0.5)
    assert (cfg["lambda_vfs"], cfg["lambda_vit"]) == (1.0, 1.0)
    model = dualalign.build("mm-jdm", num_grades=3)
    assert model.grade_etf.prototypes.shape[0] == 3


def test_every_modality_subset_runs():
    model = _quiet().eval()
    m = len(model.modalities)
    feats, _ = _inputs(model, batch=1)
    scores = set()
    with torch.inference_mode():
        for r in range(1, m + 1):
            for subset in itertools.combinations(range(m), r):
                avail = torch.zeros(1, m, dtype=torch.bool)
                avail[0, list(subset)] = True
                out = model(feats, avail)
                assert torch.isfinite(out.grade_probs).all()
                scores.add(round(float(out.grade_probs[0, 0]), 6))
    assert len(scores) > 1  # the subsets do change the prediction


def test_missing_modality_does_not_influence_any_output():
    torch.manual_seed(0)
    model = _quiet().train()  # train mode: the losses must be invariant too
    feats, avail = _inputs(model, batch=4)
    avail[0, model.modalities.index("skeleton")] = False
    avail[1, model.modalities.index("rgb")] = False
    avail[2, model.modalities.index("text")] = False
    avail[3, model.modalities.index("flow")] = False
    target = torch.tensor([0.0, 0.4, 0.6, 1.0])
    before = model(feats, avail, target)

    changed = {k: v.clone() for k, v in feats.items()}
    changed["skeleton"][0] = 1e3 * torch.randn_like(changed["skeleton"][0])
    changed["rgb"][1] = float("nan")
    changed["text"][2] = -7.0
    changed["flow"][3] = torch.randn_like(changed["flow"][3])
    after = model(changed, avail, target)
    assert torch.equal(before.score, after.score)
    assert torch.allclose(before.grade_probs, after.grade_probs, atol=1e-6)
    assert torch.allclose(before.embedding, after.embedding, atol=1e-6)
    for name in before.losses:
        assert torch.allclose(before.losses[name], after.losses[name], atol=1e-6), name

    # the same change on an *available* modality does change the output (the test can fail)
    changed["skeleton"][1] = 1e3 * torch.randn_like(changed["skeleton"][1])
    moved = model(changed, avail, target)
    assert not torch.allclose(before.embedding[1], moved.embedding[1], atol=1e-4)


def test_absent_key_allowed_when_masked_for_the_whole_batch():
    model = _quiet().eval()
    feats, avail = _inputs(model, batch=2)
    avail[:, model.modalities.index("text")] = False
    with torch.inference_mode():
        full = model(feats, avail)
        del feats["text"]
        without = model(feats, avail)
    assert torch.allclose(full.grade_probs, without.grade_probs, atol=1e-6)
    # the fast path (absent from the whole batch) equals the per-sample path
    for name in ("rgb", "skeleton", "text", "image"):
        feats, avail = _inputs(model, batch=2)
        avail[0, model.modalities.index(name)] = False
        with torch.inference_mode():
            mixed = model(feats, avail)
            alone = model({k: v[:1] for k, v in feats.items()}, avail[:1])
        assert torch.allclose(mixed.embedding[:1], alone.embedding, atol=1e-5), name
    avail[0, model.modalities.index("text")] = True
    del feats["text"]
    with pytest.raises(ValueError, match="text"):
        model(feats, avail)


def test_config_rebuilds_the_same_architecture():
    model = dualalign.build("fisv", **TINY, coarse_grades=4)
    again = dualalign.build(model.preset, **model.config)
    assert again.config == model.config
    again.load_state_dict(model.state_dict())
    assert json.loads(json.dumps(model.config)) == model.config


def test_attention_is_between_modalities_not_across_the_batch():
    torch.manual_seed(0)
    model = _quiet().eval()
    feats, avail = _inputs(model, batch=3)
    with torch.inference_mode():
        batched = model(feats, avail)
        single = model({k: v[:1] for k, v in feats.items()}, avail[:1])
        # at batch size 1 the skeleton and the text still change the output
        for name in ("skeleton", "text"):
            other = {k: v[:1].clone() for k, v in feats.items()}
            other[name] = torch.randn_like(other[name])
            moved = model(other, avail[:1])
            assert not torch.allclose(moved.embedding, single.embedding, atol=1e-4), name
    assert torch.allclose(batched.embedding[:1], single.embedding, atol=1e-5)


def test_inference_attention_over_many_keys_equals_the_projected_keys():
    """In eval a block whose keys outnumber its queries skips projecting them (folded into the
    queries); the result equals the training path's projected keys and values, masks included."""
    torch.manual_seed(0)
    model = _quiet().eval()
    feats, avail = _inputs(model, batch=3, length=9)
    feats["rgb"] = feats["rgb"][:, :2]  # two anchor tokens query nine skeleton tokens
    avail[2, model.modalities.index("skeleton")] = False
    valid = {"skeleton": torch.rand(3, 9, generator=torch.Generator().manual_seed(1)) > 0.4}
    valid["skeleton"][:, 0] = True
    with torch.no_grad():
        folded = model(feats, avail, valid=valid)
        model.train()  # no dropout: the same function, through the projected keys
        projected = model(feats, avail, valid=valid)
    assert (folded.embedding - projected.embedding).abs().max() < 1e-5
    assert (folded.grade_probs - projected.grade_probs).abs().max() < 1e-6
    assert folded.embedding.abs().max() > 0.1


def test_etf_prototypes_are_a_fixed_simplex():
    for g in (2, 3, 6, 7):
        protos = simplex_etf(g, 16)
        cos = protos @ protos.t()
        assert torch.allclose(cos.diagonal(), torch.ones(g), atol=1e-5)
        off = cos[~torch.eye(g, dtype=torch.bool)]
        assert torch.allclose(off, torch.full_like(off, -1.0 / (g - 1)), atol=1e-5)
    model = _quiet()
    names = {name for name, _ in model.named_parameters()}
    assert not any("prototypes" in n for n in names)
    assert "grade_etf.prototypes" in model.state_dict()
    etf = model.grade_etf.prototypes.clone()
    assert not model.grade_etf.prototypes.requires_grad
    feats, avail = _inputs(model, batch=4)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train()(feats, avail, torch.tensor([0, 1, 2, 3])).losses["total"].backward()
    opt.step()
    assert torch.equal(model.grade_etf.prototypes, etf)
    assert torch.equal(dualalign.build("mm-jdm", **TINY).grade_etf.prototypes, etf)


def test_gram_volume_geometry():
    v = torch.randn(8)
    assert float(gram_volume(torch.stack([v, 2 * v, v]))) < 1e-5  # identical directions
    assert math.isclose(float(gram_volume(torch.eye(3, 5))), 1.0, abs_tol=1e-6)
    a, b = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([1.0, 1.0, 0.0])
    angle = math.pi / 4
    assert math.isclose(float(gram_volume(torch.stack([a, b]))), math.sin(angle), abs_tol=1e-6)
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(5, 3, 12))
    unit = vecs / np.linalg.norm(vecs, axis=-1, keepdims=True)
    expected = np.sqrt(np.linalg.det(unit @ unit.transpose(0, 2, 1)))
    got = gram_volume(torch.tensor(vecs, dtype=torch.float64))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)
    # a masked vector is left out of the volume
    mask = torch.tensor([True, True, False])
    three = torch.tensor(vecs[0], dtype=torch.float64)
    assert torch.allclose(gram_volume(three, mask), gram_volume(three[:2]))


def test_gram_contrastive_loss_prefers_aligned_batches():
    torch.manual_seed(0)
    anchor = torch.randn(8, 32)
    ok_a = torch.ones(8, dtype=torch.bool)
    one = torch.ones(8, 1, dtype=torch.bool)
    aligned = anchor[:, None] + 0.05 * torch.randn(8, 1, 32)
    good = gram_contrastive_loss(anchor, aligned, ok_a, one)
    bad = gram_contrastive_loss(anchor, torch.randn(8, 1, 32), ok_a, one)
    assert float(good) < 0.1 < 2.0 < float(bad)
    two = torch.ones(8, 2, dtype=torch.bool)
    pair = torch.stack([anchor + 0.3 * torch.randn(8, 32), anchor + 0.3 * torch.randn(8, 32)], 1)
    assert gram_contrastive_loss(anchor, pair, ok_a, two) < gram_contrastive_loss(
        anchor, pair[torch.randperm(8)], ok_a, two
    )
    # degenerate (identical or zero) vectors keep finite gradients
    for base in (anchor, torch.zeros(8, 32)):
        a = base.clone().requires_grad_(True)
        same = base[:, None].repeat(1, 2, 1).requires_grad_(True)
        gram_contrastive_loss(a, same, ok_a, two).backward()
        assert torch.isfinite(a.grad).all() and torch.isfinite(same.grad).all()
    # with one sample there is nothing to contrast
    assert float(gram_contrastive_loss(anchor[:1], aligned[:1], ok_a[:1], one[:1])) == 0.0


def test_backward_with_missing_modalities():
    torch.manual_seed(0)
    model = _quiet("mm-jdm", modality_dropout=0.3).train()
    feats, avail = _inputs(model, batch=6)
    avail[:, model.modalities.index("text")] = False
    avail[0, model.modalities.index("rgb")] = False
    avail[1, :] = False
    avail[1, model.modalities.index("flow")] = True
    out = model(feats, avail, torch.linspace(0, 1, 6))
    assert set(out.losses) == {"grade", "vfs", "vit", "total"}
    out.losses["total"].backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert model.anchor_placeholder.grad.abs().sum() > 0


def _separable(n, model, num_grades, seed):
    """Grades written into the rgb, flow and skeleton features along fixed directions."""
    gen = torch.Generator().manual_seed(seed)
    grade = torch.arange(n) % num_grades
    feats, _ = _inputs(model, batch=n, length=4, seed=seed)
    for m in ("rgb", "flow", "skeleton"):
        direction = torch.randn(model.input_dims[m], generator=torch.Generator().manual_seed(7))
        signal = (grade.float() / (num_grades - 1) - 0.5)[:, None, None] * 6 * direction
        feats[m] = 0.5 * torch.randn(feats[m].shape, generator=gen) + signal
    return feats, torch.ones(n, len(model.modalities), dtype=torch.bool), grade


def test_tiny_model_learns_a_separable_problem():
    torch.manual_seed(0)
    model = dualalign.build("mm-jdm", d1=64, d2=32, d3=16, heads=4, num_grades=4, dropout=0.1)
    feats, avail, grade = _separable(96, model, 4, seed=1)
    test_feats, test_avail, test_grade = _separable(48, model, 4, seed=2)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(40):
        idx = torch.randperm(96)[:32]
        out = model({k: v[idx] for k, v in feats.items()}, avail[idx], grade[idx])
        opt.zero_grad()
        out.losses["total"].backward()
        opt.step()
    model.eval()
    with torch.inference_mode():
        pred = model(test_feats, test_avail).grade_probs.argmax(-1)
        # without the text and image streams the visual evidence still carries the grade
        part = test_avail.clone()
        part[:, [model.modalities.index("text"), model.modalities.index("image")]] = False
        pred_visual = model(test_feats, part).grade_probs.argmax(-1)
    assert (pred == test_grade).float().mean() >= 0.9
    assert (pred_visual == test_grade).float().mean() >= 0.8


def test_coarse_to_fine_continuous_scores():
    torch.manual_seed(0)
    model = dualalign.build("rg", d1=64, d2=32, d3=16, heads=4, dropout=0.0, attn_dropout=0.0)
    gen = torch.Generator().manual_seed(3)
    n = 96
    y = torch.rand(n, generator=gen)
    feats, avail = _inputs(model, batch=n, length=4, seed=3)
    direction = torch.randn(model.input_dims["rgb"], generator=gen)
    feats["rgb"] = feats["rgb"] * 0.3 + (y - 0.5)[:, None, None] * 6 * direction
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(60):
        idx = torch.randperm(n)[:32]
        loss = model({k: v[idx] for k, v in feats.items()}, avail[idx], y[idx]).losses["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.inference_mode():
        out = model(feats, avail)
    centres = model.bin_centres
    assert torch.allclose(out.score, out.grade_probs @ centres, atol=1e-6)
    assert float(torch.corrcoef(torch.stack([out.score, y]))[0, 1]) > 0.9
    with pytest.raises(ValueError, match="float"):
        model.train()(feats, avail, torch.zeros(n, dtype=torch.long))


def test_bad_inputs_are_refused():
    model = _quiet().eval()
    feats, avail = _inputs(model, batch=2)
    with pytest.raises(ValueError, match="rgb"):
        model({**feats, "rgb": feats["rgb"][..., :3]}, avail)
    with pytest.raises(ValueError, match="mask"):
        model(feats, avail[:, :2])
    with pytest.raises(ValueError, match="option"):
        dualalign.build("mm-jdm", hidden=3)
    with pytest.raises(ValueError, match="preset"):
        dualalign.build("nope")


def test_app_preset_dims_are_overridable():
    model = dualalign.build("app", **TINY, input_dims={"rgb": 40, "text": 24})
    assert model.input_dims["rgb"] == 40 and model.input_dims["text"] == 24
    feats, avail = _inputs(model, batch=2)
    with torch.inference_mode():
        assert model.eval()(feats, avail).grade_probs.shape == (2, 6)


@pytest.mark.parametrize("names", [["rgb", "flow", "audio"], ["skeleton", "flow"], ["text"]])
def test_any_modality_set(names):
    dims = {m: 12 for m in names}
    model = dualalign.build("app", **TINY, modalities=names, input_dims=dims).train()
    feats, avail = _inputs(model, batch=3)
    out = model(feats, avail, torch.tensor([0, 2, 5]))
    out.losses["total"].backward()
    assert out.grade_probs.shape == (3, 6)
    assert model.anchor == ("rgb" if "rgb" in names else None)
