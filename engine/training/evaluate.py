"""The fixed-missing evaluation protocol and the papers' Table 1 layout.

Every non-empty subset of the modalities is evaluated by hiding the others (zero-filled, marked
unavailable): SRCC and MSE in score units per subset, rMSE and accuracy too; "Average" is over the
incomplete subsets, SRCC averaged in Fisher-z space and MSE arithmetically, as in MCMoE's Table 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from engine.training.datasets import FeatureDataset, iterate_batches
from engine.training.metrics import accuracy, fisher_z_mean, modality_subsets, mse, rmse_relative
from engine.training.metrics import srcc as spearman

SHORT = {"rgb": "v", "flow": "f", "audio": "a", "skeleton": "s", "text": "t"}


def predict(
    model,
    data: FeatureDataset,
    lengths: dict[str, int],
    keep: Sequence[str] | None = None,
    batch_size: int = 64,
    device: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predicted and true scores (score units) and the rows they belong to, in eval mode, on
    ``device`` (default: where the model is).

    Rows left without any of the model's modalities under ``keep`` are skipped.
    """
    import torch

    device = device or next(model.parameters()).device.type

    was_training = model.training
    model.eval()
    preds, truth, rows = [], [], []
    with torch.inference_mode():
        for batch in iterate_batches(
            data, list(model.modalities), dict(model.input_dims), lengths, batch_size, keep=keep
        ):
            feats = {m: t.to(device) for m, t in batch.features.items()}
            valid = {m: t.to(device) for m, t in batch.valid.items()}
            out = model(feats, batch.available.to(device), valid=valid)
            preds.append(out.score.float().cpu().numpy().astype(np.float64))
            truth.append(batch.scores)
            rows.append(batch.index)
    model.train(was_training)
    if not preds:
        empty = np.zeros(0)
        return empty, empty, np.zeros(0, dtype=np.int64)
    return (
        np.asarray(data.spec.denormalise(np.concatenate(preds))),
        np.concatenate(truth),
        np.concatenate(rows),
    )


@dataclass
class SubsetResult:
    """Metrics of one modality subset; ``n`` is 0 where the model cannot read the subset."""

    subset: list[str]
    n: int
    srcc: float
    mse: float
    rmse: float
    accuracy: float | None = None


@dataclass
class EvalReport:
    """Table 1 for one model on one data set."""

    model: str
    modalities: list[str]
    subsets: list[SubsetResult]
    average_srcc: float
    average_mse: float
    extra: dict = field(default_factory=dict)

    def full(self) -> SubsetResult:
        return self.subsets[-1]

    def to_json(self) -> dict:
        return _json_safe(asdict(self))


def evaluate_subsets(
    model,
    data: FeatureDataset,
    lengths: dict[str, int],
    modalities: Sequence[str] | None = None,
    device: str | None = None,
    name: str = "",
    full_only: bool = False,
) -> EvalReport:
    """Evaluate every non-empty subset of ``modalities`` (default: the data set's).

    A subset is restricted to what the model reads; a subset the model cannot read at all scores
    NaN (shown as n/a). ``full_only`` evaluates the complete set alone.
    """
    spec = data.spec
    names = list(modalities or spec.modalities)
    results = []
    subsets = [tuple(names)] if full_only else modality_subsets(names)
    for subset in subsets:
        usable = [m for m in subset if m in model.modalities]
        if not usable:
            results.append(SubsetResult(list(subset), 0, math.nan, math.nan, math.nan))
            continue
        pred, true, _ = predict(model, data, lengths, keep=usable, device=device)
        acc = None
        if spec.grades is not None and len(pred):
            top = spec.score_min + spec.grades - 1
            grades = np.clip(np.rint(pred), spec.score_min, top).astype(np.int64)
            acc = accuracy(grades, np.rint(true).astype(np.int64))
        results.append(
            SubsetResult(
                subset=list(subset),
                n=len(pred),
                srcc=spearman(pred, true) if len(pred) else math.nan,
                mse=mse(pred, true) if len(pred) else math.nan,
                rmse=rmse_relative(pred, true, spec.score_min, spec.score_max)
                if len(pred)
                else math.nan,
                accuracy=acc,
            )
        )
    incomplete = results[:-1]
    return EvalReport(
        model=name or type(model).__name__,
        modalities=names,
        subsets=results,
        average_srcc=fisher_z_mean([r.srcc for r in incomplete]) if incomplete else math.nan,
        average_mse=float(np.mean([r.mse for r in incomplete])) if incomplete else math.nan,
    )


def subset_label(subset: Sequence[str]) -> str:
    return "{" + ",".join(SHORT.get(m, m) for m in subset) + "}"


def format_table(reports: Sequence[EvalReport]) -> str:
    """Rows are models; columns the incomplete subsets, Average, then the full set (SRCC/MSE)."""
    if not reports:
        return ""
    first = reports[0]
    heads = [subset_label(r.subset) for r in first.subsets[:-1]] + ["Average"]
    heads.append(subset_label(first.subsets[-1].subset))
    rows = []
    for rep in reports:
        cells = [_cell(r.srcc, r.mse) for r in rep.subsets[:-1]]
        cells.append(_cell(rep.average_srcc, rep.average_mse))
        cells.append(_cell(rep.full().srcc, rep.full().mse))
        rows.append([rep.model] + cells)
    widths = [max(len(x) for x in col) for col in zip(["model"] + heads, *rows)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(["model"] + heads, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    legend = ", ".join(f"{v}={k}" for k, v in SHORT.items() if k in first.modalities)
    lines.append(f"cells: SRCC/MSE (score units); Average over incomplete subsets; {legend}")
    return "\n".join(lines)


def _cell(r: float, m: float) -> str:
    if r is None or not math.isfinite(r):
        return "n/a"
    return f"{r:.3f}/{m:.2f}"


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value
