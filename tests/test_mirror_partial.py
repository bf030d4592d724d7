"""Partial and full syncs against a realistic history, on SQLite and PostgreSQL.

The fake serves three years of invoices up to ``history_end``; the mirror's clock starts a
day later and advances one minute per reading, so every window and timestamp is known.
Requests are counted at the fake, where the quota counts them.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from asyncinvoices import InvoiceClient, InvoiceMirror
from asyncinvoices._mirror.schema import migrations
from asyncinvoices.testing import FakeCloudflare

from .test_mirror import query, ts

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("instant_backoff")]

PER_PAGE = 50
WEEK = dt.timedelta(days=7)


class Clock:
    """A clock one day after the history's end, one minute further per reading."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        now = self.now
        self.now += dt.timedelta(minutes=1)
        return now

    def jump(self, days: float) -> None:
        """Move the clock on, as the days between two nightly syncs."""
        self.now += dt.timedelta(days=days)


@pytest.fixture
async def fake() -> AsyncIterator[FakeCloudflare]:
    """2,000 invoices over three years, none open but in the last days (seed 0)."""
    async with FakeCloudflare(2000, seed=0, history="realistic") as server:
        yield server


@pytest.fixture
async def client(fake: FakeCloudflare) -> AsyncIterator[InvoiceClient]:
    """A client of the fake, 50 invoices per page."""
    async with InvoiceClient(
        api_token=fake.api_token, base_url=fake.base_url, per_page=PER_PAGE
    ) as c:
        yield c


def pay(fake: FakeCloudflare, invoice: dict[str, Any], account_id: str | None = None) -> None:
    """Pay an invoice in full, as Stripe records a payment."""
    fake.update_invoice(
        invoice["id"],
        account_id,
        status="paid",
        amount_paid=Decimal(str(invoice["amount_due"])),
        amount_remaining=0,
    )


def not_final(fake: FakeCloudflare, account_id: str | None = None) -> list[dict[str, Any]]:
    """The account's invoices that are neither paid nor void, newest first."""
    return [i for i in fake.expected_invoices(account_id) if i["status"] not in ("paid", "void")]


def walk_length(fake: FakeCloudflare, since: dt.datetime) -> tuple[int, int]:
    """``(invoices created at or after since, pages a newest-first walk reads to pass it)``."""
    created = [i["created"] for i in fake.expected_invoices()]
    within = sum(1 for c in created if c >= since)
    return within, within // PER_PAGE + 1


async def runs(url: str) -> list[tuple[Any, ...]]:
    """``(mode, walked_since, requests, unordered, seen, inserted, updated, removed)``."""
    rows = await query(
        url,
        "SELECT mode, walked_since, requests, unordered, seen, inserted, updated, removed "
        "FROM sync_runs ORDER BY run_id",
    )
    return [(r[0], ts(r[1]), r[2], bool(r[3]), *r[4:]) for r in rows]


async def status_changes(url: str) -> list[tuple[Any, ...]]:
    """``(id, old, new)`` of every status change, in id order."""
    rows = await query(
        url,
        "SELECT id, old_value, new_value FROM invoice_changes WHERE field = 'status' ORDER BY id",
    )
    return [tuple(r) for r in rows]


def mirrored_dicts(invoices: list[Any]) -> list[tuple[Any, ...]]:
    """``(id, status, amount_paid, amount_remaining, created)`` of each invoice."""
    return [
        (i.id, i.status, i.amount_paid, i.amount_remaining, i.created)
        if not isinstance(i, dict)
        else (i["id"], i["status"], i["amount_paid"], i["amount_remaining"], i["created"])
        for i in invoices
    ]


