"""Train the demo models shipped in ``resources/models``: one small MCMoE per CMAS item and per
sports score, on synthetic data shaped like the item (its grades or score range, the app's
feature widths). They exist so the whole job runs out of the box; every card and proposal says
"demo model, trained on synthetic data — not for clinical use".

Reproduce with ``python -m engine.grading.demo_models [--out resources/models]``.
"""

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from engine.features import default_dims
from engine.grading.learning import SEGMENTING
from engine.protocols import get_protocol
from engine.reports.sheet import DEMO_NOTE
from engine.synthetic import SyntheticSpec, generate
from engine.training.datasets import FeatureDataset

PROTOCOLS = ("cmas", "rg", "fis-v", "fs1000")
NETWORK = {"hidden": 32, "heads": 2, "encoder_layers": 1, "decoder_layers": 1, "segments": 16}
SIGNAL = {"skeleton": 2.0, "flow": 1.5, "audio": 0.5}


def item_data(protocol: str, item_id: str, seed: int) -> FeatureDataset:
    """Synthetic recordings graded on ``item``'s scale, with the app's modalities and widths."""
    item = get_protocol(protocol).item(item_id)
    spec = SyntheticSpec(
        dims=default_dims(),
        signal=SIGNAL,
        activity={"audio": 0.0},
        corrupted={"audio": 0.3},
        grades=len(item.grades) if item.integer else None,
        subjects=60,
        recordings_per_subject=3,
        segments=NETWORK["segments"],
        seed=seed,
    )
    data = generate(spec)
    if item.integer:
        return data
    # Continuous scores come out on 0..10: stretch them onto the item's range.
    scale = (item.high - item.low) / 10.0
    records = [replace(r, score=item.low + r.score * scale) for r in data.records]
    spec_out = replace(data.spec, score_min=item.low, score_max=item.high, name=item.name)
    return FeatureDataset.in_memory(spec_out, records, [data.features(i) for i in range(len(data))])


def train_demo(protocol: str, item_id: str, out: Path, seed: int, epochs: int) -> Path:
    from engine.extract.config import ExtractionConfig
    from engine.training.config import default_config
    from engine.training.splits import group_holdout
    from engine.training.trainer import train_model
    from engine.training.workflow import build_for_data
    from models.checkpoint import save

    data = item_data(protocol, item_id, seed)
    net = build_for_data("mcmoe", "small", data, **NETWORK)
    config = default_config("mcmoe", "small", data.spec.target).with_overrides(
        epochs=epochs, lr=2e-3, batch_size=32, seed=seed, device="cpu"
    )
    split = group_holdout([r.subject for r in data.records], 0.2, seed)
    result = train_model(net, data.subset(split.train), config, data.subset(split.test))
    return save(
        net,
        out / protocol / item_id,
        {
            "label_range": [data.spec.score_min, data.spec.score_max],
            "data_hash": data.content_hash(),
            "metrics": {"synthetic_val_srcc": result.val_srcc},
            "demo": True,
            "note": DEMO_NOTE,
            "segmenting": SEGMENTING["mcmoe"],
            "extraction": ExtractionConfig.parse(data.spec.modalities, "fast").to_dict(True),
            "profile": "fast",
            "trained_on": f"synthetic data shaped like {protocol}/{item_id}, seed {seed}",
        },
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parents[2] / "resources" / "models"
    )
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    for protocol in PROTOCOLS:
        for item in get_protocol(protocol).items:
            path = train_demo(protocol, item.id, args.out, args.seed, args.epochs)
            print(f"{protocol}/{item.id}: {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
