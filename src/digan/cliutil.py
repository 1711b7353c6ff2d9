"""Argument helpers shared by every `digan` subcommand (kept apart so subpackages need not import cli.py)."""

from __future__ import annotations

import argparse


class CliError(Exception):
    """Bad command-line input; the message is one line."""


def positive(kind):
    """An argparse type: a positive `kind` (int or float)."""
    return _at_least(kind, 0, "must be positive", strict=True)


def non_negative(kind):
    """An argparse type: a `kind` (int or float) >= 0."""
    return _at_least(kind, 0, "must be 0 or more", strict=False)


def _at_least(kind, bound, message: str, strict: bool):
    def check(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
        if value < bound or (strict and value == bound):
            raise argparse.ArgumentTypeError(f"{message}, got {text}")
        return value
    return check


def old_spelling(parser, *flags: str, dest: str, **kwargs) -> None:
    """A renamed option's former spelling, kept for one release: parsed into `dest`, left out of --help.

    The vocabulary and the old spellings are listed in docs/conventions.md.
    """
    parser.add_argument(*flags, dest=dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs)


def resolve_device(name: str) -> str:
    """'auto' -> cuda when PyTorch sees one, else cpu; a CUDA device that is not there is an error."""
    import torch
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CliError("--device cuda asked for, but PyTorch sees no CUDA device")
    return name
