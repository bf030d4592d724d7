"""The account listing, ``GET /accounts``: decoding its pages and streaming every account.

docs/cloudflare-api.md, "Listing accounts": ``result`` is a LIST of accounts, the paging lives in
``result_info`` only (``page``, ``per_page``, ``count``, ``total_count``, ``total_pages``) and
there is no ``has_more``; ``per_page`` is at most 50 (and at least 5 in some copies of the
schema). So the walk fetches page 1, learns ``total_pages`` from it and fetches the rest
concurrently, in order; without ``result_info`` it goes one page at a time until a short or
empty page.

Decoding is pure (``(status, headers, body)`` in, an :class:`AccountPage` or a typed error
out); the requests go through the client's fetcher, so the listing shares the concurrency
limit, the rate governor and the retries with every invoice walk of the client.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any, Final, Literal

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from ._channel import Channel, InOrder, Spawn, StreamContext, in_order
from ._errors import ConfigurationError, ResponseFormatError
from ._fetcher import RequestCounts
from ._models import Account, AccountStats
from ._page_size import PageSizes
from ._paginator import PageSizeProbe, fetch_first
from ._protocol import DECODE_ERRORS, decode_json, get_header, raise_for_error, snippet
from ._telemetry import NO_SCOPE, Scope

__all__ = [
    "LISTING_MAX_PER_PAGE",
    "LISTING_MIN_PER_PAGE",
    "LISTING_PATH",
    "LISTING_SIZES",
    "AccountDecoder",
    "AccountPage",
    "AccountStream",
    "ListingFetch",
    "ListingInfo",
    "check_listing_options",
    "last_page",
    "listing_params",
    "listing_served",
    "make_account_converter",
]

LISTING_PATH: Final = "/accounts"
# docs/cloudflare-api.md, "Listing accounts": per_page is at most 50 [D]; some copies of the
# schema accept no fewer than 5 [I].
LISTING_MAX_PER_PAGE: Final = 50
LISTING_MIN_PER_PAGE: Final = 5
# Where a listing that was given no per_page starts, and the step down after a refusal that
# names no maximum (a size Cloudflare endpoints are known to use; `_page_size.py`).
LISTING_SIZES: Final = (LISTING_MAX_PER_PAGE, 20)

Direction = Literal["asc", "desc"]

_ACCOUNT_FIELDS = frozenset(a.name for a in attrs.fields(Account) if a.name != "extra")


@attrs.frozen(kw_only=True)
class ListingInfo:
    """The ``result_info`` block of a listing page; each number ``None`` when absent.

    Attributes:
        page: The page the server answered.
        per_page: The page size the server used.
        count: Accounts on this page.
        total_count: Accounts in the whole listing.
        total_pages: Pages in the whole listing.
    """

    page: int | None = None
    per_page: int | None = None
    count: int | None = None
    total_count: int | None = None
    total_pages: int | None = None


@attrs.frozen(kw_only=True)
class AccountPage:
    """One decoded page of ``GET /accounts``.

    Attributes:
        number: The page number that was requested.
        accounts: The page's accounts, in the server's order.
        info: Its ``result_info``, or ``None`` when the server sent none.
        ray_id: The ``cf-ray`` header.
    """

    number: int
    accounts: tuple[Account, ...]
    info: ListingInfo | None
    ray_id: str | None = None


def listing_params(
    *, page: int, per_page: int, name: str | None, direction: Direction | None
) -> dict[str, str]:
    """Return the query of one listing request (docs/cloudflare-api.md, "Listing accounts")."""
    params = {"page": str(page), "per_page": str(per_page)}
    if name is not None:
        params["name"] = name
    if direction is not None:
        params["direction"] = direction
    return params


def last_page(info: ListingInfo | None, per_page: int, served: int | None = None) -> int | None:
    """Return the listing's last page from the first page's ``result_info``, or ``None``.

    ``total_pages`` decides; without it ``total_count`` over the page size the server used
    does. ``None`` means neither was sent: the walk then goes page by page until a short or
    empty one (docs/cloudflare-api.md, "Listing accounts": there is no ``has_more``). When the
    first page showed the server serving fewer than asked (``served``), ``total_count`` over
    that size decides: a server that echoes the size asked may count its pages by it.
    """
    if info is None:
        return None
    if served is not None and served < per_page and info.total_count is not None:
        return max(1, -(-info.total_count // served))
    if info.total_pages is not None:
        return max(1, info.total_pages)
    if info.total_count is not None:
        size = info.per_page or per_page
        return max(1, -(-info.total_count // size))
    return None


def listing_served(page: AccountPage, asked: int) -> int:
    """The page size a listing page shows the server serves, which may be less than asked.

    Its ``result_info.per_page`` below ``asked``, or fewer accounts than asked while the
    listing says it has more (``total_count`` or ``total_pages``): a silent clamp.
    """
    info, count = page.info, len(page.accounts)
    if info is None:
        return asked  # nothing tells a clamp from the end of the listing
    if info.per_page is not None and count <= info.per_page < asked:
        return info.per_page
    more = (info.total_count is not None and info.total_count > count) or (
        info.total_pages is not None and info.total_pages > 1
    )
    if 0 < count < asked and more:
        return count
    return asked


# -- decoding ------------------------------------------------------------------------------


def _structure_str(value: object, _: object) -> str:
    if isinstance(value, str):
        return value
    raise TypeError(f"expected a string, got {type(value).__name__}")


_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|z|[+-]\d\d:?\d\d)?")


def _structure_time(value: object, _: object) -> dt.datetime:
    # An ISO-8601 string such as 2014-03-01T12:21:02.0000Z (four fractional digits, which
    # datetime.fromisoformat refuses before Python 3.11): read by hand, returned in UTC.
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO-8601 string, got {type(value).__name__}")
    match = _ISO.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not an ISO-8601 time: {value[:40]!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    micro = int((match.group(7) or "0")[:6].ljust(6, "0"))
    zone = match.group(8)
    tz = dt.timezone.utc
    if zone not in (None, "Z", "z"):
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    when = dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    return when.astimezone(dt.timezone.utc)


def _structure_mapping(value: object, _: object) -> Mapping[str, Any]:
    if isinstance(value, dict):
        return value
    raise TypeError(f"expected an object, got {type(value).__name__}")


def make_account_converter() -> cattrs.Converter:
    """Return a new converter that reads a listed account strictly, naming bad fields."""
    converter = cattrs.Converter(detailed_validation=True)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(dt.datetime, _structure_time)
    converter.register_structure_hook_func(lambda t: t == Mapping[str, Any], _structure_mapping)
    converter.register_structure_hook(
        Account,
        make_dict_structure_fn(
            Account, converter, _cattrs_forbid_extra_keys=False, extra=override(omit=True)
        ),
    )
    return converter


def _reason(exc: BaseException, _: object) -> str:
    return "required field missing" if isinstance(exc, KeyError) else str(exc)


def _count(block: Mapping[str, Any], key: str, page: int) -> int | None:
    value = block.get(key)
    if value is None:
        return None
    if (
        isinstance(value, Decimal)
        and value.is_finite()
        and value.adjusted() < 18  # int() of 1E+10000000 takes minutes; no count is as large
        and value == value.to_integral_value()
    ):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 10**18:
        raise ResponseFormatError(
            f"page {page}: result_info.{key} is not a whole number >= 0: {value!r}"[:200],
            page=page,
            field=f"result_info.{key}",
        )
    return value


class AccountDecoder:
    """Turns one response of ``GET /accounts`` into an :class:`AccountPage` or an exception.

    Error responses are classified exactly as the invoice endpoint's are
    (:func:`~._protocol.raise_for_error`). Unknown account fields are kept in
    :attr:`Account.extra`.
    """

    def __init__(self) -> None:
        self._converter = make_account_converter()

    def __call__(
        self, status: int, headers: Mapping[str, str], body: bytes, page: int, now: dt.datetime
    ) -> AccountPage:
        """Decode the response to the request for ``page``.

        Raises:
            APIError: A subclass chosen by status and Cloudflare code, for error responses.
            ResponseFormatError: If the body is not the documented envelope.
        """
        ray_id = get_header(headers, "cf-ray")
        payload: Any = None
        try:
            payload = decode_json(body)
        except DECODE_ERRORS:
            payload = None
        raise_for_error(status, headers, body, payload, page=page, ray_id=ray_id, now=now)
        try:
            return self._page(payload, body, page=page, ray_id=ray_id)
        except ResponseFormatError as exc:
            exc.ray_id = ray_id
            raise

    def _page(self, payload: Any, body: bytes, *, page: int, ray_id: str | None) -> AccountPage:
        if not isinstance(payload, dict) or payload.get("success") is not True:
            raise ResponseFormatError(
                f"page {page}: not a success envelope: {snippet(body)}", page=page
            )
        result = payload.get("result")
        if not isinstance(result, list):
            raise ResponseFormatError(
                f"page {page}: 'result' is missing or not a list", page=page, field="result"
            )
        block = payload.get("result_info")
        info: ListingInfo | None = None
        if isinstance(block, dict):
            info = ListingInfo(
                **{k: _count(block, k, page) for k in attrs.fields_dict(ListingInfo)}
            )
        elif block is not None:
            raise ResponseFormatError(
                f"page {page}: result_info is not an object", page=page, field="result_info"
            )
        accounts = tuple(
            self.structure(r, where=f"result[{i}]", page=page) for i, r in enumerate(result)
        )
        return AccountPage(number=page, accounts=accounts, info=info, ray_id=ray_id)

    def structure(self, record: object, *, where: str, page: int) -> Account:
        """Structure one element of ``result`` into an :class:`Account`.

        Raises:
            ResponseFormatError: Naming the field that is missing or of the wrong type.
        """
        if not isinstance(record, dict):
            raise ResponseFormatError(
                f"page {page}: {where} is {type(record).__name__}, not an object",
                page=page,
                field=where,
            )
        try:
            account = self._converter.structure(record, Account)
        except Exception as exc:
            messages = cattrs.transform_error(exc, path="$", format_exception=_reason)
            reason, _, path = (messages[0] if messages else str(exc)).rpartition(" @ ")
            field = f"{where}.{path.removeprefix('$').lstrip('.')}".rstrip(".")
            raise ResponseFormatError(
                f"page {page}: {field}: {reason or exc}", page=page, field=field
            ) from exc
        extra = {k: v for k, v in record.items() if k not in _ACCOUNT_FIELDS}
        if extra:
            object.__setattr__(account, "extra", extra)
        return account


# -- the walk ------------------------------------------------------------------------------

ListingFetch = Callable[[int, int], Awaitable[AccountPage]]
"""Fetches one listing page, retries included: ``await fetch(page, per_page)``."""


async def _in_order(
    fetch: ListingFetch,
    per_page: int,
    last: int,
    ahead: int,
    emit: Callable[[AccountPage], Awaitable[bool]],
) -> None:
    """Fetch pages 2 to ``last`` of ``per_page`` concurrently, at most ``ahead`` beyond the
    one delivered, and ``emit`` them in order until one returns False."""

    async def walk(fetches: InOrder[AccountPage]) -> None:
        started = 1
        for number in range(2, last + 1):
            while started < last and started < number + ahead:
                started += 1
                fetches.start(started, functools.partial(fetch, started, per_page))
            if not await emit(await fetches.take(number)):
                break

    await in_order(walk)


class AccountStream(StreamContext):
    """An async iterator over every account the credentials can read, in the listing's order.

    Returned by :meth:`InvoiceClient.accounts`. Use it with ``async for``, ideally inside
    ``async with`` so that leaving early cancels the requests still in flight::

        async with client.accounts() as accounts:
            async for account in accounts:
                print(account.id, account.name)

    An account listed twice (the listing moved while it was read) is yielded once.
    """

    def __init__(
        self,
        *,
        spawn: Spawn,
        fetch: ListingFetch,
        counts: RequestCounts,
        per_page: int | None,
        read_ahead: int,
        on_progress: Callable[[AccountStats], object] | None,
        clock: Callable[[], float],
        probe: PageSizeProbe | None = None,
        scope: Scope = NO_SCOPE,
    ) -> None:
        self._fetch = fetch
        self._counts = counts
        self._wanted = per_page
        self._probe = PageSizeProbe(PageSizes(LISTING_SIZES)) if probe is None else probe
        self._size: int | None = None  # the page size the server serves, once page 1 showed it
        self._read_ahead = read_ahead
        self._on_progress = on_progress
        self._clock = clock
        self._channel: Channel[AccountPage] = Channel(
            spawn, scope.wrap(self._produce, per_page=per_page)
        )
        self._pending: list[Account] = []
        self._seen: set[str] = set()
        self._pages = 0
        self._planned: int | None = None
        self._total: int | None = None
        self._delivered = 0
        self._began: float | None = None

    @property
    def total_count(self) -> int | None:
        """The ``total_count`` the server reported, or ``None`` until known."""
        return self._total

    @property
    def stats(self) -> AccountStats:
        """A snapshot of the listing so far."""
        c = self._counts
        return AccountStats(
            pages=self._pages,
            planned_pages=self._planned,
            accounts=self._delivered,
            total_count=self._total,
            requests=c.requests,
            retries=c.retries,
            throttled_seconds=c.throttled_seconds,
            elapsed=0.0 if self._began is None else self._clock() - self._began,
            page_size=self._size,
            fewest_requests=(
                None
                if self._size is None or self._total is None
                else max(1, -(-self._total // self._size))
            ),
        )

    async def _produce(self, send: Callable[[AccountPage], Awaitable[None]]) -> None:
        first, asked = await fetch_first(
            self._probe, self._wanted, functools.partial(self._fetch, 1), listing_served
        )
        size = self._size = listing_served(first, asked)
        last = last_page(first.info, asked, size)
        self._planned = last
        await send(first)
        if last is None:
            page = first
            # No result_info: a full page may have a successor, a short or empty one ends it.
            while len(page.accounts) >= size:
                page = await self._fetch(page.number + 1, size)
                await send(page)
            return

        async def emit(page: AccountPage) -> bool:
            await send(page)
            return bool(page.accounts)  # an empty page: the listing shrank, nothing follows

        if first.accounts:
            await _in_order(self._fetch, size, last, max(1, self._read_ahead), emit)

    def _start(self) -> None:
        if not self._channel.started and not self._channel.closed:
            self._began = self._clock()
        self._channel.start()

    def __aiter__(self) -> AccountStream:
        return self

    async def __anext__(self) -> Account:
        while not self._pending:
            self._start()
            page = await self._channel.receive()
            self._pages += 1
            if page.info is not None and page.info.total_count is not None:
                self._total = page.info.total_count
            fresh = [a for a in page.accounts if a.id not in self._seen]
            self._seen.update(a.id for a in fresh)
            self._pending = fresh[::-1]
            if self._on_progress is not None:
                self._on_progress(self.stats)
        self._delivered += 1
        return self._pending.pop()

    async def aclose(self) -> None:
        """Stop the listing: cancel every request in flight and wait until they are gone."""
        await self._channel.aclose()

    def __del__(self) -> None:
        channel = getattr(self, "_channel", None)
        if channel is not None:
            channel.abandon()

    def __repr__(self) -> str:
        return f"<AccountStream accounts={self._delivered}>"


def check_listing_options(
    name: object, direction: object, per_page: int | None, default: int | None
) -> int | None:
    """Validate ``accounts()``'s options and return the page size to ask for.

    ``None`` (neither ``per_page`` nor a client's ``default``): the largest the server
    accepts, from :data:`LISTING_SIZES`.

    Raises:
        ConfigurationError: For a name that is not a non-empty string, a direction other
            than ``"asc"``/``"desc"``, or a ``per_page`` outside 5 to 50.
    """
    if name is not None and (not isinstance(name, str) or not name):
        raise ConfigurationError("name must be a non-empty string or None")
    if direction not in (None, "asc", "desc"):
        raise ConfigurationError(f"direction must be 'asc', 'desc' or None, got {direction!r}")
    if per_page is None:
        if default is None:
            return None
        # The client's page size is for invoices; the listing allows 5 to 50.
        return min(LISTING_MAX_PER_PAGE, max(LISTING_MIN_PER_PAGE, default))
    if isinstance(per_page, bool) or not isinstance(per_page, int):
        raise ConfigurationError("per_page must be a whole number")
    if not LISTING_MIN_PER_PAGE <= per_page <= LISTING_MAX_PER_PAGE:
        raise ConfigurationError(
            f"per_page for the account listing must be {LISTING_MIN_PER_PAGE} to "
            f"{LISTING_MAX_PER_PAGE}, got {per_page}"
        )
    return per_page
