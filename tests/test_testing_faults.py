"""Every Fault kind and every selector, observed over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from asyncinvoices.testing import FakeCloudflare, Fault, InjectedFault

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """aiohttp runs on asyncio only."""
    return "asyncio"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A session that opens a new connection per request. It does not stop aiohttp from
    re-sending a GET whose connection was dropped (test_testing_quota.py): tests of dropped
    connections use a raw socket."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def fetch(
    session: aiohttp.ClientSession, fake: FakeCloudflare, **params: Any
) -> tuple[int, Any, bytes]:
    """GET a page of the default account; return status, headers and the raw body."""
    query = {key: str(value) for key, value in params.items()}
    headers = {"Authorization": f"Bearer {fake.api_token}"}
    async with session.get(fake.url_for(), params=query, headers=headers) as response:
        return response.status, response.headers, await response.read()


async def ids_of(session: aiohttp.ClientSession, fake: FakeCloudflare, **params: Any) -> list[str]:
    """The invoice ids of one successful page."""
    status, _, body = await fetch(session, fake, **params)
    assert status == 200, body
    return [invoice["id"] for invoice in json.loads(body)["result"]["invoices"]]


def errors(body: bytes) -> Any:
    """The ``errors`` of a failure envelope, checking the rest of it."""
    envelope = json.loads(body)
    assert (envelope["success"], envelope["messages"], envelope["result"]) == (False, [], None)
    return envelope["errors"]


# -------------------------------------------------------------------- status


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (500, [{"code": 10001, "message": "An internal error occurred"}]),
        (503, [{"code": 10001, "message": "Service unavailable"}]),
        (400, [{"code": 6008, "message": "Invalid request parameters"}]),
        (403, [{"code": 10000, "message": "Authentication error"}]),
        (409, [{"code": 6008, "message": "Invalid request parameters"}]),
        (
            404,
            [
                {
                    "code": 7003,
                    "message": "Could not route to /accounts/{id}/ai-gateway/billing/"
                    "invoice-history, perhaps your object identifier is invalid?",
                },
                {"code": 7000, "message": "No route for that URI"},
            ],
        ),
    ],
)
async def test_status_sends_the_json_envelope(
    session: aiohttp.ClientSession, code: int, expected: Any
) -> None:
    """JSON statuses carry the Cloudflare code that status has in the real API."""
    async with FakeCloudflare(10, faults=[Fault.status(code)]) as fake:
        status, headers, body = await fetch(session, fake)
        expected = json.loads(json.dumps(expected).replace("{id}", fake.account_id))
        assert (status, headers["Content-Type"], errors(body)) == (
            code,
            "application/json",
            expected,
        )
        assert fake.requests[0].fault == "status"
        assert fake.requests[0].status == code


@pytest.mark.parametrize(("retry_after", "header"), [(None, "1"), (2.5, "3"), (7, "7")])
async def test_status_429_sends_971_and_retry_after(
    session: aiohttp.ClientSession, retry_after: float | None, header: str
) -> None:
    """A 429 fault looks like Cloudflare's rate limit: code 971, whole-second Retry-After."""
    async with FakeCloudflare(10, faults=[Fault.status(429, retry_after=retry_after)]) as fake:
        status, headers, body = await fetch(session, fake)
        assert status == 429
        assert headers["Retry-After"] == header
        assert errors(body) == [
            {"code": 971, "message": "Please wait and consider throttling your request speed"}
        ]


@pytest.mark.parametrize("code", [502, 520, 521, 522, 523, 524])
async def test_edge_statuses_send_html(session: aiohttp.ClientSession, code: int) -> None:
    """502 and 520-524 come as the edge's HTML page, with the cf-ray in it."""
    async with FakeCloudflare(10, faults=[Fault.status(code)]) as fake:
        status, headers, body = await fetch(session, fake)
        assert status == code
        assert headers["Content-Type"] == "text/html; charset=UTF-8"
        page = body.decode()
        assert page.startswith("<!DOCTYPE html>")
        assert f"{code}: " in page
        assert headers["cf-ray"].split("-")[0] in page
        assert "Ratelimit" in headers


# ----------------------------------------------------------------- transport


async def test_reset_sends_nothing() -> None:
    """A reset closes the connection with a TCP RST before any byte of response."""
    async with FakeCloudflare(10, faults=[Fault.reset()]) as fake:
        host, port = fake.base_url.split("//")[1].split("/")[0].split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        path = fake.url_for().split(port, 1)[1]
        auth = f"Authorization: Bearer {fake.api_token}"
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n\r\n".encode())
        with pytest.raises(ConnectionResetError):
            await reader.read()
        writer.close()
        with contextlib.suppress(ConnectionResetError):
            await writer.wait_closed()
        record = fake.requests[0]
        assert (record.status, record.fault, record.finished) == (0, "reset", None)
        assert fake.injected == [InjectedFault(request=1, page=1, attempt=1, kind="reset")]


