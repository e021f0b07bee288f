"""``aqa train``, ``aqa evaluate``, ``aqa import-features`` and ``aqa bench models``."""

import sys
from pathlib import Path

from engine.cli.output import print_json
from engine.cli.progress import progress_bar


def register(sub) -> None:
    tr = sub.add_parser(
        "train",
        help="train a network on a feature-set directory (--data) or on the clinicians' "
        "confirmed grades of a protocol item (--protocol, --item)",
    )
    source = tr.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="feature-set directory")
    source.add_argument("--protocol", help="learn from the rated recordings of this protocol")
    tr.add_argument("--item", help="with --protocol: the item to learn")
    tr.add_argument("--cv", type=int, default=5, help="with --protocol: cross-validation folds")
    tr.add_argument("--force", action="store_true", help="activate even if not better")
    tr.add_argument(
        "--model", required=True, choices=["mcmoe", "dualalign", "limssr"], help="the network"
    )
    tr.add_argument("--llm-path", type=Path, help="limssr: local directory of the LLM (Qwen3-0.6B)")
    tr.add_argument("--preset", help="e.g. rg, fisv, fs1000, mm-jdm, app, small")
    tr.add_argument("--out", type=Path, help="with --data: checkpoint directory to write")
    tr.add_argument("--epochs", type=int, help="default: the preset's")
    tr.add_argument("--lr", type=float, help="learning rate (default: the preset's)")
    tr.add_argument("--batch-size", type=int, help="default: the preset's")
    tr.add_argument("--seed", type=int, help="split and training seed")
    tr.add_argument("--patience", type=int, help="stop after N epochs without improvement")
    tr.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where training runs")
    tr.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    tr.add_argument(
        "--nproc",
        type=int,
        default=1,
        help="with --data: train data-parallel in N processes on this machine (torch.distributed;"
        " or start `aqa train` under torchrun)",
    )
    tr.add_argument(
        "--test-fraction", type=float, default=0.2, help="subjects held out for testing"
    )
    tr.add_argument(
        "--val-fraction", type=float, default=0.15, help="subjects held out for early stopping"
    )
    tr.add_argument("--json", action="store_true", help="print JSON")
    tr.set_defaults(func=run_train)

    ev = sub.add_parser("evaluate", help="evaluate a saved network on every modality subset")
    ev.add_argument("model_dir", type=Path, help="checkpoint directory")
    ev.add_argument("--data", type=Path, required=True, help="feature-set directory")
    ev.add_argument(
        "--subsets", default="all", choices=["all", "full"], help="every modality subset or all"
    )
    ev.add_argument(
        "--rows", default="test", choices=["test", "all"], help="the official test rows or all"
    )
    ev.add_argument("--json", action="store_true", help="print JSON")
    ev.set_defaults(func=run_evaluate)

    im = sub.add_parser("import-features", help="convert a public feature release")
    im.add_argument("dataset", choices=["rg", "fisv", "fs1000"], help="which release")
    im.add_argument("--features", type=Path, required=True, help="feature directory")
    im.add_argument("--labels", type=Path, help="directory of the label files (rg, fisv)")
    im.add_argument("--action", help="RG apparatus: Ball, Clubs, Hoop, Ribbon")
    im.add_argument("--target", help="score: Total_Score (rg); TES, PCS (fisv); TES..IN (fs1000)")
    im.add_argument("--out", type=Path, required=True, help="feature-set directory to write")
    im.set_defaults(func=run_import)

    bench = sub.add_parser("bench", help="benchmarks")
    bench_sub = bench.add_subparsers(dest="what", metavar="WHAT", required=True)
    bm = bench_sub.add_parser("models", help="MCMoE, DualAlign and baselines on synthetic data")
    bm.add_argument("--epochs", type=int, help="training epochs for every network")
    bm.add_argument("--seed", type=int, default=0, help="data, split and training seed")
    bm.add_argument("--json", action="store_true", help="print JSON")
    bm.set_defaults(func=run_bench_models)


def run_train_item(args) -> int:
    from engine.errors import InputError
    from engine.grading.learning import train_item
    from engine.store import Store

    if not args.item:
        raise InputError("Training from ratings needs --item as well as --protocol.")
    with Store() as store, progress_bar(f"train {args.item}") as bar:
        done = train_item(
            store, args.protocol, args.item, args.model, args.preset, args.cv, args.force,
            args.epochs, device=args.device or "auto", progress=bar,
        )  # fmt: skip
    if args.json:
        print_json(done)
        return 0
    m, row = done["metrics"], done["model"]
    print(
        f"{args.model} v{row['version']} for {args.protocol}/{args.item}: cross-validated SRCC "
        f"{m['cv_srcc']:.3f}, MSE {m['cv_mse']:.3f} ({m['samples']} recordings, "
        f"{m['subjects']} subjects, {m['cv_folds']} folds)"
    )
    before = done["previous_cv_srcc"]
    state = "activated" if done["activated"] else "kept as a candidate (not better)"
    print(
        f"model {row['id']} {state}; previous active SRCC: {'none' if before is None else f'{before:.3f}'}"
    )
    return 0


