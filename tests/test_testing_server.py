"""FakeCloudflare over real HTTP: envelope, paging, filtering, auth, rate limits, lifecycle."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp.test_utils import TestServer

from asyncinvoices import Invoice, InvoiceClient
from asyncinvoices.testing import FakeCloudflare, ServedRequest

pytestmark = pytest.mark.anyio

_RAY = re.compile(r"[0-9a-f]{16}-SJC")


@pytest.fixture
def anyio_backend() -> str:
    """aiohttp runs on asyncio only."""
    return "asyncio"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session; each test adds its own credentials."""
    async with aiohttp.ClientSession() as session:
        yield session


def bearer(fake: FakeCloudflare) -> dict[str, str]:
    """The valid token header of ``fake``."""
    return {"Authorization": f"Bearer {fake.api_token}"}


async def get(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str] | None = None,
    **params: Any,
) -> tuple[int, Any, Any]:
    """GET ``url``; return status, headers and the JSON body parsed with exact decimals."""
    query = {key: str(value) for key, value in params.items()}
    async with session.get(url, params=query, headers=headers) as response:
        text = await response.text()
        return response.status, response.headers, json.loads(text, parse_float=Decimal)


async def page_of(
    session: aiohttp.ClientSession, fake: FakeCloudflare, **params: Any
) -> dict[str, Any]:
    """Fetch one page of the default account with valid credentials; assert 200."""
    status, _, body = await get(session, fake.url_for(), bearer(fake), **params)
    assert status == 200, body
    result: dict[str, Any] = body
    return result


# ----------------------------------------------------------------- envelope


async def test_success_envelope_is_exactly_cloudflares(session: aiohttp.ClientSession) -> None:
    """Page 1 is the documented envelope with pagination in both places."""
    async with FakeCloudflare(45) as fake:
        body = await page_of(session, fake, page=1, per_page=20)
        pagination = {"has_more": True, "page": 1, "per_page": 20, "total_count": 45}
        assert body == {
            "success": True,
            "errors": [],
            "messages": [],
            "result": {"invoices": fake.invoices()[:20], "pagination": pagination},
            "result_info": pagination,
        }


async def test_pages_concatenate_to_the_full_list(session: aiohttp.ClientSession) -> None:
    """Pages in order give every id once, newest first; past the end is empty."""
    async with FakeCloudflare(45) as fake:
        ids: list[str] = []
        infos = []
        for page in (1, 2, 3, 4):
            body = await page_of(session, fake, page=page, per_page=20)
            ids += [invoice["id"] for invoice in body["result"]["invoices"]]
            infos.append(body["result_info"])
        assert ids == fake.ids()
        assert len(set(ids)) == 45
        assert [info["has_more"] for info in infos] == [True, True, False, False]
        assert {info["total_count"] for info in infos} == {45}


async def test_defaults_are_page_1_of_20(session: aiohttp.ClientSession) -> None:
    """Without page and per_page the first 20 invoices come back."""
    async with FakeCloudflare(30) as fake:
        body = await page_of(session, fake)
        assert [invoice["id"] for invoice in body["result"]["invoices"]] == fake.ids()[:20]
        assert body["result_info"] == {
            "has_more": True,
            "page": 1,
            "per_page": 20,
            "total_count": 30,
        }
        assert fake.requests[0].page is None
        assert fake.requests[0].per_page is None


async def test_type_filters_and_counts(session: aiohttp.ClientSession) -> None:
    """type=auto / manual serve disjoint subsets in server order; total_count counts them."""
    async with FakeCloudflare(60) as fake:
        seen: dict[str, list[str]] = {}
        for type in ("auto", "manual", "all"):
            body = await page_of(session, fake, type=type, per_page=100)
            seen[type] = [invoice["id"] for invoice in body["result"]["invoices"]]
            assert seen[type] == fake.ids(type=type)
            assert body["result_info"]["total_count"] == len(seen[type])
            origins = {invoice["invoice_origin"] for invoice in body["result"]["invoices"]}
            if type != "all":
                assert origins == {f"{type}_top_up"}
        assert sorted(seen["auto"] + seen["manual"]) == sorted(seen["all"])
        assert [i for i in seen["all"] if i in set(seen["auto"])] == seen["auto"]
        assert 0 < len(seen["auto"]) < 60
        with pytest.raises(ValueError, match="type"):
            fake.ids(type="bogus")  # type: ignore[arg-type]


