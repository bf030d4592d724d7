"""FakeCloudflare: a fake of Cloudflare's invoice-history endpoint, served on loopback.

`FakeCloudflare` is a thin facade over three parts with one job each: the `InvoiceStore`
(``_store.py``) holds the accounts and their invoices, the `FaultInjector`
(``_injector.py``) decides the rate limit, the faults and the latency, and the `Endpoints`
(``_endpoints.py``) serve HTTP; the `Traffic` (``_traffic.py``) records what arrived.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from ._checks import PER_PAGE_LIMITS, Credentials, PerPageLimit
from ._data import (
    REALISTIC_END,
    SHAPES,
    AccountData,
    History,
    InvoiceType,
    Order,
    Shapes,
    hex_digest,
)
from ._endpoints import ENDPOINT, Endpoints, PageLimits
from ._faults import Fault, InjectedFault
from ._injector import FaultInjector
from ._listing import LISTING_MAX_PER_PAGE, LISTING_MIN_PER_PAGE
from ._store import InvoiceStore
from ._traffic import ServedRequest, Traffic

__all__ = ["FakeCloudflare", "ServedRequest"]

#: Cloudflare's V4 list endpoints default to 20 per page.
DEFAULT_PER_PAGE: Final = 20
#: Rendered page bodies kept for reuse; a 1000-invoice page is about 420 kB.
_CACHE_BYTES: Final = 64 * 1024 * 1024


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
        if max_per_page < 1:
            raise ValueError(f"max_per_page must be >= 1, got {max_per_page}")
        if per_page_limit not in PER_PAGE_LIMITS:
            raise ValueError(
                f"per_page_limit must be one of {PER_PAGE_LIMITS}, got {per_page_limit!r}"
            )
        if listing_max_per_page < LISTING_MIN_PER_PAGE:
            least, got = LISTING_MIN_PER_PAGE, listing_max_per_page
            raise ValueError(f"listing_max_per_page must be >= {least}, got {got}")
        if shapes not in SHAPES:
            raise ValueError(f"shapes must be one of {SHAPES}, got {shapes!r}")
        self._injector = FaultInjector(
            seed=seed,
            rate_limit=rate_limit,
            block_seconds=block_seconds,
            latency=latency,
            jitter=jitter,
            faults=faults,
        )
        # The store checks history and order, as every account it makes does.
        self._store = InvoiceStore(
            invoices,
            accounts=accounts,
            seed=seed,
            auto_fraction=auto_fraction,
            shapes=shapes,
            history=history,
            order=order,
            cache_bytes=_CACHE_BYTES,
        )
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
        self.host: Final = host
        self._port = port
        self._credentials = _credentials_for(seed)
        self.api_token: Final = self._credentials.api_token
        self.api_email: Final = self._credentials.api_email
        self.api_key: Final = self._credentials.api_key
        self.account_id: Final = self._store.default_id
        self._traffic = Traffic()
        limits = PageLimits(
            max_per_page=max_per_page,
            default_per_page=self.default_per_page,
            per_page_limit=per_page_limit,
            listing_max_per_page=listing_max_per_page,
        )
        self._endpoints = Endpoints(
            store=self._store,
            injector=self._injector,
            traffic=self._traffic,
            credentials=self._credentials,
            limits=limits,
            seed=seed,
            clock=clock,
        )
        self.app: Final = self._endpoints.app

    # ------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> FakeCloudflare:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Start listening on ``host:port``.

        Raises:
            RuntimeError: If the server is already running.
            OSError: If the address cannot be bound.
        """
        await self._endpoints.start(self.host, self._port)

    async def close(self) -> None:
        """Stop listening, cancel requests in flight and close every connection.

        Closing a server that is not running does nothing.
        """
        await self._endpoints.close()

    # ----------------------------------------------------------- information

    @property
    def base_url(self) -> str:
        """The API base URL, e.g. ``http://127.0.0.1:PORT/client/v4`` (no trailing slash).

        Raises:
            RuntimeError: If the server has not been started.
        """
        if self._endpoints.base_url is None:
            raise RuntimeError("FakeCloudflare is not running: use `async with` or start()")
        return self._endpoints.base_url

    def url_for(self, account_id: str | None = None) -> str:
        """Return the full invoice-history URL of an account.

        Args:
            account_id: The account; the default account when None.

        Raises:
            RuntimeError: If the server has not been started.
        """
        account = self.account_id if account_id is None else account_id
        return self.base_url + ENDPOINT.format(account_id=account)

    @property
    def latency(self) -> float:
        """Seconds added to every response."""
        return self._injector.latency

    @latency.setter
    def latency(self, value: float) -> None:
        self._injector.latency = value

    @property
    def jitter(self) -> float:
        """Seconds by which the latency varies either way (seeded)."""
        return self._injector.jitter

    @jitter.setter
    def jitter(self, value: float) -> None:
        self._injector.jitter = value

    @property
    def requests(self) -> list[ServedRequest]:
        """One record per request to the endpoint since the last `reset_counters`, in
        arrival order (a copy)."""
        return self._traffic.records

    @property
    def injected(self) -> list[InjectedFault]:
        """Every fault injected since the last `reset_counters`, in order (a copy)."""
        return self._injector.injected

    @property
    def in_flight(self) -> int:
        """How many requests are being handled right now (latency included)."""
        return self._traffic.in_flight

    @property
    def peak_in_flight(self) -> int:
        """The largest `in_flight` seen since the last `reset_counters`."""
        return self._traffic.peak_in_flight

    @property
    def received(self) -> int:
        """How many requests reached the server since the last `reset_counters`, whatever
        became of them: answered, refused, rate-limited, reset or abandoned by the client,
        on any path.

        This is the count to compare with what a client believes it sent: an HTTP client
        that silently re-sends a request after a dropped connection shows up here.
        """
        return self._traffic.received

    async def wait_idle(self, timeout: float = 5.0) -> None:
        """Wait until no request is being handled (`in_flight` is 0).

        Use it instead of sleeping after a client stopped: the server finishes a request a
        client abandoned only once it notices the closed connection.

        Args:
            timeout: Seconds to wait at most.

        Raises:
            TimeoutError: If requests are still in flight after ``timeout`` seconds.
        """
        await self._traffic.wait_idle(timeout)

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
        await self._traffic.wait_requests(count, timeout, matching)

    def reset_counters(self) -> None:
        """Clear `requests`, `received`, `injected` and `peak_in_flight`.

        Request numbers keep counting (a ``request=N`` selector means the Nth request of
        the server's life), and so do fault ``times`` and page attempts.
        """
        self._traffic.reset()
        self._injector.forget()

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
        return self._store.add_account(invoices, seed, name, readable)

    @property
    def account_ids(self) -> list[str]:
        """The ids of every account of the server, in creation order, readable or not."""
        return self._store.account_ids

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
        return self._store.listed(account_id, type, AccountData.invoice)

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

        Args and Raises: as `invoices`.
        """
        return self._store.listed(account_id, type, AccountData.expected)

    def ids(self, account_id: str | None = None, type: InvoiceType = "all") -> list[str]:
        """Return the ids of the account's current invoices in server order (newest first).

        Every invoice has its id here, even one that ``shapes="mixed"`` serves without it.

        Args and Raises: as `invoices`.
        """
        return self._store.listed(account_id, type, AccountData.invoice_id)

    def create_invoices(self, n: int, account_id: str | None = None) -> list[str]:
        """Create ``n`` invoices at the head of the list and return their ids, newest first.

        Args:
            n: How many (>= 0).
            account_id: The account; the default account when None.

        Raises:
            KeyError: If there is no such account.
            ValueError: If ``n`` is negative.
        """
        return self._store.create_invoices(n, account_id)

    def delete_invoices(self, ids: Iterable[str], account_id: str | None = None) -> None:
        """Delete invoices by id; nothing is deleted unless every id is current.

        Args:
            ids: Invoice ids of the account.
            account_id: The account; the default account when None.

        Raises:
            KeyError: If there is no such account, or an id is not a current invoice of it.
        """
        self._store.delete_invoices(ids, account_id)

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
        self._store.update_invoice(invoice_id, account_id, fields)

    def add_fault(self, fault: Fault) -> None:
        """Inject ``fault`` into matching requests from now on.

        Args:
            fault: Built with one of `Fault`'s constructors.
        """
        self._injector.add(fault)

    # ------------------------------------------------------------- internals

    def _account(self, account_id: str | None) -> AccountData:
        return self._store.account(account_id)

    def _ray(self, number: int, kind: str = "api") -> str:
        return self._endpoints.ray(number, kind)


def _credentials_for(seed: int) -> Credentials:
    """Return the seed's token (40 URL-safe characters), email and 37-character global key."""
    token = base64.urlsafe_b64encode(
        hashlib.blake2b(f"token:{seed}".encode(), digest_size=30).digest()
    ).decode()
    key = hex_digest("api-key", seed, size=19)[:37]
    return Credentials(api_token=token, api_email="owner@example.com", api_key=key)
