"""Waiting is not failing: time held by the governor or a server's pause is not the request's.

A request's timeout starts when it is sent, so a pause longer than the timeout is waited out
without a timeout and without a retry; a run that a block stops says so.
"""

from __future__ import annotations

import io
import re

import pytest

from asyncinvoices import InvoiceClient, RateLimitError
from asyncinvoices._cli import ExitCode, run_async
from asyncinvoices.testing import FakeCloudflare, Fault

pytestmark = pytest.mark.anyio


async def test_pause_from_ratelimit_header_longer_than_timeout_spends_no_retry() -> None:
    """The header says nothing remains for 2 s; the next request waits 2 s with a 0.5 s timeout.

    Before the timeout started at sending, the held request timed out in the gate and was
    retried: here every page is one request, and no 429 reaches the wire.
    """
    async with FakeCloudflare(100, rate_limit=(4, 2.0)) as fake:
        async with InvoiceClient(
            api_token=fake.api_token,
            base_url=fake.base_url,
            rate_limit=None,  # only the server's header holds requests back
            timeout=0.5,
            max_concurrency=1,
            per_page=20,
        ) as client:
            stream = client.invoices(fake.account_id)
            ids = [invoice.id async for invoice in stream]

        assert ids == fake.ids()
        assert [r.status for r in fake.requests] == [200] * 5
        assert [r.page for r in fake.requests] == [1, 2, 3, 4, 5]
        assert (stream.stats.requests, stream.stats.retries) == (5, 0)
        # The fifth request waited for the header's whole pause, well past the timeout.
        assert fake.requests[4].started - fake.requests[3].started >= 2.0


async def test_retry_after_longer_than_timeout_spends_one_retry_only() -> None:
    """A 429 with Retry-After 2 s: only the request answered 429 spends a retry.

    The pages queued behind the pause wait 2 s with a 0.5 s timeout and are sent once each.
    """
    async with FakeCloudflare(
        200, faults=[Fault.status(429, page=2, attempt=1, retry_after=2)], rate_limit=None
    ) as fake:
        async with InvoiceClient(
            api_token=fake.api_token,
            base_url=fake.base_url,
            timeout=0.5,
            max_concurrency=1,
            per_page=20,
        ) as client:
            stream = client.invoices(fake.account_id)
            ids = [invoice.id async for invoice in stream]

        assert ids == fake.ids()
        # Which page goes next after the pause is the scheduler's choice: compare as sorted.
        assert sorted((r.page, r.status) for r in fake.requests) == [
            (1, 200),
            (2, 200),
            (2, 429),
            *((page, 200) for page in range(3, 11)),
        ]
        assert (stream.stats.requests, stream.stats.retries) == (11, 1)


async def test_run_stopped_by_a_block_says_so_with_the_rate_limit_exit_code() -> None:
    """Another client of the same user tripped a 900 s block: the run exits 5 and says why."""
    async with FakeCloudflare(120, rate_limit=(2, 60.0), block_seconds=900.0) as fake:
        # The other tool: three one-shot processes that send without counting trip the block.
        for attempt in range(3):
            async with InvoiceClient(
                api_token=fake.api_token, base_url=fake.base_url, rate_limit=None, max_retries=0
            ) as other:
                if attempt < 2:
                    await other.get_page(fake.account_id, page=1, per_page=50)
                else:
                    with pytest.raises(RateLimitError):
                        await other.get_page(fake.account_id, page=1, per_page=50)
        sent_before = len(fake.requests)
        out, err = io.StringIO(), io.StringIO()
        code = await run_async(
            ["fetch", fake.account_id, "--base-url", fake.base_url],
            stdout=out,
            stderr=err,
            environ={"CLOUDFLARE_API_TOKEN": fake.api_token},
        )

    assert code == ExitCode.RATE_LIMITED == 5
    assert out.getvalue() == ""
    assert [r.status for r in fake.requests[sent_before:]] == [429]
    assert re.fullmatch(
        r"asyncinvoices: rate limited by Cloudflare \(HTTP 429, code 971 Please wait and consider "
        r"throttling your request speed\) \(cf-ray [0-9a-f]+-[A-Z]+\): the block lifts in 900 s, "
        r"at \d\d:\d\d:\d\d UTC; another process or tool using the same Cloudflare user may "
        r"have spent the quota\. Run again then; --shared-quota lets processes share one "
        r"quota, and a lower --rate-limit leaves room for other tools\n",
        err.getvalue(),
    ), err.getvalue()


async def test_governor_keeps_no_more_in_flight_than_the_header_says_remain() -> None:
    """Three on the wire and a header saying four remain: one more starts, the fifth waits.

    The fifth starts once a response brings a header with room again.
    """
    from contextlib import AsyncExitStack

    import anyio

    from asyncinvoices import RateGovernor
    from asyncinvoices._wire.protocol import RateLimitHeader

    governor = RateGovernor(None)
    started: list[int] = []
    async with AsyncExitStack() as held:
        for _ in range(3):
            await held.enter_async_context(governor.slot())
        governor.observe(RateLimitHeader(remaining=4, reset=60.0))
        fourth = await held.enter_async_context(governor.slot())
        assert fourth == 0.0

        async def fifth() -> None:
            async with governor.slot():
                started.append(5)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(fifth)
            await anyio.wait_all_tasks_blocked()
            assert started == []  # four in flight, and the header said four remain
            governor.observe(RateLimitHeader(remaining=5, reset=60.0))
            await anyio.wait_all_tasks_blocked()
            assert started == [5]
