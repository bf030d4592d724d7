"""``SyncInvoiceClient``: the blocking twin of :class:`InvoiceClient`, for scripts and notebooks.

The async client does the work; this module only carries calls to it and results back. The
client runs on an event loop of its own, in a thread of its own (an anyio blocking portal,
started on ``__enter__`` or first use and stopped on :meth:`SyncInvoiceClient.close`), and
each blocking call submits a coroutine to that loop and waits for its result. So it works
where the calling thread runs no loop (a script), where it already runs one (a Jupyter
notebook, where ``asyncio.run`` refuses to start), and from many threads at once, which then
share one loop, one connection pool and one rate governor, as the rate limit is per token
(CLOUDFLARE_API.md, "Rate limits").

Two things never run on the client's loop: ``on_progress`` callbacks are relayed to the thread
that iterates, so that a callback may block, raise or update a notebook widget; and a
``KeyboardInterrupt`` (Ctrl-C) in the calling thread cancels the call it interrupted and tears
the whole loop down, because the program is being stopped.

Invoices cross a page at a time, since a crossing costs far more than handing over one
invoice; each carries the checkpoint and figures the async stream had just after it, so the
blocking stream shows what the async one would at the same invoice.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import datetime as dt
import functools
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast

import attrs
from anyio.from_thread import BlockingPortal, start_blocking_portal

from ._accounts import AccountStream, Direction
from ._client import InvoiceClient
from ._errors import AsyncInvoicesError, ConfigurationError, TransportError
from ._governor import RateGovernor
from ._many import ManyStream, OnError
from ._models import (
    Account,
    AccountStats,
    FetchStats,
    Invoice,
    InvoicePage,
    InvoiceType,
    ManyStats,
    RateLimit,
    RateWait,
)
from ._retry import Backoff
from ._stream import InvoiceStream, PageStream
from ._telemetry import RequestEvent
from ._transport import DEFAULT_MAX_BODY, ClientSession

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "SyncAccountStream",
    "SyncInvoiceClient",
    "SyncInvoiceStream",
    "SyncManyStream",
    "SyncPageStream",
]

T = TypeVar("T")
S = TypeVar("S", bound=InvoiceStream | PageStream)

_DEFAULT_RATE_LIMIT = RateLimit()
_CLOSED = "this SyncInvoiceClient is closed; create a new one"


#: What one crossing brings back to the iterating thread, in the order the async stream
#: produced it: ``on_progress`` figures, and invoices, each with the stream's checkpoint and
#: count of pages received just after it.
_Event = FetchStats | tuple[Invoice, dict[str, Any], int]


class _ProgressRelay:
    """Carries ``on_progress`` calls from the client's loop to the thread that iterates."""

    def __init__(self, callback: Callable[[Any], object] | None) -> None:
        self._callback = callback
        # Appended on the loop's thread while the iterating thread waits for that crossing,
        # drained by the iterating thread afterwards: never touched by both at once.
        self.events: collections.deque[_Event] = collections.deque()
        self.pages = 0  # how many pages the async stream has reported

    @classmethod
    def wrap(cls, on_progress: object) -> tuple[_ProgressRelay, Any]:
        """Return a relay for ``on_progress`` and what to give the async stream instead."""
        if on_progress is None or callable(on_progress):
            relay = cls(on_progress)
            return relay, relay.record
        # Given as is, for the async client to reject with its own error.
        return cls(None), on_progress

    def record(self, stats: Any) -> None:
        self.pages += 1
        if self._callback is not None:
            self.events.append(stats)

    def call(self, stats: Any) -> None:
        if self._callback is not None:
            self._callback(stats)

    def deliver(self) -> None:
        """Make every ``on_progress`` call still pending (page streams queue nothing else)."""
        while self.events:
            event = self.events.popleft()
            assert not isinstance(event, tuple)  # only progress figures are queued here
            self.call(event)


