"""The fake's realistic history and its oldest-first order."""

from __future__ import annotations

import collections
import datetime as dt

import pytest

from asyncinvoices import InvoiceClient
from asyncinvoices.testing import FakeCloudflare

pytestmark = pytest.mark.anyio

END = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
RECENT = dt.timedelta(days=3)


async def test_a_realistic_history_spreads_three_years_mostly_paid() -> None:
    """Newest first over three years up to history_end; open ones recent, a few void."""
    async with FakeCloudflare(2000, seed=0, history="realistic") as fake:
        invoices = fake.expected_invoices()

    created = [i["created"] for i in invoices]
    assert fake.history_end == END
    assert created == sorted(created, reverse=True)
    assert END - dt.timedelta(days=3 * 365) <= created[-1] < created[0] < END
    assert collections.Counter(i["status"] for i in invoices) == {
        "paid": 1930,
        "void": 69,
        "open": 1,
    }
    assert all(END - i["created"] < RECENT for i in invoices if i["status"] == "open")
    paid = [i for i in invoices if i["status"] == "paid"]
    assert all(i["amount_remaining"] == 0 and i["amount_paid"] == i["amount_due"] for i in paid)


async def test_now_and_then_an_account_has_one_old_invoice_still_open() -> None:
    """Seed 4: one invoice of more than six months still open, the rest settled."""
    async with FakeCloudflare(2000, seed=4, history="realistic") as fake:
        invoices = fake.expected_invoices()

    old_open = [
        (n, i["created"].date())
        for n, i in enumerate(invoices)
        if i["status"] not in ("paid", "void") and END - i["created"] >= RECENT
    ]
    assert old_open == [(418, dt.date(2026, 4, 16))]


async def test_invoices_created_later_follow_the_history_one_a_minute() -> None:
    """create_invoices: newest first, a minute apart after history_end, recent statuses."""
    async with FakeCloudflare(100, seed=0, history="realistic") as fake:
        new = fake.create_invoices(3)
        invoices = fake.expected_invoices()

    assert [i["id"] for i in invoices[:3]] == new
    assert [i["created"] for i in invoices[:3]] == [
        END + dt.timedelta(minutes=3),
        END + dt.timedelta(minutes=2),
        END + dt.timedelta(minutes=1),
    ]


async def test_the_uniform_history_is_unchanged_by_default() -> None:
    """Existing seeds keep their data: the default history starts on 2023-01-01."""
    async with FakeCloudflare(3, seed=7) as fake:
        assert (fake.history, fake.order) == ("uniform", "newest")
        created = [i["created"] for i in fake.expected_invoices()]
    assert [c.date() for c in created] == [
        dt.date(2023, 1, 3),
        dt.date(2023, 1, 2),
        dt.date(2023, 1, 1),
    ]


async def test_oldest_first_lists_the_same_invoices_reversed() -> None:
    """order="oldest": pages run from the oldest invoice; a client gets them in that order."""
    async with FakeCloudflare(120, seed=0, history="realistic") as newest:
        expected = list(reversed(newest.ids()))
    async with (
        FakeCloudflare(120, seed=0, history="realistic", order="oldest") as fake,
        InvoiceClient(api_token=fake.api_token, base_url=fake.base_url, per_page=50) as client,
    ):
        got = [i.id async for i in client.invoices(fake.account_id)]
        assert fake.ids() == expected

    assert got == expected


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"history": "recent"}, "history must be one of ('uniform', 'realistic'), got 'recent'"),
        ({"order": "random"}, "order must be one of ('newest', 'oldest'), got 'random'"),
    ],
)
def test_unknown_history_or_order_is_refused(option: dict[str, str], message: str) -> None:
    """A ValueError naming the choices."""
    with pytest.raises(ValueError, match="must be one of") as caught:
        FakeCloudflare(10, **option)  # type: ignore[arg-type]
    assert str(caught.value) == message
