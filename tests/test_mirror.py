"""InvoiceMirror against real databases: SQLite always, PostgreSQL on a throwaway server.

Every test runs on both backends with the same expected outcome, except where a backend's
locking differs (named in the test). Times come from a fake clock, so that every timestamp
the mirror writes is known exactly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest

from asyncinvoices import (
    AccountSync,
    ConfigurationError,
    DatabaseURL,
    InvoiceClient,
    InvoiceMirror,
    MirrorBusyError,
    MirrorError,
    ServerError,
    TransportError,
)
from asyncinvoices._mirror.types import parse_database_url
from asyncinvoices.testing import FakeCloudflare, Fault
from asyncinvoices.testing._data import _RawNumber

from .postgres import PASSWORD, PostgresServer

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("instant_backoff")]

DOCS = Path(__file__).resolve().parent.parent / "docs"
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
# The mirror's lock namespace (asyncinvoices/_mirror/postgres.py, "AINV").
LOCK_SPACE = 0x41494E56


def at(n: int) -> dt.datetime:
    """The time the fake clock returns on its ``n``-th reading (0-based): one minute apart."""
    return T0 + dt.timedelta(minutes=n)


class Clock:
    """A clock that advances one minute per reading."""

    def __init__(self) -> None:
        self.readings = 0

    def __call__(self) -> dt.datetime:
        self.readings += 1
        return at(self.readings - 1)


@pytest.fixture
async def fake() -> AsyncIterator[FakeCloudflare]:
    """A fake account of 230 invoices (five pages of 50), its newest invoice paid."""
    async with FakeCloudflare(230, seed=7) as server:
        assert server.invoices()[0]["status"] == "paid"
        yield server


@pytest.fixture
async def client(fake: FakeCloudflare) -> AsyncIterator[InvoiceClient]:
    """A client of the fake, 50 invoices per page."""
    async with InvoiceClient(api_token=fake.api_token, base_url=fake.base_url, per_page=50) as c:
        yield c


async def pg_connect(url: DatabaseURL) -> Any:
    """A connection of this test's own to the PostgreSQL database of ``url``, in UTC."""
    import asyncpg

    return await asyncpg.connect(
        host=url.host,
        port=url.port,
        user=url.user,
        password=url.password,
        database=url.database,
        server_settings={"TimeZone": "UTC"},
    )


async def query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Run ``sql`` (``?`` placeholders) on the database of ``url`` and return its rows."""
    parsed = parse_database_url(url)
    if parsed.scheme == "sqlite":
        with contextlib.closing(sqlite3.connect(parsed.path or "")) as db, db:
            return [tuple(row) for row in db.execute(sql, args).fetchall()]
    numbers = iter(range(1, 100))
    numbered = re.sub(r"\?", lambda _: f"${next(numbers)}", sql)
    conn = await pg_connect(parsed)
    try:
        return [tuple(row) for row in await conn.fetch(numbered, *args)]
    finally:
        await conn.close()


def ts(value: Any) -> dt.datetime | None:
    """A timestamp column as a datetime, whichever backend it came from."""
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


async def snapshot(url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every invoice row and every change row, in key order."""
    invoices = await query(url, "SELECT * FROM invoices ORDER BY account_id, id")
    changes = await query(url, "SELECT * FROM invoice_changes ORDER BY change_id")
    return invoices, changes


async def changes_of(url: str) -> list[tuple[Any, ...]]:
    """``(id, field, old_value, new_value, seen_at)`` of every change, in order."""
    rows = await query(
        url,
        "SELECT id, field, old_value, new_value, seen_at FROM invoice_changes ORDER BY change_id",
    )
    return [(*row[:4], ts(row[4])) for row in rows]


async def runs_of(url: str) -> list[tuple[Any, ...]]:
    """``(started, finished, outcome, seen, inserted, updated, removed, changes, error)``."""
    rows = await query(
        url,
        "SELECT started_at, finished_at, outcome, seen, inserted, updated, removed, changes, "
        "error FROM sync_runs ORDER BY run_id",
    )
    return [(ts(r[0]), ts(r[1]), *r[2:]) for r in rows]


def counts(run: Any) -> tuple[str, int, int, int, int, int]:
    """``(outcome, seen, inserted, updated, removed, changes)`` of an AccountSync."""
    return (run.outcome, run.seen, run.inserted, run.updated, run.removed, run.changes)


