"""Several OS processes on one shared quota, against one fake server that enforces it.

The fake enforces a quota scaled down to 60 requests per 5 s (and a block of 5 s, so that a
failure ends quickly); every process is a real ``asyncinvoices fetch``, with the same token.
With the window shared, in Redis or in a file, no request is answered 429, every output is
exact, and the run takes about the least time the quota allows: 120 requests at 60 per 5 s
cannot take less than 5 s (the second 60 wait for the first to leave the window), and take
at most 1.5 times that. A process killed mid-walk leaves places in flight that only its lease
frees: the others go on with what remains, and none waits past the lease.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
from pathlib import Path

import anyio
import anyio.abc
import pytest

from asyncinvoices.testing import FakeCloudflare

from .redis_server import RedisServer

pytestmark = pytest.mark.anyio

QUOTA, WINDOW = 60, 5.0
PROCESSES, INVOICES, PER_PAGE = 4, 300, 10  # 30 requests a process, 120 in all
# The least time the requests can take: ceil(120 / 60) - 1 windows.
MINIMUM = (math.ceil(PROCESSES * INVOICES / PER_PAGE / QUOTA) - 1) * WINDOW
FACTOR = 1.5
LEASE = 30.0 + WINDOW  # the command line's request timeout plus the window


def store_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        return server.url(3)
    return tmp_path.as_uri()


def command(fake: FakeCloudflare, account_id: str, store: str, key: str) -> list[str]:
    return [
        sys.executable, "-m", "asyncinvoices", "fetch", account_id,
        "--base-url", fake.base_url,
        "--rate-limit", f"{QUOTA}/{WINDOW:g}",
        "--per-page", str(PER_PAGE),
        "--format", "jsonl", "-q",
        "--shared-quota", store, "--quota-key", key,
    ]  # fmt: skip


def environment(fake: FakeCloudflare) -> dict[str, str]:
    return {**os.environ, "CLOUDFLARE_API_TOKEN": fake.api_token}


def ids(jsonl: bytes) -> list[str]:
    return [json.loads(line)["id"] for line in jsonl.decode().splitlines()]


@pytest.mark.parametrize("kind", ["redis", "file"])
async def test_four_processes_share_one_quota_with_no_429(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    async with FakeCloudflare(
        INVOICES, accounts=PROCESSES, rate_limit=(QUOTA, WINDOW), block_seconds=WINDOW,
        latency=0.02,
    ) as fake:  # fmt: skip
        store = store_url(kind, request, tmp_path)
        results: dict[str, tuple[int, bytes, bytes]] = {}

        async def one(account_id: str) -> None:
            done = await anyio.run_process(
                command(fake, account_id, store, f"four-{kind}"),
                env=environment(fake),
                check=False,
            )
            results[account_id] = (done.returncode, done.stdout, done.stderr)

        async with anyio.create_task_group() as tasks:
            for account_id in fake.account_ids:
                tasks.start_soon(one, account_id)

        for account_id in fake.account_ids:
            assert results[account_id][0] == 0, results[account_id][2]
            assert results[account_id][2] == b""
            assert ids(results[account_id][1]) == fake.ids(account_id)
        statuses = [r.status for r in fake.requests]
        assert statuses == [200] * (PROCESSES * INVOICES // PER_PAGE)
        first = min(r.started for r in fake.requests)
        last = max(r.finished or math.inf for r in fake.requests)
        assert MINIMUM <= last - first <= FACTOR * MINIMUM


@pytest.mark.parametrize("kind", ["redis", "file"])
async def test_a_process_killed_mid_walk_neither_trips_nor_stalls_the_others(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    async with FakeCloudflare(
        INVOICES, accounts=PROCESSES, rate_limit=(QUOTA, WINDOW), block_seconds=WINDOW,
        latency=0.3,
    ) as fake:  # fmt: skip
        store = store_url(kind, request, tmp_path)
        victim, *others = fake.account_ids
        results: dict[str, tuple[int, bytes, bytes]] = {}

        async def one(account_id: str) -> None:
            done = await anyio.run_process(
                command(fake, account_id, store, f"kill-{kind}"),
                env=environment(fake),
                check=False,
            )
            results[account_id] = (done.returncode, done.stdout, done.stderr)

        async with anyio.create_task_group() as tasks:
            process: anyio.abc.Process = await anyio.open_process(
                command(fake, victim, store, f"kill-{kind}"), env=environment(fake)
            )
            # Killed once it has requests on the wire: their places stay taken in the store.
            # With 0.3 s a response, the tenth request is on the wire when it arrives.
            await fake.wait_requests(10, timeout=30, matching=lambda r: r.account_id == victim)
            assert any(r.account_id == victim and r.finished is None for r in fake.requests)
            killed_at = anyio.current_time()
            process.send_signal(signal.SIGKILL)
            assert await process.wait() == -signal.SIGKILL
            for account_id in others:
                tasks.start_soon(one, account_id)
        finished = anyio.current_time()

        for account_id in others:
            assert results[account_id][0] == 0, results[account_id][2]
            assert ids(results[account_id][1]) == fake.ids(account_id)
        # Every request answered was a 200; the dead process's last ones got no answer (0).
        answered = [r.status for r in fake.requests if r.status != 0]
        assert answered == [200] * len(answered)
        assert len(answered) >= 3 * INVOICES // PER_PAGE
        # 90 requests of the others, 60 per 5 s: one window, plus at most the dead process's
        # lease, during which its places in flight are not given to anyone.
        assert finished - killed_at <= WINDOW * FACTOR + LEASE