def run_train(args) -> int:
    from engine.errors import InputError

    if args.protocol:
        if args.nproc != 1:
            raise InputError("--nproc trains on a feature-set directory (--data) only.")
        return run_train_item(args)
    if not (args.preset and args.out):
        raise InputError("Training on --data needs --preset and --out.")
    if args.nproc < 1:
        raise InputError("--nproc must be at least 1.")
    import os

    from engine.training import distributed

    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        return distributed.launch(_train_process, (args,), args.nproc)
    joined = distributed.join(args.device or "auto")
    if joined:
        args.device = joined  # every process trains where the group was formed
    try:
        return _train_on_data(args)
    finally:
        if joined:
            distributed.leave()


def _train_process(args) -> int:
    """One process of ``aqa train --nproc N``: errors are told once, by the first process."""
    from engine.errors import AqaError
    from engine.training import distributed

    try:
        return run_train(args)
    except AqaError as exc:
        if distributed.rank() == 0:
            print(f"aqa: {exc}", file=sys.stderr)
        return exc.exit_code


def _train_on_data(args) -> int:
    from contextlib import nullcontext

    from engine.training import distributed
    from engine.training.evaluate import format_table
    from engine.training.workflow import train_on_features

    overrides = {
        "epochs": args.epochs,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "patience": args.patience,
        "device": args.device,
        "amp": False if args.no_amp else None,
    }
    with progress_bar("train") if distributed.is_main() else nullcontext() as progress:
        outcome = train_on_features(
            args.data,
            args.model,
            args.preset,
            args.out,
            train_overrides=overrides,
            model_overrides={"llm_path": str(args.llm_path)} if args.llm_path else None,
            test_fraction=args.test_fraction,
            val_fraction=args.val_fraction,
            progress=progress,
        )
    if outcome is None:  # not the first process of data-parallel training
        return 0
    if args.json:
        print_json(
            {
                "model_dir": str(outcome.model_dir),
                "split": outcome.split,
                "best_epoch": outcome.result.best_epoch,
                "device": outcome.result.device,
                "train_samples_per_s": outcome.result.samples_per_s,
                "data_hash": outcome.data_hash,
                "test": outcome.report.to_json(),
            }
        )
        return 0
    r = outcome.result
    print(f"saved {outcome.model_dir}")
    print(
        f"train {outcome.split['train']}, validation {outcome.split['val']}, "
        f"test {outcome.split['test']} rows; best epoch {r.best_epoch}/{r.epochs_run} "
        f"on {r.device}{' (mixed precision)' if r.amp else ''}, {r.samples_per_s:.0f} samples/s"
    )
    print(format_table([outcome.report]))
    return 0


def run_evaluate(args) -> int:
    from engine.training.evaluate import format_table
    from engine.training.workflow import evaluate_checkpoint

    report = evaluate_checkpoint(args.model_dir, args.data, args.subsets, args.rows)
    if args.json:
        print_json(report.to_json())
    else:
        print(format_table([report]))
    return 0


def run_import(args) -> int:
    from engine.errors import InputError
    from engine.training import importers

    with progress_bar("import") as progress:
        if args.dataset == "fs1000":
            spec = importers.import_fs1000(
                args.features, args.target or "TES", args.out, progress=progress
            )
        else:
            if args.labels is None:
                raise InputError(f"Importing {args.dataset} needs --labels DIR.")
            if args.dataset == "rg":
                if not args.action:
                    raise InputError("Importing RG needs --action (Ball, Clubs, Hoop or Ribbon).")
                spec = importers.import_rg(
                    args.features,
                    args.labels,
                    args.action,
                    args.out,
                    target=args.target or "Total_Score",
                    progress=progress,
                )
            else:
                spec = importers.import_fisv(
                    args.features, args.labels, args.target or "TES", args.out, progress=progress
                )
    print(f"wrote {args.out}: {spec.name}, scores {spec.score_min:g}..{spec.score_max:g}")
    return 0


def run_bench_models(args) -> int:
    from engine.synthetic import BenchConfig, run_benchmark

    config = BenchConfig(seed=args.seed)
    config.data.seed = args.seed
    if args.epochs:
        config.epochs = args.epochs
    with progress_bar("bench") as progress:
        result = run_benchmark(config, progress=progress)
    if args.json:
        print_json(result.to_json())
        return 0
    print(result.table())
    print(f"best single modality on validation: {result.single_modality}")
    for name, seconds in result.timings.items():
        rate = result.throughput[name]
        print(f"{name}: trained in {seconds:.1f} s, {rate:.0f} training samples/s")
    return 0
