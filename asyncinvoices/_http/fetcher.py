"""The page fetcher: everything between "I need page 7" and an :class:`InvoicePage`.

One :class:`PageFetcher` per client owns the concurrency limit, the rate governor, the
transport, the decoder and the retry policy. Sending is layered as in httpx:

* :meth:`PageFetcher.fetch`, the retry layer, asks :class:`.retry.RetryPolicy` what follows
  a failure and carries it out (wait and send again, or pause the whole client on a 429);
* :meth:`PageFetcher._send_once`, the send-once layer: a concurrency slot, the transport
  (which takes a place in the governor's window for every attempt on the wire), the
  ``Ratelimit`` headers to the governor, and the protocol decoder.

A walk binds the fetcher to its account and type with :meth:`PageFetcher.walk` and gets a
:class:`WalkFetch`, the ``fetch(page, per_page)`` its paginator calls, which tallies that
walk's requests in its own :class:`RequestCounts`.

:meth:`PageFetcher.request` is the same path for any other GET of the API (the account
listing): its own path, query and decoder, through the same retries, concurrency slots and
rate governor, because Cloudflare counts every request of a token against one quota
(docs/cloudflare-api.md, "Rate limits").
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from typing import Generic, TypeVar

import anyio
import attrs

from asyncinvoices._config import Credentials
from asyncinvoices._errors import AsyncInvoicesError, ConfigurationError
from asyncinvoices._http.counts import RequestCounts, WireTally
from asyncinvoices._http.transport import Transport
from asyncinvoices._models import InvoicePage, InvoiceType
from asyncinvoices._wire.protocol import (
    Received,
    ResponseDecoder,
    decoded,
    invoice_history_path,
    parse_ratelimit,
    query_params,
)

from .governor import RateGovernor
from .retry import Pause, RetryPolicy
from .telemetry import NO_OBSERVER, NO_SCOPE, Observer, Probe, Scope

__all__ = [
    "INVOICE_HISTORY_TEMPLATE",
    "Decode",
    "PageFetcher",
    "WalkFetch",
]

INVOICE_HISTORY_TEMPLATE = invoice_history_path("{account_id}")
"""The invoice history's path with its placeholder, as telemetry names its requests."""

T = TypeVar("T")

Decode = Callable[[int, Mapping[str, str], bytes, int, dt.datetime], T]
"""Turns ``(status, headers, body, page, now)`` into a value, or raises a typed error."""

logger = logging.getLogger("asyncinvoices")


@attrs.frozen
class _Call(Generic[T]):
    """One GET as :meth:`PageFetcher.request` was asked for it, the same for every attempt."""

    path: str
    params: dict[str, str]
    decode: Decode[T]
    page: int
    counts: RequestCounts
    limiter: anyio.CapacityLimiter | None


@attrs.frozen
class _Target:
    account_id: str
    type: InvoiceType
    limiter: anyio.CapacityLimiter | None  # the walk's own, when it asked for less concurrency


