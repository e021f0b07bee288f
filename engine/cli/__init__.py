"""The ``aqa`` command line.

Each module in ``COMMAND_MODULES`` has ``register(subparsers)`` adding its sub-commands; a handler
takes the parsed arguments and returns an exit code. Heavy imports (torch, cv2) stay inside the
handlers so that ``aqa --help`` is instant.
"""

import argparse
import importlib
import logging
import os
import sqlite3
import sys

from engine.errors import AqaError, Cancelled, InputError
from engine.store.users import forget_login, use_login

COMMAND_MODULES = [
    "engine.cli.demo_cmd",
    "engine.cli.protocols_cmd",
    "engine.cli.store_cmd",
    "engine.cli.user_cmd",
    "engine.cli.sign_cmd",
    "engine.cli.probe_cmd",
    "engine.cli.report_cmd",
    "engine.cli.extract_cmd",
    "engine.cli.measure_cmd",
    "engine.cli.train_cmd",
    "engine.cli.grade_cmd",
    "engine.cli.models_cmd",
    "engine.cli.tracks_cmd",
    "engine.cli.people_cmd",
    "engine.cli.batch_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aqa", description="AQA Studio: multimodal action quality assessment."
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log details to stderr, third-party libraries' messages included",
    )
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    parser.add_argument(
        "--user", help="act as this user (default: $AQA_USER); the password is asked once"
    )
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin (for scripts; or set AQA_PASSWORD)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


class _Version(argparse.Action):
    """``--version``: the installed package's version, read only when asked (importlib.metadata
    costs every command's start otherwise)."""

    def __init__(self, option_strings, dest, help=None) -> None:
        super().__init__(option_strings, dest, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("aqa-studio")
        except PackageNotFoundError:  # run from a source tree that was never installed
            found = "(not installed)"
        print(f"{parser.prog} {found}")
        parser.exit()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        login(args)
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
    except sqlite3.Error as exc:
        from engine.paths import database_path
        from engine.store.db import fault

        error = fault(exc, database_path())
        print(f"aqa: {error}", file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:
        return closed_pipe()
    finally:
        forget_login()  # the login lasts one command


def login(args) -> None:
    """Name who works in this process (``--user`` or ``AQA_USER``); the password comes from
    ``--password-stdin``, ``AQA_PASSWORD`` or a prompt, asked once when a store opens."""
    name = args.user or os.environ.get("AQA_USER")
    if not name:
        forget_login()
        return
    use_login(name, lambda: read_password(args.password_stdin, f"password for {name}: "))


def read_password(from_stdin: bool, prompt: str) -> str:
    """The password from stdin's first line, ``AQA_PASSWORD`` (for scripts and tests) or a
    prompt without echo."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if "AQA_PASSWORD" in os.environ:
        return os.environ["AQA_PASSWORD"]
    import getpass

    try:
        return getpass.getpass(prompt)
    except EOFError:
        raise InputError("No password was given (no terminal to ask on).") from None


def closed_pipe() -> int:
    """The reader of our output went away (``aqa session show 1 | head``): stop quietly.

    Later writes (and the interpreter's final flush) go to /dev/null instead of raising again.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141  # 128 + SIGPIPE, as a shell reports a program ended by a closed pipe


if __name__ == "__main__":
    sys.exit(main())
