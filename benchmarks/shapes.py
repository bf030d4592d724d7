"""Invoice records in every valid shape, for the benchmarks of the mixed-shape data.

FakeCloudflare renders every invoice in one shape: integers as integers, every optional field
present and of its exact type, ``created`` as whole Unix seconds. Cloudflare's schema allows
more (CLOUDFLARE_API.md, "Response envelope"): numbers are typed ``number``, so an integer
field may come as ``1.0``; amounts may be integers or fractions; optional fields may be absent
or ``null``; unknown fields may appear; ``created`` is most likely Unix seconds, integer or
not, and an ISO-8601 string is read too. :func:`mix_record` rewrites one rendered invoice
into one of those shapes, chosen by its serial number, so that a third of an account's
invoices take one of the other valid shapes, the same ones on every run.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

__all__ = ["SHAPES", "mix_array", "mix_record"]

#: The shapes of the data a benchmark's server may send.
SHAPES = ("plain", "mixed")


def _integers_as_decimals(record: dict[str, Any]) -> None:
    if record.get("attempt_count") is not None:
        record["attempt_count"] = float(record["attempt_count"])  # 1 -> 1.0


def _fractional_amounts(record: dict[str, Any]) -> None:
    # Minor units with a fraction, e.g. 640.19; the float's repr is the exact text written.
    for name in ("amount_due", "amount_paid", "amount_remaining"):
        record[name] = round(record[name] / 100 + 0.01, 2) if record[name] else record[name]


def _nulls(record: dict[str, Any]) -> None:
    for name in ("attempted", "auto_advance", "created_by", "description", "invoice_pdf"):
        record[name] = None


def _absent(record: dict[str, Any]) -> None:
    for name in ("attempt_count", "created_by", "description", "invoice_origin", "invoice_pdf"):
        record.pop(name, None)


def _unknown_fields(record: dict[str, Any]) -> None:
    record["livemode"] = True
    record["tax"] = 0
    record["metadata"] = {"gateway": "default", "top_up": record.get("invoice_origin")}


def _fractional_created(record: dict[str, Any]) -> None:
    if isinstance(record.get("created"), int):
        record["created"] = record["created"] + 0.25


def _iso_created(record: dict[str, Any]) -> None:
    if isinstance(record.get("created"), int):
        when = dt.datetime.fromtimestamp(record["created"], tz=dt.timezone.utc)
        record["created"] = when.isoformat().replace("+00:00", "Z")


_CHANGES: tuple[Callable[[dict[str, Any]], None], ...] = (
    _integers_as_decimals,
    _fractional_amounts,
    _nulls,
    _absent,
    _unknown_fields,
    _fractional_created,
    _iso_created,
)


def mix_record(text: str, serial: int) -> str:
    """Return one invoice's JSON text in the shape its serial number selects.

    Two serials in three keep the plain shape; the third takes two of the other valid
    shapes, so that every pair of changes occurs.

    Args:
        text: The invoice as FakeCloudflare renders it (a JSON object, numbers as integers).
        serial: The invoice's serial number.
    """
    if serial % 3:
        return text
    record: dict[str, Any] = json.loads(text)
    turn = serial // 3
    first = turn % len(_CHANGES)
    second = (first + 1 + (turn // len(_CHANGES)) % (len(_CHANGES) - 1)) % len(_CHANGES)
    _CHANGES[first](record)
    _CHANGES[second](record)
    return json.dumps(record, separators=(",", ":"))


def mix_array(body: bytes, first_serial: int = 0) -> bytes:
    """Return a JSON array of rendered invoices with every record passed to :func:`mix_record`.

    Args:
        body: A JSON array of invoice objects.
        first_serial: The serial number given to the array's first invoice; the others
            follow in order.
    """
    records = json.loads(body)
    texts = (
        mix_record(json.dumps(r, separators=(",", ":")), first_serial + i)
        for i, r in enumerate(records)
    )
    return ("[" + ",".join(texts) + "]").encode()