async def test_first_sync_mirrors_every_invoice_exactly(
    db_url: str, fake: FakeCloudflare, client: InvoiceClient
) -> None:
    """A first sync inserts every invoice; reading them back gives the fetched invoices."""
    async with InvoiceMirror.open(db_url, clock=Clock()) as mirror:
        report = await mirror.sync(client, [fake.account_id])
        mirrored = await mirror.invoices(fake.account_id)

    assert report.ok
    assert [counts(run) for run in report.accounts] == [("ok", 230, 230, 0, 0, 0)]
    assert report.accounts[0].started_at == at(0)
    assert report.accounts[0].finished_at == at(1)
    assert mirrored == await client.list_invoices(fake.account_id)
    assert await runs_of(db_url) == [(at(0), at(1), "ok", 230, 230, 0, 0, 0, None)]
    rows = await query(
        db_url, "SELECT DISTINCT first_seen_at, last_seen_at, removed_at FROM invoices"
    )
    assert [tuple(map(ts, row)) for row in rows] == [(at(0), at(0), None)]


async def test_amounts_no_float_can_hold_read_back_exactly(
    db_url: str, fake: FakeCloudflare, client: InvoiceClient
) -> None:
    """98765432109876543.21 and an unknown field's 0.10000000000000000001 stay exact."""
    fake.add_fault(Fault.wrong_type("amount_due", _RawNumber("98765432109876543.21"), page=1))
    fake.add_fault(Fault.wrong_type("surcharge", _RawNumber("0.10000000000000000001"), page=2))
    first_of_page_2 = fake.ids()[50]
    async with InvoiceMirror.open(db_url) as mirror:
        await mirror.sync(client, [fake.account_id])
        mirrored = {i.id: i for i in await mirror.invoices(fake.account_id)}

    assert mirrored[fake.ids()[0]].amount_due == Decimal("98765432109876543.21")
    assert str(mirrored[fake.ids()[0]].amount_due) == "98765432109876543.21"
    assert mirrored[first_of_page_2].extra == {"surcharge": Decimal("0.10000000000000000001")}
    stored = await query(db_url, "SELECT amount_due FROM invoices WHERE id = ?", fake.ids()[0])
    assert Decimal(str(stored[0][0])) == Decimal("98765432109876543.21")


async def write_probe(url: str) -> Any:
    """What changes whenever a row of invoices or invoice_changes is written.

    SQLite: triggers count every insert and update. PostgreSQL: each row's ``xmin`` (the
    transaction that last wrote it) and the number of change rows.
    """
    if url.startswith("sqlite"):
        return await query(url, "SELECT count(*) FROM test_writes")
    return await query(
        url,
        "SELECT id, xmin::text FROM invoices UNION ALL "
        "SELECT 'changes', count(*)::text FROM invoice_changes ORDER BY 1",
    )


def install_write_counter(url: str) -> None:
    """On SQLite, count every write to invoices and invoice_changes in ``test_writes``."""
    path = parse_database_url(url).path or ""
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE test_writes (what TEXT)")
        for table in ("invoices", "invoice_changes"):
            for event in ("INSERT", "UPDATE", "DELETE"):
                db.execute(
                    f"CREATE TRIGGER count_{table}_{event} AFTER {event} ON {table} "
                    f"BEGIN INSERT INTO test_writes VALUES ('{table} {event}'); END"
                )


async def test_unchanged_rerun_writes_no_invoice_and_no_change_row(
    db_url: str, fake: FakeCloudflare, client: InvoiceClient
) -> None:
    """The second sync of unchanged data writes only its sync_runs row."""
    async with InvoiceMirror.open(db_url, clock=Clock()) as mirror:
        await mirror.sync(client, [fake.account_id])
        if db_url.startswith("sqlite"):
            install_write_counter(db_url)
        before = await write_probe(db_url)
        report = await mirror.sync(client, [fake.account_id], full=True)

    assert [counts(run) for run in report.accounts] == [("ok", 230, 0, 0, 0, 0)]
    assert await write_probe(db_url) == before
    assert [run[:3] for run in await runs_of(db_url)] == [
        (at(0), at(1), "ok"),
        (at(2), at(3), "ok"),
    ]
    # "Seen" is the latest successful run of the account, read through the view.
    seen = await query(db_url, "SELECT DISTINCT last_seen_at FROM invoices_seen")
    assert [ts(row[0]) for row in seen] == [at(2)]


