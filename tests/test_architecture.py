"""The layers of src/digan import only downwards (docs/architecture.md): checked from the source text alone."""

import ast
import shutil
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "digan"

# layer -> the layers it may import (itself always). `version` is importable by every layer.
CORE = {
    "models",
    "config",
    "timebase",
    "checkpoint",
    "data",
    "metrics",
    "sampling",
    "invert",
    "training",
    "utils",
    "authors",
}
ALLOWED = {
    "version": set(),
    "utils": set(),
    "models": set(),
    "timebase": set(),
    "config": {"models"},
    "data": {"utils", "timebase"},
    "checkpoint": {"models", "config", "timebase", "utils"},
    "metrics": {"data", "utils", "timebase"},
    "sampling": {"models", "config", "timebase", "checkpoint", "data", "utils"},
    "invert": {"sampling", "models", "config", "timebase", "checkpoint", "data", "utils"},
    "training": {"sampling", "metrics", "authors", "models", "config", "timebase", "checkpoint", "data", "utils"},
    "authors": {"models", "config", "checkpoint", "utils"},
    "apps": CORE,
    "cli": CORE | {"apps"},
    "__main__": {"cli", "utils"},
    "__init__": set(),  # the public API is imported lazily (PEP 562), by name
}
# Imported inside functions on purpose: packages a user may not have installed.
OPTIONAL = ("matplotlib", "onnx", "onnxscript", "onnxruntime", "torch.utils.tensorboard", "huggingface_hub")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def imported_modules(tree: ast.Module, module: str, is_package: bool):
    """(imported module, line, whether at module level) of every import statement, relative ones resolved."""
    package = module if is_package else module.rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, id(node) in top_level
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{a.name}" for a in node.names] if node.module is None else [target]
            for name in names:
                yield name, node.lineno, id(node) in top_level


def violations(root: Path) -> list[str]:
    """Every import of the package at `root` that breaks a rule, one line each."""
    found, graph = [], {}
    files = sorted(root.rglob("*.py"))
    modules = {module_name(p, root) for p in files}
    for path in files:
        module = module_name(path, root)
        tree = ast.parse(path.read_text(), str(path))
        where = path.relative_to(root.parent)
        graph[module] = set()
        for target, line, at_top in imported_modules(tree, module, path.name == "__init__.py"):
            if not at_top and not target.startswith(OPTIONAL) and target != "__future__":
                found.append(f"{where}:{line}: imports {target} inside a function (only optional packages may)")
            if target != "digan" and not target.startswith("digan."):
                continue
            while target not in modules and "." in target:  # `from .pkg import name`: the module is pkg
                target = target.rpartition(".")[0]
            graph[module].add(target)
            mine, theirs = layer_of(module), layer_of(target)
            if theirs != mine and theirs != "version" and theirs not in ALLOWED.get(mine, set()):
                found.append(f"{where}:{line}: {mine} may not import {theirs} ({target})")
    found += [f"import circle: {' -> '.join(c)}" for c in circles(graph)]
    return found


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import circles between modules (a package's __init__ importing its own modules is not one)."""
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if nxt.startswith(node + "."):  # a package importing its submodules
                continue
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_the_package_imports_only_downwards_without_circles_or_function_level_imports():
    assert violations(SRC) == []


def test_the_check_fails_on_a_wrong_import(tmp_path):
    tree = tmp_path / "digan"
    shutil.copytree(SRC, tree)
    (tree / "models" / "bad.py").write_text("from ..training import Trainer\n")  # upwards
    (tree / "metrics" / "worse.py").write_text("def f():\n    from ..sampling import render_video\n")
    (tree / "utils" / "loop_a.py").write_text("from . import loop_b\n")
    (tree / "utils" / "loop_b.py").write_text("from . import loop_a\n")
    (tree / "apps" / "tool.py").write_text("from ..cli.main import main\n")  # nothing imports cli
    found = violations(tree)
    assert any("models/bad.py:1: models may not import training" in v for v in found)
    assert any("metrics/worse.py:2: imports digan.sampling inside a function" in v for v in found)
    assert any("metrics/worse.py:2: metrics may not import sampling" in v for v in found)
    assert any(
        v.startswith("import circle: digan.utils.loop_a -> digan.utils.loop_b -> digan.utils.loop_a") for v in found
    )
    assert any("apps/tool.py:1: apps may not import cli" in v for v in found)
    assert len(found) == 5, found