async def test_empty_account(session: aiohttp.ClientSession) -> None:
    """An account without invoices answers with an empty page."""
    async with FakeCloudflare(0) as fake:
        body = await page_of(session, fake)
        assert body["result"]["invoices"] == []
        assert body["result_info"] == {
            "has_more": False,
            "page": 1,
            "per_page": 20,
            "total_count": 0,
        }


def bad_parameter(message: str) -> list[dict[str, Any]]:
    """The errors of a 400 / 6008 response."""
    return [
        {
            "code": 6008,
            "message": "Invalid request parameters",
            "error_chain": [{"code": 11000, "message": message}],
        }
    ]


_PER_PAGE = "per_page variable must be a number between 1 and 100"
_PAGE = "page variable must be a number greater than or equal to 1"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"per_page": 0}, _PER_PAGE),
        ({"per_page": 101}, _PER_PAGE),
        ({"per_page": "ten"}, _PER_PAGE),
        ({"per_page": "20.0"}, _PER_PAGE),
        ({"page": 0}, _PAGE),
        ({"page": -1}, _PAGE),
        ({"page": "1.5"}, _PAGE),
        ({"type": "AUTO"}, "type must be one of: auto, manual, all"),
    ],
)
async def test_bad_parameters_are_rejected_not_clamped(
    session: aiohttp.ClientSession, params: dict[str, Any], message: str
) -> None:
    """Out-of-range or malformed parameters get 400 / 6008 with an 11000 chain entry."""
    async with FakeCloudflare(10) as fake:
        status, headers, body = await get(session, fake.url_for(), bearer(fake), **params)
        assert (status, body["success"], body["errors"]) == (400, False, bad_parameter(message))
        assert body["result"] is None
        assert _RAY.fullmatch(headers["cf-ray"])


async def test_max_per_page_is_configurable(session: aiohttp.ClientSession) -> None:
    """per_page up to max_per_page is served; one more is rejected with that maximum."""
    async with FakeCloudflare(1500, max_per_page=1000) as fake:
        body = await page_of(session, fake, page=2, per_page=1000)
        assert len(body["result"]["invoices"]) == 500
        status, _, body = await get(session, fake.url_for(), bearer(fake), per_page=1001)
        assert status == 400
        assert body["errors"] == bad_parameter(
            "per_page variable must be a number between 1 and 1000"
        )


# --------------------------------------------------------------------- auth


def route_errors(account_id: str) -> list[dict[str, Any]]:
    """Cloudflare's answer to an account id it cannot route."""
    return [
        {
            "code": 7003,
            "message": f"Could not route to /accounts/{account_id}/ai-gateway/billing/"
            "invoice-history, perhaps your object identifier is invalid?",
        },
        {"code": 7000, "message": "No route for that URI"},
    ]


def malformed(code: int, message: str) -> list[dict[str, Any]]:
    """The errors of a 400 / 6003 response."""
    return [
        {
            "code": 6003,
            "message": "Invalid request headers",
            "error_chain": [{"code": code, "message": message}],
        }
    ]


_AUTH_ERROR = [{"code": 10000, "message": "Authentication error"}]


