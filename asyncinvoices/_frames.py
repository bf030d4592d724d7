"""Invoices as data frames: pandas or polars, amounts exact, ``created`` in UTC.

Both builders take the rows from :meth:`Invoice.to_dict` (``python`` mode), so the columns are
the API's field names in the model's order, then every unknown field any invoice carried, in
the order first seen. Given ``(account_id, invoice)`` pairs, what
:meth:`InvoiceClient.invoices_many` yields, they put ``account_id`` first. Amounts never pass
through a binary float (docs/cloudflare-api.md, "Response envelope": amounts can be fractional):

* pandas: an ``object`` column of :class:`~decimal.Decimal`. Arrow's ``decimal128`` would need
  one scale and at most 38 digits for the whole column, and pyarrow; a Decimal holds every
  amount the API can send, exactly, as it was sent.
* polars: a ``Decimal`` column whose scale is the largest any amount needs (at most 38
  digits, polars' limit); an amount that does not fit is refused rather than rounded.

pandas and polars are optional (``pip install "asyncinvoices[pandas]"`` or ``[polars]``) and
imported only when called.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from ._errors import ConfigurationError
from ._models import Invoice

if TYPE_CHECKING:
    import pandas
    import polars

__all__ = ["to_pandas", "to_polars"]

_FIELDS = tuple(a.name for a in attrs.fields(Invoice) if a.name != "extra")
_AMOUNTS = ("amount_due", "amount_paid", "amount_remaining")
_STRINGS = ("account_id", "currency", "id", "created_by", "description", "invoice_origin",
            "invoice_pdf", "status")  # fmt: skip
_BOOLEANS = ("attempted", "auto_advance")
_POLARS_DIGITS = 38  # polars' Decimal is a 128-bit integer and a scale


@attrs.frozen
class _Kinds:
    """One library's column type for each kind of field; the fields' kinds are the same for
    every library."""

    time: Any  # created
    count: Any  # attempt_count
    boolean: Any
    string: Any
    other: Any  # amounts in pandas, and unknown fields

    def of(self, name: str) -> Any:
        """The column type of the field ``name``."""
        if name == "created":
            return self.time
        if name == "attempt_count":
            return self.count
        if name in _BOOLEANS:
            return self.boolean
        if name in _STRINGS:
            return self.string
        return self.other


def _require(module: str, caller: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigurationError(
            f"{caller}() needs {module}, which is not installed: "
            f'pip install "asyncinvoices[{module}]"'
        ) from exc


#: The invoices of one account, or the ``(account_id, invoice)`` pairs of many.
Rows = Iterable[Invoice] | Iterable[tuple[str, Invoice]]


def _rows(items: Rows) -> list[dict[str, Any]]:
    """Each item as a row; a pair's account id as the row's first value.

    Raises:
        ConfigurationError: For an item that is neither an invoice nor an ``(account_id,
            invoice)`` pair, or a mix of both: a frame has one set of columns.
    """
    rows: list[dict[str, Any]] = []
    paired: bool | None = None
    for item in items:
        if isinstance(item, Invoice):
            pair = False
            row = item.to_dict()
        elif (
            isinstance(item, tuple)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], Invoice)
        ):
            pair = True
            row = {"account_id": item[0], **item[1].to_dict()}
        else:
            raise ConfigurationError(
                f"expected invoices or (account_id, invoice) pairs, got {type(item).__name__}"
            )
        if paired is not None and pair != paired:
            raise ConfigurationError(
                "expected invoices or (account_id, invoice) pairs, not a mix of both"
            )
        paired = pair
        rows.append(row)
    return rows


def _columns(items: Rows) -> dict[str, list[Any]]:
    """Every field as a column of Python values: ``account_id`` first for pairs, then the
    known fields, then unknown fields."""
    rows = _rows(items)
    names = dict.fromkeys(("account_id", *_FIELDS) if rows and "account_id" in rows[0] else _FIELDS)
    for row in rows:
        names.update(dict.fromkeys(row))
    return {name: [row.get(name) for row in rows] for name in names}


def to_pandas(invoices: Iterable[Invoice] | Iterable[tuple[str, Invoice]]) -> pandas.DataFrame:
    """Return the invoices as a pandas DataFrame, one row per invoice, in order.

    Columns: amounts as ``object`` columns of exact :class:`~decimal.Decimal`; ``created`` as
    ``datetime64[us, UTC]`` (``NaT`` where absent); ``attempt_count`` as nullable ``Int64``;
    ``attempted`` and ``auto_advance`` as nullable ``boolean``; the other fields as
    ``string``; unknown fields as ``object`` columns, verbatim. Given ``(account_id,
    invoice)`` pairs, the first column is ``account_id``, as ``string``.

    Args:
        invoices: Any iterable of invoices, e.g. what ``list_invoices`` returned; or of
            ``(account_id, invoice)`` pairs, e.g. what ``invoices_many`` yielded.

    Returns:
        A new DataFrame.

    Raises:
        ConfigurationError: If pandas is not installed, or the items are neither all
            invoices nor all pairs.
    """
    pd = _require("pandas", "to_pandas")
    columns = _columns(invoices)
    kinds = _Kinds(
        time=pd.DatetimeTZDtype(unit="us", tz="UTC"),
        count="Int64",
        boolean="boolean",
        string="string",
        other=object,
    )
    series = {
        name: pd.Series(values, dtype=kinds.of(name), name=name) for name, values in columns.items()
    }
    frame: pandas.DataFrame = pd.DataFrame(series, columns=list(columns))
    return frame


def _polars_decimal(pl: Any, values: list[Decimal | None], name: str) -> Any:
    """One exact Decimal column: the scale the most precise amount needs, or an error."""
    present = [v for v in values if v is not None]
    scale = max((max(0, -int(v.as_tuple().exponent)) for v in present), default=0)
    for value in present:
        # The digits of the 128-bit integer polars stores: the coefficient's, shifted to the
        # column's scale (never negative: the scale is at least every value's own); and the
        # precision must be at least the scale.
        _, coefficient, exponent = value.as_tuple()
        shifted = len(coefficient) + int(exponent) + scale if any(coefficient) else 1
        digits = max(shifted, scale)
        if digits > _POLARS_DIGITS:
            raise ConfigurationError(
                f"{name} {value} needs {digits} digits at scale {scale}; polars holds "
                f"{_POLARS_DIGITS}: use to_pandas(), whose Decimal columns hold any amount"
            )
    return pl.Series(name, values, dtype=pl.Decimal(_POLARS_DIGITS, scale))


def to_polars(invoices: Iterable[Invoice] | Iterable[tuple[str, Invoice]]) -> polars.DataFrame:
    """Return the invoices as a polars DataFrame, one row per invoice, in order.

    Columns: amounts as ``Decimal(38, scale)`` with the scale the most precise amount needs;
    ``created`` as ``Datetime("us", "UTC")``; ``attempt_count`` as ``Int64``; ``attempted``
    and ``auto_advance`` as ``Boolean``; the other fields as ``String``; unknown fields as
    ``Object`` columns, verbatim. Missing values are null. Given ``(account_id, invoice)``
    pairs, the first column is ``account_id``, as ``String``.

    Args:
        invoices: Invoices or ``(account_id, invoice)`` pairs, as for :func:`to_pandas`.

    Returns:
        A new DataFrame.

    Raises:
        ConfigurationError: If polars is not installed, the items are neither all invoices
            nor all pairs, or an amount needs more than 38 digits at the column's scale
            (polars' limit), which would otherwise be rounded.
    """
    pl = _require("polars", "to_polars")
    columns = _columns(invoices)
    kinds = _Kinds(
        time=pl.Datetime("us", "UTC"),
        count=pl.Int64,
        boolean=pl.Boolean,
        string=pl.String,
        other=pl.Object,
    )
    series = [
        _polars_decimal(pl, values, name)
        if name in _AMOUNTS
        else pl.Series(name, values, dtype=kinds.of(name))
        for name, values in columns.items()
    ]
    frame: polars.DataFrame = pl.DataFrame(series)
    return frame
