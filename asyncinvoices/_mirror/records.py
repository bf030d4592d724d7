"""How an invoice becomes a database row, and what changed between two rows. Pure, no I/O.

Both database backends store the same columns (``FIELDS``, in this order) and compare two
versions of an invoice through the same canonical text of each field, so that the
``invoice_changes`` table reads the same on SQLite and PostgreSQL:

- amounts: the exact decimal as Cloudflare sent it (``str(Decimal)``, e.g. ``640.19``);
- booleans: ``true`` / ``false``; integers: their decimal digits;
- timestamps: ISO-8601 in UTC with a ``Z``, e.g. ``2026-01-02T03:04:05Z``;
- ``extra`` (fields this version does not know): JSON with sorted keys and no spaces;
- a missing value (``None``): SQL ``NULL``.

What a backend writes and reads is built here too, once for both: a row of ``invoices``,
``sync_runs`` or ``invoice_changes`` from its Python values, and back. PostgreSQL has a type
for every value (``typed=True``); SQLite keeps amounts and times as their text and booleans
as 0 / 1 (``typed=False``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

import attrs

from asyncinvoices._models import Invoice

from .types import AccountSync

__all__ = [
    "AMOUNT_FIELDS",
    "BOOL_FIELDS",
    "CHANGE_COLUMNS",
    "DERIVED_PREFIX",
    "FIELDS",
    "RUN_COLUMNS",
    "TEXT_ROWS",
    "TYPED_ROWS",
    "Change",
    "KeyAssigner",
    "RowFormat",
    "build_invoice",
    "canonical_json",
    "changes_of",
    "derived_key",
    "diff",
    "format_timestamp",
    "parse_timestamp",
    "texts_before_and_after",
    "to_text",
]

#: The invoice columns of the ``invoices`` table, in table order (the key columns aside).
FIELDS: Final = (
    "amount_due",
    "amount_paid",
    "amount_remaining",
    "currency",
    "attempt_count",
    "attempted",
    "auto_advance",
    "created",
    "created_by",
    "description",
    "invoice_origin",
    "invoice_pdf",
    "status",
    "extra",
)
#: The columns of a ``sync_runs`` row, as :func:`run_row` orders them.
RUN_COLUMNS: Final = (
    "account_id",
    "started_at",
    "finished_at",
    "outcome",
    "seen",
    "inserted",
    "updated",
    "removed",
    "changes",
    "error",
    "mode",
    "walked_since",
    "requests",
    "unordered",
)
#: The columns of an ``invoice_changes`` row, as :func:`change_rows` orders them.
CHANGE_COLUMNS: Final = ("account_id", "id", "field", "old_value", "new_value", "seen_at")
AMOUNT_FIELDS: Final = frozenset({"amount_due", "amount_paid", "amount_remaining"})
BOOL_FIELDS: Final = frozenset({"attempted", "auto_advance"})

#: The ``id`` of an invoice Cloudflare sent without one starts with this (``id`` is optional
#: and nullable, docs/cloudflare-api.md "Response envelope"); Stripe ids start with ``in_``.
DERIVED_PREFIX: Final = "derived:"

_UTC: Final = dt.timezone.utc


def format_timestamp(value: dt.datetime, *, fixed: bool = False) -> str:
    """Return ``value`` as ISO-8601 UTC text with a ``Z``; microseconds only when present.

    Args:
        value: A timezone-aware datetime (a naive one is taken as UTC).
        fixed: Always write six digits of microseconds, so that texts sort as times do
            (SQLite keeps the mirror's own timestamps this way).
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)
    value = value.astimezone(_UTC)
    fraction = fixed or value.microsecond
    pattern = "%Y-%m-%dT%H:%M:%S.%fZ" if fraction else "%Y-%m-%dT%H:%M:%SZ"
    return value.strftime(pattern)


def parse_timestamp(text: str) -> dt.datetime:
    """Return the timezone-aware UTC datetime of a :func:`format_timestamp` text.

    Args:
        text: ISO-8601, with ``Z`` or an offset (Python 3.10's ``fromisoformat`` lacks ``Z``).
    """
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(text)
    return parsed.replace(tzinfo=_UTC) if parsed.tzinfo is None else parsed.astimezone(_UTC)


