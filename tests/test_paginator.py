"""The paginator as a thin driver: read-ahead apart from concurrency, errors in page order.

``fetch`` here is an in-memory endpoint with its own concurrency limit, as the client's is:
the paginator only decides how many pages may be started or held.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import anyio
import pytest

from asyncinvoices import (
    BadRequestError,
    CloudflareErrorDetail,
    ConfigurationError,
    Invoice,
    InvoicePage,
    Pagination,
    PaginationError,
    TransportError,
)
from asyncinvoices._walk.driver import Paginator
from asyncinvoices._walk.ledger import Ledger
from asyncinvoices._walk.pages import Anchor

pytestmark = pytest.mark.anyio

EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


class Endpoint:
    """``total`` invoices in pages, served through a limiter of ``concurrency`` slots."""

    def __init__(self, total: int, *, concurrency: int) -> None:
        self.total = total
        self.limiter = anyio.CapacityLimiter(concurrency)
        self.started: list[int] = []
        self.finished: list[int] = []
        self.hold: dict[int, anyio.Event] = {}  # pages that wait (a backoff) until set
        self.fail: dict[int, Exception] = {}
        self.reached: dict[int, anyio.Event] = {}  # set once that page has finished

    async def fetch(self, page: int, per_page: int) -> InvoicePage:
        """Serve one page, holding a slot of the limiter while it is served."""
        self.started.append(page)
        async with self.limiter:
            if page in self.hold:
                await self.hold[page].wait()  # keeps its slot, as a request in backoff does
            if page in self.fail:
                raise self.fail[page]
        offset = (page - 1) * per_page
        invoices = tuple(
            Invoice(
                id=f"in_{k}",
                amount_due=Decimal(1),
                amount_paid=Decimal(0),
                amount_remaining=Decimal(1),
                currency="usd",
                created=EPOCH - dt.timedelta(minutes=k),
            )
            for k in range(offset, min(offset + per_page, self.total))
        )
        self.finished.append(page)
        if page in self.reached:
            self.reached[page].set()
        return InvoicePage(
            number=page,
            invoices=invoices,
            pagination=Pagination(
                page=page,
                per_page=per_page,
                total_count=self.total,
                has_more=offset + len(invoices) < self.total,
            ),
        )


async def test_pages_beyond_a_page_in_backoff_keep_coming() -> None:
    """Page 2 holds one of two slots; pages 3 to 7 (read_ahead 5) go through the other."""
    endpoint = Endpoint(100, concurrency=2)
    endpoint.hold[2] = anyio.Event()
    endpoint.reached[7] = anyio.Event()
    emitted: list[int] = []

    async def emit(page: InvoicePage) -> None:
        emitted.append(page.number)

    paginator = Paginator(endpoint.fetch, per_page=10, read_ahead=5, ledger=Ledger())
    async with anyio.create_task_group() as tg:
        tg.start_soon(paginator.run, emit)
        with anyio.fail_after(10):
            await endpoint.reached[7].wait()
        assert endpoint.finished == [1, 3, 4, 5, 6, 7]
        assert endpoint.started == [1, 2, 3, 4, 5, 6, 7]  # no page 8: read_ahead holds it
        assert emitted == [1]
        endpoint.hold[2].set()
    assert emitted == list(range(1, 11))
    assert paginator.progress.planned_pages == 10


async def test_memory_is_read_ahead_plus_one_pages() -> None:
    """With a consumer that never lets go, read_ahead 3 holds exactly pages 2 to 5."""
    endpoint = Endpoint(100, concurrency=8)
    endpoint.reached[5] = anyio.Event()
    stuck = anyio.Event()
    emitted: list[int] = []

    async def emit(page: InvoicePage) -> None:
        emitted.append(page.number)
        if page.number == 2:
            await stuck.wait()

    paginator = Paginator(endpoint.fetch, per_page=10, read_ahead=3, ledger=Ledger())
    async with anyio.create_task_group() as tg:
        tg.start_soon(paginator.run, emit)
        with anyio.fail_after(10):
            await endpoint.reached[5].wait()
            await anyio.wait_all_tasks_blocked()
        # Page 2 is being delivered, pages 3 to 5 are held: read_ahead + 1 = 4 pages.
        assert sorted(endpoint.started) == [1, 2, 3, 4, 5]
        assert emitted == [1, 2]
        tg.cancel_scope.cancel()


async def test_a_failed_page_is_raised_in_order() -> None:
    """Page 4 fails while 5 and 6 succeed: pages 1 to 3 come out, then the error, unwrapped."""
    endpoint = Endpoint(100, concurrency=3)
    endpoint.fail[4] = TransportError("connection reset", page=4)
    emitted: list[int] = []

    async def emit(page: InvoicePage) -> None:
        emitted.append(page.number)

    paginator = Paginator(endpoint.fetch, per_page=10, read_ahead=2, ledger=Ledger())
    with pytest.raises(TransportError, match="connection reset"):
        await paginator.run(emit)
    assert emitted == [1, 2, 3]


async def test_an_ignored_page_is_raised_after_what_came_before() -> None:
    """A server answering page 1 to every request fails the walk at page 2."""
    endpoint = Endpoint(100, concurrency=2)
    served = endpoint.fetch

    async def page_one(page: int, per_page: int) -> InvoicePage:
        first = await served(1, per_page)
        return InvoicePage(number=page, invoices=first.invoices, pagination=first.pagination)

    emitted: list[int] = []

    async def emit(page: InvoicePage) -> None:
        emitted.append(page.number)

    paginator = Paginator(page_one, per_page=10, read_ahead=0, ledger=Ledger())
    with pytest.raises(PaginationError) as info:
        await paginator.run(emit)
    assert (info.value.page, emitted) == (2, [1])


@pytest.mark.parametrize(("read_ahead", "per_page"), [(-1, 10), (0, 0)])
def test_bad_settings_are_configuration_errors(read_ahead: int, per_page: int) -> None:
    """A negative read_ahead or a page size below one is refused up front."""
    endpoint = Endpoint(1, concurrency=1)
    with pytest.raises(ConfigurationError, match="read_ahead must be >= 0"):
        Paginator(endpoint.fetch, per_page=per_page, read_ahead=read_ahead, ledger=Ledger())


async def test_since_makes_fewer_requests_than_a_full_walk() -> None:
    """A 10,000-invoice account, invoices of the last 250 minutes: 5 pages of 50 and
    page 6 to see them end, plus read_ahead 2; a full walk takes 200."""
    since = EPOCH - dt.timedelta(minutes=249)
    bounded = Endpoint(10_000, concurrency=4)
    ids: list[str | None] = []

    async def emit(page: InvoicePage) -> None:
        ids.extend(i.id for i in page.invoices)

    paginator = Paginator(bounded.fetch, per_page=50, read_ahead=2, ledger=Ledger(), since=since)
    await paginator.run(emit)
    assert ids == [f"in_{k}" for k in range(250)]
    assert sorted(bounded.started) == list(range(1, 9))
    assert not paginator.progress.unordered
    full = Endpoint(10_000, concurrency=4)

    async def ignore(page: InvoicePage) -> None:
        pass

    await Paginator(full.fetch, per_page=50, read_ahead=2, ledger=Ledger()).run(ignore)
    assert len(full.started) == 200


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        (dt.datetime(2026, 1, 1), None, "since must be a datetime with a time zone"),
        (None, dt.datetime(2026, 1, 1), "until must be a datetime with a time zone"),
        (EPOCH, EPOCH, "since must be before until"),
    ],
)
def test_bad_bounds_are_configuration_errors(
    since: dt.datetime | None, until: dt.datetime | None, message: str
) -> None:
    """A naive bound, or since not before until, is refused up front."""
    endpoint = Endpoint(1, concurrency=1)
    with pytest.raises(ConfigurationError, match=message):
        Paginator(
            endpoint.fetch, per_page=10, read_ahead=0, ledger=Ledger(), since=since, until=until
        )


async def test_a_resumed_search_refused_for_its_size_asks_within_the_named_maximum() -> None:
    """Resumed at invoice 12 with per_page 10 on a server of at most 5: the refused request
    teaches the maximum, and the search starts again by pages of 5 from the same anchor."""
    endpoint = Endpoint(30, concurrency=1)
    detail = CloudflareErrorDetail(
        code=6008, message="per_page variable must be a number between 1 and 5"
    )
    asked: list[tuple[int, int]] = []

    async def fetch(page: int, per_page: int) -> InvoicePage:
        asked.append((page, per_page))
        if per_page > 5:
            raise BadRequestError("between 1 and 5", status=400, errors=(detail,))
        return await endpoint.fetch(page, per_page)

    ids: list[str | None] = []

    async def emit(page: InvoicePage) -> None:
        ids.extend(i.id for i in page.invoices)

    anchor = Anchor(position=12, invoice_id="in_12", created=EPOCH - dt.timedelta(minutes=12))
    paginator = Paginator(fetch, per_page=10, read_ahead=0, ledger=Ledger(), resume=anchor)
    await paginator.run(emit)
    assert ids == [f"in_{k}" for k in range(13, 30)]
    assert asked == [(2, 10), (3, 5), (4, 5), (5, 5), (6, 5)]


async def test_a_refused_search_request_that_teaches_nothing_is_raised() -> None:
    """A 6008 naming no maximum, for a size no known size is below: raised, not retried."""
    endpoint = Endpoint(100, concurrency=1)
    detail = CloudflareErrorDetail(code=6008, message="Invalid request parameters")
    endpoint.fail[2] = BadRequestError("Invalid request parameters", status=400, errors=(detail,))

    async def emit(page: InvoicePage) -> None:
        raise AssertionError("nothing is delivered")

    anchor = Anchor(position=12, invoice_id="in_12", created=EPOCH - dt.timedelta(minutes=12))
    paginator = Paginator(endpoint.fetch, per_page=10, read_ahead=0, ledger=Ledger(), resume=anchor)
    with pytest.raises(BadRequestError, match="Invalid request parameters"):
        await paginator.run(emit)
    assert endpoint.started == [2]


class _Undecoded:
    """A response left to decode, as ``Received`` is: it records when it is decoded."""

    def __init__(self, page: InvoicePage, events: list[str]) -> None:
        self._page = page
        self._events = events

    def decode(self) -> InvoicePage:
        self._events.append(f"decode {self._page.number}")
        return self._page


async def test_a_page_is_decoded_only_when_its_turn_comes() -> None:
    """Pages fetched ahead stay undecoded until the walk reaches them, each just before it
    is delivered, so only the page being delivered exists as invoices."""
    endpoint = Endpoint(50, concurrency=5)
    events: list[str] = []

    async def fetch(page: int, per_page: int) -> _Undecoded:
        got = _Undecoded(await endpoint.fetch(page, per_page), events)
        events.append(f"fetched {page}")
        return got

    async def emit(page: InvoicePage) -> None:
        events.append(f"emit {page.number}")

    paginator = Paginator(fetch, per_page=10, read_ahead=4, ledger=Ledger())  # type: ignore[arg-type]
    await paginator.run(emit)
    decoding = [e for e in events if not e.startswith("fetched")]
    assert decoding == [f"{what} {n}" for n in range(1, 6) for what in ("decode", "emit")]
    # Page 1 is fetched alone (it tells the total); pages 2 to 5 are all fetched before
    # page 2 is decoded.
    assert events.index("fetched 5") < events.index("decode 2")
