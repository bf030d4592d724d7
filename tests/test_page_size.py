"""The page size: the largest a server accepts, learnt once per client, never raised.

The decisions (``_page_size.PageSizes``) are driven synchronously with plain values; the
walks run against ``FakeCloudflare`` in each of its ``per_page_limit`` behaviours, and every
request is counted where the server counts it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import anyio
import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncinvoices import (
    BadRequestError,
    CloudflareErrorDetail,
    FetchStats,
    Invoice,
    InvoiceClient,
    InvoicePage,
    Pagination,
    SyncInvoiceClient,
)
from asyncinvoices._walk.driver import Paginator
from asyncinvoices._walk.ledger import Ledger
from asyncinvoices._walk.page_size import KNOWN_SIZES, PageSizes, per_page_limit
from asyncinvoices.testing import FakeCloudflare

pytestmark = pytest.mark.anyio

EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def refusal(
    message: str = "Invalid request parameters", chain: str | None = None
) -> BadRequestError:
    """A 400 / 6008 as Cloudflare sends it, with ``chain`` as its 11000 entry."""
    links = () if chain is None else (CloudflareErrorDetail(code=11000, message=chain),)
    detail = CloudflareErrorDetail(code=6008, message=message, chain=links)
    return BadRequestError(message, status=400, errors=(detail,))


NAMED_100 = refusal(chain="per_page variable must be a number between 1 and 100")
UNNAMED = refusal(chain="per_page variable is out of range")


def client_for(fake: FakeCloudflare, **kwargs: Any) -> InvoiceClient:
    """A client pointed at the fake server, without a client-side quota."""
    kwargs.setdefault("rate_limit", None)
    return InvoiceClient(api_token=fake.api_token, base_url=fake.base_url, **kwargs)


Request = tuple[int | None, int | None, int]


def wire(fake: FakeCloudflare) -> list[Request]:
    """Every request the server saw: ``(page, per_page, status)``."""
    return [(r.page, r.per_page, r.status) for r in fake.requests]


def assert_wire(fake: FakeCloudflare, serial: list[Request], concurrent: list[Request]) -> None:
    """The server saw ``serial`` first, in this order (a first page and its probe go one at
    a time), then exactly ``concurrent`` in any order (pages after it go side by side)."""
    seen = wire(fake)
    assert seen[: len(serial)] == serial
    assert sorted(seen[len(serial) :], key=repr) == sorted(concurrent, key=repr)


async def walk(
    client: InvoiceClient, account_id: str, **kwargs: Any
) -> tuple[list[Any], FetchStats]:
    """Every invoice of one walk, as values to compare with ``expected_invoices``, and its stats."""
    async with client.invoices(account_id, **kwargs) as stream:
        values = [attrs.asdict(invoice, recurse=False) async for invoice in stream]
    return values, stream.stats


# -- the decisions, without I/O ------------------------------------------------------------


def test_a_walk_without_a_size_starts_from_the_largest_known() -> None:
    """1,000 first; a size of the caller's own is asked for as it is."""
    sizes = PageSizes()
    assert (sizes.ask(None), sizes.ask(50), sizes.ask(5000)) == (1000, 50, 5000)
    assert KNOWN_SIZES == (1000, 100, 50, 20)


def test_a_named_maximum_is_used_and_only_ever_lowers() -> None:
    """A refusal naming 100: 100 for the default, never more than the caller's own size."""
    sizes = PageSizes()
    sizes.refused(1000, NAMED_100)
    assert (sizes.ask(None), sizes.ask(500), sizes.ask(20)) == (100, 100, 20)
    assert (sizes.named, sizes.refusals) == (100, 1)


def test_an_unnamed_refusal_steps_down_the_known_sizes() -> None:
    """1,000, 100, 50 refused without a number: 20; 20 refused too: the refusal is raised."""
    sizes = PageSizes()
    asked = []
    for _ in range(3):
        asked.append(sizes.ask(None))
        sizes.refused(asked[-1], UNNAMED)
    assert (asked, sizes.ask(None)) == ([1000, 100, 50], 20)
    with pytest.raises(BadRequestError) as info:
        sizes.refused(20, UNNAMED)
    assert info.value is UNNAMED
    assert sizes.refusals == 3


