"""The quota promise: whatever happens on the wire, the server never counts more than allowed.

Each test runs a walk against a FakeCloudflare whose own sliding-window limit is the quota
under test, so that a request the client did not count shows up as a real 429.
"""

from __future__ import annotations

import logging
from decimal import Decimal

import anyio
import pytest

from asyncinvoices import InvoiceClient, RateLimit, RateWait
from asyncinvoices.testing import FakeCloudflare, Fault

pytestmark = pytest.mark.anyio


async def test_resets_and_faults_never_push_the_server_over_its_quota() -> None:
    """Resets (each silently re-sent by aiohttp) and 5xx under a quota of 30 per 2 s: no 429.

    Every request the server saw was admitted by the governor and counted in the stats.
    """
    faults = [
        Fault.reset(request=3),
        Fault.reset(request=31),
        Fault.reset(request=32),
        Fault.status(502, request=40),
        Fault.status(503, request=45),
        Fault.reset(request=61),
    ]
    async with FakeCloudflare(
        invoices=700, rate_limit=(30, 2.0), block_seconds=30.0, faults=faults
    ) as fake:
        async with InvoiceClient(
            api_token=fake.api_token,
            base_url=fake.base_url,
            per_page=10,
            max_concurrency=8,
            rate_limit=RateLimit(requests=30, window=2.0),
        ) as client:
            with anyio.fail_after(30):
                async with client.invoices(fake.account_id) as stream:
                    ids = [invoice.id async for invoice in stream]
    assert ids == fake.ids()
    statuses = [r.status for r in fake.requests]
    assert 429 not in statuses
    assert [i.kind for i in fake.injected].count("reset") == 4
    # 70 pages and 6 failed attempts. A reset is sent again by aiohttp itself (request 3 by
    # request 4, 31 by 32); when that fails too (32), the client retries (33). Every one of
    # them took a place in the window and is counted.
    assert len(fake.requests) == 70 + 6
    assert stream.stats.requests == len(fake.requests)
    assert stream.stats.retries == 6
    assert client._fetcher.totals.requests == len(fake.requests)


@pytest.mark.parametrize("window", [0.5, 2.0])
async def test_a_stricter_policy_paces_the_walk_with_its_own_window(window: float) -> None:
    """A server policy of 6 per `window` s is adopted with its window: paced, no stall, no 429.

    With 6 per 2 s, 30 pages take about 10 s (the old governor kept 6 per 300 s: it stalled).
    """
    async with FakeCloudflare(invoices=300, rate_limit=(6, window), block_seconds=30.0) as fake:
        async with InvoiceClient(
            api_token=fake.api_token, base_url=fake.base_url, per_page=10, max_concurrency=4
        ) as client:
            began = anyio.current_time()
            with anyio.fail_after(20 * window):
                ids = [i.id for i in await client.list_invoices(fake.account_id)]
            elapsed = anyio.current_time() - began
            assert client.governor.window is not None
            assert client.governor.window.limits == ((1200, 300.0), (6, window))
    assert ids == fake.ids()
    assert [r.status for r in fake.requests] == [200] * 30
    # 30 requests at 6 per window: the last batch cannot start before four windows passed.
    # (The old governor kept 6 per 300 s: the fail_after above is what catches a stall.)
    assert elapsed >= 4 * window


async def test_waits_are_reported_to_on_wait_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A full quota calls on_wait with the wait's length and reason, and logs it at INFO."""
    waits: list[RateWait] = []
    async with FakeCloudflare(invoices=70, rate_limit=None) as fake:
        async with InvoiceClient(
            api_token=fake.api_token,
            base_url=fake.base_url,
            per_page=10,
            max_concurrency=1,
            rate_limit=RateLimit(requests=3, window=1.2),
            on_wait=waits.append,
        ) as client:
            with caplog.at_level(logging.INFO, logger="asyncinvoices"):
                ids = [i.id for i in await client.list_invoices(fake.account_id)]
    assert ids == fake.ids()
    # Pages 1-3 go at once; page 4 waits for page 1's place, 7 for page 4's: about 1.2 s
    # each. Pages 5 and 6 follow 4 within milliseconds, if they wait at all.
    notable = [w for w in waits if w.seconds > 0.5]
    assert [(w.reason, w.page) for w in notable] == [("quota", 4), ("quota", 7)]
    assert all(1.0 < w.seconds <= 1.2 for w in notable)
    notes = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(notes) == 2
    assert notes[0].startswith("page 4: waiting 1.")
    assert notes[0].endswith(" s for the rate limit (quota)")


async def test_retry_after_is_reported_as_such() -> None:
    """A 429 with Retry-After pauses every request and is reported with reason retry-after."""
    waits: list[RateWait] = []
    async with FakeCloudflare(
        invoices=30, faults=[Fault.status(429, retry_after=1, request=2)]
    ) as fake:
        async with InvoiceClient(
            api_token=fake.api_token,
            base_url=fake.base_url,
            per_page=10,
            max_concurrency=1,
            read_ahead=0,
            on_wait=waits.append,
        ) as client:
            ids = [i.id for i in await client.list_invoices(fake.account_id)]
    assert ids == fake.ids()
    assert [(w.reason, w.page) for w in waits] == [("retry-after", 2)]
    assert 0.9 < waits[0].seconds <= 1.0


def test_public_classes_name_the_public_module() -> None:
    """Exceptions print as asyncinvoices.X, the name users import; models still resolve hints."""
    import typing

    import asyncinvoices

    assert repr(asyncinvoices.AuthenticationError) == "<class 'asyncinvoices.AuthenticationError'>"
    assert asyncinvoices.RateLimitError.__module__ == "asyncinvoices"
    assert typing.get_type_hints(asyncinvoices.Invoice)["amount_due"] is Decimal
    assert typing.get_type_hints(asyncinvoices.RateWait)["seconds"] is float


async def test_plain_for_over_a_stream_says_how_to_iterate() -> None:
    """`for x in stream` without async raises a TypeError that names `async for`."""
    async with FakeCloudflare(invoices=5) as fake:
        async with InvoiceClient(api_token=fake.api_token, base_url=fake.base_url) as client:
            stream = client.invoices(fake.account_id)
            with pytest.raises(
                TypeError, match="InvoiceStream is an async iterator: use 'async for'"
            ):
                for _ in stream:
                    pass
            await stream.aclose()
            pages = client.pages(fake.account_id)
            with pytest.raises(TypeError, match="PageStream is an async iterator"):
                list(pages)
            await pages.aclose()
