"""The walk over many accounts: every invoice of each, grouped by account, on one quota.

Cloudflare counts requests per token, not per account (docs/cloudflare-api.md, "Rate limits"), so
the accounts share the client's fetcher: one concurrency limit, one rate governor. Walking
them one after another would leave that concurrency idle on small accounts (a one-page
account is one round trip), so the walk keeps a sliding window of per-account walks open,
each a :class:`~asyncinvoices._walk.driver.Paginator` over the shared fetcher:

* the *head* is the account being delivered; its pages come out as ``invoices()`` gives them,
  and it fetches like one ``invoices()`` walk (at most ``read_ahead + 1`` pages held);
* the accounts after it fetch ahead, but each of their requests first takes one of
  ``read_ahead`` *tickets*, given back as the consumer takes the page (or when the walk ends
  with fewer pages than tickets, or becomes the head). So however many accounts are open,
  they hold at most ``read_ahead`` pages between them, and in all at most
  ``2 * read_ahead + 1`` pages are held;
* at most ``read_ahead + 1`` accounts are open at once: one more could not get a ticket.

The head never waits for a ticket, so the walk cannot deadlock on pages held further on.
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
from collections.abc import Callable, Iterable
from typing import Any, Literal

import anyio
import anyio.abc

from asyncinvoices._config import validate_account_id
from asyncinvoices._errors import (
    AsyncInvoicesError,
    ConfigurationError,
    RateLimitError,
    TransportError,
)
from asyncinvoices._models import Invoice, InvoicePage, ManyStats
from asyncinvoices._streams.channel import Background, Spawn, Stopwatch, StreamContext
from asyncinvoices._walk.in_order import as_library_error
from asyncinvoices._wire.protocol import Received

from .accounts import AccountStream
from .invoices import WalkSetup, WalkState, _anchor_from_checkpoint

__all__ = ["ManyStream", "OnError", "unique_account_ids"]

OnError = Literal["raise", "skip"]

_VERSION = 1
_KIND = "invoices_many"


def unique_account_ids(account_ids: Iterable[str]) -> list[str]:
    """Validate every id before any request and drop repeats, keeping the first of each.

    Raises:
        ConfigurationError: For an id that is not 32 hexadecimal characters, or a plain
            string given where a list of ids is expected.
    """
    if isinstance(account_ids, (str, bytes)):
        raise ConfigurationError("account_ids must be a list of account ids, not one string")
    unique: dict[str, None] = {}
    for account_id in account_ids:
        unique.setdefault(validate_account_id(account_id), None)
    return list(unique)


class _AccountWalk:
    """One account's walk inside the window: its :class:`WalkState`, pages and tickets."""

    def __init__(self, setup: WalkSetup, window: _Window, resume: object | None) -> None:
        self.account_id = setup.account_id
        self.setup = setup
        self.state = WalkState(setup, self._fetch, resume)
        self.paginator = self.state.paginator
        self.pages: collections.deque[InvoicePage] = collections.deque()
        self.tickets = 0
        self.finished = False
        self.error: AsyncInvoicesError | None = None
        self._window = window
        self._taken = anyio.Event()

    async def _fetch(self, page: int, per_page: int) -> InvoicePage | Received:
        await self._window.ticket(self)
        return await self.setup.fetch.received(page, per_page)

    async def emit(self, page: InvoicePage) -> None:
        """Hand a page over; the head waits until the consumer has taken it."""
        self.pages.append(page)
        self._window.wake_consumer()
        while self._window.is_head(self) and self.pages:
            await self._taken.wait()

    def took(self) -> None:
        """The consumer took a page: wake :meth:`emit`."""
        self._taken.set()
        self._taken = anyio.Event()


