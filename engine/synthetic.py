"""A generated multimodal AQA data set, and the benchmark that trains the grading networks on it.

Each subject has an ability; each recording a latent quality made of a part every modality sees
and a private part per modality (so modalities complement each other). The rater's grade is the
quality cut into equally likely integer grades (or a continuous score). A modality's feature
sequence is a subject-specific style (nuisance), an activity pattern and the quality it sees
along a direction of its own, both only inside the segments where the action happens, plus
noise. Modalities differ in how strongly they show quality; some recordings of a modality are
corrupted (they look like any other recording but show a random quality, and are still marked
available); modalities can be missing per recording.

``SyntheticSpec`` shapes the data like an exam item: number of grades, modality set and feature
sizes, informativeness per modality. ``run_benchmark`` trains MCMoE, DualAlign and two baselines
(best single modality, late fusion by averaging with zero-filled missing inputs) with one budget
on a subject-grouped split and evaluates every modality subset (the papers' Table 1).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.stats import norm

from engine.jobs import CancelToken, Progress
from engine.training.datasets import DataSpec, FeatureDataset, Record
from engine.training.splits import group_holdout

log = logging.getLogger(__name__)


@dataclass
class SyntheticSpec:
    """How the synthetic data set looks; the defaults are the benchmark's."""

    dims: dict[str, int] = field(default_factory=lambda: {"rgb": 48, "flow": 32, "audio": 24})
    signal: dict[str, float] = field(
        default_factory=lambda: {"rgb": 2.0, "flow": 1.5, "audio": 1.0}
    )  # amplitude of the quality a modality shows (1 for a modality not named here)
    activity: dict[str, float] = field(
        default_factory=lambda: {"rgb": 1.0, "flow": 1.0, "audio": 0.0}
    )  # how clearly a modality shows *when* the action happens (music does not; default 1)
    private: float = 0.25  # share (std) of quality only one modality sees, per modality
    corrupted: dict[str, float] = field(default_factory=lambda: {"audio": 0.3})
    missing: dict[str, float] = field(default_factory=dict)  # chance a modality is absent
    grades: int | None = 6  # integer grades 0..grades-1; None: continuous score 0..10
    subjects: int = 100
    recordings_per_subject: int = 5
    segments: int = 12
    active_fraction: float = 0.4  # fraction of segments where the action (and quality) shows
    subject_share: float = 0.5  # share of a recording's quality variance due to the subject
    style: float = 0.15  # scale of the subject-specific nuisance per modality
    noise: float = 0.3  # scale of the per-segment noise
    seed: int = 0

    def __post_init__(self) -> None:
        if self.private**2 * len(self.dims) >= 1:
            raise ValueError("The private quality shares leave no shared quality.")
        if self.grades is not None and self.grades < 2:
            raise ValueError("An item needs at least 2 grades.")

    @property
    def modalities(self) -> list[str]:
        return list(self.dims)

    def data_spec(self) -> DataSpec:
        top = float(self.grades - 1) if self.grades is not None else 10.0
        return DataSpec(
            name="synthetic",
            modalities=self.modalities,
            input_dims=dict(self.dims),
            score_min=0.0,
            score_max=top,
            grades=self.grades,
            target="grade" if self.grades is not None else "score",
            source=f"engine.synthetic seed {self.seed}",
        )


def generate(spec: SyntheticSpec) -> FeatureDataset:
    """The data set ``spec`` describes (in memory, deterministic for a seed)."""
    rng = np.random.default_rng(spec.seed)
    mods = spec.modalities
    t_len = spec.segments
    active_len = max(1, round(spec.active_fraction * t_len))
    shared_w = math.sqrt(1.0 - spec.private**2 * len(mods))
    quality_dir = {m: _unit(rng.normal(size=spec.dims[m])) for m in mods}
    activity_dir = {m: _unit(rng.normal(size=spec.dims[m])) for m in mods}
    ability = rng.normal(size=spec.subjects)
    style = {m: spec.style * rng.normal(size=(spec.subjects, spec.dims[m])) for m in mods}
    cuts = norm.ppf(np.linspace(0, 1, spec.grades + 1)[1:-1]) if spec.grades else None

    records, features = [], []
    for s in range(spec.subjects):
        for r in range(spec.recordings_per_subject):
            shared = math.sqrt(spec.subject_share) * ability[s]
            shared += math.sqrt(1 - spec.subject_share) * rng.normal()
            private = {m: rng.normal() for m in mods}
            quality = shared_w * shared + spec.private * sum(private.values())
            seen = {m: shared_w * shared + spec.private * private[m] for m in mods}
            start = int(rng.integers(0, t_len - active_len + 1))
            active = np.zeros(t_len)
            active[start : start + active_len] = 1.0
            feats = {}
            for m in mods:
                if rng.random() < spec.corrupted.get(m, 0.0):
                    seen[m] = rng.normal()  # plausible features showing the wrong quality
                x = spec.noise * rng.normal(size=(t_len, spec.dims[m])) + style[m][s]
                pattern = spec.activity.get(m, 1.0) * activity_dir[m]
                pattern = pattern + spec.signal.get(m, 1.0) * seen[m] * quality_dir[m]
                x += active[:, None] * pattern[None, :]
                feats[m] = x.astype(np.float32)
            absent = [m for m in mods if rng.random() < spec.missing.get(m, 0.0)]
            if len(absent) == len(mods):
                absent = absent[1:]
            for m in absent:
                del feats[m]
            if cuts is not None:
                score = float(np.searchsorted(cuts, quality))
            else:
                score = float(10.0 * norm.cdf(quality))
            records.append(Record(f"s{s:03d}_r{r}", f"s{s:03d}", score))
            features.append(feats)
    return FeatureDataset.in_memory(spec.data_spec(), records, features)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


