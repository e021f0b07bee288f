"""MCMoE's training losses (the task loss is a plain MSE in the model)."""

import torch
import torch.nn.functional as F
from torch import Tensor


def alignment_kl(mixed: Tensor, unimodal: Tensor) -> Tensor:
    """KL(R || F) between the softmax over channels of the expert's own output R and the mixed
    feature F, averaged over every element (``kl_div`` reduction "mean", as the released code)."""
    target = torch.log_softmax(unimodal, dim=-1)
    return (target.exp() * (target - torch.log_softmax(mixed, dim=-1))).mean()


def hardest_triplet_loss(patterns: Tensor, margin: float = 1.0) -> Tensor:
    """Diversity of the grade patterns [B, N, D]: each pattern is labelled by its grade index;
    for every anchor the hardest positive (same grade, other sample) and hardest negative (other
    grade) under cosine distance give ``relu(d_pos - d_neg + margin)``, averaged."""
    b, n, d = patterns.shape
    flat = F.normalize(patterns.reshape(b * n, d), dim=-1)
    dist = 1 - flat @ flat.T
    labels = torch.arange(n, device=patterns.device).repeat(b)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(b * n, dtype=torch.bool, device=patterns.device)
    positive = (dist * (same & ~eye)).amax(dim=1)
    negative = (dist + dist.amax(dim=1, keepdim=True) * same).amin(dim=1)
    return F.relu(positive - negative + margin).mean()
