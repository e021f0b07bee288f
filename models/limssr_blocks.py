"""Building blocks of LIMSSR: the per-modality projection, the instruction prompt and the two
paths of the mask-aware dual-path aggregation (paper Secs. 3.3-3.6, Appendix B)."""

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class Projection(nn.Module):
    """phi_m: two 1x1 convolutions into the LLM width, each followed by batch norm; ReLU and
    dropout between them (Appendix B: "two 1x1 convolutional layers, followed by Batch
    Normalization, ReLU activation, and Dropout")."""

    def __init__(self, in_dim: int, width: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(in_dim, width, kernel_size=1),
            nn.BatchNorm1d(width),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Conv1d(width, width, kernel_size=1),
            nn.BatchNorm1d(width),
        )

    def forward(self, x: Tensor) -> Tensor:  # [B, T, D] -> [B, T, width]
        return self.net(x.transpose(1, 2)).transpose(1, 2)


def regression_head(width: int, dropout: float) -> nn.Sequential:
    """H_sem / H_dyn: FC -> LayerNorm -> GELU -> Dropout -> FC to one logit."""
    return nn.Sequential(
        nn.Linear(width, width // 2),
        nn.LayerNorm(width // 2),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(width // 2, 1),
    )


def prompt_text(present: Sequence[str], absent: Sequence[str]) -> str:
    """The task instruction P'_inst for one availability pattern (Secs. 3.4 and 3.5): which
    modalities are there, which are missing and where to infer them, and where to put the fused
    representation. With nothing missing the imputation sentence is left out."""
    text = f"Given the available {', '.join(present)} features from an action video. "
    if absent:
        missing = ", ".join(absent)
        text += (
            f"The {missing} modality is missing. Based on the available modalities, please infer "
            f"and reconstruct the useful latent representations for the missing {missing} "
            "modalities at the designated positions. "
        )
    else:
        text += "No modality is missing. "
    return text + (
        "Then integrate and enhance all multimodal features for action quality assessment. "
        "Output the fused multi-dimensional feature representations at the designated feature "
        "dimension positions:"
    )


class SemanticPath(nn.Module):
    """Path 1 (uncertainty-calibrated reasoning): role-weighted fusion tokens (Eq. 8), refined by
    a gated residual conditioned on the mask, z + sigma(MLP_gate([z, m])) * MLP_res([z, m])
    (Eqs. 9-10). MLP_res has two layers with GELU; MLP_gate is one layer and the sigmoid, as in
    the released code, whose parameter count is the paper's (the text says two layers)."""

    def __init__(self, width: int, modalities: int, tokens: int, dropout: float) -> None:
        super().__init__()
        self.role = nn.Parameter(torch.ones(tokens))
        self.norm = nn.LayerNorm(width)
        self.residual = nn.Sequential(
            nn.Linear(width + modalities, width),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(width, width),
        )
        self.gate = nn.Sequential(nn.Linear(width + modalities, width), nn.Sigmoid())

    def forward(self, fusion: Tensor, mask: Tensor) -> Tensor:
        """fusion [B, K, D] hidden states at the fusion tokens, mask [B, M] float -> [B, D]."""
        z = self.norm((torch.softmax(self.role, dim=0)[None, :, None] * fusion).sum(dim=1))
        cond = torch.cat([z, mask.to(z.dtype)], dim=-1)
        return z + self.gate(cond) * self.residual(cond)


class PatternPath(nn.Module):
    """Path 2 (cross-modal pattern recovery): per-modality pooled hidden states, normalised per
    modality, one layer of multi-head self-attention across modalities (Eq. 11), an adaptive
    gate (FC -> GELU -> FC -> softmax over modalities) and the confidences
    alpha_m = m + (1 - m) * sigmoid(lambda_m) (Eqs. 12-13)."""

    def __init__(
        self, width: int, modalities: int, heads: int, dropout: float, confidence: float
    ) -> None:
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(modalities))
        self.attention = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.gate = nn.Sequential(
            nn.Linear(width * modalities, width),
            nn.GELU(),
            nn.Linear(width, modalities),
            nn.Softmax(dim=-1),
        )
        self.confidence = nn.Parameter(torch.full((modalities,), float(confidence)))

    def forward(self, pooled: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """pooled [B, M, D], mask [B, M] float -> (z_aux [B, D], weights alpha_m * G_m [B, M])."""
        stack = torch.stack([norm(pooled[:, i]) for i, norm in enumerate(self.norms)], dim=1)
        attended = self.attention(stack, stack, stack, need_weights=False)[0]
        gate = self.gate(stack.flatten(1))
        mask = mask.to(stack.dtype)
        alpha = mask + (1 - mask) * torch.sigmoid(self.confidence)[None]
        weights = alpha * gate
        return (weights[..., None] * attended).sum(dim=1), weights
