"""The mirror's tables in both SQL dialects, and the migrations between schema versions. Pure.

The schema version lives in the database (table ``asyncinvoices_schema``); opening a mirror
applies every migration after it, in one transaction. ``MIGRATIONS[n]`` takes a database
from version ``n`` to ``n + 1``. docs/mirror-schema.md is the reference of every column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

from .records import FIELDS
from .types import MirrorError

__all__ = [
    "CURRENT_VERSION",
    "Dialect",
    "check_version",
    "covering_run",
    "differs",
    "field_columns",
    "migrations",
]

Dialect = Literal["sqlite", "postgresql"]

# Column types per dialect. Amounts are exact: NUMERIC in PostgreSQL, and in SQLite the
# decimal's text (SQLite's NUMERIC affinity would turn 98765432109876543.21 into a float).
_TYPES: Final[dict[Dialect, dict[str, str]]] = {
    "sqlite": {
        "amount": "TEXT",
        "int": "INTEGER",
        "bool": "INTEGER",
        "time": "TEXT",
        "json": "TEXT",
        "serial": "INTEGER PRIMARY KEY",
    },
    "postgresql": {
        "amount": "NUMERIC",
        "int": "BIGINT",
        "bool": "BOOLEAN",
        "time": "TIMESTAMPTZ",
        "json": "JSONB",
        "serial": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    },
}

_FIELD_TYPES: Final = {
    "amount_due": "amount NOT NULL",
    "amount_paid": "amount NOT NULL",
    "amount_remaining": "amount NOT NULL",
    "currency": "TEXT NOT NULL",
    "attempt_count": "int",
    "attempted": "bool",
    "auto_advance": "bool",
    "created": "time",
    "created_by": "TEXT",
    "description": "TEXT",
    "invoice_origin": "TEXT",
    "invoice_pdf": "TEXT",
    "status": "TEXT",
    "extra": "json NOT NULL",
}


def _type(dialect: Dialect, spec: str) -> str:
    kind, _, rest = spec.partition(" ")
    resolved = _TYPES[dialect].get(kind, kind)
    return f"{resolved} {rest}".strip()


def field_columns(dialect: Dialect) -> str:
    """Return the ``name TYPE`` list of the invoice fields, for a CREATE TABLE."""
    return ",\n    ".join(f"{f} {_type(dialect, _FIELD_TYPES[f])}" for f in FIELDS)


def _version_1(dialect: Dialect) -> list[str]:
    t = _TYPES[dialect]
    return [
        f"""CREATE TABLE invoices (
    account_id TEXT NOT NULL,
    id TEXT NOT NULL,
    {field_columns(dialect)},
    first_seen_at {t["time"]} NOT NULL,
    last_seen_at {t["time"]} NOT NULL,
    removed_at {t["time"]},
    PRIMARY KEY (account_id, id)
)""",
        f"""CREATE TABLE invoice_changes (
    change_id {t["serial"]},
    account_id TEXT NOT NULL,
    id TEXT NOT NULL,
    field TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT,
    seen_at {t["time"]} NOT NULL
)""",
        "CREATE INDEX invoice_changes_invoice ON invoice_changes (account_id, id)",
        "CREATE INDEX invoice_changes_seen_at ON invoice_changes (seen_at)",
        f"""CREATE TABLE sync_runs (
    run_id {t["serial"]},
    account_id TEXT NOT NULL,
    started_at {t["time"]} NOT NULL,
    finished_at {t["time"]} NOT NULL,
    outcome TEXT NOT NULL,
    seen {t["int"]} NOT NULL,
    inserted {t["int"]} NOT NULL,
    updated {t["int"]} NOT NULL,
    removed {t["int"]} NOT NULL,
    changes {t["int"]} NOT NULL,
    error TEXT
)""",
        "CREATE INDEX sync_runs_account ON sync_runs (account_id, started_at)",
        # A present invoice was seen by every successful sync of its account since it was
        # last written: computing that here keeps an unchanged re-run from writing a row.
        """CREATE VIEW invoices_seen AS
