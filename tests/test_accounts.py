"""InvoiceClient.accounts(): GET /accounts decoded and streamed, against FakeCloudflare."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import anyio
import pytest

from asyncinvoices import (
    Account,
    AccountStats,
    AuthenticationError,
    ConfigurationError,
    InvoiceClient,
    ResponseFormatError,
    ServerError,
)
from asyncinvoices._walk.listing import last_page, listing_params
from asyncinvoices._wire.accounts import AccountDecoder, AccountPage, ListingInfo
from asyncinvoices.testing import FakeCloudflare, Fault

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("instant_backoff")]

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def client_for(fake: FakeCloudflare, **kwargs: Any) -> InvoiceClient:
    """A client pointed at the fake server."""
    return InvoiceClient(api_token=fake.api_token, base_url=fake.base_url, **kwargs)


def decode(payload: Any, status: int = 200, page: int = 1) -> AccountPage:
    """Decode a JSON payload as the answer to ``page``."""
    body = json.dumps(payload).encode()
    return AccountDecoder()(status, {"Content-Type": "application/json"}, body, page, NOW)


def envelope(result: Any, result_info: Any = None) -> dict[str, Any]:
    """A success envelope of the listing."""
    payload: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if result_info is not None:
        payload["result_info"] = result_info
    return payload


ACCOUNT = {
    "id": "023e105f4ecef8ad9ca31a8372d0c353",
    "name": "Demo Account",
    "type": "standard",
    "created_on": "2014-03-01T12:21:02.0000Z",
    "settings": {"enforce_twofactor": False},
    "managed_by": {"parent_org_id": "x"},
}

# ------------------------------------------------------------------ sans-I/O


def test_decode_an_account_exactly() -> None:
    """Every field as sent; created_on in UTC; unknown fields kept in extra."""
    page = decode(envelope([ACCOUNT], {"page": 1, "per_page": 20, "count": 1, "total_count": 1}))
    assert page == AccountPage(
        number=1,
        accounts=(
            Account(
                id="023e105f4ecef8ad9ca31a8372d0c353",
                name="Demo Account",
                type="standard",
                created_on=dt.datetime(2014, 3, 1, 12, 21, 2, tzinfo=dt.timezone.utc),
                settings={"enforce_twofactor": False},
                extra={"managed_by": {"parent_org_id": "x"}},
            ),
        ),
        info=ListingInfo(page=1, per_page=20, count=1, total_count=1, total_pages=None),
    )


def test_created_on_with_an_offset_and_fraction() -> None:
    """An offset is turned into UTC; up to six fractional digits are kept."""
    record = {**ACCOUNT, "created_on": "2020-06-01T02:00:00.123456789+02:00"}
    (account,) = decode(envelope([record])).accounts
    assert account.created_on == dt.datetime(2020, 6, 1, 0, 0, 0, 123456, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    ("record", "field", "message"),
    [
        ({"id": 5, "name": "a"}, "result[0].id", "page 1: result[0].id: expected a string"),
        ({"id": "a"}, "result[0].name", "page 1: result[0].name: required field missing"),
        (
            {"id": "a", "name": "b", "created_on": 1393676462},
            "result[0].created_on",
            "page 1: result[0].created_on: expected an ISO-8601 string",
        ),
        (
            {"id": "a", "name": "b", "created_on": "yesterday"},
            "result[0].created_on",
            "page 1: result[0].created_on: not an ISO-8601 time",
        ),
        (
            {"id": "a", "name": "b", "settings": [1]},
            "result[0].settings",
            "page 1: result[0].settings: expected an object",
        ),
        ("x", "result[0]", "page 1: result[0] is str, not an object"),
    ],
)
def test_bad_accounts_name_the_field(record: Any, field: str, message: str) -> None:
    """A bad record raises ResponseFormatError naming the field."""
    with pytest.raises(ResponseFormatError) as caught:
        decode(envelope([record]))
    assert caught.value.field == field
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"success": True, "result": {"id": "a"}}, "result"),
        ({"success": True, "result": [], "result_info": []}, "result_info"),
        (
            {"success": True, "result": [], "result_info": {"total_pages": -1}},
            "result_info.total_pages",
        ),
        ({"success": True, "result": [], "result_info": {"count": "3"}}, "result_info.count"),
        ({"success": True, "result": [], "result_info": {"page": True}}, "result_info.page"),
    ],
)
def test_bad_envelopes(payload: Any, field: str) -> None:
    """A result that is not a list, or a result_info that is not whole numbers, is refused."""
    with pytest.raises(ResponseFormatError) as caught:
        decode(payload)
    assert caught.value.field == field


def test_not_json_and_error_envelopes() -> None:
    """A non-JSON 200 is a ResponseFormatError; a 403 / 9109 an AuthenticationError."""
    with pytest.raises(
        ResponseFormatError, match=r"^page 2: HTTP 200 body is not valid JSON: 'oops'$"
    ):
        AccountDecoder()(200, {}, b"<html><b> oops</b>", 2, NOW)
    refused = {"success": False, "errors": [{"code": 9109, "message": "Unauthorized"}]}
    with pytest.raises(AuthenticationError) as caught:
        decode(refused, status=403)
    assert (caught.value.status, caught.value.codes) == (403, (9109,))


@pytest.mark.parametrize(
    "body",
    [
        b'{"success": true, "result": [1e99999999999999999999]}',
        b'{"success": true, "result": [NaN]}',
        b'{"success": true, "result": []} x',
        b"[" * 100_000,
    ],
)
def test_undecodable_json_is_a_format_error_never_a_decoder_exception(body: bytes) -> None:
    """A listing body the JSON decoder refuses is a ResponseFormatError, as for invoices.

    Found in review: an exponent beyond Decimal's range escaped as decimal.InvalidOperation.
    """
    with pytest.raises(ResponseFormatError, match=r"^page 3: HTTP 200 body is not valid JSON: "):
        AccountDecoder()(200, {}, body, 3, NOW)


def test_a_huge_count_is_refused_without_converting_it() -> None:
    """result_info.total_count of 1E+10000000 is refused at once, not turned into an int.

    Found in review: converting it first took minutes of CPU, as the invoice endpoint's
    pagination numbers once did.
    """
    body = b'{"success": true, "result": [], "result_info": {"total_count": 1E+10000000}}'
    with pytest.raises(ResponseFormatError) as caught:
        AccountDecoder()(200, {}, body, 1, NOW)
    assert caught.value.field == "result_info.total_count"


def test_last_page_and_params() -> None:
    """total_pages decides; else total_count over the server's page size; else unknown."""
    assert last_page(ListingInfo(total_pages=7, total_count=1), 20) == 7
    assert last_page(ListingInfo(total_pages=0), 20) == 1
    assert last_page(ListingInfo(total_count=41, per_page=20), 50) == 3
    assert last_page(ListingInfo(total_count=41), 10) == 5
    assert last_page(ListingInfo(count=3), 20) is None
    assert last_page(None, 20) is None
    assert listing_params(page=2, per_page=50, name=None, direction=None) == {
        "page": "2",
        "per_page": "50",
    }
    assert listing_params(page=1, per_page=5, name="Shop", direction="desc") == {
        "page": "1",
        "per_page": "5",
        "name": "Shop",
        "direction": "desc",
    }


