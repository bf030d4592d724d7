"""A database mirror of the invoice history: :class:`InvoiceMirror`, on SQLite or PostgreSQL.

The sync of one account:

1. decide what to walk (``_mirror/plan.py``): the whole history on the first sync, when asked,
   and every ``full_every``; otherwise newest first down to the older of the lookback window
   and the oldest invoice the mirror holds as not final;
2. start the walk; then, in one transaction, take the account's lock (PostgreSQL advisory
   lock / SQLite ``BEGIN IMMEDIATE``) and stream the invoices into a staging table, in
   batches;
3. compare with the mirror: changed rows are updated and each changed field recorded in
   ``invoice_changes``; new ones are inserted; after a full walk only, rows no longer listed
   are marked ``removed_at`` (never deleted): a partial walk cannot tell a removed invoice
   from one older than what it read;
4. record the run in ``sync_runs`` and commit.

Several accounts are walked side by side on the client's one quota, as
:meth:`InvoiceClient.invoices_many` walks them; the database has one connection, so their
transactions take turns: an account waiting for its turn reads ahead up to :data:`BATCH`
invoices, then waits.

Any failure (API error, lost connection, cancellation) rolls the whole transaction back and
records the failed run in a transaction of its own. An unchanged re-run writes no invoice
and no change row: only its ``sync_runs`` row.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Final

import anyio
import attrs

from asyncinvoices._client import InvoiceClient
from asyncinvoices._config import positive_float, positive_int, validate_account_id
from asyncinvoices._errors import AsyncInvoicesError, RateLimitError
from asyncinvoices._models import FetchStats, Invoice
from asyncinvoices._streams.invoices import InvoiceStream

from .backend import MirrorBackend
from .plan import (
    DEFAULT_FULL_EVERY,
    DEFAULT_LOOKBACK,
    SyncPlan,
    check_sync_options,
    plan_sync,
)
from .records import KeyAssigner, changes_of, format_timestamp
from .types import AccountSync, DatabaseURL, SyncOutcome, SyncReport, parse_database_url

__all__ = ["InvoiceMirror"]

logger = logging.getLogger("asyncinvoices")

#: Invoices written to the staging table per statement: large enough that per-statement
#: overhead vanishes, small enough that the fetch goes on while a batch is written.
BATCH: Final = 5000


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class InvoiceMirror:
    """A database that mirrors the invoice history of accounts; open it with :meth:`open`.

    ::

        async with InvoiceMirror.open("sqlite:///invoices.db") as mirror:
            async with InvoiceClient() as client:
                report = await mirror.sync(client, [account_id])

    One mirror walks several accounts side by side on the client's quota and writes them
    one transaction at a time. Several mirrors, in other processes too, may sync the same
    database: syncs of the same account wait for each other.
    """

    def __init__(
        self, backend: MirrorBackend, url: DatabaseURL, *, clock: Callable[..., dt.datetime]
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
                SQLite: for any other writer) before failing with :class:`MirrorBusyError`;
                0 does not wait.
            clock: Returns the current time, timezone-aware (tests pass their own).

        Raises:
            ConfigurationError: If the URL cannot be used, ``lock_timeout`` is not a finite
                number of at least 0, or asyncpg is missing; before any connection.
            MirrorError: If the database cannot be opened or its schema is newer than this
                version of asyncinvoices knows.
        """
        parsed = url if isinstance(url, DatabaseURL) else parse_database_url(url)
        lock_timeout = positive_float(lock_timeout, "lock_timeout", allow_zero=True)
        backend: MirrorBackend
        if parsed.scheme == "sqlite":
            from .sqlite import SQLiteBackend

            backend = await SQLiteBackend.connect(parsed, lock_timeout=lock_timeout)
        else:
            from .postgres import PostgresBackend

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
        full: bool = False,
        lookback: dt.timedelta = DEFAULT_LOOKBACK,
        full_every: dt.timedelta = DEFAULT_FULL_EVERY,
        max_accounts: int | None = None,
        stop_on_error: bool = False,
        on_account: Callable[[AccountSync], object] | None = None,
        divide: bool = False,
    ) -> SyncReport:
        """Sync the accounts side by side, each in its own transaction.

        The accounts share the client: its concurrency and its rate limit (Cloudflare counts
        requests per token, not per account), so many small accounts take about as long as
        :meth:`InvoiceClient.invoices_many` takes to fetch them. A failed account does not
        stop the others (unless ``stop_on_error``); a :class:`RateLimitError` stops starting
        new ones, since every account shares the quota that refused it.

        Args:
            client: An open :class:`InvoiceClient`.
            account_ids: The accounts, from anywhere (a list, a config file, a query).
            on_progress: Called with ``(account_id, FetchStats)`` after each page.
            full: Walk every account's whole history (see :meth:`sync_account`).
            lookback: The window of recent invoices a partial sync always reads again.
            full_every: The longest time between two full walks of an account.
            max_accounts: Accounts walked at once; by default twice the client's
                ``max_concurrency``, so that requests go on while accounts take their turn
                at the database (the client's limit still bounds the requests in flight).
            stop_on_error: Start no further account once one has failed.
            on_account: Called with each account's :class:`AccountSync` as it ends.
            divide: Share the accounts with other workers syncing the same database: skip
                (outcome ``"skipped"``) an account another worker is syncing, or has synced
                since this call began, instead of waiting for it. On PostgreSQL a try-lock
                per account, held by the database session (so a worker that dies releases
                its accounts); SQLite has one writer at a time, and its workers take turns.

        Returns:
            One :class:`AccountSync` per account started, in the order given, and the
            exception of each failed one.

        Raises:
            ConfigurationError: For an invalid account id or option, before any account is
                synced.
        """
        # Every id is checked before the first sync, so that a typo in the tenth id does not
        # leave nine accounts synced and the rest not.
        ids = list(dict.fromkeys(validate_account_id(account_id) for account_id in account_ids))
        check_sync_options(lookback, full_every)
        width = (
            2 * client._max_concurrency
            if max_accounts is None
            else positive_int(max_accounts, "max_accounts")
        )
        results: dict[str, AccountSync] = {}
        errors: dict[str, AsyncInvoicesError] = {}
        since = self._clock() if divide else None
        slots = anyio.Semaphore(width)
        stopped = False

        async def one(account_id: str) -> None:
            nonlocal stopped
            try:
                run, error = await self._sync_one(
                    client, account_id, on_progress, full, lookback, full_every, on_account, since
                )
                results[account_id] = run
                if error is not None:
                    errors[account_id] = error
                    stopped = stopped or stop_on_error or isinstance(error, RateLimitError)
            finally:
                slots.release()

        async with anyio.create_task_group() as tg:
            for account_id in ids:
                await slots.acquire()
                if stopped:
                    slots.release()
                    break
                tg.start_soon(one, account_id)
        return SyncReport(
            accounts=tuple(results[i] for i in ids if i in results),
            errors={i: errors[i] for i in ids if i in errors},
        )

    async def sync_account(
        self,
        client: InvoiceClient,
        account_id: str,
        *,
        on_progress: Callable[[str, FetchStats], object] | None = None,
        full: bool = False,
        lookback: dt.timedelta = DEFAULT_LOOKBACK,
        full_every: dt.timedelta = DEFAULT_FULL_EVERY,
    ) -> AccountSync:
        """Sync one account in one transaction and return what it did.

        The first sync of an account walks its whole history. Later ones walk newest first
        and stop once past both the ``lookback`` window and the oldest invoice the mirror
        holds as not final (anything but ``paid`` or ``void``), so that they read every
        invoice that can still change and every new one, in a few requests
        (:func:`plan_sync` is the rule). Every ``full_every``, or with ``full=True``, the
        whole history is walked again: only such a walk marks invoices ``removed_at``, and
        catches a change to an invoice that was already final and older than the window.
        When the server turns out not to list newest first, a partial walk cannot stop early:
        it walks to the end and says so (``AccountSync.unordered``).

        Args:
            client: An open :class:`InvoiceClient`.
            account_id: The account.
            on_progress: Called with ``(account_id, FetchStats)`` after each page.
            full: Walk the whole history, whatever the last full walk.
            lookback: The window of recent invoices a partial sync always reads again
                (at most 60 days).
            full_every: The longest time between two full walks of the account.

        Raises:
            ConfigurationError: For an invalid account id or option, before anything is
                written.
            AsyncInvoicesError: What the fetch or the database raised; the account's rows are
                as they were, and the failed run is recorded in ``sync_runs``.
        """
        check_sync_options(lookback, full_every)
        run, error = await self._sync_one(
            client, validate_account_id(account_id), on_progress, full, lookback, full_every
        )
        if error is not None:
            raise error
        return run

    async def _sync_one(
        self,
        client: InvoiceClient,
        account_id: str,
        on_progress: Callable[[str, FetchStats], object] | None,
        full: bool,
        lookback: dt.timedelta,
        full_every: dt.timedelta,
        on_account: Callable[[AccountSync], object] | None = None,
        divide_since: dt.datetime | None = None,
    ) -> tuple[AccountSync, AsyncInvoicesError | None]:
        # The id as the API knows it (lower case), for the rows as well as the requests.
        account_id = validate_account_id(account_id)
        progress = None if on_progress is None else _bind(on_progress, account_id)
        walk = _Walk(started=self._clock())
        if divide_since is not None:
            async with self._lock:
                claimed = await self._backend.claim(account_id, divide_since)
            if not claimed:  # another worker holds the account, or has synced it since
                skipped = AccountSync(
                    account_id=account_id,
                    started_at=walk.started,
                    finished_at=walk.started,
                    outcome="skipped",
                )
                return skipped, None
        holding = False
        try:
            async with self._lock:
                last_full, not_final = await self._backend.sync_state(account_id)
            walk.plan = plan_sync(
                now=walk.started,
                last_full=last_full,
                not_final_created=not_final,
                full=full,
                lookback=lookback,
                full_every=full_every,
            )
            # A partial walk reads one page at a time: where it ends is known only from the
            # page before, and a page read ahead past the cut-off is a request wasted.
            ahead = 0 if walk.plan.mode == "partial" else None
            walk.stream = client.invoices(
                account_id, since=walk.plan.since, read_ahead=ahead, on_progress=progress
            )
            async with walk.stream:
                # Read ahead while another account holds the database, then wait for it.
                batch, more = await self._read(walk, BATCH)
                await self._lock.acquire()
                holding = True
                await self._backend.begin(account_id)
                await self._stage_all(walk, batch, more)
            run = await self._apply(account_id, walk)
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                if walk.stream is not None:
                    await walk.stream.aclose()
                if not holding:
                    await self._lock.acquire()
                    holding = True
                run = await self._record_failure(account_id, walk, exc)
            if on_account is not None:
                on_account(run)  # a cancelled account too: an interrupted caller says so
            if isinstance(exc, AsyncInvoicesError):
                return run, exc
            raise
        finally:
            if holding:
                if divide_since is not None:
                    with anyio.CancelScope(shield=True):
                        await self._backend.release(account_id)
                self._lock.release()
        if on_account is not None:
            on_account(run)
        return run, None

    async def _read(self, walk: _Walk, limit: int) -> tuple[list[tuple[str, Invoice]], bool]:
        """Take up to ``limit`` invoices of the walk; say whether it has more."""
        assert walk.stream is not None
        batch: list[tuple[str, Invoice]] = []
        while len(batch) < limit:
            try:
                invoice = await walk.stream.__anext__()
            except StopAsyncIteration:
                return batch, False
            batch.append((walk.keys.key(invoice), invoice))
            walk.seen += 1
        return batch, True

    async def _stage_all(self, walk: _Walk, batch: list[tuple[str, Invoice]], more: bool) -> None:
        while True:
            if batch:
                await self._backend.stage(batch)
            if not more:
                return
            batch, more = await self._read(walk, BATCH)

    async def _apply(self, account_id: str, walk: _Walk) -> AccountSync:
        backend = self._backend
        plan, started = walk.plan, walk.started
        assert plan is not None
        changed = await backend.changed(account_id)
        updated, inserted, removed = await backend.apply(
            account_id, started, update=bool(changed), complete=plan.mode == "full"
        )
        changes = changes_of(account_id, changed, removed, started)
        if changes:
            await backend.add_changes(changes, started)
        stats = walk.stats()
        run = AccountSync(
            account_id=account_id,
            started_at=started,
            finished_at=self._clock(),
            seen=walk.seen,
            inserted=inserted,
            updated=updated,
            removed=len(removed),
            changes=len(changes),
            mode=plan.mode,
            walked_since=plan.since,
            requests=stats.requests,
            unordered=plan.mode == "partial" and stats.unordered,
        )
        await backend.record_run(run)
        await backend.commit()
        if run.unordered:
            logger.warning(
                "%s: the server does not list invoices newest first, so the partial sync "
                "walked the whole history (%d requests) and compared the invoices created "
                "since %s",
                account_id,
                run.requests,
                format_timestamp(started if plan.since is None else plan.since),
            )
        logger.info(
            "mirrored %s (%s walk, %d requests): %d seen, %d inserted, %d updated, %d removed",
            account_id,
            run.mode,
            run.requests,
            run.seen,
            run.inserted,
            run.updated,
            run.removed,
        )
        return run

    async def _record_failure(
        self, account_id: str, walk: _Walk, exc: BaseException
    ) -> AccountSync:
        cancelled = isinstance(exc, (anyio.get_cancelled_exc_class(), KeyboardInterrupt))
        outcome: SyncOutcome = "cancelled" if cancelled else "failed"
        plan = walk.plan
        run = AccountSync(
            account_id=account_id,
            started_at=walk.started,
            finished_at=self._clock(),
            outcome=outcome,
            seen=walk.seen,
            error="cancelled" if cancelled else f"{type(exc).__name__}: {exc}",
            mode="full" if plan is None else plan.mode,
            walked_since=None if plan is None else plan.since,
            requests=walk.stats().requests,
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
class _Walk:
    """One account's sync in progress: its plan, its stream, what it has read."""

    started: dt.datetime
    plan: SyncPlan | None = None
    stream: InvoiceStream | None = None
    keys: KeyAssigner = attrs.Factory(KeyAssigner)
    seen: int = 0

    def stats(self) -> FetchStats:
        return FetchStats() if self.stream is None else self.stream.stats


def _bind(
    on_progress: Callable[[str, FetchStats], object], account_id: str
) -> Callable[[FetchStats], object]:
    return lambda stats: on_progress(account_id, stats)
