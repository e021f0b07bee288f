"""Train the demo models shipped in ``resources/models/<protocol>/<item>/<network>``: for every CMAS
item a small MCMoE (skeleton, flow, audio) and a small DualAlign in the MM-JDM setting (skeleton,
rgb, text), for every sports score an MCMoE. Each is trained on synthetic data shaped like the item
(its grades or score range, the app's feature widths), its card holds the subject-grouped
cross-validated SRCC on that data, and the better family of an item becomes its active model. They
exist so the whole job runs out of the box; every card and proposal says "demo model, trained on
synthetic data — not for clinical use".

Reproduce with ``python -m engine.grading.demo_models [--out resources/models]``.
"""

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from engine.features import default_dims
from engine.grading.learning import SEGMENTING, cross_validate
from engine.protocols import get_protocol
from engine.reports.sheet import DEMO_NOTE
from engine.synthetic import SyntheticSpec, generate
from engine.training.datasets import FeatureDataset

PROTOCOLS = ("cmas", "rg", "fis-v", "fs1000")
#: The networks of every item of a protocol (the first is the fallback when CV ties).
FAMILIES = {"cmas": ("mcmoe", "dualalign"), "rg": ("mcmoe",), "fis-v": ("mcmoe",),
            "fs1000": ("mcmoe",)}  # fmt: skip
SEGMENTS = 16
RGB_DIM, TEXT_DIM = 1280, 384  # EfficientNet-Lite0 pooled features, all-MiniLM-L6-v2
#: Per family: modalities, how strongly each shows quality, the preset and network size.
SETUP = {
    "mcmoe": {
        "modalities": ("skeleton", "flow", "audio"),
        "signal": {"skeleton": 2.0, "flow": 1.5, "audio": 0.5},
        "activity": {"audio": 0.0},
        "preset": "small",
        "network": {"hidden": 32, "heads": 2, "encoder_layers": 1, "decoder_layers": 1,
                    "segments": SEGMENTS},
        "training": {"epochs": 20, "lr": 2e-3, "batch_size": 32},
    },
    # The exam note is the same sentence for every recording of an item: it shows no quality.
    "dualalign": {
        "modalities": ("skeleton", "rgb", "text"),
        "signal": {"skeleton": 2.0, "rgb": 1.5, "text": 0.0},
        "activity": {"text": 0.0},
        "preset": "app",
        "network": {"d1": 64, "d2": 32, "d3": 16, "heads": 2},
        "training": {"epochs": 40},
    },
}  # fmt: skip
CV_FOLDS = 3


def feature_dims() -> dict[str, int]:
    return {**default_dims(), "rgb": RGB_DIM, "text": TEXT_DIM}


def item_data(protocol: str, item_id: str, seed: int, family: str = "mcmoe") -> FeatureDataset:
    """Synthetic recordings graded on ``item``'s scale, with ``family``'s modalities and the
    app's feature widths."""
    item = get_protocol(protocol).item(item_id)
    setup = SETUP[family]
    dims = feature_dims()
    spec = SyntheticSpec(
        dims={m: dims[m] for m in setup["modalities"]},
        signal=setup["signal"],
        activity=setup["activity"],
        corrupted={"audio": 0.3} if "audio" in setup["modalities"] else {},
        grades=len(item.grades) if item.integer else None,
        subjects=60,
        recordings_per_subject=3,
        segments=SEGMENTS,
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


def train_demo(
    protocol: str, item_id: str, family: str, out: Path, seed: int, epochs: int | None
) -> Path:
    """Cross-validate, then train ``family`` on all of the item's synthetic data and save it."""
    from engine.extract.config import ExtractionConfig
    from engine.training.config import default_config
    from engine.training.trainer import train_model
    from engine.training.workflow import build_for_data
    from models.checkpoint import save

    setup = SETUP[family]
    data = item_data(protocol, item_id, seed, family)
    config = default_config(family, setup["preset"], data.spec.target).with_overrides(
        **{**setup["training"], "seed": seed, "device": "cpu"}
    )
    config = config.with_overrides(epochs=epochs)

    def build():
        return build_for_data(family, setup["preset"], data, **setup["network"])

    metrics = cross_validate(build, data, config, CV_FOLDS)
    net = build()
    train_model(net, data, config)
    return save(
        net,
        out / protocol / item_id / family,
        {
            "label_range": [data.spec.score_min, data.spec.score_max],
            "data_hash": data.content_hash(),
            "metrics": metrics,
            "demo": True,
            "note": DEMO_NOTE,
            "segmenting": SEGMENTING[family],
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
    parser.add_argument(
        "--epochs", type=int, default=None, help="default: 20 (MCMoE), 40 (DualAlign)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--protocol", choices=PROTOCOLS, action="append", help="default: all")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    for protocol in args.protocol or PROTOCOLS:
        for item in get_protocol(protocol).items:
            for family in FAMILIES[protocol]:
                start = time.perf_counter()
                path = train_demo(protocol, item.id, family, args.out, args.seed, args.epochs)
                took = time.perf_counter() - start
                print(f"{protocol}/{item.id}/{family}: {path} ({took:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