# ------------------------------------------------------------------------------------ benchmark


@dataclass
class BenchConfig:
    """One budget for every network: epochs, batch size, seed, the architectures' width.

    The optimiser, learning rate and schedule of each network are its preset's training defaults
    (``engine.training.config``, as ``aqa train`` and the learning loop use); ``lr`` is the
    baselines' rate.
    """

    data: SyntheticSpec = field(default_factory=SyntheticSpec)
    epochs: int = 30
    batch_size: int = 32
    lr: float = 2e-3
    hidden: int = 64
    test_fraction: float = 0.25
    val_fraction: float = 0.15
    seed: int = 0
    threads: int | None = 1  # torch CPU threads while it runs (None: leave torch's setting)


@dataclass
class BenchResult:
    reports: list  # EvalReport per model, Table 1 rows
    timings: dict[str, float]  # training seconds per model
    throughput: dict[str, float]  # training samples/s per model
    single_modality: str
    config: dict

    def table(self) -> str:
        from engine.training.evaluate import format_table

        return format_table(self.reports)

    def to_json(self) -> dict:
        return {
            "reports": [r.to_json() for r in self.reports],
            "train_seconds": self.timings,
            "train_samples_per_s": self.throughput,
            "single_modality": self.single_modality,
            "config": self.config,
        }


def bench_networks(data: DataSpec, hidden: int, segments: int) -> dict:
    """The small MCMoE and DualAlign of the benchmark, built for ``data``'s modalities."""
    import models

    dims = dict(data.input_dims)
    mods = list(data.modalities)
    mcmoe = models.build(
        "mcmoe",
        "small",
        modalities=tuple(mods),
        input_dims=dims,
        segments=segments,
        hidden=hidden,
    )
    extra = {"num_grades": data.grades} if data.grades else {"continuous": True}
    dualalign = models.build(
        "dualalign",
        "app",
        modalities=mods,
        input_dims=dims,
        lengths={m: segments for m in mods},
        d1=hidden,
        d2=hidden,
        d3=16,
        heads=2,
        **extra,
    )
    return {"MCMoE": mcmoe, "DualAlign": dualalign}


def run_benchmark(
    config: BenchConfig | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> BenchResult:
    """Train every network on one split of the synthetic data and evaluate Table 1."""
    import torch

    config = config or BenchConfig()
    threads = torch.get_num_threads()
    if config.threads:
        # Small networks gain nothing from more threads, and on a shared CPU OpenMP's waiting
        # threads slow every step down many times over.
        torch.set_num_threads(config.threads)
    try:
        return _run(config, progress, cancel)
    finally:
        torch.set_num_threads(threads)


def _run(config: BenchConfig, progress: Progress | None, cancel: CancelToken | None) -> BenchResult:
    from engine.training.baselines import LateFusion
    from engine.training.config import TrainConfig, network_defaults
    from engine.training.evaluate import evaluate_subsets, predict
    from engine.training.metrics import srcc
    from engine.training.trainer import seed_everything, train_model

    data = generate(config.data)
    spec = data.spec
    outer = group_holdout(data.subjects, config.test_fraction, seed=config.seed)
    train_all, test = data.subset(outer.train), data.subset(outer.test)
    inner = group_holdout(train_all.subjects, config.val_fraction, seed=config.seed + 1)
    train, val = train_all.subset(inner.train), train_all.subset(inner.test)
    segments = config.data.segments
    lengths = {m: segments for m in spec.modalities}

    seed_everything(config.seed)  # the initial weights, whatever ran before in this process
    networks = bench_networks(spec, config.hidden, segments)
    budget = {
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "segments": segments,
        "seed": config.seed,
    }
    settings = {name: network_defaults(net, **budget) for name, net in networks.items()}
    networks["late fusion"] = LateFusion(dict(spec.input_dims), hidden=config.hidden)
    settings["late fusion"] = TrainConfig(lr=config.lr, **budget)
    timings, throughput, reports = {}, {}, {}
    for n, (name, net) in enumerate(networks.items()):

        def step(frac: float, note: str, n=n, name=name) -> None:
            if progress is not None:
                progress((n + frac) / (len(networks) + 1), f"{name}: {note}")

        result = train_model(net, train, settings[name], val, progress=step, cancel=cancel)
        timings[name] = round(result.seconds, 2)
        throughput[name] = round(result.samples_per_s, 1)
        reports[name] = evaluate_subsets(net, test, lengths, name=name)
        log.info("%s trained in %.1f s (best epoch %d)", name, result.seconds, result.best_epoch)

    late = networks["late fusion"]
    val_srcc = {}
    for m in spec.modalities:
        pred, true, _ = predict(late.branch(m), val, lengths)
        val_srcc[m] = srcc(pred, true)
    best = max(val_srcc, key=lambda m: -1.0 if math.isnan(val_srcc[m]) else val_srcc[m])
    single = evaluate_subsets(
        late.branch(best), test, lengths, spec.modalities, name=f"single ({best})"
    )
    if progress is not None:
        progress(1.0, "evaluated")
    ordered = [reports["MCMoE"], reports["DualAlign"], single, reports["late fusion"]]
    summary = {
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "hidden": config.hidden,
        "segments": segments,
        "training": {name: c.to_json() for name, c in settings.items()},
        "train": len(train),
        "val": len(val),
        "test": len(test),
        "data": asdict(config.data),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return BenchResult(ordered, timings, throughput, best, summary)
