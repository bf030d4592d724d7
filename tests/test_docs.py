"""The documentation covers what the library offers: every public name, fault, code and page."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
from pathlib import Path

import pytest

import asyncinvoices
import asyncinvoices._wire.protocol as protocol
import asyncinvoices.testing
from asyncinvoices.testing import Fault

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _toctree_entries() -> list[str]:
    index = _page("index.md")
    entries: list[str] = []
    for block in re.findall(r"```\{toctree\}\n(.*?)```", index, re.DOTALL):
        entries += [line.strip() for line in block.splitlines() if line.strip() and ":" not in line]
    return entries


@pytest.mark.parametrize("name", sorted(asyncinvoices.__all__))
def test_reference_documents_public_name(name: str) -> None:
    """Every name in asyncinvoices.__all__ has an entry in the reference."""
    assert re.search(rf"\.\. (auto)?\w+:: {re.escape(name)}\b", _page("reference.md"))


@pytest.mark.parametrize("name", sorted(asyncinvoices.testing.__all__))
def test_testing_reference_documents_public_name(name: str) -> None:
    """Every name in asyncinvoices.testing.__all__ has an autodoc entry on the testing page."""
    assert re.search(rf"\.\. auto\w+:: {re.escape(name)}\b", _page("testing.md"))


def test_every_fault_constructor_is_in_the_table() -> None:
    """The faults table lists every Fault constructor."""
    constructors = [
        name
        for name, member in inspect.getmembers(Fault)
        if not name.startswith("_") and inspect.ismethod(member) and member.__self__ is Fault
    ]
    page = _page("testing.md")

    assert [name for name in constructors if f"`Fault.{name}(" not in page] == []


def test_every_cloudflare_code_the_client_classifies_is_documented() -> None:
    """The exceptions table names every Cloudflare code that picks an exception."""
    codes = protocol._AUTH_CODES | protocol._NOT_FOUND_CODES | protocol._RATE_LIMIT_CODES
    page = _page("reference.md")

    assert sorted(code for code in codes if not re.search(rf"\b{code}\b", page)) == []


def test_every_exit_code_is_documented() -> None:
    """The CLI page's table has a row for each exit code of the program."""
    exit_code = pytest.importorskip("asyncinvoices._cli").ExitCode
    page = _page("cli.md")

    assert [code.value for code in exit_code if f"\n| {code.value} |" not in page] == []


def test_every_toctree_entry_exists() -> None:
    """Each page the index lists is a file, and every page is listed."""
    entries = _toctree_entries()
    pages = {
        str(path.relative_to(DOCS).with_suffix(""))
        for path in DOCS.rglob("*.md")
        if "_build" not in path.parts and path.name != "index.md"
    }

    assert [entry for entry in entries if not (DOCS / f"{entry}.md").is_file()] == []
    assert sorted(pages) == sorted(entries)


def test_pages_name_no_local_paths() -> None:
    """No page quotes a path of the machine it was written on."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in DOCS.rglob("*.md"))

    assert not re.search(r"/(home|Users|work|tmp)/\w", text)


def test_cli_page_holds_the_current_help_of_every_command() -> None:
    """docs/cli.md carries each command's --help as the program prints it today."""
    from asyncinvoices._cli import _docgen

    page = _page("cli.md")
    commands = re.findall(r"^<!-- cli-help:([^>\n]*)-->$", page, re.MULTILINE)

    assert sorted(c.strip() for c in commands) == sorted(
        ["", "fetch", "summary", "accounts", "sync", "demo", "fake-server"]
    )
    assert _docgen.update(page) == page, (
        f"docs/cli.md is out of date with the program's --help: run `make cli-docs` "
        f"(or `{_docgen.COMMAND}`) and commit docs/cli.md"
    )


def test_cli_help_generator_fills_and_refreshes_blocks(tmp_path: Path) -> None:
    """A bare marker gets its block; a stale block is replaced; --check says which command
    to run and changes nothing."""
    from asyncinvoices._cli import _docgen

    fresh = _docgen.render_help(["demo"])
    page = tmp_path / "cli.md"
    page.write_text(
        "# CLI\n\n<!-- cli-help: demo -->\n\ntext\n\n<!-- cli-help: demo -->\n```text\nold\n```\n"
        "<!-- /cli-help -->\nafter\n",
        encoding="utf-8",
    )
    block = f"<!-- cli-help: demo -->\n```text\n$ asyncinvoices demo --help\n{fresh}\n```\n"
    expected = f"# CLI\n\n{block}<!-- /cli-help -->\n\ntext\n\n{block}<!-- /cli-help -->\nafter\n"

    stale = page.read_text(encoding="utf-8")
    assert _docgen.main(["--check", str(page)]) == 1
    assert page.read_text(encoding="utf-8") == stale
    assert _docgen.main([str(page)]) == 0
    assert page.read_text(encoding="utf-8") == expected
    assert _docgen.main(["--check", str(page)]) == 0
    assert fresh.startswith("usage: asyncinvoices demo [-h]")
    assert max(len(line) for line in fresh.splitlines()) <= _docgen.HELP_COLUMNS


MAKEFILE_DIR = DOCS.parent


def _make(*argv: str) -> str:
    """Run make in the repository with ``argv`` and return its standard output."""
    done = subprocess.run(
        ["make", "--no-print-directory", *argv],
        cwd=MAKEFILE_DIR,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "MAKEFLAGS": ""},
    )
    return done.stdout


def test_make_test_ends_with_a_plain_line_of_what_passed(tmp_path: Path) -> None:
    """The last line says what passed, with the doctest count from the builder's report."""
    report = tmp_path / "output.txt"
    report.write_text(
        "Doctest summary\n===============\n   44 tests\n    0 failures in tests\n"
        "    0 failures in setup code\n    0 failures in cleanup code\n",
        encoding="utf-8",
    )

    assert _make("-s", "test-summary", f"DOCTEST_REPORT={report}") == (
        "make test passed: ruff check and format, the import contracts, mypy --strict, the tests "
        "with branch coverage (above), the documentation built with warnings as errors, and its 44 "
        "doctests\n"
    )


def test_make_test_keeps_configuration_dumps_out() -> None:
    """pytest without its header, Sphinx quiet (warnings, errors and failed doctests only),
    the coverage table only below the bar; the summary last."""
    commands = [line.strip() for line in _make("-n", "test").splitlines()]
    # The install step shows only when pyproject.toml is newer than the last install.
    steps = [c for c in commands if c.startswith((".venv/bin/", "make ")) and " -m pip " not in c]

    assert steps == [
        ".venv/bin/ruff check .",
        ".venv/bin/ruff format --check .",
        ".venv/bin/lint-imports --no-cache --no-logo",
        ".venv/bin/mypy --strict asyncinvoices",
        ".venv/bin/coverage run -m pytest -W error -q",
        ".venv/bin/sphinx-build -q -n -W --keep-going -b html docs docs/_build/html",
        ".venv/bin/sphinx-build -q -n -W --keep-going -b doctest docs docs/_build/doctest",
        "make --no-print-directory -s test-summary",
    ]
    assert "total=$(.venv/bin/coverage report --fail-under=90 --format=total) \\" in commands
