"""to_pandas and to_polars: one row per invoice, exact decimal amounts, created in UTC."""

from __future__ import annotations

import datetime as dt
import sys
from decimal import Decimal
from typing import Any

import attrs
import pytest

from asyncinvoices import ConfigurationError, Invoice, to_pandas, to_polars

UTC = dt.timezone.utc
INVOICES = [
    Invoice(
        amount_due=Decimal("640.19"),
        amount_paid=Decimal(0),
        amount_remaining=Decimal("1E+3"),
        currency="usd",
        id="in_1",
        attempt_count=2,
        attempted=True,
        created=dt.datetime(2025, 1, 1, tzinfo=UTC),
        status="paid",
        extra={"tax": Decimal("0.5")},
    ),
    Invoice(
        amount_due=Decimal("12345678901234567890.123456"),
        amount_paid=Decimal("-0.5"),
        amount_remaining=Decimal(3),
        currency="eur",
        created=dt.datetime(9999, 1, 1, tzinfo=UTC),
        extra={"lines": [1, 2]},
    ),
]
COLUMNS = [
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
    "tax",
    "lines",
]


def test_pandas_columns_are_exact() -> None:
    """Amounts are Decimal objects as sent; created is UTC; nulls are missing values."""
    pd = pytest.importorskip("pandas")
    frame = to_pandas(INVOICES)
    assert list(frame.columns) == COLUMNS
    assert frame["amount_due"].tolist() == [
        Decimal("640.19"),
        Decimal("12345678901234567890.123456"),
    ]
    assert [str(v) for v in frame["amount_remaining"]] == ["1E+3", "3"]
    assert {str(frame[c].dtype) for c in ("amount_due", "amount_paid", "amount_remaining")} == {
        "object"
    }
    assert str(frame["created"].dtype) == "datetime64[us, UTC]"
    assert frame["created"].tolist() == [
        pd.Timestamp("2025-01-01T00:00:00Z"),
        pd.Timestamp("9999-01-01T00:00:00Z"),
    ]
    assert str(frame["attempt_count"].dtype) == "Int64"
    assert frame["attempt_count"].isna().tolist() == [False, True]
    assert str(frame["attempted"].dtype) == "boolean"
    assert str(frame["currency"].dtype) == "string"
    assert frame["tax"].tolist() == [Decimal("0.5"), None]
    assert frame["lines"].tolist() == [None, [1, 2]]


def test_polars_columns_are_exact() -> None:
    """Amounts are Decimal(38, scale) holding the same values; created is UTC."""
    pl = pytest.importorskip("polars")
    frame = to_polars(INVOICES)
    assert frame.columns == COLUMNS
    assert frame.schema["amount_due"] == pl.Decimal(38, 6)
    assert frame.schema["amount_paid"] == pl.Decimal(38, 1)
    assert frame.schema["amount_remaining"] == pl.Decimal(38, 0)
    assert frame["amount_due"].to_list() == [
        Decimal("640.19"),
        Decimal("12345678901234567890.123456"),
    ]
    assert frame["amount_remaining"].to_list() == [Decimal(1000), Decimal(3)]
    assert frame["amount_paid"].sum() == Decimal("-0.5")
    assert frame.schema["created"] == pl.Datetime("us", "UTC")
    assert [c.isoformat() for c in frame["created"].to_list()] == [
        "2025-01-01T00:00:00+00:00",
        "9999-01-01T00:00:00+00:00",
    ]
    assert frame.schema["attempt_count"] == pl.Int64
    assert frame["attempt_count"].to_list() == [2, None]
    assert frame.schema["attempted"] == pl.Boolean
    assert frame.schema["status"] == pl.String
    assert frame["tax"].to_list() == [Decimal("0.5"), None]


PAIRS = [("023e105f4ecef8ad9ca31a8372d0c353", INVOICES[0]), ("0" * 32, INVOICES[1])]


