"""The `digan` command: one parser, one module per group of subcommands, one way to report an error.

Bad input ends with one line on stderr and a non-zero exit, never a traceback.
The library names its parameters in backticks; the line names the flags. So do
an output the rule for outputs refuses, a folder another process holds, and a
full disk.

Exit status: 0 done; 2 bad input (options, files, memory, an output path refused, a folder in use, a full disk);
3 a training or a fit diverged (a loss or a weight became NaN or infinite: it stopped, and nothing of it past the
last good snapshot was saved); 130 Ctrl-C and 143 SIGTERM, which end every command the same way: the temporaries
removed, one line (`digan.utils.signals`).
"""

from __future__ import annotations

import argparse
import sys

from ..authors import AuthorsSnapshotError
from ..checkpoint import CheckpointError
from ..data.base import DataError
from ..invert import FitDiverged
from ..training.loop import TrainingDiverged
from ..utils.atomic import OutputError
from ..utils.lock import LockError
from ..utils.memory import MemoryLimit
from ..utils.omp import available_cores
from ..utils.runtime import set_threads
from ..utils.signals import Terminated, exit_code, sigterm_as_interrupt
from ..version import __version__
from . import apps, convert, data, invert, metrics, render, share, show, train
from .common import CliError, flag_names

GROUPS = (train, render, invert, apps, data, metrics, show, share, convert)  # the order of `digan --help`
EXIT_DIVERGED = 3  # apart from bad input (2): the options were valid, the arithmetic was not


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
            print(
                f"digan: --threads {args.threads}: this process may use {cores} core{'s' if cores > 1 else ''}; "
                f"using {cores}",
                file=sys.stderr,
            )
        set_threads(args.threads)  # once, before the command runs
    try:
        with sigterm_as_interrupt():
            return args.func(args)
    except (CliError, DataError, CheckpointError, MemoryLimit, AuthorsSnapshotError, OutputError, LockError) as e:
        print(f"digan: error: {flag_names(str(e), getattr(args, 'flags', None))}", file=sys.stderr)
        return 2
    except (TrainingDiverged, FitDiverged) as e:
        if getattr(e, "info", None) is None or e.info.main:  # process 0 of several speaks for all
            print(f"digan: error: {flag_names(str(e), getattr(args, 'flags', None))}", file=sys.stderr)
        return EXIT_DIVERGED
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (Terminated)
        print(f"digan: {'terminated' if isinstance(e, Terminated) else 'interrupted'}", file=sys.stderr)
        return exit_code(e)


if __name__ == "__main__":
    sys.exit(main())
