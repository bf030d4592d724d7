"""The ``sync`` command: mirror the invoice history of accounts into a database.

Options, progress and exit codes are ``fetch``'s; the output is one line per account:
invoices seen, inserted, updated and removed. The database URL's password is registered with
the log redactor before anything can fail, and only the redacted URL is ever printed.
"""

from __future__ import annotations

import argparse
import urllib.parse
from typing import Final

from asyncinvoices._errors import ConfigurationError
from asyncinvoices._mirror import InvoiceMirror
from asyncinvoices._mirror_types import (
    DEFAULT_DB_URL,
    ENV_DB,
    AccountSync,
    DatabaseURL,
    SyncReport,
    database_url_from,
    parse_database_url,
)
from asyncinvoices._models import FetchStats

from ._commands import Context, make_client, with_governor_watch
from ._logging import redact
from ._metrics import add_metrics_file_argument, record_sync
from ._progress import progress_display

__all__ = ["SYNC_EXAMPLES", "add_sync_arguments", "database_url", "render_report", "sync"]

SYNC_EXAMPLES: Final = f"""\
examples:
  asyncinvoices sync ACCOUNT_ID                       into ./invoices.db (SQLite)
  asyncinvoices sync ACCOUNT_A ACCOUNT_B --db sqlite:////var/lib/invoices.db
  {ENV_DB}=postgresql://user:password@db:5432/billing asyncinvoices sync ACCOUNT_ID

Each account is synced in one transaction: a failed or interrupted run changes nothing and
is recorded in the sync_runs table. Invoices no longer listed are marked removed_at, never
deleted; every changed field is recorded in invoice_changes. PostgreSQL needs
pip install 'asyncinvoices[postgres]'.

"""


def add_sync_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``sync`` arguments: ``fetch``'s options for accounts (no ``--type``) and ``--db``.

    ``--type`` is left out on purpose: a mirror of one type would mark every invoice of the
    other type removed.
    """
    from ._app import _positive  # the same validation as fetch's options

    parser.add_argument(
        "account_ids", metavar="ACCOUNT_ID", nargs="*", help="the Cloudflare account ids"
    )
    parser.add_argument(
        "--all-accounts",
        action="store_true",
        help="every account the credentials can read (GET /accounts), instead of ACCOUNT_IDs",
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        help=f"the database (default: ${ENV_DB} or {DEFAULT_DB_URL}); "
        "postgresql://user:password@host:port/dbname uses PostgreSQL",
    )
    parser.add_argument(
        "--per-page",
        type=_positive,
        default=50,
        metavar="N",
        help="invoices per request (default: 50; a smaller maximum is detected)",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive,
        default=8,
        metavar="C",
        help="requests in flight at most (default: 8)",
    )
    add_metrics_file_argument(parser)
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help="API root (default: $CLOUDFLARE_BASE_URL or https://api.cloudflare.com/client/v4); "
        "https, or http to loopback only",
    )


def database_url(ctx: Context, text: str) -> DatabaseURL:
    """Parse a database URL and keep its password out of everything the run prints.

    The password is registered before anything can fail, in both spellings a message could
    carry.
    """
    url = parse_database_url(text)
    if url.password:
        ctx.redactor.secrets += (url.password, urllib.parse.quote(url.password, safe=""))
    return url


def render_report(report: SyncReport) -> str:
    """Return the per-account table ``sync`` prints: seen, inserted, updated, removed.

    Args:
        report: What the sync did.
    """
    header = ("account", "seen", "inserted", "updated", "removed", "outcome")

    def cells(run: AccountSync) -> tuple[str, ...]:
        numbers = (run.seen, run.inserted, run.updated, run.removed)
        return (run.account_id, *(f"{n:,}" for n in numbers), run.outcome)

    rows = [header, *(cells(run) for run in report.accounts)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i in (0, 5) else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    return "\n".join(lines) + "\n"


async def sync(ctx: Context) -> None:
    """``asyncinvoices sync``: mirror each account into the database, then print the counts.

    Raises:
        AsyncInvoicesError: The first failed account's error, after the table is printed
            (it picks the exit code, as for ``fetch``).
    """
    args = ctx.args
    if bool(args.all_accounts) == bool(args.account_ids):
        raise ConfigurationError("give one or more ACCOUNT_IDs, or --all-accounts (not both)")
    url = database_url(ctx, database_url_from(ctx.environ, args.db))
    client = make_client(ctx, max_concurrency=args.concurrency, per_page=args.per_page)
    async with client, InvoiceMirror.open(url) as mirror:
        with progress_display(
            ctx.stderr, enabled=ctx.show_progress, description="syncing", log_stream=ctx.log_stream
        ) as progress:

            def update(account_id: str, stats: FetchStats) -> None:
                progress.update(stats)

            async def run() -> SyncReport:
                ids = args.account_ids or [a.id async for a in client.accounts()]
                return await mirror.sync(client, ids, on_progress=update)

            report = await with_governor_watch(client, progress, run)
        if ctx.metrics is not None:
            await record_sync(ctx.metrics, mirror, report)
    ctx.stdout.write(f"mirrored into {url.redacted}\n" + render_report(report))
    ctx.stdout.flush()
    if len(report.errors) > 1:  # the exit code and last line are the first failure's
        for account_id, error in report.errors.items():
            ctx.stderr.write(
                redact(f"asyncinvoices: {account_id}: {error}\n", ctx.redactor.secrets)
            )
    if report.errors:
        raise next(iter(report.errors.values()))