def test_a_caller_size_between_steps_is_tried_before_the_step_below() -> None:
    """1,000 refused without a number: a caller's 500 is still tried, then 100."""
    sizes = PageSizes()
    sizes.refused(1000, UNNAMED)
    assert sizes.ask(500) == 500
    sizes.refused(500, UNNAMED)
    assert (sizes.ask(500), sizes.ask(None), sizes.ask(30)) == (100, 100, 30)


def test_a_proven_size_beats_a_step_down() -> None:
    """1,000 refused, 500 accepted: the default asks for 500, not 100, without a probe."""
    sizes = PageSizes()
    sizes.refused(1000, UNNAMED)
    sizes.succeeded(500, 500)
    assert (sizes.ask(None), sizes.proven(500), sizes.proven(501)) == (500, True, False)


def test_a_clamp_seen_lowers_what_is_asked() -> None:
    """Asked 1,000, served 100 a page: later walks ask for 100, proven."""
    sizes = PageSizes()
    sizes.succeeded(1000, 100)
    assert (sizes.ask(None), sizes.ask(50), sizes.proven(100)) == (100, 50, True)


@pytest.mark.parametrize(
    "exc",
    [
        refusal(),  # names nothing, but 10 is below every known size
        refusal(chain="per_page variable must be a number between 1 and 50"),  # 10 was within
        BadRequestError("no", status=400, errors=(CloudflareErrorDetail(code=7003, message="x"),)),
    ],
)
def test_a_refusal_that_teaches_nothing_is_raised(exc: BadRequestError) -> None:
    """Not a 6008, a maximum the size was within, or no smaller size to try: raised as is."""
    sizes = PageSizes()
    with pytest.raises(BadRequestError) as info:
        sizes.refused(10, exc)
    assert info.value is exc
    assert (sizes.ask(None), sizes.refusals) == (1000, 0)


def test_a_refusal_of_a_size_accepted_before_is_about_something_else() -> None:
    """100 was accepted: a 6008 for 100 later teaches nothing and is raised."""
    sizes = PageSizes()
    sizes.succeeded(100, 100)
    with pytest.raises(BadRequestError):
        sizes.refused(100, UNNAMED)


def test_the_listing_names_its_least_size_too() -> None:
    """The account listing's refusal reads "between 5 and 50": its maximum is read."""
    assert (
        per_page_limit(refusal(chain="per_page variable must be a number between 5 and 20")) == 20
    )
    assert per_page_limit(UNNAMED) is None


def test_steps_must_decrease() -> None:
    """Steps that do not strictly decrease are a programming error."""
    with pytest.raises(ValueError, match="strictly decreasing"):
        PageSizes((50, 50))


# -- walks against each server behaviour ----------------------------------------------------


@pytest.mark.parametrize("limit", ["named", "unnamed", "clamp", "clamp-asked"])
async def test_20000_invoices_from_a_server_of_1000_cost_20_requests(limit: str) -> None:
    """A server accepting 1,000 a page: 20 requests for 20,000 invoices, exact and in order."""
    async with FakeCloudflare(20_000, max_per_page=1000, per_page_limit=limit) as fake:  # type: ignore[arg-type]
        async with client_for(fake) as client:
            values, stats = await walk(client, fake.account_id)
        assert values == fake.expected_invoices()
    assert_wire(fake, [(1, 1000, 200)], [(page, 1000, 200) for page in range(2, 21)])
    assert (stats.requests, stats.fewest_requests, stats.page_size) == (20, 20, 1000)


