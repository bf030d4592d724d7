"""Every shape the schema allows for one invoice: the ``shapes="mixed"`` data option.

docs/cloudflare-api.md, "Response envelope" [D]: numbers are typed ``number`` (so
``"attempt_count": 1.0`` is a valid 1), amounts may be whole or fractional, every field but
the three amounts and ``currency`` is optional and nullable, new fields may appear at any
time, and ``created`` is most likely Unix seconds [I] (so an ISO-8601 string must be
tolerated too). A client tested only against one tidy shape shares its fake's assumptions;
``"mixed"`` serves about a third of the invoices in one or more of these other forms.

Each reshaping keeps the values equivalent (``1.0`` for ``1``, the same instant as ISO
text or Unix seconds), or leaves a field out or null, so the structured values a client
must make of an invoice follow from the tidy invoice and the choice alone (`expected`),
without parsing the reshaped text the way a client would.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any, Final, Literal

import attrs

__all__ = ["FIELDS", "OPTIONAL", "SHAPES", "Reshape", "Shapes", "apply", "choose", "expected"]

Shapes = Literal["plain", "mixed"]

#: The values of FakeCloudflare's ``shapes`` option.
SHAPES: Final = ("plain", "mixed")

_Reading = Literal["amount", "count", "time", "as sent"]
"""What a client makes of a field's value: a decimal, an integer, an aware time, or it."""

#: Every documented invoice field in the schema's order, and how a client reads its value
#: (docs/cloudflare-api.md [D]). The first four are required; every other one is optional
#: and nullable.
_SCHEMA: Final[dict[str, _Reading]] = {
    "amount_due": "amount",
    "amount_paid": "amount",
    "amount_remaining": "amount",
    "currency": "as sent",
    "id": "as sent",
    "attempt_count": "count",
    "attempted": "as sent",
    "auto_advance": "as sent",
    "created": "time",
    "created_by": "as sent",
    "description": "as sent",
    "invoice_origin": "as sent",
    "invoice_pdf": "as sent",
    "status": "as sent",
}
#: Every documented field, required ones first.
FIELDS: Final = tuple(_SCHEMA)
#: The optional, nullable invoice fields of the schema.
OPTIONAL: Final = FIELDS[4:]
_AMOUNTS: Final = tuple(name for name, reading in _SCHEMA.items() if reading == "amount")

#: Fields the API may add one day; a client must keep them, not choke on them.
_UNKNOWN: Final = {"livemode": False, "metadata": {"gateway": "default", "source": "api"}}
#: Choice bytes below this take another shape: 86 / 256 is about a third.
_MIXED_BELOW: Final = 86
_UTC: Final = dt.timezone.utc


@attrs.frozen(kw_only=True)
class Reshape:
    """How one invoice departs from the tidy shape.

    Attributes:
        float_counts: ``attempt_count`` as ``1.0``.
        created: ``created`` as Unix seconds (``"int"``, the tidy form), as a float
            (``"float"``, e.g. ``1672531200.0``) or as ISO-8601 text (``"iso"``).
        float_amounts: Whole amounts as ``1200.0``.
        absent: An optional field left out, if any.
        null: An optional field sent as ``null``, if any.
        unknown: Whether fields the schema does not know are added.
    """

    float_counts: bool = False
    created: Literal["int", "float", "iso"] = "int"
    float_amounts: bool = False
    absent: str | None = None
    null: str | None = None
    unknown: bool = False


def choose(digest: bytes) -> Reshape | None:
    """Return how an invoice is reshaped, or None to keep it tidy.

    Args:
        digest: At least four seeded bytes of the invoice (always the same for one invoice,
            so it is served identically on every request).
    """
    if digest[0] >= _MIXED_BELOW:
        return None
    bits = digest[1]
    absent = OPTIONAL[digest[2] % len(OPTIONAL)] if bits & 0x10 else None
    null = OPTIONAL[digest[3] % len(OPTIONAL)] if bits & 0x20 else None
    return Reshape(
        float_counts=bool(bits & 0x01),
        created="iso" if bits & 0x02 else "float" if bits & 0x04 else "int",
        float_amounts=bool(bits & 0x08),
        absent=absent,
        null=None if null == absent else null,
        # Every reshaped invoice differs in at least one way: unknown fields by default.
        unknown=bool(bits & 0x40) or not bits & 0x3F,
    )