async def test_truncate_sends_half_the_body(session: aiohttp.ClientSession) -> None:
    """A truncated response promises the full length and delivers half."""
    async with FakeCloudflare(30, faults=[Fault.truncate(request=1)]) as fake:
        headers = {"Authorization": f"Bearer {fake.api_token}"}
        async with session.get(fake.url_for(), headers=headers) as response:
            assert response.status == 200
            length = int(response.headers["Content-Length"])
            with pytest.raises(aiohttp.ClientPayloadError, match=f"of {length} bytes"):
                await response.read()
        _, _, whole = await fetch(session, fake)
        assert len(whole) == length
        assert fake.requests[0].fault == "truncate"
        assert fake.requests[0].finished is None


async def test_slow_delays_and_client_timeouts_cancel_it(session: aiohttp.ClientSession) -> None:
    """A slow response arrives late; a client that gives up frees the server at once."""
    async with FakeCloudflare(
        10, faults=[Fault.slow(0.3, request=1), Fault.slow(30, request=2)]
    ) as fake:
        assert (await fetch(session, fake))[0] == 200
        first = fake.requests[0]
        assert first.finished is not None
        assert first.finished - first.started >= 0.3
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(fetch(session, fake), 0.2)
        await fake.wait_idle()
        assert (fake.requests[1].status, fake.requests[1].fault) == (0, "slow")


async def test_malformed_json(session: aiohttp.ClientSession) -> None:
    """The body claims JSON and is not."""
    async with FakeCloudflare(10, faults=[Fault.malformed_json()]) as fake:
        status, headers, body = await fetch(session, fake)
        assert (status, headers["Content-Type"]) == (200, "application/json")
        assert int(headers["Content-Length"]) == len(body)
        with pytest.raises(json.JSONDecodeError):
            json.loads(body)


# -------------------------------------------------------------------- body


async def test_error_envelope_default_and_custom(session: aiohttp.ClientSession) -> None:
    """success: false with the given code, at the given status (200 by default)."""
    faults = [Fault.error_envelope(request=1), Fault.error_envelope(1234, "Boom", 500, request=2)]
    async with FakeCloudflare(10, faults=faults) as fake:
        status, _, body = await fetch(session, fake)
        assert (status, errors(body)) == (200, [{"code": 10000, "message": "Authentication error"}])
        status, _, body = await fetch(session, fake)
        assert (status, errors(body)) == (500, [{"code": 1234, "message": "Boom"}])


async def test_wrong_type_changes_only_the_first_invoice(session: aiohttp.ClientSession) -> None:
    """The first invoice of the page gets the wrong value; the rest are untouched."""
    faults = [Fault.wrong_type(request=1), Fault.wrong_type("created", None, request=2)]
    async with FakeCloudflare(30, faults=faults) as fake:
        expected = fake.invoices()[:20]
        body = (await fetch(session, fake))[2]
        first = json.loads(body, parse_float=Decimal)["result"]["invoices"]
        assert first[0] == {**expected[0], "amount_due": "not-a-number"}
        assert first[1:] == expected[1:]
        assert [i["id"] for i in first] == [i["id"] for i in expected]
        second = json.loads((await fetch(session, fake))[2])["result"]["invoices"]
        assert second[0]["created"] is None
        assert second[1]["created"] == expected[1]["created"]


async def test_wrong_type_on_an_empty_page(session: aiohttp.ClientSession) -> None:
    """Past the end there is nothing to break; the fault is still recorded."""
    async with FakeCloudflare(5, faults=[Fault.wrong_type()]) as fake:
        body = json.loads((await fetch(session, fake, page=9))[2])
        assert body["result"]["invoices"] == []
        assert [f.kind for f in fake.injected] == ["wrong_type"]


async def test_pagination_placement_faults(session: aiohttp.ClientSession) -> None:
    """missing_pagination drops both; result_info_only keeps only the top-level one."""
    faults = [Fault.missing_pagination(request=1), Fault.result_info_only(request=2)]
    async with FakeCloudflare(30, faults=faults) as fake:
        missing = json.loads((await fetch(session, fake))[2])
        assert set(missing) == {"success", "errors", "messages", "result"}
        assert set(missing["result"]) == {"invoices"}
        only = json.loads((await fetch(session, fake))[2])
        assert set(only["result"]) == {"invoices"}
        assert only["result_info"] == {
            "has_more": True,
            "page": 1,
            "per_page": 20,
            "total_count": 30,
        }


