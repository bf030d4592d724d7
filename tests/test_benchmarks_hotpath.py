"""The hand-written invoice reader agrees with the cattrs converter on every record."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from typing import Any

import cattrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncinvoices import Invoice, ResponseFormatError
from asyncinvoices._converter import InvoiceStructurer, _read_plain, make_converter

_CONVERTER = make_converter()

_ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.just("2025-01-01T00:00:00Z"),
    st.lists(st.integers(), max_size=2),
)

_FIELDS = (
    "amount_due",
    "amount_paid",
    "amount_remaining",
    "currency",
    "id",
    "attempt_count",
    "attempted",
    "auto_advance",
    "created",
    "created_by",
    "description",
    "invoice_origin",
    "invoice_pdf",
    "status",
    "unknown_field",
)

_PLAIN: dict[str, Any] = {
    "amount_due": 1,
    "amount_paid": Decimal("640.19"),
    "amount_remaining": 0,
    "currency": "usd",
    "id": "in_1",
    "attempt_count": 1,
    "attempted": True,
    "auto_advance": False,
    "created": 1735689600,
    "created_by": "someone",
    "description": "top-up",
    "invoice_origin": "manual_top_up",
    "invoice_pdf": "https://example.com/pdf",
    "status": "paid",
}


def _cattrs(record: dict[str, Any]) -> Invoice | None:
    try:
        return _CONVERTER.structure(record, Invoice)
    except Exception:
        return None


def _field(name: str) -> st.SearchStrategy[Any]:
    # Mostly the plain value, so that many records reach the end of the fast reader.
    plain = st.just(_PLAIN.get(name, "x"))
    return st.one_of(plain, plain, plain, plain, plain, plain, plain, plain, _ANY_VALUE)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({}, optional={name: _field(name) for name in _FIELDS}))
def test_read_plain_accepts_only_what_cattrs_accepts_with_the_same_result(
    record: dict[str, Any],
) -> None:
    """Whenever the fast reader returns an invoice, cattrs returns an equal one."""
    fast = _read_plain(record)
    if fast is not None:
        assert _cattrs(record) == fast


def test_read_plain_takes_a_plain_record() -> None:
    """A record with exactly the JSON types expected is read without cattrs."""
    invoice = _read_plain(_PLAIN)
    assert invoice == _cattrs(_PLAIN)
    assert invoice is not None
    assert invoice.created == dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    assert str(invoice.amount_paid) == "640.19"


@pytest.mark.parametrize(
    "change",
    [{"amount_due": 1.5}, {"created": "2025-01-01T00:00:00Z"}, {"attempt_count": Decimal(2)}],
)
def test_read_plain_leaves_other_acceptable_records_to_cattrs(change: dict[str, Any]) -> None:
    """Floats, ISO timestamps and integral decimals go through cattrs, which accepts them."""
    record = {**_PLAIN, **change}
    assert _read_plain(record) is None
    assert InvoiceStructurer().structure_all([record], page=1) == (_cattrs(record),)


def test_structure_all_keeps_unknown_fields_and_names_bad_ones() -> None:
    """Unknown keys land in extra; a bad record's error names its index and field."""
    structurer = InvoiceStructurer()
    (invoice,) = structurer.structure_all([{**_PLAIN, "tax": Decimal("0.2")}], page=1)
    assert invoice.extra == {"tax": Decimal("0.2")}
    with pytest.raises(ResponseFormatError) as caught:
        structurer.structure_all([_PLAIN, {**_PLAIN, "currency": 3}], page=4)
    assert caught.value.field == "invoices[1].currency"
    assert isinstance(caught.value.__cause__, cattrs.BaseValidationError)


def test_an_integer_field_with_a_huge_exponent_is_refused_quickly() -> None:
    """attempt_count 1E+300000 is refused, naming the field, without building the integer."""
    started = time.perf_counter()
    with pytest.raises(ResponseFormatError) as caught:
        InvoiceStructurer().structure_all(
            [{**_PLAIN, "attempt_count": Decimal("1E+300000")}], page=1
        )
    assert time.perf_counter() - started < 0.5
    assert caught.value.field == "invoices[0].attempt_count"
    assert _cattrs({**_PLAIN, "attempt_count": Decimal("1E+18")}) is not None