class SyncInvoiceClient:
    """A blocking client for Cloudflare's AI Gateway invoice history.

    The same constructor, methods and errors as :class:`InvoiceClient`, for code that is not
    async: scripts, notebooks (where an event loop is already running), and threads, which
    may share one client::

        with SyncInvoiceClient() as client:
            for invoice in client.invoices("023e105f4ecef8ad9ca31a8372d0c353"):
                print(invoice.id, invoice.amount_due, invoice.status)

    It runs an :class:`InvoiceClient` on an event loop in a thread of its own, started on
    ``with`` (or the first call) and stopped by :meth:`close`. A ``KeyboardInterrupt`` in a
    calling thread while the client works cancels the work and closes the client.

    Args:
        api_token: An API token with "AI Gateway Read". Default: ``CLOUDFLARE_API_TOKEN``.
        api_email: The account email for a legacy global API key (with ``api_key``).
            Default: ``CLOUDFLARE_EMAIL``.
        api_key: The legacy global API key. Default: ``CLOUDFLARE_API_KEY``.
        base_url: The API root. Default: ``CLOUDFLARE_BASE_URL``, else
            ``https://api.cloudflare.com/client/v4``. Must be https unless on loopback.
        max_concurrency: The most requests in flight at once, across all streams.
        per_page: The page size to ask for; the server may answer with a smaller one.
        timeout: Seconds one request attempt may take, first byte to last.
        max_retries: How many times a failed request is retried before its error is raised.
        rate_limit: The client-side quota, or ``None`` to send without counting.
        max_retry_wait: The longest ``Retry-After`` waited out; a longer one raises
            :class:`RateLimitError` at once.
        backoff: The waits between retries.
        max_body: The largest response body accepted, in bytes.
        session: Must be ``None``: an :class:`aiohttp.ClientSession` belongs to the event loop
            it was made on, and this client runs its own.
        read_ahead: How many pages a walk may fetch beyond the one it is delivering.
        on_wait: Called with a :class:`RateWait` whenever a request starts waiting for the
            rate limit. It runs on the client's own thread: keep it quick, and do not call
            the client from it.
        on_request: Called with a :class:`RequestEvent` after each request that went on the
            wire; on the client's own thread, like ``on_wait``.
        tracer_provider: The OpenTelemetry tracer provider; default: the global one.
        meter_provider: The OpenTelemetry meter provider; default: the global one.

    Raises:
        ConfigurationError: If a setting is invalid, no credentials can be found, or a
            ``session`` is given.
    """

    def __init__(
        self,
        *,
        api_token: str | None = None,
        api_email: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        max_concurrency: int = 8,
        per_page: int = 50,
        timeout: float = 30.0,
        max_retries: int = 5,
        rate_limit: RateLimit | None = _DEFAULT_RATE_LIMIT,
        max_retry_wait: float = 300.0,
        backoff: Backoff | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        session: ClientSession | None = None,
        read_ahead: int | None = None,
        on_wait: Callable[[RateWait], object] | None = None,
        on_request: Callable[[RequestEvent], object] | None = None,
        tracer_provider: object | None = None,
        meter_provider: object | None = None,
    ) -> None:
        if session is not None:
            raise ConfigurationError(
                "SyncInvoiceClient takes no session=: an aiohttp.ClientSession belongs to the "
                "event loop it was made on, and this client runs its own"
            )
        # Built here, so that a bad setting is reported by the constructor, as by the async
        # client; it binds to no event loop until it is entered on the client's own.
        self._client = InvoiceClient(
            api_token=api_token,
            api_email=api_email,
            api_key=api_key,
            base_url=base_url,
            max_concurrency=max_concurrency,
            per_page=per_page,
            timeout=timeout,
            max_retries=max_retries,
            rate_limit=rate_limit,
            max_retry_wait=max_retry_wait,
            backoff=backoff,
            max_body=max_body,
            read_ahead=read_ahead,
            on_wait=on_wait,
            on_request=on_request,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        )
        # Reentrant: a stream collected by the garbage collector while this thread holds the
        # lock closes itself through the same lock.
        self._lock = threading.RLock()
        self._stack: contextlib.ExitStack | None = None
        self._portal: BlockingPortal | None = None
        self._loop_thread: int | None = None
        self._calls: set[concurrent.futures.Future[Any]] = set()
        self._closed = False

    def __repr__(self) -> str:
        return "<Sync" + repr(self._client).removeprefix("<")

    @property
    def base_url(self) -> str:
        """The API root requests are sent to."""
        return self._client.base_url

    @property
    def governor(self) -> RateGovernor:
        """The rate governor every request of this client passes through.

        Internal; exposed for tests and diagnostics (e.g. ``client.governor.paused_until``).
        Read it only: its methods belong to the client's event loop.
        """
        return self._client.governor

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self._running_portal()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Cancel every call and walk still running, close the connections, stop the thread.

        May be called from any thread, and more than once. Calls cut short raise
        :class:`TransportError` in their threads; calls made afterwards raise
        :class:`ConfigurationError`.
        """
        with self._lock:
            self._closed = True
            stack, self._stack, self._portal = self._stack, None, None
            calls, self._calls = self._calls, set()
        for call in calls:
            call.cancel()  # the portal cancels the call's task on its loop
        if stack is not None:
            # The async client first (it cancels its walks and closes its connections, in
            # the task that entered it), then the loop, whose thread is joined.
            stack.close()

    def __del__(self) -> None:
        # A safety net for a client that was never closed. Not during interpreter shutdown:
        # the loop's thread may already be frozen there, and waiting for it would hang.
        if getattr(self, "_stack", None) is None or sys.is_finalizing():
            return
        if threading.get_ident() != self._loop_thread:
            with contextlib.suppress(Exception):
                self.close()

    def _running_portal(self) -> BlockingPortal:
        with self._lock:
            if self._closed:
                raise ConfigurationError(_CLOSED)
            if self._portal is None:
                with contextlib.ExitStack() as stack:
                    portal = stack.enter_context(start_blocking_portal(name="asyncinvoices"))
                    stack.enter_context(portal.wrap_async_context_manager(self._client))
                    self._loop_thread = portal.call(threading.get_ident)
                    self._stack = stack.pop_all()
                self._portal = portal
            return self._portal

    # -- carrying calls to the loop and back -------------------------------------------------

    def _submit(self, function: Callable[[], Any]) -> concurrent.futures.Future[Any] | None:
        """Start ``function`` on the client's loop; ``None`` if the client is closed."""
        with self._lock:
            if self._closed:
                return None
            portal = self._running_portal()
            future = portal.start_task_soon(function)
            self._calls.add(future)
            return future

    def _wait(self, future: concurrent.futures.Future[Any]) -> Any:
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise TransportError("the client was closed before the call finished") from None
        finally:
            with self._lock:
                self._calls.discard(future)

    @contextlib.contextmanager
    def _interruptible(self) -> Iterator[None]:
        """Turn a KeyboardInterrupt (or SystemExit) in the calling thread into a shutdown."""
        try:
            yield
        except Exception:
            raise
        except BaseException:
            # Ctrl-C while waiting leaves the call running on the loop: close the client,
            # which cancels every call, so that no thread, task or connection outlives the
            # program's end.
            self.close()
            raise

    def _call(self, function: Callable[[], Any], *, closed: bool = False) -> Any:
        """Run ``function`` on the loop and return its result, in the calling thread.

        Args:
            function: A coroutine function, or a plain function to run on the loop's thread.
            closed: What to do once the client is closed: ``False`` raises
                :class:`ConfigurationError`, ``True`` returns ``None`` (for reads and
                clean-ups that a closed client has made moot).
        """
        with self._interruptible():
            future = self._submit(function)
            if future is None:
                if closed:
                    return None
                raise ConfigurationError(_CLOSED)
            try:
                return self._wait(future)
            except TransportError:
                if closed and future.cancelled():
                    return None
                raise

    def _run(self, function: Callable[[], Awaitable[T]]) -> T:
        result: T = self._call(function)
        return result

    def _run_sync(self, function: Callable[[], T]) -> T:
        result: T = self._call(function)
        return result

    def _read(self, function: Callable[[], Awaitable[T]]) -> T | None:
        """Run ``function`` on the loop, or return ``None`` once the client is closed."""
        result: T | None = self._call(function, closed=True)
        return result

    # -- the public API ------------------------------------------------------------------

    def invoices(
        self,
        account_id: str,
        *,
        type: InvoiceType = "all",
        per_page: int | None = None,
        max_concurrency: int | None = None,
        read_ahead: int | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        on_progress: Callable[[FetchStats], object] | None = None,
        resume: dict[str, Any] | None = None,
    ) -> SyncInvoiceStream:
        """Iterate over every invoice of ``account_id``, newest first, each exactly once.

        See :meth:`InvoiceClient.invoices`. ``on_progress`` is called in the thread that
        iterates, before the first invoice of each page is returned.

        Args:
            account_id: The Cloudflare account id (32 hexadecimal characters).
            type: ``"all"``, ``"auto"`` (auto top-ups) or ``"manual"`` (manual top-ups).
            per_page: Overrides the client's page size for this walk.
            max_concurrency: Lowers the client's concurrency for this walk.
            read_ahead: Overrides the client's read-ahead for this walk.
            since: Only invoices created at or after this instant; see
                :meth:`InvoiceClient.invoices`.
            until: Only invoices created before this instant.
            on_progress: Called with :class:`FetchStats` after each page.
            resume: A value from :meth:`SyncInvoiceStream.checkpoint` to continue after.

        Raises:
            ConfigurationError: At once, for an invalid argument or a closed client.
        """
        relay, callback = _ProgressRelay.wrap(on_progress)
        create = functools.partial(
            self._client.invoices,
            account_id,
            type=type,
            per_page=per_page,
            max_concurrency=max_concurrency,
            read_ahead=read_ahead,
            since=since,
            until=until,
            on_progress=callback,
            resume=resume,
        )
        return SyncInvoiceStream(self, self._run_sync(create), relay, account_id, type)

    def pages(
        self,
        account_id: str,
        *,
        type: InvoiceType = "all",
        per_page: int | None = None,
        max_concurrency: int | None = None,
        read_ahead: int | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        on_progress: Callable[[FetchStats], object] | None = None,
        resume: dict[str, Any] | None = None,
    ) -> SyncPageStream:
        """Iterate over the pages of ``account_id`` in order; see :meth:`invoices`.

        Args:
            account_id: The Cloudflare account id (32 hexadecimal characters).
            type: ``"all"``, ``"auto"`` (auto top-ups) or ``"manual"`` (manual top-ups).
            per_page: Overrides the client's page size for this walk.
            max_concurrency: Lowers the client's concurrency for this walk.
            read_ahead: Overrides the client's read-ahead for this walk.
            since: Only invoices created at or after this instant; see
                :meth:`InvoiceClient.invoices`.
            until: Only invoices created before this instant.
            on_progress: Called with :class:`FetchStats` after each page.
            resume: A value from :meth:`SyncPageStream.checkpoint` to continue after.

        Raises:
            ConfigurationError: At once, for an invalid argument or a closed client.
        """
        relay, callback = _ProgressRelay.wrap(on_progress)
        create = functools.partial(
            self._client.pages,
            account_id,
            type=type,
            per_page=per_page,
            max_concurrency=max_concurrency,
            read_ahead=read_ahead,
            since=since,
            until=until,
            on_progress=callback,
            resume=resume,
        )
        return SyncPageStream(self, self._run_sync(create), relay, account_id, type)

    def list_invoices(
        self,
        account_id: str,
        *,
        type: InvoiceType = "all",
        per_page: int | None = None,
        max_concurrency: int | None = None,
        read_ahead: int | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        on_progress: Callable[[FetchStats], object] | None = None,
    ) -> list[Invoice]:
        """Return every invoice of ``account_id`` as a list, newest first.

        Args:
            account_id: The Cloudflare account id (32 hexadecimal characters).
            type: ``"all"``, ``"auto"`` (auto top-ups) or ``"manual"`` (manual top-ups).
            per_page: Overrides the client's page size for this walk.
            max_concurrency: Lowers the client's concurrency for this walk.
            read_ahead: Overrides the client's read-ahead for this walk.
            since: Only invoices created at or after this instant; see
                :meth:`InvoiceClient.invoices`.
            until: Only invoices created before this instant.
            on_progress: Called with :class:`FetchStats` after each page, in this thread.

        Raises:
            AsyncInvoicesError: A subclass describing what failed.
        """
        with self.invoices(
            account_id,
            type=type,
            per_page=per_page,
            max_concurrency=max_concurrency,
            read_ahead=read_ahead,
            since=since,
            until=until,
            on_progress=on_progress,
        ) as stream:
            return list(stream)

    def accounts(
        self,
        *,
        name: str | None = None,
        direction: Direction | None = None,
        per_page: int | None = None,
        read_ahead: int | None = None,
        on_progress: Callable[[AccountStats], object] | None = None,
    ) -> SyncAccountStream:
        """Iterate over every account the credentials can read; see :meth:`InvoiceClient.accounts`.

        Args:
            name: Only the accounts with exactly this name.
            direction: ``"asc"`` or ``"desc"``: the order by name.
            per_page: Accounts per request, 5 to 50.
            read_ahead: Overrides the client's read-ahead for this listing.
            on_progress: Called with :class:`AccountStats` after each page, in the thread
                that iterates.

        Raises:
            ConfigurationError: At once, for an invalid argument or a closed client.
        """
        relay, callback = _ProgressRelay.wrap(on_progress)
        create = functools.partial(
            self._client.accounts,
            name=name,
            direction=direction,
            per_page=per_page,
            read_ahead=read_ahead,
            on_progress=callback,
        )
        return SyncAccountStream(self, self._run_sync(create), relay)

    def invoices_many(
        self,
        account_ids: Iterable[str] | None = None,
        *,
        type: InvoiceType = "all",
        per_page: int | None = None,
        max_concurrency: int | None = None,
        read_ahead: int | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        on_progress: Callable[[ManyStats], object] | None = None,
        on_error: OnError = "raise",
        resume: dict[str, Any] | None = None,
    ) -> SyncManyStream:
        """Iterate over many accounts' invoices as ``(account_id, invoice)`` tuples.

        See :meth:`InvoiceClient.invoices_many`.

        Args:
            account_ids: The accounts, in the order wanted; ``None`` for every account the
                credentials can read.
            type: ``"all"``, ``"auto"`` or ``"manual"``.
            per_page: Overrides the client's page size.
            max_concurrency: Lowers the client's concurrency for this walk.
            read_ahead: Overrides the client's read-ahead.
            since: Only invoices created at or after this instant.
            until: Only invoices created before this instant.
            on_progress: Called with :class:`ManyStats` after each page, in the thread that
                iterates.
            on_error: ``"raise"`` or ``"skip"`` (failed accounts in ``stream.failures``).
            resume: A value from :meth:`SyncManyStream.checkpoint` to continue after.

        Raises:
            ConfigurationError: At once, for an invalid argument or a closed client.
        """
        relay, callback = _ProgressRelay.wrap(on_progress)
        create = functools.partial(
            self._client.invoices_many,
            None if account_ids is None else list(account_ids),
            type=type,
            per_page=per_page,
            max_concurrency=max_concurrency,
            read_ahead=read_ahead,
            since=since,
            until=until,
            on_progress=callback,
            on_error=on_error,
            resume=resume,
        )
        return SyncManyStream(self, self._run_sync(create), relay)

    def get_page(
        self,
        account_id: str,
        *,
        page: int = 1,
        type: InvoiceType = "all",
        per_page: int | None = None,
    ) -> InvoicePage:
        """Fetch one page, as the server sends it (with retries).

        Args:
            account_id: The Cloudflare account id.
            page: The 1-based page number.
            type: ``"all"``, ``"auto"`` or ``"manual"``.
            per_page: Overrides the client's page size for this request.

        Returns:
            The page exactly as the server sent it, with its pagination block.

        Raises:
            AsyncInvoicesError: A subclass describing what failed.
        """
        return self._run(
            functools.partial(
                self._client.get_page, account_id, page=page, type=type, per_page=per_page
            )
        )

    def count(self, account_id: str, *, type: InvoiceType = "all") -> int:
        """Return how many invoices match, from one request for a one-invoice page.

        Args:
            account_id: The Cloudflare account id (32 hexadecimal characters).
            type: ``"all"``, ``"auto"`` or ``"manual"``.

        If the server does not report ``total_count``, every page is walked and counted.

        Raises:
            AsyncInvoicesError: A subclass describing what failed.
        """
        return self._run(functools.partial(self._client.count, account_id, type=type))


