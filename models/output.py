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