@pytest.mark.parametrize(
    ("limit", "probe"),
    [
        ("named", [(1, 1000, 400)]),  # the refusal names 100
        ("unnamed", [(1, 1000, 400)]),  # the next known size, 100, is accepted
        ("clamp", []),  # page 1 of 1,000 comes back as 100, echoing 100
        ("clamp-asked", []),  # page 1 of 1,000 comes back as 100, echoing 1,000
    ],
)
async def test_20000_invoices_from_a_server_of_100(
    limit: str, probe: list[tuple[int, int, int]]
) -> None:
    """A server of 100 a page, named or not or clamped: at most 201 requests, exact invoices."""
    async with FakeCloudflare(
        20_000, max_per_page=100, per_page_limit=limit, shapes="mixed"
    ) as fake:  # type: ignore[arg-type]
        async with client_for(fake) as client:
            values, stats = await walk(client, fake.account_id)
        assert values == fake.expected_invoices()
    first = [(1, 100, 200)] if probe else [(1, 1000, 200)]
    assert_wire(fake, probe + first, [(page, 100, 200) for page in range(2, 201)])
    assert (stats.requests, stats.fewest_requests, stats.page_size) == (len(probe) + 200, 200, 100)


@pytest.mark.parametrize(
    ("maximum", "asked"),
    [
        (50, [1000, 100, 50]),  # a server of 50 works as per_page=50 would, two refusals later
        (30, [1000, 100, 50, 20]),  # below 50: 20, the smallest size Cloudflare is known to use
    ],
)
async def test_an_unnamed_refusal_steps_down_until_accepted(maximum: int, asked: list[int]) -> None:
    """1,000, 100, 50, 20 until one is accepted; then every page is of that size."""
    async with FakeCloudflare(300, max_per_page=maximum, per_page_limit="unnamed") as fake:
        async with client_for(fake) as client:
            values, stats = await walk(client, fake.account_id)
        assert values == fake.expected_invoices()
    size = asked[-1]
    pages = -(-300 // size)
    refused = [(1, n, 400) for n in asked[:-1]]
    assert_wire(fake, [*refused, (1, size, 200)], [(p, size, 200) for p in range(2, pages + 1)])
    assert (stats.requests, stats.fewest_requests) == (len(refused) + pages, pages)


async def test_a_server_refusing_even_20_without_a_number_raises_its_refusal() -> None:
    """Below 20 nothing is known to try: the fourth refusal is raised, nothing delivered."""
    async with FakeCloudflare(30, max_per_page=10, per_page_limit="unnamed") as fake:
        async with client_for(fake) as client:
            with pytest.raises(BadRequestError) as info:
                await walk(client, fake.account_id)
    assert info.value.codes == (6008, 11000)
    assert wire(fake) == [(1, n, 400) for n in (1000, 100, 50, 20)]


@pytest.mark.parametrize("limit", ["named", "unnamed", "clamp-asked"])
async def test_the_learnt_size_is_kept_for_every_later_walk_and_account(limit: str) -> None:
    """The probe is paid by the first walk only: the next walks, of this account or another,
    ask for 100 at once."""
    async with FakeCloudflare(
        [250, 120], accounts=2, max_per_page=100, per_page_limit=limit
    ) as fake:  # type: ignore[arg-type]
        a, b = fake.account_ids
        async with client_for(fake) as client:
            await walk(client, a)
            fake.reset_counters()
            for account_id in (a, b, a):
                values, stats = await walk(client, account_id)
                assert values == fake.expected_invoices(account_id)
                pages = -(-len(values) // 100)
                assert (stats.requests, stats.fewest_requests) == (pages, pages)
    assert [(r.account_id, r.page, r.per_page) for r in fake.requests] == [
        *((a, p, 100) for p in (1, 2, 3)),
        *((b, p, 100) for p in (1, 2)),
        *((a, p, 100) for p in (1, 2, 3)),
    ]


async def test_walks_starting_together_pay_for_one_refusal() -> None:
    """Eight walks started at once on a fresh client: one refusal in all, then 100 a page."""
    async with FakeCloudflare([150] * 8, accounts=8, max_per_page=100) as fake:
        results: dict[str, list[Any]] = {}
        async with client_for(fake) as client:

            async def one(account_id: str) -> None:
                results[account_id] = (await walk(client, account_id))[0]

            async with anyio.create_task_group() as tg:
                for account_id in fake.account_ids:
                    tg.start_soon(one, account_id)
        for account_id in fake.account_ids:
            assert results[account_id] == fake.expected_invoices(account_id)
    refused = [r for r in fake.requests if r.status == 400]
    assert [(r.page, r.per_page) for r in refused] == [(1, 1000)]
    assert sorted(
        (r.page, r.per_page, r.status) for r in fake.requests if r.status != 400
    ) == sorted([(1, 100, 200), (2, 100, 200)] * 8)


async def test_invoices_many_pays_for_one_refusal() -> None:
    """Many accounts side by side, listing included: one refusal for the invoices, none for
    the listing (its documented maximum, 50, is accepted)."""
    async with FakeCloudflare([3] * 12, accounts=12, max_per_page=100) as fake:
        async with client_for(fake) as client:
            async with client.invoices_many() as stream:
                got = [(account_id, invoice.id) async for account_id, invoice in stream]
            stats = stream.stats
    assert len(got) == 36
    assert [(r.endpoint, r.per_page, r.status) for r in fake.requests if r.status != 200] == [
        ("invoice-history", 1000, 400)
    ]
    listing = [(r.page, r.per_page) for r in fake.requests if r.endpoint == "accounts"]
    assert listing == [(1, 50)]
    assert (stats.requests, stats.fewest_requests) == (1 + 1 + 12, 1 + 12)


@pytest.mark.parametrize("limit", ["named", "unnamed", "clamp", "clamp-asked"])
async def test_a_size_of_the_callers_own_is_never_raised(limit: str) -> None:
    """per_page=50 on a server of 1,000 asks for 50 throughout, after the client learnt
    more too; per_page=20 after the client learnt 100 asks for 20."""
    async with FakeCloudflare(120, max_per_page=1000, per_page_limit=limit) as fake:  # type: ignore[arg-type]
        async with client_for(fake, per_page=50) as client:
            for per_page in (50, None):  # the walk's own, then the client's
                values, _ = await walk(client, fake.account_id, per_page=per_page)
                assert values == fake.expected_invoices()
                assert_wire(fake, [(1, 50, 200)], [(2, 50, 200), (3, 50, 200)])
                await fake.wait_idle()
                fake.reset_counters()
    async with FakeCloudflare(120, max_per_page=100, per_page_limit=limit) as fake:  # type: ignore[arg-type]
        async with client_for(fake) as client:
            await walk(client, fake.account_id)
            await fake.wait_idle()
            fake.reset_counters()
            values, _ = await walk(client, fake.account_id, per_page=20)
        assert values == fake.expected_invoices()
    assert_wire(fake, [(1, 20, 200)], [(page, 20, 200) for page in range(2, 7)])


async def test_a_size_of_the_callers_own_above_the_maximum_is_lowered() -> None:
    """per_page=500 on a server naming 100: lowered to 100, as before; never to more."""
    async with FakeCloudflare(250, max_per_page=100) as fake:
        async with client_for(fake, per_page=500) as client:
            values, stats = await walk(client, fake.account_id)
        assert values == fake.expected_invoices()
    assert_wire(fake, [(1, 500, 400), (1, 100, 200)], [(2, 100, 200), (3, 100, 200)])
    assert (stats.requests, stats.fewest_requests, stats.page_size) == (4, 3, 100)


async def test_a_resumed_walk_on_a_clamping_server_searches_again_by_the_size_served() -> None:
    """A checkpoint at invoice 250, a new client, a server serving 100 whatever is asked:
    the first search page shows the clamp, and the search starts again by 100."""
    async with FakeCloudflare(1000, max_per_page=100, per_page_limit="clamp-asked") as fake:
        async with client_for(fake, per_page=100) as client:
            async with client.invoices(fake.account_id) as stream:
                for _ in range(250):
                    await stream.__anext__()
                checkpoint = stream.checkpoint()
        await fake.wait_idle()
        fake.reset_counters()
        async with client_for(fake) as client:
            async with client.invoices(fake.account_id, resume=checkpoint) as stream:
                ids = [invoice.id async for invoice in stream]
        assert ids == fake.ids()[250:]
    # page 1 of 1,000 holds invoice 249 but is served as 0..99; then by 100: page 3 holds
    # 249 (200..299), and the walk goes on aligned from page 4.
    assert_wire(fake, [(1, 1000, 200), (3, 100, 200)], [(p, 100, 200) for p in range(4, 11)])


async def test_since_counts_the_fewest_requests_down_to_the_bound() -> None:
    """With since, the fewest are the pages down to the first invoice older than it."""
    async with FakeCloudflare(5000, max_per_page=1000) as fake:
        expected = fake.expected_invoices()
        since = expected[2499]["created"]  # invoices 0..2499 are at or after it (one a time)
        assert expected[2500]["created"] < since
        async with client_for(fake, read_ahead=0) as client:
            values, stats = await walk(client, fake.account_id, since=since)
        assert values == [v for v in expected if v["created"] >= since]
    assert (stats.requests, stats.fewest_requests, stats.page_size) == (3, 3, 1000)


async def test_the_blocking_client_learns_the_size_too() -> None:
    """SyncInvoiceClient without per_page: the same requests as the async client."""
    async with FakeCloudflare(250, max_per_page=100) as fake:

        def run() -> list[str | None]:
            with SyncInvoiceClient(
                api_token=fake.api_token, base_url=fake.base_url, rate_limit=None
            ) as client:
                return [i.id for i in client.invoices(fake.account_id)]

        ids = await anyio.to_thread.run_sync(run)
        assert ids == fake.ids()
    assert_wire(fake, [(1, 1000, 400), (1, 100, 200)], [(2, 100, 200), (3, 100, 200)])


async def test_get_page_without_a_size_learns_it_as_a_walk_does() -> None:
    """get_page() uses and teaches the client's page size; get_page(per_page=N) asks for N."""
    async with FakeCloudflare(250, max_per_page=100, per_page_limit="unnamed") as fake:
        async with client_for(fake) as client:
            page = await client.get_page(fake.account_id, page=2)
            assert [i.id for i in page.invoices] == fake.ids()[100:200]
            assert wire(fake) == [(2, 1000, 400), (2, 100, 200)]
            fake.reset_counters()
            await walk(client, fake.account_id)
            assert_wire(fake, [(1, 100, 200)], [(2, 100, 200), (3, 100, 200)])
            await fake.wait_idle()
            fake.reset_counters()
            with pytest.raises(BadRequestError):
                await client.get_page(fake.account_id, per_page=1000)
    assert wire(fake) == [(1, 1000, 400)]


# -- the account listing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "asked"),
    [
        ("named", [(1, 50, 400), (1, 20, 200), (2, 20, 200)]),
        ("unnamed", [(1, 50, 400), (1, 20, 200), (2, 20, 200)]),
        ("clamp", [(1, 50, 200), (2, 20, 200)]),
        ("clamp-asked", [(1, 50, 200), (2, 20, 200)]),
    ],
)
async def test_the_listing_adapts_from_its_documented_maximum(
    limit: str, asked: list[tuple[int, int, int]]
) -> None:
    """A listing of at most 20 a page, 35 accounts: every account once, in order; a second
    listing of the same client asks for 20 at once."""
    async with FakeCloudflare(
        1, accounts=35, listing_max_per_page=20, per_page_limit=limit
    ) as fake:  # type: ignore[arg-type]
        async with client_for(fake) as client:
            async with client.accounts() as stream:
                ids = [account.id async for account in stream]
            stats = stream.stats
            fake.reset_counters()
            async with client.accounts() as stream:
                again = [account.id async for account in stream]
        by_name = sorted(range(35), key=lambda k: f"Account {k}")  # the fake lists by name
        expected = [fake.account_ids[k] for k in by_name]
    assert ids == again == expected
    assert (stats.requests, stats.fewest_requests, stats.page_size) == (len(asked), 2, 20)
    assert [(r.page, r.per_page, r.status) for r in fake.requests] == [(1, 20, 200), (2, 20, 200)]


async def test_the_listing_keeps_a_callers_size() -> None:
    """accounts(per_page=10) asks for 10; a client's per_page=30 brings it to 30."""
    async with FakeCloudflare(1, accounts=25) as fake:
        async with client_for(fake) as client:
            async with client.accounts(per_page=10) as stream:
                assert len([a async for a in stream]) == 25
        async with client_for(fake, per_page=30) as client:
            async with client.accounts() as stream:
                assert len([a async for a in stream]) == 25
    assert [(r.page, r.per_page) for r in fake.requests] == [(1, 10), (2, 10), (3, 10), (1, 30)]


# -- the promise, as a property: never worse than per_page=50 ------------------------------


class Server:
    """``n`` invoices behind a page-size limit of ``most``, refused (naming it or not) or
    clamped (echoing its own size or the one asked), as ``FakeCloudflare`` does."""

    def __init__(self, n: int, most: int, limit: str) -> None:
        self.n, self.most, self.limit = n, most, limit
        self.asked: list[int] = []

    async def fetch(self, page: int, per_page: int) -> InvoicePage:
        self.asked.append(per_page)
        if per_page > self.most and self.limit == "named":
            raise refusal(chain=f"per_page variable must be a number between 1 and {self.most}")
        if per_page > self.most and self.limit == "unnamed":
            raise UNNAMED
        size = min(per_page, self.most)
        offset = (page - 1) * size
        ids = range(offset, min(offset + size, self.n))
        return InvoicePage(
            number=page,
            invoices=tuple(
                Invoice(
                    id=f"in_{k}",
                    amount_due=Decimal(1),
                    amount_paid=Decimal(0),
                    amount_remaining=Decimal(1),
                    currency="usd",
                    created=EPOCH - dt.timedelta(minutes=k),
                )
                for k in ids
            ),
            pagination=Pagination(
                page=page,
                per_page=per_page if self.limit == "clamp-asked" else size,
                total_count=self.n,
                has_more=offset + len(ids) < self.n,
            ),
        )


def run_walk(server: Server, per_page: int | None) -> tuple[list[str | None] | None, int]:
    """The ids a walk delivers (``None`` when it raised) and the requests it made."""
    ids: list[str | None] = []

    async def emit(page: InvoicePage) -> None:
        ids.extend(i.id for i in page.invoices)

    async def main() -> bool:
        paginator = Paginator(server.fetch, per_page=per_page, read_ahead=2, ledger=Ledger())
        try:
            await paginator.run(emit)
        except BadRequestError:
            return False
        return True

    ok = anyio.run(main)
    return (ids if ok else None), len(server.asked)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(
    st.integers(0, 2500),
    st.integers(1, 1500),
    st.sampled_from(["named", "unnamed", "clamp", "clamp-asked"]),
    st.none() | st.integers(1, 1500),
)
def test_the_default_never_fails_where_50_works_and_a_callers_size_is_never_raised(
    n: int, most: int, limit: str, wanted: int | None
) -> None:
    """Wherever per_page=50 delivers every invoice, the default does too, with at most three
    refusals beyond the pages of the size it settles on, and so does a size of the caller's
    own, which is never exceeded."""
    expected = [f"in_{k}" for k in range(n)]
    reference, _ = run_walk(Server(n, most, limit), 50)
    default, requests = run_walk(Server(n, most, limit), None)
    own = Server(n, most, limit)
    mine, _ = run_walk(own, wanted)
    if wanted is not None:
        assert max(own.asked) <= wanted
    if reference is None:  # 50, and 20 after it, refused: the server takes less than 20
        assert (limit, most < 20) == ("unnamed", True)
        return
    assert reference == default == mine == expected
    # Refused without a number, the walk settles on the largest known size the server takes.
    known = [s for s in KNOWN_SIZES if s <= most]
    settled = known[0] if limit == "unnamed" else min(most, 1000)
    assert requests <= -(-max(n, 1) // settled) + 3