class _AsyncStream(Protocol):
    """What a blocking stream needs of the async stream it drives."""

    @property
    def stats(self) -> Any: ...

    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Any: ...


A = TypeVar("A", bound=_AsyncStream)


class _SyncOver(Generic[A]):
    """What every blocking stream shares: the async stream it drives on the client's loop.

    ``with`` enters the async stream there; closing it (``close()``, leaving ``with``, or
    being collected after a ``break``) cancels its walk and keeps its last figures, which
    ``stats`` then returns once the client is closed.
    """

    def __init__(self, client: SyncInvoiceClient, stream: A, relay: _ProgressRelay) -> None:
        self._client = client
        self._stream: A = stream
        self._relay = relay
        self._snapshot: Any = None
        self._started = False
        self._closed = False

    def _latest_stats(self) -> Any:
        """The async stream's figures, read on the loop (where ``elapsed`` is measured and
        the counters change); once the client is closed, those taken when it last moved."""

        async def current() -> Any:
            return self._stream.stats

        latest = self._client._read(current)
        if latest is not None:
            self._snapshot = latest
        return self._snapshot

    def _drop_pending(self) -> None:
        """Forget what crossed from the loop but was not returned yet."""

    def close(self) -> None:
        """Stop the walk: cancel every request in flight and wait until they are gone."""
        if self._closed:
            return
        self._closed = True
        self._drop_pending()

        async def finish() -> Any:
            await self._stream.aclose()
            return self._stream.stats

        latest = self._client._read(finish)
        if latest is not None:
            self._snapshot = latest

    def __enter__(self) -> Self:
        self._started = True
        self._client._run(self._stream.__aenter__)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Self:
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


