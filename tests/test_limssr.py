"""LIMSSR on a tiny random Qwen3 written offline (the real Qwen3-0.6B is counted on the meta
device, never loaded)."""

import importlib.util
import itertools
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open

import models
from models.limssr import parameter_counts, write_tiny_backbone
from models.llm_config import ModelUnavailableError

# checked without importing them: collecting the suite should not pay for importing transformers
pytestmark = pytest.mark.skipif(
    not all(importlib.util.find_spec(p) for p in ("transformers", "peft", "tokenizers")),
    reason="the 'llm' extra (transformers, peft) is not installed",
)

MODS = ("rgb", "flow", "audio")
DIMS = {"rgb": 12, "flow": 8, "audio": 6}
T = 5


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # tiny matrices: more threads only wait on each other on a shared CPU
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def llm_dir(tmp_path_factory):
    return write_tiny_backbone(tmp_path_factory.mktemp("tiny-qwen3"), MODS)


def build(llm_dir, **overrides):
    torch.manual_seed(0)
    settings = {"modalities": MODS, "input_dims": DIMS, "segments": T, "llm_path": str(llm_dir)}
    return models.build("limssr", "small", **{**settings, **overrides})


def batch(b: int, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    return {m: torch.randn(b, T, d, generator=gen) for m, d in DIMS.items()}


SUBSETS = [s for r in (1, 2, 3) for s in itertools.combinations(range(3), r)]
ALL_MASKS = torch.tensor([[i in s for i in range(3)] for s in SUBSETS])


def test_unavailable_without_llm_directory(tmp_path):
    with pytest.raises(ModelUnavailableError, match="llm_path"):
        models.build("limssr", "small")
    with pytest.raises(ModelUnavailableError, match="no config.json"):
        models.build("limssr", "small", llm_path=str(tmp_path))
    assert issubclass(ModelUnavailableError, ValueError)


def test_unavailable_without_llm_extra(monkeypatch, tmp_path):
    # the extra is installed here; its absence is simulated by hiding the package
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "peft" else real(name, *a)
    )
    with pytest.raises(ModelUnavailableError, match="'llm' packages"):
        models.build("limssr", "small", llm_path=str(tmp_path))