# ------------------------------------------------------------------ over HTTP


@pytest.mark.parametrize(("per_page", "concurrency"), [(5, 1), (5, 4), (7, 2), (50, 8)])
async def test_every_account_in_order(per_page: int, concurrency: int) -> None:
    """Every readable account once, in the listing's order (by name), at any page size."""
    async with FakeCloudflare(0, accounts=23) as fake:
        fake.add_account(0, name="Hidden", readable=False)
        async with client_for(fake, max_concurrency=concurrency) as client:
            async with client.accounts(per_page=per_page) as stream:
                ids = [account.id async for account in stream]
            stats = stream.stats
        by_name = sorted((f"Account {n}", fake.account_ids[n]) for n in range(23))
        pages = -(-23 // per_page)
        assert ids == [account_id for _, account_id in by_name]
        assert sorted(r.page or 0 for r in fake.requests) == list(range(1, pages + 1))
        assert {r.per_page for r in fake.requests} == {per_page}
        assert {r.endpoint for r in fake.requests} == {"accounts"}
    assert (stats.pages, stats.planned_pages, stats.accounts, stats.total_count) == (
        pages,
        pages,
        23,
        23,
    )
    assert (stats.requests, stats.retries) == (pages, 0)


async def test_name_direction_and_progress() -> None:
    """name= and direction= reach the server; on_progress sees each page."""
    seen: list[AccountStats] = []
    async with FakeCloudflare(0, accounts=6) as fake:
        shop = fake.add_account(0, name="Shop")
        async with client_for(fake) as client:
            async with client.accounts(name="Shop") as stream:
                only = [account.id async for account in stream]
            async with client.accounts(direction="desc", per_page=5, on_progress=seen.append) as s:
                names = [account.name async for account in s]
    assert only == [shop]
    assert names == ["Shop", *(f"Account {n}" for n in range(5, -1, -1))]
    assert [(s.pages, s.accounts) for s in seen] == [(1, 0), (2, 5)]


async def test_default_page_size_is_brought_into_range() -> None:
    """The client's per_page (for invoices) is clamped to the listing's 5 to 50."""
    async with FakeCloudflare(0, accounts=3) as fake:
        async with client_for(fake, per_page=100) as client:
            async with client.accounts() as stream:
                assert len([a async for a in stream]) == 3
        async with client_for(fake, per_page=1) as client:
            async with client.accounts() as stream:
                assert len([a async for a in stream]) == 3
        assert [r.per_page for r in fake.requests] == [50, 5]


async def test_listing_retries_and_shares_the_limits() -> None:
    """A 503 on the listing is retried through the same fetcher, counted in both tallies."""
    async with FakeCloudflare(
        0, accounts=12, faults=[Fault.status(503, page=2, attempt=1)]
    ) as fake:
        async with client_for(fake) as client:
            async with client.accounts(per_page=5) as stream:
                ids = [a.id async for a in stream]
            assert (stream.stats.requests, stream.stats.retries) == (4, 1)
            assert client._fetcher.totals.requests == 4
    assert len(ids) == 12


async def test_listing_failure_is_typed() -> None:
    """A listing that keeps failing raises the typed error after the retries."""
    async with FakeCloudflare(0, faults=[Fault.status(503)]) as fake:
        async with client_for(fake, max_retries=1) as client:
            with pytest.raises(ServerError, match=r"^HTTP 503 \(page 1\)"):
                async with client.accounts() as stream:
                    [a async for a in stream]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"per_page": 51}, "per_page for the account listing must be 5 to 50, got 51"),
        ({"per_page": 4}, "per_page for the account listing must be 5 to 50, got 4"),
        ({"direction": "up"}, "direction must be 'asc', 'desc' or None, got 'up'"),
        ({"name": ""}, "name must be a non-empty string or None"),
        ({"on_progress": 3}, "on_progress must be callable"),
    ],
)
async def test_bad_options_fail_before_any_request(kwargs: dict[str, Any], message: str) -> None:
    """Invalid options raise ConfigurationError at once."""
    async with FakeCloudflare(0) as fake:
        async with client_for(fake) as client:
            with pytest.raises(ConfigurationError, match=f"^{message}$"):
                client.accounts(**kwargs)
        assert fake.requests == []


