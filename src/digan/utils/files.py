"""Facts about files that several parts of the library record and read: their SHA-256, JSON read strictly, and
the folders a job makes (`missing_folders`) and removes again when it leaves them empty (`remove_empty`)."""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks (snapshots and detector weights are large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str) -> Any:
    """JSON as the library writes it; ValueError (one line) for anything else: bad syntax, NaN or Infinity,
    numbers past float range, or nesting deeper than Python's parser recurses (a crafted file)."""
    try:
        return json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def read_json(path: str | os.PathLike) -> Any:
    """`parse_json` of a file's text (OSError when it cannot be read, ValueError when it is not such JSON)."""
    with open(path, encoding="utf-8") as f:
        return parse_json(f.read())


def missing_folders(path: str | os.PathLike) -> list[Path]:
    """`path` and the folders above it that do not exist yet, innermost first: what a `mkdir -p` would make."""
    path = Path(path)
    return [f for f in (path, *path.parents) if not f.exists()]


def remove_empty(folders: list[Path]) -> None:
    """Remove `folders` (innermost first, as `missing_folders` lists them) while each is empty: what a job
    made and left unused goes, and nothing it or anyone else wrote."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (so neither are the ones above it), or gone
            break
