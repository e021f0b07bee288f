"""Learning from the clinicians: which recordings to rate next, and retraining an item's model
from the confirmed grades."""

from typing import Any

from engine.store import Store


def item_recordings(store: Store, protocol: str, item: str) -> list[dict[str, Any]]:
    """Every recording of ``item`` in sessions of ``protocol``, with its subject code."""
    return list(
        store.db.query(
            "select r.*, s.id as session_id, s.notes as session_notes, j.code as subject from recordings r "
            "join sessions s on s.id = r.session_id join subjects j on j.id = s.subject_id "
            "where s.protocol = ? and r.item = ? order by r.id",
            [protocol, item],
        )
    )


def suggestions(store: Store, protocol: str, item: str, limit: int = 10) -> list[dict[str, Any]]:
    """Unrated recordings whose proposal is most uncertain or disagrees with the measurement; a
    proposal made for another subject than the one now chosen says so first."""
    ranked = []
    for rec in item_recordings(store, protocol, item):
        if store.current_rating(rec["id"]) is not None:
            continue
        proposal = store.latest_assessment(rec["id"])
        if proposal is None:
            continue
        details = proposal["details"]
        reasons, priority = [], details.get("entropy", 0.0)
        if details.get("disagrees_with_measurement"):
            priority += 1.0
            reasons.append(
                f"model says {proposal['grade']:g}, measurement says {details['criterion_grade']}"
            )
        if proposal["uncertain"]:
            reasons.append(f"uncertain (entropy {details.get('entropy', 0):.2f})")
        if proposal["stale"]:
            reasons.insert(0, proposal["stale"])
        ranked.append(
            {
                "recording": rec["id"],
                "session": rec["session_id"],
                "subject": rec["subject"],
                "grade": proposal["grade"],
                "why": "; ".join(reasons) or f"entropy {details.get('entropy', 0):.2f}",
                "priority": round(priority, 4),
            }
        )
    ranked.sort(key=lambda r: -r["priority"])
    return ranked[:limit]


MIN_RATINGS = 10
APP_MODALITIES = ("skeleton", "flow", "audio")
SEGMENTING = {"mcmoe": "clips:32", "dualalign": "uniform:16", "limssr": "clips:32"}
APP_PRESET = {"mcmoe": "small", "dualalign": "app", "limssr": "small"}


def rated_dataset(
    store: Store,
    protocol: str,
    item: str,
    extraction,
    segmenting: str = "clips:32",
    progress=None,
    cancel=None,
):
    """Features (extracted with the ``ExtractionConfig`` ``extraction``, or from the cache) and
    the current clinician grade of every rated recording of ``item``: a FeatureDataset whose rows
    keep their subject for the splits. Each recording's features follow its subject choice (the
    person the clinician graded); a video changed or missing since it was added is refused."""
    from engine.extract.pipeline import extract
    from engine.features import Segmenting, build_features
    from engine.protocols import get_protocol
    from engine.recording_subject import followed
    from engine.recordings import checked_path
    from engine.training.datasets import DataSpec, FeatureDataset, Record

    spec_item = get_protocol(protocol).item(item)
    rows = []
    for rec in item_recordings(store, protocol, item):
        rating = store.current_rating(rec["id"])
        if rating is not None:
            rows.append((rec, rating["grade"]))
    report = progress or (lambda fraction, stage: None)
    records, features, valid, dims = [], [], [], {}
    modalities = extraction.names
    for n, (rec, grade) in enumerate(rows):

        def step(fraction, stage, n=n):
            report((n + fraction) / max(len(rows), 1), f"features {n + 1}/{len(rows)}: {stage}")

        config = extraction.for_recording(protocol, item, rec["session_notes"] or "")
        config = config.following(*followed(store, rec["id"]))
        video = checked_path(store, rec["id"])
        result = extract(video, config, progress=step, cancel=cancel)
        fs = build_features({m: result.track(m) for m in modalities}, Segmenting.parse(segmenting))
        present = {m: a for m, a in fs.features.items() if fs.mask[m]}
        dims.update({m: a.shape[1] for m, a in present.items()})
        if present:
            records.append(Record(str(rec["id"]), rec["subject"], float(grade)))
            features.append(present)
            valid.append({m: fs.valid[m] for m in present})
    spec = DataSpec(
        name=f"{protocol}/{item}",
        modalities=[m for m in modalities if m in dims],
        input_dims=dims,
        score_min=spec_item.low,
        score_max=spec_item.high,
        grades=len(spec_item.grades) if spec_item.integer else None,
        target="grade" if spec_item.integer else "score",
        source="clinician ratings",
    )
    return FeatureDataset.in_memory(spec, records, features, valid)


