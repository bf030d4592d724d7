# Every target creates or reuses a local .venv and installs what it needs itself:
# nothing but python3 and make has to be present beforehand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-cli

.PHONY: help install demo test lint typecheck pytest docs bench bench-quick fuzz clean

help:
	@echo "make demo         fetch a 50,000-invoice account from the embedded fake Cloudflare"
	@echo "make test         lint, type-check, tests with branch coverage, strict docs build"
	@echo "make docs         build the documentation (warnings are errors)"
	@echo "make bench        the full benchmark suite; make bench-quick: a short run"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[cli,test,docs,bench,postgres,otel]"
	@touch $(STAMP)

# The demo needs only the library and its `cli` extra: a much shorter install than `make test`.
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[cli]"
	@touch $(DEMO_STAMP)

install: $(STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/asyncinvoices demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy --strict asyncinvoices

# coverage runs pytest (rather than pytest-cov running inside it) because the package is also a
# pytest plugin: pytest imports it before any plugin could start measuring.
pytest: $(STAMP)
	$(BIN)/coverage run -m pytest -W error
	$(BIN)/coverage report --fail-under=90

docs: $(STAMP)
	$(BIN)/sphinx-build -n -W --keep-going -b html docs docs/_build/html
	$(BIN)/sphinx-build -n -W --keep-going -b doctest docs docs/_build/doctest

test: lint typecheck pytest docs

bench: $(STAMP)
	$(BIN)/python -m benchmarks

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks --quick

fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz_protocol

clean:
	rm -rf $(VENV) docs/_build .coverage .mypy_cache .ruff_cache