async def test_status_change_is_one_change_row(
    db_url: str, fake: FakeCloudflare, client: InvoiceClient
) -> None:
    """An invoice going from open to paid gives one row: status, open, paid."""
    newest = fake.ids()[0]
    fake.update_invoice(newest, status="open")
    async with InvoiceMirror.open(db_url, clock=Clock()) as mirror:
        await mirror.sync(client, [fake.account_id])
        fake.update_invoice(newest, status="paid")
        report = await mirror.sync(client, [fake.account_id], full=True)

    assert [counts(run) for run in report.accounts] == [("ok", 230, 0, 1, 0, 1)]
    assert await changes_of(db_url) == [(newest, "status", "open", "paid", at(2))]
    rows = await query(db_url, "SELECT status, last_seen_at FROM invoices WHERE id = ?", newest)
    assert [(row[0], ts(row[1])) for row in rows] == [("paid", at(2))]


async def test_removed_invoice_is_marked_then_unmarked_when_it_comes_back(
    db_url: str, fake: FakeCloudflare, client: InvoiceClient
) -> None:
    """Gone: removed_at set, never deleted; back: removed_at cleared; both recorded."""
    # The newest invoice is listed as "in_TEMPORARY" by the first and third syncs only.
    newest = fake.ids()[0]
    fake.add_fault(Fault.wrong_type("id", "in_TEMPORARY", page=1, times=1))
    gone = fake.ids()[100:102]
    async with InvoiceMirror.open(db_url, clock=Clock()) as mirror:
        await mirror.sync(client, [fake.account_id])  # at(0)
        fake.delete_invoices(gone)
        # Only a walk of the whole history can tell a removed invoice from an old one.
        second = await mirror.sync(client, [fake.account_id], full=True)  # at(2)
        fake.add_fault(Fault.wrong_type("id", "in_TEMPORARY", page=1, times=1))
        third = await mirror.sync(client, [fake.account_id], full=True)  # at(4)
        present = {i.id for i in await mirror.invoices(fake.account_id)}
        everything = await mirror.invoices(fake.account_id, include_removed=True)

    assert counts(second.accounts[0]) == ("ok", 228, 1, 0, 3, 3)
    assert counts(third.accounts[0]) == ("ok", 228, 0, 1, 1, 2)
    removed_text, back_text = "2026-03-01T12:02:00Z", "2026-03-01T12:04:00Z"
    assert sorted(await changes_of(db_url), key=repr) == sorted(
        [
            ("in_TEMPORARY", "removed_at", None, removed_text, at(2)),
            (gone[0], "removed_at", None, removed_text, at(2)),
            (gone[1], "removed_at", None, removed_text, at(2)),
            (newest, "removed_at", None, back_text, at(4)),
            ("in_TEMPORARY", "removed_at", removed_text, None, at(4)),
        ],
        key=repr,
    )
    assert "in_TEMPORARY" in present
    assert newest not in present
    assert not set(gone) & present
    assert len(everything) == 231
    rows = await query(
        db_url, "SELECT id, removed_at, last_seen_at FROM invoices WHERE removed_at IS NOT NULL"
    )
    # A removed invoice was last seen by the sync before the one that missed it.
    assert sorted((r[0], ts(r[1]), ts(r[2])) for r in rows) == sorted(
        [(gone[0], at(2), at(0)), (gone[1], at(2), at(0)), (newest, at(4), at(2))]
    )


@pytest.mark.parametrize(
    ("fault", "error"),
    [(Fault.status(503, page=3), ServerError), (Fault.reset(page=3), TransportError)],
    ids=["server-error", "lost-connection"],
)
async def test_failed_run_changes_nothing_and_is_recorded(
    db_url: str, fake: FakeCloudflare, client: InvoiceClient, fault: Fault, error: type
) -> None:
    """A sync failing mid-walk leaves every row as it was and records the failed run."""
    async with InvoiceMirror.open(db_url, clock=Clock()) as mirror:
        await mirror.sync(client, [fake.account_id])
        before = await snapshot(db_url)
        fake.create_invoices(3)
        fake.delete_invoices(fake.ids()[10:12])
        fake.update_invoice(fake.ids()[0], status="void")
        fake.add_fault(fault)
        report = await mirror.sync(client, [fake.account_id])

    assert type(report.errors[fake.account_id]) is error
    run = report.accounts[0]
    assert (run.outcome, run.inserted, run.updated, run.removed, run.changes) == (
        "failed",
        0,
        0,
        0,
        0,
    )
    assert await snapshot(db_url) == before
    runs = await runs_of(db_url)
    assert [r[:3] for r in runs] == [(at(0), at(1), "ok"), (at(2), at(3), "failed")]
    assert run.seen == runs[1][3] == 100  # pages 1 and 2, delivered in order before page 3
    assert runs[1][8] == f"{error.__name__}: {report.errors[fake.account_id]}"


