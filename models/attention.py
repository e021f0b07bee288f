"""Attention of a few queries over many tokens, without projecting the tokens.

With Tq queries over Tk > Tq tokens x, projecting every token to its key and value costs
Tk x D x 2D multiply-adds. Moved to the query side the key projection costs Tq x D x D: the score
q . (W_k x + b_k) = (W_k^T q) . x + q . b_k, and the last term, constant along a query's row, is
ignored by the softmax. The value projection moves after the weighted sum, since a row of attention
weights sums to one: sum_j p_j (W_v x_j + b_v) = W_v (sum_j p_j x_j) + b_v.
"""

import torch
from torch import Tensor


def attend_unprojected(
    query: Tensor,
    tokens: Tensor,
    w_key: Tensor,
    w_value: Tensor,
    b_value: Tensor,
    mask: Tensor | None = None,
) -> Tensor:
    """Multi-head attention of ``query`` [B, H, Tq, E] (projected, per head) over the keys
    ``tokens @ w_key.T`` and values ``tokens @ w_value.T + b_value`` of ``tokens`` [B, Tk, D]
    (``w_key``, ``w_value`` [H * E, D], ``b_value`` [H * E]); ``mask`` (bool, True: attend)
    broadcasts to [B, H, Tq, Tk]. Returns [B, H, Tq, E], as scaled_dot_product_attention."""
    h, e = query.shape[1], query.shape[-1]
    query = torch.einsum("bhqe,hed->bhqd", query * e**-0.5, w_key.view(h, e, -1))
    mixed = attend_tokens(query, tokens, mask)  # [B, H, Tq, D]
    return torch.einsum("bhqd,hed->bhqe", mixed, w_value.view(h, e, -1)) + b_value.view(h, 1, e)


def attend_tokens(query: Tensor, tokens: Tensor, mask: Tensor | None = None) -> Tensor:
    """Softmax attention of ``query`` [B, H, Tq, D] (scaled, in the tokens' space) over ``tokens``
    [B, Tk, D] themselves as keys and values: [B, H, Tq, D]."""
    b, h, t, _ = query.shape
    scores = (query.flatten(1, 2) @ tokens.transpose(1, 2)).view(b, h, t, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return (scores.softmax(-1).flatten(1, 2) @ tokens).view(b, h, t, -1)
