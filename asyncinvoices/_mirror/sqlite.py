"""The SQLite backend of the mirror: one connection, used from worker threads, never the loop.

Every call runs ``sqlite3`` in a worker thread (``anyio.to_thread.run_sync``) behind a
capacity limiter of one, so the event loop never blocks on the file and the connection is
used by one thread at a time. The sync of an account runs in one ``BEGIN IMMEDIATE``
transaction: SQLite allows one writer, and ``busy_timeout`` makes a second sync wait for
the first for ``lock_timeout`` seconds before failing with :class:`MirrorBusyError`. The
file is in WAL mode, so readers (reports, dashboards) are never blocked by a sync.

What is written and read is shared with PostgreSQL: the statements of ``statements.py`` in
SQLite's dialect, and the rows of ``records.TEXT_ROWS`` (SQLite has no decimal, boolean or
timestamp type). This module holds the file, its lock and the threads.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

import anyio

from asyncinvoices._models import Invoice

from .records import TEXT_ROWS, Change
from .schema import CURRENT_VERSION, check_version, migrations
from .statements import sync_statements
from .types import AccountSync, DatabaseURL, MirrorBusyError, MirrorError

__all__ = ["SQLiteBackend"]

T = TypeVar("T")

_SQL: Final = sync_statements("sqlite")


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
                check_version(version, self._url.display)
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
            self._db.execute(_SQL.create_staging)
            self._db.execute(_SQL.empty_staging)

        await self._run(work)

    async def claim(self, account_id: str, since: dt.datetime) -> bool:
        """Always held: SQLite has one writer at a time, so workers take turns instead."""
        return True

    async def release(self, account_id: str) -> None:
        """Nothing to release (see :meth:`claim`)."""

    async def stage(self, batch: Sequence[tuple[str, Invoice]]) -> None:
        """Add fetched invoices, with their keys, to the staging table."""
        rows = [TEXT_ROWS.invoice_row(key, invoice) for key, invoice in batch]
        await self._run(lambda: self._db.executemany(_SQL.stage, rows))

    async def changed(
        self, account_id: str
    ) -> list[tuple[str, dt.datetime | None, list[str | None], list[str | None]]]:
        """See :meth:`MirrorBackend.changed`."""
        rows = await self._run(lambda: self._db.execute(_SQL.changed, (account_id,)).fetchall())
        return [TEXT_ROWS.changed(row) for row in rows]

    async def apply(
        self, account_id: str, now: dt.datetime, *, update: bool, complete: bool
    ) -> tuple[int, int, list[str]]:
        """See :meth:`MirrorBackend.apply`."""
        stamp = TEXT_ROWS.time(now)

        def work() -> tuple[int, int, list[str]]:
            db = self._db
            updated = db.execute(_SQL.update, (stamp, account_id)).rowcount if update else 0
            removed = []
            if complete:
                removed = [r[0] for r in db.execute(_SQL.remove, (stamp, account_id)).fetchall()]
            inserted = db.execute(_SQL.insert, (account_id, stamp)).rowcount
            return updated, inserted, removed

        return await self._run(work)

    async def sync_state(self, account_id: str) -> tuple[dt.datetime | None, list[Any]]:
        """See :meth:`MirrorBackend.sync_state`."""

        def work() -> tuple[dt.datetime | None, list[Any]]:
            last = self._db.execute(_SQL.last_full, (account_id,)).fetchone()[0]
            rows = self._db.execute(_SQL.open_created, (account_id,)).fetchall()
            created = [TEXT_ROWS.utc(r[0]) for r in rows]
            return TEXT_ROWS.utc(last), created

        return await self._run(work)

    async def last_success(self, account_id: str) -> dt.datetime | None:
        """See :meth:`MirrorBackend.last_success`."""
        row = await self._run(lambda: self._db.execute(_SQL.last_success, (account_id,)).fetchone())
        return TEXT_ROWS.utc(row[0])

    async def add_changes(self, changes: Sequence[Change], seen_at: dt.datetime) -> None:
        """Insert ``(account_id, id, field, old, new)`` rows into ``invoice_changes``."""
        rows = TEXT_ROWS.change_rows(changes, seen_at)
        await self._run(lambda: self._db.executemany(_SQL.add_change, rows))

    async def record_run(self, run: AccountSync) -> None:
        """See :meth:`MirrorBackend.record_run`."""
        values = TEXT_ROWS.run_row(run)
        await self._run(lambda: self._db.execute(_SQL.record_run, values))

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
        """See :meth:`MirrorBackend.invoices`."""
        sql = _SQL.all_invoices if include_removed else _SQL.invoices
        rows = await self._run(lambda: self._db.execute(sql, (account_id,)).fetchall())
        return [TEXT_ROWS.invoice(row) for row in rows]

    async def close(self) -> None:
        """Close the connection."""
        await self._run(self._db.close)
