"""Load: fifty concurrent streams on one client (one governor, one connection pool).

Against a FakeCloudflare whose rate limit is scaled down from 1,200 per five minutes to 100
per second, with the client's quota set to the same: every stream completes with its exact
sequence, no 429 is provoked, the in-flight peak never exceeds ``max_concurrency``, and every
stream makes progress early (nobody is starved until the others are done).
"""

from __future__ import annotations

import anyio
import pytest

from asyncinvoices import InvoiceClient, RateLimit
from asyncinvoices.testing import FakeCloudflare

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("instant_backoff")]

STREAMS = 50
QUOTA, WINDOW = 100, 1.0
CONCURRENCY = 8


async def test_fifty_streams_share_one_client_fairly() -> None:
    """50 streams, one client: exact, no 429, peak <= max_concurrency, all progress early."""
    async with FakeCloudflare(
        invoices=40, rate_limit=(QUOTA, WINDOW), latency=0.004, jitter=0.003, seed=9
    ) as fake:
        accounts = [fake.add_account(invoices=20 + 7 * n, seed=100 + n) for n in range(STREAMS)]
        results: dict[str, list[str | None]] = {}
        first: dict[str, float] = {}
        last: dict[str, float] = {}
        async with InvoiceClient(
            api_token=fake.api_token,
            base_url=fake.base_url,
            per_page=25,
            max_concurrency=CONCURRENCY,
            rate_limit=RateLimit(requests=QUOTA, window=WINDOW),
        ) as client:
            started = anyio.current_time()

            async def walk(account: str, slow: bool) -> None:
                ids: list[str | None] = []
                async with client.invoices(account) as stream:
                    async for invoice in stream:
                        if not ids:
                            first[account] = anyio.current_time() - started
                        ids.append(invoice.id)
                        if slow:
                            await anyio.sleep(0.001)  # a slow consumer holds only its own walk
                last[account] = anyio.current_time() - started
                results[account] = ids

            with anyio.fail_after(30):
                async with anyio.create_task_group() as group:
                    for n, account in enumerate(accounts):
                        group.start_soon(walk, account, n % 5 == 0)
        elapsed = anyio.current_time() - started

        for account in accounts:
            assert results[account] == fake.ids(account)
        statuses = [r.status for r in fake.requests]
        assert 429 not in statuses
        assert set(statuses) == {200}
        assert fake.peak_in_flight <= CONCURRENCY
        pages = sum(-(-(20 + 7 * n) // 25) for n in range(STREAMS))
        assert len(fake.requests) == pages
    # The quota is the bottleneck: the run cannot be faster than the window allows.
    assert elapsed >= (pages - QUOTA) / QUOTA * WINDOW
    # Fair admission: every stream has its first invoice before a third of the run is over,
    # and no stream waits for all the others to finish first.
    assert max(first.values()) < elapsed / 3
    assert min(last.values()) < elapsed * 0.9


async def test_streams_on_one_client_make_progress_while_one_is_stuck() -> None:
    """A stream whose consumer stops reading does not hold the others back."""
    async with FakeCloudflare(invoices=300, seed=4) as fake:
        others = [fake.add_account(invoices=120, seed=50 + n) for n in range(10)]
        async with InvoiceClient(
            api_token=fake.api_token, base_url=fake.base_url, per_page=10, max_concurrency=4
        ) as client:
            stuck = client.invoices(fake.account_id)
            async with stuck:
                await stuck.__anext__()  # then never read again

                async def walk(account: str) -> list[str | None]:
                    async with client.invoices(account) as stream:
                        return [invoice.id async for invoice in stream]

                with anyio.fail_after(10):
                    for account in others:
                        assert await walk(account) == fake.ids(account)
        await fake.wait_idle()
