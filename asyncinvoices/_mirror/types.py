"""The mirror's vocabulary: database URLs, sync results and errors. Pure, no I/O.

::

    AsyncInvoicesError
    ├── ConfigurationError        a database URL that cannot be used (bad scheme, no asyncpg)
    └── MirrorError               the database failed, or its schema is newer than this version
        └── MirrorBusyError       another sync holds the account (or the SQLite file) too long

A database URL's password never appears in a ``repr``, a ``str`` or an error message: they
all use :attr:`DatabaseURL.redacted`.
"""

from __future__ import annotations

import datetime as dt
import os
import urllib.parse
from collections.abc import Mapping
from typing import Literal

import attrs

from asyncinvoices._errors import AsyncInvoicesError, ConfigurationError

__all__ = [
    "AccountSync",
    "DatabaseURL",
    "MirrorBusyError",
    "MirrorError",
    "SyncOutcome",
    "SyncReport",
    "parse_database_url",
]

SyncOutcome = Literal["ok", "failed", "cancelled", "skipped"]
"""How the sync of one account ended, as ``sync_runs.outcome`` records it; ``"skipped"`` (another
worker was syncing the account, or had synced it) is reported, never recorded."""


class MirrorError(AsyncInvoicesError):
    """The mirror database failed: it could not be opened, read, written or migrated.

    The message names the database by its redacted URL, never with its password.
    """


class MirrorBusyError(MirrorError):
    """Another sync of the same account (or, on SQLite, any write) held the lock too long.

    Nothing was written; run again when the other sync has finished, or raise
    ``lock_timeout``.
    """


@attrs.frozen(kw_only=True)
class DatabaseURL:
    """Where the mirror lives: an SQLite file or a PostgreSQL database.

    :meth:`InvoiceMirror.open` parses it from the URL text. The password is kept out of
    ``repr``.

    Attributes:
        scheme: ``"sqlite"`` or ``"postgresql"``.
        path: The SQLite file (``":memory:"`` for a private in-memory database).
        host: The PostgreSQL host (a directory for a Unix socket).
        port: The PostgreSQL port, or ``None`` for the default.
        user: The PostgreSQL user, if given.
        password: The PostgreSQL password, if given; never shown.
        database: The PostgreSQL database name, if given.
    """

    scheme: Literal["sqlite", "postgresql"]
    path: str | None = None
    host: str | None = None
    port: int | None = None
    user: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    database: str | None = None

    @property
    def redacted(self) -> str:
        """The URL with the password replaced by ``***``, safe to print and log."""
        if self.scheme == "sqlite":
            return f"sqlite:///{self.path}"
        auth = ""
        if self.user is not None:
            auth = urllib.parse.quote(self.user, safe="")
            auth += ":***@" if self.password is not None else "@"
        host = self.host or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{self.port}" if self.port is not None else ""
        return f"postgresql://{auth}{host}{port}/{self.database or ''}"

    @property
    def file(self) -> str | None:
        """The SQLite file's absolute path; ``None`` for PostgreSQL and ``":memory:"``.

        ``sqlite:///var/lib/x.db`` (three slashes) is relative to the working directory and
        ``sqlite:////var/lib/x.db`` (four) absolute: this says which file it is either way.
        """
        if self.scheme != "sqlite" or self.path in (None, ":memory:"):
            return None
        return os.path.abspath(self.path)

    @property
    def display(self) -> str:
        """What to print: the redacted URL, and for an SQLite file its absolute path."""
        file = self.file
        return self.redacted if file is None else f"{self.redacted} (the file {file})"

    def __str__(self) -> str:
        return self.redacted


def _bad(text: str, why: str) -> ConfigurationError:
    # The URL is never repeated: it may hold a password.
    del text
    return ConfigurationError(
        f"invalid database URL: {why}; expected sqlite:///FILE or "
        "postgresql://USER:PASSWORD@HOST:PORT/DBNAME"
    )


def parse_database_url(text: str) -> DatabaseURL:
    """Return the :class:`DatabaseURL` of ``text``.

    ``sqlite:///invoices.db`` is a file relative to the working directory,
    ``sqlite:////var/lib/invoices.db`` an absolute one; ``postgresql://`` (or
    ``postgres://``) URLs follow libpq: ``postgresql://user:password@host:port/dbname``,
    with percent-encoded special characters.

    Args:
        text: The URL.

    Raises:
        ConfigurationError: If the scheme is neither, or the URL is malformed; the message
            never contains the URL (it may hold a password).
    """
    try:
        parts = urllib.parse.urlsplit(text.strip())
        port = parts.port
    except ValueError:
        raise _bad(text, "it cannot be parsed (is the port a number?)") from None
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        path = urllib.parse.unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if parts.netloc or not path:
            raise _bad(text, "an sqlite URL needs three slashes and a file, sqlite:///FILE")
        return DatabaseURL(scheme="sqlite", path=path)
    if scheme in ("postgresql", "postgres"):
        unquote = urllib.parse.unquote
        return DatabaseURL(
            scheme="postgresql",
            host=unquote(parts.hostname) if parts.hostname else None,
            port=port,
            user=unquote(parts.username) if parts.username is not None else None,
            password=unquote(parts.password) if parts.password is not None else None,
            database=unquote(parts.path.lstrip("/")) or None,
        )
    raise _bad(text, f"unsupported scheme {parts.scheme!r}")


@attrs.frozen(kw_only=True)
class AccountSync:
    """What the sync of one account did (one row of ``sync_runs``).

    Attributes:
        account_id: The account.
        started_at: When the sync started (UTC); also ``first_seen_at`` / ``seen_at`` of what
            it wrote.
        finished_at: When it committed, or gave up (UTC).
        outcome: ``"ok"``, ``"failed"``, ``"cancelled"``, or ``"skipped"`` when another worker
            was syncing the account or had synced it (``sync(divide=True)``; never recorded).
        seen: Invoices the API listed.
        inserted: Invoices new to the mirror.
        updated: Known invoices with at least one changed field, or back after a removal.
        removed: Invoices no longer listed, now marked ``removed_at``.
        changes: Rows added to ``invoice_changes``.
        error: What went wrong, for a failed or cancelled sync.
        mode: ``"full"``: the walk read the whole history (and could mark invoices
            removed); ``"partial"``: newest first down to ``walked_since`` only.
        walked_since: For a partial walk, the oldest creation time it read; ``None`` for a
            full walk.
        requests: Requests the walk sent, retries included (each counts against the quota).
        unordered: The server did not list newest first, so a partial walk could not stop
            early: it walked to the end of the history, and read the window from it.
    """

    account_id: str
    started_at: dt.datetime
    finished_at: dt.datetime
    outcome: Literal["ok", "failed", "cancelled", "skipped"] = "ok"
    seen: int = 0
    inserted: int = 0
    updated: int = 0
    removed: int = 0
    changes: int = 0
    error: str | None = None
    mode: Literal["full", "partial"] = "full"
    walked_since: dt.datetime | None = None
    requests: int = 0
    unordered: bool = False


@attrs.frozen(kw_only=True)
class SyncReport:
    """What :meth:`InvoiceMirror.sync` did, one :class:`AccountSync` per account, in order.

    Attributes:
        accounts: The result of each account the sync reached.
        errors: The exception of each failed account, by account id.
    """

    accounts: tuple[AccountSync, ...]
    errors: Mapping[str, AsyncInvoicesError] = attrs.field(factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every account was synced."""
        return not self.errors