class _SyncStream(_SyncOver[S]):
    """The machinery shared by :class:`SyncInvoiceStream` and :class:`SyncPageStream`."""

    def __init__(
        self,
        client: SyncInvoiceClient,
        stream: S,
        relay: _ProgressRelay,
        account_id: str,
        type: InvoiceType,
    ) -> None:
        super().__init__(client, stream, relay)
        self._account_id = account_id
        self._type = type
        self._delivered = 0  # invoices returned to the caller
        self._snapshot = FetchStats()

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
        return self._view(stats)

    def _view(self, stats: FetchStats) -> FetchStats:
        """The async stream's figures, as seen from the last item returned here."""
        return stats

    def checkpoint(self) -> dict[str, Any]:
        """Return a JSON-serialisable value to continue this run later with ``resume=``.

        The run resumes after the last item this stream has returned, without returning it
        again; see :meth:`InvoiceStream.checkpoint`.
        """
        return self._stream.checkpoint()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running" if self._started else "new"
        return (
            f"<{type(self).__name__} account_id={self._account_id!r} type={self._type!r} "
            f"{state} invoices={self._delivered}>"
        )


class SyncInvoiceStream(_SyncStream[InvoiceStream]):
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

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        # Invoices cross from the loop a page at a time, each with the checkpoint the async
        # stream gave just after it: checkpoint() then names the last invoice returned
        # here, not the last one fetched.
        self._checkpoint = self._stream.checkpoint()
        self._pages = 0  # pages the async stream had received when it gave that invoice
        self._ended = False
        self._error: AsyncInvoicesError | None = None

    def _view(self, stats: FetchStats) -> FetchStats:
        if self._ended and not self._relay.events:
            return stats  # everything fetched has been returned
        return attrs.evolve(stats, pages=self._pages, invoices=self._delivered)

    def checkpoint(self) -> dict[str, Any]:
        """Return a JSON-serialisable value to continue this run later with ``resume=``.

        The run resumes after the last invoice this stream has returned, without returning
        it again; see :meth:`InvoiceStream.checkpoint`.
        """
        return dict(self._checkpoint)

    def __next__(self) -> Invoice:
        events = self._relay.events
        while not self._closed:
            while events:
                event = events.popleft()
                if isinstance(event, FetchStats):
                    with self._client._interruptible():
                        self._relay.call(event)
                    continue
                invoice, self._checkpoint, self._pages = event
                self._delivered += 1
                return invoice
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            if self._ended:
                self.close()  # keeps the final figures for `stats`
                break
            self._started = True
            self._ended, self._error = self._client._run(self._pull)
        raise StopIteration

    def _drop_pending(self) -> None:
        # Invoices already fetched but not yet returned are dropped with the rest.
        self._relay.events.clear()

    async def _pull(self) -> tuple[bool, AsyncInvoicesError | None]:
        """Move the rest of a page, and the first invoice of the next, to the relay.

        Runs on the client's loop, one crossing per page rather than per invoice. Returns
        whether the stream has ended, and the error that ended it.
        """
        stream, relay = self._stream, self._relay
        reported = relay.pages
        pages = stream.stats.pages
        while True:
            try:
                invoice = await stream.__anext__()
            except StopAsyncIteration:
                return True, None
            except AsyncInvoicesError as exc:
                return True, exc  # raised once the invoices before it have been returned
            if relay.pages == reported:
                relay.events.append((invoice, stream.checkpoint(), pages))
                continue
            # A page arrived during this call: hand over, before waiting for another.
            relay.events.append((invoice, stream.checkpoint(), stream.stats.pages))
            return False, None


