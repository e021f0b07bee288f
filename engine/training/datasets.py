"""Feature-set data directories: per-sample modality features plus labels, and batching.

A data directory holds::

    dataset.json              what the data is: modalities, feature dims, score range, grades
    labels.csv                sample,subject,score[,split]   (one row per recording)
    samples/<sample>.safetensors   one float tensor [T, D] per *available* modality, and
                                   optionally "valid/<modality>" [T] uint8: segments with data

A modality is available for a sample exactly when its tensor is in the sample's file; zeros are
never taken to mean "missing". Where a sample gives no validity every segment holds data. ``split`` is ``train``/``test`` where the source defines an official
split (RG, Fis-V, FS1000), else empty and splits are drawn by subject.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.jobs import Progress

FORMAT = "aqa-feature-set"
VERSION = 1
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$")


@dataclass
class DataSpec:
    """What a feature set holds and how its scores are read."""

    name: str
    modalities: list[str]
    input_dims: dict[str, int]
    score_min: float
    score_max: float
    grades: int | None = None  # number of integer grades (score_min..score_max), None: continuous
    target: str = "score"
    source: str = ""

    def __post_init__(self) -> None:
        if not self.score_max > self.score_min:
            raise InputError(
                f"The score range [{self.score_min}, {self.score_max}] of {self.name} is empty."
            )
        missing = [m for m in self.modalities if m not in self.input_dims]
        if missing:
            raise InputError(f"The data set {self.name} gives no feature size for {missing[0]}.")

    def normalise(self, score: float | np.ndarray) -> float | np.ndarray:
        return (score - self.score_min) / (self.score_max - self.score_min)

    def denormalise(self, value: float | np.ndarray) -> float | np.ndarray:
        return self.score_min + value * (self.score_max - self.score_min)

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict) -> DataSpec:
        if data.get("format") != FORMAT:
            raise InputError("dataset.json is not an AQA Studio feature-set description.")
        if int(data.get("version", 0)) > VERSION:
            raise InputError("dataset.json was written by a newer AQA Studio; update the app.")
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        try:
            fields["input_dims"] = {str(k): int(v) for k, v in fields["input_dims"].items()}
            return cls(**fields)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"dataset.json is incomplete or malformed ({exc}).") from None


@dataclass(frozen=True)
class Record:
    """One labelled recording."""

    sample: str
    subject: str
    score: float
    split: str = ""


@dataclass
class Batch:
    """Model inputs for a batch: features [B, T, D] and segment validity [B, T] per modality,
    availability [B, M]."""

    features: dict  # str -> torch.Tensor
    available: object  # torch.BoolTensor [B, M]
    target: object  # torch.FloatTensor [B], normalised 0..1
    scores: np.ndarray  # [B] in score units
    index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    valid: dict = field(default_factory=dict)  # str -> torch.BoolTensor [B, T]: holds data


FeatureLoader = Callable[[str], dict[str, np.ndarray]]
VALID = "valid/"  # prefix of the per-segment validity tensors in a sample's file


class FeatureDataset:
    """Labelled feature sets, loaded lazily from a directory or held in memory.

    ``loader`` gives a sample's features and, under ``valid/<modality>``, the [T] bool validity
    of its segments where some hold no data (undetected stretches).
    """

    def __init__(self, spec: DataSpec, records: Sequence[Record], loader: FeatureLoader):
        self.spec = spec
        self.records = list(records)
        self._load = loader

    def __len__(self) -> int:
        return len(self.records)

    def features(self, i: int) -> dict[str, np.ndarray]:
        """The available modalities of row ``i`` as float32 [T, D] arrays."""
        found = self._load(self.records[i].sample)
        return {m: a for m, a in found.items() if not m.startswith(VALID)}

    def validity(self, i: int) -> dict[str, np.ndarray]:
        """[T] bool per modality of row ``i`` that says which segments hold data (a modality
        left out: all of them)."""
        found = self._load(self.records[i].sample)
        return {m[len(VALID) :]: a.astype(bool) for m, a in found.items() if m.startswith(VALID)}

    @property
    def scores(self) -> np.ndarray:
        return np.array([r.score for r in self.records], dtype=np.float64)

    @property
    def subjects(self) -> list[str]:
        return [r.subject for r in self.records]

    def subset(self, rows: Iterable[int]) -> FeatureDataset:
        return FeatureDataset(self.spec, [self.records[int(i)] for i in rows], self._load)

    def official_split(self, name: str) -> FeatureDataset:
        return self.subset(i for i, r in enumerate(self.records) if r.split == name)

    @classmethod
    def in_memory(
        cls,
        spec: DataSpec,
        records: Sequence[Record],
        features: Sequence[dict[str, np.ndarray]],
        valid: Sequence[dict[str, np.ndarray]] | None = None,
    ) -> FeatureDataset:
        """``valid``: per record, [T] bool per modality (e.g. ``FeatureSet.valid``)."""
        valid = valid or [{}] * len(records)
        table = {
            r.sample: {**f, **{VALID + m: np.asarray(v, bool) for m, v in ok.items() if m in f}}
            for r, f, ok in zip(records, features, valid, strict=True)
        }
        return cls(spec, records, table.__getitem__)

    @classmethod
    def open(cls, root: str | Path) -> FeatureDataset:
        """Open a data directory written by :func:`write_dataset` (or by hand in that format)."""
        root = Path(root)
        meta, labels = root / "dataset.json", root / "labels.csv"
        if not meta.is_file() or not labels.is_file():
            raise InputError(f"{root} is not a feature-set directory (dataset.json, labels.csv).")
        try:
            spec = DataSpec.from_json(json.loads(meta.read_text(encoding="utf-8")))
        except json.JSONDecodeError as exc:
            raise InputError(f"{meta} is not valid JSON ({exc.msg}, line {exc.lineno}).") from None
        records = read_labels(labels)
        samples = root / "samples"
        for r in records:
            if not (samples / f"{r.sample}.safetensors").is_file():
                raise InputError(f"The features of sample {r.sample} are missing from {samples}.")

        def load(sample: str) -> dict[str, np.ndarray]:
            return _read_sample(samples / f"{sample}.safetensors", spec)

        return cls(spec, records, load)

    def content_hash(self) -> str:
        """sha256 of the description, the labels and every feature tensor."""
        h = hashlib.sha256()
        h.update(json.dumps(self.spec.to_json(), sort_keys=True).encode())
        for r in self.records:
            h.update(f"{r.sample}\t{r.subject}\t{r.score!r}\t{r.split}\n".encode())
            feats = self._load(r.sample)
            for m in sorted(feats):
                a = np.ascontiguousarray(feats[m], dtype=np.float32)
                h.update(f"{m}{a.shape}".encode())
                h.update(a.tobytes())
        return h.hexdigest()


def read_labels(path: Path) -> list[Record]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        need = {"sample", "subject", "score"}
        if not need.issubset(reader.fieldnames or []):
            raise InputError(f"{path} needs the columns sample, subject and score.")
        records = []
        for line, row in enumerate(reader, start=2):
            try:
                score = float(row["score"])
            except ValueError:
                raise InputError(
                    f"{path} line {line}: the score {row['score']!r} is not a number."
                ) from None
            if not math.isfinite(score):
                raise InputError(f"{path} line {line}: the score is not finite.")
            sample = row["sample"].strip()
            if not _SAFE_NAME.match(sample):
                raise InputError(f"{path} line {line}: {sample!r} is not a usable sample name.")
            records.append(Record(sample, row["subject"].strip(), score, row.get("split") or ""))
    if not records:
        raise InputError(f"{path} lists no samples.")
    seen: set[str] = set()
    for r in records:
        if r.sample in seen:
            raise InputError(f"{path} lists the sample {r.sample} twice.")
        seen.add(r.sample)
    return records


def _read_sample(path: Path, spec: DataSpec) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise InputError(f"The feature file {path} cannot be read ({exc}).") from None
    out = {}
    for m, a in tensors.items():
        if m.startswith(VALID) and m[len(VALID) :] in tensors:
            if a.shape != (tensors[m[len(VALID) :]].shape[0],):
                raise InputError(f"{path.name}: {m} does not have one value per segment.")
            out[m] = a.astype(bool)
            continue
        if m not in spec.input_dims:
            continue
        if a.ndim != 2 or a.shape[1] != spec.input_dims[m] or a.shape[0] == 0:
            raise InputError(
                f"{path.name}: {m} has shape {list(a.shape)}, expected [T, {spec.input_dims[m]}]."
            )
        out[m] = a.astype(np.float32, copy=False)
    return out


def write_dataset(
    root: str | Path,
    spec: DataSpec,
    rows: Iterable[tuple[Record, dict[str, np.ndarray]]],
    progress: Progress | None = None,
    total: int | None = None,
) -> Path:
    """Write a data directory; each file appears atomically (written aside, then renamed).

    A row's dict may hold ``valid/<modality>`` [T] bool arrays next to the features."""
    from safetensors.numpy import save_file

    root = Path(root)
    samples = root / "samples"
    samples.mkdir(parents=True, exist_ok=True)
    records: list[Record] = []
    for n, (record, feats) in enumerate(rows):
        if not _SAFE_NAME.match(record.sample):
            raise InputError(f"{record.sample!r} is not a usable sample name.")
        arrays = {}
        for m, a in feats.items():
            if m.startswith(VALID):
                arrays[m] = np.ascontiguousarray(a, dtype=np.uint8)
                continue
            a = np.ascontiguousarray(a, dtype=np.float32)
            if a.ndim != 2 or a.shape[1] != spec.input_dims.get(m):
                raise InputError(
                    f"Sample {record.sample}: {m} has shape {list(a.shape)}, "
                    f"expected [T, {spec.input_dims.get(m)}]."
                )
            arrays[m] = a
        _atomic(samples / f"{record.sample}.safetensors", lambda p, a=arrays: save_file(a, p))
        records.append(record)
        if progress is not None and total:
            progress((n + 1) / total, f"wrote {record.sample}")
    _atomic(root / "labels.csv", lambda p: _write_labels(p, records))
    _atomic(
        root / "dataset.json",
        lambda p: Path(p).write_text(json.dumps(spec.to_json(), indent=2), encoding="utf-8"),
    )
    return root