async def test_cancelled_run_changes_nothing_and_is_recorded(
    db_url: str, fake: FakeCloudflare, client: InvoiceClient
) -> None:
    """Cancelling a sync after its first page rolls back and records a cancelled run."""
    async with InvoiceMirror.open(db_url, clock=Clock()) as mirror:
        await mirror.sync(client, [fake.account_id])
        before = await snapshot(db_url)
        fake.create_invoices(5)
        with anyio.CancelScope() as scope:
            await mirror.sync(client, [fake.account_id], on_progress=lambda a, s: scope.cancel())

    assert scope.cancelled_caught
    assert await snapshot(db_url) == before
    runs = await runs_of(db_url)
    assert [(r[2], r[8]) for r in runs] == [("ok", None), ("cancelled", "cancelled")]


async def test_on_account_tells_each_recorded_run_cancelled_ones_too(
    db_url: str, fake: FakeCloudflare, client: InvoiceClient
) -> None:
    """on_account sees every account's result as it is recorded, even when no report comes."""
    other = fake.add_account(invoices=7)
    told: list[tuple[str, str, int]] = []

    def tell(run: AccountSync) -> None:
        told.append((run.account_id, run.outcome, run.seen))

    def stop_at_other(account_id: str, stats: object) -> None:
        if account_id == other:
            scope.cancel()

    async with InvoiceMirror.open(db_url) as mirror:
        report = await mirror.sync(client, [other, fake.account_id], on_account=tell)
        # One account at a time, each walked whole, so that the cancellation meets `other`.
        with anyio.CancelScope() as scope:
            await mirror.sync(
                client,
                [fake.account_id, other],
                on_progress=stop_at_other,
                on_account=tell,
                full=True,
                max_accounts=1,
            )

    assert [(r.account_id, r.outcome) for r in report.accounts] == [
        (other, "ok"),
        (fake.account_id, "ok"),
    ]
    assert told == [
        (other, "ok", 7),
        (fake.account_id, "ok", 230),
        (fake.account_id, "ok", 230),
        (other, "cancelled", 7),
    ]


async def test_concurrent_syncs_of_one_account_neither_duplicate_nor_corrupt(
    db_url: str, fake: FakeCloudflare, client: InvoiceClient
) -> None:
    """Two mirrors syncing the same account at once: one waits; 230 rows, no changes."""
    results: list[Any] = []

    async def one() -> None:
        async with InvoiceMirror.open(db_url) as mirror:
            results.append(await mirror.sync_account(client, fake.account_id))

    async with InvoiceMirror.open(db_url):  # create the schema before the race
        pass
    async with anyio.create_task_group() as tg:
        tg.start_soon(one)
        tg.start_soon(one)

    assert sorted(counts(r) for r in results) == [
        ("ok", 230, 0, 0, 0, 0),
        ("ok", 230, 230, 0, 0, 0),
    ]
    assert await query(db_url, "SELECT count(*), count(DISTINCT id) FROM invoices") == [(230, 230)]
    assert await query(db_url, "SELECT count(*) FROM invoice_changes") == [(0,)]


