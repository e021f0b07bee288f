"""Fixed simplex equiangular-tight-frame (ETF) grade prototypes.

G unit vectors in R^D (D >= G) with pairwise cosine -1/(G-1): the most separated arrangement of G
directions (neural collapse geometry). The prototypes are a buffer, never trained; a fixed seed
makes them reproducible, and they are saved with the weights.
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def simplex_etf(num_classes: int, dim: int, seed: int = 0) -> Tensor:
    """[num_classes, dim] simplex-ETF prototypes (unit rows, pairwise cosine -1/(G-1))."""
    if num_classes < 2:
        raise ValueError(f"A simplex ETF needs at least 2 classes, got {num_classes}.")
    if dim < num_classes:
        raise ValueError(f"A simplex ETF of {num_classes} classes needs dim >= {num_classes}.")
    gen = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(dim, num_classes, generator=gen, dtype=torch.float64))
    centre = torch.eye(num_classes, dtype=torch.float64) - 1.0 / num_classes
    etf = math.sqrt(num_classes / (num_classes - 1)) * basis @ centre
    return etf.t().contiguous().float()


class EtfClassifier(nn.Module):
    """Cosine logits against fixed ETF prototypes, times a fixed ``scale``."""

    def __init__(self, num_classes: int, dim: int, scale: float, seed: int = 0) -> None:
        super().__init__()
        self.scale = scale
        self.register_buffer("prototypes", simplex_etf(num_classes, dim, seed))

    def forward(self, h: Tensor) -> Tensor:
        return self.scale * F.normalize(h, dim=-1) @ self.prototypes.t()