class PageFetcher:
    """Fetches one page at a time for any walk of a client, within the client's limits.

    Args:
        base_url: The API root.
        credentials: What authenticates every request.
        transport: The I/O boundary.
        governor: The client's rate governor.
        max_concurrency: The most requests in flight at once, across every walk.
        policy: What is retried and how long to wait.
        observer: What reports the requests (OpenTelemetry, ``on_request``), if anything.
    """

    def __init__(
        self,
        *,
        base_url: str,
        credentials: Credentials,
        transport: Transport,
        governor: RateGovernor,
        max_concurrency: int,
        policy: RetryPolicy,
        observer: Observer = NO_OBSERVER,
    ) -> None:
        self._base_url = base_url
        self.observer = observer
        self._credentials = credentials
        self._transport = transport
        self._governor = governor
        self._limiter = anyio.CapacityLimiter(max_concurrency)
        self._max_concurrency = max_concurrency
        self._policy = policy
        self._decoder = ResponseDecoder()
        self._closed = False
        self.totals = RequestCounts()
        """Every request this fetcher sent, across all walks."""

    @property
    def closed(self) -> bool:
        """Whether no connection pool is open: never opened, or closed."""
        return self._transport.closed

    def limiter(self, max_concurrency: int | None) -> anyio.CapacityLimiter | None:
        """Return a limiter for requests that may use fewer slots than the client, or None.

        Share one between several walks to bound them together (``invoices_many``).
        """
        if max_concurrency is not None and max_concurrency < self._max_concurrency:
            return anyio.CapacityLimiter(max_concurrency)
        return None

    def walk(
        self,
        account_id: str,
        type: InvoiceType,
        *,
        max_concurrency: int | None = None,
        limiter: anyio.CapacityLimiter | None = None,
    ) -> WalkFetch:
        """Bind the fetcher to one walk; ``max_concurrency`` may only lower the client's.

        Args:
            account_id: The account walked.
            type: The invoice type filter.
            max_concurrency: The walk's own limit, when lower than the client's.
            limiter: A limiter shared with other walks, instead of ``max_concurrency``.
        """
        if limiter is None:
            limiter = self.limiter(max_concurrency)
        return WalkFetch(self, _Target(account_id, type, limiter))

    async def aclose(self) -> None:
        """Refuse further requests and close the connections the transport opened."""
        self._closed = True
        with anyio.CancelScope(shield=True):
            await self._transport.aclose()

    async def fetch(
        self,
        target: _Target,
        page: int,
        per_page: int,
        counts: RequestCounts,
        scope: Scope = NO_SCOPE,
    ) -> InvoicePage | Received:
        """Fetch one page of invoices, retrying as the policy says.

        Returns:
            The page, or a 2xx response still to decode (:meth:`Received.decode`).

        Raises:
            AsyncInvoicesError: The last failure, once the policy gives up.
        """
        return await self.request(
            invoice_history_path(target.account_id),
            query_params(page=page, per_page=per_page, type=target.type),
            self._receive_invoices,
            page=page,
            counts=counts,
            limiter=target.limiter,
            scope=scope,
            template=INVOICE_HISTORY_TEMPLATE,
        )

    def _receive_invoices(
        self, status: int, headers: Mapping[str, str], body: bytes, page: int, now: dt.datetime
    ) -> InvoicePage | Received:
        return self._decoder.receive(status, headers, body, page=page, now=now)

    async def request(
        self,
        path: str,
        params: dict[str, str],
        decode: Decode[T],
        *,
        page: int,
        counts: RequestCounts,
        limiter: anyio.CapacityLimiter | None = None,
        scope: Scope = NO_SCOPE,
        template: str | None = None,
    ) -> T:
        """GET ``path`` (below the API root) with ``params``, retrying as the policy says.

        Every request passes the client's concurrency limit, rate governor and retries, so
        that the listing and the invoice walks share one quota.

        Args:
            path: The path below the API root, already validated.
            params: The query.
            decode: Turns the response into a value or raises a typed error.
            page: The page number asked for, for logs and errors.
            counts: Where the requests are tallied (besides the client's totals).
            limiter: A further, lower concurrency limit, or None.
            scope: The walk or listing the request belongs to, for telemetry.
            template: ``path`` with placeholders for its variable parts, for telemetry.

        Raises:
            AsyncInvoicesError: The last failure, once the policy gives up.
        """
        # One probe for all the attempts, so that each knows how many went before it.
        probe = scope.probe(page, path if template is None else template)
        call = _Call(path, params, decode, page, counts, limiter)
        retry = 0
        while True:
            error: AsyncInvoicesError
            try:
                return await self._send_once(call, retry=retry > 0, probe=probe)
            except AsyncInvoicesError as exc:
                error = exc
            # Decided outside the `except` block, so that a new error does not chain to it.
            if self._closed:
                raise error  # the client closed under the request: nothing to retry for
            decision = self._policy.decide(error, retry)
            retry += 1
            if isinstance(decision, Pause):
                logger.warning(
                    "page %d: %s; every request waits %.1f s, then retry %d of %d",
                    page,
                    error,
                    decision.seconds,
                    retry,
                    self._policy.max_retries,
                    extra=_log_fields(page, error, decision.seconds),
                )
                self._governor.pause_until(anyio.current_time() + decision.seconds)
                continue
            logger.warning(
                "page %d: %s; retry %d of %d in %.2f s",
                page,
                error,
                retry,
                self._policy.max_retries,
                decision.delay,
                extra=_log_fields(page, error, decision.delay),
            )
            await anyio.sleep(decision.delay)

    async def _send_once(self, call: _Call[T], *, retry: bool, probe: Probe | None = None) -> T:
        if self._closed:
            raise ConfigurationError("this InvoiceClient is closed")
        page, params, limiter = call.page, call.params, call.limiter
        url = self._base_url + call.path
        headers = self._credentials.headers()
        headers["Accept"] = "application/json"
        tally = WireTally()
        gate = functools.partial(self._governor.slot, page)
        try:
            async with AsyncExitStack() as slots:
                if limiter is not None:
                    await slots.enter_async_context(limiter)
                await slots.enter_async_context(self._limiter)
                if logger.isEnabledFor(logging.DEBUG):  # the query text only when it is logged
                    logger.debug("GET %s %s", url, " ".join(f"{k}={v}" for k, v in params.items()))
                raw = await self._transport.get(
                    url,
                    params=params,
                    headers=headers,
                    page=page,
                    gate=gate,
                    tally=tally,
                    probe=probe,
                )
        finally:
            call.counts.add(tally, retry=retry)
            self.totals.add(tally, retry=retry)
        if logger.isEnabledFor(logging.DEBUG):
            ray_id = raw.headers.get("cf-ray")
            logger.debug(
                "page %d: HTTP %d, ray %s",
                page,
                raw.status,
                ray_id,
                extra={"page": page, "status": raw.status, "ray_id": ray_id},
            )
        self._governor.observe(parse_ratelimit(raw.headers))
        return call.decode(
            raw.status, raw.headers, raw.body, page, dt.datetime.now(dt.timezone.utc)
        )


def _log_fields(page: int, error: AsyncInvoicesError, wait: float) -> dict[str, object]:
    """The fields of a retry's log record, for structured (JSON) logs."""
    return {
        "page": page,
        "status": getattr(error, "status", None),
        "ray_id": getattr(error, "ray_id", None),
        "wait": wait,
    }


class WalkFetch:
    """``await fetch(page, per_page)`` for one walk, with that walk's :class:`RequestCounts`."""

    def __init__(self, fetcher: PageFetcher, target: _Target) -> None:
        self._fetcher = fetcher
        self._target = target
        self.counts = RequestCounts()
        self.scope = fetcher.observer.walk(target.account_id, target.type, self.counts)
        """Where the walk's requests are reported; its stream runs the walk in it."""

    async def __call__(self, page: int, per_page: int) -> InvoicePage:
        """Fetch ``page`` of ``per_page`` invoices, with retries."""
        return decoded(await self.received(page, per_page))

    async def received(self, page: int, per_page: int) -> InvoicePage | Received:
        """Fetch ``page`` of ``per_page`` invoices, with retries; a 2xx is left to decode."""
        return await self._fetcher.fetch(self._target, page, per_page, self.counts, self.scope)