@pytest.mark.parametrize(
    ("headers", "status", "errors"),
    [
        (
            {},
            400,
            [
                {
                    "code": 9106,
                    "message": "Missing X-Auth-Key, X-Auth-Email or Authorization headers",
                }
            ],
        ),
        (
            {"Authorization": "Basic dXNlcjpwYXNz"},
            400,
            malformed(6111, "Invalid format for Authorization header"),
        ),
        (
            {"Authorization": "Bearer not/a+token"},
            400,
            malformed(6111, "Invalid format for Authorization header"),
        ),
        ({"Authorization": "Bearer wrong-token_0123456789"}, 403, _AUTH_ERROR),
        (
            {"X-Auth-Email": "owner@example.com"},
            400,
            malformed(6103, "Invalid format for X-Auth-Key header"),
        ),
        ({"X-Auth-Key": "abc"}, 400, malformed(6102, "Invalid format for X-Auth-Email header")),
        ({"X-Auth-Email": "owner@example.com", "X-Auth-Key": "0" * 37}, 403, _AUTH_ERROR),
        ({"X-Auth-Email": "someone@example.com", "X-Auth-Key": "KEY"}, 403, _AUTH_ERROR),
    ],
)
async def test_credentials_are_checked_like_cloudflare(
    session: aiohttp.ClientSession, headers: dict[str, str], status: int, errors: Any
) -> None:
    """Missing, malformed and wrong credentials get Cloudflare's statuses and codes."""
    async with FakeCloudflare(5) as fake:
        sent = {k: fake.api_key if v == "KEY" else v for k, v in headers.items()}
        got_status, got_headers, body = await get(session, fake.url_for(), sent)
        assert (got_status, body["errors"]) == (status, errors)
        assert _RAY.fullmatch(got_headers["cf-ray"])
        assert fake.requests[0].status == status


async def test_valid_credentials_of_both_kinds(session: aiohttp.ClientSession) -> None:
    """The token and the legacy email + key both work; the token has the documented shape."""
    async with FakeCloudflare(5) as fake:
        assert re.fullmatch(r"[A-Za-z0-9_-]{40}", fake.api_token)
        assert re.fullmatch(r"[0-9a-f]{32}", fake.account_id)
        legacy = {"X-Auth-Email": fake.api_email, "X-Auth-Key": fake.api_key}
        for headers in (bearer(fake), legacy, {"Authorization": f"bearer {fake.api_token}"}):
            status, _, _ = await get(session, fake.url_for(), headers)
            assert status == 200


async def test_malformed_account_id_is_a_routing_error_before_auth(
    session: aiohttp.ClientSession,
) -> None:
    """An id that is not 32 hex characters gets 400 7003 + 7000, even without credentials."""
    async with FakeCloudflare(5) as fake:
        for account_id in ("not-an-account", "0" * 31, "g" * 32):
            url = f"{fake.base_url}/accounts/{account_id}/ai-gateway/billing/invoice-history"
            status, _, body = await get(session, url)
            assert (status, body["errors"]) == (400, route_errors(account_id))


async def test_unknown_account_is_an_authentication_error(session: aiohttp.ClientSession) -> None:
    """A well-formed id the token cannot see gets 403 / 10000."""
    async with FakeCloudflare(5) as fake:
        status, _, body = await get(session, fake.url_for("f" * 32), bearer(fake))
        assert (status, body["errors"]) == (403, _AUTH_ERROR)


async def test_other_paths_and_methods(session: aiohttp.ClientSession) -> None:
    """Unknown paths get 404 7003 / 7000; a POST to the endpoint gets 405 / 10405."""
    async with FakeCloudflare(5) as fake:
        async with session.get(fake.base_url + "/user/tokens/verify") as response:
            assert response.status == 404
            assert _RAY.fullmatch(response.headers["cf-ray"])
            assert (await response.json())["errors"][1] == {
                "code": 7000,
                "message": "No route for that URI",
            }
        async with session.post(fake.url_for(), headers=bearer(fake)) as response:
            assert response.status == 405
            assert (await response.json())["errors"] == [
                {"code": 10405, "message": "Method not allowed"}
            ]
        assert [r.status for r in fake.requests] == [405]


# ------------------------------------------------------------------ headers