def apply(reshape: Reshape, text: str) -> str:
    """Return the tidy invoice JSON ``text`` in the chosen shape.

    Args:
        reshape: What to change.
        text: The tidy JSON object, as `AccountData.render` writes it.
    """
    pairs: dict[str, Any] = json.loads(text, parse_int=_Number, parse_float=_Number)
    if reshape.float_counts and isinstance(pairs.get("attempt_count"), _Number):
        pairs["attempt_count"] = _Number(pairs["attempt_count"] + ".0")
    if reshape.float_amounts:
        for name in _AMOUNTS:
            if "." not in pairs[name]:
                pairs[name] = _Number(pairs[name] + ".0")
    created = pairs.get("created")
    if isinstance(created, _Number) and reshape.created != "int":
        pairs["created"] = _Number(created + ".0") if reshape.created == "float" else _iso(created)
    if reshape.null is not None:
        pairs[reshape.null] = None
    if reshape.absent is not None:
        pairs.pop(reshape.absent, None)
    if reshape.unknown:
        pairs.update(_UNKNOWN)
    return "{" + ",".join(f"{json.dumps(k)}:{_dump(v)}" for k, v in pairs.items()) + "}"


def expected(reshape: Reshape | None, text: str) -> dict[str, Any]:
    """Return the structured values a client must make of an invoice.

    Amounts are `decimal.Decimal`, ``created`` an aware UTC ``datetime.datetime``, every
    optional field left out or null None, and unknown fields in ``extra``.

    Args:
        reshape: How the invoice is served (None: tidy).
        text: The tidy JSON object of the invoice.
    """
    tidy: dict[str, Any] = json.loads(text, parse_float=Decimal)
    values: dict[str, Any] = {name: _read(name, tidy.get(name)) for name in FIELDS}
    extra: dict[str, Any] = {}
    if reshape is not None:
        for gone in (reshape.absent, reshape.null):
            if gone is not None:
                values[gone] = None
        if reshape.unknown:
            extra = json.loads(json.dumps(_UNKNOWN))  # a deep copy the caller may change
    values["extra"] = extra
    return values


def expect_update(values: dict[str, Any], field: str, value: Any) -> None:
    """Set in ``values`` (from `expected`) what a client makes of ``field`` served as ``value``.

    Args:
        values: The structured values of one invoice, changed in place.
        field: The field that was set.
        value: Its value as given to the fake (a `decimal.Decimal` for an exact number).
    """
    if isinstance(value, float):
        value = Decimal(repr(value))  # the client reads every fraction as an exact decimal
    if field not in _SCHEMA:
        plain = isinstance(value, (Decimal, int, str)) or value is None
        values["extra"][field] = (
            value if plain else json.loads(json.dumps(value), parse_float=Decimal)
        )
    else:
        values[field] = _read(field, value)


def _read(field: str, value: Any) -> Any:
    """Return what a client makes of a documented field's JSON value; null stays None."""
    reading = _SCHEMA[field]
    if value is None or reading == "as sent":
        return value
    if reading == "amount":
        return Decimal(value)
    if reading == "count":
        return int(value)
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(_UTC)
    return dt.datetime.fromtimestamp(float(value), tz=_UTC)


class _Number(str):
    """A JSON number kept as its source text, so amounts stay exact when re-rendered."""

    __slots__ = ()


def _dump(value: Any) -> str:
    return value if isinstance(value, _Number) else json.dumps(value, separators=(",", ":"))


def _iso(seconds: str) -> str:
    """Return whole Unix seconds as ISO-8601 UTC text, e.g. ``2023-01-01T00:00:00Z``."""
    return dt.datetime.fromtimestamp(int(seconds), tz=_UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
