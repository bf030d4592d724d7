"""The consumer side of a walk: async iterators over invoices or pages.

A stream's walk runs in a producer task owned by the client's task group and hands pages
over through a zero-buffer memory object stream (``_channel.Channel``, shared with the other
streams), so a slow consumer holds the producer back (it never grows a buffer) and at most
``read_ahead + 1`` pages wait ahead of the consumer.

The producer is cancelled when the stream is closed: by ``async with`` on exit, by
:meth:`aclose`, when the iteration ends or fails, or when the client closes. Streams
abandoned with ``break`` outside ``async with`` are cancelled when garbage-collected or when
the client closes, whichever comes first.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from asyncinvoices._errors import ConfigurationError
from asyncinvoices._http.fetcher import WalkFetch
from asyncinvoices._models import FetchStats, Invoice, InvoicePage, InvoiceType, whole_at_least
from asyncinvoices._walk import ledger as _ledger
from asyncinvoices._walk.driver import Emit, Fetch, PageSizeProbe, Paginator
from asyncinvoices._walk.ledger import Ledger
from asyncinvoices._walk.pages import Anchor

from .channel import Channel, Stopwatch, StreamContext

__all__ = ["InvoiceStream", "PageStream", "WalkSetup", "WalkState", "walk_checkpoint"]

logger = logging.getLogger("asyncinvoices")

_CHECKPOINT_VERSION = 1


@attrs.frozen(kw_only=True)
class WalkSetup:
    """Everything a stream needs to run one walk, validated by the client.

    Attributes:
        spawn: Starts the walk's producer in the client's task group.
        fetch: Fetches one page for this walk, with retries, and counts its requests.
        account_id: The account walked.
        type: The invoice type filter.
        per_page: The page size asked for, or ``None`` for the largest the server accepts.
        read_ahead: Pages the walk may fetch beyond the one it delivers.
        on_progress: Called with :class:`FetchStats` after each page.
        resume: A checkpoint to continue after, or ``None``.
        clock: The monotonic clock for ``elapsed``.
        since: Deliver only invoices created at or after this instant.
        until: Deliver only invoices created before this instant.
        probe: What the client's walks learn of the server's page sizes.
        read_ahead_for: When given, the read-ahead follows the page size the server serves
            (the client's default, when the walk was given none).
    """

    spawn: Callable[[Callable[[], Any]], None]
    fetch: WalkFetch
    account_id: str
    type: InvoiceType
    per_page: int | None
    read_ahead: int
    on_progress: Callable[[FetchStats], object] | None
    resume: object | None
    clock: Callable[[], float]
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    probe: PageSizeProbe = attrs.field(factory=PageSizeProbe)
    read_ahead_for: Callable[[int], int] | None = None


def _bounds(setup: WalkSetup) -> dict[str, str]:
    # Only the bounds that are set, so that a checkpoint of a whole walk stays as it was.
    return {
        name: bound.isoformat()
        for name, bound in (("since", setup.since), ("until", setup.until))
        if bound is not None
    }


def walk_checkpoint(
    setup: WalkSetup, position: int, last_id: str | None, last_created: dt.datetime | None
) -> dict[str, Any]:
    """The checkpoint of a walk after ``position`` invoices, the last one as given.

    Args:
        setup: The walk's settings: its account, type and bounds are recorded.
        position: How many invoices of the walk were handed over, resumed ones included.
        last_id: The id of the last invoice handed over.
        last_created: Its creation time.
    """
    return {
        "version": _CHECKPOINT_VERSION,
        "account_id": setup.account_id,
        "type": setup.type,
        "position": position,
        "last_id": last_id,
        "last_created": None if last_created is None else last_created.isoformat(),
        **_bounds(setup),
    }


def _anchor_from_checkpoint(checkpoint: object, setup: WalkSetup) -> Anchor:
    """Validate a checkpoint from :meth:`InvoiceStream.checkpoint` and return its anchor."""
    if not isinstance(checkpoint, dict) or checkpoint.get("version") != _CHECKPOINT_VERSION:
        raise ConfigurationError("resume= takes a value returned by stream.checkpoint()")
    if checkpoint.get("account_id") != setup.account_id or checkpoint.get("type") != setup.type:
        raise ConfigurationError(
            "the checkpoint belongs to another account or type: "
            f"{checkpoint.get('account_id')!r}/{checkpoint.get('type')!r}"
        )
    bounds = {n: checkpoint[n] for n in ("since", "until") if checkpoint.get(n) is not None}
    if bounds != _bounds(setup):
        raise ConfigurationError(
            f"the checkpoint was taken with since={bounds.get('since')!r} and "
            f"until={bounds.get('until')!r}; resume with the same bounds"
        )
    position = checkpoint.get("position")
    invoice_id = checkpoint.get("last_id")
    created = checkpoint.get("last_created")
    if not whole_at_least(position, 0):
        raise ConfigurationError("the checkpoint's position is not a whole number >= 0")
    if invoice_id is not None and not isinstance(invoice_id, str):
        raise ConfigurationError("the checkpoint's last_id is not a string")
    when: dt.datetime | None = None
    if created is not None:
        try:
            when = dt.datetime.fromisoformat(str(created))
        except ValueError:
            raise ConfigurationError("the checkpoint's last_created is not a timestamp") from None
        if when.tzinfo is None:
            raise ConfigurationError("the checkpoint's last_created has no time zone")
    if position > 0 and invoice_id is None and when is None:
        raise ConfigurationError("the checkpoint names no invoice to continue after")
    return Anchor(position=position - 1, invoice_id=invoice_id, created=when)


class WalkState:
    """One account's walk: its paginator and ledger, where it resumed, what it handed over.

    The one place a walk's state is built and kept, for :meth:`InvoiceClient.invoices` and for
    each account of :meth:`InvoiceClient.invoices_many`.

    Args:
        setup: The walk's settings.
        fetch: Sends one request for the paginator (the many-account walk adds its tickets).
        resume: A checkpoint of :func:`walk_checkpoint` to continue after, or ``None``.

    Raises:
        ConfigurationError: If ``resume`` is not a checkpoint of this walk.
    """

    def __init__(self, setup: WalkSetup, fetch: Fetch, resume: object | None) -> None:
        self.setup = setup
        self.ledger = Ledger(retain=_ledger.DEFAULT_RETAIN)
        anchor = None if resume is None else _anchor_from_checkpoint(resume, setup)
        self.base = 0 if anchor is None else anchor.position + 1
        self.last_id = None if anchor is None else anchor.invoice_id
        self.last_created = None if anchor is None else anchor.created
        self.delivered = 0
        self.paginator = Paginator(
            fetch,
            per_page=setup.per_page,
            read_ahead=setup.read_ahead,
            ledger=self.ledger,
            resume=anchor,
            since=setup.since,
            until=setup.until,
            probe=setup.probe,
            read_ahead_for=setup.read_ahead_for,
        )

    def run(self) -> Callable[[Emit], Awaitable[None]]:
        """The walk, in its telemetry scope: a span around it, when OpenTelemetry is on."""
        return self.setup.fetch.scope.wrap(self.paginator.run, per_page=self.setup.per_page)

    def handed(self, invoice: Invoice) -> None:
        """Count ``invoice`` as handed to the consumer: the walk resumes after it."""
        self.delivered += 1
        self.last_id, self.last_created = invoice.id, invoice.created

    def handed_page(self, invoices: tuple[Invoice, ...]) -> None:
        """Count a page's ``invoices`` as handed to the consumer, as :meth:`handed` does."""
        if invoices:
            self.delivered += len(invoices) - 1
            self.handed(invoices[-1])

    def checkpoint(self) -> dict[str, Any]:
        """The checkpoint after every invoice handed over, resumed ones included."""
        return walk_checkpoint(
            self.setup, self.base + self.delivered, self.last_id, self.last_created
        )


class _Stream(StreamContext):
    """The machinery shared by :class:`InvoiceStream` and :class:`PageStream`."""

    def __init__(self, setup: WalkSetup) -> None:
        self._setup = setup
        self._on_progress = setup.on_progress
        self._watch = Stopwatch(setup.clock)
        self._requests = setup.fetch.counts
        self._state = WalkState(setup, setup.fetch.received, setup.resume)
        self._paginator = self._state.paginator
        self._channel: Channel[InvoicePage] = Channel(setup.spawn, self._state.run())
        self._pages_received = 0
        self._said_unordered = False

    # -- public surface shared by both streams ----------------------------------------------

    @property
    def total_count(self) -> int | None:
        """The ``total_count`` the server last reported, or ``None`` until the first page."""
        return self._paginator.progress.total_count

    @property
    def stats(self) -> FetchStats:
        """A snapshot of the run so far (pages, requests, retries, throttling, drift)."""
        p = self._paginator.progress
        return FetchStats(
            pages=self._pages_received,
            planned_pages=p.planned_pages,
            invoices=self._state.delivered,
            total_count=p.total_count,
            **self._watch.counted(self._requests),
            drift=p.drift,
            duplicates_skipped=self._state.ledger.duplicates,
            refetched_pages=p.refetched_pages,
            unordered=p.unordered,
            page_size=p.page_size,
            fewest_requests=p.fewest_requests(),
        )

    def checkpoint(self) -> dict[str, Any]:
        """Return a JSON-serialisable value to continue this run later with ``resume=``.

        The run resumes after the last invoice this stream has handed to its consumer,
        without delivering it again, even if invoices were created or deleted meanwhile.

        Example::

            async with client.invoices(account_id, resume=saved) as stream:
                async for invoice in stream:
                    store(invoice)
                    saved = stream.checkpoint()
        """
        return self._state.checkpoint()

    async def aclose(self) -> None:
        """Stop the walk: cancel every request in flight and wait until they are gone."""
        await self._channel.aclose()

    def __del__(self) -> None:
        # Abandoned with `break` outside `async with`: stop the producer and close our end.
        channel = getattr(self, "_channel", None)  # None when __init__ failed before it
        if channel is not None:
            channel.abandon()

    def __iter__(self) -> Any:
        raise TypeError(
            f"{type(self).__name__} is an async iterator: use 'async for' inside an async "
            "function, or SyncInvoiceClient for a plain 'for' loop"
        )

    def __repr__(self) -> str:
        channel = self._channel
        state = "closed" if channel.closed else "running" if channel.started else "new"
        return (
            f"<{type(self).__name__} account_id={self._setup.account_id!r} "
            f"type={self._setup.type!r} "
            f"{state} invoices={self._state.delivered}>"
        )

    # -- the producer ------------------------------------------------------------------------

    def _start(self) -> None:
        if not self._channel.started and not self._channel.closed:
            self._watch.start()
        self._channel.start()

    async def _next_page(self) -> InvoicePage:
        self._start()
        item = await self._channel.receive()
        self._pages_received += 1
        if self._paginator.progress.unordered and not self._said_unordered:
            self._said_unordered = True
            logger.warning(
                "the server's invoices are not newest first by creation time: every page is "
                "fetched and filtered for since/until"
            )
        return item

    def _progress(self) -> None:
        if self._on_progress is not None:
            self._on_progress(self.stats)


class InvoiceStream(_Stream):
    """An async iterator over every invoice of an account, in the server's order.

    Returned by :meth:`InvoiceClient.invoices`. Use it with ``async for``, ideally inside
    ``async with`` so that leaving the block early cancels the requests still in flight::

        async with client.invoices(account_id) as stream:
            async for invoice in stream:
                ...
            print(stream.stats)
    """

    def __init__(self, setup: WalkSetup) -> None:
        super().__init__(setup)
        self._pending: collections.deque[Invoice] = collections.deque()

    def __aiter__(self) -> InvoiceStream:
        return self

    async def __anext__(self) -> Invoice:
        while not self._pending:
            page = await self._next_page()
            self._pending.extend(page.invoices)
            self._progress()
        invoice = self._pending.popleft()
        self._state.handed(invoice)
        return invoice


class PageStream(_Stream):
    """An async iterator over an account's pages, in order.

    Each page holds the invoices delivered from it: when the data moves during the run and a
    page repeats invoices already delivered, the repeats are left out, so that iterating the
    pages' invoices gives every invoice exactly once, like :class:`InvoiceStream`.
    """

    def __aiter__(self) -> PageStream:
        return self

    async def __anext__(self) -> InvoicePage:
        page = await self._next_page()
        self._state.handed_page(page.invoices)
        self._progress()
        return page
