"""What FakeCloudflare serves: the aiohttp application, its routes, and how it answers.

Every decision about a request (rate limit, routing, authentication, parameters, faults,
the page to serve) is made synchronously the moment it arrives, so the order of arrival is
the order of effect even when a thousand requests are in flight; only the latency, the
``slow`` fault and the writing of the response are awaited afterwards.

This is the one module of the fake that speaks HTTP: it asks the `FaultInjector` what to
inject, the `InvoiceStore` what to serve, and tells the `Traffic` what arrived and left.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import socket
import struct
from collections.abc import Callable
from typing import Any, Final, cast

import attrs
from aiohttp import web

from ._checks import (
    Credentials,
    PerPageLimit,
    authenticate,
    bad_query,
    parse_int,
    rate_limited,
    validate_invoice_query,
)
from ._data import AccountData, InvoiceType, hex_digest
from ._injector import FaultInjector
from ._listing import ListingQuery, parse_listing_query
from ._ratelimit import RateDecision
from ._reply import HTML, JSON, Exchange, Reply, error_reply
from ._responses import error_body, html_error_page, no_route
from ._store import InvoiceStore
from ._traffic import ServedRequest, Traffic

__all__ = ["API_PREFIX", "ENDPOINT", "Endpoints", "PageLimits"]

API_PREFIX: Final = "/client/v4"
ENDPOINT: Final = "/accounts/{account_id}/ai-gateway/billing/invoice-history"
#: Cloudflare account ids are 32 hexadecimal characters (docs/cloudflare-api.md, "Authentication").
_ACCOUNT_ID: Final = re.compile(r"[0-9a-fA-F]{32}")
_COLO: Final = "SJC"
_NOT_ALLOWED: Final = [{"code": 10405, "message": "Method not allowed"}]

_Decide = Callable[[web.Request, int, float], tuple[Reply, ServedRequest]]


@attrs.frozen(kw_only=True)
class PageLimits:
    """The page sizes a server accepts, and what it does with a larger one.

    Attributes:
        max_per_page: Largest ``per_page`` of the invoice history.
        default_per_page: The invoice history's ``per_page`` when the query has none.
        per_page_limit: What a ``per_page`` above the maximum gets (see `FakeCloudflare`).
        listing_max_per_page: Largest ``per_page`` of the account listing.
    """

    max_per_page: int
    default_per_page: int
    per_page_limit: PerPageLimit
    listing_max_per_page: int


@attrs.define(kw_only=True, eq=False)
class Endpoints:
    """The HTTP side of FakeCloudflare: routes, request checks, replies, lifecycle.

    Args:
        store: The accounts and invoices to serve.
        injector: The rate limit, faults and latency to apply.
        traffic: Where arrivals and departures are counted and recorded.
        credentials: What the server accepts.
        limits: The page sizes accepted.
        seed: Seed of the ``cf-ray`` values.
        clock: The time source of the rate limit and the records.
    """

    _store: InvoiceStore
    _injector: FaultInjector
    _traffic: Traffic
    _credentials: Credentials
    _limits: PageLimits
    _seed: int
    _clock: Callable[..., float]
    #: ``http://host:port/client/v4`` once listening, else None.
    base_url: str | None = attrs.field(default=None, init=False)
    #: The aiohttp application; `start` serves it, or a test mounts it itself.
    app: web.Application = attrs.field(factory=web.Application, init=False)
    _handlers: set[asyncio.Task[Any]] = attrs.field(factory=set, init=False)
    _runner: web.AppRunner | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        self.app.router.add_route("*", API_PREFIX + ENDPOINT, self._handle_invoices)
        self.app.router.add_route("*", API_PREFIX + "/accounts", self._handle_accounts)
        self.app.router.add_route("*", "/{tail:.*}", self._handle_other)
        self.app.on_shutdown.append(self._on_shutdown)

    # ------------------------------------------------------------- lifecycle

    async def start(self, host: str, port: int) -> None:
        """Start listening on ``host:port`` and set `base_url`.

        Raises:
            RuntimeError: If the server is already running.
            OSError: If the address cannot be bound.
        """
        if self._runner is not None:
            raise RuntimeError("FakeCloudflare is already running")
        # handler_cancellation: when a client gives up (a timeout during a ``slow`` fault),
        # its handler stops instead of sleeping on for nobody. The short shutdown timeout
        # only matters for handlers that ignore cancellation, which ours never do.
        runner = web.AppRunner(
            self.app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound = runner.addresses[0][1]
        name = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{name}:{bound}{API_PREFIX}"

    async def close(self) -> None:
        """Stop listening, cancel requests in flight and close every connection."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _on_shutdown(self, app: web.Application) -> None:
        # Requests sleeping through latency or a ``slow`` fault would otherwise hold the
        # shutdown for the whole shutdown timeout.
        for task in list(self._handlers):
            task.cancel()

    def ray(self, number: int, kind: str = "api") -> str:
        """Return the ``cf-ray`` of request ``number``, e.g. ``"8c9f3f0e9d3a1b2c-SJC"``."""
        # 16 hex characters and the data centre, like Cloudflare's.
        return f"{hex_digest('ray', kind, self._seed, number, size=8)}-{_COLO}"

    # -------------------------------------------------------------- handlers

    async def _handle_other(self, request: web.Request) -> web.StreamResponse:
        """Answer any other path as Cloudflare does: 404 with 7003 / 7000."""
        number = self._traffic.arrive_elsewhere()
        path = request.path.removeprefix(API_PREFIX)
        headers = {
            "cf-ray": self.ray(number, "other"),
            "Server": "cloudflare",
            **self._injector.rate_headers(self._injector.peek(self._clock())),
        }
        if self._injector.latency:
            await asyncio.sleep(self._injector.latency)
        return web.Response(
            status=404, body=error_body(no_route(path)), content_type=JSON, headers=headers
        )

    async def _handle_invoices(self, request: web.Request) -> web.StreamResponse:
        """Serve one request to the invoice-history endpoint."""
        return await self._handle(request, self._decide)

    async def _handle_accounts(self, request: web.Request) -> web.StreamResponse:
        """Serve one request to the account listing."""
        return await self._handle(request, self._decide_listing)

    async def _handle(self, request: web.Request, decide: _Decide) -> web.StreamResponse:
        """Serve one request: decide now, then wait, then write."""
        started = self._clock()
        number = self._traffic.arrive()
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        status = 0
        finished: float | None = None
        record: ServedRequest | None = None
        try:
            reply, record = decide(request, number, started)
            delay = reply.delay + self._injector.delay(number)
            if delay > 0:
                await asyncio.sleep(delay)
            response, status, finished = await self._send(request, reply)
            return response
        finally:
            if task is not None:
                self._handlers.discard(task)
            self._traffic.leave(record, status, finished)

    async def _send(
        self, request: web.Request, reply: Reply
    ) -> tuple[web.StreamResponse, int, float | None]:
        """Write the reply; return the response, the status sent and when it finished."""
        if reply.action in ("reset", "close"):
            _drop_connection(request, reset=reply.action == "reset")
            # aiohttp finds the transport gone and drops this response silently.
            return web.Response(status=500), 0, None
        headers = {
            "cf-ray": reply.headers.pop("cf-ray"),
            "Server": "cloudflare",
            "Content-Type": reply.content_type,
        }
        headers.update(reply.headers)
        response: web.StreamResponse
        try:
            if reply.action == "truncate":
                response = web.StreamResponse(status=reply.status, headers=headers)
                response.content_length = len(reply.body)
                await response.prepare(request)
                await response.write(reply.body[: len(reply.body) // 2])
                if request.transport is not None:
                    request.transport.close()  # flushes the half body, then closes
                return response, reply.status, None
            response = web.Response(status=reply.status, body=reply.body, headers=headers)
            # Written here rather than by aiohttp after return, so that ``finished`` and
            # ``in_flight`` cover the whole transfer.
            await response.prepare(request)
            await response.write_eof()
        except ConnectionError:
            return web.Response(status=reply.status), 0, None
        return response, reply.status, self._clock()

    # -------------------------------------------------------------- decisions

    def _decide(self, request: web.Request, number: int, now: float) -> tuple[Reply, ServedRequest]:
        """Decide the reply to one request and record it; synchronous by design."""
        query = request.query
        account_id = request.match_info["account_id"]
        raw_type = query.get("type", "all")
        page = parse_int(query.get("page"))
        per_page = parse_int(query.get("per_page"))
        record = ServedRequest(
            number=number,
            account_id=account_id,
            page=page,
            per_page=per_page,
            type=raw_type,
            status=0,
            fault=None,
            started=now,
            finished=None,
        )
        self._traffic.record(record)

        decision = self._injector.admit(now)
        reply = self._check(request, account_id, decision)
        if reply is None:
            limits = self._limits
            asked = limits.default_per_page if per_page is None else per_page
            reply = self._serve(
                request,
                number,
                self._store.account(account_id),
                cast(InvoiceType, raw_type),
                1 if page is None else page,
                min(asked, limits.max_per_page),  # above it only when per_page_limit clamps
                asked if limits.per_page_limit == "clamp-asked" else None,
            )
        return self._finish(reply, record, decision)

    def _finish(
        self, reply: Reply, record: ServedRequest, decision: RateDecision | None
    ) -> tuple[Reply, ServedRequest]:
        """Add the headers every reply carries and record the faults applied."""
        ray = self.ray(record.number)
        reply.headers["cf-ray"] = ray
        if reply.content_type == HTML:
            reply.body = html_error_page(reply.status, ray)
        reply.headers.update(self._injector.rate_headers(decision))
        return reply, attrs.evolve(record, fault=reply.fault)

    def _decide_listing(
        self, request: web.Request, number: int, now: float
    ) -> tuple[Reply, ServedRequest]:
        """Decide the reply to one request to ``GET /accounts`` and record it."""
        query = request.query
        record = ServedRequest(
            number=number,
            account_id="",
            page=parse_int(query.get("page")),
            per_page=parse_int(query.get("per_page")),
            type="",
            status=0,
            fault=None,
            started=now,
            finished=None,
            endpoint="accounts",
        )
        self._traffic.record(record)
        decision = self._injector.admit(now)
        if decision is not None and not decision.allowed:
            reply: Reply | None = rate_limited()
        elif request.method != "GET":
            reply = error_reply(405, _NOT_ALLOWED)
        else:
            reply = authenticate(request.headers, self._credentials)
        if reply is None:
            limits = self._limits
            parsed = parse_listing_query(query, limits.listing_max_per_page, limits.per_page_limit)
            if isinstance(parsed, str):
                reply = bad_query(parsed)
            else:
                reply = self._serve_listing(request, number, parsed)
        return self._finish(reply, record, decision)

    def _serve_listing(self, request: web.Request, number: int, query: ListingQuery) -> Reply:
        """Apply the matching faults and build the reply for a valid listing request."""
        key = ("accounts", query.name or "", query.direction, query.page, query.per_page)
        applied = self._injector.inject(number, key, query.page, "", listing=True)

        def render(page: int, per_page: int) -> tuple[bytes, int, int]:
            body = self._store.listing(attrs.evolve(query, page=page))
            return body, 0, len(body)

        exchange = Exchange(
            path=request.path.removeprefix(API_PREFIX),
            page=query.page,
            per_page=query.per_page,
            render=render,
        )
        reply = exchange.normal() if not applied else applied[-1].reply(exchange)
        reply.fault = "+".join(fault.kind for fault in applied) or None
        return reply

    def _check(
        self, request: web.Request, account_id: str, decision: RateDecision | None
    ) -> Reply | None:
        """Return the error reply for a request that cannot be served, else None.

        The order follows where each check sits in Cloudflare's stack: the rate limiter
        first, then the router (7003 for an id that cannot be routed), then
        authentication, then the account lookup, then the endpoint's own parameters.
        """
        if decision is not None and not decision.allowed:
            return rate_limited()
        if not _ACCOUNT_ID.fullmatch(account_id):
            return error_reply(400, no_route(request.path.removeprefix(API_PREFIX)))
        if request.method != "GET":
            return error_reply(405, _NOT_ALLOWED)
        auth = authenticate(request.headers, self._credentials)
        if auth is not None:
            return auth
        if not self._store.readable(account_id):
            # Cloudflare does not reveal whether an account exists to a token without
            # access to it: an unknown account is an authentication error.
            return error_reply(403, [{"code": 10000, "message": "Authentication error"}])
        limits = self._limits
        return validate_invoice_query(request.query, limits.max_per_page, limits.per_page_limit)

    def _serve(
        self,
        request: web.Request,
        number: int,
        account: AccountData,
        type: InvoiceType,
        page: int,
        per_page: int,
        claimed_per_page: int | None = None,
    ) -> Reply:
        """Apply the matching faults and build the reply for a valid request.

        ``claimed_per_page``, when given, is the ``per_page`` the page reports instead of
        the size it is served by (``per_page_limit="clamp-asked"``).
        """
        key = (account.account_id, type, page, per_page)
        applied = self._injector.inject(number, key, page, account.account_id)
        changes = [fault for fault in applied if fault.changes_data]
        for fault in changes:
            self._store.change(account, fault.change)
        exchange = Exchange(
            path=request.path.removeprefix(API_PREFIX),
            account=account,
            type=type,
            page=page,
            per_page=per_page,
            render=functools.partial(self._store.page, account, type, claimed=claimed_per_page),
        )
        shaping = applied[-1] if applied and not applied[-1].changes_data else None
        reply = exchange.normal() if shaping is None else shaping.reply(exchange)
        reply.fault = "+".join(fault.kind for fault in applied) or None
        return reply


def _drop_connection(request: web.Request, *, reset: bool) -> None:
    """Close the request's connection without a response: a TCP reset, or an orderly close."""
    transport = request.transport
    if transport is None:
        return
    if reset:
        # SO_LINGER with a zero timeout turns close() into a TCP RST: the client sees
        # "connection reset by peer", not an orderly end of stream.
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()  # FIN: the client reads an end of stream before any response
