"""GET /accounts and many accounts on one fake: listing, paging, filters, access, faults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from asyncinvoices.testing import FakeCloudflare, Fault, InjectedFault
from asyncinvoices.testing._listing import AccountInfo, ListingQuery, listing_body

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """aiohttp runs on asyncio only."""
    return "asyncio"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session."""
    async with aiohttp.ClientSession() as session:
        yield session


async def listing(
    session: aiohttp.ClientSession, fake: FakeCloudflare, **params: Any
) -> tuple[int, Any]:
    """GET /accounts with valid credentials; return status and JSON body."""
    headers = {"Authorization": f"Bearer {fake.api_token}"}
    query = {key: str(value) for key, value in params.items()}
    async with session.get(fake.base_url + "/accounts", params=query, headers=headers) as r:
        return r.status, await r.json()


def names(body: Any) -> list[str]:
    return [account["name"] for account in body["result"]]


# ------------------------------------------------------------------ sans-I/O


def test_listing_body_is_a_list_with_result_info() -> None:
    """result is a list of accounts; paging is in result_info only, with no has_more."""
    accounts = [
        AccountInfo(id="a" * 32, name="b", type="standard", created_on=1_393_676_462),
        AccountInfo(id="c" * 32, name="a", type="enterprise", created_on=0, readable=False),
    ]
    assert listing_body(accounts, ListingQuery(per_page=5)) == (
        b'{"success":true,"errors":[],"messages":[],"result":[{"id":"'
        + b"a" * 32
        + b'","name":"b","type":"standard","settings":{"enforce_twofactor":false,'
        b'"api_access_enabled":null,"use_account_custom_ns_by_default":false,'
        b'"abuse_contact_email":null},"created_on":"2014-03-01T12:21:02.0000Z"}],'
        b'"result_info":{"page":1,"per_page":5,"count":1,"total_count":1,"total_pages":1}}'
    )


# ------------------------------------------------------------------ over HTTP


async def test_accounts_each_with_their_own_invoices(session: aiohttp.ClientSession) -> None:
    """accounts=N with one invoice count per account: N listed accounts, each its own data."""
    async with FakeCloudflare([3, 0, 7], accounts=3) as fake:
        assert fake.account_ids[0] == fake.account_id
        assert [len(fake.ids(account)) for account in fake.account_ids] == [3, 0, 7]
        status, body = await listing(session, fake)
    assert status == 200
    assert [account["id"] for account in body["result"]] == fake.account_ids
    assert names(body) == ["Account 0", "Account 1", "Account 2"]
    assert body["result_info"] == {
        "page": 1,
        "per_page": 20,
        "count": 3,
        "total_count": 3,
        "total_pages": 1,
    }


def test_invoice_counts_must_match_the_accounts() -> None:
    """A sequence of invoice counts needs one count per account; accounts >= 1."""
    with pytest.raises(ValueError, match=r"^expected 2 invoice counts, one per account, got 3$"):
        FakeCloudflare([1, 2, 3], accounts=2)
    with pytest.raises(ValueError, match=r"^accounts must be >= 1, got 0$"):
        FakeCloudflare(accounts=0)


async def test_paging_and_direction(session: aiohttp.ClientSession) -> None:
    """per_page splits the list into total_pages pages; desc reverses the name order."""
    async with FakeCloudflare(1, accounts=12) as fake:
        pages = [await listing(session, fake, per_page=5, page=page) for page in (1, 2, 3, 4)]
        _, backwards = await listing(session, fake, per_page=5, page=1, direction="desc")
    everything = sorted(f"Account {n}" for n in range(12))
    assert [names(body) for _, body in pages] == [
        everything[:5],
        everything[5:10],
        everything[10:],
        [],  # past the end: success with an empty list
    ]
    assert [body["result_info"]["count"] for _, body in pages] == [5, 5, 2, 0]
    assert {body["result_info"]["total_pages"] for _, body in pages} == {3}
    assert names(backwards) == everything[::-1][:5]


