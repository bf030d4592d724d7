"""Where ``fetch`` writes and in which format, from ``-o FILE`` and ``--format``. Pure.

Without ``--format`` the format comes from the file's suffix, and a suffix that names no
format is refused rather than guessed: ``-o x.tsv`` writing an aligned table would be a
surprise found only when the file is opened. A ``.gz`` after the suffix compresses the file
(``-o invoices.csv.gz``); ``-o -`` is standard output, as for most Unix tools.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath
from typing import Final

import attrs

from asyncinvoices import ConfigurationError

__all__ = ["STDOUT", "SUFFIX_FORMATS", "Output", "resolve_output"]

#: The ``-o`` value that means standard output.
STDOUT: Final = "-"

#: The format ``fetch -o FILE`` picks from FILE's suffix when ``--format`` is not given.
SUFFIX_FORMATS: Final[Mapping[str, str]] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".txt": "table",
}
_GZIP: Final = ".gz"


@attrs.frozen
class Output:
    """Where and how ``fetch`` writes.

    Attributes:
        path: The file to write atomically, or None for standard output.
        format: One of the writers' formats (``table``, ``csv``, ``jsonl``, ``json``).
        compress: Whether the file is gzip.
    """

    path: str | None
    format: str
    compress: bool = False


def _suffixes() -> str:
    known = ", ".join(SUFFIX_FORMATS)
    return f"{known} (each optionally followed by {_GZIP})"


def resolve_output(output: str | None, format: str | None) -> Output:
    """Return where and how to write, from the values of ``-o`` and ``--format``.

    Args:
        output: The ``-o`` value: a file name, ``-`` for standard output, or None.
        format: The ``--format`` value, or None to take it from the suffix.

    Raises:
        ConfigurationError: If ``--format`` is not given and the file name's suffix names
            no format.

    Example:
        >>> resolve_output("invoices.csv.gz", None)
        Output(path='invoices.csv.gz', format='csv', compress=True)
    """
    if output is None or output == STDOUT:
        return Output(path=None, format=format or "table")
    name = PurePath(output).name
    compress = name.lower().endswith(_GZIP)
    inner = PurePath(name[: -len(_GZIP)] if compress else name).suffix.lower()
    if format is not None:
        return Output(path=output, format=format, compress=compress)
    chosen = SUFFIX_FORMATS.get(inner)
    if chosen is None:
        raise ConfigurationError(
            f"-o {output}: cannot tell the format from the name; use a suffix of "
            f"{_suffixes()}, or say it with --format"
        )
    return Output(path=output, format=chosen, compress=compress)
