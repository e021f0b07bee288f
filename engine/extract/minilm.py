"""all-MiniLM-L6-v2 (a 6-layer BERT, 384 wide) in numpy, read from its safetensors file.

The text modality embeds one exam note per recording; through transformers that costs about three
seconds of imports and model set-up for a 30 ms forward pass, and even plain torch costs its
import (seconds and a few hundred MB). This encoder needs only numpy, safetensors and the
``tokenizers`` library (the model folder's ``tokenizer.json``), and gives transformers'
``last_hidden_state`` (a test compares them). One short note needs no GPU: it runs on the CPU.
GELU's erf is the standard library's (``math.erf`` over the array: a few tens of milliseconds
for a note, where importing scipy.special would cost a quarter of a second), and of the
30522-word embedding table only the note's rows are read from the file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

WORDS = "embeddings.word_embeddings.weight"
_ERF = np.frompyfunc(math.erf, 1, 1)


class BertEncoder:
    """BERT's embeddings and encoder layers (post-norm, GELU), inference only, in float32."""

    def __init__(self, model_dir: Path) -> None:
        from safetensors import safe_open
        from tokenizers import Tokenizer

        config = json.loads((model_dir / "config.json").read_text())
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
            raise ValueError(f"{model_dir} does not hold a BERT model with GELU activations")
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config["layer_norm_eps"])
        self._file = safe_open(str(model_dir / "model.safetensors"), framework="numpy")
        self._words = self._file.get_slice(WORDS)
        self.w = {
            k: np.asarray(self._file.get_tensor(k), np.float32)
            for k in self._file.keys()
            if k != WORDS
        }
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()

    def tokens(self, text: str, max_tokens: int) -> tuple[list[int], list[str]]:
        self.tokenizer.enable_truncation(max_tokens)
        encoding = self.tokenizer.encode(text)
        return encoding.ids, encoding.tokens

    def hidden(self, ids: list[int]) -> np.ndarray:
        """The last hidden state [L, hidden] of one token sequence."""
        w = self.w
        words = np.concatenate([self._words[i : i + 1] for i in ids]).astype(np.float32)
        x = (
            words
            + w["embeddings.position_embeddings.weight"][: len(ids)]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        for n in range(self.layers):
            x = self._layer(x, f"encoder.layer.{n}.")
        return x.astype(np.float32)

    def _layer(self, x: np.ndarray, p: str) -> np.ndarray:
        length, width = x.shape
        size = width // self.heads

        def heads(name: str) -> np.ndarray:
            out = self._dense(x, f"{p}attention.self.{name}")
            return out.reshape(length, self.heads, size).transpose(1, 0, 2)

        q, k, v = heads("query"), heads("key"), heads("value")
        scores = q @ k.transpose(0, 2, 1) / np.float32(math.sqrt(size))
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        attention = scores / scores.sum(axis=-1, keepdims=True)
        context = (attention @ v).transpose(1, 0, 2).reshape(length, width)
        x = self._norm(
            x + self._dense(context, p + "attention.output.dense"), p + "attention.output.LayerNorm"
        )
        inner = self._dense(x, p + "intermediate.dense")
        erf = _ERF(inner / np.float32(math.sqrt(2))).astype(np.float32)
        inner = inner * np.float32(0.5) * (1 + erf)
        return self._norm(x + self._dense(inner, p + "output.dense"), p + "output.LayerNorm")

    def _dense(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        normed = (x - mean) / np.sqrt(var + np.float32(self.eps))
        return normed * self.w[name + ".weight"] + self.w[name + ".bias"]