class _Window:
    """The open walks (the head first) and the tickets for pages fetched ahead of it.

    Each kind of waiter has its own event, and tickets go to their waiters first come, first
    served, so that one change wakes only the tasks it concerns: with hundreds of requests
    waiting for a ticket, waking them all on every page would cost more than the requests.
    """

    def __init__(self, tickets: int) -> None:
        self.walks: collections.deque[_AccountWalk] = collections.deque()
        self.free = tickets
        self._waiters: collections.deque[tuple[_AccountWalk, anyio.Event]] = collections.deque()
        self._consumer = anyio.Event()
        self._opener = anyio.Event()

    def wake_consumer(self) -> None:
        """Tell the consumer that a walk has news (a page, its end, a new walk)."""
        self._consumer.set()
        self._consumer = anyio.Event()

    async def consumer_wait(self) -> None:
        """Wait, as the consumer, for :meth:`wake_consumer`."""
        await self._consumer.wait()

    def wake_opener(self) -> None:
        """Tell the task that opens walks that one has left the window."""
        self._opener.set()
        self._opener = anyio.Event()

    async def opener_wait(self) -> None:
        """Wait, as the opener, for :meth:`wake_opener`."""
        await self._opener.wait()

    def is_head(self, walk: _AccountWalk) -> bool:
        """Whether ``walk`` is the account being delivered."""
        return bool(self.walks) and self.walks[0] is walk

    async def ticket(self, walk: _AccountWalk) -> None:
        """Wait for a ticket to fetch one page ahead; the head needs none."""
        if self.is_head(walk):
            return
        if self.free > 0 and not self._waiters:
            self.free -= 1
            walk.tickets += 1
            return
        granted = anyio.Event()
        entry = (walk, granted)
        self._waiters.append(entry)
        try:
            await granted.wait()
        finally:
            if not granted.is_set():  # cancelled while waiting
                self._waiters.remove(entry)

    def release(self, walk: _AccountWalk, keep: int) -> None:
        """Give back the tickets of ``walk`` beyond ``keep``, to the first waiters."""
        extra = walk.tickets - max(0, keep)
        if extra > 0:
            walk.tickets -= extra
            self.free += extra
        while self.free > 0 and self._waiters:
            waiter, granted = self._waiters.popleft()
            self.free -= 1
            waiter.tickets += 1
            granted.set()

    def new_head(self) -> None:
        """Let the new head's requests that wait for a ticket go without one."""
        head = self.walks[0]
        for entry in [e for e in self._waiters if e[0] is head]:
            self._waiters.remove(entry)
            entry[1].set()
        self.release(head, keep=len(head.pages))


def _bounds(since: dt.datetime | None, until: dt.datetime | None) -> dict[str, str | None]:
    return {
        "since": None if since is None else since.isoformat(),
        "until": None if until is None else until.isoformat(),
    }


def _read_checkpoint(
    resume: object, type: str, bounds: dict[str, str | None]
) -> tuple[list[str], dict[str, object]]:
    """Validate a checkpoint of :meth:`ManyStream.checkpoint`; return done ids and partials.

    Raises:
        ConfigurationError: If it is not such a checkpoint, or of another type or bounds.
    """
    if (
        not isinstance(resume, dict)
        or resume.get("version") != _VERSION
        or resume.get("kind") != _KIND
    ):
        raise ConfigurationError("resume= takes a value returned by stream.checkpoint()")
    if resume.get("type") != type:
        raise ConfigurationError(f"the checkpoint was taken with type={resume.get('type')!r}")
    if {name: resume.get(name) for name in bounds} != bounds:
        raise ConfigurationError("the checkpoint was taken with other since/until bounds")
    done, partial = resume.get("done"), resume.get("partial")
    if not isinstance(done, list) or not all(isinstance(d, str) for d in done):
        raise ConfigurationError("the checkpoint's done is not a list of account ids")
    if not isinstance(partial, dict) or not all(isinstance(k, str) for k in partial):
        raise ConfigurationError("the checkpoint's partial is not an object of account ids")
    return list(done), dict(partial)


class _Totals:
    """Sums over the walks that have left the window."""

    def __init__(self) -> None:
        self.requests = self.retries = self.pages = 0
        self.drift = self.duplicates = self.refetched = 0
        self.throttled = 0.0
        self.fewest: int | None = None

    def add(self, walk: _AccountWalk) -> None:
        counts, progress = walk.setup.fetch.counts, walk.paginator.progress
        self.requests += counts.requests
        self.retries += counts.retries
        self.throttled += counts.throttled_seconds
        self.drift += progress.drift
        self.duplicates += walk.state.ledger.duplicates
        self.refetched += progress.refetched_pages
        self.fewest = _plus(self.fewest, progress.fewest_requests())


def _plus(a: int | None, b: int | None) -> int | None:
    """The sum of the counts that are known; ``None`` when neither is."""
    return a if b is None else b if a is None else a + b


