"""The quota at the wire: what the fake counts, what aiohttp re-sends, what the headers say."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest

from asyncinvoices import InvoiceClient
from asyncinvoices.testing import FakeCloudflare, Fault
from asyncinvoices.testing._cli import parse_rate_limit

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """aiohttp runs on asyncio only."""
    return "asyncio"


class Clock:
    """A clock the test moves by hand, for the fake's rate limit."""

    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


async def get(session: aiohttp.ClientSession, fake: FakeCloudflare) -> int | str:
    """GET page 1 of the default account; the status, or the exception's class name."""
    headers = {"Authorization": f"Bearer {fake.api_token}"}
    try:
        async with session.get(fake.url_for(), headers=headers) as response:
            await response.read()
            return response.status
    except aiohttp.ClientError as exc:
        return type(exc).__name__


@contextlib.asynccontextmanager
async def session_for(force_close: bool) -> AsyncIterator[aiohttp.ClientSession]:
    """A default session, with or without keep-alive."""
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=force_close)
    ) as session:
        yield session


# ------------------------------------------------------------------ counting


async def test_received_counts_every_request_at_the_wire() -> None:
    """received counts answered, refused, reset and other-path requests; reset_counters
    clears it."""
    async with FakeCloudflare(10, faults=[Fault.reset(request=2, times=1)]) as fake:
        host, port = fake.base_url.split("//")[1].split("/")[0].split(":")
        async with aiohttp.ClientSession() as session:
            assert await get(session, fake) == 200
            reader, writer = await asyncio.open_connection(host, int(port))
            path = fake.url_for().split(port, 1)[1]
            auth = f"Authorization: Bearer {fake.api_token}"
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n\r\n".encode())
            with pytest.raises(ConnectionResetError):
                await reader.read()
            writer.close()
            with contextlib.suppress(ConnectionResetError):
                await writer.wait_closed()
            async with session.get(fake.url_for()) as response:  # no credentials: 400
                assert response.status == 400
            async with session.get(fake.base_url + "/accounts/nowhere") as response:
                assert response.status == 404
            await fake.wait_idle()
            assert fake.received == 4
            assert [r.status for r in fake.requests] == [200, 0, 400]
            fake.reset_counters()
            assert fake.received == 0
            assert await get(session, fake) == 200
        assert fake.received == 1


async def test_disconnect_closes_without_a_response() -> None:
    """Fault.disconnect counts the request, then ends the stream cleanly: no byte, no RST."""
    async with FakeCloudflare(10, faults=[Fault.disconnect()]) as fake:
        host, port = fake.base_url.split("//")[1].split("/")[0].split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        path = fake.url_for().split(port, 1)[1]
        auth = f"Authorization: Bearer {fake.api_token}"
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n\r\n".encode())
        assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()
        await fake.wait_idle()
        assert fake.received == 1
        record = fake.requests[0]
        assert (record.status, record.fault, record.finished) == (0, "disconnect", None)


# ------------------------------------------------ what aiohttp does with a drop


@pytest.mark.parametrize("kind", ["reset", "disconnect"])
@pytest.mark.parametrize("request_number", [1, 2], ids=["fresh-connection", "reused-connection"])
@pytest.mark.parametrize("force_close", [False, True], ids=["keep-alive", "force-close"])
async def test_aiohttp_resends_a_dropped_get_once_silently(
    kind: str, request_number: int, force_close: bool
) -> None:
    """aiohttp's ClientSession re-sends a GET whose connection was dropped before the status
    line, once, whether the connection was fresh or reused: the server sees one more request
    than the caller made."""
    fault = getattr(Fault, kind)(request=request_number)
    async with FakeCloudflare(10, faults=[fault]) as fake:
        async with session_for(force_close) as session:
            assert [await get(session, fake), await get(session, fake)] == [200, 200]
        await fake.wait_idle()
        assert fake.received == 3
        expected = [200, 200]
        expected.insert(request_number - 1, 0)
        assert [r.status for r in fake.requests] == expected
        assert [f.kind for f in fake.injected] == [kind]


