"""Building blocks of DualAlign: token embedding, cross-modal attention, temporal modulation."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.attention import attend_unprojected
from models.inference import Linear


def feed_forward(dim: int, mult: int, dropout: float) -> nn.Sequential:
    """The blocks' position-wise feed-forward: Linear, GELU, Dropout, Linear."""
    return nn.Sequential(
        Linear(dim, mult * dim), nn.GELU(), nn.Dropout(dropout), Linear(mult * dim, dim)
    )


class TokenEmbed(nn.Module):
    """Per-token linear embedding of one modality's features into the model width.

    No normalisation here: a feature's magnitude can carry the grade; the attention blocks
    normalise their own inputs (pre-norm).
    """

    def __init__(self, in_dim: int, dim: int) -> None:
        super().__init__()
        self.proj = Linear(in_dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x)


class CrossModalBlock(nn.Module):
    """Tokens of one stream attend to the tokens of another modality (pre-norm, residual).

    ``q`` [B, Tq, D] attends over the tokens ``kv`` [B, Tk, D] of the *same* sample, then a
    feed-forward layer refines the result. Where ``kv_ok`` [B] is False (the other modality is
    missing for that sample) the block is the identity for that sample, so the missing modality's
    values cannot reach the output. ``kv_valid`` [B, Tk] (None: all) masks invalid key tokens.
    In eval, with more key tokens than queries, the tokens are never projected (the same function
    through ``attend_unprojected``).
    """

    def __init__(self, dim: int, heads: int, ffn_mult: int, dropout: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"Width {dim} is not divisible by {heads} heads.")
        self.heads = heads
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.q = Linear(dim, dim)
        self.kv = Linear(dim, 2 * dim)
        self.out = Linear(dim, dim)
        self.norm_ffn = nn.LayerNorm(dim)
        self.ffn = feed_forward(dim, ffn_mult, dropout)
        self.drop = nn.Dropout(dropout)
        self.attn_dropout = dropout

    def _split(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)

    def forward(
        self, q: Tensor, kv: Tensor, kv_ok: Tensor, kv_valid: Tensor | None = None
    ) -> Tensor:
        b, t, d = q.shape
        query = self._split(self.q(self.norm_q(q)))
        kv = self.norm_kv(kv)
        mask = None
        if kv_valid is not None:  # a sample without the modality attends freely (gated off)
            mask = (kv_valid | ~kv_ok[:, None])[:, None, None, :]
        if self.training or kv.shape[1] <= t:
            key, value = self.kv(kv).chunk(2, dim=-1)
            attn = F.scaled_dot_product_attention(
                query,
                self._split(key),
                self._split(value),
                attn_mask=mask,
                dropout_p=self.attn_dropout if self.training else 0.0,
            )
        else:  # few queries over many tokens: the tokens are never projected
            w_key, w_value = self.kv.weight.chunk(2)
            attn = attend_unprojected(query, kv, w_key, w_value, self.kv.bias[d:], mask)
        attn = self.out(attn.transpose(1, 2).reshape(b, t, d))
        gate = kv_ok.view(b, 1, 1)
        x = q + torch.where(gate, self.drop(attn), 0.0)
        return x + torch.where(gate, self.drop(self.ffn(self.norm_ffn(x))), 0.0)


class TemporalModulation(nn.Module):
    """Gated depth-wise temporal convolution over a token sequence (DualAlign Eq. 13).

    Each token is modulated by its temporal neighbourhood: ``x + W(conv_t(LN x) * sigmoid(G LN x))``
    followed by a feed-forward layer; the sequence length is preserved. Invalid tokens (``valid``
    [B, T] False) enter the convolution as zeros, as the padding at the sequence ends does.
    """

    def __init__(self, dim: int, kernel: int, ffn_mult: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.conv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.gate = Linear(dim, dim)
        self.proj = Linear(dim, dim)
        self.norm_ffn = nn.LayerNorm(dim)
        self.ffn = feed_forward(dim, ffn_mult, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, valid: Tensor | None = None) -> Tensor:
        y = self.norm(x)
        seen = y if valid is None else y * valid.unsqueeze(-1).to(y.dtype)
        local = self.conv(seen.transpose(1, 2)).transpose(1, 2)
        x = x + self.drop(self.proj(local * torch.sigmoid(self.gate(y))))
        return x + self.drop(self.ffn(self.norm_ffn(x)))
