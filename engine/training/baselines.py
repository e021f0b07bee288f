"""Reference networks for the benchmark: one small regressor per modality, and late fusion.

``LateFusion`` holds one ``UnimodalRegressor`` per modality, each trained on its own modality
only (their losses are separate, so training them together equals training them apart). Its
score is the plain average of all branches; a missing modality's branch sees zero-filled input,
as the official multimodal AQA code treats missing inputs. ``LateFusion.branch(m)`` is the
single-modality baseline for modality ``m``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.output import GradeOutput


class UnimodalRegressor(nn.Module):
    """Projection, one Transformer encoder layer over segments, attention pooling, score."""

    def __init__(self, in_dim: int, hidden: int = 64, heads: int = 2, dropout: float = 0.1):
        super().__init__()
        self.proj = nn.Sequential(nn.Linear(in_dim, hidden), nn.LayerNorm(hidden))
        self.encoder = nn.TransformerEncoderLayer(
            hidden, heads, 2 * hidden, dropout, batch_first=True, norm_first=False
        )
        self.pool = nn.Linear(hidden, 1)
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def forward(self, x: Tensor) -> Tensor:
        h = self.encoder(self.proj(x))
        weights = torch.softmax(self.pool(h), dim=1)
        return self.head((weights * h).sum(dim=1)).squeeze(-1)


class LateFusion(nn.Module):
    """Average of per-modality regressors; each trained on its modality with 10 * MSE."""

    def __init__(self, input_dims: dict[str, int], hidden: int = 64, dropout: float = 0.1):
        super().__init__()
        self.modalities = tuple(input_dims)
        self.input_dims = dict(input_dims)
        self.branches = nn.ModuleDict(
            {m: UnimodalRegressor(d, hidden, dropout=dropout) for m, d in input_dims.items()}
        )

    def forward(
        self,
        features: dict[str, Tensor],
        available: Tensor,
        target: Tensor | None = None,
        valid: dict[str, Tensor] | None = None,  # ignored: the baselines read padding as data
    ) -> GradeOutput:
        scores = torch.stack([self.branches[m](features[m]) for m in self.modalities], dim=1)
        out = GradeOutput(
            score=scores.mean(dim=1),
            grade_probs=torch.ones_like(scores[:, :1]),
            embedding=scores,
        )
        if self.training and target is not None:
            avail = available.to(scores.dtype)
            err = (scores - target[:, None].to(scores.dtype)) ** 2 * avail
            count = avail.sum(dim=0).clamp(min=1)
            out.losses = {
                f"task_{m}": 10.0 * err[:, i].sum() / count[i]
                for i, m in enumerate(self.modalities)
            }
        return out

    def branch(self, modality: str) -> SingleModality:
        return SingleModality(modality, self.input_dims[modality], self.branches[modality])


class SingleModality(nn.Module):
    """One branch of a ``LateFusion`` model, as a grading network reading only its modality."""

    def __init__(self, modality: str, dim: int, regressor: UnimodalRegressor):
        super().__init__()
        self.modalities = (modality,)
        self.input_dims = {modality: dim}
        self.regressor = regressor

    def forward(
        self,
        features: dict[str, Tensor],
        available: Tensor,
        target: Tensor | None = None,
        valid: dict[str, Tensor] | None = None,  # ignored: the baselines read padding as data
    ) -> GradeOutput:
        score = self.regressor(features[self.modalities[0]])
        out = GradeOutput(score=score, grade_probs=torch.ones_like(score[:, None]), embedding=score)
        if self.training and target is not None:
            out.losses = {"task": 10.0 * F.mse_loss(score, target.to(score.dtype))}
        return out