def test_pandas_takes_account_invoice_pairs_with_account_id_first() -> None:
    """What invoices_many yields: account_id is the first column, a string; the rest as for
    invoices alone."""
    pytest.importorskip("pandas")
    frame = to_pandas(PAIRS)
    alone = to_pandas(INVOICES)

    assert list(frame.columns) == ["account_id", *COLUMNS]
    assert str(frame["account_id"].dtype) == "string"
    assert frame["account_id"].tolist() == ["023e105f4ecef8ad9ca31a8372d0c353", "0" * 32]
    assert [str(frame[c].dtype) for c in COLUMNS] == [str(alone[c].dtype) for c in COLUMNS]
    assert frame.drop(columns="account_id").equals(alone)


def test_polars_takes_account_invoice_pairs_with_account_id_first() -> None:
    """The same for polars: account_id first as String, the other columns unchanged."""
    pl = pytest.importorskip("polars")
    frame = to_polars(iter(PAIRS))
    alone = to_polars(INVOICES)

    assert frame.columns == ["account_id", *COLUMNS]
    assert frame.schema["account_id"] == pl.String
    assert frame["account_id"].to_list() == ["023e105f4ecef8ad9ca31a8372d0c353", "0" * 32]
    assert [frame.schema[c] for c in COLUMNS] == [alone.schema[c] for c in COLUMNS]
    assert frame["amount_due"].to_list() == alone["amount_due"].to_list()


@pytest.mark.parametrize("build", [to_pandas, to_polars])
def test_a_mix_of_invoices_and_pairs_is_refused(build: Any) -> None:
    """One frame has one set of columns: invoices and pairs together, or anything else, is a
    ConfigurationError."""
    with pytest.raises(ConfigurationError) as mixed:
        build([PAIRS[0], INVOICES[1]])
    with pytest.raises(ConfigurationError) as other:
        build([("x", "y")])

    assert str(mixed.value) == (
        "expected invoices or (account_id, invoice) pairs, not a mix of both"
    )
    assert str(other.value) == "expected invoices or (account_id, invoice) pairs, got tuple"


def test_empty_input_gives_the_known_columns() -> None:
    """No invoices: an empty frame with every known column."""
    pytest.importorskip("pandas")
    pytest.importorskip("polars")
    assert list(to_pandas([]).columns) == COLUMNS[:14]
    assert to_polars([]).columns == COLUMNS[:14]
    assert to_polars(iter([])).height == 0


def test_polars_refuses_an_amount_it_cannot_hold_exactly() -> None:
    """An amount beyond 38 digits at the column's scale is refused, never rounded."""
    pytest.importorskip("polars")
    huge = Invoice(
        amount_due=Decimal("1E+40"), amount_paid=Decimal(0), amount_remaining=Decimal(0),
        currency="usd",
    )  # fmt: skip
    with pytest.raises(ConfigurationError) as caught:
        to_polars([INVOICES[0], huge])
    assert str(caught.value) == (
        "amount_due 1E+40 needs 43 digits at scale 2; polars holds 38: use to_pandas(), "
        "whose Decimal columns hold any amount"
    )
    tiny = attrs.evolve(huge, amount_due=Decimal("1E-40"))
    with pytest.raises(ConfigurationError) as caught:
        to_polars([tiny])
    assert str(caught.value).startswith("amount_due 1E-40 needs 40 digits at scale 40; ")


@pytest.mark.parametrize(("build", "module"), [(to_pandas, "pandas"), (to_polars, "polars")])
def test_a_missing_library_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, build: Any, module: str
) -> None:
    """Without the optional library, the error says which extra to install."""
    monkeypatch.setitem(sys.modules, module, None)  # import then raises ImportError
    with pytest.raises(ConfigurationError) as caught:
        build(INVOICES)
    assert str(caught.value) == (
        f"{build.__name__}() needs {module}, which is not installed: "
        f'pip install "asyncinvoices[{module}]"'
    )
    assert isinstance(caught.value.__cause__, ImportError)
