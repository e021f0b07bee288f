"""The language models LIMSSR runs on: loading one from a local directory, the published
configurations of the paper's backbones (for parameter counts without weights), and a tiny random
Qwen3 with an offline word-level tokenizer for tests and benchmarks.

Nothing here downloads anything: models load with ``local_files_only=True`` from a directory.
``transformers``, ``peft`` and ``tokenizers`` (the ``llm`` extra) are imported only when a model
is loaded or written, so importing ``models`` never needs them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

# config.json values of the published checkpoints (architecture only; no weights are needed to
# build them on the meta device).
QWEN3_0_6B: dict = {
    "model_type": "qwen3",
    "vocab_size": 151936,
    "hidden_size": 1024,
    "intermediate_size": 3072,
    "num_hidden_layers": 28,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "max_position_embeddings": 40960,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
}
QWEN2_5_0_5B: dict = {
    "model_type": "qwen2",
    "vocab_size": 151936,
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
}
BACKBONES = {"qwen3-0.6b": QWEN3_0_6B, "qwen2.5-0.5b": QWEN2_5_0_5B}

# The configuration values that decide whether a checkpoint's LoRA adapters and projections fit
# a language model (recorded on LIMSSR's model card, checked when it is loaded).
BACKBONE_KEYS = (
    "model_type",
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
)

_PACKAGES = ("transformers", "peft", "tokenizers")
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class ModelUnavailableError(ValueError):
    """A network cannot be built here (missing optional packages or model files); the message is
    one sentence for the user."""


def require_llm_packages() -> None:
    """Raise ``ModelUnavailableError`` unless the ``llm`` extra is installed."""
    missing = [p for p in _PACKAGES if importlib.util.find_spec(p) is None]
    if missing:
        raise ModelUnavailableError(
            f"LIMSSR needs the optional 'llm' packages ({', '.join(missing)} not installed): "
            "install them with pip install 'aqa-studio[llm]'."
        )


def torch_dtype(name: str) -> torch.dtype:
    try:
        return _DTYPES[name]
    except KeyError:
        raise ValueError(f"Unknown dtype {name!r}; use one of {', '.join(_DTYPES)}.") from None


def load_llm(path: str | Path | None, dtype: str = "float32") -> tuple[nn.Module, object]:
    """The decoder stack (no LM head) and tokenizer stored in the local directory ``path``."""
    require_llm_packages()
    if not path:
        raise ModelUnavailableError(
            "LIMSSR needs a local language-model directory (e.g. Qwen3-0.6B): give llm_path."
        )
    directory = Path(path).expanduser()
    if not (directory / "config.json").is_file():
        raise ModelUnavailableError(
            f"{directory} is not a language-model directory (no config.json); download the model "
            "(e.g. Qwen3-0.6B) there first."
        )
    from transformers import AutoModel, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        llm = AutoModel.from_pretrained(str(directory), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelUnavailableError(
            f"The language model in {directory} cannot be loaded: {exc}"
        ) from None
    return llm.to(torch_dtype(dtype)), tokenizer


def llm_from_config(values: dict) -> nn.Module:
    """A decoder stack built from configuration values (random weights; on the current default
    device, e.g. inside ``with torch.device("meta")`` to count parameters without memory)."""
    require_llm_packages()
    from transformers import AutoConfig, AutoModel

    values = dict(values)
    config = AutoConfig.for_model(values.pop("model_type"), **values)
    return AutoModel.from_config(config)


TINY_QWEN3: dict = {
    "model_type": "qwen3",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "max_position_embeddings": 1024,
    "tie_word_embeddings": True,
}


def write_tiny_llm(
    directory: str | Path, texts: Iterable[str], seed: int = 0, **config: int
) -> Path:
    """Write a randomly initialised tiny Qwen3 (``TINY_QWEN3`` updated by ``config``) and a
    word-level tokenizer trained on ``texts`` to ``directory``, offline."""
    require_llm_packages()
    from tokenizers import Tokenizer, pre_tokenizers, trainers
    from tokenizers.models import WordLevel
    from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast

    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    words = Tokenizer(WordLevel(unk_token="<unk>"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    words.train_from_iterator(list(texts), trainers.WordLevelTrainer(special_tokens=["<unk>"]))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=words, unk_token="<unk>")
    tokenizer.save_pretrained(str(target))
    values = {**TINY_QWEN3, **config, "vocab_size": words.get_vocab_size()}
    model_type = values.pop("model_type")
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = AutoModelForCausalLM.from_config(AutoConfig.for_model(model_type, **values))
    finally:
        torch.random.set_rng_state(generator_state)
    model.save_pretrained(str(target))
    return target