async def test_cf_ray_is_deterministic_per_seed_and_request(
    session: aiohttp.ClientSession,
) -> None:
    """The same seed gives the same rays in the same order; every request gets its own."""
    rays: list[list[str]] = []
    for _ in range(2):
        async with FakeCloudflare(5, seed=3) as fake:
            run = []
            for headers in (bearer(fake), {}):
                _, got, _ = await get(session, fake.url_for(), headers)
                run.append(got["cf-ray"])
            rays.append(run)
    assert rays[0] == rays[1]
    assert len(set(rays[0])) == 2
    assert all(_RAY.fullmatch(ray) for ray in rays[0])


async def test_rate_limit_headers_on_every_response(session: aiohttp.ClientSession) -> None:
    """Ratelimit and Ratelimit-Policy are on successes and errors alike."""
    async with FakeCloudflare(5, rate_limit=(10, 60.0)) as fake:
        _, ok, _ = await get(session, fake.url_for(), bearer(fake))
        _, denied, _ = await get(session, fake.url_for())
        assert ok["Ratelimit"] == '"default";r=9;t=60'
        assert denied["Ratelimit"] == '"default";r=8;t=60'
        assert ok["Ratelimit-Policy"] == denied["Ratelimit-Policy"] == '"default";q=10;w=60'
        assert "Retry-After" not in ok


async def test_sliding_window_blocks_then_lifts(session: aiohttp.ClientSession) -> None:
    """Q requests pass, the next starts a block where all get 429 / 971, then it lifts."""
    now = [1000.0]
    async with FakeCloudflare(
        5, rate_limit=(3, 0.4), block_seconds=0.4, clock=lambda: now[0]
    ) as fake:
        results = [await get(session, fake.url_for(), bearer(fake)) for _ in range(5)]
        assert [status for status, _, _ in results] == [200, 200, 200, 429, 429]
        assert [h["Ratelimit"].split(";")[1] for _, h, _ in results] == ["r=2", "r=1", "r=0"] + [
            "r=0"
        ] * 2
        status, headers, body = results[3]
        assert body == {
            "success": False,
            "errors": [
                {"code": 971, "message": "Please wait and consider throttling your request speed"}
            ],
            "messages": [],
            "result": None,
        }
        assert headers["Retry-After"] == "1"
        assert headers["Ratelimit"] == '"default";r=0;t=1'
        now[0] += 0.45  # the block and the window have both passed
        status, headers, _ = await get(session, fake.url_for(), bearer(fake))
        assert status == 200
        assert headers["Ratelimit"] == '"default";r=2;t=1'


async def test_no_rate_limit_means_no_headers(session: aiohttp.ClientSession) -> None:
    """rate_limit=None serves everything and sends no Ratelimit headers."""
    async with FakeCloudflare(5, rate_limit=None) as fake:
        for _ in range(3):
            status, headers, _ = await get(session, fake.url_for(), bearer(fake))
            assert status == 200
            assert "Ratelimit" not in headers
            assert "Ratelimit-Policy" not in headers


# ------------------------------------------------------------ concurrency


async def test_latency_overlaps_and_is_tracked(session: aiohttp.ClientSession) -> None:
    """Slow responses do not block the loop; in_flight and peak_in_flight count them."""
    async with FakeCloudflare(100, latency=0.3, jitter=0.05) as fake:
        started = time.monotonic()
        results = await asyncio.gather(
            *(get(session, fake.url_for(), bearer(fake), page=p % 5 + 1) for p in range(25))
        )
        elapsed = time.monotonic() - started
        assert {status for status, _, _ in results} == {200}
        assert 0.25 <= elapsed < 1.5
        assert fake.peak_in_flight == 25
        assert fake.in_flight == 0
        durations = [r.finished - r.started for r in fake.requests if r.finished is not None]
        assert len(durations) == 25
        assert min(durations) >= 0.25
        assert max(durations) <= 0.36 + 0.3