# ------------------------------------------------------------------ the walk, without a server


def account(n: int) -> Account:
    """A listed account whose id ends in ``n``."""
    return Account(id=f"{n:032x}", name=f"a{n}")


def listing_of(pages: dict[int, Any]) -> tuple[Any, list[int]]:
    """A fetch function serving ``pages`` (number -> AccountPage or exception) whatever the
    page size; and the numbers it was asked for, in order."""
    asked: list[int] = []

    async def fetch(number: int, per_page: int) -> AccountPage:
        asked.append(number)
        served = pages[number]
        if isinstance(served, Exception):
            raise served
        return served  # type: ignore[no-any-return]

    return fetch, asked


async def read_all(fetch: Any, **kwargs: Any) -> list[str]:
    """Every account id an AccountStream over ``fetch`` yields."""
    from asyncinvoices._http.counts import RequestCounts
    from asyncinvoices._streams.accounts import AccountStream

    async with anyio.create_task_group() as tg:
        stream = AccountStream(
            spawn=lambda f: tg.start_soon(f),
            fetch=fetch,
            counts=RequestCounts(),
            per_page=kwargs.pop("per_page", 2),
            read_ahead=kwargs.pop("read_ahead", 2),
            on_progress=None,
            clock=anyio.current_time,
        )
        assert repr(stream) == "<AccountStream accounts=0>"
        async with stream:
            return [a.id async for a in stream]


