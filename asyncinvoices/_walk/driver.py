"""Carries out a walk over an account's pages: concurrent, in order, exactly once.

Every decision is the planner's (``_walk/machines.py``): its machines say which page to request
next, when to wait, what to deliver and when the walk moves to its next phase. This module
only does what they ask: it sends the requests, runs the aligned phase's requests
concurrently in a task group, waits for the page at the head and emits pages in order.

The concurrent requests run in :func:`.in_order.in_order`, shared with the account listing:
each stores its result or exception instead of raising it, so a failure never tears down the
task group behind the consumer's back; the walk takes the pages in order, cancels what is
still in flight, and raises the error in order.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from asyncinvoices._errors import BadRequestError, ConfigurationError
from asyncinvoices._models import InvoicePage, whole_at_least
from asyncinvoices._walk.actions import AlignAt, Await, Done, Request, Restart, Seek
from asyncinvoices._walk.in_order import InOrder, in_order
from asyncinvoices._walk.ledger import Ledger
from asyncinvoices._walk.machines import (
    AlignedWindow,
    AnchoredSearch,
    FirstPage,
    Machine,
    Walk,
    WalkProgress,
)
from asyncinvoices._walk.pages import Anchor
from asyncinvoices._wire.protocol import Received, decoded

from .page_size import PageSizes

__all__ = [
    "Emit",
    "Fetch",
    "PageSizeProbe",
    "Paginator",
    "WalkProgress",
    "check_bounds",
    "fetch_first",
]

T = TypeVar("T")

Fetch = Callable[[int, int], Awaitable[InvoicePage | Received]]
"""Sends one request, retries included: ``await fetch(page, per_page)``.

