"""``aqa models``: inspect the grading networks and convert released weights."""

import argparse
import hashlib
from pathlib import Path

from engine.cli.output import print_json
from engine.errors import InputError


def register(subparsers) -> None:
    parser = subparsers.add_parser("models", help="grading networks: sizes, released weights")
    sub = parser.add_subparsers(dest="models_command", metavar="SUBCOMMAND", required=True)

    info = sub.add_parser("info", help="parameters and GFLOPs of a network for one sample")
    info.add_argument("name", help="network name (e.g. mcmoe)")
    info.add_argument("--preset", required=True, help="e.g. rg, fisv, fs1000, mm-jdm")
    info.add_argument("--segments", type=int, help="segments T (default: the preset's)")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=info_cmd)

    conv = sub.add_parser(
        "convert-official", help="turn released weights (torch.save state dict) into a checkpoint"
    )
    conv.add_argument("name", choices=["mcmoe"], help="the network")
    conv.add_argument("weights", type=Path, help="the released .pkl file")
    conv.add_argument("--preset", required=True, help="the preset the weights were trained with")
    conv.add_argument("--out", type=Path, required=True, help="checkpoint directory to write")
    conv.add_argument(
        "--label-range", type=float, nargs=2, metavar=("LOW", "HIGH"),
        help="score range the normalised output maps to (e.g. 0 130 for FS1000 TES)",
    )  # fmt: skip
    conv.set_defaults(func=convert_cmd)

    ls = sub.add_parser("list", help="registered grading models per protocol item")
    ls.add_argument("--protocol", help="only this protocol's models (e.g. cmas)")
    ls.add_argument("--item", help="only this item's models (e.g. head_elevation)")
    ls.add_argument("--json", action="store_true", help="print JSON rows")
    ls.set_defaults(func=list_cmd)
    for action, text in (("activate", "make a model the item's active one"),
                         ("retire", "stop using a model")):  # fmt: skip
        cmd = sub.add_parser(action, help=text)
        cmd.add_argument("model_id", type=int, help="model id (see `aqa models list`)")
        cmd.set_defaults(func=status_cmd, status="active" if action == "activate" else "retired")


def list_cmd(args: argparse.Namespace) -> int:
    from engine.cli.output import print_table
    from engine.grading.model_files import register_demos
    from engine.protocols import catalog, get_protocol
    from engine.store import Store

    protocols = [get_protocol(args.protocol)] if args.protocol else list(catalog().values())
    with Store() as store:
        for protocol in protocols:
            for item in protocol.items:
                if args.item in (None, item.id):
                    register_demos(store, protocol.id, item.id)
        rows = store.models(args.protocol, args.item)
    if args.json:
        print_json(rows)
        return 0
    table = [
        {
            "id": r["id"],
            "protocol": r["protocol"],
            "item": r["item"],
            "model": f"{r['name']} v{r['version']}",
            "status": r["status"],
            "cv srcc": "-"
            if r["metrics"].get("cv_srcc") is None
            else f"{r['metrics']['cv_srcc']:.3f}",
            "demo": "DEMO" if r["demo"] else "",
        }
        for r in rows
    ]
    if not table:
        print("no models for that protocol item: rate some recordings and run `aqa train`")
    else:
        print_table(table, ["id", "protocol", "item", "model", "status", "cv srcc", "demo"])
    return 0


def status_cmd(args: argparse.Namespace) -> int:
    from engine.store import Store

    with Store() as store:
        row = store.set_model_status(args.model_id, args.status)
    print(
        f"model {row['id']} ({row['name']} v{row['version']}, {row['item']}) is now {row['status']}"
    )
    return 0


def _build(name: str, preset: str):
    import models

    try:
        return models.build(name, preset)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def info_cmd(args: argparse.Namespace) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    module = _build(args.name, args.preset).eval()
    config = getattr(module, "config", None)
    segments = args.segments or getattr(config, "segments", 16)
    features = {m: torch.randn(1, segments, d) for m, d in module.input_dims.items()}
    available = torch.ones(1, len(module.modalities), dtype=torch.bool)
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        module(features, available)
    info = {
        "name": args.name,
        "preset": args.preset,
        "parameters": sum(p.numel() for p in module.parameters()),
        "gflops": counter.get_total_flops() / 1e9,
        "segments": segments,
        "modalities": {m: d for m, d in module.input_dims.items()},
    }
    if args.json:
        print_json(info)
    else:
        dims = ", ".join(f"{m} {d}" for m, d in info["modalities"].items())
        print(f"{args.name}/{args.preset}: {info['parameters']:,} parameters, "
              f"{info['gflops']:.3f} GFLOPs for one sample ({segments} segments; {dims})")  # fmt: skip
    return 0


def convert_cmd(args: argparse.Namespace) -> int:
    from models.checkpoint import CheckpointError, load_state, read_torch_state_dict, save
    from models.mcmoe import from_official

    module = _build(args.name, args.preset)
    try:
        state = from_official(module, read_torch_state_dict(args.weights))
        load_state(module, state)
    except CheckpointError as exc:
        raise InputError(str(exc)) from None
    digest = hashlib.sha256(args.weights.read_bytes()).hexdigest()
    extra = {
        "label_range": list(args.label_range) if args.label_range else None,
        "source": "released weights of the official code",
        "source_file": args.weights.name,
        "source_sha256": digest,
    }
    try:
        out = save(module.eval(), args.out, extra)
    except OSError as exc:
        raise InputError(f"Cannot write the checkpoint to {args.out}: {exc.strerror}.") from None
    print(f"Wrote {out} ({args.name}/{args.preset}, {len(state)} tensors).")
    return 0
