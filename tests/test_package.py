"""The package's import graph: the public API loads lazily, so one part never drags in the others."""

import os
import subprocess
import sys

import digan


def modules_loaded_by(statement: str, candidates: list[str]) -> list[str]:
    """Which of `candidates` a fresh interpreter has in sys.modules after `statement`."""
    code = f"import sys; {statement}; print(','.join(m for m in {candidates!r} if m in sys.modules))"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return [m for m in result.stdout.strip().split(",") if m]


def test_metrics_do_not_import_the_training_loop_or_the_sampler():
    heavy = [
        "digan.training.loop",
        "digan.sampling.render",
        "digan.sampling.files",
        "digan.training.losses",
        "digan.models",
    ]
    assert modules_loaded_by("import digan.metrics", heavy) == []
    # the check can fail: the public API does load them
    assert {"digan.training.loop", "digan.training.losses"} <= set(
        modules_loaded_by("from digan import Trainer", heavy)
    )


def test_public_names_resolve_lazily_to_their_modules():
    from digan import version
    from digan.training import loop as training

    assert digan.__version__ == version.__version__
    assert digan.Trainer is training.Trainer
    assert set(digan.__all__) <= set(dir(digan))
    for name in digan.__all__:
        assert getattr(digan, name) is not None


def test_packaging_metadata_uses_the_current_license_form_and_the_readme_says_how_to_run_digan():
    from pathlib import Path

    import pytest

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"  # an SPDX string: a TOML table is deprecated by setuptools
    assert any(r.startswith("setuptools>=77") for r in project["build-system"]["requires"])
    readme = (root / "README.md").read_text()
    assert "source .venv/bin/activate" in readme and ".venv/bin/digan" in readme