async def test_partial_sync_inserts_new_records_payments_and_removes_nothing(
    db_url: str, fake: FakeCloudflare, client: InvoiceClient
) -> None:
    """After a day of activity a partial sync reads a few pages and mirrors every change."""
    clock = Clock(fake.history_end + dt.timedelta(days=1))
    opened = not_final(fake)
    assert [i["status"] for i in opened] == ["open"]  # in the last days, as all but the odd one
    async with InvoiceMirror.open(db_url, clock=clock) as mirror:
        first = await mirror.sync_account(client, fake.account_id)
        fake.reset_counters()
        new = fake.create_invoices(30)
        for invoice in opened:
            pay(fake, invoice)
        gone = fake.ids()[1500]  # an old invoice disappears: only a full walk may say so
        kept = next(i for i in fake.expected_invoices() if i["id"] == gone)
        fake.delete_invoices([gone])
        now = clock.now
        second = await mirror.sync_account(client, fake.account_id)
        mirrored = await mirror.invoices(fake.account_id)

    since = now - WEEK
    within, pages = walk_length(fake, since)
    assert (first.mode, first.walked_since, first.requests, first.inserted) == (
        "full",
        None,
        40,
        2000,
    )
    assert (second.mode, second.walked_since, second.unordered) == ("partial", since, False)
    assert (second.requests, second.seen) == (pages, within)
    assert (pages, len(fake.requests)) == (1, 1)  # counted where the quota counts
    assert [r.per_page for r in fake.requests] == [PER_PAGE]
    assert (second.inserted, second.updated, second.removed) == (30, 1, 0)
    assert await status_changes(db_url) == sorted((i["id"], i["status"], "paid") for i in opened)
    # Nothing marked removed: the mirror is the server's listing plus the invoice it could
    # not tell apart from an old one.
    expected = fake.expected_invoices()
    expected.insert(1500, kept)
    assert mirrored_dicts(mirrored) == mirrored_dicts(expected)
    assert [i.id for i in mirrored[:30]] == new
    assert await query(db_url, "SELECT count(*) FROM invoices WHERE removed_at IS NOT NULL") == [
        (0,)
    ]
    assert await runs(db_url) == [
        ("full", None, 40, False, 2000, 2000, 0, 0),
        ("partial", since, pages, False, within, 30, 1, 0),
    ]


async def test_full_sync_marks_exactly_the_removed_invoice(
    db_url: str, fake: FakeCloudflare, client: InvoiceClient
) -> None:
    """A partial sync leaves a removed invoice alone; the next full one marks it, only it."""
    clock = Clock(fake.history_end + dt.timedelta(days=1))
    gone = fake.ids()[1500]
    async with InvoiceMirror.open(db_url, clock=clock) as mirror:
        await mirror.sync_account(client, fake.account_id)
        fake.delete_invoices([gone])
        partial = await mirror.sync_account(client, fake.account_id)
        started = clock.now
        full = await mirror.sync_account(client, fake.account_id, full=True)

    assert (partial.mode, partial.removed) == ("partial", 0)
    assert (full.mode, full.seen, full.removed, full.requests) == ("full", 1999, 1, 40)
    rows = await query(db_url, "SELECT id, removed_at FROM invoices WHERE removed_at IS NOT NULL")
    assert [(r[0], ts(r[1])) for r in rows] == [(gone, started)]
    changes = await query(db_url, "SELECT id, field, old_value FROM invoice_changes")
    assert changes == [(gone, "removed_at", None)]
    # It was last seen by the last walk that read it: the first, full one (the partial one
    # stopped long before an invoice that old).
    seen = await query(db_url, "SELECT last_seen_at FROM invoices WHERE id = ?", gone)
    assert [ts(r[0]) for r in seen] == [fake.history_end + dt.timedelta(days=1)]