class SyncPageStream(_SyncStream[PageStream]):
    """An iterator over an account's pages, in order; see :class:`PageStream`.

    Returned by :meth:`SyncInvoiceClient.pages`.
    """

    def __next__(self) -> InvoicePage:
        if self._closed:
            raise StopIteration
        self._started = True
        with self._client._interruptible():
            try:
                page = self._client._run(self._step)
            finally:
                self._relay.deliver()
        if page is None:
            self.close()  # keeps the final figures for `stats`
            raise StopIteration
        self._delivered += len(page.invoices)
        return page

    async def _step(self) -> InvoicePage | None:
        try:
            return await self._stream.__anext__()
        except StopAsyncIteration:
            return None


Item = TypeVar("Item")
Items = TypeVar("Items", bound=AccountStream | ManyStream)

# Items cross from the client's loop in batches of at most this many (or a page's worth,
# whichever ends first): a crossing costs far more than handing over one item.
_BATCH = 512


class _SyncItems(_SyncOver[Items], Generic[Items, Item]):
    """A blocking iterator over an async stream of items, crossing a batch at a time.

    Each item crosses with the stream's checkpoint just after it (where the stream has
    one), so that :meth:`checkpoint` names the last item returned here.
    """

    def __init__(self, client: SyncInvoiceClient, stream: Items, relay: _ProgressRelay) -> None:
        super().__init__(client, stream, relay)
        self._items: collections.deque[tuple[Any, dict[str, Any] | None]] = collections.deque()
        self._checkpoint: dict[str, Any] | None = None
        self._ended = False
        self._error: AsyncInvoicesError | None = None

    def __next__(self) -> Item:
        while not self._closed:
            self._relay.deliver()
            if self._items:
                item, self._checkpoint = self._items.popleft()
                return cast(Item, item)
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            if self._ended:
                self.close()
                break
            self._started = True
            with self._client._interruptible():
                self._ended, self._error = self._client._run(self._pull)
        raise StopIteration

    async def _pull(self) -> tuple[bool, AsyncInvoicesError | None]:
        stream, relay = self._stream, self._relay
        pages = relay.pages
        while len(self._items) < _BATCH and relay.pages == pages:
            try:
                item = await stream.__anext__()
            except StopAsyncIteration:
                return True, None
            except AsyncInvoicesError as exc:
                return True, exc  # raised once the items before it have been returned
            self._items.append((item, self._take_checkpoint()))
        return False, None

    def _take_checkpoint(self) -> dict[str, Any] | None:
        return None

    def _drop_pending(self) -> None:
        self._items.clear()


class SyncAccountStream(_SyncItems[AccountStream, Account]):
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


class SyncManyStream(_SyncItems[ManyStream, "tuple[str, Invoice]"]):
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

    def checkpoint(self) -> dict[str, Any]:
        """Return a JSON-serialisable value to continue after the last tuple returned here."""
        if self._checkpoint is None:
            return self._stream.checkpoint() if not self._items else self._items[0][1] or {}
        return dict(self._checkpoint)

    def _take_checkpoint(self) -> dict[str, Any] | None:
        return self._stream.checkpoint()
