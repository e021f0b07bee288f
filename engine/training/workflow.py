"""Train a network on a feature-set directory and save it; evaluate a saved network on one.

Splits: where the data carries an official train/test split (RG, Fis-V, FS1000) the test rows
are held out; otherwise a subject-grouped hold-out is drawn. The validation rows that select the
best epoch (and stop early) are always carved out of the training side by subject, so the test
rows never steer training.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InputError
from engine.jobs import CancelToken, Progress
from engine.training import distributed
from engine.training.config import TrainConfig, default_config
from engine.training.datasets import FeatureDataset, input_lengths
from engine.training.evaluate import EvalReport, evaluate_subsets
from engine.training.splits import group_holdout
from engine.training.trainer import TrainResult, train_model

log = logging.getLogger(__name__)


@dataclass
class TrainOutcome:
    model_dir: Path
    report: EvalReport
    result: TrainResult
    data_hash: str
    split: dict[str, int]


def split_data(
    data: FeatureDataset, test_fraction: float, val_fraction: float, seed: int
) -> tuple[FeatureDataset, FeatureDataset, FeatureDataset]:
    """(train, validation, test) with every subject on one side."""
    if any(r.split == "test" for r in data.records):
        train_all, test = data.official_split("train"), data.official_split("test")
    else:
        outer = group_holdout(data.subjects, test_fraction, seed=seed)
        train_all, test = data.subset(outer.train), data.subset(outer.test)
    if len(train_all) == 0:
        raise InputError("The data set leaves no rows for training.")
    inner = group_holdout(train_all.subjects, val_fraction, seed=seed + 1)
    return train_all.subset(inner.train), train_all.subset(inner.test), test


def build_for_data(model: str, preset: str, data: FeatureDataset, **overrides):
    """Build ``model``/``preset`` for the data set's modalities, feature sizes and grades."""
    import models
    from models.registry import preset_config

    spec = data.spec
    try:
        preset_modalities = list(preset_config(model, preset)["modalities"])
    except ValueError as exc:
        raise InputError(str(exc)) from None
    shared = [m for m in preset_modalities if m in spec.modalities]
    if not shared:
        raise InputError(
            f"The preset {preset} reads {', '.join(preset_modalities)}; the data set has "
            f"{', '.join(spec.modalities)}."
        )
    settings: dict = {"input_dims": {m: spec.input_dims[m] for m in shared}}
    if shared != preset_modalities:
        settings["modalities"] = tuple(shared) if model == "mcmoe" else list(shared)
    if model == "dualalign":
        if spec.grades is not None:
            settings.update(num_grades=spec.grades, continuous=False)
        else:
            settings.update(continuous=True, score="expected")
    if model == "limssr" and spec.grades is not None:
        settings["num_grades"] = spec.grades
    settings.update(overrides)
    try:
        return models.build(model, preset, **settings)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"The model {model}/{preset} cannot be built for this data: {exc}"
        ) from None


def train_on_features(
    data_dir: str | Path,
    model: str,
    preset: str,
    out: str | Path,
    train_overrides: dict | None = None,
    model_overrides: dict | None = None,
    test_fraction: float = 0.2,
    val_fraction: float = 0.15,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> TrainOutcome | None:
    """Train, evaluate every modality subset on the held-out rows, save with a model card
    (None in the other processes of data-parallel training: the first one saves)."""
    import models

    data = FeatureDataset.open(data_dir)
    config: TrainConfig = default_config(model, preset, data.spec.target).with_overrides(
        **(train_overrides or {})
    )
    train, val, test = split_data(data, test_fraction, val_fraction, config.seed)
    if len(test) == 0:
        raise InputError("The data set leaves no rows for testing.")
    net = build_for_data(model, preset, data, **(model_overrides or {}))

    def stage(lo: float, hi: float) -> Progress | None:
        if progress is None:
            return None
        return lambda f, note: progress(lo + (hi - lo) * f, note)

    digest = data.content_hash()
    result = train_model(net, train, config, val, progress=stage(0.0, 0.9), cancel=cancel)
    if not distributed.is_main():
        return None  # data-parallel training: the first process evaluates and saves
    lengths = input_lengths(net, fallback=config.segments)
    report = evaluate_subsets(net, test, lengths, name=f"{model}/{preset}", device=result.device)
    split = {"train": len(train), "val": len(val), "test": len(test)}
    spec = data.spec
    card = {
        "label_range": [spec.score_min, spec.score_max],
        "data_hash": digest,
        "metrics": {
            "test": report.to_json(),
            "val_srcc": result.val_srcc,
            "val_mse_normalised": result.val_mse,
        },
        "data": {
            "name": spec.name,
            "target": spec.target,
            "grades": spec.grades,
            "modalities": spec.modalities,
            "split": split,
            "test_fraction": test_fraction,
            "val_fraction": val_fraction,
        },
        "training": {
            **config.to_json(),
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "seconds": round(result.seconds, 1),
            "device": result.device,
            "amp": result.amp,
            "processes": distributed.world_size(),
        },
    }
    net.cpu()
    model_dir = models.save(net, out, card)
    if progress is not None:
        progress(1.0, "saved")
    return TrainOutcome(Path(model_dir), report, result, digest, split)


def _held_out_rows(data: FeatureDataset, card: dict) -> FeatureDataset:
    """The rows the checkpoint never trained on: the official test split, the subject hold-out
    drawn in training when this is the data it was trained on, else every row (new data)."""
    if any(r.split == "test" for r in data.records):
        return data.official_split("test")
    extras = card.get("extras") or {}
    trained = extras.get("training") or {}
    fraction = (extras.get("data") or {}).get("test_fraction")
    if fraction is None or card.get("data_hash") != data.content_hash():
        return data
    seed = int(trained.get("seed", 0))
    return split_data(data, float(fraction), 0.15, seed)[2]


def evaluate_checkpoint(
    model_dir: str | Path,
    data_dir: str | Path,
    subsets: str = "all",
    rows: str = "test",
) -> EvalReport:
    """Evaluate a saved network on a data directory: the rows it did not train on (``"test"``)
    or every row (``"all"``)."""
    import models
    from models.checkpoint import CheckpointError, read_card

    try:
        card = read_card(model_dir)
        net = models.load(model_dir)
    except CheckpointError as exc:
        raise InputError(str(exc)) from None
    data = FeatureDataset.open(data_dir)
    spec = data.spec
    label_range = card.get("label_range")
    if label_range and [float(x) for x in label_range] != [spec.score_min, spec.score_max]:
        raise InputError(
            f"The model was trained on scores {label_range[0]}..{label_range[1]} but the data set "
            f"scores {spec.score_min}..{spec.score_max}."
        )
    if rows == "test":
        data = _held_out_rows(data, card)
    names: Sequence[str] = [m for m in spec.modalities if m in net.modalities]
    if subsets not in ("all", "full"):
        raise InputError(f"--subsets takes all or full, not {subsets!r}.")
    return evaluate_subsets(
        net,
        data,
        input_lengths(net),
        names,
        name=f"{card['name']}/{card['preset']}",
        full_only=subsets == "full",
    )
