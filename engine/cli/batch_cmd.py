"""``aqa batch extract|grade MANIFEST --out DIR``: many videos on Ray or a local process pool."""

import argparse
import sys
import time
from pathlib import Path

DEFAULT_TIMEOUT_S = 3600.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="extract or grade every video of a manifest (Ray or a pool)")
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    ex = kinds.add_parser("extract", help="extract the tracks of every video (cached)")
    ex.add_argument("--modalities", default="skeleton,flow,audio", help="as for `aqa extract`")
    ex.add_argument("--profile", choices=["fast", "full"], default="full", help="speed or detail")
    gr = kinds.add_parser("grade", help="grade every video with its item's model")
    gr.add_argument("--model", type=int, help="model id (default: each item's active model)")
    gr.add_argument("--modalities", help="comma-separated subset of the models' modalities")
    for q in (ex, gr):
        q.add_argument("manifest", type=Path, help="CSV or JSONL: video,protocol,item[,subject,"
                       "session,person,view]")  # fmt: skip
        q.add_argument("--out", type=Path, required=True, help="folder for results.jsonl")
        q.add_argument("--workers", type=int, help="tasks at once (default: every core)")
        q.add_argument(
            "--timeout",
            type=float,
            default=DEFAULT_TIMEOUT_S,
            help=f"seconds per video before its worker is stopped (default {DEFAULT_TIMEOUT_S:g})",
        )
        q.add_argument("--address", help="a Ray cluster: ray://HOST:PORT or HOST:PORT "
                       "(default: $RAY_ADDRESS, else Ray on this machine)")  # fmt: skip
        q.add_argument(
            "--runner", choices=["auto", "ray", "local"], default="auto",
            help="auto: Ray when installed, else a local process pool",
        )  # fmt: skip
        q.add_argument("--cache", type=Path, help="cache folder (may be on a shared filesystem)")
        q.add_argument("--task-memory", type=float, help="GB of memory Ray reserves per video")
        q.add_argument(
            "--store", action="store_true", help="also write the results into the database"
        )
        q.add_argument(
            "--device", choices=["auto", "cpu", "cuda"], default="auto", help="where work runs"
        )
        q.set_defaults(func=run_batch)


def run_batch(args: argparse.Namespace) -> int:
    from engine.batch import driver
    from engine.errors import InputError

    if args.workers is not None and args.workers < 1:
        raise InputError("--workers must be at least 1.")
    if args.timeout <= 0:
        raise InputError("--timeout must be a positive number of seconds.")
    config = None
    modalities = None
    if args.kind == "extract":
        from engine.extract.config import ExtractionConfig

        config = ExtractionConfig.parse(args.modalities, args.profile, args.device)
    elif args.modalities:
        modalities = [m.strip() for m in args.modalities.split(",") if m.strip()]
    batch = driver.prepare(
        args.kind,
        args.manifest,
        config=config,
        device=args.device,
        model_id=args.model if args.kind == "grade" else None,
        modalities=modalities,
        cache=args.cache,
        store=args.store,
    )
    memory = int(args.task_memory * 2**30) if args.task_memory else None
    runner = driver.make_runner(
        args.runner, args.workers, args.timeout, args.address, memory, args.device, note=_say
    )
    _say(f"{len(batch.rows)} videos on {runner.description}")
    started = time.monotonic()
    lines = driver.run(batch, runner, args.out, store=args.store, report=_report)
    failed = [line for line in lines if line["status"] != "ok"]
    seconds = time.monotonic() - started
    print(
        f"{len(lines)} videos: {len(lines) - len(failed)} ok, {len(failed)} failed in "
        f"{seconds:.1f} s ({len(lines) / seconds:.2f} videos/s); "
        f"results in {args.out / 'results.jsonl'}"
    )
    return 1 if failed else 0


def _say(text: str) -> None:
    print(f"aqa batch: {text}", file=sys.stderr, flush=True)


def _report(tally, line: dict) -> None:
    """One line per finished video: its status (and reason), then the batch's progress."""
    name = Path(line["video"]).name
    if line["status"] == "ok":
        what = f"ok ({line['reason']})" if line.get("reason") else "ok"
    else:
        what = f"FAILED: {line['reason']}"
    _say(f"[{tally.line()}] line {line['line']} {name}: {what}")
