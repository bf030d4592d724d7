"""The blocking streams of :class:`SyncInvoiceClient`: one iterator over any async stream.

An async stream runs on the client's event loop; its blocking twin asks the loop for what the
stream has, a page (or a batch) at a time, since a crossing costs far more than handing over
one item, and hands the items out in the calling thread. Each item crosses with the
checkpoint the async stream had just after it, so that the blocking stream shows what the
async one would at the same item; ``on_progress`` calls cross in the same queue, in order, and
are made in the thread that iterates.
"""

from __future__ import annotations

import collections
import contextlib
import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import attrs

from asyncinvoices._errors import AsyncInvoicesError
from asyncinvoices._models import Account, AccountStats, FetchStats, Invoice, InvoicePage, ManyStats

from .accounts import AccountStream
from .invoices import InvoiceStream, PageStream
from .many import ManyStream

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "ClosedOnExit",
    "Loop",
    "Relay",
    "SyncAccountStream",
    "SyncInvoiceStream",
    "SyncManyStream",
    "SyncPageStream",
]

Item = TypeVar("Item")


class Loop(Protocol):
    """What a blocking stream needs of its client: calls carried to the client's loop."""

    _loop_thread: int | None

    def _call(self, function: Callable[[], Any], *, closed: bool = False) -> Any: ...

    def _interruptible(self) -> contextlib.AbstractContextManager[None]: ...


class _AsyncStream(Protocol):
    """What a blocking stream needs of the async stream it drives."""

    @property
    def stats(self) -> Any: ...

    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Any: ...

    async def __anext__(self) -> Any: ...


A = TypeVar("A", bound=_AsyncStream)


class ClosedOnExit:
    """Leaving ``with`` calls :meth:`close`."""

    def close(self) -> None:
        raise NotImplementedError

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@attrs.frozen
class _Progress:
    """An ``on_progress`` call made on the loop, waiting to be made in the iterating thread."""

    stats: Any


class Relay:
    """The queue of what crossed from the loop, in the order the async stream produced it:
    ``on_progress`` figures and items, each item with the stream's checkpoint and page count
    just after it."""

    def __init__(self, callback: Callable[[Any], object] | None) -> None:
        self._callback = callback
        # Appended on the loop's thread while the iterating thread waits for that crossing,
        # drained by the iterating thread afterwards: never touched by both at once.
        self.events: collections.deque[_Progress | tuple[Any, dict[str, Any] | None, int]] = (
            collections.deque()
        )
        self.pages = 0  # how many pages the async stream has reported

    @classmethod
    def wrap(cls, on_progress: object) -> tuple[Relay, Any]:
        """Return a relay for ``on_progress`` and what to give the async stream instead."""
        if on_progress is None or callable(on_progress):
            relay = cls(on_progress)
            return relay, relay.record
        # Given as is, for the async client to reject with its own error.
        return cls(None), on_progress

    def record(self, stats: Any) -> None:
        self.pages += 1
        if self._callback is not None:
            self.events.append(_Progress(stats))

    def call(self, progress: _Progress) -> None:
        if self._callback is not None:
            self._callback(progress.stats)


