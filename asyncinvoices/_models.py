"""The data asyncinvoices hands out: invoices, pages, pagination, settings and run statistics.

Plain frozen attrs classes with keyword-only fields and no I/O. Turning JSON into them is the
converter's job (``_wire/converter.py``); these classes know nothing about the wire.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Literal, TypeGuard

import attrs

__all__ = [
    "Account",
    "AccountStats",
    "FetchStats",
    "Invoice",
    "InvoicePage",
    "InvoiceType",
    "ManyStats",
    "PageNumbers",
    "Pagination",
    "RateLimit",
    "RateWait",
    "WaitReason",
]

InvoiceType = Literal["all", "auto", "manual"]
"""The ``type`` filter of the endpoint: auto top-ups, manual top-ups, or both (the default)."""

INVOICE_TYPES: tuple[InvoiceType, ...] = ("all", "auto", "manual")


def _no_converter(invoice: Invoice, mode: Any) -> dict[str, Any]:
    raise RuntimeError("asyncinvoices._wire.converter was not imported")  # pragma: no cover


#: Turns an invoice into the API's JSON object: set by ``_wire/converter.py`` when it is imported
#: (``import asyncinvoices`` does), so that the models depend on nothing and the converter
#: on the models, one way.
_unstructurer: Callable[[Invoice, Any], dict[str, Any]] = _no_converter


@attrs.frozen(kw_only=True)
class Invoice:
    """One invoice of the account's AI Gateway billing history.

    Amounts are exact :class:`~decimal.Decimal` values taken from the JSON text itself, so
    sums are exact; they can be fractional, such as ``640.19``. Cloudflare does not document
    their unit (currency units or cents), so none is assumed. Optional fields Cloudflare
    leaves out or sends as ``null`` are ``None``.

    Attributes:
        amount_due: What the invoice asks for.
        amount_paid: What has been paid.
        amount_remaining: What is still owed.
        currency: Three-letter currency code as sent, e.g. ``"usd"``.
        id: The Stripe-style invoice id, e.g. ``"in_1Nv..."``.
        attempt_count: How many payment attempts were made.
        attempted: Whether a payment attempt was made.
        auto_advance: Whether Stripe advances the invoice automatically.
        created: When the invoice was created, timezone-aware UTC.
        created_by: Who or what created the invoice.
        description: Free text.
        invoice_origin: Where the invoice came from (auto or manual top-up).
        invoice_pdf: A link to the PDF rendering.
        status: A free string; Cloudflare documents draft, open, paid, uncollectible, void.
        extra: Every field the API sent that this version does not know, verbatim.
    """

    amount_due: Decimal
    amount_paid: Decimal
    amount_remaining: Decimal
    currency: str
    id: str | None = None
    attempt_count: int | None = None
    attempted: bool | None = None
    auto_advance: bool | None = None
    created: dt.datetime | None = None
    created_by: str | None = None
    description: str | None = None
    invoice_origin: str | None = None
    invoice_pdf: str | None = None
    status: str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, eq=True, hash=False)

    def to_dict(self, *, mode: Literal["python", "json"] = "python") -> dict[str, Any]:
        """Return the invoice as the API's JSON object, unknown fields included.

        Every field under the API's name (``None`` where Cloudflare sent nothing), then the
        fields of ``extra``. Amounts are never floats: exact
        :class:`~decimal.Decimal` values in ``python`` mode, their exact decimal strings
        (``"640.19"``) in ``json`` mode. ``created`` is a UTC datetime in ``python`` mode and
        an ISO-8601 string (``"2025-01-01T00:00:00Z"``) in ``json`` mode. The ``python`` form
        structures back into an equal invoice.

        Args:
            mode: ``"python"`` or ``"json"`` (ready for ``json.dumps``).

        Returns:
            A new dict.

        Raises:
            ConfigurationError: If ``mode`` is neither ``"python"`` nor ``"json"``.

        Example:
            >>> from decimal import Decimal
            >>> from asyncinvoices import Invoice
            >>> invoice = Invoice(amount_due=Decimal("640.19"), amount_paid=Decimal(0),
            ...                   amount_remaining=Decimal("640.19"), currency="usd",
            ...                   extra={"tax": Decimal("0.5")})
            >>> invoice.to_dict(mode="json")["amount_due"], invoice.to_dict()["tax"]
            ('640.19', Decimal('0.5'))
        """
        return _unstructurer(self, mode)


@attrs.frozen(kw_only=True)
class PageNumbers:
    """The numbers every Cloudflare list endpoint reports about its paging, each ``None``
    when not reported; each endpoint's block adds its own (:class:`Pagination`, the account
    listing's ``result_info``).

    Attributes:
        page: The page number the server says it returned (1-based).
        per_page: The page size the server used, which may be smaller than the one asked for.
        total_count: How many items match, in all pages.
    """

    page: int | None = None
    per_page: int | None = None
    total_count: int | None = None


@attrs.frozen(kw_only=True)
class Pagination(PageNumbers):
    """The pagination block of a response, as the server reported it.

    Read from ``result.pagination``, or from the top-level ``result_info`` when the former is
    missing. Every field is ``None`` when the server did not report it.

    Attributes:
        page: The page number the server says it returned (1-based), ``None`` if not reported.
        per_page: The page size the server used, which may be smaller than the one asked
            for; ``None`` if not reported.
        total_count: How many invoices match the filter, or ``None`` when not reported.
        has_more: Whether the server says more pages follow, or ``None`` when not reported.
    """

    has_more: bool | None = None


@attrs.frozen(kw_only=True)
class InvoicePage:
    """One page of invoices, as fetched.

    Attributes:
        number: The page number that was requested.
        invoices: The invoices on the page, in the server's order.
        pagination: What the server reported about paging.
        ray_id: Cloudflare's ``cf-ray`` for the response, useful when asking support.
    """

    number: int
    invoices: tuple[Invoice, ...]
    pagination: Pagination
    ray_id: str | None = None


# The rules for the numbers a caller passes in (sizes, counts, seconds), in the lowest layer,
# so that the settings (`_config`), the models' own fields and the retry policy's share them;
# each raises its own error. A bool is not a number here, though Python says it is an int.


def is_number(value: object) -> TypeGuard[int | float]:
    """Whether ``value`` is an int or a float, and not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_whole(value: object) -> TypeGuard[int]:
    """Whether ``value`` is an int, and not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def whole_at_least(value: object, minimum: int) -> TypeGuard[int]:
    """Whether ``value`` is an int (:func:`is_whole`) of at least ``minimum``."""
    return is_whole(value) and value >= minimum


def number_at_least(
    value: object, minimum: float, *, inclusive: bool = True
) -> TypeGuard[int | float]:
    """Whether ``value`` is a number (:func:`is_number`) of at least ``minimum``, or above it
    when not ``inclusive``; NaN is neither."""
    if not is_number(value):
        return False
    return value >= minimum if inclusive else value > minimum


def validated(
    rule: Callable[[object], bool], wanted: str
) -> Callable[[object, attrs.Attribute[Any], object], None]:
    """An attrs validator that raises ``ValueError`` unless ``rule(value)``.

    Args:
        rule: The check, e.g. ``functools.partial(whole_at_least, minimum=1)``.
        wanted: What the value must be, for the message: ``"{name} must be {wanted}"``.
    """

    def validate(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not rule(value):
            raise ValueError(f"{attribute.name} must be {wanted}, got {value!r}")

    return validate


_positive_int = validated(functools.partial(whole_at_least, minimum=1), "a positive integer")
_positive_float = validated(
    functools.partial(number_at_least, minimum=0, inclusive=False), "a positive number"
)


@attrs.frozen(kw_only=True)
class RateLimit:
    """A client-side quota: at most ``requests`` requests in any ``window``-second window.

    Cloudflare allows 1,200 requests per five minutes per user or token, counted across the
    dashboard, API keys and tokens together (docs/cloudflare-api.md, "Rate limits"); exceeding it
    blocks every call for five minutes. Lower the quota when other tools share the token.

    Attributes:
        requests: How many requests any window may hold.
        window: The window's length in seconds.

    Raises:
        ValueError: If either value is not positive.

    Example:
        >>> from asyncinvoices import RateLimit
        >>> RateLimit(requests=600)  # leave half the quota to other tools
        RateLimit(requests=600, window=300.0)
    """

    requests: int = attrs.field(default=1200, validator=_positive_int)
    window: float = attrs.field(default=300.0, validator=_positive_float)


@attrs.frozen(kw_only=True)
class FetchStats:
    """A snapshot of what one run of :meth:`InvoiceClient.invoices` has done so far.

    Attributes:
        pages: Pages received and accepted.
        planned_pages: How many pages the run expects in all, once known.
        invoices: Invoices yielded to the consumer.
        total_count: The ``total_count`` the server last reported, once known.
        requests: HTTP requests sent, retries included.
        retries: Requests that were retries of a failed attempt.
        throttled_seconds: Seconds spent waiting on the rate governor or a ``Retry-After``.
        elapsed: Seconds since the run started.
        drift: How many times the run saw the data move: ``total_count`` changed, or a page
            repeated invoices already delivered.
        duplicates_skipped: Invoices received again (pages shifted by new invoices) and
            skipped so that each is yielded once.
        refetched_pages: Pages fetched again to re-align after drift.
        unordered: With ``since``, whether the server's order turned out not to be newest
            first by ``created``, so that every page was fetched and filtered.
        page_size: The invoices per page the server serves this run, once the first page
            showed it: the size asked for, or less when the server lowered it.
        fewest_requests: The fewest requests this run could have cost at that page size:
            the pages holding ``total_count`` invoices (with ``since``, the invoices down to
            the first one older than it). ``None`` until both are known. ``requests`` minus
            this is what retries, page-size probes and data moving under the run cost.
    """

    pages: int = 0
    planned_pages: int | None = None
    invoices: int = 0
    total_count: int | None = None
    requests: int = 0
    retries: int = 0
    throttled_seconds: float = 0.0
    elapsed: float = 0.0
    drift: int = 0
    duplicates_skipped: int = 0
    refetched_pages: int = 0
    unordered: bool = False
    page_size: int | None = None
    fewest_requests: int | None = None


WaitReason = Literal["quota", "server", "retry-after"]
"""Why a request waits: the client's own quota is full, the server's ``Ratelimit`` header said
nothing remains, or a 429 asked to retry after a while."""


@attrs.frozen(kw_only=True)
class RateWait:
    """A request has started waiting for the rate limit; passed to ``on_wait``.

    Waiting is the rate limit doing its job: going over Cloudflare's quota blocks the token for
    five minutes. An application shows it so that a held walk does not look stuck.

    Attributes:
        seconds: How long this wait will last, as far as the client knows when it starts.
        reason: ``"quota"`` (the client's sliding window is full, or the server's
            ``Ratelimit-Policy`` is), ``"server"`` (a ``Ratelimit`` header said nothing
            remains) or ``"retry-after"`` (a 429 asked to wait).
        page: The page the waiting request is for, when known.
    """

    seconds: float
    reason: WaitReason
    page: int | None = None


@attrs.frozen(kw_only=True)
class Account:
    """One account the credentials can read, as ``GET /accounts`` lists it.

    docs/cloudflare-api.md, "Listing accounts": ``created_on`` is an ISO-8601 string on the wire
    (``2014-03-01T12:21:02.0000Z``); here it is a timezone-aware UTC datetime.

    Attributes:
        id: The 32-hexadecimal-character account id.
        name: The account's name.
        type: ``"standard"`` or ``"enterprise"`` as sent, or ``None`` when absent.
        created_on: When the account was created, timezone-aware UTC, or ``None``.
        settings: The account's settings object as sent, or ``None``.
        extra: Every field the API sent that this version does not know (``managed_by``
            among them), verbatim.
    """

    id: str
    name: str
    type: str | None = None
    created_on: dt.datetime | None = None
    settings: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, eq=True, hash=False)


@attrs.frozen(kw_only=True)
class AccountStats:
    """A snapshot of what one run of :meth:`InvoiceClient.accounts` has done so far.

    Attributes:
        pages: Listing pages received.
        planned_pages: How many pages the listing has in all, once known.
        accounts: Accounts yielded to the consumer.
        total_count: The ``total_count`` the server last reported, once known.
        requests: HTTP requests sent, retries included.
        retries: Requests that were retries of a failed attempt.
        throttled_seconds: Seconds spent waiting on the rate governor or a ``Retry-After``.
        elapsed: Seconds since the run started.
        page_size: The accounts per page the server serves, once the first page showed it.
        fewest_requests: The fewest requests the listing could have cost at that page size,
            once ``total_count`` is known.
    """

    pages: int = 0
    planned_pages: int | None = None
    accounts: int = 0
    total_count: int | None = None
    requests: int = 0
    retries: int = 0
    throttled_seconds: float = 0.0
    elapsed: float = 0.0
    page_size: int | None = None
    fewest_requests: int | None = None


@attrs.frozen(kw_only=True)
class ManyStats:
    """A snapshot of one run of :meth:`InvoiceClient.invoices_many`, every account added up.

    Attributes:
        accounts_done: Accounts finished: walked to their end, or failed and skipped.
        accounts_total: How many accounts the run walks, once known (with ``account_ids=None``
            it grows with the listing until its ``total_count`` is known).
        failed: Accounts that failed and were skipped (``on_error="skip"``).
        pages: Invoice pages received and accepted.
        invoices: Invoices yielded to the consumer.
        requests: HTTP requests sent, retries and the account listing included.
        retries: Requests that were retries of a failed attempt.
        throttled_seconds: Seconds spent waiting on the rate governor or a ``Retry-After``.
        elapsed: Seconds since the run started.
        drift: Times the data was seen to move, summed over the accounts.
        duplicates_skipped: Invoices received again and skipped, summed over the accounts.
        refetched_pages: Pages fetched again to re-align, summed over the accounts.
        fewest_requests: The fewest requests the run could have cost at the page sizes the
            server serves: ``FetchStats.fewest_requests`` summed over the accounts
            that know it, and the account listing's. ``None`` while none is known.
    """

    accounts_done: int = 0
    accounts_total: int | None = None
    failed: int = 0
    pages: int = 0
    invoices: int = 0
    requests: int = 0
    retries: int = 0
    throttled_seconds: float = 0.0
    elapsed: float = 0.0
    drift: int = 0
    duplicates_skipped: int = 0
    refetched_pages: int = 0
    fewest_requests: int | None = None
