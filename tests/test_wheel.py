"""The package proves itself: it builds as an sdist and a wheel, and the wheel installs into a fresh virtual
environment and runs `digan` there, away from this checkout.

CI builds both with `python -m build` (an isolated build, as a release does) and names the folder in
$DIGAN_DIST; without it the test builds them itself from a copy of the sources, with the setuptools installed
here (`--no-isolation`: nothing is downloaded). The fresh environment sees this one's packages (torch, numpy,
...) through a .pth file, so that nothing large is installed; the wheel goes in with --no-deps.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from digan.version import __version__

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "CHANGELOG.md", "LICENSE", "MANIFEST.in", "src")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    given = os.environ.get("DIGAN_DIST")
    if given:
        return ROOT / given  # relative to the repository root, as .ci/run gives it (an absolute path stays one)
    pytest.importorskip("build")
    tree = tmp_path_factory.mktemp("tree")
    for name in SOURCES:  # a copy: building writes egg-info and build/ beside the sources
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, tree / name)
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(tree)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def test_the_sdist_and_the_wheel_hold_every_module(dist):
    modules = sorted(p.relative_to(ROOT / "src").as_posix() for p in (ROOT / "src" / "digan").rglob("*.py"))
    with zipfile.ZipFile(dist / f"digan-{__version__}-py3-none-any.whl") as wheel:
        names = wheel.namelist()
        entry_points = wheel.read(f"digan-{__version__}.dist-info/entry_points.txt").decode()
        licence = wheel.read(f"digan-{__version__}.dist-info/licenses/LICENSE").decode()
        metadata = wheel.read(f"digan-{__version__}.dist-info/METADATA").decode()
    assert licence.startswith("MIT License") and "License-Expression: MIT" in metadata
    assert sorted(n for n in names if n.endswith(".py")) == modules
    assert "digan = digan.__main__:main" in entry_points
    with tarfile.open(dist / f"digan-{__version__}.tar.gz") as sdist:
        files = {Path(*Path(n).parts[1:]).as_posix() for n in sdist.getnames()}
    assert {f"src/{m}" for m in modules} <= files
    assert {"pyproject.toml", "README.md", "CHANGELOG.md", "LICENSE", "PKG-INFO"} <= files
    assert not any(f.startswith("tests/") for f in files)


def test_the_wheel_installs_into_a_fresh_environment_and_runs(dist, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # this environment's site-packages behind the new one's: its torch, numpy and pip, not its digan (an
    # editable install's hook is a .pth file there, which a path added this way does not run)
    (site / "this-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = dist / f"digan-{__version__}-py3-none-any.whl"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")} | {"OMP_NUM_THREADS": "1"}
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--ignore-installed",
            "--quiet",
            "--disable-pip-version-check",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr[-3000:]

    def digan(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(venv / "bin" / "digan"), *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
        )

    version = digan("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"digan {__version__}", version.stderr
    usage = digan("train", "--help")
    assert usage.returncode == 0 and "--kimg" in usage.stdout and "--data" in usage.stdout, usage.stderr[-3000:]
    where = subprocess.run(
        [str(python), "-c", "import digan.cli.main, digan; print(digan.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert Path(where.stdout.strip()).is_relative_to(site), where  # the wheel's digan, not this checkout's