def _json_parts(value: Any, out: list[str]) -> None:
    if isinstance(value, Mapping):
        out.append("{")
        for i, key in enumerate(sorted(value)):
            out.append(("," if i else "") + json.dumps(str(key)) + ":")
            _json_parts(value[key], out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _json_parts(item, out)
        out.append("]")
    elif isinstance(value, Decimal):
        # Unknown fields are decoded with parse_float=Decimal: keep the number's exact text.
        out.append(str(value) if value.is_finite() else json.dumps(str(value)))
    else:
        out.append(json.dumps(value))


def canonical_json(value: Any) -> str:
    """Return ``value`` as compact JSON with sorted keys; decimals keep their exact digits.

    Args:
        value: What ``json.loads(..., parse_float=Decimal)`` returns, e.g. ``Invoice.extra``.
    """
    out: list[str] = []
    _json_parts(value, out)
    return "".join(out)


def texts_before_and_after(columns: Sequence[Any]) -> tuple[list[str | None], list[str | None]]:
    """Split the field columns of a changed row, mirror's then staged, into their texts.

    Args:
        columns: The values of ``FIELDS`` as the mirror holds them, then as staged.
    """
    n = len(FIELDS)
    before = [to_text(f, v) for f, v in zip(FIELDS, columns[:n], strict=True)]
    after = [to_text(f, v) for f, v in zip(FIELDS, columns[n:], strict=True)]
    return before, after


def to_text(field: str, value: Any) -> str | None:
    """Return the canonical text of one field's value, as ``invoice_changes`` records it.

    Accepts the Python value of an :class:`Invoice` field and what either database returns
    for its column (SQLite stores booleans as 0/1, timestamps and amounts as text; asyncpg
    returns ``jsonb`` as text with spaces), and gives the same text for the same value.

    Args:
        field: A name from ``FIELDS``.
        value: The value, or ``None``.
    """
    if value is None:
        return None
    if field in BOOL_FIELDS:
        return "true" if value else "false"
    if field == "extra":
        if isinstance(value, str):
            value = json.loads(value, parse_float=Decimal)
        return canonical_json(value)
    if isinstance(value, dt.datetime):
        return format_timestamp(value)
    return str(value)


def diff(
    old: Sequence[str | None], new: Sequence[str | None]
) -> list[tuple[str, str | None, str | None]]:
    """Return ``(field, old_text, new_text)`` for every field whose text differs.

    Args:
        old: The canonical texts of the stored row, in ``FIELDS`` order.
        new: The canonical texts of the row just fetched, in ``FIELDS`` order.
    """
    return [(f, o, n) for f, o, n in zip(FIELDS, old, new, strict=True) if o != n]


def derived_key(invoice: Invoice) -> str:
    """Return the key of an invoice without an id: a hash of its canonical field values.

    Stable for as long as the invoice's fields stay the same; if one changes, the old key
    is marked removed and the new one inserted, as nothing else identifies the invoice.

    Args:
        invoice: An invoice whose ``id`` is ``None``.
    """
    texts = (to_text(field, getattr(invoice, field)) for field in FIELDS)
    canonical = "\x1f".join("\x00" if text is None else text for text in texts)
    return DERIVED_PREFIX + hashlib.sha256(canonical.encode()).hexdigest()[:32]


class KeyAssigner:
    """Gives each invoice of one sync its key: its ``id``, or a derived key when it has none.

    Two identical invoices without an id in one listing get ``KEY``, ``KEY#2``, ``KEY#3``...
    in the order the API lists them (newest first), so that neither is lost.
    """

    def __init__(self) -> None:
        self._derived: dict[str, int] = {}

    def key(self, invoice: Invoice) -> str:
        """Return the key of ``invoice`` within this sync."""
        if invoice.id is not None:
            return invoice.id
        key = derived_key(invoice)
        seen = self._derived.get(key, 0) + 1
        self._derived[key] = seen
        return key if seen == 1 else f"{key}#{seen}"

    def keys(self, invoices: Iterable[Invoice]) -> list[str]:
        """Return the key of each invoice, in order."""
        return [self.key(invoice) for invoice in invoices]


def build_invoice(key: str, values: Mapping[str, Any]) -> Invoice:
    """Return the :class:`Invoice` of a mirrored row; a derived key gives ``id=None``.

    Args:
        key: The row's ``id`` column.
        values: The invoice fields, already of their Python types.
    """
    invoice_id = None if key.startswith(DERIVED_PREFIX) else key
    return Invoice(id=invoice_id, **values)


Change = tuple[str, str, str, "str | None", "str | None"]
"""One changed field of one row: ``(account_id, key, field, old text, new text)``."""


def changes_of(
    account_id: str,
    changed: Iterable[tuple[str, dt.datetime | None, Sequence[str | None], Sequence[str | None]]],
    removed: Iterable[str],
    now: dt.datetime,
) -> list[Change]:
    """Return the ``invoice_changes`` of one sync: each changed field of each changed row, a
    row that is back (its ``removed_at`` cleared), and each row marked removed ``now``.

    Args:
        account_id: The account.
        changed: What :meth:`RowFormat.changed` made of each changed row.
        removed: The keys of the rows marked removed.
        now: When the sync started: the removal time.
    """
    changes: list[Change] = []
    for key, removed_at, old, new in changed:
        changes += [(account_id, key, *change) for change in diff(old, new)]
        if removed_at is not None:  # it is back
            changes.append((account_id, key, "removed_at", format_timestamp(removed_at), None))
    stamp = format_timestamp(now)
    changes += [(account_id, key, "removed_at", None, stamp) for key in removed]
    return changes


@attrs.frozen
class RowFormat:
    """How one database keeps the mirror's values: the rows a backend writes, and the values
    it reads back. :data:`TYPED_ROWS` for PostgreSQL, :data:`TEXT_ROWS` for SQLite.

    Attributes:
        typed: Whether the database has decimal, boolean and timestamp types; else amounts
            and times are their text (the mirror's own times fixed-width, so that they sort
            as times do) and booleans 0 / 1.
    """

    typed: bool

    def time(self, value: dt.datetime) -> Any:
        """Return one of the mirror's own timestamps (``started_at``, ...) as stored."""
        return value if self.typed else format_timestamp(value, fixed=True)

    def utc(self, value: Any) -> dt.datetime | None:
        """Return a timestamp column as read back, as a UTC datetime (``None`` stays)."""
        if value is None or self.typed:
            return value  # type: ignore[no-any-return]
        return parse_timestamp(value)

    def invoice_row(self, key: str, invoice: Invoice) -> tuple[Any, ...]:
        """Return the staging row of an invoice: its key, then ``FIELDS`` as stored
        (``extra`` as canonical JSON, ``{}`` when empty)."""
        due: Any = invoice.amount_due
        paid: Any = invoice.amount_paid
        remaining: Any = invoice.amount_remaining
        created: Any = invoice.created
        if not self.typed:
            due, paid, remaining = str(due), str(paid), str(remaining)
            created = None if created is None else format_timestamp(created)
        return (
            key,
            due,
            paid,
            remaining,
            invoice.currency,
            invoice.attempt_count,
            invoice.attempted,
            invoice.auto_advance,
            created,
            invoice.created_by,
            invoice.description,
            invoice.invoice_origin,
            invoice.invoice_pdf,
            invoice.status,
            canonical_json(invoice.extra) if invoice.extra else "{}",
        )

    def invoice(self, row: Sequence[Any]) -> Invoice:
        """Return the :class:`Invoice` of an ``invoices`` row read back: ``id``, then
        ``FIELDS`` (``extra`` is JSON text from both drivers)."""
        values = dict(zip(FIELDS, row[1:], strict=True))
        if not self.typed:
            for field in AMOUNT_FIELDS:
                values[field] = Decimal(values[field])
            for field in BOOL_FIELDS:
                if values[field] is not None:
                    values[field] = bool(values[field])
            values["created"] = self.utc(values["created"])
        values["extra"] = json.loads(values["extra"], parse_float=Decimal)
        return build_invoice(row[0], values)

    def changed(
        self, row: Sequence[Any]
    ) -> tuple[str, dt.datetime | None, list[str | None], list[str | None]]:
        """Return ``(key, removed_at, old texts, new texts)`` of a changed row as read back:
        ``key, removed_at``, then ``FIELDS`` as held, then as staged."""
        return (row[0], self.utc(row[1]), *texts_before_and_after(row[2:]))

    def change_rows(self, changes: Iterable[Change], seen_at: dt.datetime) -> list[tuple[Any, ...]]:
        """Return the ``invoice_changes`` rows (:data:`CHANGE_COLUMNS`) of ``changes``."""
        stamp = self.time(seen_at)
        return [(*change, stamp) for change in changes]

    def run_row(self, run: AccountSync) -> tuple[Any, ...]:
        """Return the ``sync_runs`` row (:data:`RUN_COLUMNS`) of a run."""
        walked_since = run.walked_since
        return (
            run.account_id,
            self.time(run.started_at),
            self.time(run.finished_at),
            run.outcome,
            run.seen,
            run.inserted,
            run.updated,
            run.removed,
            run.changes,
            run.error,
            run.mode,
            None if walked_since is None else self.time(walked_since),
            run.requests,
            run.unordered if self.typed else int(run.unordered),
        )


#: PostgreSQL's rows: every value of its own type.
TYPED_ROWS: Final = RowFormat(typed=True)
#: SQLite's rows: amounts and times as text, booleans as 0 / 1.
TEXT_ROWS: Final = RowFormat(typed=False)
