"""``InvoiceClient``: the public entry point.

The client validates its configuration and owns the page fetcher (``_http/fetcher.py``: the
transport and its connection pool, the rate governor, the retry policy) and a task group in
which the walks of its streams run. Its life is one explicit state: unopened, opened (inside
``async with``), closed.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import os
from collections.abc import AsyncGenerator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import attrs

from asyncinvoices._http.counts import RequestCounts
from asyncinvoices._http.fetcher import PageFetcher
from asyncinvoices._http.observe import observer_for
from asyncinvoices._http.quota import (
    ENV_SHARED_QUOTA,
    QuotaStore,
    check_quota_key,
    default_quota_key,
)
from asyncinvoices._http.quota_stores import open_store
from asyncinvoices._http.telemetry import RequestEvent
from asyncinvoices._streams.accounts import AccountStream, check_listing_options
from asyncinvoices._walk.in_order import Deferred
from asyncinvoices._walk.listing import LISTING_SIZES, Direction, listing_params
from asyncinvoices._walk.pages import served_less
from asyncinvoices._wire.accounts import LISTING_PATH, AccountDecoder, AccountPage

from ._config import (
    Credentials,
    positive_float,
    positive_int,
    resolve_base_url,
    resolve_credentials,
    validate_account_id,
    validate_type,
)
from ._errors import ConfigurationError
from ._http.governor import RateGovernor
from ._http.retry import Backoff, RetryPolicy
from ._http.transport import DEFAULT_MAX_BODY, ClientSession, Transport
from ._models import (
    AccountStats,
    FetchStats,
    Invoice,
    InvoicePage,
    InvoiceType,
    ManyStats,
    RateLimit,
    RateWait,
)
from ._streams.invoices import InvoiceStream, PageStream, WalkSetup
from ._streams.many import ManyStream, OnError, unique_account_ids
from ._walk.driver import PageSizeProbe, check_bounds, fetch_first
from ._walk.page_size import PageSizes

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["InvoiceClient"]

_DEFAULT_RATE_LIMIT = RateLimit()

# The default read-ahead, in pages per request slot. Two rounds of requests ahead hide a slow
# page at the head; four also hide a page that waits out a quick retry (0.05 to 0.15 s plus
# its round trip): with 5% of requests failing, 60 ms each, C = 16, the walk took 1.38x the
# clean run with two and 1.17x with four (`docs/benchmarks.md`, "Faults"). A page ahead is
# held as its body, about 300 bytes an invoice, so large pages are held back to about
# `_AHEAD_INVOICES` invoices (10 MB), but never to fewer than two per slot. With the default
# page size (the largest the server accepts, up to 1,000) that is 32 pages at C = 8: about
# 10 MB ahead, 20 MB with the pages of the next accounts in `invoices_many`. A walk that was
# given no read-ahead derives it again from the page size the server really serves.
_READ_AHEAD_PER_SLOT = 4
_AHEAD_INVOICES = 32_000


def _default_read_ahead(max_concurrency: int, per_page: int) -> int:
    most = _READ_AHEAD_PER_SLOT * max_concurrency
    return max(2 * max_concurrency, min(most, _AHEAD_INVOICES // per_page))


def _check_callback(on_progress: object) -> None:
    if on_progress is not None and not callable(on_progress):
        raise ConfigurationError("on_progress must be callable")


def _shared_store(
    shared_quota: str | None,
    quota_key: str | None,
    credentials: Credentials,
    rate_limit: RateLimit | None,
) -> QuotaStore | None:
    """The store ``shared_quota`` (or ``ASYNCINVOICES_SHARED_QUOTA``) names, or ``None``."""
    spec = shared_quota if shared_quota is not None else os.environ.get(ENV_SHARED_QUOTA)
    key = default_quota_key(credentials) if quota_key is None else check_quota_key(quota_key)
    if not spec:
        return None
    store = open_store(spec, key)
    if store is not None and rate_limit is None:
        raise ConfigurationError("shared_quota needs a rate_limit: the quota to share")
    return store


class _State(enum.Enum):
    """Where a client is in its life; it only ever moves forward."""

    UNOPENED = 1  # created, `async with` not entered yet
    OPENED = 2  # inside `async with`: walks may start
    CLOSED = 3  # closed: nothing may start again


class InvoiceClient(anyio.AsyncContextManagerMixin):
    """An async client for Cloudflare's AI Gateway invoice history.

    Use it as an async context manager; it fetches pages concurrently, in order, within the
    rate limit, and retries what can be retried::

        async with InvoiceClient() as client:
            async for invoice in client.invoices("023e105f4ecef8ad9ca31a8372d0c353"):
                print(invoice.id, invoice.amount_due, invoice.status)

    Args:
        api_token: An API token with "AI Gateway Read". Default: ``CLOUDFLARE_API_TOKEN``.
        api_email: The account email for a legacy global API key (with ``api_key``).
            Default: ``CLOUDFLARE_EMAIL``.
        api_key: The legacy global API key. Default: ``CLOUDFLARE_API_KEY``.
        base_url: The API root. Default: ``CLOUDFLARE_BASE_URL``, else
            ``https://api.cloudflare.com/client/v4``. Must be https unless on loopback.
        max_concurrency: The most requests in flight at once, across all streams.
        per_page: The page size to ask for. Default ``None``: the largest the server
            accepts. A walk then asks for 1,000 invoices, the most any Cloudflare list
            endpoint is known to take, and adapts: to the maximum a refusal (400 / 6008)
            names, down 1,000, 100, 50, 20 after a refusal that names none, and to the size
            of pages the server silently serves smaller. What one walk learns, every later
            walk of this client uses, for any account. A size given here is never raised,
            only lowered to what the server accepts.
        timeout: Seconds one request attempt may take, first byte to last.
        max_retries: How many times a failed request is retried before its error is raised.
        rate_limit: The client-side quota, or ``None`` to send without counting.
        max_retry_wait: The longest ``Retry-After`` waited out; a longer one raises
            :class:`RateLimitError` at once.
        backoff: The waits between retries.
        max_body: The largest response body accepted, in bytes.
        session: An :class:`aiohttp.ClientSession` the caller owns; it is not closed.
        read_ahead: How many pages a walk may fetch beyond the one it is delivering.
            Default: four times ``max_concurrency``, so that free request slots do not wait
            for a slow page at the head, nor for a page waiting out a retry; fewer for large
            pages, as many as hold about 32,000 invoices, but never fewer than twice
            ``max_concurrency``. A walk holds at most ``read_ahead + 1`` pages, those
            ahead as their response bodies (decoded when the walk reaches them), and a
            server that overstates ``total_count`` costs at most ``read_ahead`` requests.
        on_wait: Called with a :class:`RateWait` whenever a request starts waiting for the
            rate limit (the wait is also logged on the ``asyncinvoices`` logger).
        shared_quota: Where the quota's window is kept, so that several processes spend one
            budget: ``redis://host:6379/0`` (``rediss://``, ``unix://``; needs
            ``asyncinvoices[redis]``) for processes on any machine, ``file:///directory``
            for those of one machine, ``local`` for this client alone. Default:
            ``ASYNCINVOICES_SHARED_QUOTA``, else ``local``. A store that cannot be reached
            fails a request with :class:`QuotaStoreError` before it is sent.
        quota_key: Names the budget in the shared store: clients with the same store and key
            share one window. Default: derived from a hash of the credentials (never the
            credentials themselves); give one key to several tokens of one Cloudflare user,
            whose quota they share.
        on_request: Called with a :class:`RequestEvent` after each request that went on the
            wire, retries and silent re-sends included: its status, ray id and timing.
        tracer_provider: The OpenTelemetry tracer provider for the client's spans; default:
            the global one. Needs ``opentelemetry-api`` (the ``otel`` extra); with it
            installed, walks, listings and requests are traced and measured (see
            "Observe it in production").
        meter_provider: The OpenTelemetry meter provider for the client's metrics; default:
            the global one.

    Raises:
        ConfigurationError: If a setting is invalid or no credentials can be found.
    """

    def __init__(
        self,
        *,
        api_token: str | None = None,
        api_email: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        max_concurrency: int = 8,
        per_page: int | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        rate_limit: RateLimit | None = _DEFAULT_RATE_LIMIT,
        max_retry_wait: float = 300.0,
        backoff: Backoff | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        session: ClientSession | None = None,
        read_ahead: int | None = None,
        on_wait: Callable[[RateWait], object] | None = None,
        shared_quota: str | None = None,
        quota_key: str | None = None,
        on_request: Callable[[RequestEvent], object] | None = None,
        tracer_provider: object | None = None,
        meter_provider: object | None = None,
    ) -> None:
        self._credentials: Credentials = resolve_credentials(
            api_token=api_token, api_email=api_email, api_key=api_key
        )
        self._base_url = resolve_base_url(base_url)
        self._max_concurrency = positive_int(max_concurrency, "max_concurrency")
        self._per_page = None if per_page is None else positive_int(per_page, "per_page")
        # What the walks learn of the page sizes each endpoint accepts, kept for every later
        # walk of this client (`_walk/page_size.py`).
        self._invoice_sizes = PageSizeProbe()
        self._listing_sizes = PageSizeProbe(PageSizes(LISTING_SIZES))
        max_retries = positive_int(max_retries, "max_retries", minimum=0)
        max_retry_wait = positive_float(max_retry_wait, "max_retry_wait", allow_zero=True)
        self._read_ahead = (
            None if read_ahead is None else positive_int(read_ahead, "read_ahead", minimum=0)
        )
        timeout = positive_float(timeout, "timeout")
        max_body = positive_int(max_body, "max_body")
        if rate_limit is not None and not isinstance(rate_limit, RateLimit):
            raise ConfigurationError("rate_limit must be a RateLimit or None")
        if on_wait is not None and not callable(on_wait):
            raise ConfigurationError("on_wait must be callable")
        store = _shared_store(shared_quota, quota_key, self._credentials, rate_limit)
        self._governor = RateGovernor(
            rate_limit, max_pause=max_retry_wait, on_wait=on_wait, store=store, timeout=timeout
        )
        self._fetcher = PageFetcher(
            base_url=self._base_url,
            credentials=self._credentials,
            transport=Transport(
                session=session, timeout=timeout, max_body=max_body, connections=max_concurrency
            ),
            governor=self._governor,
            max_concurrency=self._max_concurrency,
            observer=observer_for(
                tracer_provider=tracer_provider,
                meter_provider=meter_provider,
                on_request=on_request,
            ),
            policy=RetryPolicy(
                max_retries=max_retries,
                max_retry_wait=max_retry_wait,
                backoff=backoff or Backoff(),
            ),
        )
        self._state = _State.UNOPENED
        self._task_group: anyio.abc.TaskGroup | None = None
        self._walks: set[anyio.CancelScope] = set()  # one per walk, to cancel them alone

    def __repr__(self) -> str:
        return (
            f"<InvoiceClient base_url={self._base_url!r} credentials={self._credentials.kind} "
            f"max_concurrency={self._max_concurrency} per_page={self._per_page}>"
        )

    @property
    def base_url(self) -> str:
        """The API root requests are sent to."""
        return self._base_url

    @property
    def governor(self) -> RateGovernor:
        """The rate governor every request of this client passes through.

        Read it to see why requests are held back, e.g. ``client.governor.paused_until`` or
        ``client.governor.window.limits``.
        """
        return self._governor

    # -- lifecycle -------------------------------------------------------------------------

    @asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncGenerator[Self]:
        if self._state is _State.CLOSED:
            raise ConfigurationError("this InvoiceClient is closed; create a new one")
        # anyio's supported way to hold a task group across __aenter__ and __aexit__: the
        # walks of the streams run in it, so none outlives the client.
        deferred = Deferred()
        async with anyio.create_task_group() as task_group:
            self._task_group = task_group
            self._state = _State.OPENED
            try:
                # An error in the body of `async with` is raised again below, outside the
                # task group, so that it reaches the caller as itself.
                with deferred.keep(BaseException):
                    yield self
            finally:
                self._task_group = None
                await self.aclose()
        deferred.raise_kept()

    async def aclose(self) -> None:
        """Cancel every walk still running and close the connections this client opened.

        May be called from any task, inside or outside ``async with``; ``async with``
        finishes the rest when it exits.
        """
        self._state = _State.CLOSED
        # Only the walks are cancelled, each through its own scope: the task group's scope
        # also covers the body of the caller's `async with`, which must not be cancelled.
        for scope in list(self._walks):
            scope.cancel()
        await self._fetcher.aclose()
        await self._governor.aclose()

    def _spawn(self, function: Callable[[], Any]) -> None:
        if self._state is _State.CLOSED:
            raise ConfigurationError("this InvoiceClient is closed; create a new one")
        if self._task_group is None:
            raise ConfigurationError(
                "the client is not open: use 'async with InvoiceClient(...) as client:'"
            )
        scope = anyio.CancelScope()
        walks = self._walks
        walks.add(scope)

        async def walk() -> None:
            try:
                with scope:
                    await function()
            finally:
                walks.discard(scope)

        self._task_group.start_soon(walk)

    # -- the public API ------------------------------------------------------------------

    def _read_ahead_for(self, read_ahead: int | None, per_page: int) -> int:
        """A walk's read-ahead: its own, validated, the client's, or the default."""
        if read_ahead is not None:
            return positive_int(read_ahead, "read_ahead", minimum=0)
        if self._read_ahead is not None:
            return self._read_ahead
        return _default_read_ahead(self._max_concurrency, per_page)

    def _default_ahead(self, read_ahead: int | None) -> Callable[[int], int] | None:
        """How a walk's read-ahead follows the page size served, when it is the default."""
        if read_ahead is not None or self._read_ahead is not None:
            return None
        return functools.partial(_default_read_ahead, self._max_concurrency)

    def _page_size(self, per_page: int | None) -> int | None:
        """A walk's page size: its own, validated, the client's, or ``None`` (the largest)."""
        return self._per_page if per_page is None else positive_int(per_page, "per_page")

    def _setup(
        self,
        account_id: str,
        type: str,
        per_page: int | None,
        max_concurrency: int | None,
        read_ahead: int | None,
        on_progress: Callable[[FetchStats], object] | None,
        resume: object | None,
        bounds: tuple[dt.datetime | None, dt.datetime | None] = (None, None),
    ) -> WalkSetup:
        account_id = validate_account_id(account_id)
        kind = validate_type(type)
        size = self._page_size(per_page)
        concurrency = (
            self._max_concurrency
            if max_concurrency is None
            else positive_int(max_concurrency, "max_concurrency")
        )
        ahead = self._read_ahead_for(read_ahead, self._invoice_sizes.sizes.ask(size))
        _check_callback(on_progress)
        return WalkSetup(
            spawn=self._spawn,
            fetch=self._fetcher.walk(account_id, kind, max_concurrency=concurrency),
            account_id=account_id,
            type=kind,
            per_page=size,
            read_ahead=ahead,
            on_progress=on_progress,
            resume=resume,
            clock=anyio.current_time,
            since=bounds[0],
            until=bounds[1],
            probe=self._invoice_sizes,
            read_ahead_for=self._default_ahead(read_ahead),
        )

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
    ) -> InvoiceStream:
        """Iterate over every invoice of ``account_id``, newest first, each exactly once.

        Pages are fetched concurrently, at most ``max_concurrency`` at a time and at most
        ``read_ahead`` ahead of the one the consumer is reading, and delivered in order.

        Args:
            account_id: The Cloudflare account id (32 hexadecimal characters).
            type: ``"all"``, ``"auto"`` (auto top-ups) or ``"manual"`` (manual top-ups).
            per_page: Overrides the client's page size for this walk.
            max_concurrency: Lowers the client's concurrency for this walk.
            read_ahead: Overrides the client's read-ahead for this walk.
            since: Only invoices created at or after this instant (a timezone-aware
                datetime). Invoices come newest first, so the walk stops once a page ends
                before it; if the server's order turns out not to be by ``created``, every
                page is fetched and filtered (``stats.unordered``).
            until: Only invoices created before this instant.
            on_progress: Called with :class:`FetchStats` after each page.
            resume: A value from :meth:`InvoiceStream.checkpoint` to continue after.

        Raises:
            ConfigurationError: At once, for an invalid argument.
        """
        return InvoiceStream(
            self._setup(
                account_id,
                type,
                per_page,
                max_concurrency,
                read_ahead,
                on_progress,
                resume,
                (since, until),
            )
        )

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
    ) -> PageStream:
        """Iterate over the pages of ``account_id`` in order; see :meth:`invoices`.

        Each page holds the invoices delivered from it, so that the pages' invoices, taken
        together, are every invoice exactly once. The arguments are those of
        :meth:`invoices`; ``resume`` takes a value from :meth:`PageStream.checkpoint` (or
        :meth:`InvoiceStream.checkpoint`: a walk's checkpoint is the same for both).

        Raises:
            ConfigurationError: At once, for an invalid argument.
        """
        return PageStream(
            self._setup(
                account_id,
                type,
                per_page,
                max_concurrency,
                read_ahead,
                on_progress,
                resume,
                (since, until),
            )
        )

    async def list_invoices(
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
            since: Only invoices created at or after this instant; see :meth:`invoices`.
            until: Only invoices created before this instant.
            on_progress: Called with :class:`FetchStats` after each page.

        Raises:
            AsyncInvoicesError: A subclass describing what failed.
        """
        async with self.invoices(
            account_id,
            type=type,
            per_page=per_page,
            max_concurrency=max_concurrency,
            read_ahead=read_ahead,
            since=since,
            until=until,
            on_progress=on_progress,
        ) as stream:
            return [invoice async for invoice in stream]

    async def get_page(
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
            per_page: Asked for exactly; a size the server refuses raises
                :class:`BadRequestError`. Default: the client's page size, within what the
                client has learnt the server accepts (learning it, as a walk does).

        Returns:
            The page exactly as the server sent it, with its pagination block.

        Raises:
            AsyncInvoicesError: A subclass describing what failed.
        """
        account_id = validate_account_id(account_id)
        kind = validate_type(type)
        number = positive_int(page, "page")
        fetch = self._fetcher.walk(account_id, kind)
        if per_page is not None:
            return await fetch(number, positive_int(per_page, "per_page"))
        first, _ = await fetch_first(
            self._invoice_sizes,
            self._per_page,
            functools.partial(fetch, number),
            lambda got, asked: served_less(got, asked) or asked,
        )
        return first

    async def count(self, account_id: str, *, type: InvoiceType = "all") -> int:
        """Return how many invoices match, from one request for a one-invoice page.

        Args:
            account_id: The Cloudflare account id (32 hexadecimal characters).
            type: ``"all"``, ``"auto"`` or ``"manual"``.

        If the server does not report ``total_count``, every page is walked and counted.

        Raises:
            AsyncInvoicesError: A subclass describing what failed.
        """
        first = await self.get_page(account_id, page=1, type=type, per_page=1)
        if first.pagination.total_count is not None:
            return first.pagination.total_count
        total = 0
        async with self.pages(account_id, type=type) as pages:
            async for page in pages:
                total += len(page.invoices)
        return total

    # -- many accounts -----------------------------------------------------------------------

    def accounts(
        self,
        *,
        name: str | None = None,
        direction: Direction | None = None,
        per_page: int | None = None,
        read_ahead: int | None = None,
        on_progress: Callable[[AccountStats], object] | None = None,
    ) -> AccountStream:
        """Iterate over every account the credentials can read, from ``GET /accounts``.

        The first page tells how many pages the listing has (``result_info``); the others
        are fetched concurrently, within the client's concurrency and rate limit, and
        delivered in order. An account listed twice (the listing moved meanwhile) is
        yielded once.

        Args:
            name: Only the accounts with exactly this name.
            direction: ``"asc"`` or ``"desc"``: the order by name; the server's default when
                ``None``.
            per_page: Accounts per request, 5 to 50. Default: the client's ``per_page``
                brought into that range, or when the client has none the largest the server
                accepts: 50, the documented maximum, lowered as for invoices (to a maximum a
                refusal names, to 20 after one that names none, to the size of pages the
                server silently serves smaller), and kept for the client's later listings.
            read_ahead: Overrides the client's read-ahead for this listing.
            on_progress: Called with :class:`AccountStats` after each page.

        Raises:
            ConfigurationError: At once, for an invalid argument.
        """
        size = check_listing_options(name, direction, per_page, self._per_page)
        ahead = self._read_ahead_for(read_ahead, self._listing_sizes.sizes.ask(size))
        _check_callback(on_progress)
        counts = RequestCounts()
        decoder = AccountDecoder()
        fetcher = self._fetcher
        scope = fetcher.observer.listing(counts)

        async def fetch(page: int, size: int) -> AccountPage:
            params = listing_params(page=page, per_page=size, name=name, direction=direction)
            return await fetcher.request(
                LISTING_PATH, params, decoder, page=page, counts=counts, scope=scope
            )

        return AccountStream(
            spawn=self._spawn,
            fetch=fetch,
            counts=counts,
            per_page=size,
            probe=self._listing_sizes,
            read_ahead=ahead,
            on_progress=on_progress,
            clock=anyio.current_time,
            scope=scope,
        )

    def _many_setup(
        self,
        type: str,
        per_page: int | None,
        max_concurrency: int | None,
        read_ahead: int | None,
        bounds: tuple[dt.datetime | None, dt.datetime | None],
    ) -> tuple[WalkSetup, Callable[[str], WalkSetup]]:
        """Validate the options of ``invoices_many`` once; return them and a per-account setup.

        Every account's walk shares one limiter when ``max_concurrency`` lowers the client's,
        so that it bounds the accounts together.
        """
        first = "0" * 32  # a stand-in: the options are checked before any account is known
        probe = self._setup(first, type, per_page, max_concurrency, read_ahead, None, None, bounds)
        check_bounds(*bounds)
        limiter = self._fetcher.limiter(max_concurrency)

        def setup(account_id: str) -> WalkSetup:
            return attrs.evolve(
                probe,
                account_id=account_id,
                fetch=self._fetcher.walk(account_id, probe.type, limiter=limiter),
            )

        return probe, setup

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
    ) -> ManyStream:
        """Iterate over the invoices of many accounts as ``(account_id, invoice)`` tuples.

        The output is grouped: the accounts in the order given (or the listing's), each
        account's invoices in the order :meth:`invoices` gives them, each exactly once. The
        accounts are not fetched one after another: the next accounts' pages are fetched
        while earlier ones are delivered, within the client's concurrency, rate limit and
        read-ahead, so that many one-page accounts take about ``accounts / concurrency``
        round trips. At most about ``2 * read_ahead + 1`` pages are held across accounts.

        Args:
            account_ids: The accounts (checked before any request; a repeat is walked once),
                or ``None`` for every account :meth:`accounts` lists.
            type: ``"all"``, ``"auto"`` (auto top-ups) or ``"manual"`` (manual top-ups).
            per_page: Overrides the client's page size for these walks.
            max_concurrency: Lowers the client's concurrency for these walks, together.
            read_ahead: Pages fetched beyond the one delivered, in its account and after it.
            since: Only invoices created at or after this instant; see :meth:`invoices`.
            until: Only invoices created before this instant.
            on_progress: Called with :class:`ManyStats` after each page and each account.
            on_error: ``"raise"``: the first failure in output order is raised. ``"skip"``:
                a failed account is recorded in ``stream.failures`` and the walk goes on
                (what it yielded stays yielded); a :class:`RateLimitError` is raised anyway.
            resume: A value from :meth:`ManyStream.checkpoint` to continue after.

        Raises:
            ConfigurationError: At once, for an invalid argument or account id.
        """
        ids = None if account_ids is None else unique_account_ids(account_ids)
        if on_error not in ("raise", "skip"):
            raise ConfigurationError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        _check_callback(on_progress)
        probe, setup = self._many_setup(type, per_page, max_concurrency, read_ahead, (since, until))
        return ManyStream(
            spawn=self._spawn,
            setup=setup,
            account_ids=ids,
            listing=None if ids is not None else self.accounts,
            read_ahead=probe.read_ahead,
            on_error=on_error,
            on_progress=on_progress,
            resume=resume,
            type=probe.type,
            bounds=(since, until),
            clock=anyio.current_time,
        )