async def test_requests_are_recorded_in_arrival_order(session: aiohttp.ClientSession) -> None:
    """Every request leaves a ServedRequest; reset_counters clears the lists, not numbering."""
    async with FakeCloudflare(50) as fake:
        await get(session, fake.url_for(), bearer(fake), page=2, per_page=7, type="auto")
        await get(session, fake.url_for(), {}, page="x")
        first, second = fake.requests
        assert (first.number, first.page, first.per_page, first.type, first.status) == (
            1,
            2,
            7,
            "auto",
            200,
        )
        assert first.account_id == fake.account_id
        assert first.fault is None
        assert first.finished is not None
        assert first.started <= first.finished <= second.started
        assert (second.number, second.page, second.status) == (2, None, 400)
        fake.reset_counters()
        assert (fake.requests, fake.injected, fake.peak_in_flight) == ([], [], 0)
        await get(session, fake.url_for(), bearer(fake))
        assert [r.number for r in fake.requests] == [3]
        assert isinstance(fake.requests[0], ServedRequest)


# ------------------------------------------------------------------- data


async def test_data_is_deterministic_per_seed_and_account() -> None:
    """The same seed gives the same account and invoices; seeds and accounts differ."""
    async with FakeCloudflare(30, seed=1) as one, FakeCloudflare(30, seed=1) as same:
        assert one.account_id == same.account_id
        assert one.api_token == same.api_token
        assert one.invoices() == same.invoices()
        async with FakeCloudflare(30, seed=2) as other:
            assert other.account_id != one.account_id
            assert other.api_token != one.api_token
            assert not set(other.ids()) & set(one.ids())
        second = one.add_account(30)
        assert second != one.account_id
        assert not set(one.ids(second)) & set(one.ids())
        assert one.add_account(3, seed=99) == FakeCloudflare(1, seed=99).account_id
        with pytest.raises(ValueError, match="seed 99"):
            one.add_account(3, seed=99)
        with pytest.raises(KeyError, match="no account"):
            one.ids("0" * 32)


async def test_second_account_is_served_with_the_same_credentials(
    session: aiohttp.ClientSession,
) -> None:
    """add_account data is served at url_for(its id)."""
    async with FakeCloudflare(5) as fake:
        other = fake.add_account(invoices=12)
        body = (await get(session, fake.url_for(other), bearer(fake), per_page=50))[2]
        assert [invoice["id"] for invoice in body["result"]["invoices"]] == fake.ids(other)
        assert body["result_info"]["total_count"] == 12
        assert fake.requests[0].account_id == other


async def test_fractional_amounts_are_served_exactly(session: aiohttp.ClientSession) -> None:
    """Amounts like 640.19 appear in the JSON text with two decimals, no float noise."""
    async with FakeCloudflare(100) as fake:
        async with session.get(
            fake.url_for(), headers=bearer(fake), params={"per_page": "100"}
        ) as r:
            text = await r.text()
        amounts = re.findall(r'"amount_(?:due|paid|remaining)":([^,]+),', text)
        assert len(amounts) == 300
        assert all(re.fullmatch(r"0|[1-9][0-9]*(\.[0-9]{2})?", amount) for amount in amounts)
        fractional = [Decimal(amount) for amount in amounts if "." in amount]
        assert fractional
        assert sorted(fractional) == sorted(
            value
            for invoice in fake.invoices()
            for key in ("amount_due", "amount_paid", "amount_remaining")
            if isinstance(value := invoice[key], Decimal)
        )


async def test_create_and_delete_shift_pages(session: aiohttp.ClientSession) -> None:
    """New invoices push pages down; deletions pull them up; deleted ids are gone for good."""
    async with FakeCloudflare(40) as fake:
        before = fake.ids()
        created = fake.create_invoices(3)
        assert fake.ids() == created + before
        body = await page_of(session, fake, page=2, per_page=10)
        assert [i["id"] for i in body["result"]["invoices"]] == before[7:17]
        fake.delete_invoices([created[0], before[0]])
        assert fake.ids() == created[1:] + before[1:]
        body = await page_of(session, fake, page=2, per_page=10)
        assert [i["id"] for i in body["result"]["invoices"]] == before[9:19]
        assert body["result_info"]["total_count"] == 41
        with pytest.raises(KeyError, match="no invoice"):
            fake.delete_invoices([before[0]])
        with pytest.raises(KeyError, match="no invoice"):
            fake.delete_invoices(["in_nope"])
        assert len(fake.ids()) == 41


