"""The one structuring path: every valid shape of an invoice is read, every other is refused.

Cloudflare types the invoice numbers as ``number``, so integers may come as ``1.0`` and amounts
as integers or fractions; optional fields may be absent or ``null``; unknown fields appear;
``created`` may be Unix seconds or ISO-8601 (docs/cloudflare-api.md, "Response envelope").
"""

from __future__ import annotations

import datetime as dt
import json
import time
from decimal import Decimal
from typing import Any

import attrs
import cattrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncinvoices import ConfigurationError, Invoice, ResponseFormatError
from asyncinvoices._wire.converter import InvoiceStructurer, make_converter

UTC = dt.timezone.utc
NEW_YEAR = dt.datetime(2025, 1, 1, tzinfo=UTC)

PLAIN: dict[str, Any] = {
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
PLAIN_INVOICE = Invoice(
    amount_due=Decimal(1),
    amount_paid=Decimal("640.19"),
    amount_remaining=Decimal(0),
    currency="usd",
    id="in_1",
    attempt_count=1,
    attempted=True,
    auto_advance=False,
    created=NEW_YEAR,
    created_by="someone",
    description="top-up",
    invoice_origin="manual_top_up",
    invoice_pdf="https://example.com/pdf",
    status="paid",
)
OPTIONAL = (
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
)
ABSENT = object()


def structure(record: dict[str, Any], *, page: int = 1) -> Invoice:
    """Structure one record the way the decoder does."""
    (invoice,) = InvoiceStructurer().structure_all([record], page=page)
    return invoice


def changed(change: dict[str, Any]) -> dict[str, Any]:
    """PLAIN with ``change`` applied; a value of ABSENT removes the key."""
    record = {**PLAIN, **change}
    return {k: v for k, v in record.items() if v is not ABSENT}


VALID: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({}, {}),
    # Integer fields are typed `number`: an integral decimal or float is the integer.
    ({"attempt_count": Decimal("1.0")}, {"attempt_count": 1}),
    ({"attempt_count": 3.0}, {"attempt_count": 3}),
    ({"attempt_count": Decimal("1E+2")}, {"attempt_count": 100}),
    ({"attempt_count": Decimal("-0")}, {"attempt_count": 0}),
    ({"attempt_count": Decimal("1E+18")}, {"attempt_count": 10**18}),
    # Amounts: integers or fractions, exact.
    ({"amount_due": 41505}, {"amount_due": Decimal(41505)}),
    ({"amount_due": Decimal("415.05")}, {"amount_due": Decimal("415.05")}),
    ({"amount_due": Decimal("0.10")}, {"amount_due": Decimal("0.10")}),
    ({"amount_due": Decimal("-1.5")}, {"amount_due": Decimal("-1.5")}),
    ({"amount_due": Decimal("1E+3")}, {"amount_due": Decimal("1E+3")}),
    ({"amount_due": 0.1}, {"amount_due": Decimal("0.1")}),
    ({"amount_remaining": 10**30}, {"amount_remaining": Decimal(10**30)}),
    # Optional fields: null or absent are None.
    *[({name: None}, {name: None}) for name in OPTIONAL],
    *[({name: ABSENT}, {name: None}) for name in OPTIONAL],
    # Unknown fields are kept verbatim.
    ({"tax": Decimal("0.2")}, {"extra": {"tax": Decimal("0.2")}}),
    (
        {"livemode": True, "metadata": {"k": [1, None]}},
        {"extra": {"livemode": True, "metadata": {"k": [1, None]}}},
    ),
    ({"id": ABSENT, "lines": []}, {"id": None, "extra": {"lines": []}}),
    # created: Unix seconds (integer or not) or ISO-8601, always UTC.
    ({"created": 1735689600.25}, {"created": NEW_YEAR.replace(microsecond=250000)}),
    ({"created": Decimal("1735689600.5")}, {"created": NEW_YEAR.replace(microsecond=500000)}),
    ({"created": Decimal("1735689600")}, {"created": NEW_YEAR}),
    ({"created": "2025-01-01T00:00:00Z"}, {"created": NEW_YEAR}),
    ({"created": "2025-01-01T00:00:00z"}, {"created": NEW_YEAR}),
    ({"created": "2025-01-01T01:00:00+01:00"}, {"created": NEW_YEAR}),
    ({"created": "2025-01-01T00:00:00"}, {"created": NEW_YEAR}),
    ({"created": 0}, {"created": dt.datetime(1970, 1, 1, tzinfo=UTC)}),
    # Several shapes at once.
    (
        {"attempt_count": Decimal("2.0"), "created": "2025-01-01T00:00:00Z", "status": None},
        {"attempt_count": 2, "created": NEW_YEAR, "status": None},
    ),
]