def page(number: int, *ids: int, info: ListingInfo | None = None) -> AccountPage:
    """An AccountPage of the accounts ``ids``."""
    return AccountPage(number=number, accounts=tuple(account(n) for n in ids), info=info)


async def test_without_result_info_a_short_page_ends_the_walk() -> None:
    """No result_info: one page at a time, until a page shorter than per_page."""
    fetch, asked = listing_of({1: page(1, 1, 2), 2: page(2, 3, 4), 3: page(3, 5)})
    assert await read_all(fetch) == [f"{n:032x}" for n in (1, 2, 3, 4, 5)]
    assert asked == [1, 2, 3]


async def test_without_result_info_an_empty_page_ends_the_walk() -> None:
    """No result_info and a full last page: the next, empty page ends the walk."""
    fetch, asked = listing_of({1: page(1, 1, 2), 2: page(2)})
    assert await read_all(fetch) == [f"{n:032x}" for n in (1, 2)]
    assert asked == [1, 2]


async def test_an_empty_page_before_total_pages_ends_the_walk() -> None:
    """The listing shrank: an empty page ends it, whatever total_pages said; an account
    listed twice (shifted to the next page) is yielded once."""
    info = ListingInfo(total_pages=5)
    fetch, _ = listing_of(
        {1: page(1, 1, 2, info=info), 2: page(2, 2, 3), 3: page(3), 4: page(4, 9), 5: page(5)}
    )
    assert await read_all(fetch, read_ahead=1) == [f"{n:032x}" for n in (1, 2, 3)]


async def test_a_failed_page_is_raised_in_order() -> None:
    """A page that fails raises its error after the pages before it."""
    info = ListingInfo(total_count=6, per_page=2)
    fetch, _ = listing_of(
        {1: page(1, 1, 2, info=info), 2: page(2, 3, 4), 3: ServerError("HTTP 503", status=503)}
    )
    got: list[str] = []
    from asyncinvoices._http.counts import RequestCounts
    from asyncinvoices._streams.accounts import AccountStream

    async with anyio.create_task_group() as tg:
        stream = AccountStream(
            spawn=lambda f: tg.start_soon(f),
            fetch=fetch,
            counts=RequestCounts(),
            per_page=2,
            read_ahead=4,
            on_progress=None,
            clock=anyio.current_time,
        )

        async def collect() -> None:
            async with stream:
                async for a in stream:
                    got.append(a.id)

        with pytest.raises(ServerError, match=r"^HTTP 503$"):
            await collect()
    assert got == [f"{n:032x}" for n in (1, 2, 3, 4)]
    assert stream.total_count == 6