A successful response may come back undecoded: the walk decodes it when its page's turn
comes, just before the page is judged and delivered.
"""

Emit = Callable[[InvoicePage], Awaitable[None]]
"""Hands one page, holding only its newly delivered invoices, to the consumer."""


class PageSizeProbe:
    """What a client's walks learn of one endpoint's page sizes, and whose turn it is to learn.

    One walk at a time asks for a size the server has not accepted yet; walks that start
    together (``invoices_many``) would otherwise each pay for the same refusal. The others
    wait for its answer, all woken at once, and ask again with what it learnt.

    Args:
        sizes: What is known, shared by every walk of the client.
    """

    def __init__(self, sizes: PageSizes | None = None) -> None:
        self.sizes = PageSizes() if sizes is None else sizes
        self._asking = False
        self._answered: anyio.Event | None = None

    def claim(self) -> bool:
        """Take the turn to ask for an unproven size; False while another walk holds it."""
        if self._asking:
            return False
        self._asking = True
        return True

    async def answered(self) -> None:
        """Wait until the walk holding the turn gives it back."""
        if self._answered is None:
            self._answered = anyio.Event()
        await self._answered.wait()

    def release(self) -> None:
        """Give the turn back and wake every walk waiting for the answer."""
        self._asking = False
        answered, self._answered = self._answered, None
        if answered is not None:
            answered.set()


class Paginator:
    """Walks every page of one account and type, delivering each invoice once, in order.

    The request concurrency is bounded inside ``fetch``; ``read_ahead`` bounds how far the
    walk runs ahead of the consumer. At most ``read_ahead + 1`` pages are held at a time
    (the one being delivered and those started beyond it), and a ``total_count`` that
    overstates the data wastes at most ``read_ahead`` requests beyond the first page that
    shows where the data really ends.

    Args:
        fetch: Sends one request: ``await fetch(page, per_page)``, with retries.
        per_page: The page size to ask for, or ``None`` for the largest the server accepts;
            what ``probe`` learnt may only lower it.
        read_ahead: How many pages may be started or held beyond the one being delivered
            (0: one page at a time).
        ledger: The exactly-once bookkeeping, shared with the caller.
        resume: Where a previous run stopped, to continue after it.
        since: Deliver only invoices created at or after this instant (inclusive). Since
            invoices come newest first, the walk starts no page after one that ends older
            than it, unless the server's order is seen not to be by ``created``
            (``progress.unordered``): then every page is fetched and filtered.
        until: Deliver only invoices created before this instant (exclusive).
        probe: What the client's walks learn of the page sizes; the walk's own when ``None``.
        read_ahead_for: When given, ``read_ahead`` follows the page size the server serves.

    With ``since`` or ``until``, invoices without a creation time are not delivered.

    Raises:
        ConfigurationError: If ``read_ahead`` is negative, ``per_page`` below one, a bound
            has no time zone, or ``since`` is not before ``until``.
    """

    def __init__(
        self,
        fetch: Fetch,
        *,
        per_page: int | None,
        read_ahead: int,
        ledger: Ledger,
        resume: Anchor | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        probe: PageSizeProbe | None = None,
        read_ahead_for: Callable[[int], int] | None = None,
    ) -> None:
        if not whole_at_least(read_ahead, 0) or not (
            per_page is None or whole_at_least(per_page, 1)
        ):
            raise ConfigurationError("read_ahead must be >= 0 and per_page >= 1")
        check_bounds(since, until)
        self._fetch = fetch
        self._resume = resume
        self._probe = PageSizeProbe() if probe is None else probe
        self.progress = WalkProgress()
        self._walk = Walk(
            ledger=ledger,
            per_page=per_page,
            read_ahead=read_ahead,
            progress=self.progress,
            since=since,
            until=until,
            sizes=self._probe.sizes,
            read_ahead_for=read_ahead_for,
        )

    async def run(self, emit: Emit) -> None:
        """Fetch and ``emit`` every page, in order, until the account is exhausted.

        Each emitted page holds only the invoices delivered from it (repeats removed).

        Args:
            emit: Receives each page, in order; the walk waits while it runs.

        Raises:
            AsyncInvoicesError: Whatever a request raised after its retries, or a
                :class:`PaginationError` when the server's paging cannot be trusted.
        """
        machine: Machine | None = self._walk.start(self._resume)
        while machine is not None:
            action: Done | AlignAt | Seek | Restart
            if isinstance(machine, AlignedWindow):
                action = await self._window(machine, emit)
            else:
                action = await self._serial(machine, emit)
            machine = None if isinstance(action, Done) else self._walk.enter(action)

    async def _serial(
        self, machine: FirstPage | AnchoredSearch, emit: Emit
    ) -> Done | AlignAt | Seek | Restart:
        """Carry out a machine that makes one request at a time, until it ends its phase.

        A request for a size the server has not yet accepted waits for the probe's turn, so
        that of walks starting together one pays for a refusal and the others ask for what
        it learnt. The turn is given back once a page was fed, before it is emitted: the
        consumer of this walk must not hold up the others, and they are woken together, so
        that their first pages queue together, before the pages this walk reads ahead.
        """
        probe = self._probe
        holding = False
        try:
            while True:
                action = machine.next_request()
                if not isinstance(action, Request):
                    return action
                if not holding and not probe.sizes.proven(action.per_page):
                    if not probe.claim():
                        await probe.answered()
                        continue  # ask again, with what the walk that asked has learnt
                    holding = True
                try:
                    page = decoded(await self._fetch(action.page, action.per_page))
                except BadRequestError as exc:
                    machine.refused(exc)  # learns a size the server may accept, or raises
                    continue
                delivery = machine.feed(page)
                if holding:
                    probe.release()
                    holding = False
                if delivery is not None:
                    await emit(delivery.page)
        finally:
            if holding:
                probe.release()

    async def _window(self, machine: AlignedWindow, emit: Emit) -> Done | Seek:
        """Carry out the aligned phase: requests run concurrently, pages come out in order."""

        async def drive(fetches: InOrder[InvoicePage | Received]) -> Done | Seek:
            return await self._drive_window(machine, emit, fetches)

        return await in_order(drive)

    async def _drive_window(
        self, machine: AlignedWindow, emit: Emit, fetches: InOrder[InvoicePage | Received]
    ) -> Done | Seek:
        while True:
            action = machine.next_request()
            if isinstance(action, Request):
                fetches.start(
                    action.page, functools.partial(self._fetch, action.page, action.per_page)
                )
                continue
            if not isinstance(action, Await):
                return action
            delivery = machine.feed(decoded(await fetches.take(action.page)))
            if delivery is not None:
                await emit(delivery.page)


def check_bounds(since: dt.datetime | None, until: dt.datetime | None) -> None:
    """Refuse bounds on ``created`` that cannot be compared with it, or that select nothing.

    Raises:
        ConfigurationError: For a bound without a time zone, or ``since`` not before ``until``.
    """
    # `created` is a UTC instant (docs/cloudflare-api.md, "Response envelope"): a naive bound
    # could not be compared with it.
    for name, bound in (("since", since), ("until", until)):
        if bound is not None and (not isinstance(bound, dt.datetime) or bound.utcoffset() is None):
            raise ConfigurationError(f"{name} must be a datetime with a time zone")
    if since is not None and until is not None and since >= until:
        raise ConfigurationError("since must be before until")


async def fetch_first(
    probe: PageSizeProbe,
    wanted: int | None,
    fetch: Callable[[int], Awaitable[T]],
    served: Callable[[T, int], int],
) -> tuple[T, int]:
    """Make one first request at a page size the server accepts, learning as a walk does.

    The same rules as a walk's first page (:class:`.FirstPage`), for requests that
    are not a walk of invoices: the account listing's first page, ``get_page``.

    Args:
        probe: What the client learnt of this endpoint's page sizes.
        wanted: The caller's page size, or ``None`` for the largest accepted.
        fetch: Sends the request for one page size, with retries.
        served: The size a response shows the server serves, given the size asked.

    Returns:
        The response and the page size it was asked with.

    Raises:
        AsyncInvoicesError: What the request raised, a refusal that teaches nothing
            about the page size included.
    """
    sizes, holding = probe.sizes, False
    try:
        while True:
            size = sizes.ask(wanted)
            if not holding and not sizes.proven(size):
                if not probe.claim():
                    await probe.answered()
                    continue  # ask again, with what the walk that asked has learnt
                holding = True
            try:
                result = await fetch(size)
            except BadRequestError as exc:
                sizes.refused(size, exc)  # raises when it teaches nothing
                continue
            sizes.succeeded(size, served(result, size))
            return result, size
    finally:
        if holding:
            probe.release()