def cross_validate(build, data, config, folds: int, progress=None, cancel=None) -> dict:
    """Subject-grouped k-fold: a fresh network per fold, predictions on its held-out subjects."""
    import numpy as np

    from engine.training.evaluate import predict
    from engine.training.metrics import accuracy, mse, rmse_relative, srcc
    from engine.training.splits import group_kfold
    from engine.training.trainer import train_model, training_lengths

    splits = group_kfold([r.subject for r in data.records], folds, seed=config.seed)
    pred, true = np.zeros(len(data)), np.zeros(len(data))
    for k, split in enumerate(splits):
        net = build()

        def step(f, note, k=k):
            if progress is not None:
                progress((k + f) / folds, f"fold {k + 1}/{folds}")

        train_model(net, data.subset(split.train), config, progress=step, cancel=cancel)
        p, t, rows = predict(net, data.subset(split.test), training_lengths(net, config))
        pred[split.test[rows]], true[split.test[rows]] = p, t
    spec = data.spec
    metrics = {
        "cv_folds": folds,
        "cv_srcc": srcc(pred, true),
        "cv_mse": mse(pred, true),
        "cv_rmse": rmse_relative(pred, true, spec.score_min, spec.score_max),
        "samples": len(data),
        "subjects": len({r.subject for r in data.records}),
    }
    if spec.grades is not None:
        metrics["cv_accuracy"] = accuracy(np.rint(pred).astype(int), np.rint(true).astype(int))
    return metrics


def train_item(
    store: Store,
    protocol: str,
    item: str,
    model: str = "mcmoe",
    preset: str | None = None,
    folds: int = 5,
    force: bool = False,
    epochs: int | None = None,
    modalities: tuple[str, ...] = APP_MODALITIES,
    device: str = "auto",
    progress=None,
    cancel=None,
    extraction=None,
) -> dict:
    """Cross-validate and train ``model`` on the confirmed grades of ``item``; register it as a
    candidate and activate it when its cross-validated SRCC beats the active model's.

    ``extraction`` (an ``ExtractionConfig``; default: the default backends of ``modalities``)
    is what the features are extracted with; the model card records it."""
    from dataclasses import replace

    from engine.errors import InputError
    from engine.extract.config import ExtractionConfig
    from engine.grading.model_files import trained_dir
    from engine.training.config import default_config
    from engine.training.trainer import train_model
    from engine.training.workflow import build_for_data
    from models.checkpoint import read_card, save

    preset = preset or APP_PRESET[model]
    segmenting = SEGMENTING[model]
    report = progress or (lambda fraction, stage: None)

    def stage(lo, hi):
        return lambda f, note: report(lo + (hi - lo) * f, note)

    extraction = replace(extraction or ExtractionConfig.parse(modalities), device=device)
    data = rated_dataset(store, protocol, item, extraction, segmenting, stage(0, 0.4), cancel)
    subjects = len({r.subject for r in data.records})
    if len(data) < MIN_RATINGS or subjects < folds:
        raise InputError(
            f"Training needs at least {MIN_RATINGS} clinician-rated recordings of {item} from at "
            f"least {folds} subjects; there are {len(data)} from {subjects}."
        )
    config = default_config(model, preset, data.spec.target).with_overrides(
        epochs=epochs, device=device
    )
    metrics = cross_validate(
        lambda: build_for_data(model, preset, data), data, config, folds, stage(0.4, 0.85), cancel
    )
    net = build_for_data(model, preset, data)
    train_model(net, data, config, progress=stage(0.85, 0.98), cancel=cancel)
    previous = store.active_model(protocol, item)
    version = 1 + max(
        [m["version"] for m in store.models(protocol, item) if m["name"] == model], default=0
    )
    folder = save(
        net,
        trained_dir(protocol, item, model, version),
        {
            "label_range": [data.spec.score_min, data.spec.score_max],
            "data_hash": data.content_hash(),
            "metrics": metrics,
            "segmenting": segmenting,
            "extraction": extraction.only(data.spec.modalities).to_dict(trained=True),
            "profile": extraction.profile,
            "trained_on": f"{len(data)} clinician-rated recordings of {subjects} subjects",
        },
    )
    row = store.register_model(protocol, item, model, folder, read_card(folder), metrics)
    before = None if previous is None or previous["demo"] else previous["metrics"].get("cv_srcc")
    better = before is None or metrics["cv_srcc"] > before
    if better or force:
        row = store.set_model_status(row["id"], "active")
    report(1.0, "done")
    return {
        "model": row,
        "metrics": metrics,
        "previous_cv_srcc": before,
        "activated": better or force,
    }
