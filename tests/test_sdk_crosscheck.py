"""Cross-check of FakeCloudflare and asyncinvoices against the official `cloudflare` SDK.

The SDK's models are generated from Cloudflare's OpenAPI schema, which nobody here wrote: if
the fake's responses parse with them, and the SDK paging by hand sees the same invoices as
asyncinvoices, the fake stays honest to the schema and the client agrees with both.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import aiohttp
import pydantic
import pytest
from cloudflare import AsyncCloudflare
from cloudflare.types.ai_gateway import BillingInvoiceHistoryResponse

from asyncinvoices import Invoice, InvoiceClient
from asyncinvoices.testing import FakeCloudflare, Fault

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("instant_backoff")]


async def raw_result(fake: FakeCloudflare, **query: Any) -> dict[str, Any]:
    """The `result` object of one response of the fake, as JSON."""
    params = {k: str(v) for k, v in query.items()}
    headers = {"Authorization": f"Bearer {fake.api_token}"}
    async with aiohttp.ClientSession() as session:
        async with session.get(fake.url_for(), params=params, headers=headers) as response:
            assert response.status == 200
            body = json.loads(await response.read())
    assert body["success"] is True
    result: dict[str, Any] = body["result"]
    return result


def same_amount(sdk_value: float, ours: Decimal) -> bool:
    """The SDK's float and our Decimal stand for the same JSON number."""
    return Decimal(repr(sdk_value)) == ours


@pytest.mark.parametrize(
    ("query", "fault"),
    [
        ({}, None),
        ({"page": 2, "per_page": 50}, None),
        ({"page": 3, "per_page": 50, "type": "auto"}, None),
        ({"page": 1, "per_page": 100, "type": "manual"}, None),
        ({"page": 99, "per_page": 50}, None),
        ({"page": 2, "per_page": 50}, Fault.float_numbers()),
        ({"page": 2, "per_page": 50}, Fault.clamp_per_page(7)),
        ({"page": 1, "per_page": 50}, Fault.has_more(False)),
        ({"page": 1, "per_page": 50}, Fault.create(3)),
    ],
)
async def test_successful_responses_parse_with_the_sdk_models(
    query: dict[str, Any], fault: Fault | None
) -> None:
    """Every kind of successful response parses with the SDK's own response model."""
    async with FakeCloudflare(invoices=137, seed=9) as fake:
        if fault is not None:
            fake.add_fault(fault)
        result = await raw_result(fake, **query)
        parsed = BillingInvoiceHistoryResponse.model_validate(result)
    assert [i.id for i in parsed.invoices] == [r["id"] for r in result["invoices"]]
    assert parsed.pagination.total_count == result["pagination"]["total_count"]
    assert parsed.pagination.has_more is result["pagination"]["has_more"]


@pytest.mark.parametrize("fault", [Fault.missing_pagination(), Fault.result_info_only()])
async def test_pagination_pathologies_fall_outside_the_schema(fault: Fault) -> None:
    """The faults that drop result.pagination produce what the SDK's schema rejects."""
    async with FakeCloudflare(invoices=10) as fake:
        fake.add_fault(fault)
        result = await raw_result(fake)
    with pytest.raises(pydantic.ValidationError):
        BillingInvoiceHistoryResponse.model_validate(result)


async def test_sdk_paging_agrees_with_asyncinvoices() -> None:
    """The SDK paging by hand and asyncinvoices see the same invoices and amounts."""
    async with FakeCloudflare(invoices=237, seed=4) as fake:
        sdk_invoices: list[Any] = []
        async with AsyncCloudflare(api_token=fake.api_token, base_url=fake.base_url) as cf:
            page = 1
            while True:
                response = await cf.ai_gateway.billing.invoice_history(
                    account_id=fake.account_id, extra_query={"page": page, "per_page": 50}
                )
                sdk_invoices.extend(response.invoices)
                if not response.pagination.has_more:
                    break
                page += 1
        async with InvoiceClient(api_token=fake.api_token, base_url=fake.base_url) as client:
            ours: list[Invoice] = await client.list_invoices(fake.account_id, per_page=50)
        assert page == 5
        assert [i.id for i in sdk_invoices] == [i.id for i in ours] == fake.ids()
        for theirs, mine in zip(sdk_invoices, ours, strict=True):
            assert same_amount(theirs.amount_due, mine.amount_due)
            assert same_amount(theirs.amount_paid, mine.amount_paid)
            assert same_amount(theirs.amount_remaining, mine.amount_remaining)
            assert theirs.currency == mine.currency
            assert theirs.status == mine.status
            assert mine.created is not None
            assert theirs.created == mine.created.timestamp()


@pytest.mark.parametrize("per_page", [5, 7, 50])
async def test_sdk_account_listing_agrees_with_asyncinvoices(per_page: int) -> None:
    """The SDK's own paging of accounts.list() and InvoiceClient.accounts() see the same
    accounts, names, types and creation times, through the fake's GET /accounts."""
    async with FakeCloudflare(0, accounts=23, seed=2) as fake:
        fake.add_account(0, name="Hidden", readable=False)
        async with AsyncCloudflare(api_token=fake.api_token, base_url=fake.base_url) as cf:
            sdk_accounts = [a async for a in cf.accounts.list(per_page=per_page)]
        async with InvoiceClient(api_token=fake.api_token, base_url=fake.base_url) as client:
            async with client.accounts(per_page=per_page) as stream:
                ours = [a async for a in stream]
        listed = sorted(fake.account_ids[:23], key=lambda a: f"Account {fake.account_ids.index(a)}")
        assert [a.id for a in sdk_accounts] == [a.id for a in ours] == listed
        for theirs, mine in zip(sdk_accounts, ours, strict=True):
            assert (theirs.name, theirs.type) == (mine.name, mine.type)
            assert theirs.created_on == mine.created_on
