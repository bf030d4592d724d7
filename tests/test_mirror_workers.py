"""Sync workers divide the accounts: two ``asyncinvoices sync`` processes on one PostgreSQL.

Each worker skips an account the other is syncing (a try-lock on the account, held by its
transaction) or has synced since the worker started, so every account is walked once.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import sys
import uuid
from collections.abc import Iterator

import anyio
import pytest

from asyncinvoices import InvoiceClient, InvoiceMirror
from asyncinvoices.testing import FakeCloudflare

from .postgres import PostgresServer

pytestmark = pytest.mark.anyio

ACCOUNTS, INVOICES, PER_PAGE = 6, 120, 50  # three pages an account


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    name = f"w_{uuid.uuid4().hex[:16]}"
    yield postgres_server.create_database(name)
    postgres_server.drop_database(name)


async def test_two_sync_workers_walk_each_account_once(pg_url: str) -> None:
    # A second a response: an account takes over two, far longer than the two workers'
    # start-up differs, so each sees the other's accounts in progress or done.
    async with FakeCloudflare(INVOICES, accounts=ACCOUNTS, latency=1.0) as fake:
        command = [
            sys.executable, "-m", "asyncinvoices", "sync", "--all-accounts",
            "--db", pg_url, "--base-url", fake.base_url, "--per-page", str(PER_PAGE), "-q",
        ]  # fmt: skip
        env = {**os.environ, "CLOUDFLARE_API_TOKEN": fake.api_token}
        outputs: list[tuple[int, str, str]] = []

        async def worker() -> None:
            done = await anyio.run_process(command, env=env, check=False)
            outputs.append((done.returncode, done.stdout.decode(), done.stderr.decode()))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(worker)
            tasks.start_soon(worker)

        walked = collections.Counter(
            (r.account_id, r.page) for r in fake.requests if r.endpoint == "invoice-history"
        )
        listing = [r for r in fake.requests if r.endpoint == "accounts"]

    assert [(code, err) for code, _, err in outputs] == [(0, ""), (0, "")]
    # Every page of every account was asked for exactly once, by one worker or the other.
    assert walked == {(a, page): 1 for a in fake.account_ids for page in (1, 2, 3)}
    assert len(listing) == 2  # each worker lists the accounts once
    outcomes: dict[str, list[str]] = collections.defaultdict(list)
    for _, out, _ in outputs:
        for line in out.splitlines()[2:]:
            account, mode, seen, inserted, updated, removed, requests, outcome = line.split()
            outcomes[account].append(outcome)
            if outcome == "ok":
                assert (mode, seen, inserted, updated, removed, requests) == (
                    "full",
                    str(INVOICES),
                    str(INVOICES),
                    "0",
                    "0",
                    "3",
                )
            else:
                assert (mode, seen, inserted, updated, removed, requests) == (
                    *("-", "0", "0", "0", "0", "0"),
                )
    assert {a: sorted(o) for a, o in outcomes.items()} == {
        a: ["ok", "skipped"] for a in fake.account_ids
    }


async def test_divide_skips_what_was_synced_since_and_walks_the_rest(pg_url: str) -> None:
    """In one process: a second mirror skips an account synced after its call began."""
    async with FakeCloudflare(INVOICES, accounts=2) as fake:
        first, second = fake.account_ids
        began = dt.datetime.now(dt.timezone.utc)
        times = iter([began])

        def clock() -> dt.datetime:
            """The second mirror's call began before the first mirror's sync."""
            return next(times, None) or dt.datetime.now(dt.timezone.utc)

        async with (
            InvoiceClient(
                api_token=fake.api_token, base_url=fake.base_url, per_page=PER_PAGE
            ) as client,
            InvoiceMirror.open(pg_url) as a,
            InvoiceMirror.open(pg_url, clock=clock) as b,
        ):
            await a.sync(client, [first])
            report = await b.sync(client, [first, second], divide=True)
        assert [(r.account_id, r.outcome, r.seen) for r in report.accounts] == [
            (first, "skipped", 0),
            (second, "ok", INVOICES),
        ]
        assert collections.Counter(r.account_id for r in fake.requests) == {
            first: 3,
            second: 3,
        }