SELECT i.account_id, i.id,
       CASE WHEN i.removed_at IS NULL THEN coalesce(
           (SELECT max(r.started_at) FROM sync_runs r
            WHERE r.account_id = i.account_id AND r.outcome = 'ok'),
           i.last_seen_at)
       ELSE i.last_seen_at END AS last_seen_at
FROM invoices i""",
    ]


def _not_older(dialect: Dialect, created: str, since: str) -> str:
    # SQLite keeps times as text in two spellings (with and without microseconds), which
    # do not sort as times within one second: compare them as times.
    if dialect == "sqlite":
        return f"julianday({created}) >= julianday({since})"
    return f"{created} >= {since}"


def covering_run(dialect: Dialect, invoice: str = "i") -> str:
    """Return the SQL of "when the last successful sync that read row ``invoice`` started".

    A full walk reads every invoice; a partial walk reads those created at or after its
    ``walked_since`` (an invoice without a creation time only by a full walk).
    """
    return (
        f"(SELECT max(r.started_at) FROM sync_runs r WHERE r.account_id = {invoice}.account_id "
        f"AND r.outcome = 'ok' AND (r.walked_since IS NULL OR "
        f"{_not_older(dialect, f'{invoice}.created', 'r.walked_since')}))"
    )


def _version_2(dialect: Dialect) -> list[str]:
    t = _TYPES[dialect]
    false = "0" if dialect == "sqlite" else "false"
    return [
        # Every run before this version walked the whole history.
        "ALTER TABLE sync_runs ADD COLUMN mode TEXT NOT NULL DEFAULT 'full'",
        f"ALTER TABLE sync_runs ADD COLUMN walked_since {t['time']}",
        f"ALTER TABLE sync_runs ADD COLUMN requests {t['int']}",
        f"ALTER TABLE sync_runs ADD COLUMN unordered {t['bool']} NOT NULL DEFAULT {false}",
        # A partial sync reads only the recent part of the history: a present invoice was
        # seen by the last successful sync whose walk reached it, not by the last one.
        "DROP VIEW invoices_seen",
        f"""CREATE VIEW invoices_seen AS
SELECT i.account_id, i.id,
       CASE WHEN i.removed_at IS NULL THEN coalesce({covering_run(dialect)}, i.last_seen_at)
       ELSE i.last_seen_at END AS last_seen_at
FROM invoices i""",
    ]


#: The schema version this release creates and reads.
CURRENT_VERSION: Final = 2


def check_version(version: int, database: str) -> None:
    """Refuse a database whose schema is newer than this release knows.

    Args:
        version: The database's schema version.
        database: The database as messages name it (its redacted URL).

    Raises:
        MirrorError: If ``version`` is above :data:`CURRENT_VERSION`; nothing was changed.
    """
    if version > CURRENT_VERSION:
        raise MirrorError(
            f"{database} has schema version {version}, newer than this "
            f"asyncinvoices knows ({CURRENT_VERSION}): upgrade asyncinvoices"
        )


def migrations(dialect: Dialect, version: int) -> Sequence[str]:
    """Return the statements that take a database from ``version`` to ``CURRENT_VERSION``.

    Args:
        dialect: ``"sqlite"`` or ``"postgresql"``.
        version: The database's schema version; 0 for an empty database.
    """
    steps = [_version_1, _version_2]
    statements: list[str] = []
    for step in steps[version:]:
        statements += step(dialect)
    return statements


def differs(dialect: Dialect, old: str = "i", new: str = "s") -> str:
    """Return the SQL condition "some field of row ``old`` differs from row ``new``".

    NULL-safe in both dialects (``IS NOT`` in SQLite, ``IS DISTINCT FROM`` in PostgreSQL),
    and true for a row marked removed, which is back.
    """
    op = "IS NOT" if dialect == "sqlite" else "IS DISTINCT FROM"
    checks = [f"{old}.{f} {op} {new}.{f}" for f in FIELDS]
    return "(" + " OR ".join([f"{old}.removed_at IS NOT NULL", *checks]) + ")"
