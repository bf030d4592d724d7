"""Output formats for invoices: CSV, JSON Lines, a JSON array and a plain-text table.

Pure functions from :class:`~asyncinvoices.Invoice` to text, plus small writers that stream
them to a text file one invoice at a time, so a run of any size needs no more memory than
one page.

The choices, stated once:

* **Field names** are the API's own (``amount_due``, ``created``, ...): ``id`` first, then
  alphabetically as in Cloudflare's schema, then any field this version does not know
  (``Invoice.extra``).
* **Amounts** are never converted to binary floats. JSON and JSON Lines write each amount as
  a JSON *number* whose text is the exact decimal the API sent (``640.19`` stays ``640.19``);
  CSV writes the same decimal in plain notation, without an exponent.
* **created** is written as the API sends it in JSON and JSON Lines: Unix seconds, a JSON
  integer (with a fraction only if the API sent one). CSV and the table write ISO-8601 UTC
  with a ``Z`` suffix, e.g. ``2026-01-02T03:04:05Z``, which spreadsheets read as a time.
* **Unknown fields** are written verbatim in JSON and JSON Lines. CSV has one fixed header,
  written before the first invoice arrives, so they go in its last column, ``extra``, as a
  JSON object (empty when there are none).
* **Many accounts**: with ``account_column``, every row carries ``account_id``: the first
  column of CSV and the table, the first field of each JSON and JSON Lines object.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import IO, Any, Final

import attrs

from asyncinvoices import Invoice

__all__ = [
    "CSV_COLUMNS",
    "FIELDS",
    "FORMATS",
    "CsvWriter",
    "JsonArrayWriter",
    "JsonLinesWriter",
    "TableWriter",
    "Writer",
    "csv_row",
    "decimal_text",
    "dumps_record",
    "iso_utc",
    "make_writer",
    "to_record",
    "unix_seconds",
]

#: The invoice fields as the API names them: ``id`` first, then alphabetically, which is the
#: order of Cloudflare's schema and of its responses.
FIELDS: Final = (
    "id",
    *sorted(a.name for a in attrs.fields(Invoice) if a.name not in ("id", "extra")),
)
#: The CSV header: every field, then ``extra`` for fields this version does not know.
CSV_COLUMNS: Final = (*FIELDS, "extra")
#: The values ``--format`` accepts.
FORMATS: Final = ("table", "csv", "jsonl", "json")

_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_AMOUNTS: Final = frozenset({"amount_due", "amount_paid", "amount_remaining"})


def decimal_text(value: Decimal) -> str:
    """Return ``value`` in plain decimal notation, exactly: ``640.19``, ``1000``, ``0.0001``.

    Example:
        >>> decimal_text(Decimal("6.4019E+2"))
        '640.19'
    """
    return format(value, "f")


def iso_utc(value: dt.datetime) -> str:
    """Return ``value`` as ISO-8601 UTC with a ``Z`` suffix: ``2026-01-02T03:04:05Z``.

    Microseconds are written only when there are any.

    Example:
        >>> iso_utc(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc))
        '2026-01-02T03:04:05Z'
    """
    utc = value.astimezone(dt.timezone.utc) if value.tzinfo else value
    timespec = "microseconds" if utc.microsecond else "seconds"
    return utc.replace(tzinfo=None).isoformat(timespec=timespec) + "Z"


def unix_seconds(value: dt.datetime) -> int | Decimal:
    """Return ``value`` as Unix seconds: an int, or an exact Decimal if it has microseconds.

    Example:
        >>> unix_seconds(dt.datetime(2023, 1, 1, tzinfo=dt.timezone.utc))
        1672531200
    """
    delta = value - _EPOCH
    whole = delta.days * 86_400 + delta.seconds
    if not delta.microseconds:
        return whole
    return Decimal(f"{whole}.{delta.microseconds:06d}").normalize()


def to_record(invoice: Invoice) -> dict[str, Any]:
    """Return the invoice as the API's JSON object: original names, unknown fields included.

    Amounts stay :class:`~decimal.Decimal`; ``created`` becomes Unix seconds. Pass the result
    to :func:`dumps_record` to write it without losing a digit.
    """
    record: dict[str, Any] = {}
    for name in FIELDS:
        value = getattr(invoice, name)
        if name == "created" and value is not None:
            value = unix_seconds(value)
        record[name] = value
    for name, value in invoice.extra.items():
        record.setdefault(name, value)
    return record


def _encode(value: object) -> str:
    # json.dumps cannot write a Decimal as a number; str() of a finite Decimal is always a
    # valid JSON number (RFC 8259 section 6) and is exactly the text that was parsed.
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot write {value!r} as a JSON number")
        return str(value)
    if isinstance(value, Mapping):
        items = (f"{json.dumps(str(k), ensure_ascii=False)}:{_encode(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def dumps_record(record: Mapping[str, Any]) -> str:
    """Return ``record`` as compact JSON on one line, writing Decimals as exact numbers.

    Example:
        >>> dumps_record({"amount_due": Decimal("640.19"), "id": "in_1"})
        '{"amount_due":640.19,"id":"in_1"}'
    """
    return _encode(record)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, dt.datetime):
        return iso_utc(value)
    return str(value)


def csv_row(invoice: Invoice) -> list[str]:
    """Return the invoice's CSV cells, in the order of :data:`CSV_COLUMNS`.

    Missing values are empty cells; booleans are ``true``/``false``; amounts are exact plain
    decimals; ``created`` is ISO-8601 UTC; ``extra`` is a JSON object or empty.
    """
    row = [_cell(getattr(invoice, name)) for name in FIELDS]
    row.append(dumps_record(invoice.extra) if invoice.extra else "")
    return row


class Writer:
    """Writes invoices to a text file in one format; subclasses say which.

    Nothing is written before the first invoice (or :meth:`end`): a run that fails before
    its first page has arrived leaves its output empty, not a header or a lone ``[`` that
    looks like the start of a good file.

    Args:
        file: An open text file; the writer neither opens nor closes it.
    """

    def __init__(self, file: IO[str], *, account_column: bool = False) -> None:
        self._file = file
        self._started = False
        self._account_column = account_column
        self._account_id = ""
        self.count = 0

    def _record(self, invoice: Invoice) -> dict[str, Any]:
        record = to_record(invoice)
        if self._account_column:
            return {"account_id": self._account_id, **record}
        return record

    def continue_after(self, count: int) -> None:
        """Go on with a file that already holds ``count`` invoices and its header."""
        self._started = True
        self.count = count

    def write(self, invoice: Invoice, account_id: str = "") -> None:
        """Write one invoice (of ``account_id``, with ``account_column``), after the header
        if it is the first."""
        self._account_id = account_id
        if not self._started:
            self._begin()
        self._write(invoice)
        self.count += 1

    def end(self) -> None:
        """Write what comes after the last invoice (the header too, if none came), then flush."""
        if not self._started:
            self._begin()
        self._end()
        self._file.flush()

    def _begin(self) -> None:
        self._started = True
        self._header()

    def _header(self) -> None:
        """Write what comes before the first invoice (a header, an opening bracket)."""

    def _write(self, invoice: Invoice) -> None:
        """Write one invoice."""
        raise NotImplementedError

    def _end(self) -> None:
        """Write what comes after the last invoice."""


class CsvWriter(Writer):
    """CSV (RFC 4180, ``\\r\\n`` line ends) with a header row; see the module docstring."""

    def __init__(self, file: IO[str], *, account_column: bool = False) -> None:
        super().__init__(file, account_column=account_column)
        self._csv = csv.writer(file)

    def _header(self) -> None:
        self._csv.writerow(("account_id", *CSV_COLUMNS) if self._account_column else CSV_COLUMNS)

    def _write(self, invoice: Invoice) -> None:
        row = csv_row(invoice)
        self._csv.writerow([self._account_id, *row] if self._account_column else row)


class JsonLinesWriter(Writer):
    """JSON Lines: one invoice object per line, as the API sent it."""

    def _write(self, invoice: Invoice) -> None:
        self._file.write(dumps_record(self._record(invoice)) + "\n")


class JsonArrayWriter(Writer):
    """One JSON array of invoice objects, one per line, written as they arrive."""

    def _header(self) -> None:
        self._file.write("[")

    def _write(self, invoice: Invoice) -> None:
        self._file.write(("\n" if not self.count else ",\n") + dumps_record(self._record(invoice)))

    def _end(self) -> None:
        self._file.write("\n]\n" if self.count else "]\n")


_TABLE_COLUMNS: Final = (
    ("id", 27, str.ljust),
    ("created", 20, str.ljust),
    ("status", 13, str.ljust),
    ("cur", 4, str.ljust),
    ("amount_due", 13, str.rjust),
    ("amount_paid", 13, str.rjust),
    ("remaining", 13, str.rjust),
    ("origin", 0, str.ljust),
)


_ACCOUNT_COLUMN: Final = ("account_id", 32, str.ljust)


def _table_line(cells: list[str], *, account: bool = False) -> str:
    columns = (_ACCOUNT_COLUMN, *_TABLE_COLUMNS) if account else _TABLE_COLUMNS
    parts = [align(cell, width) for cell, (_, width, align) in zip(cells, columns, strict=True)]
    return "  ".join(parts).rstrip() + "\n"


class TableWriter(Writer):
    """Aligned plain-text columns for reading in a terminal; amounts exact, as sent."""

    def _header(self) -> None:
        names = [name for name, _, _ in _TABLE_COLUMNS]
        if self._account_column:
            names.insert(0, "account_id")
        self._file.write(_table_line(names, account=self._account_column))

    def _write(self, invoice: Invoice) -> None:
        cells = [
            invoice.id or "-",
            iso_utc(invoice.created) if invoice.created else "-",
            invoice.status or "-",
            invoice.currency,
            decimal_text(invoice.amount_due),
            decimal_text(invoice.amount_paid),
            decimal_text(invoice.amount_remaining),
            invoice.invoice_origin or "-",
        ]
        if self._account_column:
            cells.insert(0, self._account_id)
        self._file.write(_table_line(cells, account=self._account_column))


_WRITERS: Final[Mapping[str, Callable[..., Writer]]] = {
    "table": TableWriter,
    "csv": CsvWriter,
    "jsonl": JsonLinesWriter,
    "json": JsonArrayWriter,
}


def make_writer(format: str, file: IO[str], *, account_column: bool = False) -> Writer:
    """Return the writer for ``format`` (one of :data:`FORMATS`) writing to ``file``.

    With ``account_column``, every row carries the ``account_id`` given to :meth:`Writer.write`.

    Raises:
        ValueError: For an unknown format.
    """
    try:
        factory = _WRITERS[format]
    except KeyError:
        raise ValueError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}") from None
    return factory(file, account_column=account_column)