@pytest.mark.parametrize(("change", "expected"), VALID, ids=repr)
def test_every_valid_shape_is_read_exactly(
    change: dict[str, Any], expected: dict[str, Any]
) -> None:
    """Each valid shape gives exactly the expected invoice, with exact types."""
    invoice = structure(changed(change))
    assert invoice == attrs.evolve(PLAIN_INVOICE, **expected)
    if invoice.attempt_count is not None:
        assert type(invoice.attempt_count) is int
    for amount in (invoice.amount_due, invoice.amount_paid, invoice.amount_remaining):
        assert type(amount) is Decimal
    assert invoice.created is None or invoice.created.tzinfo is UTC


def expected_message(field: str, expected_type: str) -> str:
    """The message cattrs gives for a value of the wrong type, on page 1, record 0."""
    return f"page 1: invoices[0].{field}: invalid value for type, expected {expected_type}"


REFUSED: list[tuple[dict[str, Any], str, str]] = [
    # Integer fields: a fraction, a string, a bool or a huge exponent is not an integer.
    *[
        ({"attempt_count": value}, "attempt_count", "int | None")
        for value in (
            2.5,
            Decimal("2.5"),
            "2",
            True,
            Decimal("1E+300000"),
            Decimal("NaN"),
            Decimal("Infinity"),
            float("inf"),
            float("nan"),
            [1],
        )
    ],
    # Amounts: a string, a bool, null, a non-finite number or a container is not a number.
    *[
        ({"amount_due": value}, "amount_due", "Decimal")
        for value in (
            "2",
            "12.5",
            True,
            False,
            None,
            Decimal("NaN"),
            Decimal("-Infinity"),
            float("nan"),
            float("inf"),
            [1],
            {"value": 1},
        )
    ],
    ({"amount_paid": "0"}, "amount_paid", "Decimal"),
    ({"amount_remaining": None}, "amount_remaining", "Decimal"),
    *[({"currency": value}, "currency", "str") for value in (5, None, True, ["usd"])],
    *[({"attempted": value}, "attempted", "bool | None") for value in (1, "true", 0)],
    ({"auto_advance": "false"}, "auto_advance", "bool | None"),
    *[({name: 5}, name, "str | None") for name in ("id", "created_by", "status")],
    ({"description": {}}, "description", "str | None"),
    ({"invoice_origin": ["x"]}, "invoice_origin", "str | None"),
    ({"invoice_pdf": False}, "invoice_pdf", "str | None"),
    *[
        ({"created": value}, "created", "datetime.datetime | None")
        for value in ("yesterday", "", 10**30, -(10**30), True, [1], Decimal("NaN"), 1e300)
    ],
]


@pytest.mark.parametrize(("change", "field", "expected_type"), REFUSED, ids=repr)
def test_every_refused_shape_names_its_field(
    change: dict[str, Any], field: str, expected_type: str
) -> None:
    """Each refused value is a ResponseFormatError naming the field, with cattrs' reason."""
    with pytest.raises(ResponseFormatError) as caught:
        structure(changed(change))
    assert caught.value.field == f"invoices[0].{field}"
    assert caught.value.page == 1
    assert str(caught.value) == expected_message(field, expected_type)
    assert isinstance(caught.value.__cause__, cattrs.ClassValidationError)


@pytest.mark.parametrize("field", ["amount_due", "amount_paid", "amount_remaining", "currency"])
def test_a_missing_required_field_is_named(field: str) -> None:
    """A record without a required field is refused, naming it."""
    with pytest.raises(ResponseFormatError) as caught:
        structure(changed({field: ABSENT}))
    assert caught.value.field == f"invoices[0].{field}"
    assert str(caught.value) == f"page 1: invoices[0].{field}: required field missing"


@pytest.mark.parametrize(
    ("record", "kind"), [(7, "int"), ([PLAIN], "list"), ("in_1", "str"), (None, "NoneType")]
)
def test_a_record_that_is_not_an_object_is_refused(record: object, kind: str) -> None:
    """A record that is not a JSON object is named by its index."""
    with pytest.raises(ResponseFormatError) as caught:
        InvoiceStructurer().structure_all([PLAIN, record], page=3)
    assert caught.value.field == "invoices[1]"
    assert str(caught.value) == f"page 3: invoices[1] is {kind}, not an object"


def test_the_first_refused_record_is_the_one_named() -> None:
    """With several bad records the error names the first, by its index on the page."""
    records = [PLAIN, changed({"currency": 3}), PLAIN, changed({"amount_due": "x"})]
    with pytest.raises(ResponseFormatError) as caught:
        InvoiceStructurer().structure_all(records, page=4)
    assert caught.value.field == "invoices[1].currency"
    assert caught.value.page == 4


