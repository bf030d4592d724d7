"""Time bounds: every way a server can stall a run ends in a typed error within the limits.

A server that accepts the connection and never answers, one that trickles a byte a second,
a Retry-After or a Ratelimit header asking for longer than ``max_retry_wait``, and a
``total_count`` that promises far more pages than exist: each ends promptly, never a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import pytest
from aiohttp import web

from asyncinvoices import InvoiceClient, RateLimit, RateLimitError, TransportError
from asyncinvoices.testing import FakeCloudflare, Fault

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("instant_backoff")]

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """A TCP server on loopback running ``handler`` per connection; yields its base URL and
    a list that grows by one for every connection accepted."""
    connections: list[int] = []
    tasks: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)  # type: ignore[arg-type]
        try:
            await reader.readuntil(b"\r\n\r\n")
            await handler(reader, writer)
        except (asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/client/v4", connections
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3600)


async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
    )
    await writer.drain()
    for _ in range(500):
        writer.write(b" ")
        await writer.drain()
        await asyncio.sleep(1.0)


async def trickle_headers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n":
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(1.0)


@pytest.mark.parametrize(
    "handler", [never_answer, trickle, trickle_headers], ids=["silent", "trickle", "slow-headers"]
)
async def test_stalled_server_is_transport_error_within_timeout(handler: Handler) -> None:
    """timeout=0.5 and max_retries=1: two attempts, a TransportError after about one second."""
    async with raw_server(handler) as (base_url, connections):
        async with InvoiceClient(
            api_token="t" * 40, base_url=base_url, timeout=0.5, max_retries=1
        ) as client:
            started = anyio.current_time()
            with anyio.fail_after(5):
                with pytest.raises(TransportError, match=r"no complete response within 0\.5 s"):
                    await client.list_invoices(ACCOUNT)
            elapsed = anyio.current_time() - started
        assert client._fetcher.closed
    assert 0.9 <= elapsed < 1.6
    assert len(connections) == 2


async def test_get_page_and_count_are_bounded_too() -> None:
    """The single-request calls obey the same per-attempt timeout."""
    async with raw_server(never_answer) as (base_url, _):
        async with InvoiceClient(
            api_token="t" * 40, base_url=base_url, timeout=0.3, max_retries=0
        ) as client:
            with anyio.fail_after(3):
                with pytest.raises(TransportError):
                    await client.get_page(ACCOUNT)
                with pytest.raises(TransportError):
                    await client.count(ACCOUNT)


@pytest.mark.parametrize("retry_after", [301, 3600, 86_400])
async def test_retry_after_beyond_max_retry_wait_fails_at_once(retry_after: int) -> None:
    """A Retry-After longer than max_retry_wait is a RateLimitError at once, not a wait."""
    fault = Fault.status(429, retry_after=retry_after, page=2)
    async with FakeCloudflare(invoices=300, faults=[fault]) as fake:
        async with InvoiceClient(
            api_token=fake.api_token, base_url=fake.base_url, per_page=10, max_concurrency=4
        ) as client:
            started = anyio.current_time()
            with anyio.fail_after(3):
                with pytest.raises(RateLimitError) as info:
                    await client.list_invoices(fake.account_id)
            assert anyio.current_time() - started < 1.0
    assert info.value.retry_after == retry_after
    assert info.value.page == 2


async def test_http_date_retry_after_far_ahead_fails_at_once() -> None:
    """Retry-After as an HTTP date a day ahead is honoured as a day: over the limit, at once."""

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(
            {"success": False, "errors": [{"code": 971, "message": "slow down"}], "result": None},
            status=429,
            headers={"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"},
        )

    app = web.Application()
    app.router.add_get("/client/v4/accounts/{account}/ai-gateway/billing/invoice-history", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with InvoiceClient(
            api_token="t" * 40, base_url=f"http://127.0.0.1:{port}/client/v4"
        ) as client:
            with anyio.fail_after(3):
                with pytest.raises(RateLimitError, match="exceeds max_retry_wait=300 s"):
                    await client.list_invoices(ACCOUNT)
    finally:
        await runner.cleanup()


async def test_ratelimit_header_pause_beyond_max_retry_wait_fails_at_once() -> None:
    """A Ratelimit header with nothing left for ten minutes: the next request fails at once.

    Found by this test: the pause was waited out in full, whatever max_retry_wait said.
    """
    async with FakeCloudflare(invoices=100, rate_limit=(3, 600.0)) as fake:
        async with InvoiceClient(
            api_token=fake.api_token,
            base_url=fake.base_url,
            per_page=10,
            max_concurrency=1,
            rate_limit=None,
            max_retry_wait=5,
        ) as client:
            received: list[str | None] = []

            async def consume() -> None:
                async with client.invoices(fake.account_id) as stream:
                    async for invoice in stream:
                        received.append(invoice.id)

            with anyio.fail_after(3):
                with pytest.raises(RateLimitError, match="exceeds max_retry_wait=5 s") as info:
                    await consume()
        assert received == fake.ids()[:30]
    assert info.value.page == 4
    assert info.value.retry_after is not None
    assert info.value.retry_after > 500
    # Nothing was sent into the block: the server saw exactly its quota.
    assert [r.status for r in fake.requests] == [200, 200, 200]


async def test_ratelimit_header_pause_within_max_retry_wait_is_waited() -> None:
    """A short pause announced by the Ratelimit header is waited out, and the run completes."""
    async with FakeCloudflare(invoices=50, rate_limit=(3, 1.0)) as fake:
        async with InvoiceClient(
            api_token=fake.api_token,
            base_url=fake.base_url,
            per_page=10,
            max_concurrency=1,
            rate_limit=None,
            max_retry_wait=5,
        ) as client:
            with anyio.fail_after(10):
                ids = await client.list_invoices(fake.account_id)
    assert [i.id for i in ids] == fake.ids()
    assert 429 not in [r.status for r in fake.requests]


@pytest.mark.parametrize("claimed", [10**6, 10**12, 10**400], ids=["1e6", "1e12", "1e400"])
async def test_inflated_total_count_costs_at_most_read_ahead(claimed: int) -> None:
    """A total_count far beyond the data costs at most read_ahead requests for empty pages.

    Found by this test: the walk requested every page the total promised, one window at a
    time, so that a total_count of 10**12 would have run for ever.
    """
    async with FakeCloudflare(invoices=95, faults=[Fault.total_count(claimed)]) as fake:
        async with InvoiceClient(
            api_token=fake.api_token,
            base_url=fake.base_url,
            per_page=10,
            max_concurrency=4,
            read_ahead=4,
        ) as client:
            with anyio.fail_after(5):
                ids = await client.list_invoices(fake.account_id)
    assert [i.id for i in ids] == fake.ids()
    pages = sorted(r.page or 0 for r in fake.requests)
    assert pages == list(range(1, len(pages) + 1))
    assert 11 <= len(pages) <= 11 + 4


async def test_ratelimit_policy_with_a_huge_window_is_not_waited_for_ever() -> None:
    """A Ratelimit-Policy of 2 requests per 10**9 s: the walk still ends in bounded time.

    Found by this test: the governor adopted any longer window, so the third request waited
    for a place that frees up in 31 years. A window longer than both the configured one and
    max_retry_wait is enforced over the longer of those two instead.
    """
    pages = 3

    async def handler(request: web.Request) -> web.Response:
        page = int(request.query["page"])
        invoices = [
            {
                "id": f"in_{page}_{n}",
                "amount_due": 1,
                "amount_paid": 1,
                "amount_remaining": 0,
                "currency": "usd",
            }
            for n in range(2)
        ]
        pagination = {"page": page, "per_page": 2, "total_count": 2 * pages}
        return web.json_response(
            {
                "success": True,
                "errors": [],
                "result": {"invoices": invoices, "pagination": pagination},
            },
            headers={"Ratelimit": '"default";r=100;t=1', "Ratelimit-Policy": '"x";q=2;w=999999999'},
        )

    app = web.Application()
    app.router.add_get("/client/v4/accounts/{account}/ai-gateway/billing/invoice-history", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        async with InvoiceClient(
            api_token="t" * 40,
            base_url=f"http://127.0.0.1:{runner.addresses[0][1]}/client/v4",
            per_page=2,
            max_concurrency=1,
            rate_limit=RateLimit(requests=100, window=1.0),
            max_retry_wait=0.5,
        ) as client:
            started = anyio.current_time()
            with anyio.fail_after(5):
                invoices = await client.list_invoices(ACCOUNT)
            elapsed = anyio.current_time() - started
            assert client.governor.window is not None
            assert client.governor.window.limits == ((100, 1.0), (2, 1.0))
    finally:
        await runner.cleanup()
    assert len(invoices) == 2 * pages
    assert 0.9 <= elapsed < 3  # the third request waited for the first place to free up