async def test_two_million_invoices_start_instantly(session: aiohttp.ClientSession) -> None:
    """A 2,000,000-invoice account starts at once and serves its last page correctly."""
    started = time.perf_counter()
    async with FakeCloudflare(2_000_000, seed=5) as fake:
        assert time.perf_counter() - started < 1.0
        body = await page_of(session, fake, page=20_000, per_page=100)
        ids = [invoice["id"] for invoice in body["result"]["invoices"]]
        # Ids depend on seed and creation order only, so the 100 oldest invoices of the big
        # account are exactly the invoices of a 100-invoice account with the same seed.
        assert ids == FakeCloudflare(100, seed=5).ids()
        assert body["result_info"] == {
            "has_more": False,
            "page": 20_000,
            "per_page": 100,
            "total_count": 2_000_000,
        }
        body = await page_of(session, fake, page=20_001, per_page=100)
        assert body["result"]["invoices"] == []
        body = await page_of(session, fake, page=1, per_page=3, type="auto")
        assert 550_000 < body["result_info"]["total_count"] < 650_000
    assert time.perf_counter() - started < 5.0


# -------------------------------------------------------------- lifecycle


async def test_start_close_and_misuse(session: aiohttp.ClientSession) -> None:
    """start/close work without a context manager; misuse raises clear errors."""
    fake = FakeCloudflare(3)
    with pytest.raises(RuntimeError, match="not running"):
        _ = fake.base_url
    await fake.start()
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:[0-9]+/client/v4", fake.base_url)
        with pytest.raises(RuntimeError, match="already running"):
            await fake.start()
        assert (await get(session, fake.url_for(), bearer(fake)))[0] == 200
    finally:
        await fake.close()
    await fake.close()  # closing twice is harmless
    with pytest.raises(aiohttp.ClientConnectionError):
        await get(session, fake.url_for(), bearer(fake))


async def test_close_cancels_requests_in_flight(session: aiohttp.ClientSession) -> None:
    """Closing while requests sleep through latency ends them at once."""
    fake = FakeCloudflare(3, latency=30.0)
    await fake.start()
    failures: list[BaseException] = []

    async def request() -> None:
        try:
            await get(session, fake.url_for(), bearer(fake))
        except aiohttp.ClientError as exc:
            failures.append(exc)

    async with anyio.create_task_group() as group:
        group.start_soon(request)
        await fake.wait_requests(1)
        started = time.monotonic()
        await fake.close()
        assert time.monotonic() - started < 1.0
    assert len(failures) == 1
    assert fake.in_flight == 0
    assert fake.requests[0].finished is None


async def test_app_can_be_mounted_by_the_user(session: aiohttp.ClientSession) -> None:
    """fake.app runs under aiohttp's own TestServer."""
    fake = FakeCloudflare(8)
    async with TestServer(fake.app) as server:
        url = str(server.make_url(f"/client/v4/accounts/{fake.account_id}"))
        status, _, body = await get(
            session, url + "/ai-gateway/billing/invoice-history", bearer(fake)
        )
        assert status == 200
        assert [i["id"] for i in body["result"]["invoices"]] == fake.ids()


async def test_invalid_settings_are_rejected() -> None:
    """Nonsense settings fail at construction."""
    with pytest.raises(ValueError, match="max_per_page"):
        FakeCloudflare(max_per_page=0)
    with pytest.raises(ValueError, match="latency"):
        FakeCloudflare(latency=-1)
    with pytest.raises(ValueError, match="rate-limit"):
        FakeCloudflare(rate_limit=(0, 1.0))