def _write_labels(path: str, records: Sequence[Record]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["sample", "subject", "score", "split"])
        for r in records:
            w.writerow([r.sample, r.subject, repr(float(r.score)), r.split])


def _atomic(path: Path, write: Callable[[str], None]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def crop_start(total: int, size: int, where: float | None = None) -> int:
    """First step of the ``size`` steps kept of ``total``: at relative position ``where`` in
    [0, 1), or centred when None (evaluation); 0 when nothing is cut."""
    span = max(total - size, 0)
    return span // 2 if where is None else min(int(where * (span + 1)), span)


def crop_or_pad(
    feats: dict[str, np.ndarray],
    lengths: dict[str, int],
    rng: np.random.Generator | None,
    valid: dict[str, np.ndarray] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Cut each modality to its length, zero-padding short ones; also the validity [T] bool of
    each window (``valid`` of the kept segments, False for the padding; every given segment is
    valid where ``valid`` does not name the modality).

    All modalities are cut at one common relative position: random in training (``rng`` given),
    centred in evaluation. With equal lengths this is the official MCMoE loaders' common crop
    (random start in training, ``(len - T) // 2`` in evaluation).
    """
    where = float(rng.random()) if rng is not None else None
    out, out_valid = {}, {}
    for m, a in feats.items():
        size = int(lengths[m])
        ok = np.ones(a.shape[0], dtype=bool)
        if valid is not None and m in valid:
            ok = np.asarray(valid[m], dtype=bool)
            if ok.shape != (a.shape[0],):
                raise InputError(f"The validity of {m} has {ok.size} segments, not {a.shape[0]}.")
        if a.shape[0] > size:
            start = crop_start(a.shape[0], size, where)
            window, window_ok = a[start : start + size], ok[start : start + size]
        else:
            window = np.zeros((size, a.shape[1]), dtype=np.float32)
            window[: a.shape[0]] = a
            window_ok = np.zeros(size, dtype=bool)
            window_ok[: a.shape[0]] = ok
        out[m], out_valid[m] = window, window_ok
    return out, out_valid


def iterate_batches(
    data: FeatureDataset,
    modalities: Sequence[str],
    input_dims: dict[str, int],
    lengths: dict[str, int],
    batch_size: int,
    rng: np.random.Generator | None = None,
    shuffle: bool = False,
    keep: Sequence[str] | None = None,
) -> Iterator[Batch]:
    """Batches for a model with ``modalities``; ``rng`` set means training (random crops).

    ``lengths`` gives the number of steps per modality. ``keep`` restricts the availability to a
    modality subset (the fixed-missing protocol): a modality outside it is zero-filled and marked
    unavailable. Rows left with no modality (no valid segment) at all are skipped. Padding and the
    segments a row marks invalid are invalid in ``Batch.valid`` (all of a modality it lacks).
    """
    import torch

    check_compatible(data.spec, modalities, input_dims)
    order = np.arange(len(data))
    if shuffle:
        if rng is None:
            raise ValueError("Shuffling needs a random generator.")
        order = rng.permutation(order)
    allowed = set(modalities).intersection(modalities if keep is None else keep)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        feats_rows, valid_rows, avail_rows, kept = [], [], [], []
        for i in rows:
            feats = {m: a for m, a in data.features(int(i)).items() if m in allowed}
            cut, ok = crop_or_pad(feats, lengths, rng, data.validity(int(i)))
            here = [m in feats and bool(ok[m].any()) for m in modalities]
            if not any(here):  # nothing of this row to read (in this window)
                continue
            feats_rows.append(cut)
            valid_rows.append(ok)
            avail_rows.append(here)
            kept.append(int(i))
        if not kept:
            continue
        features, valid = {}, {}
        for m in modalities:
            stack = np.zeros((len(kept), int(lengths[m]), input_dims[m]), dtype=np.float32)
            ok = np.zeros((len(kept), int(lengths[m])), dtype=bool)
            for j, (f, v) in enumerate(zip(feats_rows, valid_rows, strict=True)):
                if m in f:
                    stack[j], ok[j] = f[m], v[m]
            features[m] = torch.from_numpy(stack)
            valid[m] = torch.from_numpy(ok)
        scores = np.array([data.records[i].score for i in kept], dtype=np.float64)
        target = torch.tensor(data.spec.normalise(scores), dtype=torch.float32)
        yield Batch(
            features=features,
            available=torch.tensor(avail_rows, dtype=torch.bool),
            target=target,
            scores=scores,
            index=np.array(kept, dtype=np.int64),
            valid=valid,
        )


def input_lengths(model, fallback: int | None = None) -> dict[str, int]:
    """Steps per modality the model expects.

    Read from ``model.input_lengths`` (name -> T) where the network has it, else from its
    configuration (DualAlign's ``lengths``, MCMoE's ``segments``), else ``fallback``.
    """
    names = list(model.modalities)
    found = getattr(model, "input_lengths", None)
    config = getattr(model, "config", None)
    if found is None and isinstance(config, dict) and "lengths" in config:
        found = config["lengths"]
    if found is None and getattr(config, "segments", None):
        found = {m: int(config.segments) for m in names}
    if found is None or any(m not in found for m in names):
        if fallback is None:
            raise InputError(f"{type(model).__name__} does not say how many segments it reads.")
        found = {m: fallback for m in names} | dict(found or {})
    return {m: int(found[m]) for m in names}


def check_compatible(spec: DataSpec, modalities: Sequence[str], input_dims: dict[str, int]) -> None:
    """Refuse a model whose modalities share nothing with the data or whose sizes differ."""
    shared = [m for m in modalities if m in spec.modalities]
    if not shared:
        raise InputError(
            f"The model reads {', '.join(modalities)} but the data set has "
            f"{', '.join(spec.modalities)}."
        )
    for m in shared:
        if int(input_dims[m]) != int(spec.input_dims[m]):
            raise InputError(
                f"The model expects {m} features of size {input_dims[m]}, "
                f"the data set has {spec.input_dims[m]}."
            )