class _SyncIterator(ClosedOnExit, Generic[A, Item]):
    """A blocking iterator over an async stream, driven on the client's loop.

    Items cross a page at a time (at most ``_batch`` of them): ``__next__`` hands out what
    crossed, making the relayed ``on_progress`` calls in order, and asks the loop for more
    once they are gone. ``with`` enters the async stream; closing (``close()``, leaving
    ``with``, or being collected after a ``break``) cancels its walk and keeps its last
    figures, which ``stats`` returns once the client is closed.
    """

    _batch = 512

    def __init__(self, client: Loop, stream: A, relay: Relay) -> None:
        self._client = client
        self._stream: A = stream
        self._relay = relay
        self._snapshot: Any = None
        self._checkpoint: dict[str, Any] | None = None
        self._pages = 0  # pages the async stream had received at the last item returned
        self._delivered = 0
        self._started = False
        self._ended = False
        self._closed = False
        self._error: AsyncInvoicesError | None = None

    # -- what crossing means for each kind of stream (overridden below) ---------------------

    def _take(self) -> dict[str, Any] | None:
        """The checkpoint to cross with the item just taken from the stream."""
        return None

    def _page_count(self) -> int:
        """How many pages the async stream has received (for an item's figures)."""
        return 0

    def _count(self, item: Any) -> int:
        return 1

    # -- iteration ------------------------------------------------------------------------

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> Item:
        events = self._relay.events
        while not self._closed:
            while events:
                event = events.popleft()
                if isinstance(event, _Progress):
                    with self._client._interruptible():
                        self._relay.call(event)
                    continue
                item, self._checkpoint, self._pages = event
                self._delivered += self._count(item)
                return item  # type: ignore[no-any-return]
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            if self._ended:
                self.close()  # keeps the final figures for `stats`
                break
            self._started = True
            self._ended, self._error = self._client._call(self._pull)
        raise StopIteration

    async def _pull(self) -> tuple[bool, AsyncInvoicesError | None]:
        """Move what the async stream has, up to the first item of the next page, across.

        Runs on the client's loop. Returns whether the stream has ended, and the error that
        ended it (raised once the items before it have been returned).
        """
        stream, relay = self._stream, self._relay
        reported, pages = relay.pages, self._page_count()
        for _ in range(self._batch):
            try:
                item = await stream.__anext__()
            except StopAsyncIteration:
                return True, None
            except AsyncInvoicesError as exc:
                return True, exc
            if relay.pages != reported:
                # A page arrived: hand over its first item, before waiting for another.
                relay.events.append((item, self._take(), self._page_count()))
                break
            relay.events.append((item, self._take(), pages))
        return False, None

    # -- figures and the end ----------------------------------------------------------------

    def _latest_stats(self) -> Any:
        """The async stream's figures, read on the loop (where ``elapsed`` is measured and
        the counters change); once the client is closed, those taken when it last moved."""

        async def current() -> Any:
            return self._stream.stats

        latest = self._client._call(current, closed=True)
        if latest is not None:
            self._snapshot = latest
        return self._snapshot

    def close(self) -> None:
        """Stop the walk: cancel every request in flight and wait until they are gone."""
        if self._closed:
            return
        self._closed = True
        self._relay.events.clear()  # what crossed but was not returned is dropped

        async def finish() -> Any:
            await self._stream.aclose()
            return self._stream.stats

        latest = self._client._call(finish, closed=True)
        if latest is not None:
            self._snapshot = latest

    def __enter__(self) -> Self:
        self._started = True
        self._client._call(self._stream.__aenter__)
        return self

    def __del__(self) -> None:
        # Abandoned with `break` outside `with`: stop the walk now rather than when the
        # client closes. Not from the loop's own thread (the wait would block the loop), nor
        # during interpreter shutdown; the async stream's own clean-up covers those.
        if getattr(self, "_closed", True) or sys.is_finalizing():
            return
        if threading.get_ident() != self._client._loop_thread:
            with contextlib.suppress(Exception):
                self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running" if self._started else "new"
        return f"<{type(self).__name__} {state} items={self._delivered}>"


W = TypeVar("W", bound=InvoiceStream | PageStream)


