"""The mixed-shape data of the benchmarks: every valid shape, read exactly by the client."""

from __future__ import annotations

import datetime as dt
import inspect
import json
from decimal import Decimal
from typing import Any

import pytest

from asyncinvoices._converter import InvoiceStructurer
from asyncinvoices._protocol import _decode_json
from asyncinvoices.testing import _data as fake_data
from benchmarks import serve
from benchmarks.shapes import mix_array, mix_record

ACCOUNT = fake_data.AccountData("a" * 32, seed=5, invoices=400, auto_fraction=0.5)
SERIALS = range(3 * 7 * 6)  # every pair of changes comes once in the first 126 serials


def _mixed(serial: int) -> dict[str, Any]:
    decoded: dict[str, Any] = _decode_json(mix_record(ACCOUNT.render(serial), serial).encode())
    return decoded


def test_two_invoices_in_three_stay_plain() -> None:
    """Serials not divisible by three are left exactly as rendered; the others change."""
    for serial in SERIALS:
        text = ACCOUNT.render(serial)
        assert (mix_record(text, serial) == text) is (serial % 3 != 0)


def test_the_mix_holds_every_valid_shape() -> None:
    """Across the first serials every shape of the schema occurs."""
    records = [_mixed(serial) for serial in SERIALS if serial % 3 == 0]
    seen = {
        "attempt_count 1.0": any(type(r.get("attempt_count")) is Decimal for r in records),
        "fractional amount": any(
            type(r["amount_due"]) is Decimal and r["amount_due"] % 1 for r in records
        ),
        "null": any(r.get("description", "") is None for r in records),
        "absent": any("invoice_origin" not in r for r in records),
        "unknown": any("livemode" in r for r in records),
        "created fraction": any(type(r.get("created")) is Decimal for r in records),
        "created ISO": any(isinstance(r.get("created"), str) for r in records),
    }
    assert seen == dict.fromkeys(seen, True)


def test_every_mixed_invoice_is_read_with_its_exact_values() -> None:
    """The client reads each mixed invoice with the id, amounts and time the text holds."""
    structurer = InvoiceStructurer()
    for serial in SERIALS:
        plain = ACCOUNT.invoice(serial)
        record = _mixed(serial)
        (invoice,) = structurer.structure_all([record], page=1)
        assert invoice.id == plain["id"]
        assert invoice.amount_due == Decimal(str(record["amount_due"]))
        assert invoice.currency == plain["currency"]
        plain_created = dt.datetime.fromtimestamp(plain["created"], tz=dt.timezone.utc)
        assert invoice.created is not None
        assert invoice.created - plain_created in (dt.timedelta(0), dt.timedelta(seconds=0.25))
        assert set(invoice.extra) <= {"livemode", "tax", "metadata"}


def test_mix_array_mixes_by_position() -> None:
    """mix_array numbers the records from first_serial, as the server's serials would."""
    body = ACCOUNT.render_array(range(6))
    mixed = json.loads(mix_array(body, first_serial=0))
    plain = json.loads(body)
    assert [m == p for m, p in zip(mixed, plain, strict=True)] == [
        False, True, True, False, True, True,
    ]  # fmt: skip
    assert json.loads(mix_array(body, first_serial=1))[2] != plain[2]


def test_a_fake_with_shapes_is_asked_for_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """When FakeCloudflare takes shapes=, the server passes it on and renders nothing itself."""

    class WithShapes:
        def __init__(self, invoices: int, *, shapes: str = "plain") -> None: ...

    monkeypatch.setattr(serve, "FakeCloudflare", WithShapes)
    render = fake_data.AccountData.render
    assert serve._shape_settings("mixed") == {"shapes": "mixed"}
    assert fake_data.AccountData.render is render


def test_an_older_fake_gets_the_mix_from_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without shapes=, the server wraps the renderer for mixed data, and only for it."""

    class WithoutShapes:
        def __init__(self, invoices: int) -> None: ...

    monkeypatch.setattr(serve, "FakeCloudflare", WithoutShapes)
    # Registered first so that the renderer is restored after the test.
    monkeypatch.setattr(fake_data.AccountData, "render", fake_data.AccountData.render)
    plain_text = ACCOUNT.render(3)
    assert serve._shape_settings("plain") == {}
    assert ACCOUNT.render(3) == plain_text
    assert serve._shape_settings("mixed") == {}
    assert ACCOUNT.render(3) == mix_record(plain_text, 3) != plain_text
    assert "shapes" not in inspect.signature(WithoutShapes).parameters
