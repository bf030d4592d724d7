"""FakeCloudflare: an aiohttp application that serves the invoice-history endpoint.

Every decision about a request (rate limit, routing, authentication, parameters, faults,
the page to serve) is made synchronously the moment it arrives, so the order of arrival is
the order of effect even when a thousand requests are in flight; only the latency, the
``slow`` fault and the writing of the response are awaited afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import functools
import hashlib
import re
import socket
import struct
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, Final, Literal, cast

import attrs
from aiohttp import web

from ._checks import (
    PER_PAGE_LIMITS,
    Credentials,
    PerPageLimit,
    authenticate,
    bad_query,
    parse_int,
    rate_limited,
    validate_invoice_query,
)
from ._data import (
    HISTORIES,
    ORDERS,
    REALISTIC_END,
    SHAPES,
    TYPES,
    AccountData,
    History,
    InvoiceType,
    Order,
    Shapes,
    derive_seed,
    hex_digest,
)
from ._faults import Fault, InjectedFault
from ._listing import (
    LISTING_MAX_PER_PAGE,
    LISTING_MIN_PER_PAGE,
    AccountInfo,
    ListingQuery,
    listing_body,
    parse_listing_query,
)
from ._ratelimit import RateDecision, SlidingWindowLimiter
from ._reply import HTML, JSON, Exchange, Reply, error_reply
from ._responses import Pagination, error_body, html_error_page, no_route, success_body
from ._selector import MatchContext

__all__ = ["FakeCloudflare", "ServedRequest"]

_API_PREFIX: Final = "/client/v4"
_ENDPOINT: Final = "/accounts/{account_id}/ai-gateway/billing/invoice-history"
#: Cloudflare account ids are 32 hexadecimal characters (docs/cloudflare-api.md, "Authentication").
_ACCOUNT_ID: Final = re.compile(r"[0-9a-fA-F]{32}")
#: Cloudflare's V4 list endpoints default to 20 per page.
DEFAULT_PER_PAGE: Final = 20
#: Rendered page bodies kept for reuse; a 1000-invoice page is about 420 kB.
_CACHE_BYTES: Final = 64 * 1024 * 1024
_COLO: Final = "SJC"


@attrs.frozen(kw_only=True)
class ServedRequest:
    """A record of one request to the invoice-history endpoint.

    Attributes:
        number: Arrival order, 1-based, over the server's lifetime.
        account_id: The account id in the path, as sent.
        page: The ``page`` query parameter as an integer; None if absent or not an integer.
        per_page: The ``per_page`` query parameter likewise.
        type: The ``type`` query parameter as sent (``"all"`` when absent).
        status: The HTTP status sent; 0 while in flight and when nothing was sent (a
            ``reset`` fault, or the client went away before the response).
        fault: The kind of the fault injected, several joined with ``+`` in the order they
            applied (e.g. ``"create+status"``); None when none was.
        started: When the request arrived, on the server's clock (`time.monotonic` unless
            another was given).
        finished: When the response was written, on the same clock; None while in flight and
            when the connection was reset or lost.
        endpoint: ``"invoice-history"``, or ``"accounts"`` for the account listing (whose
            records have an empty ``account_id`` and ``type``).
    """

    number: int
    account_id: str
    page: int | None
    per_page: int | None
    type: str
    status: int
    fault: str | None
    started: float
    finished: float | None
    endpoint: Literal["invoice-history", "accounts"] = "invoice-history"


class _PageCache:
    """Rendered page bodies, least recently used first out, bounded by total size."""

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._size = 0
        self._entries: OrderedDict[tuple[Any, ...], tuple[bytes, int, int]] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> tuple[bytes, int, int] | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: tuple[Any, ...], entry: tuple[bytes, int, int]) -> None:
        self._entries[key] = entry
        self._size += len(entry[0])
        while self._size > self._budget and self._entries:
            _, (old, _, _) = self._entries.popitem(last=False)
            self._size -= len(old)

    def drop_account(self, account_id: str) -> None:
        for key in [key for key in self._entries if key[0] == account_id]:
            self._size -= len(self._entries.pop(key)[0])


class FakeCloudflare:
    """A fake of Cloudflare's AI Gateway invoice-history endpoint, served on loopback.

    It answers ``GET /client/v4/accounts/{account_id}/ai-gateway/billing/invoice-history``
    like the real API (envelope, error codes, ``cf-ray``, rate-limit headers; see
    docs/cloudflare-api.md), with deterministic data, and injects the faults it is given.

    Use it as an async context manager, or call `start` and `close`; or mount `app`
    yourself (e.g. with ``aiohttp.test_utils.TestServer``).

    How a request is answered, in this order (each step as the real API, docs/cloudflare-api.md):

    1. Rate limit: every request to the endpoint counts, whatever its outcome, as
       Cloudflare's per-user and per-IP limits do. Over the limit: 429 / 971 with
       ``Retry-After``, and a block of ``block_seconds`` during which every request gets
       429; blocked requests are not counted and do not extend the block.
    2. Routing: an account id that is not 32 hex characters: 400 / 7003 + 7000. Another
       method than GET: 405 / 10405. Other paths: 404 / 7003 + 7000.
    3. Authentication: no credentials: 400 / 9106; malformed ones: 400 / 6003 with chain
       6111 (Authorization), 6102 (X-Auth-Email) or 6103 (X-Auth-Key); wrong ones: 403 /
       10000. A Bearer token takes precedence over legacy headers sent with it.
    4. Account: a well-formed id that is not on this server: 403 / 10000.
    5. Parameters: ``type`` not auto/manual/all, ``page`` not an integer >= 1, or
       ``per_page`` not an integer in 1..max_per_page: 400 / 6008 with chain 11000 (a
       ``per_page`` above the maximum as ``per_page_limit`` says). Defaults: ``type=all``,
       ``page=1``, ``per_page=20`` (Cloudflare's usual default, capped at
       ``max_per_page``).
    6. Faults (see `Fault`), then the page: newest first, ``total_count`` counting the
       type-filtered set, ``has_more = page * per_page < total_count``; past the end an
       empty page.

    Every response but a reset carries ``cf-ray`` (deterministic from seed and request
    number) and, unless ``rate_limit`` is None, ``Ratelimit: "default";r=<remaining>;
    t=<seconds until a slot frees, or the block lifts>`` and ``Ratelimit-Policy``.

    It also serves ``GET /client/v4/accounts``, the listing of the accounts the token may
    read (``_listing.py``), with the same rate limit, authentication and faults (the kinds
    that need no invoice data).

    Args:
        invoices: Number of invoices of each account; or one count per account, in order,
            as a sequence of ``accounts`` numbers.
        seed: Every id, amount, token and random choice derives from it.
        auto_fraction: Share of invoices that are auto top-ups (``type=auto``).
        max_per_page: Largest ``per_page`` accepted; larger values get 400 / 6008.
        per_page_limit: What a ``per_page`` above the maximum gets, on the invoice history
            and on the account listing: ``"named"``, 400 / 6008 naming the range ("per_page
            variable must be a number between 1 and 100", as Cloudflare does);
            ``"unnamed"``, 400 / 6008 whose message names no number; ``"clamp"``, served
            silently as a page of the maximum, whose ``per_page`` reports the maximum and
            by which the pages are counted; ``"clamp-asked"``, the same pages, but
            ``per_page`` echoes the size asked for.
        listing_max_per_page: Largest ``per_page`` of the account listing (documented: 50).
        rate_limit: ``(requests, window_seconds)`` of the sliding window, or None for no
            limit (and no ``Ratelimit`` headers).
        block_seconds: How long a block lasts once the limit is exceeded.
        latency: Seconds added to every response.
        jitter: The latency varies uniformly by up to this many seconds either way (seeded).
        faults: Faults to inject; more can be added with `add_fault`.
        host: Interface to listen on.
        port: Port to listen on; 0 picks a free one.
        accounts: How many accounts the server starts with; the first is the default
            account (`account_id`), all are listed by ``GET /accounts`` (`account_ids`).
        shapes: ``"plain"`` serves every invoice in one tidy shape; ``"mixed"`` serves
            about a third of them in other shapes the schema allows (see
            `expected_invoices`), chosen from the seed, the same on every request.
        clock: The time source of the rate limit and of the request records, in seconds;
            `time.monotonic` by default. A test may pass its own to move the window on
            without waiting.
        history: ``"uniform"`` (the default): invoices from 2023-01-01 on, every status as
            likely at any age (82 % paid, 8 % open, 4 % void, 3 % uncollectible, 2 %
            draft). ``"realistic"``: invoices spread evenly over the three years before
            ``history_end``; those of its last three days 37 % open, 6 % draft, the rest
            paid; older ones paid (97 %) or void (3 %), except that one account in four has
            one invoice of six months to two and a half years still open. Invoices created
            later follow one a minute after ``history_end``.
        order: ``"newest"`` lists every account newest first, as Cloudflare does;
            ``"oldest"`` lists oldest first, an order the schema does not rule out.

    Raises:
        ValueError: If an argument is out of range.
    """

    def __init__(
        self,
        invoices: int | Sequence[int] = 120,
        *,
        seed: int = 0,
        auto_fraction: float = 0.3,
        max_per_page: int = 100,
        per_page_limit: PerPageLimit = "named",
        listing_max_per_page: int = LISTING_MAX_PER_PAGE,
        rate_limit: tuple[int, float] | None = (1200, 300.0),
        block_seconds: float = 300.0,
        latency: float = 0.0,
        jitter: float = 0.0,
        faults: Iterable[Fault] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        accounts: int = 1,
        shapes: Shapes = "plain",
        clock: Callable[..., float] = time.monotonic,
        history: History = "uniform",
        order: Order = "newest",
    ) -> None:
        if history not in HISTORIES:
            raise ValueError(f"history must be one of {HISTORIES}, got {history!r}")
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
        if max_per_page < 1:
            raise ValueError(f"max_per_page must be >= 1, got {max_per_page}")
        if per_page_limit not in PER_PAGE_LIMITS:
            raise ValueError(
                f"per_page_limit must be one of {PER_PAGE_LIMITS}, got {per_page_limit!r}"
            )
        if listing_max_per_page < LISTING_MIN_PER_PAGE:
            least, got = LISTING_MIN_PER_PAGE, listing_max_per_page
            raise ValueError(f"listing_max_per_page must be >= {least}, got {got}")
        if latency < 0 or jitter < 0:
            raise ValueError("latency and jitter must be >= 0")
        if shapes not in SHAPES:
            raise ValueError(f"shapes must be one of {SHAPES}, got {shapes!r}")
        self.seed: Final = seed
        self.auto_fraction: Final = auto_fraction
        self.max_per_page: Final = max_per_page
        self.per_page_limit: Final = per_page_limit
        self.listing_max_per_page: Final = listing_max_per_page
        self.default_per_page: Final = min(DEFAULT_PER_PAGE, max_per_page)
        self.shapes: Final = shapes
        self.history: Final = history
        self.order: Final = order
        #: When a realistic history ends (2026-12-01 UTC): its invoices were created in the
        #: three years before, and those created later (`create_invoices`) follow one a
        #: minute after it.
        self.history_end: Final = dt.datetime.fromtimestamp(REALISTIC_END, dt.timezone.utc)
        self.latency = latency
        self.jitter = jitter
        self.host: Final = host
        self._port = port
        self._clock = clock
        self._limiter = (
            None if rate_limit is None else SlidingWindowLimiter(*rate_limit, block_seconds)
        )
        self._credentials = _credentials_for(seed)
        self.api_token: Final = self._credentials.api_token
        self.api_email: Final = self._credentials.api_email
        self.api_key: Final = self._credentials.api_key
        self._accounts: dict[str, AccountData] = {}
        self._infos: dict[str, AccountInfo] = {}
        counts = _invoice_counts(invoices, accounts)
        self.account_id: Final = self._new_account(counts[0], seed)
        for count in counts[1:]:
            self.add_account(count)
        self._faults: list[Fault] = []
        self._fired: list[int] = []
        for fault in faults:
            self.add_fault(fault)
        self._init_records()
        self.app: Final = web.Application()
        self.app.router.add_route("*", _API_PREFIX + _ENDPOINT, self._handle_invoices)
        self.app.router.add_route("*", _API_PREFIX + "/accounts", self._handle_accounts)
        self.app.router.add_route("*", "/{tail:.*}", self._handle_other)
        self.app.on_shutdown.append(self._on_shutdown)

    def _init_records(self) -> None:
        """Start with an empty cache, no request seen and no handler running."""
        self._cache = _PageCache(_CACHE_BYTES)
        self._attempts: dict[tuple[Any, ...], int] = {}
        self._number = 0
        self._other_number = 0
        self._received = 0
        self._requests: list[ServedRequest] = []
        self._first_number = 1
        self._injected: list[InjectedFault] = []
        self._in_flight = 0
        self._peak_in_flight = 0
        # asyncio events need no running loop to be created; they bind to the loop on
        # first wait, which is the loop that serves (aiohttp runs on asyncio only).
        self._idle = asyncio.Event()
        self._idle.set()
        self._arrived = asyncio.Event()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    # ------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> FakeCloudflare:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Start listening on ``host:port``.

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
            site = web.TCPSite(runner, self.host, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        port = runner.addresses[0][1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self._base_url = f"http://{host}:{port}{_API_PREFIX}"

    async def close(self) -> None:
        """Stop listening, cancel requests in flight and close every connection.

        Closing a server that is not running does nothing.
        """
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _on_shutdown(self, app: web.Application) -> None:
        # Requests sleeping through latency or a ``slow`` fault would otherwise hold the
        # shutdown for the whole shutdown timeout.
        for task in list(self._handlers):
            task.cancel()

    # ----------------------------------------------------------- information

    @property
    def base_url(self) -> str:
        """The API base URL, e.g. ``http://127.0.0.1:PORT/client/v4`` (no trailing slash).

        Raises:
            RuntimeError: If the server has not been started.
        """
        if self._base_url is None:
            raise RuntimeError("FakeCloudflare is not running: use `async with` or start()")
        return self._base_url

    def url_for(self, account_id: str | None = None) -> str:
        """Return the full invoice-history URL of an account.

        Args:
            account_id: The account; the default account when None.

        Raises:
            RuntimeError: If the server has not been started.
        """
        account = self.account_id if account_id is None else account_id
        return self.base_url + _ENDPOINT.format(account_id=account)

    @property
    def requests(self) -> list[ServedRequest]:
        """One record per request to the endpoint since the last `reset_counters`, in
        arrival order (a copy)."""
        return list(self._requests)

    @property
    def injected(self) -> list[InjectedFault]:
        """Every fault injected since the last `reset_counters`, in order (a copy)."""
        return list(self._injected)

    @property
    def in_flight(self) -> int:
        """How many requests are being handled right now (latency included)."""
        return self._in_flight

    @property
    def peak_in_flight(self) -> int:
        """The largest `in_flight` seen since the last `reset_counters`."""
        return self._peak_in_flight

    @property
    def received(self) -> int:
        """How many requests reached the server since the last `reset_counters`, whatever
        became of them: answered, refused, rate-limited, reset or abandoned by the client,
        on any path.

        This is the count to compare with what a client believes it sent: an HTTP client
        that silently re-sends a request after a dropped connection shows up here.
        """
        return self._received

    async def wait_idle(self, timeout: float = 5.0) -> None:
        """Wait until no request is being handled (`in_flight` is 0).

        Use it instead of sleeping after a client stopped: the server finishes a request a
        client abandoned only once it notices the closed connection.

        Args:
            timeout: Seconds to wait at most.

        Raises:
            TimeoutError: If requests are still in flight after ``timeout`` seconds.
        """
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"FakeCloudflare still had {self._in_flight} request(s) in flight "
                f"after {timeout:g} s"
            ) from None

    async def wait_requests(
        self,
        count: int,
        timeout: float = 5.0,
        *,
        matching: Callable[[ServedRequest], bool] | None = None,
    ) -> None:
        """Wait until at least ``count`` requests arrived (`requests`), or ``count`` of them
        satisfy ``matching``.

        Example: ``await fake.wait_requests(1, matching=lambda r: r.page == 5)`` returns
        once page 5 was asked for.

        Args:
            count: How many records `requests` must hold (that ``matching`` accepts).
            timeout: Seconds to wait at most.
            matching: A test of one record; None counts every record.

        Raises:
            TimeoutError: If fewer arrived within ``timeout`` seconds.
        """

        def seen() -> int:
            if matching is None:
                return len(self._requests)
            return sum(1 for record in self._requests if matching(record))

        async def arrivals() -> None:
            while seen() < count:
                await self._arrived.wait()

        try:
            await asyncio.wait_for(arrivals(), timeout)
        except asyncio.TimeoutError:
            which = "" if matching is None else " matching"
            raise TimeoutError(
                f"FakeCloudflare saw {seen()}{which} request(s), not {count}, within {timeout:g} s"
            ) from None

    def reset_counters(self) -> None:
        """Clear `requests`, `received`, `injected` and `peak_in_flight`.

        Request numbers keep counting (a ``request=N`` selector means the Nth request of
        the server's life), and so do fault ``times`` and page attempts.
        """
        self._requests.clear()
        self._received = 0
        self._first_number = self._number + 1
        self._injected.clear()
        self._peak_in_flight = self._in_flight

    # ------------------------------------------------------------------ data

    def add_account(
        self,
        invoices: int = 10,
        seed: int | None = None,
        *,
        name: str | None = None,
        readable: bool = True,
    ) -> str:
        """Add another account with its own invoices and return its id.

        The same credentials work for every readable account of the server.

        Args:
            invoices: How many invoices it starts with.
            seed: Seed of its data; by default one derived from the server's seed.
            name: Its name in the listing; by default ``"Account N"``, N its position.
            readable: False for an account the token may not read: it is left out of
                ``GET /accounts`` and its invoice history answers 403 / 10000
                (docs/cloudflare-api.md, "Listing accounts" [O]).

        Raises:
            ValueError: If an account with this seed exists, or ``invoices`` < 0.
        """
        if seed is None:
            seed = derive_seed("account", self.seed, len(self._accounts))
        if any(account.seed == seed for account in self._accounts.values()):
            raise ValueError(f"an account with seed {seed} already exists")
        return self._new_account(invoices, seed, name=name, readable=readable)

    @property
    def account_ids(self) -> list[str]:
        """The ids of every account of the server, in creation order, readable or not."""
        return list(self._accounts)

    def invoices(
        self, account_id: str | None = None, type: InvoiceType = "all"
    ) -> list[dict[str, Any]]:
        """Return the account's current invoices, as the API would list them (in the shape
        each is served in; `expected_invoices` gives what a client must make of them).

        The dicts are what ``json.loads`` makes of the served JSON, except that fractional
        amounts are `decimal.Decimal` (exact, e.g. ``Decimal("640.19")``); whole ones are int.

        Args:
            account_id: The account; the default account when None.
            type: ``"all"``, ``"auto"`` or ``"manual"``.

        Raises:
            KeyError: If there is no such account.
            ValueError: If ``type`` is not one of the three.
        """
        account = self._account(account_id)
        return [account.invoice(serial) for serial in account.server_order(_type(type))]

    def expected_invoices(
        self, account_id: str | None = None, type: InvoiceType = "all"
    ) -> list[dict[str, Any]]:
        """Return the structured values a client must make of the account's current invoices.

        One dict per invoice in server order, whatever shape it is served in (see
        ``shapes``): the documented fields (``amount_due`` ... ``status``) and ``extra``.
        Amounts are `decimal.Decimal`; ``created`` is an aware UTC ``datetime.datetime``
        however it was sent (Unix seconds, whole or float, or ISO-8601 text); numbers sent
        as ``1.0`` are ``1``; optional fields left out or sent as null are None; fields the
        schema does not know are in ``extra``, as decoded.

        Args:
            account_id: The account; the default account when None.
            type: ``"all"``, ``"auto"`` or ``"manual"``.

        Raises:
            KeyError: If there is no such account.
            ValueError: If ``type`` is not one of the three.
        """
        account = self._account(account_id)
        return [account.expected(serial) for serial in account.server_order(_type(type))]

    def ids(self, account_id: str | None = None, type: InvoiceType = "all") -> list[str]:
        """Return the ids of the account's current invoices in server order (newest first).

        Every invoice has its id here, even one that ``shapes="mixed"`` serves without it.

        Args:
            account_id: The account; the default account when None.
            type: ``"all"``, ``"auto"`` or ``"manual"``.

        Raises:
            KeyError: If there is no such account.
            ValueError: If ``type`` is not one of the three.
        """
        account = self._account(account_id)
        return [account.invoice_id(serial) for serial in account.server_order(_type(type))]

    def create_invoices(self, n: int, account_id: str | None = None) -> list[str]:
        """Create ``n`` invoices at the head of the list and return their ids, newest first.

        Args:
            n: How many (>= 0).
            account_id: The account; the default account when None.

        Raises:
            KeyError: If there is no such account.
            ValueError: If ``n`` is negative.
        """
        account = self._account(account_id)
        created = account.create(n)
        self._cache.drop_account(account.account_id)
        return created

    def delete_invoices(self, ids: Iterable[str], account_id: str | None = None) -> None:
        """Delete invoices by id; nothing is deleted unless every id is current.

        Args:
            ids: Invoice ids of the account.
            account_id: The account; the default account when None.

        Raises:
            KeyError: If there is no such account, or an id is not a current invoice of it.
        """
        account = self._account(account_id)
        serials = []
        for invoice_id in ids:
            serial = account.serial_of(invoice_id)
            if serial is None:
                raise KeyError(f"no invoice {invoice_id!r} in account {account.account_id}")
            serials.append(serial)
        account.delete_serials(serials)
        self._cache.drop_account(account.account_id)

    def update_invoice(self, invoice_id: str, account_id: str | None = None, **fields: Any) -> None:
        """Change fields of an existing invoice, as a payment or an edit at Cloudflare would.

        The invoice keeps its place in the list; from the next request on it is served with
        the new values, over whatever shape it has, and `expected_invoices` says so. A value
        of None serves ``null``; a field the schema does not know is added as is::

            fake.update_invoice(invoice_id, status="paid", amount_paid=Decimal("640.19"),
                                amount_remaining=0)

        Args:
            invoice_id: The id of a current invoice of the account.
            account_id: The account; the default account when None.
            **fields: Field names and their JSON values; a `decimal.Decimal` is written as
                its exact text.

        Raises:
            KeyError: If there is no such account, or no such current invoice in it.
            ValueError: If ``id`` is among the fields, or a value cannot be written as JSON.
        """
        account = self._account(account_id)
        serial = account.serial_of(invoice_id)
        if serial is None:
            raise KeyError(f"no invoice {invoice_id!r} in account {account.account_id}")
        account.update(serial, fields)
        self._cache.drop_account(account.account_id)

    def add_fault(self, fault: Fault) -> None:
        """Inject ``fault`` into matching requests from now on.

        Args:
            fault: Built with one of `Fault`'s constructors.
        """
        self._faults.append(fault)
        self._fired.append(0)

    # ------------------------------------------------------------- internals

    def _new_account(
        self, invoices: int, seed: int, *, name: str | None = None, readable: bool = True
    ) -> str:
        account_id = hex_digest("account", seed, size=16)
        self._accounts[account_id] = AccountData(
            account_id,
            seed,
            invoices,
            self.auto_fraction,
            self.shapes,
            history=self.history,
            order=self.order,
        )
        self._infos[account_id] = AccountInfo(
            id=account_id,
            name=f"Account {len(self._infos)}" if name is None else name,
            # One account in eight on an enterprise plan, and a creation time in 2014-2022.
            type="enterprise" if derive_seed("plan", seed) % 8 == 0 else "standard",
            created_on=1_393_632_000 + derive_seed("created", seed) % (8 * 365 * 86_400),
            readable=readable,
        )
        return account_id

    def _account(self, account_id: str | None) -> AccountData:
        key = self.account_id if account_id is None else account_id
        try:
            return self._accounts[key]
        except KeyError:
            raise KeyError(f"no account {key!r} on this FakeCloudflare") from None

    def _ray(self, number: int, kind: str = "api") -> str:
        # 16 hex characters and the data centre, like "8c9f3f0e9d3a1b2c-SJC".
        return f"{hex_digest('ray', kind, self.seed, number, size=8)}-{_COLO}"

    def _unit(self, *parts: object) -> float:
        """Return a seeded uniform number in [0, 1) for ``parts``."""
        return int(hex_digest(self.seed, *parts, size=8), 16) / 2.0**64

    def _rate_headers(self, decision: RateDecision | None) -> dict[str, str]:
        if decision is None or self._limiter is None:
            return {}
        headers = {
            # docs/cloudflare-api.md, "Rate limits": sent on every response since September 2025.
            "Ratelimit": f'"default";r={decision.remaining};t={decision.reset}',
            "Ratelimit-Policy": self._limiter.policy,
        }
        if decision.retry_after is not None:
            headers["Retry-After"] = str(decision.retry_after)
        return headers

    async def _handle_other(self, request: web.Request) -> web.StreamResponse:
        """Answer any other path as Cloudflare does: 404 with 7003 / 7000."""
        self._other_number += 1
        self._received += 1
        path = request.path.removeprefix(_API_PREFIX)
        now = self._clock()
        headers = {
            "cf-ray": self._ray(self._other_number, "other"),
            "Server": "cloudflare",
            **self._rate_headers(None if self._limiter is None else self._limiter.peek(now)),
        }
        if self.latency:
            await asyncio.sleep(self.latency)
        return web.Response(
            status=404, body=error_body(no_route(path)), content_type=JSON, headers=headers
        )

    async def _handle_invoices(self, request: web.Request) -> web.StreamResponse:
        """Serve one request to the invoice-history endpoint."""
        return await self._handle(request, self._decide)

    async def _handle_accounts(self, request: web.Request) -> web.StreamResponse:
        """Serve one request to the account listing."""
        return await self._handle(request, self._decide_listing)

    async def _handle(
        self,
        request: web.Request,
        decide: Callable[[web.Request, int, float], tuple[Reply, ServedRequest]],
    ) -> web.StreamResponse:
        """Serve one request: decide now, then wait, then write."""
        started = self._clock()
        self._number += 1
        number = self._number
        self._arrive()
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        status = 0
        finished: float | None = None
        record: ServedRequest | None = None
        try:
            reply, record = decide(request, number, started)
            delay = reply.delay + self._latency(number)
            if delay > 0:
                await asyncio.sleep(delay)
            response, status, finished = await self._send(request, reply)
            return response
        finally:
            if task is not None:
                self._handlers.discard(task)
            index = number - self._first_number
            if record is not None and index >= 0:
                self._requests[index] = attrs.evolve(record, status=status, finished=finished)
            self._leave()

    def _arrive(self) -> None:
        """Count a request that reached the server and wake whoever waits for arrivals."""
        self._received += 1
        self._in_flight += 1
        self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
        self._idle.clear()
        arrived, self._arrived = self._arrived, asyncio.Event()
        arrived.set()

    def _leave(self) -> None:
        """Count a request as handled; the last one out sets the idle event."""
        self._in_flight -= 1
        if self._in_flight == 0:
            self._idle.set()

    def _latency(self, number: int) -> float:
        if not self.jitter:
            return self.latency
        offset = (2.0 * self._unit("jitter", number) - 1.0) * self.jitter
        return max(self.latency + offset, 0.0)

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
        self._requests.append(record)

        decision = None if self._limiter is None else self._limiter.admit(now)
        reply = self._check(request, account_id, decision)
        if reply is None:
            asked = self.default_per_page if per_page is None else per_page
            reply = self._serve(
                request,
                number,
                self._accounts[account_id],
                cast(InvoiceType, raw_type),
                1 if page is None else page,
                min(asked, self.max_per_page),  # above it only when per_page_limit clamps
                asked if self.per_page_limit == "clamp-asked" else None,
            )
        return self._finish(reply, record, decision)

    def _finish(
        self, reply: Reply, record: ServedRequest, decision: RateDecision | None
    ) -> tuple[Reply, ServedRequest]:
        """Add the headers every reply carries and record the faults applied."""
        ray = self._ray(record.number)
        reply.headers["cf-ray"] = ray
        if reply.content_type == HTML:
            reply.body = html_error_page(reply.status, ray)
        reply.headers.update(self._rate_headers(decision))
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
        self._requests.append(record)
        decision = None if self._limiter is None else self._limiter.admit(now)
        if decision is not None and not decision.allowed:
            reply: Reply | None = rate_limited()
        elif request.method != "GET":
            reply = error_reply(405, [{"code": 10405, "message": "Method not allowed"}])
        else:
            reply = authenticate(request.headers, self._credentials)
        if reply is None:
            parsed = parse_listing_query(query, self.listing_max_per_page, self.per_page_limit)
            if isinstance(parsed, str):
                reply = bad_query(parsed)
            else:
                reply = self._serve_listing(request, number, parsed)
        return self._finish(reply, record, decision)

    def _serve_listing(self, request: web.Request, number: int, query: ListingQuery) -> Reply:
        """Apply the matching faults and build the reply for a valid listing request."""
        key = ("accounts", query.name or "", query.direction, query.page, query.per_page)
        attempt = self._attempts.get(key, 0) + 1
        self._attempts[key] = attempt
        applied = self._select_faults(number, query.page, attempt, "", listing=True)
        for fault in applied:
            self._injected.append(
                InjectedFault(request=number, page=query.page, attempt=attempt, kind=fault.kind)
            )

        def render(page: int, per_page: int) -> tuple[bytes, int, int]:
            body = listing_body(list(self._infos.values()), attrs.evolve(query, page=page))
            return body, 0, len(body)

        exchange = Exchange(
            path=request.path.removeprefix(_API_PREFIX),
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
            return error_reply(400, no_route(request.path.removeprefix(_API_PREFIX)))
        if request.method != "GET":
            return error_reply(405, [{"code": 10405, "message": "Method not allowed"}])
        auth = authenticate(request.headers, self._credentials)
        if auth is not None:
            return auth
        if account_id not in self._accounts or not self._infos[account_id].readable:
            # Cloudflare does not reveal whether an account exists to a token without
            # access to it: an unknown account is an authentication error.
            return error_reply(403, [{"code": 10000, "message": "Authentication error"}])
        return validate_invoice_query(request.query, self.max_per_page, self.per_page_limit)

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
        attempt = self._attempts.get(key, 0) + 1
        self._attempts[key] = attempt
        applied = self._select_faults(number, page, attempt, account.account_id)
        for fault in applied:
            self._injected.append(
                InjectedFault(request=number, page=page, attempt=attempt, kind=fault.kind)
            )
            fault.change(account)
        if any(fault.changes_data for fault in applied):
            self._cache.drop_account(account.account_id)
        exchange = Exchange(
            path=request.path.removeprefix(_API_PREFIX),
            account=account,
            type=type,
            page=page,
            per_page=per_page,
            render=functools.partial(self._page, account, type, claimed=claimed_per_page),
        )
        shaping = applied[-1] if applied and not applied[-1].changes_data else None
        reply = exchange.normal() if shaping is None else shaping.reply(exchange)
        reply.fault = "+".join(fault.kind for fault in applied) or None
        return reply

    def _select_faults(
        self, number: int, page: int, attempt: int, account_id: str, *, listing: bool = False
    ) -> list[Fault]:
        """Return every matching data fault, then the first matching response fault.

        Each one returned counts as fired (for ``times``). The account listing is offered
        only the kinds that need no invoice data, and an ``account_id`` selector never
        matches it.
        """
        state: list[Fault] = []
        shaping: list[Fault] = []
        for index, fault in enumerate(self._faults):
            if fault.times is not None and self._fired[index] >= fault.times:
                continue
            if (shaping and not fault.changes_data) or (listing and not fault.any_endpoint):
                continue
            draw = self._unit("fault", number, index) if fault.probability is not None else 0.0
            context = MatchContext(
                request=number, page=page, attempt=attempt, account_id=account_id, draw=draw
            )
            if fault.matches(context):
                self._fired[index] += 1
                (state if fault.changes_data else shaping).append(fault)
        return state + shaping

    def _page(
        self,
        account: AccountData,
        type: InvoiceType,
        page: int,
        per_page: int,
        *,
        claimed: int | None = None,
    ) -> tuple[bytes, int, int]:
        """Return the normal body of a page (cached) and where its invoice array sits.

        ``claimed``: the ``per_page`` to report, when not the size served.
        """
        key = (account.account_id, account.version, type, page, per_page, claimed)
        entry = self._cache.get(key)
        if entry is None:
            total = account.count(type)
            serials = account.page_serials(type, (page - 1) * per_page, per_page)
            pagination = Pagination(
                has_more=page * per_page < total,
                page=page,
                per_page=per_page if claimed is None else claimed,
                total_count=total,
            )
            entry = success_body(account.render_array(serials), pagination)
            self._cache.put(key, entry)
        return entry


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


def _credentials_for(seed: int) -> Credentials:
    """Return the seed's token (40 URL-safe characters), email and 37-character global key."""
    token = base64.urlsafe_b64encode(
        hashlib.blake2b(f"token:{seed}".encode(), digest_size=30).digest()
    ).decode()
    key = hex_digest("api-key", seed, size=19)[:37]
    return Credentials(api_token=token, api_email="owner@example.com", api_key=key)


def _invoice_counts(invoices: int | Sequence[int], accounts: int) -> list[int]:
    """Return the invoice count of each account the server starts with."""
    if accounts < 1:
        raise ValueError(f"accounts must be >= 1, got {accounts}")
    if isinstance(invoices, int):
        return [invoices] * accounts
    counts = list(invoices)
    if len(counts) != accounts:
        raise ValueError(f"expected {accounts} invoice counts, one per account, got {len(counts)}")
    return counts


def _ceil(value: float) -> int:
    return -int(-value // 1)


def _type(type: str) -> InvoiceType:
    if type not in TYPES:
        raise ValueError(f"type must be one of {TYPES}, got {type!r}")
    return cast(InvoiceType, type)