async def test_name_filter_and_unreadable_accounts(session: aiohttp.ClientSession) -> None:
    """name= filters by exact name; an account the token may not read is never listed and
    its invoice history answers 403 / 10000."""
    async with FakeCloudflare(2, accounts=2) as fake:
        hidden = fake.add_account(5, name="Hidden", readable=False)
        shop = fake.add_account(5, name="Shop")
        _, body = await listing(session, fake, name="Shop")
        _, none = await listing(session, fake, name="Hidden")
        _, every = await listing(session, fake)
        headers = {"Authorization": f"Bearer {fake.api_token}"}
        async with session.get(fake.url_for(hidden), headers=headers) as response:
            refused = (response.status, await response.json())
    assert [account["id"] for account in body["result"]] == [shop]
    assert none["result"] == []
    assert none["result_info"]["total_count"] == 0
    assert names(every) == ["Account 0", "Account 1", "Shop"]
    assert refused == (
        403,
        {
            "success": False,
            "errors": [{"code": 10000, "message": "Authentication error"}],
            "messages": [],
            "result": None,
        },
    )
    assert fake.account_ids == [*fake.account_ids[:2], hidden, shop]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"per_page": 51}, "per_page variable must be a number between 5 and 50"),
        ({"per_page": 4}, "per_page variable must be a number between 5 and 50"),
        ({"per_page": "2.0"}, "per_page variable must be a number between 5 and 50"),
        ({"page": 0}, "page variable must be a number greater than or equal to 1"),
        ({"direction": "up"}, "direction must be one of: asc, desc"),
    ],
)
async def test_out_of_range_queries_are_rejected(
    session: aiohttp.ClientSession, params: dict[str, Any], message: str
) -> None:
    """Out-of-range paging or order is refused with 400 / 6008 + 11000, not clamped."""
    async with FakeCloudflare(1) as fake:
        status, body = await listing(session, fake, **params)
    assert (status, body["errors"]) == (
        400,
        [
            {
                "code": 6008,
                "message": "Invalid request parameters",
                "error_chain": [{"code": 11000, "message": message}],
            }
        ],
    )


async def test_listing_needs_credentials_and_counts_towards_the_limit(
    session: aiohttp.ClientSession,
) -> None:
    """Without credentials: 400 / 9106. Listing requests share the rate limit."""
    async with FakeCloudflare(1, rate_limit=(2, 60.0)) as fake:
        async with session.get(fake.base_url + "/accounts") as response:
            missing = (response.status, (await response.json())["errors"][0]["code"])
        status, _ = await listing(session, fake)
        limited, body = await listing(session, fake)
        assert [r.endpoint for r in fake.requests] == ["accounts"] * 3
        assert [r.status for r in fake.requests] == [400, 200, 429]
    assert missing == (400, 9106)
    assert (status, limited, body["errors"][0]["code"]) == (200, 429, 971)


async def test_faults_apply_to_the_listing(session: aiohttp.ClientSession) -> None:
    """Faults that need no invoice data apply to the listing, by request, page and attempt;
    invoice-shaping and account-bound faults do not."""
    faults = [
        Fault.total_count(1),  # needs invoice data: never offered to the listing
        Fault.status(503, account_id="0" * 32),  # bound to an account: never the listing
        Fault.status(503, page=2, attempt=1),
        Fault.error_envelope(9109, "Unauthorized to access requested resource", request=1),
    ]
    async with FakeCloudflare(1, accounts=6, faults=faults) as fake:
        first = await listing(session, fake, per_page=5)
        failed = await listing(session, fake, per_page=5, page=2)
        retried = await listing(session, fake, per_page=5, page=2)
        assert fake.injected == [
            InjectedFault(request=1, page=1, attempt=1, kind="error_envelope"),
            InjectedFault(request=2, page=2, attempt=1, kind="status"),
        ]
    assert first == (
        200,
        {
            "success": False,
            "errors": [{"code": 9109, "message": "Unauthorized to access requested resource"}],
            "messages": [],
            "result": None,
        },
    )
    assert failed[0] == 503
    assert (retried[0], names(retried[1])) == (200, ["Account 5"])


async def test_listing_answers_only_get(session: aiohttp.ClientSession) -> None:
    """Another method than GET gets 405 / 10405."""
    async with FakeCloudflare(1) as fake:
        headers = {"Authorization": f"Bearer {fake.api_token}"}
        async with session.post(fake.base_url + "/accounts", headers=headers) as response:
            assert (response.status, (await response.json())["errors"][0]["code"]) == (
                405,
                10405,
            )
