"""Bounds on `created`: since (inclusive) and until (exclusive), through the client."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from pathlib import Path

import pytest

from asyncinvoices import ConfigurationError, Invoice, InvoiceClient
from asyncinvoices._cli._app import run_async
from asyncinvoices.testing import FakeCloudflare, Fault

pytestmark = pytest.mark.anyio


def client_for(fake: FakeCloudflare, **kwargs: object) -> InvoiceClient:
    """A client pointed at the fake server."""
    return InvoiceClient(api_token=fake.api_token, base_url=fake.base_url, **kwargs)  # type: ignore[arg-type]


async def every_invoice(fake: FakeCloudflare) -> list[Invoice]:
    """The whole account, as a full walk sees it."""
    async with client_for(fake, per_page=100) as client:
        return await client.list_invoices(fake.account_id)


async def test_since_returns_exactly_the_newer_invoices_with_fewer_requests() -> None:
    """since on a 5,000-invoice account: exactly the invoices at or after it, few requests."""
    async with FakeCloudflare(invoices=5000) as fake:
        everything = await every_invoice(fake)
        bound = everything[120].created
        assert bound is not None
        fake.reset_counters()
        async with client_for(fake, per_page=50, max_concurrency=4, read_ahead=2) as client:
            async with client.invoices(fake.account_id, since=bound) as stream:
                got = [invoice.id async for invoice in stream]
        expected = [i.id for i in everything if i.created is not None and i.created >= bound]
        assert got == expected
        # Three pages hold the invoices wanted (121 of them at 50 a page): the walk stops
        # after the page that ends before the bound and the read-ahead started beyond it.
        assert len(fake.requests) <= 3 + 2
        assert len(fake.requests) < 100
        assert stream.stats.unordered is False


async def test_until_is_exclusive_and_both_bounds_together() -> None:
    """until excludes its own instant; since and until select the span between them."""
    async with FakeCloudflare(invoices=400) as fake:
        everything = await every_invoice(fake)
        newer, older = everything[30].created, everything[250].created
        assert newer is not None
        assert older is not None
        async with client_for(fake, per_page=20) as client:
            until = await client.list_invoices(fake.account_id, until=newer)
            both = await client.list_invoices(fake.account_id, since=older, until=newer)
    assert [i.id for i in until] == [
        i.id for i in everything if i.created is not None and i.created < newer
    ]
    assert [i.id for i in both] == [
        i.id for i in everything if i.created is not None and older <= i.created < newer
    ]


async def test_resume_with_since_continues_after_the_last_invoice() -> None:
    """A walk with since, broken off and resumed with the same bound, yields each invoice once."""
    async with FakeCloudflare(invoices=1000) as fake:
        everything = await every_invoice(fake)
        bound = everything[500].created
        assert bound is not None
        expected = [i.id for i in everything if i.created is not None and i.created >= bound]
        async with client_for(fake, per_page=30) as client:
            async with client.invoices(fake.account_id, since=bound) as stream:
                first = []
                async for invoice in stream:
                    first.append(invoice.id)
                    if len(first) == 77:
                        break
                saved = stream.checkpoint()
            assert saved["since"] == bound.isoformat()
            with pytest.raises(ConfigurationError, match="resume with the same bounds"):
                client.invoices(fake.account_id, resume=saved)
            async with client.invoices(fake.account_id, since=bound, resume=saved) as stream:
                rest = [invoice.id async for invoice in stream]
    assert first + rest == expected


async def test_bounds_are_validated_before_any_request() -> None:
    """A naive datetime, or since not before until, is refused at once, with no request."""
    aware = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    async with FakeCloudflare(invoices=10) as fake:
        async with client_for(fake) as client:
            with pytest.raises(ConfigurationError, match="since must be a datetime with a time"):
                client.invoices(fake.account_id, since=dt.datetime(2025, 1, 1))
            with pytest.raises(ConfigurationError, match="since must be before until"):
                client.invoices(fake.account_id, since=aware, until=aware)
        assert fake.requests == []


async def test_a_server_not_ordered_by_created_is_walked_whole_and_filtered() -> None:
    """An invoice newer than the one before it: every page is fetched, filtered, and said so."""
    async with FakeCloudflare(invoices=300) as fake:
        everything = await every_invoice(fake)
        bound = everything[40].created
        assert bound is not None
        fake.reset_counters()
        # Page 2's first invoice claims to be the newest of all: the order is not by created.
        newest = everything[0].created
        assert newest is not None
        fake.add_fault(Fault.wrong_type("created", int(newest.timestamp()) + 10, page=2))
        async with client_for(fake, per_page=25) as client:
            async with client.invoices(fake.account_id, since=bound) as stream:
                got = [invoice async for invoice in stream]
        assert stream.stats.unordered is True
        assert max(r.page or 0 for r in fake.requests) == 12  # every page, 300 / 25
        assert all(i.created is not None and i.created >= bound for i in got)


async def test_cli_fetch_since_and_until(tmp_path: Path) -> None:
    """fetch --since/--until writes exactly the invoices in the span, bounds in UTC."""
    async with FakeCloudflare(invoices=300) as fake:
        everything = await every_invoice(fake)
        newer, older = everything[20].created, everything[90].created
        assert newer is not None
        assert older is not None
        out = tmp_path / "span.jsonl"
        argv = [
            "fetch",
            fake.account_id,
            "--base-url",
            fake.base_url,
            "--since",
            older.isoformat(),
            "--until",
            newer.replace(tzinfo=None).isoformat(),  # no zone: UTC
            "-o",
            str(out),
        ]
        err = io.StringIO()
        code = await run_async(
            argv, stdout=io.StringIO(), stderr=err, environ={"CLOUDFLARE_API_TOKEN": fake.api_token}
        )
    assert code == 0
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert ids == [i.id for i in everything if i.created is not None and older <= i.created < newer]


async def test_cli_refuses_a_malformed_date() -> None:
    """--since yesterday is refused with exit 2 and an example of what is expected."""
    err = io.StringIO()
    argv = ["fetch", "a" * 32, "--since", "yesterday"]
    assert await run_async(argv, stdout=io.StringIO(), stderr=err, environ={}) == 2
    assert "expected a date such as 2025-01-31" in err.getvalue()


async def test_without_bounds_the_order_is_neither_followed_nor_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Invoices without a creation time (mixed shapes) raise no warning when nothing is bounded."""
    async with FakeCloudflare(invoices=300, shapes="mixed") as fake:
        assert any(values["created"] is None for values in fake.expected_invoices())
        with caplog.at_level(logging.WARNING, logger="asyncinvoices"):
            async with client_for(fake, per_page=50) as client:
                async with client.invoices(fake.account_id) as stream:
                    ids = [invoice.id async for invoice in stream]
        assert ids == [values["id"] for values in fake.expected_invoices()]
    assert stream.stats.unordered is False
    assert [r.getMessage() for r in caplog.records] == []
