"""The benchmark with modalities missing in the *training* set (LIMSSR's setting, paper Sec. 3.1).

The synthetic data set (``engine.synthetic``) is generated complete and split by subject; then each
training and validation recording loses each modality with its own probability (at least one
stays), independently per sample. Nothing a network sees in training has the dropped modalities,
so no reconstruction target or full-modality teacher exists for them. The test rows stay complete
and are evaluated under the fixed-missing protocol over every modality subset (Table 1).

MCMoE, DualAlign and LIMSSR are trained with one budget (epochs, batch size, seed) and their papers'
optimisers; LIMSSR runs on a tiny random Qwen3 written offline (``llm_dir`` to use another local
LLM). Parameter counts are reported for every network and, from the configuration alone, for
LIMSSR on Qwen3-0.6B.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from engine.jobs import CancelToken, Progress
from engine.synthetic import SyntheticSpec, bench_networks, generate
from engine.training.datasets import FeatureDataset
from engine.training.splits import group_holdout

log = logging.getLogger(__name__)


@dataclass
class MissingTrainConfig:
    """The data, how much of it is missing in training, and the common budget."""

    data: SyntheticSpec = field(default_factory=SyntheticSpec)
    train_missing: dict[str, float] = field(
        default_factory=lambda: {"rgb": 0.3, "flow": 0.3, "audio": 0.3}
    )  # chance that a training / validation recording lacks the modality
    epochs: int = 30
    batch_size: int = 16
    hidden: int = 64  # width of the small MCMoE / DualAlign and of the tiny LLM
    llm_dir: str | None = None  # None: a tiny random Qwen3 in a temporary directory
    test_fraction: float = 0.25
    val_fraction: float = 0.15
    seed: int = 0
    threads: int | None = 1  # torch CPU threads while it runs (None: leave torch's setting)

    def __post_init__(self) -> None:
        unknown = set(self.train_missing) - set(self.data.dims)
        if unknown:
            raise ValueError(f"Missing rate given for unknown modality {sorted(unknown)[0]!r}.")
        if any(not 0 <= p < 1 for p in self.train_missing.values()):
            raise ValueError("Missing rates must lie in [0, 1).")


@dataclass
class MissingTrainResult:
    reports: list  # EvalReport per network (Table 1 rows)
    parameters: dict[str, dict[str, int]]  # network -> total / trainable
    timings: dict[str, float]  # training seconds per network
    train_missing: dict[str, float]  # share of training recordings without each modality
    train_patterns: dict[str, int]  # training recordings per available-modality pattern
    config: dict

    def table(self) -> str:
        from engine.training.evaluate import format_table

        shares = ", ".join(f"{m} {p:.0%}" for m, p in self.train_missing.items())
        lines = [
            f"Training set with missing modalities ({shares} of recordings lack it); "
            "test set complete, every subset evaluated:",
            format_table(self.reports),
            "",
            "parameters (total / trainable):",
        ]
        for name, counts in self.parameters.items():
            lines.append(f"  {name}: {counts['total']:,} / {counts['trainable']:,}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "reports": [r.to_json() for r in self.reports],
            "parameters": self.parameters,
            "train_seconds": self.timings,
            "train_missing": self.train_missing,
            "train_patterns": self.train_patterns,
            "config": self.config,
        }


def drop_modalities(
    data: FeatureDataset, rates: dict[str, float], rng: np.random.Generator
) -> FeatureDataset:
    """``data`` with each recording's modalities removed independently with ``rates`` (per
    modality); a recording never loses all of them (one of those drawn stays, at random)."""
    kept: dict[str, set[str]] = {}
    for i, record in enumerate(data.records):
        have = sorted(data.features(i))
        lost = [m for m in have if rng.random() < rates.get(m, 0.0)]
        if len(lost) == len(have):
            lost.pop(int(rng.integers(len(lost))))
        kept[record.sample] = set(have) - set(lost)
    row = {record.sample: i for i, record in enumerate(data.records)}

    def loader(sample: str) -> dict[str, np.ndarray]:
        return {m: a for m, a in data.features(row[sample]).items() if m in kept[sample]}

    return FeatureDataset(data.spec, data.records, loader)


def run_missing_train(
    config: MissingTrainConfig | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> MissingTrainResult:
    """Train MCMoE, DualAlign and LIMSSR on incomplete training data; evaluate Table 1."""
    import torch

    config = config or MissingTrainConfig()
    threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        if config.llm_dir:
            return _run(config, config.llm_dir, progress, cancel)
        with tempfile.TemporaryDirectory(prefix="aqa-tiny-llm-") as tmp:
            return _run(config, None, progress, cancel, tmp)
    finally:
        torch.set_num_threads(threads)


def _run(
    config: MissingTrainConfig,
    llm_dir: str | None,
    progress: Progress | None,
    cancel: CancelToken | None,
    scratch: str | None = None,
) -> MissingTrainResult:
    import models
    from engine.training.config import network_defaults
    from engine.training.evaluate import evaluate_subsets
    from engine.training.trainer import train_model
    from models.limssr import parameter_counts, write_tiny_backbone

    data = generate(SyntheticSpec(**{**asdict(config.data), "missing": {}}))
    spec = data.spec
    mods = list(spec.modalities)
    outer = group_holdout(data.subjects, config.test_fraction, seed=config.seed)
    train_all, test = data.subset(outer.train), data.subset(outer.test)
    inner = group_holdout(train_all.subjects, config.val_fraction, seed=config.seed + 1)
    rng = np.random.default_rng(config.seed + 2)
    train = drop_modalities(train_all.subset(inner.train), config.train_missing, rng)
    val = drop_modalities(train_all.subset(inner.test), config.train_missing, rng)
    segments = config.data.segments
    lengths = {m: segments for m in mods}

    if llm_dir is None:
        llm_dir = str(
            write_tiny_backbone(scratch, mods, seed=config.seed, hidden_size=config.hidden)
        )
    networks = bench_networks(spec, config.hidden, segments)
    networks["LIMSSR"] = models.build(
        "limssr",
        "small",
        modalities=tuple(mods),
        input_dims=dict(spec.input_dims),
        segments=segments,
        llm_path=llm_dir,
        num_grades=spec.grades or 5,
    )
    budget = {"epochs": config.epochs, "batch_size": config.batch_size, "seed": config.seed}
    settings = {name: network_defaults(net, **budget) for name, net in networks.items()}
    reports, timings, parameters = [], {}, {}
    for n, (name, net) in enumerate(networks.items()):

        def step(frac: float, note: str, n=n, name=name) -> None:
            if progress is not None:
                progress((n + frac) / len(networks), f"{name}: {note}")

        result = train_model(net, train, settings[name], val, progress=step, cancel=cancel)
        timings[name] = round(result.seconds, 2)
        reports.append(evaluate_subsets(net, test, lengths, name=name))
        params = list(net.parameters())
        parameters[name] = {
            "total": sum(p.numel() for p in params),
            "trainable": sum(p.numel() for p in params if p.requires_grad),
        }
        log.info("%s trained in %.1f s (best epoch %d)", name, result.seconds, result.best_epoch)
    parameters["LIMSSR on Qwen3-0.6B (fs1000 preset, from the configuration)"] = parameter_counts(
        "fs1000", backbone="qwen3-0.6b"
    )
    patterns: dict[str, int] = {}
    absent = dict.fromkeys(mods, 0)
    for i in range(len(train)):
        have = train.features(i)
        key = "{" + ",".join(m for m in mods if m in have) + "}"
        patterns[key] = patterns.get(key, 0) + 1
        for m in mods:
            absent[m] += m not in have
    if progress is not None:
        progress(1.0, "evaluated")
    summary = {
        **{k: v for k, v in asdict(config).items() if k != "data"},
        "data": asdict(config.data),
        "train": len(train),
        "val": len(val),
        "test": len(test),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return MissingTrainResult(
        reports=reports,
        parameters=parameters,
        timings=timings,
        train_missing={m: absent[m] / len(train) for m in mods},
        train_patterns=dict(sorted(patterns.items())),
        config=summary,
    )


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=MissingTrainConfig.epochs)
    parser.add_argument("--llm-dir", help="local LLM directory (default: a tiny random Qwen3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    outcome = run_missing_train(
        MissingTrainConfig(epochs=args.epochs, llm_dir=args.llm_dir, seed=args.seed)
    )
    print(json.dumps(outcome.to_json(), indent=2) if args.json else outcome.table())
