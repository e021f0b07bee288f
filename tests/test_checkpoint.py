"""Checkpoint directories (safetensors + card), safe reading of released weights, the CLI."""

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import models
from engine.cli import main as aqa
from models.checkpoint import (
    CARD,
    WEIGHTS,
    CheckpointError,
    CheckpointMismatchError,
    UnsafeCheckpointError,
    read_card,
    read_torch_state_dict,
)

FIXTURE = Path(__file__).parent / "fixtures" / "mcmoe_official"
SMALL = {
    "modalities": ["skeleton", "audio"],
    "input_dims": {"skeleton": 6, "audio": 5},
    "hidden": 16,
    "queries": 3,
}


class _Touch:
    """Unpickling this runs a command that creates a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _inputs(model, batch: int = 2, t: int = 4):
    torch.manual_seed(1)
    feats = {m: torch.randn(batch, t, d) for m, d in model.input_dims.items()}
    return feats, torch.tensor([[True, True], [False, True]])


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = models.build("mcmoe", "small", **SMALL).eval()
    extra = {"label_range": [0, 5], "data_hash": "abc", "metrics": {"srcc": 0.9}, "item": "sit-up"}
    out = models.save(model, tmp_path / "ckpt", extra)
    assert sorted(p.name for p in out.iterdir()) == [CARD, WEIGHTS]
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]  # no temporary directory left
    card = read_card(out)
    assert card["name"] == "mcmoe" and card["preset"] == "small"
    assert card["overrides"]["hidden"] == 16 and card["config"]["hidden"] == 16
    assert card["modalities"] == ["skeleton", "audio"]
    assert card["input_dims"] == {"skeleton": 6, "audio": 5}
    assert card["label_range"] == [0, 5] and card["metrics"] == {"srcc": 0.9}
    assert card["data_hash"] == "abc" and card["extras"] == {"item": "sit-up"}
    assert card["date"].endswith("+00:00")
    loaded = models.load(out)
    assert not loaded.training
    feats, available = _inputs(model)
    with torch.inference_mode():
        assert torch.equal(loaded(feats, available).score, model(feats, available).score)

    models.save(loaded, out, {"metrics": {"srcc": 0.95}})  # overwrites in place
    assert read_card(out)["metrics"] == {"srcc": 0.95}
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_tensors_that_do_not_fit_are_refused_naming_the_first(tmp_path):
    model = models.build("mcmoe", "small", **SMALL)
    out = models.save(model, tmp_path / "ckpt")
    card = json.loads((out / CARD).read_text())
    card["overrides"]["input_dims"]["skeleton"] = 7
    (out / CARD).write_text(json.dumps(card))
    with pytest.raises(CheckpointMismatchError, match="'proj.skeleton.fc1.weight'"):
        models.load(out)
    assert isinstance(CheckpointMismatchError("x"), ValueError)


def test_loading_never_unpickles(tmp_path):
    model = models.build("mcmoe", "small", **SMALL)
    out = models.save(model, tmp_path / "ckpt")
    marker = tmp_path / "pwned"
    (out / WEIGHTS).write_bytes(pickle.dumps(_Touch(marker)))
    with pytest.raises(CheckpointError, match="cannot be read"):
        models.load(out)
    assert not marker.exists()


def test_a_crafted_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pkl"
    torch.save({"weight": torch.zeros(2), "payload": _Touch(marker)}, evil)
    with pytest.raises(UnsafeCheckpointError, match="could run code"):
        read_torch_state_dict(evil)
    assert not marker.exists()
    assert aqa(["models", "convert-official", "mcmoe", str(evil), "--preset", "fs1000",
                "--out", str(tmp_path / "out")]) == 2  # fmt: skip
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_convert_official_weights_then_load(tmp_path, capsys):
    overrides = {"hidden": 32, "encoder_layers": 2, "decoder_layers": 2, "queries": 5}
    # the CLI converts into a preset; this fixture uses a small configuration of the released code
    out = tmp_path / "converted"
    code = aqa(["models", "convert-official", "mcmoe", str(FIXTURE / "official_small.pkl"),
                "--preset", "fs1000", "--out", str(out)])  # fmt: skip
    assert code == 2
    assert "'in_proj.v.0.weight' has shape" in capsys.readouterr().err

    from models.checkpoint import load_state, save
    from models.mcmoe import from_official

    dims = {"rgb": 40, "audio": 24, "flow": 32}
    model = models.build("mcmoe", "fs1000", input_dims=dims, dropout=0.0, **overrides)
    load_state(model, from_official(model, read_torch_state_dict(FIXTURE / "official_small.pkl")))
    save(model, out, {"label_range": [0, 130]})
    loaded = models.load(out)
    with np.load(FIXTURE / "reference.npz") as ref:
        feats = {m: torch.from_numpy(ref[m]) for m in dims}
        with torch.inference_mode():
            score = loaded(feats, torch.ones(3, 3, dtype=torch.bool)).score
        np.testing.assert_allclose(score.numpy(), ref["score"][0], atol=1e-5, rtol=0)


def _as_released(model) -> dict[str, torch.Tensor]:
    """Our weights under the released code's names and shapes (1x1 convs, position table)."""
    from models.mcmoe import _official_names, sinusoid

    ours = model.state_dict()
    released = {}
    for name, (theirs, how) in _official_names(model.config).items():
        released[theirs] = ours[name][..., None] if how == "squeeze" else ours[name]
    released["pos_encoder.pe"] = sinusoid(136, model.config.hidden)[:, None, :]
    return released


def test_convert_official_cli_on_the_full_preset(tmp_path, capsys):
    torch.manual_seed(0)
    model = models.build("mcmoe", "rg").eval()
    weights = tmp_path / "RG_Ball_best.pkl"
    torch.save(_as_released(model), weights)
    out = tmp_path / "rg-ball"
    assert aqa(["models", "convert-official", "mcmoe", str(weights), "--preset", "rg",
                "--out", str(out), "--label-range", "0", "25"]) == 0  # fmt: skip
    assert "rg-ball" in capsys.readouterr().out
    card = read_card(out)
    assert card["label_range"] == [0, 25] and card["extras"]["source_file"] == weights.name
    loaded = models.load(out)
    feats = {m: torch.randn(1, 8, d) for m, d in model.input_dims.items()}
    available = torch.tensor([[True, False, True]])
    with torch.inference_mode():
        assert torch.equal(loaded(feats, available).score, model(feats, available).score)


def test_models_info_cli(capsys):
    assert aqa(["models", "info", "mcmoe", "--preset", "small", "--segments", "8", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["parameters"] == sum(p.numel() for p in models.build("mcmoe", "small").parameters())
    assert 0.001 < info["gflops"] < 1.0
    assert aqa(["models", "info", "mcmoe", "--preset", "nope"]) == 2
    assert "no preset 'nope'" in capsys.readouterr().err
