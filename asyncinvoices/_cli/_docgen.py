"""Keep the ``--help`` text of every command in ``docs/cli.md`` itself, generated.

A page read as a file (on a code host, in an editor) shows the option reference as it is,
not a placeholder only the built site expands. Each block sits between two markers::

    <!-- cli-help: fetch -->
    ```text
    $ asyncinvoices fetch --help
    usage: asyncinvoices fetch ...
    ```
    <!-- /cli-help -->

``python -m asyncinvoices._cli._docgen`` (``make cli-docs``) rewrites every block from the
program; a marker without its block yet (``<!-- cli-help: sync -->`` alone on its line)
gets one. ``--check`` rewrites nothing and exits 1 if the page is out of date, which is
what the test suite asks. The width is fixed, so the text does not depend on the terminal
that generated it.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

__all__ = ["COMMAND", "HELP_COLUMNS", "PAGE", "main", "render_help", "update"]

#: The command that regenerates the page, for messages.
COMMAND: Final = "python -m asyncinvoices._cli._docgen"
#: The width argparse wraps the help to, whatever the terminal.
HELP_COLUMNS: Final = 90
#: The page, from the repository's root.
PAGE: Final = Path("docs") / "cli.md"

_END = "<!-- /cli-help -->"
# A start marker, then either its generated block up to the end marker, or nothing yet.
_BLOCK = re.compile(
    r"^<!-- cli-help:(?P<argv>[^>\n]*)-->\n(?:(?:(?!<!-- cli-help:).)*?^"
    + re.escape(_END)
    + r"\n)?",
    re.MULTILINE | re.DOTALL,
)


@contextlib.contextmanager
def _columns(columns: int) -> Iterator[None]:
    """argparse wraps to ``$COLUMNS`` (through shutil): fix it for the block."""
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(columns)
    try:
        yield
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


def render_help(argv: Sequence[str]) -> str:
    """Return the output of ``asyncinvoices ARGV --help`` at :data:`HELP_COLUMNS` columns.

    Args:
        argv: The command, e.g. ``["fetch"]``; empty for the main help.

    Raises:
        RuntimeError: If the program does not exit 0.
    """
    from ._app import run

    out, err = io.StringIO(), io.StringIO()
    with _columns(HELP_COLUMNS):
        code = run([*argv, "--help"], stdout=out, stderr=err, environ={})
    if code != 0:
        raise RuntimeError(f"asyncinvoices {' '.join(argv)} --help exited with {code}")
    return out.getvalue().rstrip()


def update(text: str) -> str:
    """Return the page ``text`` with every help block generated afresh."""

    def block(match: re.Match[str]) -> str:
        argv = match.group("argv").split()
        shown = " ".join(["asyncinvoices", *argv, "--help"])
        return (
            f"<!-- cli-help:{match.group('argv')}-->\n"
            f"```text\n$ {shown}\n{render_help(argv)}\n```\n{_END}\n"
        )

    return _BLOCK.sub(block, text)


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite the page, or with ``--check`` say whether it is up to date; return the status.

    Args:
        argv: ``[--check] [PAGE]``; ``sys.argv[1:]`` by default.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    paths = [a for a in args if a != "--check"]
    page = Path(paths[0]) if paths else PAGE
    text = page.read_text(encoding="utf-8")
    fresh = update(text)
    if check:
        if fresh != text:
            print(f"{page} is out of date: run {COMMAND}", file=sys.stderr)
            return 1
        return 0
    if fresh != text:
        page.write_text(fresh, encoding="utf-8")
        print(f"rewrote {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
