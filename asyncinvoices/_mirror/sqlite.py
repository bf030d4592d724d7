"""The SQLite backend of the mirror: one connection, used from worker threads, never the loop.

Every call runs ``sqlite3`` in a worker thread (``anyio.to_thread.run_sync``) behind a
capacity limiter of one, so the event loop never blocks on the file and the connection is
used by one thread at a time. The sync of an account runs in one ``BEGIN IMMEDIATE``
transaction: SQLite allows one writer, and ``busy_timeout`` makes a second sync wait for
the first for ``lock_timeout`` seconds before failing with :class:`MirrorBusyError`. The
file is in WAL mode, so readers (reports, dashboards) are never blocked by a sync.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TypeVar

import anyio

from asyncinvoices._models import Invoice

from .plan import FINAL_STATUSES
from .records import (
    FIELDS,
    build_invoice,
    canonical_json,
    format_timestamp,
    parse_timestamp,
    texts_before_and_after,
)
from .schema import CURRENT_VERSION, covering_run, differs, field_columns, migrations
from .types import DatabaseURL, MirrorBusyError, MirrorError

__all__ = ["SQLiteBackend"]

T = TypeVar("T")

_COLUMNS: Final = ", ".join(FIELDS)
_STAGED: Final = ", ".join(f"s.{f}" for f in FIELDS)
_OLD: Final = ", ".join(f"i.{f}" for f in FIELDS)


def _row(key: str, invoice: Invoice) -> tuple[Any, ...]:
    created = invoice.created
    return (
        key,
        str(invoice.amount_due),
        str(invoice.amount_paid),
        str(invoice.amount_remaining),
        invoice.currency,
        invoice.attempt_count,
        invoice.attempted,
        invoice.auto_advance,
        None if created is None else format_timestamp(created),
        invoice.created_by,
        invoice.description,
        invoice.invoice_origin,
        invoice.invoice_pdf,
        invoice.status,
        canonical_json(invoice.extra) if invoice.extra else "{}",
    )


def _time(value: dt.datetime) -> str:
    return format_timestamp(value, fixed=True)


def _invoice(row: Sequence[Any]) -> Invoice:
    values = dict(zip(FIELDS, row[1:], strict=True))
    for field in ("amount_due", "amount_paid", "amount_remaining"):
        values[field] = Decimal(values[field])
    for field in ("attempted", "auto_advance"):
        if values[field] is not None:
            values[field] = bool(values[field])
    if values["created"] is not None:
        values["created"] = parse_timestamp(values["created"])
    values["extra"] = json.loads(values["extra"], parse_float=Decimal)
    return build_invoice(row[0], values)


class SQLiteBackend:
    """The mirror in an SQLite file; create it with :meth:`connect`."""

    dialect: Final = "sqlite"

    def __init__(self, connection: sqlite3.Connection, url: DatabaseURL) -> None:
        self._db = connection
        self._url = url
        self._limiter = anyio.CapacityLimiter(1)

    @classmethod
    async def connect(cls, url: DatabaseURL, *, lock_timeout: float) -> SQLiteBackend:
        """Open (creating if needed) the file of ``url``, in WAL mode.

        Raises:
            MirrorError: If the file cannot be opened.
        """

        def open_() -> sqlite3.Connection:
            path = url.file or url.path or ""
            directory = Path(path).parent
            if url.file is not None and not directory.is_dir():
                # Refused, as `-o` into a missing directory is: a directory created here
                # would hide a mistyped URL (three slashes are relative, four absolute).
                raise MirrorError(
                    f"cannot open {url.display}: the directory {directory} does not exist "
                    "(sqlite:///FILE is relative to the working directory, "
                    "sqlite:////FILE absolute)"
                )
            # isolation_level=None: transactions are begun explicitly (BEGIN IMMEDIATE).
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            db.execute(f"PRAGMA busy_timeout = {int(lock_timeout * 1000)}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            return db

        try:
            connection = await anyio.to_thread.run_sync(open_)
        except (sqlite3.Error, OSError) as exc:
            raise MirrorError(f"cannot open {url.display}: {exc}") from exc
        return cls(connection, url)

    async def _run(self, function: Callable[[], T]) -> T:
        try:
            return await anyio.to_thread.run_sync(function, limiter=self._limiter)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise MirrorBusyError(
                    f"{self._url.display} is locked by another sync (SQLite allows one "
                    "writer at a time): run again when it has finished, or raise lock_timeout"
                ) from exc
            raise MirrorError(f"SQLite {self._url.display}: {exc}") from exc
        except sqlite3.Error as exc:
            raise MirrorError(f"SQLite {self._url.display}: {exc}") from exc

    async def migrate(self) -> int:
        """Create or upgrade the schema; return the version found before.

        Raises:
            MirrorError: If the database's schema is newer than this version knows.
        """

        def work() -> int:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                exists = db.execute(
                    "SELECT 1 FROM sqlite_master WHERE name = 'asyncinvoices_schema'"
                ).fetchone()
                version = 0
                if exists:
                    version = db.execute("SELECT version FROM asyncinvoices_schema").fetchone()[0]
                else:
                    db.execute("CREATE TABLE asyncinvoices_schema (version INTEGER NOT NULL)")
                    db.execute("INSERT INTO asyncinvoices_schema VALUES (0)")
                if version > CURRENT_VERSION:
                    raise MirrorError(
                        f"{self._url.display} has schema version {version}, newer than this "
                        f"asyncinvoices knows ({CURRENT_VERSION}): upgrade asyncinvoices"
                    )
                for statement in migrations("sqlite", version):
                    db.execute(statement)
                db.execute("UPDATE asyncinvoices_schema SET version = ?", (CURRENT_VERSION,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return int(version)

        return await self._run(work)

    async def begin(self, account_id: str) -> None:
        """Take the write lock and start the account's transaction, with an empty staging."""

        def work() -> None:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "CREATE TEMP TABLE IF NOT EXISTS mirror_staging "
                f"(id TEXT PRIMARY KEY, {field_columns('sqlite')})"
            )
            self._db.execute("DELETE FROM temp.mirror_staging")

        await self._run(work)

    async def claim(self, account_id: str, since: dt.datetime) -> bool:
        """Always held: SQLite has one writer at a time, so workers take turns instead."""
        return True

    async def release(self, account_id: str) -> None:
        """Nothing to release (see :meth:`claim`)."""

    async def stage(self, batch: Sequence[tuple[str, Invoice]]) -> None:
        """Add fetched invoices, with their keys, to the staging table."""
        rows = [_row(key, invoice) for key, invoice in batch]
        placeholders = ", ".join("?" * (len(FIELDS) + 1))
        sql = f"INSERT INTO temp.mirror_staging (id, {_COLUMNS}) VALUES ({placeholders})"
        await self._run(lambda: self._db.executemany(sql, rows))

    async def changed(self, account_id: str) -> list[tuple[str, Any, list[Any], list[Any]]]:
        """Return ``(key, removed_at, old texts, new texts)`` of each known row that differs."""
        sql = (
            f"SELECT s.id, i.removed_at, {_OLD}, {_STAGED} FROM temp.mirror_staging s "
            f"JOIN invoices i ON i.account_id = ? AND i.id = s.id WHERE {differs('sqlite')}"
        )
        rows = await self._run(lambda: self._db.execute(sql, (account_id,)).fetchall())
        return [
            (
                row[0],
                None if row[1] is None else parse_timestamp(row[1]),
                *texts_before_and_after(row[2:]),
            )
            for row in rows
        ]

    async def apply(
        self, account_id: str, now: dt.datetime, *, update: bool, complete: bool
    ) -> tuple[int, int, list[str]]:
        """Write the staged listing: update changed rows, mark removed ones, insert new ones.

        ``update=False`` (nothing changed, as :meth:`changed` found) skips a pass over the
        account's rows. Rows are marked removed only when ``complete``: the listing is the
        whole history, not the recent part a partial walk read.

        Returns:
            ``(updated, inserted, keys marked removed)``.
        """
        stamp = _time(now)
        sets = ", ".join(f"{f} = s.{f}" for f in FIELDS)
        update_sql = (
            f"UPDATE invoices AS i SET {sets}, removed_at = NULL, last_seen_at = ? "
            "FROM temp.mirror_staging AS s "
            f"WHERE i.account_id = ? AND i.id = s.id AND {differs('sqlite')}"
        )
        # A removed row keeps as last seen the last sync that read it (this one has no row
        # in sync_runs yet).
        remove = (
            f"UPDATE invoices AS i SET removed_at = ?, last_seen_at = coalesce("
            f"{covering_run('sqlite')}, i.last_seen_at) "
            "WHERE i.account_id = ? AND i.removed_at IS NULL "
            "AND i.id NOT IN (SELECT id FROM temp.mirror_staging) RETURNING id"
        )
        insert = (
            f"INSERT INTO invoices (account_id, id, {_COLUMNS}, first_seen_at, last_seen_at) "
            f"SELECT ?, s.id, {_STAGED}, ?, ? FROM temp.mirror_staging s "
            "WHERE NOT EXISTS (SELECT 1 FROM invoices i WHERE i.account_id = ? AND i.id = s.id)"
        )

        def work() -> tuple[int, int, list[str]]:
            db = self._db
            updated = db.execute(update_sql, (stamp, account_id)).rowcount if update else 0
            removed = []
            if complete:
                removed = [r[0] for r in db.execute(remove, (stamp, account_id)).fetchall()]
            inserted = db.execute(insert, (account_id, stamp, stamp, account_id)).rowcount
            return updated, inserted, removed

        return await self._run(work)

    async def sync_state(self, account_id: str) -> tuple[dt.datetime | None, list[Any]]:
        """Return when the account's last successful full walk started, and the creation
        time of each present invoice that is not final (``None`` where it has none)."""
        finals = ", ".join(f"'{status}'" for status in sorted(FINAL_STATUSES))
        last_sql = (
            "SELECT max(started_at) FROM sync_runs "
            "WHERE account_id = ? AND outcome = 'ok' AND mode = 'full'"
        )
        open_sql = (
            "SELECT created FROM invoices WHERE account_id = ? AND removed_at IS NULL "
            f"AND (status IS NULL OR status NOT IN ({finals}))"
        )

        def work() -> tuple[dt.datetime | None, list[Any]]:
            last = self._db.execute(last_sql, (account_id,)).fetchone()[0]
            rows = self._db.execute(open_sql, (account_id,)).fetchall()
            created = [None if r[0] is None else parse_timestamp(r[0]) for r in rows]
            return (None if last is None else parse_timestamp(last)), created

        return await self._run(work)

    async def last_success(self, account_id: str) -> dt.datetime | None:
        """Return when the last successful sync of the account finished, if any."""
        sql = "SELECT max(finished_at) FROM sync_runs WHERE account_id = ? AND outcome = 'ok'"
        row = await self._run(lambda: self._db.execute(sql, (account_id,)).fetchone())
        return None if row[0] is None else parse_timestamp(row[0])

    async def add_changes(
        self, changes: Sequence[tuple[str, str, str, str | None, str | None]], seen_at: dt.datetime
    ) -> None:
        """Insert ``(account_id, id, field, old, new)`` rows into ``invoice_changes``."""
        stamp = _time(seen_at)
        rows = [(*change, stamp) for change in changes]
        sql = (
            "INSERT INTO invoice_changes (account_id, id, field, old_value, new_value, seen_at) "
            "VALUES (?, ?, ?, ?, ?, ?)"
        )
        await self._run(lambda: self._db.executemany(sql, rows))

    async def record_run(self, run: Any) -> None:
        """Insert one ``sync_runs`` row for an :class:`AccountSync`."""
        sql = (
            "INSERT INTO sync_runs (account_id, started_at, finished_at, outcome, seen, "
            "inserted, updated, removed, changes, error, mode, walked_since, requests, "
            "unordered) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        values = (
            run.account_id,
            _time(run.started_at),
            _time(run.finished_at),
            run.outcome,
            run.seen,
            run.inserted,
            run.updated,
            run.removed,
            run.changes,
            run.error,
            run.mode,
            None if run.walked_since is None else _time(run.walked_since),
            run.requests,
            int(run.unordered),
        )
        await self._run(lambda: self._db.execute(sql, values))

    async def begin_plain(self) -> None:
        """Start a write transaction that is not an account's sync (e.g. to record a failure)."""
        await self._run(lambda: self._db.execute("BEGIN IMMEDIATE"))

    async def commit(self) -> None:
        """Commit the transaction."""
        await self._run(lambda: self._db.execute("COMMIT"))

    async def rollback(self) -> None:
        """Roll back the transaction, if one is open."""

        def work() -> None:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")

        await self._run(work)

    async def invoices(self, account_id: str, *, include_removed: bool) -> list[Invoice]:
        """Return the account's mirrored invoices, newest first."""
        where = "" if include_removed else " AND removed_at IS NULL"
        sql = (
            f"SELECT id, {_COLUMNS} FROM invoices WHERE account_id = ?{where} "
            "ORDER BY created DESC, id"
        )
        rows = await self._run(lambda: self._db.execute(sql, (account_id,)).fetchall())
        return [_invoice(row) for row in rows]

    async def close(self) -> None:
        """Close the connection."""
        await self._run(self._db.close)
