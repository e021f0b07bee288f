"""The value every grading network returns."""

from dataclasses import dataclass, field

from torch import Tensor


@dataclass
class GradeOutput:
    """What a grading network predicts for a batch.

    score: [B] in the preset's normalised units (0..1 over the item's score range).
    grade_probs: [B, N] distribution over the item's grades or grade prototypes.
    embedding: [B, D] the fused representation the grade is read from.
    modality_weights: [B, M] per-modality weights where the model has them (MCMoE router), else None.
    losses: named training losses computed in the forward pass (empty in eval).
    """

    score: Tensor
    grade_probs: Tensor
    embedding: Tensor
    modality_weights: Tensor | None = None
    losses: dict[str, Tensor] = field(default_factory=dict)


def check_available(modalities, features: dict, available):
    """The availability mask as bool [B, M], after checking it fits ``modalities`` and
    ``features``: one column per modality, at least one per sample, features for each one used."""
    import torch

    available = available.to(dtype=torch.bool)
    if available.dim() != 2 or available.shape[1] != len(modalities):
        raise ValueError(f"available must be [B, {len(modalities)}] (one per modality).")
    if not bool(available.any(dim=1).all()):
        raise ValueError("Every sample needs at least one available modality.")
    for i, name in enumerate(modalities):
        if bool(available[:, i].any()) and name not in features:
            raise ValueError(f"Modality {name!r} is marked available but has no features.")
    return available