def test_structure_all_keeps_order_and_extra() -> None:
    """structure_all returns one invoice per record, in order, unknown keys in extra."""
    records = [changed({"id": f"in_{i}", "n": i} if i % 2 else {"id": f"in_{i}"}) for i in range(5)]
    invoices = InvoiceStructurer().structure_all(records, page=1)
    assert [i.id for i in invoices] == ["in_0", "in_1", "in_2", "in_3", "in_4"]
    assert [dict(i.extra) for i in invoices] == [{}, {"n": 1}, {}, {"n": 3}, {}]
    assert InvoiceStructurer().structure_all([], page=1) == ()


def test_the_converter_hook_alone_keeps_extra() -> None:
    """The registered Invoice hook itself attaches unknown fields, outside InvoiceStructurer."""
    converter = make_converter()
    invoice = converter.structure(changed({"tax": 1}), Invoice)
    assert invoice.extra == {"tax": 1}
    assert converter.structure(PLAIN, Invoice) == PLAIN_INVOICE


def test_an_integer_field_with_a_huge_exponent_is_refused_quickly() -> None:
    """attempt_count 1E+300000 is refused, naming the field, without building the integer."""
    started = time.perf_counter()
    with pytest.raises(ResponseFormatError) as caught:
        structure(changed({"attempt_count": Decimal("1E+300000")}))
    assert time.perf_counter() - started < 0.5
    assert caught.value.field == "invoices[0].attempt_count"


def test_the_optional_hooks_are_called_directly() -> None:
    """cattrs dispatches `X | None` fields to the registered hooks, not its generic one."""
    converter = make_converter()
    for annotation in (int | None, str | None, bool | None, dt.datetime | None):
        hook = converter.get_structure_hook(annotation)
        assert hook.__module__ == "asyncinvoices._wire.converter"
        assert hook.__name__.startswith("_structure_optional_")


# -- properties ----------------------------------------------------------------------------------

texts = st.text(max_size=8)
integral = st.integers(-(10**6), 10**6)
amounts = st.one_of(
    st.integers(-(10**15), 10**15),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-(10**9),
                max_value=10**9),
    st.decimals(allow_nan=False, allow_infinity=False),
)  # fmt: skip
seconds = st.integers(0, 4_000_000_000)


def _optional(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(ABSENT), st.none(), values)