@pytest.mark.parametrize(
    ("kind", "error"),
    [("reset", "ClientOSError"), ("disconnect", "ServerDisconnectedError")],
)
async def test_aiohttp_resends_only_once(kind: str, error: str) -> None:
    """A second drop in a row reaches the caller: aiohttp re-sends at most once per call."""
    faults = [getattr(Fault, kind)(request=2), getattr(Fault, kind)(request=3)]
    async with FakeCloudflare(10, faults=faults) as fake:
        async with aiohttp.ClientSession() as session:
            outcomes = [await get(session, fake) for _ in range(3)]
        await fake.wait_idle()
    assert outcomes == [200, error, 200]
    assert [r.status for r in fake.requests] == [200, 0, 0, 200]


@pytest.mark.parametrize("kind", ["reset", "disconnect"])
async def test_client_counts_every_request_the_server_saw(kind: str) -> None:
    """The requests the client reports equal the requests that reached the server, even
    when a connection is dropped and aiohttp re-sends the request by itself."""
    fault = getattr(Fault, kind)(request=2)
    async with FakeCloudflare(100, faults=[fault]) as fake:
        async with InvoiceClient(
            api_token=fake.api_token, base_url=fake.base_url, per_page=20, max_concurrency=1
        ) as client:
            async with client.invoices(fake.account_id) as stream:
                ids = [invoice.id async for invoice in stream]
        await fake.wait_idle()
    assert ids == fake.ids()
    assert fake.received == stream.stats.requests


# ------------------------------------------------------------------ headers


async def test_headers_announce_quota_and_window() -> None:
    """6 per 2 s: Ratelimit-Policy says q=6;w=2 and Ratelimit counts down consistently."""
    clock = Clock()
    async with FakeCloudflare(10, rate_limit=(6, 2.0), block_seconds=3.0, clock=clock) as fake:
        headers = {"Authorization": f"Bearer {fake.api_token}"}
        seen: list[tuple[int, str, str, str | None]] = []
        async with aiohttp.ClientSession() as session:
            for step in (0.0, 0.5, 0.5, 0.25, 0.0, 0.0, 0.0, 0.5, 2.5):
                clock.now += step
                async with session.get(fake.url_for(), headers=headers) as response:
                    seen.append(
                        (
                            response.status,
                            response.headers["Ratelimit-Policy"],
                            response.headers["Ratelimit"],
                            response.headers.get("Retry-After"),
                        )
                    )
    policy = '"default";q=6;w=2'
    assert seen == [
        (200, policy, '"default";r=5;t=2', None),  # at 0.0
        (200, policy, '"default";r=4;t=2', None),  # 0.5: the first leaves at 2.0
        (200, policy, '"default";r=3;t=1', None),  # 1.0
        (200, policy, '"default";r=2;t=1', None),  # 1.25
        (200, policy, '"default";r=1;t=1', None),
        (200, policy, '"default";r=0;t=1', None),
        (429, policy, '"default";r=0;t=3', "3"),  # the 7th in 2 s: blocked until 4.25
        (429, policy, '"default";r=0;t=3', "3"),  # 1.75: 2.5 s left, rounded up
        (200, policy, '"default";r=5;t=2', None),  # 4.25: the block lifted, window empty
    ]


async def test_fake_server_rate_limit_argument_means_quota_per_window() -> None:
    """--rate-limit 5/60 means 5 requests in any 60 s, in the limiter and in the headers."""
    clock = Clock()
    rate_limit = parse_rate_limit("5/60")
    assert rate_limit == (5, 60.0)
    async with FakeCloudflare(10, rate_limit=rate_limit, clock=clock) as fake:
        async with aiohttp.ClientSession() as session:
            statuses = []
            for _ in range(6):
                clock.now += 1.0
                headers = {"Authorization": f"Bearer {fake.api_token}"}
                async with session.get(fake.url_for(), headers=headers) as response:
                    statuses.append((response.status, response.headers["Ratelimit"]))
                    policy = response.headers["Ratelimit-Policy"]
    assert policy == '"default";q=5;w=60'
    assert statuses == [
        (200, '"default";r=4;t=60'),
        (200, '"default";r=3;t=59'),
        (200, '"default";r=2;t=58'),
        (200, '"default";r=1;t=57'),
        (200, '"default";r=0;t=56'),
        (429, '"default";r=0;t=300'),
    ]
