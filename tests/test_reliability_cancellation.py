"""Cancellation and leaks: however a run is stopped, nothing is left behind.

After ``break``, a cancel scope, a failure elsewhere in the task group, the client closed
mid-stream, an exception in the consumer, or a stream never started: no request is still in
flight at the server, no task is left besides the test's own, the client's session is
closed, and (the suite runs with warnings as errors) no unclosed-resource warning is raised.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import pytest

from asyncinvoices import (
    ConfigurationError,
    InvoiceClient,
    InvoiceStream,
    TransportError,
)
from asyncinvoices.testing import FakeCloudflare

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("instant_backoff")]


@pytest.fixture
async def fake() -> AsyncIterator[FakeCloudflare]:
    """A large account with slow pages, so that requests are in flight when a run stops."""
    async with FakeCloudflare(invoices=3000, latency=0.1, seed=2) as server:
        yield server


def client_for(fake: FakeCloudflare) -> InvoiceClient:
    return InvoiceClient(
        api_token=fake.api_token, base_url=fake.base_url, per_page=10, max_concurrency=6
    )


async def assert_nothing_left(fake: FakeCloudflare, client: InvoiceClient) -> None:
    """No request in flight, the session closed, no task but this one, no resource warning."""
    await fake.wait_idle()
    assert client._fetcher.closed
    assert client._task_group is None
    # The server's own connection handlers end once their connections close.
    current = asyncio.current_task()
    for _ in range(100):
        others = [t for t in asyncio.all_tasks() if t is not current and not _is_server(t)]
        if not others:
            break
        await anyio.sleep(0.01)
    assert others == []
    gc.collect()  # an unclosed session or connector would warn here, and warnings are errors


def _is_server(task: asyncio.Task[object]) -> bool:
    coro = task.get_coro()
    name = getattr(coro, "__qualname__", "")
    # The server's connection handlers, and the pytest plugin's runner task of this test.
    return (
        "RequestHandler" in name or "_call_in_runner_task" in name or "web_protocol" in repr(coro)
    )


async def test_break_inside_async_with(fake: FakeCloudflare) -> None:
    """break out of the loop inside async with: the walk stops at once."""
    client = client_for(fake)
    async with client:
        with anyio.fail_after(2):
            async with client.invoices(fake.account_id) as stream:
                async for _ in stream:
                    break
        await fake.wait_idle()  # stopped with the stream, not with the client
    await assert_nothing_left(fake, client)
    assert len(fake.requests) <= 1 + 6


async def test_break_without_async_with(fake: FakeCloudflare) -> None:
    """A stream abandoned with break outside async with is stopped when the client closes."""
    client = client_for(fake)
    async with client:
        async for _ in client.invoices(fake.account_id):
            break
    await assert_nothing_left(fake, client)


async def test_cancel_scope_around_the_loop(fake: FakeCloudflare) -> None:
    """A deadline that expires mid-run cancels the walk and its requests."""
    client = client_for(fake)
    received = 0
    async with client:
        with anyio.move_on_after(0.35) as scope:
            async with client.invoices(fake.account_id) as stream:
                async for _ in stream:
                    received += 1
        assert scope.cancelled_caught
    await assert_nothing_left(fake, client)
    assert 0 < received < 3000


async def test_cancel_scope_around_the_client(fake: FakeCloudflare) -> None:
    """A deadline around the client itself: the client closes while requests are in flight."""
    client = client_for(fake)
    with anyio.move_on_after(0.25):
        async with client:
            async with client.invoices(fake.account_id) as stream:
                async for _ in stream:
                    pass
    await assert_nothing_left(fake, client)


async def test_failure_elsewhere_in_the_task_group(fake: FakeCloudflare) -> None:
    """A sibling task fails: the consumer is cancelled and the walk is torn down."""
    client = client_for(fake)
    received: list[object] = []
    under_way = anyio.Event()

    async def consume() -> None:
        async with client.invoices(fake.account_id) as stream:
            async for invoice in stream:
                received.append(invoice)
                under_way.set()

    async def fail() -> None:
        await under_way.wait()
        raise RuntimeError("something else broke")

    async with client:

        async def both() -> None:
            async with anyio.create_task_group() as group:
                group.start_soon(consume)
                group.start_soon(fail)

        with pytest.raises(Exception) as info:  # noqa: PT011 - an exception group
            await both()
    assert info.group_contains(RuntimeError, match="something else broke")
    assert received
    await assert_nothing_left(fake, client)


async def test_consumer_exception_inside_the_loop(fake: FakeCloudflare) -> None:
    """An exception raised by the consumer's own code stops the walk."""
    client = client_for(fake)

    async def consume() -> None:
        async with client.invoices(fake.account_id) as stream:
            async for _ in stream:
                raise LookupError("consumer failed")

    async with client:
        with pytest.raises(LookupError):
            await consume()
        await fake.wait_idle()
    await assert_nothing_left(fake, client)


