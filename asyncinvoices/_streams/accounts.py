"""The account listing, ``GET /accounts``: decoding its pages and streaming every account.

docs/cloudflare-api.md, "Listing accounts": ``result`` is a LIST of accounts, the paging lives in
``result_info`` only (``page``, ``per_page``, ``count``, ``total_count``, ``total_pages``) and
there is no ``has_more``; ``per_page`` is at most 50 (and at least 5 in some copies of the
schema). So the walk fetches page 1, learns ``total_pages`` from it and fetches the rest
concurrently, in order; without ``result_info`` it goes one page at a time until a short or
empty page.

Decoding is pure (``(status, headers, body)`` in, an :class:`AccountPage` or a typed error
out); the requests go through the client's fetcher, so the listing shares the concurrency
limit, the rate governor and the retries with every invoice walk of the client.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from asyncinvoices._errors import ConfigurationError
from asyncinvoices._http.counts import RequestCounts
from asyncinvoices._http.telemetry import NO_SCOPE, Scope
from asyncinvoices._models import Account, AccountStats, is_whole
from asyncinvoices._streams.channel import Channel, Spawn, Stopwatch, StreamContext
from asyncinvoices._walk.driver import PageSizeProbe, fetch_first
from asyncinvoices._walk.in_order import InOrder, in_order
from asyncinvoices._walk.listing import (
    LISTING_MAX_PER_PAGE,
    LISTING_MIN_PER_PAGE,
    LISTING_SIZES,
    last_page,
    listing_served,
)
from asyncinvoices._walk.page_size import PageSizes
from asyncinvoices._wire.accounts import (
    AccountPage,
)

__all__ = [
    "AccountStream",
    "ListingFetch",
    "check_listing_options",
]


# -- decoding ------------------------------------------------------------------------------


# -- the walk ------------------------------------------------------------------------------

ListingFetch = Callable[[int, int], Awaitable[AccountPage]]
"""Fetches one listing page, retries included: ``await fetch(page, per_page)``."""


async def _in_order(
    fetch: ListingFetch,
    per_page: int,
    last: int,
    ahead: int,
    emit: Callable[[AccountPage], Awaitable[bool]],
) -> None:
    """Fetch pages 2 to ``last`` of ``per_page`` concurrently, at most ``ahead`` beyond the
    one delivered, and ``emit`` them in order until one returns False."""

    async def walk(fetches: InOrder[AccountPage]) -> None:
        started = 1
        for number in range(2, last + 1):
            while started < last and started < number + ahead:
                started += 1
                fetches.start(started, functools.partial(fetch, started, per_page))
            if not await emit(await fetches.take(number)):
                break

    await in_order(walk)


class AccountStream(StreamContext):
    """An async iterator over every account the credentials can read, in the listing's order.

    Returned by :meth:`InvoiceClient.accounts`. Use it with ``async for``, ideally inside
    ``async with`` so that leaving early cancels the requests still in flight::

        async with client.accounts() as accounts:
            async for account in accounts:
                print(account.id, account.name)

    An account listed twice (the listing moved while it was read) is yielded once.
    """

    def __init__(
        self,
        *,
        spawn: Spawn,
        fetch: ListingFetch,
        counts: RequestCounts,
        per_page: int | None,
        read_ahead: int,
        on_progress: Callable[[AccountStats], object] | None,
        clock: Callable[[], float],
        probe: PageSizeProbe | None = None,
        scope: Scope = NO_SCOPE,
    ) -> None:
        self._fetch = fetch
        self._counts = counts
        self._wanted = per_page
        self._probe = PageSizeProbe(PageSizes(LISTING_SIZES)) if probe is None else probe
        self._size: int | None = None  # the page size the server serves, once page 1 showed it
        self._read_ahead = read_ahead
        self._on_progress = on_progress
        self._watch = Stopwatch(clock)
        self._channel: Channel[AccountPage] = Channel(
            spawn, scope.wrap(self._produce, per_page=per_page)
        )
        self._pending: list[Account] = []
        self._seen: set[str] = set()
        self._pages = 0
        self._planned: int | None = None
        self._total: int | None = None
        self._delivered = 0

    @property
    def total_count(self) -> int | None:
        """The ``total_count`` the server reported, or ``None`` until known."""
        return self._total

    @property
    def stats(self) -> AccountStats:
        """A snapshot of the listing so far."""
        return AccountStats(
            pages=self._pages,
            planned_pages=self._planned,
            accounts=self._delivered,
            total_count=self._total,
            **self._watch.counted(self._counts),
            page_size=self._size,
            fewest_requests=(
                None
                if self._size is None or self._total is None
                else max(1, -(-self._total // self._size))
            ),
        )

    async def _produce(self, send: Callable[[AccountPage], Awaitable[None]]) -> None:
        first, asked = await fetch_first(
            self._probe, self._wanted, functools.partial(self._fetch, 1), listing_served
        )
        size = self._size = listing_served(first, asked)
        last = last_page(first.info, asked, size)
        self._planned = last
        await send(first)
        if last is None:
            page = first
            # No result_info: a full page may have a successor, a short or empty one ends it.
            while len(page.accounts) >= size:
                page = await self._fetch(page.number + 1, size)
                await send(page)
            return

        async def emit(page: AccountPage) -> bool:
            await send(page)
            return bool(page.accounts)  # an empty page: the listing shrank, nothing follows

        if first.accounts:
            await _in_order(self._fetch, size, last, max(1, self._read_ahead), emit)

    def _start(self) -> None:
        if not self._channel.started and not self._channel.closed:
            self._watch.start()
        self._channel.start()

    def __aiter__(self) -> AccountStream:
        return self

    async def __anext__(self) -> Account:
        while not self._pending:
            self._start()
            page = await self._channel.receive()
            self._pages += 1
            if page.info is not None and page.info.total_count is not None:
                self._total = page.info.total_count
            fresh = [a for a in page.accounts if a.id not in self._seen]
            self._seen.update(a.id for a in fresh)
            self._pending = fresh[::-1]
            if self._on_progress is not None:
                self._on_progress(self.stats)
        self._delivered += 1
        return self._pending.pop()

    async def aclose(self) -> None:
        """Stop the listing: cancel every request in flight and wait until they are gone."""
        await self._channel.aclose()

    def __del__(self) -> None:
        channel = getattr(self, "_channel", None)
        if channel is not None:
            channel.abandon()

    def __repr__(self) -> str:
        return f"<AccountStream accounts={self._delivered}>"


def check_listing_options(
    name: object, direction: object, per_page: int | None, default: int | None
) -> int | None:
    """Validate ``accounts()``'s options and return the page size to ask for.

    ``None`` (neither ``per_page`` nor a client's ``default``): the largest the server
    accepts, from :data:`LISTING_SIZES`.

    Raises:
        ConfigurationError: For a name that is not a non-empty string, a direction other
            than ``"asc"``/``"desc"``, or a ``per_page`` outside 5 to 50.
    """
    if name is not None and (not isinstance(name, str) or not name):
        raise ConfigurationError("name must be a non-empty string or None")
    if direction not in (None, "asc", "desc"):
        raise ConfigurationError(f"direction must be 'asc', 'desc' or None, got {direction!r}")
    if per_page is None:
        if default is None:
            return None
        # The client's page size is for invoices; the listing allows 5 to 50.
        return min(LISTING_MAX_PER_PAGE, max(LISTING_MIN_PER_PAGE, default))
    if not is_whole(per_page):
        raise ConfigurationError("per_page must be a whole number")
    if not LISTING_MIN_PER_PAGE <= per_page <= LISTING_MAX_PER_PAGE:
        raise ConfigurationError(
            f"per_page for the account listing must be {LISTING_MIN_PER_PAGE} to "
            f"{LISTING_MAX_PER_PAGE}, got {per_page}"
        )
    return per_page
