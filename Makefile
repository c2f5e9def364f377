# Two commands: `make demo` and `make test`. Both create .venv and install on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format bench mutation clean

$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt --config-settings editable_mode=compat -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/psface demo --overwrite

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

# Mutation testing (not part of `make test`; minutes to an hour): the modules and tests
# are [tool.mutmut] in pyproject.toml. Results stay in mutants/ (`mutmut results`,
# `mutmut show NAME`); a second run retests only what changed. One module:
# make mutation MUTANTS='gallery.metrics.*'
# mutmut forks a test run per mutant from a process that has already run them once: a
# numba, OpenMP or torch thread pool started there deadlocks or aborts in the fork (the
# mutants came back as timeouts and "suspicious"), so every pool is held to one thread
# and numba to its fork-safe workqueue layer.
MUTANTS ?=
MUTATION_ENV = OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 \
	NUMBA_THREADING_LAYER=workqueue
mutation: $(STAMP)
	$(MUTATION_ENV) $(BIN)/mutmut run --max-children 2 $(MUTANTS)
	$(BIN)/mutmut results

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
