"""The ``aqa`` command line.

Each module in ``COMMAND_MODULES`` has ``register(subparsers)`` adding its sub-commands; a handler
takes the parsed arguments and returns an exit code. Heavy imports (torch, cv2) stay inside the
handlers so that ``aqa --help`` is instant.
"""

import argparse
import importlib
import logging
import sys

from engine.errors import AqaError, Cancelled

COMMAND_MODULES = [
    "engine.cli.demo_cmd",
    "engine.cli.protocols_cmd",
    "engine.cli.store_cmd",
    "engine.cli.probe_cmd",
    "engine.cli.report_cmd",
    "engine.cli.extract_cmd",
    "engine.cli.measure_cmd",
    "engine.cli.train_cmd",
    "engine.cli.grade_cmd",
    "engine.cli.models_cmd",
    "engine.cli.tracks_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aqa", description="AQA Studio: multimodal action quality assessment."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except Cancelled as exc:
        print(f"aqa: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("aqa: cancelled.", file=sys.stderr)
        return Cancelled.exit_code
    except AqaError as exc:
        print(f"aqa: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
