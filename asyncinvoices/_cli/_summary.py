"""Aggregating invoices into the summary view: pure bookkeeping with exact Decimal sums.

:class:`Aggregator` takes invoices one at a time, so ``asyncinvoices summary`` works on an
account of any size in constant memory; :func:`render` turns the result into the text a
person reads. Nothing here does I/O.

"Spend" is ``amount_paid``: what was actually charged. Amounts are shown as Cloudflare sends
them (most likely minor units, i.e. cents), never rounded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Final, TypeVar

import attrs

from asyncinvoices._models import Invoice

from ._chart import bar_chart

__all__ = ["Aggregator", "Summary", "Totals", "render", "summarize"]

_ZERO: Final = Decimal(0)
#: The month key of invoices without a ``created`` time.
UNDATED: Final = "undated"


@attrs.define
class Totals:
    """Running totals of a group of invoices.

    Attributes:
        count: How many invoices.
        due: The sum of ``amount_due``.
        paid: The sum of ``amount_paid``.
        remaining: The sum of ``amount_remaining``.
    """

    count: int = 0
    due: Decimal = _ZERO
    paid: Decimal = _ZERO
    remaining: Decimal = _ZERO

    def add(self, invoice: Invoice) -> None:
        """Count one invoice in."""
        self.count += 1
        self.due += invoice.amount_due
        self.paid += invoice.amount_paid
        self.remaining += invoice.amount_remaining


@attrs.frozen
class Summary:
    """Totals of a set of invoices, by currency, by currency and status, by currency and month.

    Attributes:
        total: Every invoice together (amounts of different currencies are not summed here;
            only ``count`` is meaningful).
        by_currency: Totals per currency code, upper-case.
        by_status: Totals per ``(currency, status)``; a missing status is ``"-"``.
        by_month: Totals per ``(currency, "YYYY-MM")`` of ``created`` in UTC, or
            ``(currency, "undated")``.
    """

    total: Totals
    by_currency: dict[str, Totals]
    by_status: dict[tuple[str, str], Totals]
    by_month: dict[tuple[str, str], Totals]


K = TypeVar("K")


def _bump(table: dict[K, Totals], key: K, invoice: Invoice) -> None:
    totals = table.get(key)
    if totals is None:
        totals = table[key] = Totals()
    totals.add(invoice)


class Aggregator:
    """Accumulates a :class:`Summary` one invoice at a time."""

    def __init__(self) -> None:
        self._total = Totals()
        self._currency: dict[str, Totals] = {}
        self._status: dict[tuple[str, str], Totals] = {}
        self._month: dict[tuple[str, str], Totals] = {}

    def add(self, invoice: Invoice) -> None:
        """Count one invoice in."""
        currency = invoice.currency.upper()
        month = invoice.created.strftime("%Y-%m") if invoice.created is not None else UNDATED
        self._total.count += 1
        _bump(self._currency, currency, invoice)
        _bump(self._status, (currency, invoice.status or "-"), invoice)
        _bump(self._month, (currency, month), invoice)

    def result(self) -> Summary:
        """Return the summary of everything added so far, keys sorted."""
        return Summary(
            total=attrs.evolve(self._total),
            by_currency=dict(sorted(self._currency.items())),
            by_status=dict(sorted(self._status.items())),
            by_month=dict(sorted(self._month.items())),
        )


def summarize(invoices: Iterable[Invoice]) -> Summary:
    """Return the :class:`Summary` of ``invoices``."""
    aggregator = Aggregator()
    for invoice in invoices:
        aggregator.add(invoice)
    return aggregator.result()


def _places(summary: Summary) -> int:
    """The most decimal places any amount of the summary has, so columns line up exactly."""
    places = 0
    for totals in summary.by_status.values():
        for value in (totals.due, totals.paid, totals.remaining):
            exponent = value.as_tuple().exponent
            if isinstance(exponent, int) and -exponent > places:
                places = -exponent
    return places


def _table(
    title: str, header: tuple[str, ...], rows: list[tuple[str, ...]], *, left: int = 1
) -> list[str]:
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        aligned = (
            cell.ljust(width) if i < left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        return "  ".join(aligned).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return [title, line(header), rule, *(line(r) for r in rows), ""]


def render(summary: Summary, *, width: int = 80, chart: bool = True) -> str:
    """Return the summary view as text: totals, statuses, months and a spend chart per currency.

    Args:
        summary: What to show.
        width: The terminal width to fit the bar chart into.
        chart: Whether to draw the bar chart of spend per month.
    """
    if not summary.total.count:
        return "No invoices.\n"
    places = _places(summary)

    def _amount(value: Decimal) -> str:
        # Thousands separators and a fixed number of places, enough for every amount of
        # the summary, so nothing is rounded.
        return f"{value:,.{places}f}"

    out: list[str] = [
        f"{summary.total.count:,} invoices; amounts as sent by Cloudflare (likely cents), "
        "summed exactly.",
        "",
    ]
    out += _table(
        "Totals by currency",
        ("cur", "invoices", "due", "paid", "remaining"),
        [
            (cur, f"{t.count:,}", _amount(t.due), _amount(t.paid), _amount(t.remaining))
            for cur, t in summary.by_currency.items()
        ],
    )
    out += _table(
        "By status",
        ("cur", "status", "invoices", "due", "paid", "remaining"),
        [
            (cur, status, f"{t.count:,}", _amount(t.due), _amount(t.paid), _amount(t.remaining))
            for (cur, status), t in summary.by_status.items()
        ],
        left=2,
    )
    for currency in summary.by_currency:
        out += _months(summary, currency, _amount, width=width, chart=chart)
    return "\n".join(out)


def _months(
    summary: Summary,
    currency: str,
    _amount: Callable[[Decimal], str],
    *,
    width: int,
    chart: bool,
) -> list[str]:
    header = ("month", "invoices", "due", "paid")
    rows = [
        (month, f"{t.count:,}", _amount(t.due), _amount(t.paid))
        for (cur, month), t in summary.by_month.items()
        if cur == currency
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(w) for cell, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join((first, *rest))

    title = f"{currency} per month (UTC)" + (", bars: spend (amount_paid)" if chart else "")
    out = [title, line(header).rstrip(), "  ".join("-" * w for w in widths)]
    if chart:
        paid = {month: t.paid for (cur, month), t in summary.by_month.items() if cur == currency}
        bars = [(line(r), paid[r[0]] if r[0] != UNDATED else _ZERO) for r in rows]
        out += bar_chart(bars, width=width, values=False)
    else:
        out += [line(r).rstrip() for r in rows]
    return [*out, ""]