async def test_sync_blocked_by_another_fails_with_a_clear_error(
    db_url: str, fake: FakeCloudflare, client: InvoiceClient
) -> None:
    """A sync that cannot get the account's lock within lock_timeout writes nothing."""
    async with InvoiceMirror.open(db_url, lock_timeout=0.05) as mirror:
        parsed = parse_database_url(db_url)
        if parsed.scheme == "sqlite":
            holder = sqlite3.connect(parsed.path or "", isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")
            with pytest.raises(MirrorBusyError, match=r"locked by another sync \(SQLite"):
                await mirror.sync_account(client, fake.account_id)
            holder.execute("ROLLBACK")
            holder.close()
            expected_runs: list[str] = []  # the lock also kept the failure from being recorded
        else:
            holder = await pg_connect(parsed)
            await holder.execute(
                "SELECT pg_advisory_lock($1, hashtext($2))", LOCK_SPACE, fake.account_id
            )
            with pytest.raises(MirrorBusyError, match="another sync of this account holds"):
                await mirror.sync_account(client, fake.account_id)
            await holder.close()
            expected_runs = ["failed"]

    assert await query(db_url, "SELECT count(*) FROM invoices") == [(0,)]
    assert [r[2] for r in await runs_of(db_url)] == expected_runs


async def test_invoice_without_id_gets_a_stable_derived_key(
    db_url: str, fake: FakeCloudflare, client: InvoiceClient
) -> None:
    """An invoice sent without an id is keyed by a hash of its fields, the same every sync."""
    fake.add_fault(Fault.wrong_type("id", None, page=1))
    async with InvoiceMirror.open(db_url) as mirror:
        await mirror.sync(client, [fake.account_id])
        report = await mirror.sync(client, [fake.account_id], full=True)
        mirrored = await mirror.invoices(fake.account_id)

    assert counts(report.accounts[0]) == ("ok", 230, 0, 0, 0, 0)
    keys = [row[0] for row in await query(db_url, "SELECT id FROM invoices")]
    derived = [key for key in keys if key.startswith("derived:")]
    assert len(derived) == 1
    assert re.fullmatch(r"derived:[0-9a-f]{32}", derived[0])
    assert mirrored[0].id is None
    assert [i.id for i in mirrored[1:]] == fake.ids()[1:]


async def test_accounts_are_synced_in_turn_and_a_failure_does_not_stop_the_others(
    db_url: str, fake: FakeCloudflare, client: InvoiceClient
) -> None:
    """A list of ids from anywhere: each account gets its own result and run row."""
    other = fake.add_account(invoices=7)
    fake.add_fault(Fault.status(503, account_id=fake.account_id, page=2))
    async with InvoiceMirror.open(db_url) as mirror:
        report = await mirror.sync(client, [fake.account_id, other])

    assert [(r.account_id, r.outcome, r.inserted) for r in report.accounts] == [
        (fake.account_id, "failed", 0),
        (other, "ok", 7),
    ]
    assert list(report.errors) == [fake.account_id]
    assert not report.ok
    assert await query(db_url, "SELECT account_id, count(*) FROM invoices GROUP BY account_id") == [
        (other, 7)
    ]


async def test_schema_version_is_kept_and_a_newer_one_is_refused(db_url: str) -> None:
    """The schema version lives in the database; a newer one than known is an error."""
    async with InvoiceMirror.open(db_url):
        pass
    assert await query(db_url, "SELECT version FROM asyncinvoices_schema") == [(2,)]
    async with InvoiceMirror.open(db_url):  # reopening migrates nothing
        pass
    await query(db_url, "UPDATE asyncinvoices_schema SET version = 99")

    with pytest.raises(MirrorError, match=r"has schema version 99, newer than this asyncinvoices"):
        async with InvoiceMirror.open(db_url):
            pass


async def test_postgres_password_is_never_shown(postgres_server: PostgresServer) -> None:
    """repr, str and connection errors show the URL with *** for the password."""
    url = postgres_server.url("postgres").replace("p%40ss", "wrong")
    parsed = parse_database_url(url)

    with pytest.raises(MirrorError) as caught:
        async with InvoiceMirror.open(url):
            pass

    port = postgres_server.port
    assert str(caught.value).startswith(
        f"cannot connect to postgresql://mirror:***@127.0.0.1:{port}/postgres: "
    )
    assert "wrong" not in str(caught.value)
    assert "wrong" not in repr(parsed)
    async with InvoiceMirror.open(postgres_server.url("postgres")) as mirror:
        assert repr(mirror) == f"InvoiceMirror('postgresql://mirror:***@127.0.0.1:{port}/postgres')"
        assert PASSWORD not in repr(mirror.url)
        assert PASSWORD not in str(mirror.url)


def sql_examples() -> list[tuple[str, str, str]]:
    """``(title, dialect, sql)`` of every SQL example of the how-to, in page order."""
    page = (DOCS / "howto" / "mirror.md").read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"```sql\n(.*?)```", page, re.DOTALL):
        first, _, sql = block.partition("\n")
        match = re.fullmatch(r"-- (.+) \((SQLite|PostgreSQL|both)\)", first.strip())
        assert match, f"an SQL example must start with '-- TITLE (dialect)': {first!r}"
        found.append((match.group(1), match.group(2), sql))
    return found