@pytest.mark.slow
def test_importing_models_does_not_import_transformers():
    code = (
        "import sys, models, models.limssr; models.presets('limssr');"
        "print('transformers' in sys.modules or 'peft' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_forward_backward_trains_adapters_and_heads_only(llm_dir):
    net = build(llm_dir).train()
    out = net(batch(7), ALL_MASKS, target=torch.rand(7))
    assert set(out.losses) == {"task", "consistency", "diversity", "total"}
    out.losses["total"].backward()
    named = dict(net.named_parameters())
    lora = [n for n in named if "lora_" in n]
    base = [n for n in named if n.startswith("llm.") and "lora_" not in n]
    assert len(lora) == 2 * 4 * 2  # A and B for q, k, v, o in both layers
    assert all(named[n].requires_grad and named[n].grad is not None for n in lora)
    # LoRA B starts at zero, so at the first step only B receives a non-zero gradient
    assert all(named[n].grad.abs().sum() > 0 for n in lora if "lora_B" in n)
    assert base and all(not named[n].requires_grad and named[n].grad is None for n in base)
    heads = [n for n in named if not n.startswith("llm.")]
    assert all(named[n].grad is not None for n in heads), [
        n for n in heads if named[n].grad is None
    ]


def test_every_subset_and_per_sample_masks(llm_dir):
    net = build(llm_dir).eval()
    feats = batch(7)
    with torch.no_grad():
        out = net(feats, ALL_MASKS)
        assert out.score.shape == (7,) and out.embedding.shape == (7, 64)
        assert bool(((out.score > 0) & (out.score < 1)).all())
        assert torch.allclose(out.grade_probs.sum(1), torch.ones(7))
        expected = (out.grade_probs * torch.linspace(0, 1, 5)).sum(1)
        assert torch.allclose(expected, out.score, atol=1e-6)
        assert torch.allclose(out.modality_weights.sum(1), torch.ones(7))
        # each sample alone gives what it got in the mixed batch (padding, order, prompts)
        for i in range(7):
            alone = net({m: x[i : i + 1] for m, x in feats.items()}, ALL_MASKS[i : i + 1])
            assert torch.allclose(alone.score, out.score[i : i + 1], atol=1e-5)
        # an absent modality's values are never read
        noisy = {m: x.clone() for m, x in feats.items()}
        for j, m in enumerate(MODS):
            noisy[m][~ALL_MASKS[:, j]] = 1e3
        assert torch.allclose(net(noisy, ALL_MASKS).score, out.score, atol=1e-6)
        # ... and a present one is
        assert not torch.allclose(net(batch(7, seed=2), ALL_MASKS).score, out.score)
        # a modality absent from the whole batch needs no features at all
        only_rgb = net({"rgb": feats["rgb"]}, torch.tensor([[True, False, False]] * 7))
        assert torch.allclose(only_rgb.score[0], out.score[0], atol=1e-5)


def test_training_mask_keeps_a_subset_of_what_is_there(llm_dir):
    net = build(llm_dir)
    available = torch.tensor([[True, False, True]] * 200 + [[False, True, False]] * 50)
    drawn = net.draw_training_mask(available)
    assert bool((drawn <= available).all()) and bool(drawn.any(1).all())
    assert len({tuple(r) for r in drawn[:200].tolist()}) == 3  # {v}, {a}, {v,a}


def test_checkpoint_holds_adapters_and_heads_only(llm_dir, tmp_path):
    net = build(llm_dir).train()
    optim = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(2):
        loss = net(batch(7), ALL_MASKS, target=torch.rand(7)).losses["total"]
        optim.zero_grad()
        loss.backward()
        optim.step()
    net.eval()
    saved = models.save(net, tmp_path / "ckpt", {"label_range": [0, 5]})
    with safe_open(str(saved / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
    assert any("lora_A" in k for k in keys) and "proj.rgb.net.0.weight" in keys
    assert not [k for k in keys if "base_layer" in k or ".mlp." in k or "embed_tokens" in k]
    assert not [k for k in keys if "norm" in k and k.startswith("llm.")]
    loaded = models.load(saved)
    with torch.no_grad():
        assert torch.allclose(loaded(batch(7), ALL_MASKS).score, net(batch(7), ALL_MASKS).score)


def test_trainable_embeddings_are_saved(llm_dir, tmp_path):
    net = build(llm_dir, train_embeddings=True)
    saved = models.save(net, tmp_path / "ckpt")
    with safe_open(str(saved / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
    assert [k for k in keys if k.endswith("embed_tokens.weight")]
    assert not [k for k in keys if "base_layer" in k or ".mlp." in k]
    counts = net.parameter_counts()
    assert counts["trainable"] == sum(
        p.numel() for n, p in net.named_parameters() if p.requires_grad
    )
    assert models.load(saved).parameter_counts() == counts


def test_gradient_checkpointing_gives_the_same_gradients(llm_dir):
    settings = {"dropout": 0.0, "lora_dropout": 0.0, "train_masking": False}
    grads = []
    for checkpointing in (False, True):
        net = build(llm_dir, gradient_checkpointing=checkpointing, **settings).train()
        with torch.no_grad():  # LoRA B starts at zero; make the adapters matter
            for n, p in net.named_parameters():
                if "lora_B" in n:
                    p.copy_(torch.linspace(-0.1, 0.1, p.numel()).view_as(p))
        calls = []
        attention = net.llm.base_model.model.layers[0].self_attn
        attention.register_forward_hook(lambda *args, calls=calls: calls.append(1))
        out = net(batch(7), ALL_MASKS, target=torch.linspace(0, 1, 7))
        out.losses["total"].backward()
        assert len(calls) == (2 if checkpointing else 1)  # recomputed in the backward pass
        grads.append({n: p.grad.clone() for n, p in net.named_parameters() if "lora_A" in n})
    for name, g in grads[0].items():
        assert torch.allclose(g, grads[1][name], atol=1e-5), name


def test_bfloat16_backbone_runs(llm_dir):
    ref = build(llm_dir).eval()
    half = build(llm_dir, dtype="bfloat16").eval()
    assert next(half.llm.base_model.model.layers.parameters()).dtype == torch.bfloat16
    with torch.no_grad():
        a, b = ref(batch(7), ALL_MASKS).score, half(batch(7), ALL_MASKS).score
    assert b.dtype == torch.float32 and torch.allclose(a, b, atol=0.05)


@pytest.mark.slow
def test_qwen3_0_6b_parameters_from_the_configuration():
    counts = parameter_counts("fs1000", backbone="qwen3-0.6b")
    # paper / released code: about 618 M parameters, 177 M trainable
    assert abs(counts["total"] - 618e6) < 1e6
    assert abs(counts["trainable"] - 177.5e6) < 1e6
    frozen_embeddings = parameter_counts("fs1000", train_embeddings=False)
    assert frozen_embeddings["trainable"] == counts["trainable"] - 151936 * 1024


def test_registered_limssr_model_grades_with_the_local_language_model(
    llm_dir, tmp_path, aqa_home, monkeypatch
):
    from engine.errors import MissingWeightsError
    from engine.grading.model_files import LLM_ENV, load_model
    from engine.store import Store
    from engine.synthetic import SyntheticSpec, generate
    from engine.training.config import network_defaults
    from engine.training.trainer import train_model
    from models.checkpoint import read_card

    data = generate(SyntheticSpec(dims=DIMS, subjects=6, recordings_per_subject=2, segments=T))
    net = build(llm_dir)
    result = train_model(net, data, network_defaults(net, epochs=3))
    assert result.config.optimizer == "adamw" and result.epochs_run == 3
    saved = models.save(net, tmp_path / "limssr-v1")
    assert read_card(saved)["config"]["backbone"]["hidden_size"] == 64
    with Store() as store:
        row = store.register_model(
            "cmas", "head_elevation", "limssr", saved, read_card(saved), actor="test"
        )
    monkeypatch.delenv(LLM_ENV, raising=False)
    with pytest.raises(MissingWeightsError, match=f"set {LLM_ENV} to its directory"):
        load_model(row, "cpu")
    other = write_tiny_backbone(tmp_path / "wider-qwen3", MODS, hidden_size=32)
    monkeypatch.setenv(LLM_ENV, str(other))
    with pytest.raises(MissingWeightsError, match="hidden_size 32, the model needs 64"):
        load_model(row, "cpu")

    monkeypatch.setenv(LLM_ENV, str(llm_dir))
    loaded = load_model(row, "cpu")
    feats = {m: a[:T] for m, a in data.features(0).items()}
    score, probs = loaded.predict(feats, list(MODS))
    with torch.no_grad():
        expected = net({m: torch.from_numpy(a)[None] for m, a in feats.items()},
                       torch.ones(1, 3, dtype=torch.bool)).score  # fmt: skip
    assert abs(score - float(expected)) < 1e-5
    assert probs.shape == (5,) and abs(probs.sum() - 1) < 1e-5
    assert loaded.predict(feats, ["rgb"])[0] != score  # it reads what it is given


@pytest.mark.slow
def registered_limssr(tmp_path):
    """A tiny LIMSSR trained for real on the app's flow and audio features, on a tiny local
    Qwen3, registered for cmas/head_elevation. Returns (model id, backbone directory)."""
    from engine.features import default_dims
    from engine.store import Store
    from engine.synthetic import SyntheticSpec, generate
    from engine.training.config import network_defaults
    from engine.training.trainer import train_model
    from models.checkpoint import read_card

    mods = ("flow", "audio")
    dims = {m: default_dims()[m] for m in mods}  # what the app's extractors give
    backbone = write_tiny_backbone(tmp_path / "qwen", mods)
    data = generate(SyntheticSpec(dims=dims, subjects=6, recordings_per_subject=2, segments=16))
    torch.manual_seed(0)
    net = models.build("limssr", "small", modalities=mods, input_dims=dims,
                       llm_path=str(backbone), num_grades=6)  # fmt: skip
    train_model(net, data, network_defaults(net, epochs=2))
    saved = models.save(net, tmp_path / "limssr-v1", {"segmenting": "clips:16"})
    with Store() as store:
        model_id = store.register_model(
            "cmas", "head_elevation", "limssr", saved, read_card(saved), actor="test"
        )["id"]
    return model_id, backbone


def test_aqa_grade_the_demo_video_with_a_limssr_model(
    tmp_path, aqa_home, monkeypatch, capsys, demo_clip
):
    """From the sports2d demo through ``aqa grade --model ID`` with a LIMSSR model."""
    import json

    from engine.cli import main
    from engine.grading.model_files import LLM_ENV

    model_id, backbone = registered_limssr(tmp_path)
    mods = ("flow", "audio")
    argv = ["grade", str(demo_clip), "--protocol", "cmas", "--item", "head_elevation"]
    argv += ["--model", str(model_id), "--json"]

    monkeypatch.delenv(LLM_ENV, raising=False)
    assert main(argv) == 4
    assert f"set {LLM_ENV} to its directory" in capsys.readouterr().err
    monkeypatch.setenv(LLM_ENV, str(backbone))
    assert main(argv) == 0
    graded = json.loads(capsys.readouterr().out)
    assert graded["model_id"] == "limssr/cmas/head_elevation/v1"
    assert set(graded["details"]["modalities_used"]) == set(mods)
    assert len(graded["grade_probs"]) == 6 and abs(sum(graded["grade_probs"]) - 1) < 1e-6