class ManyStream(StreamContext):
    """An async iterator of ``(account_id, invoice)`` over many accounts, grouped by account.

    Returned by :meth:`InvoiceClient.invoices_many`. Accounts come in the order given (or the
    listing's), each account's invoices in the order :meth:`InvoiceClient.invoices` gives
    them, each exactly once. Use it inside ``async with`` so that leaving early cancels the
    requests still in flight::

        async with client.invoices_many(ids, on_error="skip") as stream:
            async for account_id, invoice in stream:
                ...
        print(stream.stats, stream.failures)

    With ``on_error="skip"``, an account whose walk fails is recorded in ``failures`` and
    the walk goes on; what was already yielded for it stays yielded. A
    :class:`RateLimitError` is never skipped: the quota is shared, so it ends the walk.
    """

    def __init__(
        self,
        *,
        spawn: Spawn,
        setup: Callable[[str], WalkSetup],
        account_ids: list[str] | None,
        listing: Callable[[], AccountStream] | None,
        read_ahead: int,
        on_error: OnError,
        on_progress: Callable[[ManyStats], object] | None,
        resume: object | None,
        type: str,
        bounds: tuple[dt.datetime | None, dt.datetime | None],
        clock: Callable[[], float],
    ) -> None:
        self._setup = setup
        self._ids = account_ids
        self._listing_factory = listing
        self._listing: AccountStream | None = None
        self._on_error = on_error
        self._on_progress = on_progress
        self._watch = Stopwatch(clock)
        self._type = type
        self._bounds = _bounds(*bounds)
        self._done_ids: list[str] = []
        self._partial: dict[str, object] = {}
        self._skip: set[str] = set()
        if resume is not None:
            self._done_ids, self._partial = _read_checkpoint(resume, type, self._bounds)
            self._skip = set(self._done_ids)
            for account_id, partial in self._partial.items():
                # Checked now, so that a bad checkpoint fails before any request.
                _anchor_from_checkpoint(partial, setup(validate_account_id(account_id)))
        self._window = _Window(read_ahead)
        self._max_open = read_ahead + 1
        self._task = Background(spawn, self._produce)
        self._source_done = False
        self._producer_ended = False
        self._rate_limited = False
        self._source_error: AsyncInvoicesError | None = None
        self._seen = 0
        self._accounts_done = 0
        self._totals = _Totals()
        self._pending: collections.deque[Invoice] = collections.deque()
        self._invoices = 0
        self._closed = False
        self.failures: dict[str, AsyncInvoicesError] = {}
        """Each account that failed and was skipped, with its exception, in output order."""
        self.failed_account: str | None = None
        """The account whose failure ended the walk, once one has."""

    # -- the producer -------------------------------------------------------------------------

    async def _produce(self) -> None:
        try:
            async with anyio.create_task_group() as tg:
                # The listing's failure is the consumer's, after the walks before it.
                try:
                    if self._ids is not None:
                        for account_id in self._ids:
                            if not await self._open(account_id, tg):
                                break
                    else:
                        assert self._listing_factory is not None
                        self._listing = self._listing_factory()
                        async with self._listing as accounts:
                            async for account in accounts:
                                if not await self._open(account.id, tg):
                                    break
                except Exception as exc:
                    self._source_error = as_library_error(exc)
                self._source_done = True
                self._window.wake_consumer()
        finally:
            self._producer_ended = True
            self._window.wake_consumer()

    async def _open(self, account_id: str, tg: anyio.abc.TaskGroup) -> bool:
        """Open the walk of ``account_id`` once there is room; False: open no more."""
        self._seen += 1
        if account_id in self._skip:
            self._accounts_done += 1  # finished before the resume
            return True
        while len(self._window.walks) >= self._max_open and not self._rate_limited:
            await self._window.opener_wait()
        if self._rate_limited:
            # The quota is the token's: every further account would be refused the same way
            # (docs/cloudflare-api.md, "Rate limits"), so none is started; the walk ends when
            # the consumer reaches the account that was refused.
            return False
        walk = _AccountWalk(self._setup(account_id), self._window, self._partial.get(account_id))
        self._window.walks.append(walk)
        self._window.wake_consumer()
        tg.start_soon(self._walk, walk)
        return True

    async def _walk(self, walk: _AccountWalk) -> None:
        try:
            await walk.state.run()(walk.emit)
            walk.finished = True
        except Exception as exc:  # delivered in output order by the consumer
            walk.error = as_library_error(exc)
            if isinstance(walk.error, RateLimitError):
                self._rate_limited = True
                self._window.wake_opener()
        finally:
            if not self._window.is_head(walk):
                self._window.release(walk, keep=len(walk.pages))
            self._window.wake_consumer()

    # -- the consumer -------------------------------------------------------------------------

    def __aiter__(self) -> ManyStream:
        return self

    async def __anext__(self) -> tuple[str, Invoice]:
        if self._closed:
            raise StopAsyncIteration
        self._start()
        while not self._pending:
            await self._advance()
        head = self._window.walks[0]
        invoice = self._pending.popleft()
        head.state.handed(invoice)
        self._invoices += 1
        return head.account_id, invoice

    async def _advance(self) -> None:
        """Take the head's next page into ``_pending``, or move past a finished head."""
        window = self._window
        if not window.walks:
            if not self._source_done:
                await self._wait()
                return
            await self._end()
        head = window.walks[0]
        if head.pages:
            page = head.pages.popleft()
            if head.tickets > 0:
                window.release(head, keep=head.tickets - 1)
            head.took()
            self._totals.pages += 1
            self._pending.extend(page.invoices)
            self._progress()
        elif head.finished or head.error is not None:
            await self._pop(head)
        else:
            await self._wait()

    async def _wait(self) -> None:
        if self._producer_ended:  # cancelled from outside: the client was closed
            await self.aclose()
            raise TransportError("the client was closed before the walk finished")
        await self._window.consumer_wait()

    async def _pop(self, head: _AccountWalk) -> None:
        window = self._window
        window.walks.popleft()
        window.release(head, keep=0)
        self._totals.add(head)
        self._accounts_done += 1
        if head.error is None:
            self._done_ids.append(head.account_id)
            self._partial.pop(head.account_id, None)
        else:
            if self._on_error == "raise" or isinstance(head.error, RateLimitError):
                self.failed_account = head.account_id
                await self.aclose()
                raise head.error
            self.failures[head.account_id] = head.error
            if head.state.delivered or head.state.base:
                self._partial[head.account_id] = head.state.checkpoint()
        if window.walks:
            window.new_head()
        window.wake_opener()
        self._progress()

    async def _end(self) -> None:
        error = self._source_error
        await self.aclose()
        if error is not None:
            raise error
        raise StopAsyncIteration

    def _progress(self) -> None:
        if self._on_progress is not None:
            self._on_progress(self.stats)

    def _start(self) -> None:
        if not self._task.started and not self._closed:
            self._watch.start()
            self._task.start()

    # -- public surface -----------------------------------------------------------------------

    @property
    def stats(self) -> ManyStats:
        """A snapshot: accounts done and in all, failures, and every account's sums."""
        t, live = self._totals, list(self._window.walks)
        listing = self._listing.stats if self._listing is not None else None
        counts = [w.setup.fetch.counts for w in live]
        return ManyStats(
            accounts_done=self._accounts_done,
            accounts_total=self._accounts_total(),
            failed=len(self.failures),
            pages=t.pages,
            invoices=self._invoices,
            requests=t.requests
            + sum(c.requests for c in counts)
            + (listing.requests if listing else 0),
            retries=t.retries
            + sum(c.retries for c in counts)
            + (listing.retries if listing else 0),
            throttled_seconds=t.throttled
            + sum(c.throttled_seconds for c in counts)
            + (listing.throttled_seconds if listing else 0.0),
            elapsed=self._watch.elapsed,
            drift=t.drift + sum(w.paginator.progress.drift for w in live),
            duplicates_skipped=t.duplicates + sum(w.state.ledger.duplicates for w in live),
            refetched_pages=t.refetched + sum(w.paginator.progress.refetched_pages for w in live),
            fewest_requests=functools.reduce(
                _plus,
                [w.paginator.progress.fewest_requests() for w in live],
                _plus(t.fewest, listing.fewest_requests if listing else None),
            ),
        )

    def _accounts_total(self) -> int | None:
        if self._ids is not None:
            return len(self._ids)
        if self._source_done and self._source_error is None:
            return self._seen
        return None if self._listing is None else self._listing.total_count

    def checkpoint(self) -> dict[str, Any]:
        """Return a JSON-serialisable value to continue this run later with ``resume=``.

        The run continues after the last invoice yielded: finished accounts are not walked
        again, the account being delivered continues after its last invoice, and an account
        that failed and was skipped is walked again (after what it had yielded).
        """
        partial = dict(self._partial)
        if self._window.walks and self._window.walks[0].state.delivered:
            head = self._window.walks[0]
            partial[head.account_id] = head.state.checkpoint()
        return {
            "version": _VERSION,
            "kind": _KIND,
            "type": self._type,
            **self._bounds,
            "done": list(self._done_ids),
            "partial": partial,
        }

    async def aclose(self) -> None:
        """Stop the walk: cancel every request in flight and wait until they are gone."""
        if self._closed:
            return
        self._closed = True
        await self._task.cancel_and_wait()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self._closed = True
            self._task.cancel()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running" if self._task.started else "new"
        return f"<ManyStream {state} accounts_done={self._accounts_done} invoices={self._invoices}>"