@st.composite
def valid_records(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A record in any valid shape, with the attributes the invoice must have."""
    record: dict[str, Any] = {}
    expected: dict[str, Any] = {}
    for name in ("amount_due", "amount_paid", "amount_remaining"):
        record[name] = draw(amounts)
        expected[name] = Decimal(record[name])
    record["currency"] = expected["currency"] = draw(texts)
    for name in ("id", "created_by", "description", "invoice_origin", "invoice_pdf", "status"):
        record[name] = draw(_optional(texts))
    for name in ("attempted", "auto_advance"):
        record[name] = draw(_optional(st.booleans()))
    count = draw(_optional(integral))
    if isinstance(count, int) and draw(st.booleans()):
        record["attempt_count"] = draw(st.sampled_from([Decimal(count), float(count)]))
    else:
        record["attempt_count"] = count
    when = draw(_optional(seconds))
    record["created"] = when
    if isinstance(when, int):
        moment = dt.datetime.fromtimestamp(when, tz=UTC)
        record["created"] = draw(
            st.sampled_from([when, float(when), Decimal(when), moment.isoformat()])
        )
        expected["created"] = moment
    for name in OPTIONAL:
        if name != "created":
            expected[name] = None if record[name] is ABSENT else record[name]
    if isinstance(count, int):
        expected["attempt_count"] = count
    extra = draw(st.dictionaries(st.sampled_from(["tax", "lines", "x"]), texts, max_size=2))
    expected["extra"] = extra
    record = {k: v for k, v in {**record, **extra}.items() if v is not ABSENT}
    return record, expected


@settings(max_examples=300, deadline=None)
@given(valid_records())
def test_any_valid_shape_gives_the_exact_invoice(
    case: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """Whatever valid shape each field takes, the invoice holds exactly the values sent."""
    record, expected = case
    invoice = structure(record)
    assert invoice == Invoice(**expected)
    assert make_converter(detailed_validation=True).structure(record, Invoice) == invoice


wrong_values = st.one_of(
    st.booleans().map(lambda b: ("bool", b)),
    st.text(max_size=5).map(lambda s: ("str", s)),
    st.lists(st.integers(), max_size=2).map(lambda v: ("list", v)),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2).map(lambda v: ("dict", v)),
    st.decimals(allow_nan=False, allow_infinity=False).filter(lambda d: d != d.to_integral_value())
    .map(lambda d: ("fraction", d)),
    st.integers().map(lambda i: ("int", i)),
    st.none().map(lambda n: ("null", n)),
)  # fmt: skip
REFUSES = {
    "amount_due": {"bool", "str", "list", "dict", "null"},
    "currency": {"bool", "list", "dict", "fraction", "int", "null"},
    "attempt_count": {"bool", "str", "list", "dict", "fraction"},
    "attempted": {"str", "list", "dict", "fraction", "int"},
    "status": {"bool", "list", "dict", "fraction", "int"},
}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(REFUSES)), wrong_values)
def test_a_value_of_the_wrong_kind_is_refused_naming_the_field(
    field: str, kind_value: tuple[str, Any]
) -> None:
    """A value of a kind the field does not take is refused with the field's path; any
    other is accepted."""
    kind, value = kind_value
    if kind in REFUSES[field]:
        with pytest.raises(ResponseFormatError) as caught:
            structure(changed({field: value}))
        assert caught.value.field == f"invoices[0].{field}"
    else:
        invoice = structure(changed({field: value}))
        read = getattr(invoice, field)
        assert read == (Decimal(value) if field == "amount_due" else value)


# -- to_dict: the API's object again, through cattrs' unstructuring ------------------------------

FULL_JSON = {
    "amount_due": "1",
    "amount_paid": "640.19",
    "amount_remaining": "0",
    "currency": "usd",
    "id": "in_1",
    "attempt_count": 1,
    "attempted": True,
    "auto_advance": False,
    "created": "2025-01-01T00:00:00Z",
    "created_by": "someone",
    "description": "top-up",
    "invoice_origin": "manual_top_up",
    "invoice_pdf": "https://example.com/pdf",
    "status": "paid",
}


def test_to_dict_gives_the_api_names_and_exact_values() -> None:
    """python mode: Decimals and a UTC datetime; json mode: exact strings and ISO-8601."""
    invoice = structure(changed({"tax": Decimal("0.20"), "lines": [Decimal("1E+2"), None]}))
    assert invoice.to_dict() == {
        **PLAIN,
        "amount_due": Decimal(1),
        "amount_remaining": Decimal(0),
        "created": NEW_YEAR,
        "tax": Decimal("0.20"),
        "lines": [Decimal("1E+2"), None],
    }
    assert list(invoice.to_dict())[:14] == list(PLAIN)[:14]
    assert invoice.to_dict(mode="json") == {**FULL_JSON, "tax": "0.20", "lines": ["1E+2", None]}


def test_to_dict_gives_none_for_fields_not_sent() -> None:
    """Optional fields Cloudflare left out are None (null) under their names."""
    record = {"amount_due": Decimal("0.5"), "amount_paid": 0, "amount_remaining": 1, "currency": ""}
    assert structure(record).to_dict(mode="json") == {
        "amount_due": "0.5",
        "amount_paid": "0",
        "amount_remaining": "1",
        "currency": "",
        **dict.fromkeys(OPTIONAL),
    }


def test_to_dict_refuses_an_unknown_mode() -> None:
    """A mode other than python or json is a ConfigurationError naming it."""
    with pytest.raises(ConfigurationError) as caught:
        PLAIN_INVOICE.to_dict(mode="yaml")  # type: ignore[arg-type]
    assert str(caught.value) == "mode must be 'python' or 'json', got 'yaml'"


@settings(max_examples=200, deadline=None)
@given(valid_records())
def test_to_dict_structures_back_into_an_equal_invoice(
    case: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """For every valid shape: python mode structures back equal; json mode is exact JSON."""
    invoice = structure(case[0])
    assert make_converter().structure(invoice.to_dict(), Invoice) == invoice
    as_json = json.loads(json.dumps(invoice.to_dict(mode="json")))
    for name in ("amount_due", "amount_paid", "amount_remaining"):
        assert Decimal(as_json[name]) == getattr(invoice, name)
        assert as_json[name] == str(getattr(invoice, name))
    created = as_json["created"]
    assert created is None or created.endswith("Z")
    if created is not None:
        assert structure(changed({"created": created})).created == invoice.created
    assert {k: as_json[k] for k in invoice.extra} == dict(invoice.extra)


@pytest.mark.parametrize(
    "created",
    [
        dt.datetime(2025, 1, 1, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        dt.datetime(2025, 1, 1),
    ],
)
def test_to_dict_gives_created_in_utc_whatever_the_invoice_was_built_with(
    created: dt.datetime,
) -> None:
    """A hand-built invoice's created, with an offset or none (read as UTC), comes out UTC."""
    invoice = attrs.evolve(PLAIN_INVOICE, created=created)
    assert invoice.to_dict()["created"] == NEW_YEAR
    assert invoice.to_dict()["created"].tzinfo is UTC
    assert invoice.to_dict(mode="json")["created"] == "2025-01-01T00:00:00Z"