async def test_float_numbers(session: aiohttp.ClientSession) -> None:
    """page, per_page and total_count come as 2.0-style floats."""
    async with FakeCloudflare(30, faults=[Fault.float_numbers()]) as fake:
        _, _, body = await fetch(session, fake, page=2, per_page=10)
        assert (
            b'"pagination":{"has_more":true,"page":2.0,"per_page":10.0,"total_count":30.0}' in body
        )
        info = json.loads(body)["result_info"]
        assert info == {"has_more": True, "page": 2.0, "per_page": 10.0, "total_count": 30.0}
        assert isinstance(info["page"], float)


async def test_ignore_page_honest_and_echoing(session: aiohttp.ClientSession) -> None:
    """Page 1 comes back whatever was asked; echo=True lies about the page number."""
    faults = [Fault.ignore_page(request=1), Fault.ignore_page(echo=True, request=2)]
    async with FakeCloudflare(30, faults=faults) as fake:
        first_page = fake.ids()[:10]
        for claimed, has_more in ((1, True), (3, False)):
            _, _, body = await fetch(session, fake, page=3, per_page=10)
            envelope = json.loads(body)
            assert [i["id"] for i in envelope["result"]["invoices"]] == first_page
            assert envelope["result_info"] == {
                "has_more": has_more,
                "page": claimed,
                "per_page": 10,
                "total_count": 30,
            }


async def test_clamp_per_page(session: aiohttp.ClientSession) -> None:
    """Pages are cut to n and computed with n; per_page reports n."""
    async with FakeCloudflare(30, faults=[Fault.clamp_per_page(10)]) as fake:
        _, _, body = await fetch(session, fake, page=2, per_page=20)
        envelope = json.loads(body)
        assert [i["id"] for i in envelope["result"]["invoices"]] == fake.ids()[10:20]
        assert envelope["result_info"] == {
            "has_more": True,
            "page": 2,
            "per_page": 10,
            "total_count": 30,
        }
        assert await ids_of(session, fake, page=1, per_page=5) == fake.ids()[:5]


async def test_has_more_and_total_count_lies(session: aiohttp.ClientSession) -> None:
    """has_more and total_count can be overridden, or total_count left out."""
    faults = [
        Fault.has_more(True, request=1),
        Fault.total_count(999, request=2),
        Fault.total_count(None, request=3),
    ]
    async with FakeCloudflare(5, faults=faults) as fake:
        infos = [json.loads((await fetch(session, fake))[2])["result"]["pagination"] for _ in "123"]
        assert infos == [
            {"has_more": True, "page": 1, "per_page": 20, "total_count": 5},
            {"has_more": False, "page": 1, "per_page": 20, "total_count": 999},
            {"has_more": False, "page": 1, "per_page": 20},
        ]
        assert fake.ids() == [i["id"] for i in fake.invoices()]
        assert len(fake.ids()) == 5


# --------------------------------------------------------------------- drift


async def test_create_shifts_later_pages_down(session: aiohttp.ClientSession) -> None:
    """n new invoices at the head push every page down by n."""
    async with FakeCloudflare(50, faults=[Fault.create(5, request=2)]) as fake:
        before = fake.ids()
        assert await ids_of(session, fake, page=1, per_page=20) == before[:20]
        assert await ids_of(session, fake, page=2, per_page=20) == before[15:35]
        assert len(fake.ids()) == 55
        assert fake.ids()[5:] == before
        assert fake.requests[1].fault == "create"


async def test_delete_shifts_later_pages_up(session: aiohttp.ClientSession) -> None:
    """n deletions at a position pull later pages up by n."""
    faults = [Fault.delete(5, request=2), Fault.delete(2, position=10, request=3)]
    async with FakeCloudflare(50, faults=faults) as fake:
        before = fake.ids()
        assert await ids_of(session, fake, page=1, per_page=20) == before[:20]
        assert await ids_of(session, fake, page=2, per_page=20) == before[25:45]
        assert await ids_of(session, fake, page=1, per_page=20) == before[5:15] + before[17:27]
        assert fake.ids() == before[5:15] + before[17:]


async def test_state_faults_apply_with_a_response_fault(session: aiohttp.ClientSession) -> None:
    """create applies even when the same request then fails; both are recorded."""
    faults = [Fault.status(503, request=1), Fault.create(2, request=1), Fault.reset(request=1)]
    async with FakeCloudflare(10, faults=faults) as fake:
        status, _, _ = await fetch(session, fake)
        assert status == 503
        assert len(fake.ids()) == 12
        assert fake.requests[0].fault == "create+status"
        assert [f.kind for f in fake.injected] == ["create", "status"]