async def test_port_in_use_fails_cleanly() -> None:
    """A port that is taken raises OSError from start and leaves nothing open."""
    async with FakeCloudflare(1) as first:
        port = int(first.base_url.rsplit(":", 1)[1].split("/")[0])
        second = FakeCloudflare(1, port=port)
        with pytest.raises(OSError, match="address already in use"):
            await second.start()
        await second.close()


async def test_other_paths_get_the_latency_too(session: aiohttp.ClientSession) -> None:
    """Latency applies to every response, unknown paths included."""
    async with FakeCloudflare(1, latency=0.1) as fake:
        started = time.monotonic()
        async with session.get(fake.base_url + "/zones") as response:
            assert response.status == 404
        assert time.monotonic() - started >= 0.1


async def test_wait_idle_and_wait_requests_follow_the_requests(
    session: aiohttp.ClientSession,
) -> None:
    """wait_requests returns once enough requests arrived, wait_idle once none is in flight;
    each names what it waited for when it gives up."""
    async with FakeCloudflare(3, latency=30.0) as fake:
        await fake.wait_idle()  # idle from the start
        with pytest.raises(
            TimeoutError, match=r"^FakeCloudflare saw 0 request\(s\), not 1, within 0\.01 s$"
        ):
            await fake.wait_requests(1, timeout=0.01)
        async with anyio.create_task_group() as group:
            group.start_soon(get, session, fake.url_for(), bearer(fake))
            await fake.wait_requests(1, matching=lambda r: r.page is None)
            assert fake.in_flight == 1
            with pytest.raises(
                TimeoutError,
                match=r"^FakeCloudflare saw 0 matching request\(s\), not 1, within 0\.01 s$",
            ):
                await fake.wait_requests(1, timeout=0.01, matching=lambda r: r.page == 2)
            with pytest.raises(
                TimeoutError,
                match=r"^FakeCloudflare still had 1 request\(s\) in flight after 0\.01 s$",
            ):
                await fake.wait_idle(timeout=0.01)
            group.cancel_scope.cancel()
        await fake.wait_idle()
        assert [(r.status, r.finished) for r in fake.requests] == [(0, None)]


async def test_update_invoice_changes_what_is_served_and_expected() -> None:
    """An invoice updated in place: served with the new values, cached pages dropped."""
    async with FakeCloudflare(60, shapes="mixed", seed=4) as fake:
        async with InvoiceClient(api_token=fake.api_token, base_url=fake.base_url) as client:
            before = await client.list_invoices(fake.account_id)
            target = fake.ids()[7]
            fake.update_invoice(
                target,
                status="paid",
                amount_paid=Decimal("98765432109876543.21"),
                amount_remaining=0,
                attempt_count=2,
                created="2025-01-02T03:04:05Z",
                livemode=True,
            )
            after = await client.list_invoices(fake.account_id)
        expected = fake.expected_invoices()
    assert [i.id for i in after] == [i.id for i in before]
    changed = after[7]
    assert (changed.status, changed.amount_paid, changed.amount_remaining) == (
        "paid",
        Decimal("98765432109876543.21"),
        Decimal(0),
    )
    assert changed.attempt_count == 2
    assert changed.created is not None
    assert changed.created.isoformat() == "2025-01-02T03:04:05+00:00"
    assert changed.extra["livemode"] is True
    assert after[:7] + after[8:] == before[:7] + before[8:]
    assert [Invoice(**values) for values in expected] == after


def test_update_invoice_refuses_what_cannot_be() -> None:
    """An unknown id, a new id, or a value that is not JSON: a clear error, nothing changed."""
    fake = FakeCloudflare(5)
    with pytest.raises(KeyError, match="no invoice 'in_nope'"):
        fake.update_invoice("in_nope", status="paid")
    with pytest.raises(ValueError, match="an invoice's id cannot change"):
        fake.update_invoice(fake.ids()[0], id="in_other")
    with pytest.raises(ValueError, match="cannot be written as JSON"):
        fake.update_invoice(fake.ids()[0], metadata=object())
