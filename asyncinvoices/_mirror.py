"""A database mirror of the invoice history: :class:`InvoiceMirror`, on SQLite or PostgreSQL.

The sync of one account, in one transaction:

1. take the account's lock (PostgreSQL advisory lock / SQLite ``BEGIN IMMEDIATE``);
2. stream every invoice from the client into a staging table, in batches;
3. compare with the mirror: changed rows are updated and each changed field recorded in
   ``invoice_changes``; rows no longer listed are marked ``removed_at`` (never deleted);
   new ones are inserted;
4. record the run in ``sync_runs`` and commit.

Any failure (API error, lost connection, cancellation) rolls the whole transaction back and
records the failed run in a transaction of its own. An unchanged re-run writes no invoice
and no change row: only its ``sync_runs`` row.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, Final, Protocol

import anyio
import attrs

from ._client import InvoiceClient
from ._config import validate_account_id
from ._errors import AsyncInvoicesError
from ._mirror_records import KeyAssigner, diff, format_timestamp
from ._mirror_types import AccountSync, DatabaseURL, SyncOutcome, SyncReport, parse_database_url
from ._models import FetchStats, Invoice

__all__ = ["InvoiceMirror"]

logger = logging.getLogger("asyncinvoices")

#: Invoices written to the staging table per statement: large enough that per-statement
#: overhead vanishes, small enough that the fetch goes on while a batch is written.
BATCH: Final = 5000

_Change = tuple[str, str, str, "str | None", "str | None"]


class _Backend(Protocol):
    async def migrate(self) -> int: ...
    async def begin(self, account_id: str) -> None: ...
    async def claim(self, account_id: str, since: dt.datetime) -> bool: ...
    async def stage(self, batch: Sequence[tuple[str, Invoice]]) -> None: ...
    async def changed(self, account_id: str) -> list[tuple[str, Any, list[Any], list[Any]]]: ...
    async def apply(
        self, account_id: str, now: dt.datetime, previous: dt.datetime | None, *, update: bool
    ) -> tuple[int, int, list[str]]: ...
    async def previous_run(self, account_id: str) -> dt.datetime | None: ...
    async def last_success(self, account_id: str) -> dt.datetime | None: ...
    async def add_changes(self, changes: Sequence[_Change], seen_at: dt.datetime) -> None: ...
    async def record_run(self, run: AccountSync) -> None: ...
    async def begin_plain(self) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...
    async def invoices(self, account_id: str, *, include_removed: bool) -> list[Invoice]: ...
    async def close(self) -> None: ...


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class InvoiceMirror:
    """A database that mirrors the invoice history of accounts; open it with :meth:`open`.

    ::

        async with InvoiceMirror.open("sqlite:///invoices.db") as mirror:
            async with InvoiceClient() as client:
                report = await mirror.sync(client, [account_id])

    One mirror runs one sync at a time (its accounts one after another; the client fetches
    each with its full concurrency). Several mirrors, in other processes too, may sync the
    same database: syncs of the same account wait for each other.
    """

    def __init__(
        self, backend: _Backend, url: DatabaseURL, *, clock: Callable[..., dt.datetime]
    ) -> None:
        self._backend = backend
        self._url = url
        self._clock = clock
        self._lock = anyio.Lock()

    def __repr__(self) -> str:
        return f"InvoiceMirror({self._url.redacted!r})"

    @property
    def url(self) -> DatabaseURL:
        """The database, as parsed from the URL (``str()`` of it hides the password)."""
        return self._url

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        url: str | DatabaseURL,
        *,
        lock_timeout: float = 60.0,
        clock: Callable[..., dt.datetime] = _utcnow,
    ) -> AsyncIterator[InvoiceMirror]:
        """Connect to the database of ``url``, create or migrate its schema, and yield it.

        Args:
            url: ``sqlite:///FILE`` (the file is created if needed; its directory must exist) or
                ``postgresql://USER:PASSWORD@HOST:PORT/DBNAME`` (needs the ``postgres``
                extra).
            lock_timeout: Seconds a sync waits for another sync of the same account (on
                SQLite: for any other writer) before failing with :class:`MirrorBusyError`.
            clock: Returns the current time, timezone-aware (tests pass their own).

        Raises:
            ConfigurationError: If the URL cannot be used, or asyncpg is missing.
            MirrorError: If the database cannot be opened or its schema is newer than this
                version of asyncinvoices knows.
        """
        parsed = url if isinstance(url, DatabaseURL) else parse_database_url(url)
        backend: _Backend
        if parsed.scheme == "sqlite":
            from ._mirror_sqlite import SQLiteBackend

            backend = await SQLiteBackend.connect(parsed, lock_timeout=lock_timeout)
        else:
            from ._mirror_postgres import PostgresBackend

            backend = await PostgresBackend.connect(parsed, lock_timeout=lock_timeout)
        try:
            await backend.migrate()
            yield cls(backend, parsed, clock=clock)
        finally:
            with anyio.CancelScope(shield=True):
                await backend.close()

    async def sync(
        self,
        client: InvoiceClient,
        account_ids: Iterable[str],
        *,
        on_progress: Callable[[str, FetchStats], object] | None = None,
        on_account: Callable[[AccountSync], object] | None = None,
        divide: bool = False,
    ) -> SyncReport:
        """Sync each account in turn; a failed account does not stop the others.

        Args:
            client: An open :class:`InvoiceClient`.
            account_ids: The accounts, from anywhere (a list, a config file, a query).
            on_progress: Called with ``(account_id, FetchStats)`` after each page.
            on_account: Called with each account's :class:`AccountSync` as soon as it is
                recorded in ``sync_runs``, cancelled ones included: what a caller that is
                interrupted knows was done (the report is never returned then).
            divide: Share the accounts with other workers syncing the same database: skip
                (outcome ``"skipped"``) an account another worker is syncing, or has synced
                since this call began, instead of waiting for it. On PostgreSQL a try-lock
                per account, released with its transaction (so a worker that dies releases
                its account); SQLite has one writer at a time, and its workers take turns.

        Returns:
            One :class:`AccountSync` per account, and the exception of each failed one.

        Raises:
            ConfigurationError: For an invalid account id, before any account is synced.
        """
        # Every id is checked before the first sync, so that a typo in the tenth id does not
        # leave nine accounts synced and the rest not.
        ids = [validate_account_id(account_id) for account_id in account_ids]
        results: list[AccountSync] = []
        errors: dict[str, AsyncInvoicesError] = {}
        since = self._clock() if divide else None
        for account_id in ids:
            run, error = await self._sync_one(client, account_id, on_progress, on_account, since)
            results.append(run)
            if error is not None:
                errors[account_id] = error
        return SyncReport(accounts=tuple(results), errors=errors)

    async def sync_account(
        self,
        client: InvoiceClient,
        account_id: str,
        *,
        on_progress: Callable[[str, FetchStats], object] | None = None,
    ) -> AccountSync:
        """Sync one account in one transaction and return what it did.

        Args:
            client: An open :class:`InvoiceClient`.
            account_id: The account.
            on_progress: Called with ``(account_id, FetchStats)`` after each page.

        Raises:
            ConfigurationError: For an invalid account id, before anything is written.
            AsyncInvoicesError: What the fetch or the database raised; the account's rows are
                as they were, and the failed run is recorded in ``sync_runs``.
        """
        run, error = await self._sync_one(client, account_id, on_progress)
        if error is not None:
            raise error
        return run

    async def _sync_one(
        self,
        client: InvoiceClient,
        account_id: str,
        on_progress: Callable[[str, FetchStats], object] | None,
        on_account: Callable[[AccountSync], object] | None = None,
        since: dt.datetime | None = None,
    ) -> tuple[AccountSync, AsyncInvoicesError | None]:
        # The id as the API knows it (lower case), for the rows as well as the requests.
        account_id = validate_account_id(account_id)
        progress = None if on_progress is None else _bind(on_progress, account_id)
        stream = client.invoices(account_id, on_progress=progress)
        async with self._lock:
            started = self._clock()
            counts = _Counts()
            try:
                if since is None:
                    await self._backend.begin(account_id)
                elif not await self._backend.claim(account_id, since):
                    await stream.aclose()
                    skipped = AccountSync(
                        account_id=account_id,
                        started_at=started,
                        finished_at=started,
                        outcome="skipped",
                    )
                    return skipped, None
                async with stream:
                    await self._stage_all(stream, counts)
                run = await self._apply(account_id, started, counts)
            except BaseException as exc:
                with anyio.CancelScope(shield=True):
                    await stream.aclose()  # when begin() failed, before the stream started
                    run = await self._record_failure(account_id, started, counts, exc)
                if on_account is not None:
                    on_account(run)
                if isinstance(exc, AsyncInvoicesError):
                    return run, exc
                raise
        if on_account is not None:
            on_account(run)
        return run, None

    async def _stage_all(self, stream: AsyncIterator[Invoice], counts: _Counts) -> None:
        keys = KeyAssigner()
        batch: list[tuple[str, Invoice]] = []
        async for invoice in stream:
            batch.append((keys.key(invoice), invoice))
            counts.seen += 1
            if len(batch) >= BATCH:
                await self._backend.stage(batch)
                batch = []
        if batch:
            await self._backend.stage(batch)

    async def _apply(self, account_id: str, started: dt.datetime, counts: _Counts) -> AccountSync:
        backend = self._backend
        changes: list[_Change] = []
        changed = await backend.changed(account_id)
        for key, removed_at, old, new in changed:
            changes += [(account_id, key, *change) for change in diff(old, new)]
            if removed_at is not None:  # it is back
                changes.append((account_id, key, "removed_at", format_timestamp(removed_at), None))
        previous = await backend.previous_run(account_id)
        updated, inserted, removed = await backend.apply(
            account_id, started, previous, update=bool(changed)
        )
        stamp = format_timestamp(started)
        changes += [(account_id, key, "removed_at", None, stamp) for key in removed]
        if changes:
            await backend.add_changes(changes, started)
        run = AccountSync(
            account_id=account_id,
            started_at=started,
            finished_at=self._clock(),
            seen=counts.seen,
            inserted=inserted,
            updated=updated,
            removed=len(removed),
            changes=len(changes),
        )
        await backend.record_run(run)
        await backend.commit()
        logger.info(
            "mirrored %s: %d seen, %d inserted, %d updated, %d removed",
            account_id,
            run.seen,
            run.inserted,
            run.updated,
            run.removed,
        )
        return run

    async def _record_failure(
        self, account_id: str, started: dt.datetime, counts: _Counts, exc: BaseException
    ) -> AccountSync:
        cancelled = isinstance(exc, (anyio.get_cancelled_exc_class(), KeyboardInterrupt))
        outcome: SyncOutcome = "cancelled" if cancelled else "failed"
        run = AccountSync(
            account_id=account_id,
            started_at=started,
            finished_at=self._clock(),
            outcome=outcome,
            seen=counts.seen,
            error="cancelled" if cancelled else f"{type(exc).__name__}: {exc}",
        )
        try:
            await self._backend.rollback()
            await self._backend.begin_plain()
            await self._backend.record_run(run)
            await self._backend.commit()
        except AsyncInvoicesError as error:
            # E.g. the database itself failed, or another writer holds SQLite's lock: the
            # failure is still reported to the caller, only not recorded.
            logger.warning("could not record the failed sync of %s: %s", account_id, error)
            with contextlib.suppress(AsyncInvoicesError):
                await self._backend.rollback()
        return run

    async def last_success(self, account_id: str) -> dt.datetime | None:
        """Return when the last successful sync of ``account_id`` finished (UTC), if any.

        Read from ``sync_runs``, so it spans runs: what a "did the nightly sync run" alert
        watches (``sync --metrics-file``).

        Raises:
            MirrorError: If the database fails.
        """
        async with self._lock:
            return await self._backend.last_success(account_id)

    async def invoices(self, account_id: str, *, include_removed: bool = False) -> list[Invoice]:
        """Return the mirrored invoices of an account, newest first, as :class:`Invoice`.

        Args:
            account_id: The account.
            include_removed: Also return invoices marked removed.

        Raises:
            MirrorError: If the database fails.
        """
        async with self._lock:
            return await self._backend.invoices(account_id, include_removed=include_removed)


@attrs.define
class _Counts:
    seen: int = 0


def _bind(
    on_progress: Callable[[str, FetchStats], object], account_id: str
) -> Callable[[FetchStats], object]:
    return lambda stats: on_progress(account_id, stats)
