"""End-to-end tests of InvoiceClient against FakeCloudflare on loopback."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import anyio
import pytest

from asyncinvoices import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    FetchStats,
    InvoiceClient,
    PaginationError,
    RateLimit,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    TransportError,
)
from asyncinvoices.testing import FakeCloudflare, Fault

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("instant_backoff")]


@pytest.fixture
async def fake() -> AsyncIterator[FakeCloudflare]:
    """A 137-invoice account with no latency."""
    async with FakeCloudflare(invoices=137, seed=3) as server:
        yield server


def client_for(fake: FakeCloudflare, **kwargs: Any) -> InvoiceClient:
    """A client pointed at the fake server."""
    return InvoiceClient(api_token=fake.api_token, base_url=fake.base_url, **kwargs)


async def all_ids(client: InvoiceClient, account_id: str, **kwargs: Any) -> list[str | None]:
    """Every id the client yields, in order."""
    async with client.invoices(account_id, **kwargs) as stream:
        return [invoice.id async for invoice in stream]


@pytest.mark.parametrize(
    ("per_page", "concurrency"),
    [(1, 1), (1, 16), (7, 3), (50, 1), (50, 64), (99, 4), (100, 8), (100, 200)],
)
async def test_exact_sequence(fake: FakeCloudflare, per_page: int, concurrency: int) -> None:
    """Every invoice arrives once, in the server's order, whatever the page size and concurrency."""
    async with client_for(fake, per_page=per_page, max_concurrency=concurrency) as client:
        assert await all_ids(client, fake.account_id) == fake.ids()
    pages = -(-137 // per_page)
    # Concurrent requests may arrive in any order, but each page is asked for exactly once.
    assert sorted(r.page or 0 for r in fake.requests) == list(range(1, pages + 1))
    assert {r.per_page for r in fake.requests} == {per_page}


async def test_types_filter(fake: FakeCloudflare) -> None:
    """type=auto and type=manual yield exactly the server's filtered sequences."""
    async with client_for(fake, per_page=10) as client:
        auto = await all_ids(client, fake.account_id, type="auto")
        manual = await all_ids(client, fake.account_id, type="manual")
        assert await client.count(fake.account_id, type="auto") == len(auto)
    assert auto == fake.ids(type="auto")
    assert manual == fake.ids(type="manual")
    assert len(auto) + len(manual) == 137
    assert {r.type for r in fake.requests} == {"auto", "manual"}


async def test_values_match_server_exactly(fake: FakeCloudflare) -> None:
    """Amounts are exact decimals of the JSON text; created is the server's Unix time."""
    async with client_for(fake) as client:
        invoices = await client.list_invoices(fake.account_id)
    raw = fake.invoices()
    assert len(invoices) == len(raw)
    for invoice, record in zip(invoices, raw, strict=True):
        assert invoice.id == record["id"]
        assert invoice.amount_due == Decimal(str(record["amount_due"]))
        assert invoice.amount_remaining == Decimal(str(record["amount_remaining"]))
        assert invoice.currency == record["currency"]
        assert invoice.status == record["status"]
        assert invoice.created is not None
        assert invoice.created.timestamp() == record["created"]
    assert any(i.amount_due != i.amount_due.to_integral_value() for i in invoices)


async def test_peak_in_flight_equals_max_concurrency() -> None:
    """With slow pages, exactly max_concurrency requests are in flight at the peak."""
    async with FakeCloudflare(invoices=400, latency=0.05) as fake:
        async with client_for(fake, per_page=10, max_concurrency=6) as client:
            assert await all_ids(client, fake.account_id) == fake.ids()
        assert fake.peak_in_flight == 6
        fake.reset_counters()
        async with client_for(fake, per_page=10, max_concurrency=6) as client:
            ids = await all_ids(client, fake.account_id, max_concurrency=3)
        assert ids == fake.ids()
        assert fake.peak_in_flight == 3


async def test_slow_consumer_bounds_prefetch() -> None:
    """A consumer that does not read holds fetching to exactly read_ahead pages ahead.

    Page 1 is with the consumer and page 2 waits to be handed over; beyond it the walk
    fetches read_ahead more pages, and then nothing until the consumer reads on.
    """
    async with FakeCloudflare(invoices=1000) as fake:
        async with client_for(fake, per_page=10, max_concurrency=4) as client:
            async with client.invoices(fake.account_id, read_ahead=6) as stream:
                await stream.__anext__()
                await fake.wait_requests(2 + 6)
                await fake.wait_idle()
                assert sorted(r.page for r in fake.requests) == list(range(1, 2 + 6 + 1))
                assert stream.total_count == 1000


@pytest.mark.parametrize(
    ("per_page", "concurrency", "ahead"),
    [
        (10, 3, 12),  # four pages per request slot
        (1000, 4, 16),  # 32,000 invoices would allow 32 pages: four per slot is fewer
        (1000, 12, 32),  # four per slot would be 48 pages: 32,000 invoices' worth
        (1000, 20, 40),  # 32 pages would be fewer than two per slot
    ],
)
async def test_default_read_ahead_is_four_pages_a_slot_but_32000_invoices_for_large_pages(
    per_page: int, concurrency: int, ahead: int
) -> None:
    """With the consumer stalled on page 1, exactly 1 + 1 + ahead pages are requested."""
    async with FakeCloudflare(invoices=per_page * 60, max_per_page=1000) as fake:
        async with client_for(fake, per_page=per_page, max_concurrency=concurrency) as client:
            async with client.invoices(fake.account_id) as stream:
                await stream.__anext__()
                await fake.wait_requests(2 + ahead)
                await fake.wait_idle()
                assert sorted(r.page for r in fake.requests) == list(range(1, 2 + ahead + 1))


async def test_stats_and_progress(fake: FakeCloudflare) -> None:
    """Stats count pages, requests and invoices; on_progress sees every page."""
    seen: list[FetchStats] = []
    async with client_for(fake, per_page=20) as client:
        async with client.invoices(fake.account_id, on_progress=seen.append) as stream:
            assert stream.total_count is None
            ids = [i.id async for i in stream]
        stats = stream.stats
    assert len(ids) == 137
    assert [s.pages for s in seen] == list(range(1, 8))
    assert (stats.pages, stats.planned_pages, stats.requests, stats.retries) == (7, 7, 7, 0)
    assert (stats.invoices, stats.total_count, stats.drift) == (137, 137, 0)
    assert stats.elapsed > 0


async def test_pages_get_page_and_count(fake: FakeCloudflare) -> None:
    """pages() yields pages in order; get_page fetches one; count asks for one invoice."""
    async with client_for(fake, per_page=50) as client:
        async with client.pages(fake.account_id) as pages:
            numbers = [(p.number, len(p.invoices)) async for p in pages]
        third = await client.get_page(fake.account_id, page=3)
        assert await client.count(fake.account_id) == 137
    assert numbers == [(1, 50), (2, 50), (3, 37)]
    assert [i.id for i in third.invoices] == fake.ids()[100:]
    assert third.pagination.has_more is False
    assert (fake.requests[-1].page, fake.requests[-1].per_page) == (1, 1)


async def test_empty_account() -> None:
    """An account without invoices yields nothing after one request."""
    async with FakeCloudflare(invoices=0) as fake, client_for(fake) as client:
        assert await all_ids(client, fake.account_id) == []
        assert await client.count(fake.account_id) == 0
        # The walk asks for 1,000 first; the fake names its maximum, 100. count() asks for 1.
        assert [(r.per_page, r.status) for r in fake.requests] == [
            (1000, 400),
            (100, 200),
            (1, 200),
        ]


async def test_legacy_credentials(fake: FakeCloudflare) -> None:
    """Email plus global API key authenticate too."""
    async with InvoiceClient(
        api_email=fake.api_email, api_key=fake.api_key, base_url=fake.base_url
    ) as client:
        assert await all_ids(client, fake.account_id) == fake.ids()


async def test_environment_configuration(
    fake: FakeCloudflare, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CLOUDFLARE_API_TOKEN and CLOUDFLARE_BASE_URL configure a client with no arguments."""
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", fake.api_token)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", fake.base_url)
    async with InvoiceClient() as client:
        assert await client.count(fake.account_id) == 137


# -- errors ----------------------------------------------------------------------------------


async def test_wrong_token_is_authentication_error(fake: FakeCloudflare) -> None:
    """A wrong token is a 403 with code 10000, not retried, and the token never shows."""
    secret = "wrongtoken_" + "x" * 30
    async with InvoiceClient(api_token=secret, base_url=fake.base_url) as client:
        with pytest.raises(AuthenticationError) as info:
            await all_ids(client, fake.account_id)
    assert info.value.status == 403
    assert info.value.codes == (10000,)
    assert info.value.ray_id is not None
    assert info.value.ray_id.endswith("-SJC") or len(info.value.ray_id) >= 16
    assert secret not in str(info.value)
    assert secret not in repr(info.value)
    assert len(fake.requests) == 1


async def test_unknown_and_malformed_accounts(fake: FakeCloudflare) -> None:
    """A well-formed unknown account is 403/10000; a malformed one never leaves the process."""
    async with client_for(fake) as client:
        with pytest.raises(AuthenticationError) as unknown:
            await client.count("0" * 32)
        with pytest.raises(ConfigurationError) as malformed:
            await client.count("not-an-account")
    assert (unknown.value.status, unknown.value.codes) == (403, (10000,))
    assert str(malformed.value) == (
        "'not-an-account' is not an account id: expected 32 hexadecimal characters, as in the "
        "Cloudflare dashboard's URL, e.g. 023e105f4ecef8ad9ca31a8372d0c353"
    )
    assert len(fake.requests) == 1


async def test_an_upper_case_account_id_walks_the_lower_case_account(
    fake: FakeCloudflare,
) -> None:
    """Upper-case hexadecimal is the same id: the walk asks for the lower-case account."""
    async with client_for(fake) as client:
        async with client.invoices(fake.account_id.upper()) as stream:
            ids = [invoice.id async for invoice in stream]

    assert ids == fake.ids()
    assert {r.account_id for r in fake.requests} == {fake.account_id}


async def test_invalid_account_id_sends_nothing(fake: FakeCloudflare) -> None:
    """A path-traversal account id is refused before any request."""
    async with client_for(fake) as client:
        with pytest.raises(ConfigurationError):
            client.invoices("../x")
        with pytest.raises(ConfigurationError):
            await client.get_page("a/b")
    assert fake.requests == []


async def test_per_page_over_server_maximum(fake: FakeCloudflare) -> None:
    """get_page with a per_page surfaces 400/6008; a walk lowers per_page to the maximum the
    server names."""
    async with client_for(fake, per_page=500) as client:
        with pytest.raises(BadRequestError) as info:
            await client.get_page(fake.account_id, per_page=500)
        assert info.value.codes == (6008, 11000)
        fake.reset_counters()
        assert await all_ids(client, fake.account_id) == fake.ids()
    assert [(r.page, r.per_page, r.status) for r in fake.requests] == [
        (1, 500, 400),
        (1, 100, 200),
        (2, 100, 200),
    ]


async def test_persistent_500_raises_after_retries(fake: FakeCloudflare) -> None:
    """A page that keeps failing raises ServerError after max_retries retries."""
    fake.add_fault(Fault.status(500, page=2))
    async with client_for(fake, per_page=50, max_retries=2) as client:
        with pytest.raises(ServerError) as info:
            await all_ids(client, fake.account_id)
    assert info.value.status == 500
    assert info.value.page == 2
    assert [r.page for r in fake.requests if r.page == 2] == [2, 2, 2]


@pytest.mark.parametrize("status", [500, 502, 503, 520, 521, 522, 523, 524, 408])
async def test_transient_status_is_retried(fake: FakeCloudflare, status: int) -> None:
    """A first-attempt 5xx (HTML pages included) or 408 is retried and nothing is lost."""
    fake.add_fault(Fault.status(status, page=2, attempt=1))
    async with client_for(fake, per_page=50) as client:
        async with client.invoices(fake.account_id) as stream:
            ids = [i.id async for i in stream]
    assert ids == fake.ids()
    assert stream.stats.retries == 1
    assert stream.stats.requests == 4


@pytest.mark.parametrize(
    "fault", [Fault.reset(page=2, attempt=1), Fault.truncate(page=3, attempt=1)]
)
async def test_connection_faults_are_retried(fake: FakeCloudflare, fault: Fault) -> None:
    """A reset connection or a body cut off mid-way is retried."""
    fake.add_fault(fault)
    async with client_for(fake, per_page=50) as client:
        assert await all_ids(client, fake.account_id) == fake.ids()
    assert [i.kind for i in fake.injected] == [fault.kind]


async def test_persistent_reset_is_transport_error(fake: FakeCloudflare) -> None:
    """A page whose connection always resets ends in TransportError."""
    fake.add_fault(Fault.reset(page=1))
    async with client_for(fake, max_retries=1, per_page=50) as client:
        async with client.invoices(fake.account_id) as stream:
            with pytest.raises(TransportError) as info:
                await stream.__anext__()
    assert info.value.page == 1
    # aiohttp itself sends an idempotent request again once when the connection drops (RFC
    # 9112 section 9.3.1.1): each of the two attempts reaches the server twice, and each of
    # the four is counted, as the server's quota counts them.
    assert len(fake.requests) == 4
    assert stream.stats.requests == 4
    assert stream.stats.retries == 3


async def test_timeout_is_transport_error(fake: FakeCloudflare) -> None:
    """A response slower than the timeout is retried, then raises TransportError."""
    fake.add_fault(Fault.slow(2.0, page=1))
    async with client_for(fake, timeout=0.2, max_retries=1) as client:
        with anyio.fail_after(3):
            with pytest.raises(TransportError, match=r"no complete response within 0.2 s"):
                await all_ids(client, fake.account_id)


@pytest.mark.parametrize(
    ("fault", "field"),
    [
        (Fault.malformed_json(page=2), None),
        (Fault.wrong_type(field="amount_due", value="lots", page=2), "invoices[0].amount_due"),
        (Fault.wrong_type(field="created", value=[1], page=2), "invoices[0].created"),
    ],
)
async def test_bad_content_is_format_error(
    fake: FakeCloudflare, fault: Fault, field: str | None
) -> None:
    """Malformed content raises ResponseFormatError naming page and field, without retrying."""
    fake.add_fault(fault)
    async with client_for(fake, per_page=50, max_concurrency=1) as client:
        with pytest.raises(ResponseFormatError) as info:
            await all_ids(client, fake.account_id)
    assert info.value.page == 2
    assert info.value.field == field
    assert [r.page for r in fake.requests].count(2) == 1


async def test_error_envelope_with_200(fake: FakeCloudflare) -> None:
    """success:false is an error even with HTTP 200."""
    fake.add_fault(Fault.error_envelope(code=10000, message="Authentication error", page=1))
    async with client_for(fake) as client:
        with pytest.raises(AuthenticationError) as info:
            await all_ids(client, fake.account_id)
    assert (info.value.status, info.value.codes) == (200, (10000,))


async def test_body_over_cap_is_refused(fake: FakeCloudflare) -> None:
    """A body larger than max_body is a ResponseFormatError."""
    async with client_for(fake, max_body=2000) as client:
        with pytest.raises(ResponseFormatError, match="exceeds the 2000-byte limit"):
            await all_ids(client, fake.account_id)


# -- pagination pathologies ----------------------------------------------------------------


@pytest.mark.parametrize("echo", [False, True])
async def test_ignored_page_raises(fake: FakeCloudflare, echo: bool) -> None:
    """A server that always returns page 1 is detected instead of looped on."""
    fake.add_fault(Fault.ignore_page(echo=echo))
    async with client_for(fake, per_page=20, max_concurrency=2, read_ahead=1) as client:
        with pytest.raises(PaginationError) as info:
            await all_ids(client, fake.account_id)
    assert info.value.page == 2
    # Page 1, then page 2 (which fails the check) and the one page read ahead of it.
    assert len(fake.requests) <= 1 + 1 + 1


async def test_clamped_per_page(fake: FakeCloudflare) -> None:
    """A server that silently serves smaller pages is re-planned from its page size."""
    fake.add_fault(Fault.clamp_per_page(15))
    async with client_for(fake, per_page=50) as client:
        async with client.invoices(fake.account_id) as stream:
            ids = [i.id async for i in stream]
    assert ids == fake.ids()
    assert stream.stats.planned_pages == 10
    assert [r.per_page for r in fake.requests] == [50] + [15] * 9


@pytest.mark.parametrize(
    "fault", [Fault.result_info_only(), Fault.float_numbers(), Fault.missing_pagination()]
)
async def test_pagination_variants(fake: FakeCloudflare, fault: Fault) -> None:
    """result_info only, float numbers, or no pagination at all: the same exact sequence."""
    fake.add_fault(fault)
    async with client_for(fake, per_page=20, max_concurrency=4) as client:
        assert await all_ids(client, fake.account_id) == fake.ids()


async def test_missing_total_walks_on_has_more(fake: FakeCloudflare) -> None:
    """Without total_count the walk follows has_more and stops where it turns false."""
    fake.add_fault(Fault.total_count(None))
    async with client_for(fake, per_page=20, max_concurrency=3, read_ahead=2) as client:
        async with client.invoices(fake.account_id) as stream:
            ids = [i.id async for i in stream]
    assert ids == fake.ids()
    assert stream.total_count is None
    # The last page (7) and, at most, the empty page after it and the read-ahead beyond.
    assert max(r.page or 0 for r in fake.requests) <= 7 + 1 + 2


async def test_has_more_past_total_is_followed_then_bounded(fake: FakeCloudflare) -> None:
    """A last page that still says has_more is followed; an empty page ends the walk."""
    fake.add_fault(Fault.has_more(True))
    async with client_for(fake, per_page=50) as client:
        assert await all_ids(client, fake.account_id) == fake.ids()
    assert sorted(r.page or 0 for r in fake.requests) == [1, 2, 3, 4]


async def test_has_more_false_early_is_ignored_while_total_says_more(fake: FakeCloudflare) -> None:
    """has_more contradicting total_count mid-walk does not cut the walk short."""
    fake.add_fault(Fault.has_more(False, page=1))
    async with client_for(fake, per_page=50) as client:
        assert await all_ids(client, fake.account_id) == fake.ids()


async def test_total_count_lie_upwards_is_bounded(fake: FakeCloudflare) -> None:
    """A total_count larger than the data ends on empty pages, not in a loop."""
    fake.add_fault(Fault.total_count(400))
    async with client_for(fake, per_page=50) as client:
        assert await all_ids(client, fake.account_id) == fake.ids()
    assert sorted(r.page or 0 for r in fake.requests) == [1, 2, 3, 4, 5, 6, 7, 8]


# -- drift -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "faults",
    [
        [Fault.create(3, request=3)],
        [Fault.delete(4, position=5, request=3)],
        [Fault.create(2, request=2), Fault.delete(3, position=0, request=5)],
        [Fault.create(1, probability=0.3), Fault.delete(1, position=10, probability=0.2)],
        [Fault.delete(25, position=0, request=4)],
        [Fault.create(30, request=4)],
        [Fault.create(45, request=4)],
    ],
)
@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize("retain", [None, 7], ids=["all-ids", "forgetting"])
async def test_drift_yields_whole_run_invoices_once(
    faults: list[Fault], concurrency: int, retain: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Created and deleted mid-run: each invoice that existed throughout comes once, in order.

    Also with the ledger keeping only 7 ids, as a long walk does past 20,000.
    """
    if retain is not None:
        monkeypatch.setattr("asyncinvoices._walk.ledger.DEFAULT_RETAIN", retain)
    async with FakeCloudflare(invoices=200, seed=11, faults=faults) as fake:
        before = fake.ids()
        async with client_for(fake, per_page=20, max_concurrency=concurrency) as client:
            async with client.invoices(fake.account_id) as stream:
                ids = [i.id async for i in stream]
        after = fake.ids()
    survivors = [i for i in after if i in set(before)]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if i in set(survivors)] == survivors
    assert set(ids) <= set(before) | set(after)
    assert stream.stats.drift >= 1
    assert stream.stats.total_count == len(after)


# -- rate limits -------------------------------------------------------------------------------


async def test_governor_keeps_server_quota() -> None:
    """A client quota equal to the server's provokes no 429 and never exceeds it."""
    async with FakeCloudflare(invoices=250, rate_limit=(8, 1.0), latency=0.01) as fake:
        async with client_for(
            fake, per_page=10, max_concurrency=8, rate_limit=RateLimit(requests=8, window=1.0)
        ) as client:
            assert await all_ids(client, fake.account_id) == fake.ids()
    statuses = [r.status for r in fake.requests]
    assert statuses == [200] * 25
    starts = sorted(r.started for r in fake.requests)
    for i, start in enumerate(starts):
        assert len([t for t in starts[i:] if t < start + 1.0]) <= 8
    assert starts[-1] - starts[0] >= 2.0


async def test_429_pauses_every_request() -> None:
    """After a 429 with Retry-After, no request of the client starts before it has passed."""
    async with FakeCloudflare(
        invoices=300, latency=0.02, faults=[Fault.status(429, retry_after=1, request=4)]
    ) as fake:
        async with client_for(fake, per_page=10, max_concurrency=4) as client:
            async with client.invoices(fake.account_id) as stream:
                ids = [i.id async for i in stream]
        assert ids == fake.ids()
        limited = next(r for r in fake.requests if r.status == 429)
        assert limited.finished is not None
        later = [r for r in fake.requests if r.started > limited.finished + 0.05]
        assert later
        assert min(r.started for r in later) >= limited.finished + 0.95
        assert stream.stats.throttled_seconds >= 0.9
        assert stream.stats.retries == 1


async def test_retry_after_beyond_max_wait_raises_at_once() -> None:
    """A Retry-After longer than max_retry_wait raises RateLimitError without waiting."""
    async with FakeCloudflare(invoices=10, faults=[Fault.status(429, retry_after=300)]) as fake:
        async with client_for(fake, max_retry_wait=10, per_page=50) as client:
            with anyio.fail_after(2):
                with pytest.raises(RateLimitError) as info:
                    await all_ids(client, fake.account_id)
    assert info.value.retry_after == 300
    assert info.value.codes == (971,)
    assert "exceeds max_retry_wait=10 s" in str(info.value)
    assert len(fake.requests) == 1


async def test_server_block_lifts_then_run_completes() -> None:
    """Over the server's quota the client waits out the block, then finishes exactly."""
    async with FakeCloudflare(invoices=100, rate_limit=(5, 1.0), block_seconds=1.0) as fake:
        # Another tool of the same user trips the block: each request from a client of its own,
        # as separate processes would, so that no header holds the sixth back.
        for _ in range(6):
            async with client_for(fake, rate_limit=None, max_retries=0) as other:
                with contextlib.suppress(RateLimitError):
                    await other.get_page(fake.account_id, page=1, per_page=10)
        assert [r.status for r in fake.requests] == [200] * 5 + [429]
        async with client_for(fake, per_page=10, rate_limit=None, max_concurrency=2) as client:
            with anyio.fail_after(20):
                ids = await all_ids(client, fake.account_id)
    assert ids == fake.ids()
    assert fake.requests[6].status == 429  # the walk's first request met the block


# -- cancellation and lifecycle ------------------------------------------------------------------


async def test_break_cancels_in_flight_requests() -> None:
    """Leaving async with early cancels outstanding requests promptly."""
    async with FakeCloudflare(invoices=2000, latency=0.5) as fake:
        async with client_for(fake, per_page=10, max_concurrency=8) as client:
            with anyio.fail_after(2):
                async with client.invoices(fake.account_id) as stream:
                    async for _ in stream:
                        break
            await fake.wait_idle()
            assert len(fake.requests) <= 1 + 8


async def test_cancel_scope_cancels_stream() -> None:
    """A cancel scope around the iteration stops it without leaking requests."""
    async with FakeCloudflare(invoices=2000, latency=0.2) as fake:
        async with client_for(fake, per_page=10) as client:
            with anyio.move_on_after(0.5):
                async with client.invoices(fake.account_id) as stream:
                    async for _ in stream:
                        pass
            await fake.wait_idle()


async def test_client_closed_mid_stream_raises() -> None:
    """Closing the client under a running stream cancels it and the consumer is told."""
    async with FakeCloudflare(invoices=2000, latency=0.2) as fake:
        client = client_for(fake, per_page=10)
        async with client:
            stream = client.invoices(fake.account_id)
            first = await stream.__anext__()
            await client.aclose()
            # What was already received is handed out; nothing after the close.
            rest = [await stream.__anext__() for _ in range(9)]
            assert [first.id] + [i.id for i in rest] == fake.ids()[:10]
            with pytest.raises(TransportError, match="closed before the walk finished"):
                await stream.__anext__()
        await fake.wait_idle()


async def test_abandoned_stream_is_cleaned_up_by_client() -> None:
    """A stream abandoned with break outside async with is stopped when the client closes."""
    async with FakeCloudflare(invoices=2000, latency=0.1) as fake:
        async with client_for(fake, per_page=10) as client:
            async for _ in client.invoices(fake.account_id):
                break
        await fake.wait_idle()


async def test_borrowed_session_stays_open(fake: FakeCloudflare) -> None:
    """A caller-owned session is used and not closed by the client."""
    async with aiohttp.ClientSession() as session:
        async with client_for(fake, session=session) as client:
            assert await all_ids(client, fake.account_id) == fake.ids()
        assert not session.closed


async def test_a_lent_sessions_own_middlewares_still_run_on_every_attempt(
    fake: FakeCloudflare,
) -> None:
    """The client adds its gate per request without dropping the middlewares of a session it
    is lent: each request passes both, and the gate still counts every one."""
    pages: list[str] = []

    async def record(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        pages.append(request.url.query["page"])
        return await handler(request)

    async with aiohttp.ClientSession(middlewares=(record,)) as session:
        async with client_for(fake, session=session, per_page=20) as client:
            async with client.invoices(fake.account_id) as stream:
                assert [i.id async for i in stream] == fake.ids()
    assert sorted(pages, key=int) == [str(n) for n in range(1, 8)]
    assert stream.stats.requests == fake.received == 7


async def test_stream_needs_open_client(fake: FakeCloudflare) -> None:
    """Iterating without entering the client is a clear ConfigurationError."""
    client = client_for(fake)
    with pytest.raises(ConfigurationError, match="async with InvoiceClient"):
        await client.invoices(fake.account_id).__anext__()
    await client.aclose()


# -- resume ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("taken", [1, 19, 20, 21, 60, 136])
async def test_resume_from_checkpoint(fake: FakeCloudflare, taken: int) -> None:
    """A run resumed from a checkpoint yields the rest, without repeating anything."""
    async with client_for(fake, per_page=20) as client:
        async with client.invoices(fake.account_id) as stream:
            first = [inv.id async for inv, _ in _zip(stream, range(taken))]
            checkpoint = json.loads(json.dumps(stream.checkpoint()))
        rest = await all_ids(client, fake.account_id, resume=checkpoint)
    assert first + rest == fake.ids()


async def test_resume_after_drift(fake: FakeCloudflare) -> None:
    """New invoices at the head and deletions before the checkpoint do not disturb resuming."""
    async with client_for(fake, per_page=20) as client:
        async with client.invoices(fake.account_id) as stream:
            first = [inv.id async for inv, _ in _zip(stream, range(45))]
            checkpoint = stream.checkpoint()
        fake.create_invoices(7)
        fake.delete_invoices(first[3:6])
        rest = await all_ids(client, fake.account_id, resume=checkpoint)
    expected_rest = fake.ids()[fake.ids().index(first[-1]) + 1 :]
    assert rest == expected_rest


async def test_resume_checkpoint_validated(fake: FakeCloudflare) -> None:
    """A checkpoint of another account, or junk, is refused at once."""
    async with client_for(fake) as client:
        with pytest.raises(ConfigurationError, match="another account"):
            client.invoices(
                fake.account_id,
                resume={
                    "version": 1,
                    "account_id": "x",
                    "type": "all",
                    "position": 1,
                    "last_id": "in_1",
                    "last_created": None,
                },
            )
        with pytest.raises(ConfigurationError, match=r"stream\.checkpoint"):
            client.invoices(fake.account_id, resume={"junk": True})


async def _zip(stream: Any, counter: range) -> AsyncIterator[tuple[Any, int]]:
    """Take len(counter) items from an async iterator."""
    for n in counter:
        yield await stream.__anext__(), n


@pytest.fixture
def short_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Walks keep only a handful of delivered ids, as a long walk does past 20,000."""
    monkeypatch.setattr("asyncinvoices._walk.ledger.DEFAULT_RETAIN", 7)


@pytest.mark.usefixtures("short_memory")
async def test_ignored_page_deep_in_a_walk_with_forgotten_ids() -> None:
    """A server that starts answering page 1 (echoing the page asked) after ids were forgotten."""
    async with FakeCloudflare(
        invoices=300, faults=[Fault.ignore_page(echo=True, request=6)]
    ) as fake:
        fake.add_fault(Fault.ignore_page(echo=True, request=7))
        for n in range(8, 40):
            fake.add_fault(Fault.ignore_page(echo=True, request=n))
        async with client_for(fake, per_page=20, max_concurrency=1) as client:
            with pytest.raises(PaginationError, match="does not honour the page parameter"):
                await all_ids(client, fake.account_id)
        assert len(fake.requests) <= 12


async def test_refused_connection_says_host_port_and_reason() -> None:
    """A refused connection names host, port and the system's reason, not aiohttp's ssl:default."""
    async with InvoiceClient(
        api_token="t" * 40, base_url="http://127.0.0.1:9/client/v4", max_retries=0
    ) as client:
        with pytest.raises(TransportError) as info:
            await client.get_page("a" * 32)
    assert str(info.value) == (
        "ClientConnectorError: cannot connect to 127.0.0.1:9: Connection refused (page 1)"
    )
