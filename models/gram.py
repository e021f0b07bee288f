"""Gramian volume of modality vectors and the GRAM volume-based contrastive loss.

GRAM (Cicchetti et al., 2024) measures how well K modality vectors agree by the volume of the
parallelotope they span: ``Vol = sqrt(det(V V^T))`` of the L2-normalised vectors. Identical vectors
span no volume; orthogonal unit vectors span volume 1. DualAlign (Eqs. 5-7, 10, 15) uses
``-Vol / tau`` as the similarity of a contrastive loss with one modality as the anchor.

Missing modalities are excluded through a mask: the row and column of a missing vector in the
Gram matrix are replaced by those of the identity, so it contributes a factor 1 to the determinant
and the volume is that of the available vectors only.
"""

import torch
import torch.nn.functional as F
from torch import Tensor

_DET_FLOOR = 1e-12  # keeps sqrt differentiable where the vectors are (numerically) dependent


def _masked_gram(gram: Tensor, mask: Tensor | None) -> Tensor:
    """Replace the rows/columns of masked-out vectors by those of the identity."""
    if mask is None:
        return gram
    k = gram.shape[-1]
    eye = torch.eye(k, dtype=gram.dtype, device=gram.device)
    keep = mask[..., :, None] & mask[..., None, :]
    return torch.where(keep, gram, eye)


def gram_volume(vectors: Tensor, mask: Tensor | None = None) -> Tensor:
    """Volume spanned by the L2-normalised ``vectors`` [..., K, D] -> [...].

    ``mask`` [..., K] (bool) marks the vectors that take part; the others are ignored.
    """
    unit = F.normalize(vectors, dim=-1)
    gram = _masked_gram(unit @ unit.transpose(-1, -2), mask)
    det = torch.linalg.det(gram.float())
    return det.clamp_min(_DET_FLOOR).sqrt().to(vectors.dtype)


def pairwise_anchor_volumes(anchor: Tensor, others: Tensor, others_ok: Tensor) -> Tensor:
    """Volumes ``vol[i, j] = Vol(anchor_j, others_i)`` for every pair of samples.

    anchor: [B, D]; others: [B, K, D]; others_ok: [B, K] (which of sample i's others take part).
    Returns [B, B].
    """
    a = F.normalize(anchor, dim=-1)
    m = F.normalize(others, dim=-1)
    b, k, _ = m.shape
    cross = torch.einsum("jd,ikd->ijk", a, m)  # [B_i, B_j, K]
    mm = (m @ m.transpose(-1, -2))[:, None].expand(b, b, k, k)
    ones = torch.ones(b, b, 1, 1, dtype=m.dtype, device=m.device)
    top = torch.cat([ones, cross[:, :, None, :]], dim=-1)  # [B, B, 1, K+1]
    bottom = torch.cat([cross[..., None], mm], dim=-1)  # [B, B, K, K+1]
    gram = torch.cat([top, bottom], dim=-2)  # [B, B, K+1, K+1]
    anchor_on = torch.ones(b, 1, dtype=torch.bool, device=m.device)
    mask = torch.cat([anchor_on, others_ok], dim=-1)[:, None].expand(b, b, k + 1)
    det = torch.linalg.det(_masked_gram(gram, mask).float())
    return det.clamp_min(_DET_FLOOR).sqrt().to(anchor.dtype)


def gram_contrastive_loss(
    anchor: Tensor,
    others: Tensor,
    anchor_ok: Tensor,
    others_ok: Tensor,
    tau: float = 0.1,
) -> Tensor:
    """DualAlign's GRAM alignment loss L_da + L_ad (Eqs. 4-6) over the available modalities.

    anchor: [B, D] anchor-modality vectors; others: [B, K, D] the other modalities;
    anchor_ok: [B] and others_ok: [B, K] availability. A sample takes part when its anchor and at
    least one other modality are available; its volumes use its available modalities only.
    L_da contrasts the anchors of all samples against sample i's other modalities; L_ad contrasts
    the other modalities of all samples against sample i's anchor. Returns 0 (with a graph) when
    fewer than two samples take part.
    """
    has_other = others_ok.any(dim=-1)
    valid = anchor_ok & has_other
    if int(valid.sum()) < 2:
        return (anchor.sum() + others.sum()) * 0.0
    vol = pairwise_anchor_volumes(anchor, others, others_ok)  # vol[i, j] = Vol(a_j, m_i)
    logits = -vol / tau
    idx = valid.nonzero(as_tuple=True)[0]
    neg_inf = torch.finfo(logits.dtype).min
    # direct-anchor: row i (others of i) against anchors of every j with an anchor
    da = logits[idx].masked_fill(~anchor_ok[None, :], neg_inf)
    # anchor-direct: row i (anchor of i) against others of every j with some other modality
    ad = logits.t()[idx].masked_fill(~has_other[None, :], neg_inf)
    return F.cross_entropy(da, idx) + F.cross_entropy(ad, idx)
