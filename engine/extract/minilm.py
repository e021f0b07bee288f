"""all-MiniLM-L6-v2 (a 6-layer BERT, 384 wide) in plain torch, read from its safetensors file.

The text modality embeds one exam note per recording; through transformers that costs about three
seconds of imports and model set-up for a 30 ms forward pass. This encoder needs only torch,
safetensors and the ``tokenizers`` library (the model folder's ``tokenizer.json``), and gives
transformers' ``last_hidden_state`` (a test compares them).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np


class BertEncoder:
    """BERT's embeddings and encoder layers (post-norm, GELU), inference only."""

    def __init__(self, model_dir: Path, device: str = "cpu") -> None:
        import torch
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        config = json.loads((model_dir / "config.json").read_text())
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
            raise ValueError(f"{model_dir} does not hold a BERT model with GELU activations")
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config["layer_norm_eps"])
        self.device = device
        self.w = {k: v.to(device) for k, v in load_file(model_dir / "model.safetensors").items()}
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self._torch = torch

    def tokens(self, text: str, max_tokens: int) -> tuple[list[int], list[str]]:
        self.tokenizer.enable_truncation(max_tokens)
        encoding = self.tokenizer.encode(text)
        return encoding.ids, encoding.tokens

    def hidden(self, ids: list[int]) -> np.ndarray:
        """The last hidden state [L, hidden] of one token sequence."""
        torch, w = self._torch, self.w
        F = torch.nn.functional
        x_ids = torch.tensor(ids, device=self.device)
        positions = torch.arange(len(ids), device=self.device)
        with torch.inference_mode():
            x = (
                w["embeddings.word_embeddings.weight"][x_ids]
                + w["embeddings.position_embeddings.weight"][positions]
                + w["embeddings.token_type_embeddings.weight"][0]
            )
            x = self._norm(x, "embeddings.LayerNorm")
            for n in range(self.layers):
                x = self._layer(x, f"encoder.layer.{n}.", F)
        return x.float().cpu().numpy()

    def _layer(self, x, p: str, F):
        length, width = x.shape
        size = width // self.heads

        def heads(name: str):
            out = self._dense(x, f"{p}attention.self.{name}")
            return out.view(length, self.heads, size).transpose(0, 1)

        q, k, v = heads("query"), heads("key"), heads("value")
        attention = (q @ k.transpose(1, 2) / math.sqrt(size)).softmax(dim=-1)
        context = (attention @ v).transpose(0, 1).reshape(length, width)
        x = self._norm(
            x + self._dense(context, p + "attention.output.dense"), p + "attention.output.LayerNorm"
        )
        inner = F.gelu(self._dense(x, p + "intermediate.dense"))
        return self._norm(x + self._dense(inner, p + "output.dense"), p + "output.LayerNorm")

    def _dense(self, x, name: str):
        return self._torch.nn.functional.linear(x, self.w[name + ".weight"], self.w[name + ".bias"])

    def _norm(self, x, name: str):
        F = self._torch.nn.functional
        return F.layer_norm(
            x, x.shape[-1:], self.w[name + ".weight"], self.w[name + ".bias"], self.eps
        )