async def test_sql_examples_of_the_how_to_run_and_answer(
    db_url: str, fake: FakeCloudflare, client: InvoiceClient
) -> None:
    """Spend per month, open-to-paid last week and removed invoices, on both backends."""
    newest, gone = fake.ids()[0], fake.ids()[3]
    fake.update_invoice(newest, status="open")
    async with InvoiceMirror.open(db_url) as mirror:
        await mirror.sync(client, [fake.account_id])
        fake.update_invoice(newest, status="paid")
        fake.delete_invoices([gone])
        await mirror.sync(client, [fake.account_id], full=True)

    dialect = "SQLite" if db_url.startswith("sqlite") else "PostgreSQL"
    answers = {
        title: await query(db_url, sql)
        for title, which, sql in sql_examples()
        if which in (dialect, "both")
    }
    assert list(answers) == ["Spend per month", "Went from open to paid last week", "Removed"]
    months = answers["Spend per month"]
    invoices = fake.invoices()
    assert sum(row[2] for row in months) == len(invoices)
    spend = sum(Decimal(str(i["amount_paid"])) for i in invoices)
    if dialect == "PostgreSQL":
        assert sum(row[3] for row in months) == spend  # NUMERIC: exact
    else:
        assert sum(row[3] for row in months) == pytest.approx(float(spend))  # REAL arithmetic
    assert [row[:2] for row in answers["Went from open to paid last week"]] == [
        (fake.account_id, newest)
    ]
    assert [row[:2] for row in answers["Removed"]] == [(fake.account_id, gone)]


async def test_invalid_account_id_is_refused_before_any_account_is_synced(
    db_url: str, fake: FakeCloudflare, client: InvoiceClient
) -> None:
    """A bad id anywhere in the list: ConfigurationError, and no account synced."""
    async with InvoiceMirror.open(db_url) as mirror:
        with pytest.raises(ConfigurationError, match=r"^'\.\./x' is not an account id"):
            await mirror.sync(client, [fake.account_id, "../x"])

    assert await query(db_url, "SELECT count(*) FROM sync_runs") == [(0,)]
    assert await query(db_url, "SELECT count(*) FROM invoices") == [(0,)]
    assert fake.received == 0


@pytest.mark.parametrize(
    ("lock_timeout", "message"),
    [
        (-1, "lock_timeout must be a finite number >= 0, not -1"),
        (float("nan"), "lock_timeout must be a finite number >= 0, not nan"),
        ("60", "lock_timeout must be a number, not '60'"),
    ],
)
async def test_an_invalid_lock_timeout_is_refused_before_the_database_is_opened(
    tmp_path: Path, lock_timeout: Any, message: str
) -> None:
    """A lock_timeout that is not a number of seconds: ConfigurationError, and no file."""
    path = tmp_path / "mirror.db"
    with pytest.raises(ConfigurationError) as caught:
        async with InvoiceMirror.open(f"sqlite:///{path}", lock_timeout=lock_timeout):
            pass
    assert str(caught.value) == message
    assert not path.exists()


async def test_an_upper_case_account_id_is_mirrored_as_the_lower_case_one(
    db_url: str, fake: FakeCloudflare, client: InvoiceClient
) -> None:
    """sync() and sync_account() store and report the id as the API knows it."""
    async with InvoiceMirror.open(db_url) as mirror:
        report = await mirror.sync(client, [fake.account_id.upper()])
        again = await mirror.sync_account(client, fake.account_id.upper())

    assert [run.account_id for run in report.accounts] == [fake.account_id]
    assert again.account_id == fake.account_id
    assert await query(db_url, "SELECT DISTINCT account_id FROM invoices") == [(fake.account_id,)]
    assert await query(db_url, "SELECT account_id FROM sync_runs") == [(fake.account_id,)] * 2
    assert {r.account_id for r in fake.requests} == {fake.account_id}


async def test_a_file_that_is_not_a_database_is_a_mirror_error(tmp_path: Path) -> None:
    """SQLite's own error, named with the URL, as a MirrorError."""
    (tmp_path / "notes.db").write_text("not a database, " * 100)

    with pytest.raises(MirrorError) as caught:
        async with InvoiceMirror.open(f"sqlite:///{tmp_path}/notes.db"):
            pass

    assert str(caught.value) == (
        f"cannot open sqlite:///{tmp_path}/notes.db (the file {tmp_path}/notes.db): "
        "file is not a database"
    )
