# The two commands a newcomer needs: `make demo` and `make test`. Both set everything up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test test-fast setup lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

demo: setup  ## a release of the sample plugin on a throwaway git copy, with a local-folder update server
	PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/demo.sh

test: setup  ## every test, slow ones included (what CI runs)
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check shared $(wildcard versioning changelog packaging distribution rollback validation) tests bench
	$(BIN)/mypy shared/releng $(wildcard versioning/*.py changelog/*.py packaging/*.py distribution/*.py rollback/*.py validation/*.py)

bench: setup  ## side-by-side benchmarks against peer tools (never part of the test suite; see bench/README.md)
	for b in semver bump lint_commit changelog metrics package publish rollback; do $(BIN)/python bench/bench_$$b.py || exit 1; done

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache bench/.cache
