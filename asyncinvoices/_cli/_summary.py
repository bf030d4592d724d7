"""Aggregating invoices into the summary view: pure bookkeeping with exact Decimal sums.

:class:`Aggregator` takes invoices one at a time, so ``asyncinvoices summary`` works on an
account of any size in constant memory; :func:`render` turns the result into the text a
person reads. Nothing here does I/O.

"Spend" is ``amount_paid``: what was actually charged. Amounts are shown as Cloudflare sends
them, never rounded; their unit is not documented (see :data:`AMOUNTS_NOTE`).

:func:`render` is the table a person reads; :func:`render_csv` and :func:`render_json` are the
same summary for scripts. Over several accounts each takes the summary of every account too,
and shows one row per account and currency beside the combined totals.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, Final, TypeVar

import attrs

from asyncinvoices import Invoice

from ._chart import bar_chart
from ._formats import dumps_record

__all__ = [
    "AMOUNTS_NOTE",
    "SUMMARY_CSV_COLUMNS",
    "SUMMARY_FORMATS",
    "Aggregator",
    "Summary",
    "Totals",
    "render",
    "render_csv",
    "render_format",
    "render_json",
    "summarize",
]

_ZERO: Final = Decimal(0)
#: The month key of invoices without a ``created`` time.
UNDATED: Final = "undated"
#: The values ``summary --format`` accepts.
SUMMARY_FORMATS: Final = ("table", "csv", "json")
#: The header of ``summary --format csv``.
SUMMARY_CSV_COLUMNS: Final = (
    "account_id",
    "currency",
    "invoices",
    "amount_due",
    "amount_paid",
    "amount_remaining",
)
#: The ``account_id`` of the combined rows of ``summary --format csv``: no account id (32
#: hexadecimal characters) can be mistaken for it.
ALL_ACCOUNTS: Final = "all"
#: What is and is not known of the unit of amounts, said once wherever amounts are summed.
#: Cloudflare's schema types them as plain numbers beside a currency code; its billing is
#: Stripe-backed; the unit is documented nowhere, and the amounts seen can have fractions.
AMOUNTS_NOTE: Final = (
    "Amounts are exactly as Cloudflare sends them, summed without rounding. Cloudflare\n"
    "documents them only as numbers with a currency code, and its billing is Stripe-backed,\n"
    "but their unit (currency units or cents) is not documented: none is assumed here."
)


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


def _sums(totals: Totals) -> tuple[Decimal, Decimal, Decimal]:
    return totals.due, totals.paid, totals.remaining


def _account_rows(accounts: Mapping[str, Summary]) -> list[tuple[str, str | None, Totals]]:
    """One row per account and currency, in the accounts' order; an account without invoices
    has one row of zeros and no currency."""
    rows: list[tuple[str, str | None, Totals]] = []
    for account_id, summary in accounts.items():
        if not summary.by_currency:
            rows.append((account_id, None, Totals()))
        rows += [(account_id, cur, t) for cur, t in summary.by_currency.items()]
    return rows


def render(
    summary: Summary,
    *,
    width: int = 80,
    chart: bool = True,
    accounts: Mapping[str, Summary] | None = None,
) -> str:
    """Return the summary view as text: totals, statuses, months and a spend chart per currency.

    Args:
        summary: What to show.
        width: The terminal width to fit the bar chart into.
        chart: Whether to draw the bar chart of spend per month.
        accounts: The summary of each account, in order, when there are several: a table
            with one row per account and currency follows the totals.
    """
    if not summary.total.count:
        return "No invoices.\n"
    places = _places(summary)

    def _amount(value: Decimal) -> str:
        # Thousands separators and a fixed number of places, enough for every amount of
        # the summary, so nothing is rounded.
        return f"{value:,.{places}f}"

    out: list[str] = [f"{summary.total.count:,} invoices.", AMOUNTS_NOTE, ""]
    out += _table(
        "Totals by currency",
        ("cur", "invoices", "due", "paid", "remaining"),
        [
            (cur, f"{t.count:,}", _amount(t.due), _amount(t.paid), _amount(t.remaining))
            for cur, t in summary.by_currency.items()
        ],
    )
    if accounts is not None:
        out += _table(
            "By account",
            ("account", "cur", "invoices", "due", "paid", "remaining"),
            [
                (account_id, cur or "-", f"{t.count:,}", *(_amount(v) for v in _sums(t)))
                for account_id, cur, t in _account_rows(accounts)
            ],
            left=2,
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


def render_csv(summary: Summary, accounts: Mapping[str, Summary]) -> str:
    """Return ``summary --format csv``: one row per account and currency, then the combined
    row of each currency (``account_id`` ``all``); amounts as exact decimals.

    Args:
        summary: Every invoice together.
        accounts: The summary of each account, in order (one entry for one account).
    """
    out = io.StringIO(newline="")
    rows = csv.writer(out, lineterminator="\r\n")
    rows.writerow(SUMMARY_CSV_COLUMNS)

    def cells(account_id: str, currency: str | None, totals: Totals) -> list[str]:
        sums = (format(v, "f") for v in _sums(totals))
        return [account_id, currency or "", str(totals.count), *sums]

    rows.writerows(cells(*row) for row in _account_rows(accounts))
    rows.writerows(cells(ALL_ACCOUNTS, cur, t) for cur, t in summary.by_currency.items())
    return out.getvalue()


def render_json(summary: Summary, accounts: Mapping[str, Summary]) -> str:
    """Return ``summary --format json``: one object with the invoice count, ``accounts`` (one
    entry per account and currency), ``total``, ``by_status`` and ``by_month`` (per currency);
    amounts are exact JSON numbers.

    Args:
        summary: Every invoice together.
        accounts: The summary of each account, in order (one entry for one account).
    """

    def sums(totals: Totals) -> dict[str, Any]:
        due, paid, remaining = _sums(totals)
        return {
            "invoices": totals.count,
            "amount_due": due,
            "amount_paid": paid,
            "amount_remaining": remaining,
        }

    document = {
        "invoices": summary.total.count,
        "accounts": [
            {"account_id": account_id, "currency": cur, **sums(t)}
            for account_id, cur, t in _account_rows(accounts)
        ],
        "total": [{"currency": cur, **sums(t)} for cur, t in summary.by_currency.items()],
        "by_status": [
            {"currency": cur, "status": None if status == "-" else status, **sums(t)}
            for (cur, status), t in summary.by_status.items()
        ],
        "by_month": [
            {"currency": cur, "month": None if month == UNDATED else month, **sums(t)}
            for (cur, month), t in summary.by_month.items()
        ],
    }
    return dumps_record(document) + "\n"


def render_format(
    format: str, summary: Summary, accounts: Mapping[str, Summary], *, width: int = 80
) -> str:
    """Return ``summary --format FORMAT``: the table, CSV or JSON.

    Args:
        format: One of :data:`SUMMARY_FORMATS`.
        summary: Every invoice together.
        accounts: The summary of each account, in order; the table shows them only when
            there are several.
        width: The terminal width to fit the table's bar chart into.
    """
    if format == "csv":
        return render_csv(summary, accounts)
    if format == "json":
        return render_json(summary, accounts)
    return render(summary, width=width, accounts=accounts if len(accounts) > 1 else None)
