"""The `digan` command: one parser, one module per group of subcommands, one way to report an error.

Bad input ends with one line on stderr and a non-zero exit, never a traceback.
The library names its parameters in backticks; the line names the flags. So do
an output the rule for outputs refuses, a folder another process holds, and a
full disk (exit code 2). Ctrl-C and SIGTERM end every command the same way: the
temporaries removed, one line, exit code 130 or 143 (`digan.utils.signals`).
"""

from __future__ import annotations

import argparse
import sys

from ..authors import AuthorsSnapshotError
from ..checkpoint import CheckpointError
from ..data.base import DataError
from ..utils.atomic import OutputError
from ..utils.lock import LockError
from ..utils.memory import MemoryLimit
from ..utils.runtime import set_threads
from ..utils.signals import Terminated, exit_code, sigterm_as_interrupt
from ..version import __version__
from . import apps, convert, data, invert, metrics, render, show, train
from .common import CliError, flag_names

GROUPS = (train, render, invert, apps, data, metrics, show, convert)  # the order of `digan --help`


class Parser(argparse.ArgumentParser):
    """Usage errors on one line, like every other error of the command; no abbreviated options (a prefix of a
    new option must not pass for an old one)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{"allow_abbrev": False, **kwargs})

    def error(self, message: str):
        self.exit(2, f"digan: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="digan", description="DIGAN: dynamics-aware implicit video GANs.")
    parser.add_argument("--version", action="version", version=f"digan {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "threads", None):
        set_threads(args.threads)  # once, before the command runs
    try:
        with sigterm_as_interrupt():
            return args.func(args)
    except (CliError, DataError, CheckpointError, MemoryLimit, AuthorsSnapshotError, OutputError, LockError) as e:
        print(f"digan: error: {flag_names(str(e), getattr(args, 'flags', None))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (Terminated)
        print(f"digan: {'terminated' if isinstance(e, Terminated) else 'interrupted'}", file=sys.stderr)
        return exit_code(e)


if __name__ == "__main__":
    sys.exit(main())
