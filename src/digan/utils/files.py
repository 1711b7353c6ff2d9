"""Facts about files that several parts of the library record and read: their SHA-256, JSON written and read strictly, and
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


def finite_or_null(value: Any) -> Any:
    """`value` with every float that is NaN or infinite (a metric that could not be computed) replaced by None,
    through dicts, lists and tuples: what strict JSON can hold."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(v) for v in value]
    return value


def json_line(value: Any) -> str:
    """One line of strict JSON (no newline): NaN and infinities as null, never the bare NaN or Infinity that
    `parse_json` and other strict readers refuse."""
    return json.dumps(finite_or_null(value), allow_nan=False)


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