class _SyncWalk(_SyncIterator[W, Item]):
    """What :class:`SyncInvoiceStream` and :class:`SyncPageStream` share: one account's walk."""

    def __init__(self, client: Loop, stream: W, relay: Relay) -> None:
        super().__init__(client, stream, relay)
        self._snapshot = FetchStats()
        self._checkpoint = stream.checkpoint()

    @property
    def total_count(self) -> int | None:
        """The ``total_count`` the server last reported, or ``None`` until the first page."""
        return self._stream.total_count

    @property
    def stats(self) -> FetchStats:
        """A snapshot of the run so far (pages, requests, retries, throttling, drift).

        Once the client is closed, the snapshot taken when the stream last moved.
        """
        stats: FetchStats = self._latest_stats()
        return stats

    def _take(self) -> dict[str, Any] | None:
        return self._stream.checkpoint()

    def _page_count(self) -> int:
        pages: int = self._stream.stats.pages
        return pages

    def checkpoint(self) -> dict[str, Any]:
        """Return a JSON-serialisable value to continue this run later with ``resume=``.

        The run resumes after the last item this stream has returned, without returning it
        again; see :meth:`InvoiceStream.checkpoint`.
        """
        return dict(self._checkpoint or {})

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running" if self._started else "new"
        setup = self._stream._setup
        return (
            f"<{type(self).__name__} account_id={setup.account_id!r} type={setup.type!r} "
            f"{state} invoices={self._delivered}>"
        )


class SyncInvoiceStream(_SyncWalk[InvoiceStream, Invoice]):
    """An iterator over every invoice of an account, in the server's order.

    Returned by :meth:`SyncInvoiceClient.invoices`. Use it with ``for``, ideally inside
    ``with`` so that leaving the block early cancels the requests still in flight at once
    (after a bare ``break`` they are cancelled when the stream is garbage-collected)::

        with client.invoices(account_id) as stream:
            for invoice in stream:
                ...
            print(stream.stats)

    A stream is meant for one thread at a time; several threads may each iterate their own.
    """

    _batch = sys.maxsize  # a page at a time, however large

    @property
    def stats(self) -> FetchStats:
        """A snapshot of the run so far, as seen from the last invoice returned here.

        Once the client is closed, the snapshot taken when the stream last moved.
        """
        stats: FetchStats = self._latest_stats()
        if self._ended and not self._relay.events:
            return stats  # everything fetched has been returned
        return attrs.evolve(stats, pages=self._pages, invoices=self._delivered)


class SyncPageStream(_SyncWalk[PageStream, InvoicePage]):
    """An iterator over an account's pages, in order; see :class:`PageStream`.

    Returned by :meth:`SyncInvoiceClient.pages`.
    """

    _batch = 1

    def _count(self, item: InvoicePage) -> int:
        return len(item.invoices)


class SyncAccountStream(_SyncIterator[AccountStream, Account]):
    """An iterator over the accounts the credentials can read; see :class:`AccountStream`.

    Returned by :meth:`SyncInvoiceClient.accounts`.
    """

    @property
    def total_count(self) -> int | None:
        """The ``total_count`` the server reported, or ``None`` until known."""
        return self._stream.total_count

    @property
    def stats(self) -> AccountStats:
        """A snapshot of the listing so far."""
        stats: AccountStats = self._latest_stats()
        return stats


class SyncManyStream(_SyncIterator[ManyStream, "tuple[str, Invoice]"]):
    """An iterator over many accounts' ``(account_id, invoice)``; see :class:`ManyStream`.

    Returned by :meth:`SyncInvoiceClient.invoices_many`.
    """

    @property
    def stats(self) -> ManyStats:
        """A snapshot: accounts done and in all, failures, and every account's sums."""
        stats: ManyStats = self._latest_stats()
        return stats

    @property
    def failures(self) -> dict[str, AsyncInvoicesError]:
        """The accounts skipped with ``on_error="skip"``, each with its error."""
        return dict(self._stream.failures)

    def _take(self) -> dict[str, Any] | None:
        return self._stream.checkpoint()

    def checkpoint(self) -> dict[str, Any]:
        """Return a JSON-serialisable value to continue after the last tuple returned here."""
        if self._checkpoint is not None:
            return dict(self._checkpoint)
        pending = [event for event in self._relay.events if not isinstance(event, _Progress)]
        return pending[0][1] or {} if pending else self._stream.checkpoint()
