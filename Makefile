# Every target creates or reuses a local .venv and installs what it needs itself:
# nothing but python3 and make has to be present beforehand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-cli

.PHONY: help install demo test test-summary lint typecheck pytest docs cli-docs bench bench-quick \
	fuzz clean

help:
	@echo "make demo         fetch a 50,000-invoice account from the embedded fake Cloudflare"
	@echo "make test         lint, type-check, tests with branch coverage, strict docs build"
	@echo "make docs         build the documentation (warnings are errors)"
	@echo "make cli-docs     regenerate the --help texts that docs/cli.md holds"
	@echo "make bench        the full benchmark suite; make bench-quick: a short run"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[cli,dlt,otel,test,docs,bench,postgres,redis]"
	@touch $(STAMP)

# The demo needs only the library and its `cli` extra: a much shorter install than `make test`.
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[cli]"
	@touch $(DEMO_STAMP)

install: $(STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/asyncinvoices demo

# lint-imports holds the package to the contracts in pyproject.toml: the layers, the command
# line on the public API only, the fake apart from the client, no I/O in the wire layer, and
# no import cycles.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache --no-logo

typecheck: $(STAMP)
	$(BIN)/mypy --strict asyncinvoices

# coverage runs pytest (rather than pytest-cov running inside it) because the package is also a
# pytest plugin: pytest imports it before any plugin could start measuring.
# -q: no header of platform, plugins and configuration, the summary line at the end. The
# coverage table is printed only when the total is below the bar.
pytest: $(STAMP)
	$(BIN)/coverage run -m pytest -W error -q
	@total=$$($(BIN)/coverage report --fail-under=90 --format=total) \
		|| { $(BIN)/coverage report --skip-covered; exit 1; }; \
		echo "branch coverage $$total% (at least 90%)"

# -q: warnings, errors and failed doctests only, not Sphinx's account of its own progress.
docs: $(STAMP)
	$(BIN)/sphinx-build -q -n -W --keep-going -b html docs docs/_build/html
	$(BIN)/sphinx-build -q -n -W --keep-going -b doctest docs docs/_build/doctest

# docs/cli.md holds every command's --help, generated: run this after changing an option.
cli-docs: $(STAMP)
	$(BIN)/python -m asyncinvoices._cli._docgen

test: lint typecheck pytest docs
	@$(MAKE) --no-print-directory -s test-summary

# The last line of `make test`: what passed, in words (the doctest count from the builder's
# report, which -q keeps off the terminal).
DOCTEST_REPORT ?= docs/_build/doctest/output.txt
test-summary:
	@echo "make test passed: ruff check and format, the import contracts, mypy --strict, the tests with branch" \
		"coverage (above), the documentation built with warnings as errors, and its" \
		"$$(sed -n 's/^ *\([0-9][0-9]*\) tests*$$/\1/p' $(DOCTEST_REPORT)) doctests"

bench: $(STAMP)
	$(BIN)/python -m benchmarks

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks --quick

fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz_protocol

clean:
	rm -rf $(VENV) docs/_build .coverage .mypy_cache .ruff_cache