async def drain(stream: InvoiceStream) -> None:
    async for _ in stream:
        pass


@pytest.mark.parametrize("waiting", [False, True], ids=["between-pages", "awaiting-a-page"])
async def test_client_closed_mid_stream(fake: FakeCloudflare, waiting: bool) -> None:
    """Closing the client under a running stream, from this task or another: the consumer gets
    a TransportError at once.

    Found by this test: aclose() from another task raised "Attempted to exit cancel scope in a
    different task" and cancelled the body of the owner's `async with client`.
    """
    client = client_for(fake)
    stream = None
    async with client:
        stream = client.invoices(fake.account_id)
        await stream.__anext__()
        if waiting:
            # Close from another task while the consumer waits for a page in flight.
            async def close_soon() -> None:
                # A new request means the consumer took a page and waits for the next.
                await fake.wait_requests(len(fake.requests) + 1)
                await client.aclose()

            async with anyio.create_task_group() as group:
                group.start_soon(close_soon)
                with anyio.fail_after(2), pytest.raises(TransportError, match="client was closed"):
                    await drain(stream)
        else:
            await client.aclose()
            with pytest.raises(TransportError, match="client was closed"):
                await drain(stream)
        # The body of `async with client` goes on (it is not cancelled); new walks are refused.
        with pytest.raises(ConfigurationError, match="closed"):
            await client.invoices(fake.account_id).__anext__()
    await stream.aclose()
    await assert_nothing_left(fake, client)


async def test_stream_never_started(fake: FakeCloudflare) -> None:
    """A stream created and dropped without iterating sends nothing and leaves nothing."""
    client = client_for(fake)
    async with client:
        stream = client.invoices(fake.account_id)
        del stream
        gc.collect()
        async with client.invoices(fake.account_id) as unused:
            assert unused.stats.requests == 0
    await assert_nothing_left(fake, client)
    assert fake.requests == []


async def test_stream_closed_twice_and_iterated_after_close(fake: FakeCloudflare) -> None:
    """aclose() is idempotent, and a closed stream simply ends."""
    client = client_for(fake)
    async with client:
        stream = client.invoices(fake.account_id)
        await stream.__anext__()
        await stream.aclose()
        await stream.aclose()
        # Only the rest of the page already received may still come; nothing is fetched.
        rest = [i.id async for i in stream]
        assert rest == fake.ids()[1 : 1 + len(rest)]
        assert len(rest) < 10
    await assert_nothing_left(fake, client)


Stop = Callable[[InvoiceClient, FakeCloudflare], Awaitable[None]]


@pytest.mark.parametrize("repeat", range(3))
async def test_many_streams_stopped_in_every_way(repeat: int) -> None:
    """Twenty streams on one client, stopped by break, deadline, error and close: no leak."""
    async with FakeCloudflare(invoices=500, latency=0.02, seed=repeat) as fake:
        client = client_for(fake)
        async with client:

            async def run(n: int) -> None:
                if n % 4 == 0:
                    async with client.invoices(fake.account_id) as stream:
                        async for _ in stream:
                            break
                elif n % 4 == 1:
                    with anyio.move_on_after(0.05 + 0.01 * n):
                        async with client.invoices(fake.account_id) as stream:
                            async for _ in stream:
                                pass
                elif n % 4 == 2:
                    try:
                        async with client.invoices(fake.account_id) as stream:
                            async for invoice in stream:
                                if invoice.id == fake.ids()[n]:
                                    raise KeyError(n)
                    except KeyError:
                        pass
                else:
                    async with client.invoices(fake.account_id) as stream:
                        assert [i.id async for i in stream] == fake.ids()

            async with anyio.create_task_group() as group:
                for n in range(20):
                    group.start_soon(run, n)
        await assert_nothing_left(fake, client)
