"""The SQL of a sync, written once for both dialects. Pure, no I/O.

Every step of a sync (stage the listing, find what changed, update, mark removed, insert,
record the run, read back) is one statement, the same in SQLite and PostgreSQL but for what
the dialects spell differently: parameters (``$1`` / ``?1``, numbered in both, so that one
list of arguments serves both drivers), the NULL-safe comparison and time comparison
(``schema.differs``, ``schema.covering_run``), and the staging table's life (PostgreSQL
empties it at commit; SQLite is told to). The backends only run these statements.
"""

from __future__ import annotations

from typing import Final

import attrs

from .plan import FINAL_STATUSES
from .records import CHANGE_COLUMNS, FIELDS, RUN_COLUMNS
from .schema import Dialect, covering_run, differs, field_columns

__all__ = ["SyncStatements", "sync_statements"]

_COLUMNS: Final = ", ".join(FIELDS)
_STAGED: Final = ", ".join(f"s.{f}" for f in FIELDS)
_OLD: Final = ", ".join(f"i.{f}" for f in FIELDS)
_SETS: Final = ", ".join(f"{f} = s.{f}" for f in FIELDS)
_FINALS: Final = ", ".join(f"'{status}'" for status in sorted(FINAL_STATUSES))


@attrs.frozen(kw_only=True)
class SyncStatements:
    """The statements of a sync in one dialect; the parameters each takes, in order.

    Attributes:
        staging: The staging table's name (SQLite's is in its ``temp`` schema).
        create_staging: Create the staging table, if this session has none yet.
        empty_staging: Empty it before an account's listing.
        stage: Add one ``records.invoice_row`` to it.
        changed: ``account_id``: ``(key, removed_at, FIELDS as held, FIELDS as staged)`` of
            each held row that differs from its staged one.
        update: ``now, account_id``: write the staged fields over those rows.
        remove: ``now, account_id``: mark the held rows that are not staged removed;
            returns their keys.
        insert: ``account_id, now``: insert the staged rows not held.
        last_full: ``account_id``: when the last successful full walk started.
        open_created: ``account_id``: ``created`` of each present invoice not final.
        last_success: ``account_id``: when the last successful sync finished.
        add_change: One ``records.change_rows`` row into ``invoice_changes``.
        record_run: One ``records.run_row`` into ``sync_runs``.
        invoices: ``account_id``: the account's present invoices, newest first.
        all_invoices: ``account_id``: the same, removed ones too.
    """

    staging: str
    create_staging: str
    empty_staging: str
    stage: str
    changed: str
    update: str
    remove: str
    insert: str
    last_full: str
    open_created: str
    last_success: str
    add_change: str
    record_run: str
    invoices: str
    all_invoices: str


def _insert(table: str, columns: tuple[str, ...], p: str) -> str:
    values = ", ".join(f"{p}{n}" for n in range(1, len(columns) + 1))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})"


def sync_statements(dialect: Dialect) -> SyncStatements:
    """Return the statements of a sync in ``dialect``.

    Args:
        dialect: ``"sqlite"`` or ``"postgresql"``.
    """
    p = "$" if dialect == "postgresql" else "?"
    staging = "mirror_staging" if dialect == "postgresql" else "temp.mirror_staging"
    # PostgreSQL empties the staging table at every commit; SQLite has no such clause.
    on_commit = " ON COMMIT DELETE ROWS" if dialect == "postgresql" else ""
    of_account = f"FROM invoices WHERE account_id = {p}1"
    newest_first = "ORDER BY created DESC NULLS LAST, id"
    return SyncStatements(
        staging=staging,
        create_staging=(
            "CREATE TEMP TABLE IF NOT EXISTS mirror_staging "
            f"(id TEXT PRIMARY KEY, {field_columns(dialect)}){on_commit}"
        ),
        empty_staging=f"DELETE FROM {staging}",
        stage=_insert(staging, ("id", *FIELDS), p),
        changed=(
            f"SELECT s.id, i.removed_at, {_OLD}, {_STAGED} FROM {staging} s "
            f"JOIN invoices i ON i.account_id = {p}1 AND i.id = s.id WHERE {differs(dialect)}"
        ),
        update=(
            f"UPDATE invoices AS i SET {_SETS}, removed_at = NULL, last_seen_at = {p}1 "
            f"FROM {staging} AS s "
            f"WHERE i.account_id = {p}2 AND i.id = s.id AND {differs(dialect)}"
        ),
        # A removed row keeps as last seen the last sync that read it (this one has no row
        # in sync_runs yet).
        remove=(
            f"UPDATE invoices AS i SET removed_at = {p}1, last_seen_at = coalesce("
            f"{covering_run(dialect)}, i.last_seen_at) "
            f"WHERE i.account_id = {p}2 AND i.removed_at IS NULL "
            f"AND NOT EXISTS (SELECT 1 FROM {staging} s WHERE s.id = i.id) RETURNING id"
        ),
        insert=(
            f"INSERT INTO invoices (account_id, id, {_COLUMNS}, first_seen_at, last_seen_at) "
            f"SELECT {p}1, s.id, {_STAGED}, {p}2, {p}2 FROM {staging} s WHERE NOT EXISTS "
            f"(SELECT 1 FROM invoices i WHERE i.account_id = {p}1 AND i.id = s.id)"
        ),
        last_full=(
            "SELECT max(started_at) FROM sync_runs "
            f"WHERE account_id = {p}1 AND outcome = 'ok' AND mode = 'full'"
        ),
        open_created=(
            f"SELECT created {of_account} AND removed_at IS NULL "
            f"AND (status IS NULL OR status NOT IN ({_FINALS}))"
        ),
        last_success=(
            f"SELECT max(finished_at) FROM sync_runs WHERE account_id = {p}1 AND outcome = 'ok'"
        ),
        add_change=_insert("invoice_changes", CHANGE_COLUMNS, p),
        record_run=_insert("sync_runs", RUN_COLUMNS, p),
        invoices=f"SELECT id, {_COLUMNS} {of_account} AND removed_at IS NULL {newest_first}",
        all_invoices=f"SELECT id, {_COLUMNS} {of_account} {newest_first}",
    )
