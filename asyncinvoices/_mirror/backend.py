"""What the sync asks of a database: the interface both backends implement. Pure, no I/O.

The sync (``_mirror/sync.py``) calls these steps in order, on one connection, one account's
transaction at a time; ``_mirror/sqlite.py`` and ``_mirror/postgres.py`` each run them with
their own driver, the statements of ``_mirror/statements.py`` and the rows of
``_mirror/records.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol

from asyncinvoices._models import Invoice

from .records import Change
from .types import AccountSync

__all__ = ["MirrorBackend"]


class MirrorBackend(Protocol):
    """A mirror database, connected."""

    async def migrate(self) -> int:
        """Create or upgrade the schema; return the version found before.

        Raises:
            MirrorError: If the database's schema is newer than this version knows.
        """

    async def begin(self, account_id: str) -> None:
        """Start the account's transaction, holding its lock, with an empty staging table."""

    async def claim(self, account_id: str, since: dt.datetime) -> bool:
        """Hold the account for this worker unless another worker holds it or has synced it
        since ``since``, without waiting; return whether it is held."""

    async def release(self, account_id: str) -> None:
        """Let other workers have the account again (after its run is committed)."""

    async def stage(self, batch: Sequence[tuple[str, Invoice]]) -> None:
        """Add fetched invoices, with their keys, to the staging table."""

    async def changed(
        self, account_id: str
    ) -> list[tuple[str, dt.datetime | None, list[str | None], list[str | None]]]:
        """Return ``(key, removed_at, old texts, new texts)`` of each held row that differs
        from its staged one (``records.changed_row``)."""

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

    async def sync_state(self, account_id: str) -> tuple[dt.datetime | None, list[Any]]:
        """Return when the account's last successful full walk started, and the creation
        time of each present invoice that is not final (``None`` where it has none)."""

    async def last_success(self, account_id: str) -> dt.datetime | None:
        """Return when the last successful sync of the account finished, if any."""

    async def add_changes(self, changes: Sequence[Change], seen_at: dt.datetime) -> None:
        """Insert ``(account_id, id, field, old, new)`` rows into ``invoice_changes``."""

    async def record_run(self, run: AccountSync) -> None:
        """Insert the ``sync_runs`` row of a run."""

    async def begin_plain(self) -> None:
        """Start a transaction that is not an account's sync (e.g. to record a failure)."""

    async def commit(self) -> None:
        """Commit the transaction."""

    async def rollback(self) -> None:
        """Roll back the transaction, if one is open."""

    async def invoices(self, account_id: str, *, include_removed: bool) -> list[Invoice]:
        """Return the account's mirrored invoices, newest first."""

    async def close(self) -> None:
        """Close the connection."""
