"""The text modality inside a real extraction: a stand-in encoder is a reported fallback, the
cache key follows the model files, and a broken text encoder never stops the video's modalities."""

import json
import shutil

import pytest

from engine.cache import Cache
from engine.cli.extract_cmd import _print_summary
from engine.extract.config import ExtractionConfig
from engine.extract.pipeline import extract
from engine.extract.text import FALLBACK, installed_minilm

needs_minilm = pytest.mark.skipif(installed_minilm() is None, reason="MiniLM is not installed")


def _config(**text_options) -> ExtractionConfig:
    config = ExtractionConfig.parse("audio,text", "fast", "cpu", {"text": text_options})
    return config.for_recording("cmas", "head_elevation", "mild neck weakness")


def _linked_minilm(folder, config_changes=None):
    """A MiniLM folder elsewhere (files linked, ``config.json`` copied and changed)."""
    folder.mkdir()
    source = installed_minilm()
    for name in ("model.safetensors", "tokenizer.json"):
        (folder / name).symlink_to(source / name)
    config = json.loads((source / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **(config_changes or {})}))
    return folder


def test_missing_minilm_is_a_reported_fallback(demo_clip, tmp_path, capsys):
    result = extract(demo_clip, _config(model_dir=str(tmp_path / "absent")), cache=Cache(tmp_path))
    text = result.modalities["text"]
    assert text.status == "fallback" and text.reason == FALLBACK and text.backend == "minilm"
    assert result.track("text").meta["encoder"] == "hashing-384"
    assert result.to_dict()["modalities"]["text"]["status"] == "fallback"
    _print_summary(result)
    assert f"text: fallback ({FALLBACK})" in capsys.readouterr().out


@needs_minilm
def test_text_cache_key_follows_the_model_files(demo_clip, tmp_path):
    cache = Cache(tmp_path / "cache")
    here = extract(demo_clip, _config(), cache=cache).modalities["text"]
    moved = _linked_minilm(tmp_path / "elsewhere")
    there = extract(demo_clip, _config(model_dir=str(moved)), cache=cache).modalities["text"]
    assert here.status == there.status == "ok"
    assert here.cache_key != there.cache_key and not there.cached
    # A replaced weight file is another model.
    (moved / "tokenizer.json").unlink()
    shutil.copy(installed_minilm() / "tokenizer.json", moved / "tokenizer.json")
    again = extract(demo_clip, _config(model_dir=str(moved)), cache=cache).modalities["text"]
    assert again.cache_key != there.cache_key


@needs_minilm
def test_a_broken_text_encoder_leaves_the_other_modalities(demo_clip, tmp_path):
    broken = _linked_minilm(tmp_path / "broken", {"num_hidden_layers": 7})  # 6 in the weights
    result = extract(demo_clip, _config(model_dir=str(broken)), cache=Cache(tmp_path / "c"))
    assert result.modalities["audio"].status == "ok"
    assert result.modalities["text"].status == "error"
    assert "layer.6" in result.modalities["text"].reason
    assert result.ok
