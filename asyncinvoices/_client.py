"""``InvoiceClient``: the public entry point, and the one place requests are sent from.

The client validates its configuration, owns the transport (and so the connection pool),
the rate governor and a task group for the walks of its streams. Each request goes through
the same steps: a concurrency slot, a place in the governor's window, the transport, the
protocol decoder; failures that may succeed later are retried with backoff.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from ._config import (
    Credentials,
    positive_float,
    positive_int,
    resolve_base_url,
    resolve_credentials,
    validate_account_id,
    validate_type,
)
from ._errors import (
    APIError,
    AsyncInvoicesError,
    ConfigurationError,
    RateLimitError,
    TransportError,
)
from ._governor import RateGovernor
from ._models import FetchStats, Invoice, InvoicePage, InvoiceType, RateLimit
from ._protocol import (
    ResponseDecoder,
    invoice_history_path,
    is_retryable_status,
    parse_ratelimit,
    query_params,
)
from ._retry import Backoff
from ._stream import Counters, InvoiceStream, PageStream
from ._transport import DEFAULT_MAX_BODY, ClientSession, RawResponse, Transport

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["InvoiceClient"]

logger = logging.getLogger("asyncinvoices")

_DEFAULT_RATE_LIMIT = RateLimit()


class InvoiceClient:
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
        per_page: The page size to ask for; the server may answer with a smaller one.
        timeout: Seconds one request attempt may take, first byte to last.
        max_retries: How many times a failed request is retried before its error is raised.
        rate_limit: The client-side quota, or ``None`` to send without counting.
        max_retry_wait: The longest ``Retry-After`` waited out; a longer one raises
            :class:`RateLimitError` at once.
        backoff: The waits between retries.
        max_body: The largest response body accepted, in bytes.
        session: An :class:`aiohttp.ClientSession` the caller owns; it is not closed.

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
        per_page: int = 50,
        timeout: float = 30.0,
        max_retries: int = 5,
        rate_limit: RateLimit | None = _DEFAULT_RATE_LIMIT,
        max_retry_wait: float = 300.0,
        backoff: Backoff | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        session: ClientSession | None = None,
    ) -> None:
        self._credentials: Credentials = resolve_credentials(
            api_token=api_token, api_email=api_email, api_key=api_key
        )
        self._base_url = resolve_base_url(base_url)
        self._max_concurrency = positive_int(max_concurrency, "max_concurrency")
        self._per_page = positive_int(per_page, "per_page")
        self._max_retries = positive_int(max_retries, "max_retries", minimum=0)
        self._max_retry_wait = positive_float(max_retry_wait, "max_retry_wait", allow_zero=True)
        timeout = positive_float(timeout, "timeout")
        max_body = positive_int(max_body, "max_body")
        if rate_limit is not None and not isinstance(rate_limit, RateLimit):
            raise ConfigurationError("rate_limit must be a RateLimit or None")
        self._rate_limit = rate_limit
        self._backoff = backoff or Backoff()
        self._transport = Transport(
            session=session, timeout=timeout, max_body=max_body, connections=max_concurrency
        )
        self._decoder = ResponseDecoder()
        self._governor = RateGovernor(rate_limit, max_pause=self._max_retry_wait)
        self._limiter = anyio.CapacityLimiter(self._max_concurrency)
        self._task_group: anyio.abc.TaskGroup | None = None
        self._owner: int | None = None  # the task that entered the client and its task group
        self._children: set[anyio.CancelScope] = set()  # one per walk, to cancel them alone
        self._closed = False

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

        Internal; exposed for tests and diagnostics (e.g. ``client.governor.paused_until``).
        """
        return self._governor

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._closed:
            raise ConfigurationError("this InvoiceClient is closed; create a new one")
        if self._task_group is None:
            task_group = anyio.create_task_group()
            await task_group.__aenter__()
            self._task_group = task_group
            self._owner = anyio.get_current_task().id
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel every walk still running and close the connections this client opened.

        May be called from any task. The task group of the walks can only be left by the task
        that entered the client, so from another task the walks are cancelled and the
        connections closed, and ``async with`` finishes the rest when it exits.
        """
        task_group = self._task_group
        if self._closed and task_group is None:
            return
        self._closed = True
        # Only the walks are cancelled, each through its own scope: the task group's scope
        # also covers the body of the caller's `async with`, which must not be cancelled.
        for scope in list(self._children):
            scope.cancel()
        try:
            if task_group is not None and self._owner == anyio.get_current_task().id:
                self._task_group = None
                await task_group.__aexit__(None, None, None)
        finally:
            with anyio.CancelScope(shield=True):
                await self._transport.aclose()

    def _spawn(self, function: Callable[[], Any]) -> None:
        if self._closed:
            raise ConfigurationError("this InvoiceClient is closed; create a new one")
        if self._task_group is None:
            raise ConfigurationError(
                "the client is not open: use 'async with InvoiceClient(...) as client:'"
            )
        scope = anyio.CancelScope()
        children = self._children
        children.add(scope)

        async def child() -> None:
            try:
                with scope:
                    await function()
            finally:
                children.discard(scope)

        self._task_group.start_soon(child)

    # -- one request -----------------------------------------------------------------------

    async def _request(
        self,
        *,
        account_id: str,
        type: InvoiceType,
        page: int,
        per_page: int,
        counters: Counters,
        limiter: anyio.CapacityLimiter | None,
    ) -> InvoicePage:
        if self._closed:
            raise ConfigurationError("this InvoiceClient is closed")
        url = self._base_url + invoice_history_path(account_id)
        params = query_params(page=page, per_page=per_page, type=type)
        retry = 0
        while True:
            error: AsyncInvoicesError
            try:
                raw = await self._send(url, params, page, retry, counters, limiter)
                self._governor.observe(parse_ratelimit(raw.headers))
                return self._decoder.decode(
                    raw.status,
                    raw.headers,
                    raw.body,
                    page=page,
                    now=dt.datetime.now(dt.timezone.utc),
                )
            except TransportError as exc:
                error = exc
            except RateLimitError as exc:
                error = exc
                wait = exc.retry_after
                if wait is not None and wait > self._max_retry_wait:
                    raise RateLimitError(
                        f"{exc} exceeds max_retry_wait={self._max_retry_wait:g} s; "
                        "Cloudflare blocks the token until then",
                        status=exc.status,
                        errors=exc.errors,
                        ray_id=exc.ray_id,
                        page=page if exc.page is None else exc.page,
                        retry_after=wait,
                    ) from None
                if retry < self._max_retries:
                    # A 429 means the whole client is over: hold every request, not just this.
                    pause = wait if wait is not None else self._backoff.delay(retry + 1)
                    self._governor.pause_until(anyio.current_time() + pause)
            except APIError as exc:
                if not is_retryable_status(exc.status):
                    raise
                error = exc
            if retry >= self._max_retries:
                raise error
            retry += 1
            delay = self._backoff.delay(retry)
            logger.warning(
                "page %d: %s; retry %d of %d in %.2f s",
                page,
                error,
                retry,
                self._max_retries,
                delay,
            )
            await anyio.sleep(delay)

    async def _send(
        self,
        url: str,
        params: dict[str, str],
        page: int,
        retry: int,
        counters: Counters,
        limiter: anyio.CapacityLimiter | None,
    ) -> RawResponse:
        if limiter is not None:
            async with limiter:
                return await self._send_admitted(url, params, page, retry, counters)
        return await self._send_admitted(url, params, page, retry, counters)

    async def _send_admitted(
        self, url: str, params: dict[str, str], page: int, retry: int, counters: Counters
    ) -> RawResponse:
        async with self._limiter, self._governor.slot() as waited:
            counters.throttled_seconds += waited
            counters.requests += 1
            if retry:
                counters.retries += 1
            logger.debug("GET %s page=%d per_page=%s", url, page, params["per_page"])
            headers = self._credentials.headers()
            headers["Accept"] = "application/json"
            return await self._transport.get(url, params=params, headers=headers, page=page)

    def _fetcher(
        self, account_id: str, type: InvoiceType, max_concurrency: int | None
    ) -> Callable[[Counters], Callable[[int, int], Any]]:
        limiter = (
            anyio.CapacityLimiter(max_concurrency)
            if max_concurrency is not None and max_concurrency < self._max_concurrency
            else None
        )

        def bind(counters: Counters) -> Callable[[int, int], Any]:
            async def fetch(page: int, per_page: int) -> InvoicePage:
                return await self._request(
                    account_id=account_id,
                    type=type,
                    page=page,
                    per_page=per_page,
                    counters=counters,
                    limiter=limiter,
                )

            return fetch

        return bind

    # -- the public API ------------------------------------------------------------------

    def _stream_kwargs(
        self,
        account_id: str,
        type: str,
        per_page: int | None,
        max_concurrency: int | None,
        on_progress: Callable[[FetchStats], object] | None,
        resume: object | None,
    ) -> dict[str, Any]:
        account_id = validate_account_id(account_id)
        kind = validate_type(type)
        size = self._per_page if per_page is None else positive_int(per_page, "per_page")
        concurrency = (
            self._max_concurrency
            if max_concurrency is None
            else positive_int(max_concurrency, "max_concurrency")
        )
        if on_progress is not None and not callable(on_progress):
            raise ConfigurationError("on_progress must be callable")
        return {
            "spawn": self._spawn,
            "fetch": self._fetcher(account_id, kind, concurrency),
            "account_id": account_id,
            "type": kind,
            "per_page": size,
            # At most `concurrency` pages ahead of the one being delivered: this bounds both
            # memory and the requests wasted when a server overstates total_count. A wider
            # window hides head-of-line waits better (docs/benchmarks.md measures both).
            "window": min(concurrency, self._max_concurrency),
            "on_progress": on_progress,
            "resume": resume,
            "clock": anyio.current_time,
        }

    def invoices(
        self,
        account_id: str,
        *,
        type: InvoiceType = "all",
        per_page: int | None = None,
        max_concurrency: int | None = None,
        on_progress: Callable[[FetchStats], object] | None = None,
        resume: dict[str, Any] | None = None,
    ) -> InvoiceStream:
        """Iterate over every invoice of ``account_id``, newest first, each exactly once.

        Pages are fetched concurrently, at most ``max_concurrency`` at a time and at most that
        many ahead of the consumer, and delivered in order.

        Args:
            account_id: The Cloudflare account id (32 hexadecimal characters).
            type: ``"all"``, ``"auto"`` (auto top-ups) or ``"manual"`` (manual top-ups).
            per_page: Overrides the client's page size for this walk.
            max_concurrency: Lowers the client's concurrency for this walk.
            on_progress: Called with :class:`FetchStats` after each page.
            resume: A value from :meth:`InvoiceStream.checkpoint` to continue after.

        Raises:
            ConfigurationError: At once, for an invalid argument.
        """
        return InvoiceStream(
            **self._stream_kwargs(account_id, type, per_page, max_concurrency, on_progress, resume)
        )

    def pages(
        self,
        account_id: str,
        *,
        type: InvoiceType = "all",
        per_page: int | None = None,
        max_concurrency: int | None = None,
        on_progress: Callable[[FetchStats], object] | None = None,
        resume: dict[str, Any] | None = None,
    ) -> PageStream:
        """Iterate over the pages of ``account_id`` in order; see :meth:`invoices`.

        Each page holds the invoices delivered from it, so that the pages' invoices, taken
        together, are every invoice exactly once.

        Args:
            account_id: The Cloudflare account id (32 hexadecimal characters).
            type: ``"all"``, ``"auto"`` (auto top-ups) or ``"manual"`` (manual top-ups).
            per_page: Overrides the client's page size for this walk.
            max_concurrency: Lowers the client's concurrency for this walk.
            on_progress: Called with :class:`FetchStats` after each page.
            resume: A value from :meth:`PageStream.checkpoint` to continue after.

        Raises:
            ConfigurationError: At once, for an invalid argument.
        """
        return PageStream(
            **self._stream_kwargs(account_id, type, per_page, max_concurrency, on_progress, resume)
        )

    async def list_invoices(
        self,
        account_id: str,
        *,
        type: InvoiceType = "all",
        per_page: int | None = None,
        max_concurrency: int | None = None,
        on_progress: Callable[[FetchStats], object] | None = None,
    ) -> list[Invoice]:
        """Return every invoice of ``account_id`` as a list, newest first.

        Args:
            account_id: The Cloudflare account id (32 hexadecimal characters).
            type: ``"all"``, ``"auto"`` (auto top-ups) or ``"manual"`` (manual top-ups).
            per_page: Overrides the client's page size for this walk.
            max_concurrency: Lowers the client's concurrency for this walk.
            on_progress: Called with :class:`FetchStats` after each page.

        Raises:
            AsyncInvoicesError: A subclass describing what failed.
        """
        async with self.invoices(
            account_id,
            type=type,
            per_page=per_page,
            max_concurrency=max_concurrency,
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
            per_page: Overrides the client's page size for this request.

        Returns:
            The page exactly as the server sent it, with its pagination block.

        Raises:
            AsyncInvoicesError: A subclass describing what failed.
        """
        account_id = validate_account_id(account_id)
        kind = validate_type(type)
        number = positive_int(page, "page")
        size = self._per_page if per_page is None else positive_int(per_page, "per_page")
        return await self._request(
            account_id=account_id,
            type=kind,
            page=number,
            per_page=size,
            counters=Counters(),
            limiter=None,
        )

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
