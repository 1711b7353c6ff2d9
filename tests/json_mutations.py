"""Mutations of a JSON file as a hostile user crafts them: every field replaced by values of the wrong type
or absurd size, removed, or nested past the parser's depth (tests of the files the library reads)."""

import json

DEEP = "[" * 100_000 + "]" * 100_000  # deeper than Python's JSON parser recurses
VALUES = {
    "string": "x",
    "int": 5,
    "negative": -1,
    "huge": 1e300,
    "past int64": 2**70,
    "bool": True,
    "null": None,
    "list": [],
    "object": {},
    "NaN": float("nan"),
    "deep": DEEP,
}


def field_paths(obj, prefix=()):
    """Every path into nested objects (lists are leaves), the whole document first."""
    yield prefix
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from field_paths(value, prefix + (key,))


def mutated(document: dict, path: tuple, value) -> str:
    """The JSON text of `document` with the field at `path` set to `value` (KeyError: removed)."""
    doc = json.loads(json.dumps(document))
    if not path:
        doc = value
    else:
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if value is KeyError:
            del parent[path[-1]]
        else:
            parent[path[-1]] = "@@DEEP@@" if value is DEEP else value
    return json.dumps(doc).replace('"@@DEEP@@"', DEEP)


def mutations(document: dict):
    """(name, JSON text) for every field path of `document` and every value, and every field removed."""
    for path in field_paths(document):
        name = ".".join(path) or "(whole)"
        for kind, value in VALUES.items():
            yield f"{name}={kind}", mutated(document, path, value)
        if path:
            yield f"{name} removed", mutated(document, path, KeyError)
