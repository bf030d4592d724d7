"""shapes="mixed": every invoice shape the schema allows, served identically, read exactly."""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
from decimal import Decimal
from typing import Any

import aiohttp
import anyio
import attrs
import pytest

from asyncinvoices import InvoiceClient, InvoiceType
from asyncinvoices.testing import FakeCloudflare
from asyncinvoices.testing._cli import serve
from asyncinvoices.testing._shapes import OPTIONAL, Reshape, apply, choose, expected

pytestmark = pytest.mark.anyio

_TIDY = (
    '{"id":"in_1","amount_due":1200,"amount_paid":640.19,"amount_remaining":0,'
    '"attempt_count":1,"attempted":true,"auto_advance":false,"created":1672531200,'
    '"created_by":"system","currency":"usd","description":"d","invoice_origin":"auto_top_up",'
    '"invoice_pdf":"https://x/pdf","status":"paid"}'
)


@pytest.fixture
def anyio_backend() -> str:
    """aiohttp runs on asyncio only."""
    return "asyncio"


def invoices_as_sent(body: bytes) -> list[Any]:
    """The invoices of a page as ``(key, value)`` pairs in the order sent, numbers as text."""
    envelope = dict(json.loads(body, object_pairs_hook=list, parse_float=str, parse_int=str))
    result: list[Any] = dict(envelope["result"])["invoices"]
    return result


# ------------------------------------------------------------------ sans-I/O


def test_every_form_keeps_the_values_equivalent() -> None:
    """Each reshaping writes the same values in another valid form."""
    reshape = Reshape(float_counts=True, created="iso", float_amounts=True, unknown=True)
    assert json.loads(apply(reshape, _TIDY), parse_float=Decimal) == {
        "id": "in_1",
        "amount_due": Decimal("1200.0"),
        "amount_paid": Decimal("640.19"),
        "amount_remaining": Decimal("0.0"),
        "attempt_count": Decimal("1.0"),
        "attempted": True,
        "auto_advance": False,
        "created": "2023-01-01T00:00:00Z",
        "created_by": "system",
        "currency": "usd",
        "description": "d",
        "invoice_origin": "auto_top_up",
        "invoice_pdf": "https://x/pdf",
        "status": "paid",
        "livemode": False,
        "metadata": {"gateway": "default", "source": "api"},
    }
    text = apply(Reshape(created="float", absent="status", null="id"), _TIDY)
    assert text.startswith('{"id":null,"amount_due":1200,"amount_paid":640.19,')
    assert '"created":1672531200.0,' in text
    assert '"status"' not in text


def test_expected_values_follow_from_the_choice() -> None:
    """What a client must make of an invoice: exact amounts, aware UTC time, None for what
    was left out or null, unknown fields in extra."""
    values = expected(Reshape(absent="status", null="created_by", unknown=True), _TIDY)
    assert values == {
        "amount_due": Decimal(1200),
        "amount_paid": Decimal("640.19"),
        "amount_remaining": Decimal(0),
        "currency": "usd",
        "id": "in_1",
        "attempt_count": 1,
        "attempted": True,
        "auto_advance": False,
        "created": dt.datetime(2023, 1, 1, tzinfo=dt.timezone.utc),
        "created_by": None,
        "description": "d",
        "invoice_origin": "auto_top_up",
        "invoice_pdf": "https://x/pdf",
        "status": None,
        "extra": {"livemode": False, "metadata": {"gateway": "default", "source": "api"}},
    }
    assert expected(None, _TIDY)["extra"] == {}


def test_choice_is_a_third_and_never_a_no_op() -> None:
    """Choice bytes below 86 reshape; a reshape with no other change adds unknown fields."""
    assert choose(bytes([86, 0xFF, 0, 0])) is None
    assert choose(bytes([85, 0, 0, 0])) == Reshape(unknown=True)
    assert choose(bytes([0, 0x3F, 3, 3])) == Reshape(
        float_counts=True,
        created="iso",
        float_amounts=True,
        absent=OPTIONAL[3],
        null=None,  # the same field cannot be both left out and null
        unknown=False,
    )


def test_shapes_must_be_known() -> None:
    """An unknown shapes value is refused when the server is built."""
    with pytest.raises(ValueError, match=r"^shapes must be one of \('plain', 'mixed'\), got 'x'$"):
        FakeCloudflare(shapes="x")


