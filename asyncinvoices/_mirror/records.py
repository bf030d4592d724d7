"""How an invoice becomes a database row, and what changed between two rows. Pure, no I/O.

Both database backends store the same columns (``FIELDS``, in this order) and compare two
versions of an invoice through the same canonical text of each field, so that the
``invoice_changes`` table reads the same on SQLite and PostgreSQL:

- amounts: the exact decimal as Cloudflare sent it (``str(Decimal)``, e.g. ``640.19``);
- booleans: ``true`` / ``false``; integers: their decimal digits;
- timestamps: ISO-8601 in UTC with a ``Z``, e.g. ``2026-01-02T03:04:05Z``;
- ``extra`` (fields this version does not know): JSON with sorted keys and no spaces;
- a missing value (``None``): SQL ``NULL``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

from asyncinvoices._models import Invoice

__all__ = [
    "AMOUNT_FIELDS",
    "BOOL_FIELDS",
    "DERIVED_PREFIX",
    "FIELDS",
    "KeyAssigner",
    "build_invoice",
    "canonical_json",
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