async def test_an_old_open_invoice_is_read_until_its_payment_is_caught(db_url: str) -> None:
    """An invoice open for years sets how far a partial sync walks, until it is paid."""
    async with (
        FakeCloudflare(2000, seed=4, history="realistic") as fake,
        InvoiceClient(api_token=fake.api_token, base_url=fake.base_url, per_page=50) as client,
    ):
        clock = Clock(fake.history_end + dt.timedelta(days=1))
        stale = not_final(fake)[-1]
        position = fake.ids().index(stale["id"])
        assert (stale["status"], position) == ("open", 418)
        async with InvoiceMirror.open(db_url, clock=clock) as mirror:
            await mirror.sync_account(client, fake.account_id)
            pay(fake, stale)
            clock.jump(1)
            catching = await mirror.sync_account(client, fake.account_id)
            clock.jump(1)
            after = await mirror.sync_account(client, fake.account_id)

    assert (catching.mode, catching.walked_since) == ("partial", stale["created"])
    assert (catching.requests, catching.updated) == (position // 50 + 1, 1)
    assert await status_changes(db_url) == [(stale["id"], "open", "paid")]
    # Paid, it no longer holds the walk back: the next sync reads the week only.
    assert (after.mode, after.requests, after.updated) == ("partial", 1, 0)


async def test_a_server_listing_oldest_first_gets_a_complete_walk(db_url: str) -> None:
    """Not newest first: the partial sync cannot stop early, walks to the end, says so."""
    async with (
        FakeCloudflare(2000, seed=0, history="realistic", order="oldest") as fake,
        InvoiceClient(api_token=fake.api_token, base_url=fake.base_url, per_page=50) as client,
    ):
        clock = Clock(fake.history_end + dt.timedelta(days=1))
        opened = not_final(fake)
        async with InvoiceMirror.open(db_url, clock=clock) as mirror:
            await mirror.sync_account(client, fake.account_id)
            new = fake.create_invoices(5)
            for invoice in opened:
                pay(fake, invoice)
            fake.reset_counters()
            partial = await mirror.sync_account(client, fake.account_id)
            mirrored = await mirror.invoices(fake.account_id)

    assert (partial.mode, partial.unordered, partial.removed) == ("partial", True, 0)
    assert (partial.requests, len(fake.requests)) == (41, 41)  # 2,005 invoices, every page
    assert partial.inserted == 5
    assert await status_changes(db_url) == sorted((i["id"], i["status"], "paid") for i in opened)
    assert {i.id for i in mirrored} == set(fake.ids())
    assert set(new) <= {i.id for i in mirrored}
    assert [r[3] for r in await runs(db_url)] == [False, True]


async def test_a_full_walk_comes_by_itself_every_full_every(
    db_url: str, fake: FakeCloudflare, client: InvoiceClient
) -> None:
    """Partial until the last full walk is full_every old; then full, then partial again."""
    clock = Clock(fake.history_end + dt.timedelta(days=1))
    async with InvoiceMirror.open(db_url, clock=clock) as mirror:
        modes = [(await mirror.sync_account(client, fake.account_id)).mode]
        for _ in range(4):
            clock.jump(10)
            run = await mirror.sync_account(client, fake.account_id, full_every=WEEK * 3)
            modes.append(run.mode)

    assert modes == ["full", "partial", "partial", "full", "partial"]


async def test_lookback_sets_the_window(
    db_url: str, fake: FakeCloudflare, client: InvoiceClient
) -> None:
    """A longer lookback reads further back: the window and the pages follow it."""
    clock = Clock(fake.history_end + dt.timedelta(days=1))
    async with InvoiceMirror.open(db_url, clock=clock) as mirror:
        await mirror.sync_account(client, fake.account_id)
        now = clock.now
        run = await mirror.sync_account(client, fake.account_id, lookback=dt.timedelta(days=60))

    since = now - dt.timedelta(days=60)
    within, pages = walk_length(fake, since)
    assert (run.walked_since, run.seen, run.requests) == (since, within, pages)
    assert (within, pages) == (108, 3)


async def test_a_version_1_database_is_migrated_and_keeps_its_runs(db_url: str) -> None:
    """Runs written before version 2 read as full walks of unknown cost."""
    dialect = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    statements = [
        "CREATE TABLE asyncinvoices_schema (version INTEGER NOT NULL)",
        "INSERT INTO asyncinvoices_schema VALUES (1)",
        *migrations(dialect, 0)[: -len(migrations(dialect, 1))],
        "INSERT INTO sync_runs (account_id, started_at, finished_at, outcome, seen, inserted, "
        "updated, removed, changes) VALUES ('a', '2026-01-01T00:00:00Z', "
        "'2026-01-01T00:01:00Z', 'ok', 5, 5, 0, 0, 0)",
    ]
    if dialect == "sqlite":
        path = db_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as db:
            for statement in statements:
                db.execute(statement)
    else:
        for statement in statements:
            await query(db_url, statement)
    async with InvoiceMirror.open(db_url):
        pass

    assert await query(db_url, "SELECT version FROM asyncinvoices_schema") == [(2,)]
    assert await runs(db_url) == [("full", None, None, False, 5, 5, 0, 0)]


async def test_a_partial_sync_counts_as_seeing_only_what_it_read(
    db_url: str, fake: FakeCloudflare, client: InvoiceClient
) -> None:
    """invoices_seen: the newest invoice was seen by the partial sync, the oldest was not."""
    clock = Clock(fake.history_end + dt.timedelta(days=1))
    async with InvoiceMirror.open(db_url, clock=clock) as mirror:
        full = await mirror.sync_account(client, fake.account_id)
        clock.jump(1)
        partial = await mirror.sync_account(client, fake.account_id)

    newest, oldest = fake.ids()[0], fake.ids()[-1]
    rows = await query(
        db_url, "SELECT id, last_seen_at FROM invoices_seen WHERE id IN (?, ?)", newest, oldest
    )
    assert sorted((r[0], ts(r[1])) for r in rows) == sorted(
        [(newest, partial.started_at), (oldest, full.started_at)]
    )