# ----------------------------------------------------------------- selectors


async def test_request_page_and_attempt_selectors(session: aiohttp.ClientSession) -> None:
    """request=N, page=P and attempt=A each pick exactly the matching requests."""
    faults = [
        Fault.status(500, request=2),
        Fault.status(502, page=3, attempt=2),
        Fault.status(503, page=4),
    ]
    async with FakeCloudflare(100, faults=faults) as fake:
        statuses = [
            (await fetch(session, fake, page=page, per_page=10))[0]
            for page in (1, 2, 3, 3, 3, 4, 4)
        ]
        assert statuses == [200, 500, 200, 502, 200, 503, 503]
        assert fake.injected == [
            InjectedFault(request=2, page=2, attempt=1, kind="status"),
            InjectedFault(request=4, page=3, attempt=2, kind="status"),
            InjectedFault(request=6, page=4, attempt=1, kind="status"),
            InjectedFault(request=7, page=4, attempt=2, kind="status"),
        ]


async def test_attempts_count_per_type_and_per_page_size(session: aiohttp.ClientSession) -> None:
    """The same page with another type or per_page is a different attempt series."""
    async with FakeCloudflare(100, faults=[Fault.status(500, attempt=1)]) as fake:
        statuses = [
            (await fetch(session, fake, **params))[0]
            for params in (
                {"page": 1},
                {"page": 1},
                {"page": 1, "per_page": 10},
                {"page": 1, "type": "auto"},
                {"page": 1, "type": "auto"},
            )
        ]
        assert statuses == [500, 200, 500, 500, 200]


async def test_times_limits_how_often_a_fault_fires(session: aiohttp.ClientSession) -> None:
    """times=2 fires on the first two matches only."""
    async with FakeCloudflare(10, faults=[Fault.status(503, times=2)]) as fake:
        statuses = [(await fetch(session, fake))[0] for _ in range(4)]
        assert statuses == [503, 503, 200, 200]


async def test_first_matching_response_fault_wins(session: aiohttp.ClientSession) -> None:
    """Of several matching response faults only the first applies and counts."""
    faults = [Fault.status(500, times=1), Fault.status(503, times=1)]
    async with FakeCloudflare(10, faults=faults) as fake:
        statuses = [(await fetch(session, fake))[0] for _ in range(3)]
        assert statuses == [500, 503, 200]


async def test_probability_is_seeded_and_reproducible(session: aiohttp.ClientSession) -> None:
    """The same seed fails the same requests; another seed fails others."""
    patterns = []
    for seed in (4, 4, 5):
        async with FakeCloudflare(
            10, seed=seed, faults=[Fault.status(503, probability=0.5)]
        ) as fake:
            statuses = [(await fetch(session, fake))[0] for _ in range(40)]
            patterns.append([status == 503 for status in statuses])
    assert patterns[0] == patterns[1]
    assert patterns[0] != patterns[2]
    assert 10 <= sum(patterns[0]) <= 30


async def test_probability_bounds(session: aiohttp.ClientSession) -> None:
    """probability=0 never fires and probability=1 always does."""
    faults = [Fault.status(500, probability=0.0), Fault.status(503, probability=1.0)]
    async with FakeCloudflare(10, faults=faults) as fake:
        assert [(await fetch(session, fake))[0] for _ in range(5)] == [503] * 5


async def test_account_selector_and_faults_added_while_running(
    session: aiohttp.ClientSession,
) -> None:
    """account_id limits a fault to one account; add_fault takes effect at once."""
    async with FakeCloudflare(10) as fake:
        other = fake.add_account(5)
        assert (await fetch(session, fake))[0] == 200
        fake.add_fault(Fault.status(503, account_id=other))
        assert (await fetch(session, fake))[0] == 200
        headers = {"Authorization": f"Bearer {fake.api_token}"}
        async with session.get(fake.url_for(other), headers=headers) as response:
            assert response.status == 503
        assert fake.injected == [InjectedFault(request=3, page=1, attempt=1, kind="status")]


async def test_rejected_requests_get_no_faults(session: aiohttp.ClientSession) -> None:
    """Requests failing auth or validation are neither faulted nor counted as attempts."""
    async with FakeCloudflare(10, faults=[Fault.status(503, attempt=1)]) as fake:
        async with session.get(fake.url_for()) as response:
            assert response.status == 400
        assert (await fetch(session, fake, per_page=0))[0] == 400
        assert (await fetch(session, fake))[0] == 503
        assert fake.injected == [InjectedFault(request=3, page=1, attempt=1, kind="status")]
