"""The PostgreSQL backend of the mirror, through asyncpg (the ``postgres`` extra).

The sync of an account runs in one transaction that first takes a transaction-level advisory
lock on the account (``pg_advisory_xact_lock``): a second sync of the same account waits for
the first (up to ``lock_timeout``) instead of interleaving with it; other accounts proceed.
The fetched listing is copied into a temporary table with ``COPY`` (binary, batched), and
compared with the mirror in a few set-based statements.

What is written and read is shared with SQLite: the statements of ``statements.py`` in
PostgreSQL's dialect, and the rows of ``records.TYPED_ROWS``. This module holds the
connection, the advisory locks and ``COPY``.

The password is passed to asyncpg as a keyword, never inside a DSN that an error could echo.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

from asyncinvoices._errors import ConfigurationError
from asyncinvoices._models import Invoice

from .records import CHANGE_COLUMNS, FIELDS, TYPED_ROWS, Change
from .schema import CURRENT_VERSION, check_version, migrations
from .statements import sync_statements
from .types import AccountSync, DatabaseURL, MirrorBusyError, MirrorError

if TYPE_CHECKING:
    import asyncpg

__all__ = ["PostgresBackend"]

T = TypeVar("T")

_SQL: Final = sync_statements("postgresql")
# The first key of every advisory lock the mirror takes ("AINV"), so that they cannot
# collide with an application's own advisory locks on other numbers.
_LOCK_SPACE: Final = 0x41494E56
_MIGRATION_LOCK: Final = 0


def _count(status: str) -> int:
    # asyncpg returns the command tag, e.g. "UPDATE 3" or "INSERT 0 12".
    return int(status.rsplit(" ", 1)[-1])


class PostgresBackend:
    """The mirror in a PostgreSQL database; create it with :meth:`connect`."""

    dialect: Final = "postgresql"

    def __init__(self, connection: asyncpg.Connection, url: DatabaseURL) -> None:
        self._db = connection
        self._url = url
        self._transaction: Any = None

    @classmethod
    async def connect(cls, url: DatabaseURL, *, lock_timeout: float) -> PostgresBackend:
        """Connect to the database of ``url``.

        Raises:
            ConfigurationError: If asyncpg is not installed.
            MirrorError: If the connection fails.
        """
        try:
            import asyncpg
        except ImportError:
            raise ConfigurationError(
                "a postgresql:// database needs asyncpg: pip install 'asyncinvoices[postgres]'"
            ) from None
        settings = {
            # Timestamps come back in UTC; lock_timeout bounds the wait for another sync of
            # the same account (0 would mean "forever", hence at least 1 ms).
            "TimeZone": "UTC",
            "lock_timeout": f"{max(1, int(lock_timeout * 1000))}ms",
            "application_name": "asyncinvoices",
        }
        try:
            connection = await asyncpg.connect(
                host=url.host,
                port=url.port,
                user=url.user,
                password=url.password,
                database=url.database,
                server_settings=settings,
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise MirrorError(f"cannot connect to {url.redacted}: {_message(exc, url)}") from None
        return cls(connection, url)

    async def _run(self, function: Callable[[], Awaitable[T]]) -> T:
        import asyncpg

        try:
            return await function()
        except asyncpg.LockNotAvailableError as exc:
            raise MirrorBusyError(
                f"another sync of this account holds its lock in {self._url.redacted}: run "
                "again when it has finished, or raise lock_timeout"
            ) from exc
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise MirrorError(
                f"PostgreSQL {self._url.redacted}: {_message(exc, self._url)}"
            ) from exc

    async def _start(self) -> None:
        self._transaction = self._db.transaction()
        await self._transaction.start()

    async def migrate(self) -> int:
        """Create or upgrade the schema; return the version found before.

        Raises:
            MirrorError: If the database's schema is newer than this version knows.
        """

        async def work() -> int:
            await self._start()
            db = self._db
            await db.execute("SELECT pg_advisory_xact_lock($1, $2)", _LOCK_SPACE, _MIGRATION_LOCK)
            await db.execute(
                "CREATE TABLE IF NOT EXISTS asyncinvoices_schema (version INTEGER NOT NULL)"
            )
            version = await db.fetchval("SELECT version FROM asyncinvoices_schema")
            if version is None:
                version = 0
                await db.execute("INSERT INTO asyncinvoices_schema VALUES (0)")
            check_version(version, self._url.redacted)
            for statement in migrations("postgresql", version):
                await db.execute(statement)
            await db.execute("UPDATE asyncinvoices_schema SET version = $1", CURRENT_VERSION)
            await self.commit()
            return int(version)

        try:
            return await self._run(work)
        except BaseException:
            await self.rollback()
            raise

    async def begin(self, account_id: str) -> None:
        """Start the account's transaction, wait for its lock, empty the staging table."""

        async def work() -> None:
            await self._start()
            await self._db.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))", _LOCK_SPACE, account_id
            )
            await self._db.execute(_SQL.create_staging)
            await self._db.execute(_SQL.empty_staging)

        await self._run(work)

    async def claim(self, account_id: str, since: dt.datetime) -> bool:
        """Hold the account for this worker unless another worker holds it or has synced it
        since ``since``: a try-lock, never a wait. Return whether it is held.

        The lock is a session-level advisory lock on the key of :meth:`begin`'s transaction
        lock (which this session then takes again, as advisory locks are re-entrant within a
        session). It is held until :meth:`release`, or until the connection ends, so a
        worker that dies frees its accounts; and it is taken before the account's walk, so
        that two workers never both walk it.
        """

        async def work() -> bool:
            held = await self._db.fetchval(
                "SELECT pg_try_advisory_lock($1, hashtext($2))", _LOCK_SPACE, account_id
            )
            if not held:
                return False
            # Read after the lock: a sync that held it committed its run before releasing it.
            done = await self._db.fetchval(
                "SELECT EXISTS (SELECT 1 FROM sync_runs WHERE account_id = $1 "
                "AND outcome = 'ok' AND finished_at >= $2)",
                account_id,
                since,
            )
            if done:
                await self._unlock(account_id)
                return False
            return True

        return await self._run(work)

    async def release(self, account_id: str) -> None:
        """Let other workers have the account again (after its run is committed)."""
        if not self._db.is_closed():
            await self._run(lambda: self._unlock(account_id))

    async def _unlock(self, account_id: str) -> None:
        await self._db.execute(
            "SELECT pg_advisory_unlock($1, hashtext($2))", _LOCK_SPACE, account_id
        )

    async def stage(self, batch: Sequence[tuple[str, Invoice]]) -> None:
        """Copy fetched invoices, with their keys, into the staging table (``COPY``)."""
        rows = [TYPED_ROWS.invoice_row(key, invoice) for key, invoice in batch]
        await self._run(
            lambda: self._db.copy_records_to_table(
                _SQL.staging, records=rows, columns=["id", *FIELDS]
            )
        )

    async def changed(
        self, account_id: str
    ) -> list[tuple[str, dt.datetime | None, list[str | None], list[str | None]]]:
        """See :meth:`MirrorBackend.changed`."""
        rows = await self._run(lambda: self._db.fetch(_SQL.changed, account_id))
        return [TYPED_ROWS.changed(row) for row in rows]

    async def apply(
        self, account_id: str, now: dt.datetime, *, update: bool, complete: bool
    ) -> tuple[int, int, list[str]]:
        """See :meth:`MirrorBackend.apply`."""

        async def work() -> tuple[int, int, list[str]]:
            db = self._db
            updated = _count(await db.execute(_SQL.update, now, account_id)) if update else 0
            removed = []
            if complete:
                removed = [r[0] for r in await db.fetch(_SQL.remove, now, account_id)]
            inserted = _count(await db.execute(_SQL.insert, account_id, now))
            return updated, inserted, removed

        return await self._run(work)

    async def sync_state(self, account_id: str) -> tuple[dt.datetime | None, list[Any]]:
        """See :meth:`MirrorBackend.sync_state`."""

        async def work() -> tuple[dt.datetime | None, list[Any]]:
            last = await self._db.fetchval(_SQL.last_full, account_id)
            rows = await self._db.fetch(_SQL.open_created, account_id)
            return last, [row[0] for row in rows]

        return await self._run(work)

    async def last_success(self, account_id: str) -> dt.datetime | None:
        """See :meth:`MirrorBackend.last_success`."""
        value: dt.datetime | None = await self._run(
            lambda: self._db.fetchval(_SQL.last_success, account_id)
        )
        return value

    async def add_changes(self, changes: Sequence[Change], seen_at: dt.datetime) -> None:
        """Copy ``(account_id, id, field, old, new)`` rows into ``invoice_changes``."""
        rows = TYPED_ROWS.change_rows(changes, seen_at)
        if rows:
            await self._run(
                lambda: self._db.copy_records_to_table(
                    "invoice_changes", records=rows, columns=list(CHANGE_COLUMNS)
                )
            )

    async def record_run(self, run: AccountSync) -> None:
        """See :meth:`MirrorBackend.record_run`."""
        values = TYPED_ROWS.run_row(run)
        await self._run(lambda: self._db.execute(_SQL.record_run, *values))

    async def begin_plain(self) -> None:
        """Start a transaction that is not an account's sync (e.g. to record a failure)."""
        await self._run(self._start)

    async def commit(self) -> None:
        """Commit the transaction."""
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            await self._run(transaction.commit)

    async def rollback(self) -> None:
        """Roll back the transaction, if one is open."""
        transaction, self._transaction = self._transaction, None
        if transaction is not None and not self._db.is_closed():
            await self._run(transaction.rollback)

    async def invoices(self, account_id: str, *, include_removed: bool) -> list[Invoice]:
        """See :meth:`MirrorBackend.invoices`."""
        sql = _SQL.all_invoices if include_removed else _SQL.invoices
        rows = await self._run(lambda: self._db.fetch(sql, account_id))
        return [TYPED_ROWS.invoice(row) for row in rows]

    async def close(self) -> None:
        """Close the connection."""
        await self._db.close()


def _message(exc: BaseException, url: DatabaseURL) -> str:
    text = str(exc) or type(exc).__name__
    # asyncpg does not echo passwords, but a server or OS message might quote its input.
    return text.replace(url.password, "***") if url.password else text