def test_a_third_of_the_invoices_take_other_shapes() -> None:
    """With seed 0, 96 of 300 invoices differ from the tidy ones, in every allowed form."""
    plain, mixed = FakeCloudflare(300).invoices(), FakeCloudflare(300, shapes="mixed").invoices()
    assert FakeCloudflare(300).ids() == FakeCloudflare(300, shapes="mixed").ids()
    # repr, not ==: 1.0 == 1, and an invoice whose only change is 1.0 for 1 differs too.
    assert sum(repr(a) != repr(b) for a, b in zip(plain, mixed, strict=True)) == 96
    assert {name for invoice in mixed for name in OPTIONAL if name not in invoice} == set(OPTIONAL)
    assert {name for invoice in mixed for name in OPTIONAL if invoice.get(name, 0) is None} == (
        set(OPTIONAL)
    )
    assert {type(invoice.get("created")).__name__ for invoice in mixed} == {
        "int",
        "Decimal",
        "str",
        "NoneType",
    }
    assert Decimal("1.0") in {invoice.get("attempt_count") for invoice in mixed}
    assert sum("livemode" in invoice for invoice in mixed) == 50
    assert (
        FakeCloudflare(300).expected_invoices()
        != FakeCloudflare(300, shapes="mixed").expected_invoices()
    )


# ------------------------------------------------------------------ over HTTP


async def test_the_same_invoice_is_served_identically() -> None:
    """An invoice's JSON text is the same on every request and whatever page holds it."""
    async with FakeCloudflare(200, shapes="mixed") as fake:
        headers = {"Authorization": f"Bearer {fake.api_token}"}
        pages: list[list[Any]] = []
        async with aiohttp.ClientSession() as session:
            for query in (
                {"per_page": "100"},
                {"per_page": "50", "page": "2"},
                {"per_page": "100"},
            ):
                async with session.get(fake.url_for(), params=query, headers=headers) as response:
                    pages.append(invoices_as_sent(await response.read()))
    assert len(pages[0]) == 100
    assert pages[0] == pages[2]
    assert pages[1] == pages[0][50:100]


@pytest.mark.parametrize("type", ["all", "auto", "manual"])
async def test_client_reads_every_shape_exactly(type: InvoiceType) -> None:
    """InvoiceClient fetches a mixed-shape account and gets exactly the expected values."""
    async with FakeCloudflare(300, shapes="mixed", seed=7) as fake:
        async with InvoiceClient(
            api_token=fake.api_token, base_url=fake.base_url, per_page=40
        ) as client:
            invoices = await client.list_invoices(fake.account_id, type=type)
        expected_values = fake.expected_invoices(type=type)
    assert [attrs.asdict(i, recurse=False) for i in invoices] == expected_values
    assert len(invoices) == len(fake.ids(type=type))


async def test_expected_invoices_of_a_plain_account_are_the_served_values() -> None:
    """For the tidy shape, expected_invoices is the served JSON made structured."""
    fake = FakeCloudflare(50)
    for raw, values in zip(fake.invoices(), fake.expected_invoices(), strict=True):
        assert values == {
            **{name: raw[name] for name in raw},
            "amount_due": Decimal(raw["amount_due"]),
            "amount_paid": Decimal(raw["amount_paid"]),
            "amount_remaining": Decimal(raw["amount_remaining"]),
            "created": dt.datetime.fromtimestamp(raw["created"], tz=dt.timezone.utc),
            "extra": {},
        }


async def test_standalone_server_serves_mixed_shapes() -> None:
    """serve(shapes="mixed") (``--shapes mixed``) serves what FakeCloudflare(shapes=...) does."""
    async with anyio.create_task_group() as group:
        info = await group.start(
            functools.partial(
                serve, invoices=40, shapes="mixed", rate_limit=None, out=io.StringIO()
            )
        )
        headers = {"Authorization": f"Bearer {info['api_token']}"}
        url = f"{info['base_url']}/accounts/{info['account_id']}/ai-gateway/billing/invoice-history"
        async with aiohttp.ClientSession() as session:
            async with session.get(url, params={"per_page": "40"}, headers=headers) as response:
                body = json.loads(await response.read(), parse_float=Decimal)
        group.cancel_scope.cancel()
    assert body["result"]["invoices"] == FakeCloudflare(40, shapes="mixed").invoices()
