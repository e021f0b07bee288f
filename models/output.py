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
    for name, used in zip(modalities, available.any(dim=0).tolist(), strict=True):
        if used and name not in features:
            raise ValueError(f"Modality {name!r} is marked available but has no features.")
    return available


def segment_validity(modalities, features: dict, available, valid: dict | None):
    """Per-segment validity as bool [B, T_m] per modality (``None`` when not given: every
    segment counts) and the availability with every modality whose segments are all invalid
    marked missing. A modality left out of ``valid`` is valid throughout."""
    import torch

    if valid is None:
        return None, available
    seg, avail = {}, available.clone()
    for i, name in enumerate(modalities):
        x = features.get(name)
        if x is None:
            continue
        v = valid.get(name)
        if v is None:
            v = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        v = v.to(device=x.device, dtype=torch.bool)
        if tuple(v.shape) != tuple(x.shape[:2]):
            raise ValueError(
                f"The validity of {name!r} must be [B, T] = {list(x.shape[:2])}, "
                f"not {list(v.shape)}."
            )
        seg[name] = v
        avail[:, i] &= v.any(dim=1)
    if not bool(avail.any(dim=1).all()):
        raise ValueError("Every sample needs at least one modality with a valid segment.")
    return seg, avail


def masked_mean(x, keep, dim: int = 1):
    """Mean of ``x`` [B, T, D] over ``dim`` counting only the positions where ``keep`` [B, T]
    is True (the plain mean when ``keep`` is None)."""
    if keep is None:
        return x.mean(dim=dim)
    w = keep.unsqueeze(-1).to(x.dtype)
    return (x * w).sum(dim=dim) / w.sum(dim=dim).clamp(min=1)
