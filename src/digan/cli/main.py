"""The `digan` command: one parser, one module per group of subcommands, one way to report an error.

Bad input ends with one line on stderr and a non-zero exit, never a traceback.
The library names its parameters in backticks; the line names the flags.
"""

from __future__ import annotations

import argparse
import sys

from ..authors import AuthorsSnapshotError
from ..checkpoint import CheckpointError
from ..data.base import DataError
from ..utils.memory import MemoryLimit
from ..utils.omp import available_cores
from ..utils.runtime import set_threads
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
        cores = available_cores()
        if args.threads > cores:  # more threads never run faster; a huge number fails in OpenMP
            print(f"digan: --threads {args.threads}: this process may use {cores} core{'s' if cores > 1 else ''}; "
                  f"using {cores}", file=sys.stderr)
        set_threads(args.threads)  # once, before the command runs
    try:
        return args.func(args)
    except (CliError, DataError, CheckpointError, MemoryLimit, AuthorsSnapshotError) as e:
        print(f"digan: error: {flag_names(str(e), getattr(args, 'flags', None))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("digan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
