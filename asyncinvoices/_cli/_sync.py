"""The ``sync`` command: mirror the invoice history of accounts into a database.

Options, progress and exit codes are ``fetch``'s; the output is one line per account: how
much of its history was walked (full or partial), invoices seen, inserted, updated and
removed, and the requests it cost. The database URL's password is registered with the log
redactor before anything can fail, and only the redacted URL is ever printed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import shlex
import urllib.parse
from collections.abc import Mapping
from typing import Any, Final

import anyio

import asyncinvoices as ai
from asyncinvoices import AccountSync, DatabaseURL, SyncReport

from ._failures import ExitCode
from ._logging import redact
from ._metrics import record_sync
from ._options import (
    add_account_selection,
    add_connection_options,
    add_metrics_file_argument,
    days,
    positive,
)
from ._runtime import Context, make_client, report_skipped, with_governor_watch

__all__ = [
    "SYNC_EXAMPLES",
    "add_sync_arguments",
    "database_url",
    "database_url_from",
    "render_report",
    "rerun_command",
    "sync",
]

# The database the command line mirrors into, from `--db`, the environment or the default.
_ENV_DB: Final = "ASYNCINVOICES_DB"
_DEFAULT_DB_URL: Final = "sqlite:///invoices.db"


def database_url_from(environ: Mapping[str, str], given: str | None = None) -> str:
    """Return the URL to mirror into: ``given`` (``--db``), else ``$ASYNCINVOICES_DB``, else
    the SQLite default."""
    return given or environ.get(_ENV_DB) or _DEFAULT_DB_URL


SYNC_EXAMPLES: Final = f"""\
examples:
  asyncinvoices sync ACCOUNT_ID                       into ./invoices.db (SQLite)
  asyncinvoices sync ACCOUNT_A ACCOUNT_B --db sqlite:////var/lib/invoices.db
  {_ENV_DB}=postgresql://user:password@db:5432/billing asyncinvoices sync ACCOUNT_ID
  asyncinvoices sync --all-accounts --skip-failed     every account, side by side
  asyncinvoices sync ACCOUNT_ID --full                walk the whole history now

The first sync of an account walks its whole history. Later ones walk newest first and stop
once past both the --lookback window and the oldest invoice the database holds as not yet
paid or void: a few requests a night. Every --full-every days the whole history is walked
again; only then are invoices no longer listed marked removed_at (never deleted).

Each account is synced in one transaction: a failed or interrupted run changes nothing and
is recorded in the sync_runs table, as is every run's mode, window and requests; every
changed field is recorded in invoice_changes. PostgreSQL needs
pip install 'asyncinvoices[postgres]'. Several sync processes on one PostgreSQL database
divide the accounts: each skips an account another is syncing or has synced since it
started ("skipped"); on SQLite they take turns.

"""


def add_sync_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``sync`` arguments: ``fetch``'s options for accounts (no ``--type``) and ``--db``.

    ``--type`` is left out on purpose: a mirror of one type would mark every invoice of the
    other type removed.
    """
    add_account_selection(
        parser,
        ids_help="the Cloudflare account ids: 32 hexadecimal characters each",
        skip_failed_help="go on past an account that fails, name it on stderr with the "
        "reason, and exit with 8 (a rate limit still stops the run); without it, no account "
        "starts after a failure",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="walk every account's whole history, marking invoices no longer listed removed",
    )
    parser.add_argument(
        "--lookback",
        type=days(maximum=ai.MAX_LOOKBACK.days, zero=True),
        default=ai.DEFAULT_LOOKBACK.days,
        metavar="DAYS",
        help=f"a partial sync reads again at least the invoices of the last DAYS days "
        f"(default: {ai.DEFAULT_LOOKBACK.days}, at most {ai.MAX_LOOKBACK.days}); invoices not yet "
        "paid or void are read again whatever their age",
    )
    parser.add_argument(
        "--full-every",
        type=days(maximum=None, zero=False),
        default=ai.DEFAULT_FULL_EVERY.days,
        metavar="DAYS",
        help=f"walk an account's whole history when its last full walk is DAYS days old "
        f"(default: {ai.DEFAULT_FULL_EVERY.days})",
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        help=f"the database (default: ${_ENV_DB} or {_DEFAULT_DB_URL}); "
        "postgresql://user:password@host:port/dbname uses PostgreSQL",
    )
    parser.add_argument(
        "--per-page",
        type=positive,
        metavar="N",
        help="invoices per request (default: the largest the server accepts, learnt once "
        "per run; N is never raised, only lowered to the server's maximum)",
    )
    parser.add_argument(
        "--concurrency",
        type=positive,
        default=8,
        metavar="C",
        help="requests in flight at most (default: 8)",
    )
    add_metrics_file_argument(parser)
    add_connection_options(parser)


def database_url(ctx: Context, text: str) -> DatabaseURL:
    """Parse a database URL and keep its password out of everything the run prints.

    The password is registered before anything can fail, in both spellings a message could
    carry.
    """
    url = ai.parse_database_url(text)
    ctx.keep_password(url.password)
    return url


def rerun_command(args: argparse.Namespace, url: DatabaseURL, account_ids: list[str]) -> str:
    """Return the ``sync`` command line that mirrors ``account_ids`` with this run's options.

    The database is named by its redacted URL: a password shows as ``***``, to fill in (or
    to leave in ``$ASYNCINVOICES_DB``, which the command then reads).
    """
    words = ["asyncinvoices", "sync", *account_ids]
    if args.db is not None:
        words += ["--db", url.redacted]
    if args.base_url:
        words += ["--base-url", args.base_url]
    if args.per_page is not None:
        words += ["--per-page", str(args.per_page)]
    if args.concurrency != 8:
        words += ["--concurrency", str(args.concurrency)]
    if args.rate_limit is not None:
        words += ["--rate-limit", f"{args.rate_limit.requests}/{args.rate_limit.window:g}"]
    if args.full:
        words.append("--full")
    if args.lookback != ai.DEFAULT_LOOKBACK.days:
        words += ["--lookback", f"{args.lookback:g}"]
    if args.full_every != ai.DEFAULT_FULL_EVERY.days:
        words += ["--full-every", f"{args.full_every:g}"]
    if args.skip_failed:
        words.append("--skip-failed")
    if args.shared_quota is not None:
        words += ["--shared-quota", _without_password(args.shared_quota)]
    if args.quota_key is not None:
        words += ["--quota-key", args.quota_key]
    return shlex.join(words)


def _without_password(url: str) -> str:
    """``url`` with a password shown as ``***``, to fill in, as the database's is."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _report_interrupted(
    ctx: Context, url: DatabaseURL, ids: list[str], done: list[AccountSync]
) -> None:
    """Say which accounts an interrupted run mirrored, which it did not, and how to go on.

    Driven by the result of each account as it was recorded in ``sync_runs``, whatever the
    order the accounts were synced in: the table on stdout as after a whole run, the rest on
    stderr.
    """
    # In the order the accounts were given: accounts synced side by side end in any order.
    order = {account_id: i for i, account_id in enumerate(ids)}
    done = sorted(done, key=lambda run: order.get(run.account_id, len(ids)))
    mirrored = {run.account_id for run in done if run.outcome == "ok"}
    rest = [account_id for account_id in ids if account_id not in mirrored]
    with contextlib.suppress(OSError, ValueError):
        ctx.stdout.write(
            f"mirrored into {url.display}\n"
            + render_report(SyncReport(accounts=tuple(done), errors={}))
        )
        ctx.stdout.flush()
        if rest:
            ctx.stderr.write(
                f"asyncinvoices: interrupted: {len(mirrored):,} of {len(ids):,} accounts "
                f"mirrored and committed; {len(rest):,} not, their rows as they were: "
                + " ".join(rest)
                + "\nasyncinvoices: to mirror the rest, run: "
                + rerun_command(ctx.args, url, rest)
                + "\n"
            )
        else:
            ctx.stderr.write(
                f"asyncinvoices: interrupted: all {len(ids):,} accounts were mirrored and "
                "committed\n"
            )
        ctx.stderr.flush()


def render_report(report: SyncReport) -> str:
    """Return the per-account table ``sync`` prints, and a line per account whose server did
    not list newest first.

    Args:
        report: What the sync did.
    """
    header = ("account", "mode", "seen", "inserted", "updated", "removed", "requests", "outcome")
    left = (0, 1, 7)

    def cells(run: AccountSync) -> tuple[str, ...]:
        numbers = (run.seen, run.inserted, run.updated, run.removed, run.requests)
        mode = "-" if run.outcome == "skipped" else run.mode  # skipped: nothing was walked
        return (run.account_id, mode, *(f"{n:,}" for n in numbers), run.outcome)

    rows = [header, *(cells(run) for run in report.accounts)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i in left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    lines += [
        f"{run.account_id}: the server does not list newest first, so the partial sync "
        f"walked to the end of the history ({run.requests:,} requests)"
        for run in report.accounts
        if run.unordered
    ]
    return "\n".join(lines) + "\n"


class _Progress:
    """The accounts' walks added up, for the progress bar."""

    def __init__(self, progress: Any, accounts: int | None) -> None:
        self._progress = progress
        self._latest: dict[str, ai.FetchStats] = {}
        self._accounts = accounts
        self._done = 0
        self._failed = 0

    def page(self, account_id: str, stats: ai.FetchStats) -> None:
        self._latest[account_id] = stats
        self._show()

    def account(self, run: AccountSync) -> None:
        self._done += 1
        self._failed += run.outcome not in ("ok", "skipped")
        self._show()

    def _show(self) -> None:
        latest = list(self._latest.values())
        if self._accounts == 1 and latest:
            self._progress.update(latest[0])
            return
        self._progress.update(
            ai.ManyStats(
                accounts_done=self._done,
                accounts_total=self._accounts,
                failed=self._failed,
                pages=sum(s.pages for s in latest),
                invoices=sum(s.invoices for s in latest),
                requests=sum(s.requests for s in latest),
                retries=sum(s.retries for s in latest),
                throttled_seconds=sum(s.throttled_seconds for s in latest),
                elapsed=max((s.elapsed for s in latest), default=0.0),
            )
        )


async def sync(ctx: Context) -> int:
    """``asyncinvoices sync``: mirror each account into the database, then print the counts.

    Returns:
        0, or 8 when ``--skip-failed`` skipped an account.

    Raises:
        AsyncInvoicesError: Without ``--skip-failed``, the first failed account's error,
            after the table is printed (it picks the exit code, as for ``fetch``); with it,
            a rate limit's.
    """
    args = ctx.args
    if bool(args.all_accounts) == bool(args.account_ids):
        raise ai.ConfigurationError("give one or more ACCOUNT_IDs, or --all-accounts (not both)")
    url = database_url(ctx, database_url_from(ctx.environ, args.db))
    client = make_client(
        ctx, max_concurrency=args.concurrency, per_page=args.per_page, rate_limit=args.rate_limit
    )
    # What is known while the run goes on, for the report of an interrupted run.
    ids: list[str] = []
    done: list[AccountSync] = []
    async with client, ai.InvoiceMirror.open(url) as mirror:
        with ctx.progress("syncing") as progress:

            async def run() -> SyncReport:
                ids.extend(args.account_ids or [a.id async for a in client.accounts()])
                shown = _Progress(progress, len(ids))

                def account(run: AccountSync) -> None:
                    done.append(run)
                    shown.account(run)

                # Other `sync` processes on the same database divide the accounts with this
                # one: an account another is syncing, or has synced since, is skipped.
                return await mirror.sync(
                    client,
                    ids,
                    on_progress=shown.page,
                    on_account=account,
                    full=args.full,
                    lookback=dt.timedelta(days=args.lookback),
                    full_every=dt.timedelta(days=args.full_every),
                    stop_on_error=not args.skip_failed,
                    divide=True,
                )

            try:
                report = await with_governor_watch(client, progress, run)
            except (anyio.get_cancelled_exc_class(), KeyboardInterrupt):
                if ids:  # Ctrl-C after the accounts were known
                    _report_interrupted(ctx, url, ids, done)
                raise
        if ctx.metrics is not None:
            await record_sync(ctx.metrics, mirror, report)
    ctx.stdout.write(f"mirrored into {url.display}\n" + render_report(report))
    ctx.stdout.flush()
    rate_limited = [e for e in report.errors.values() if isinstance(e, ai.RateLimitError)]
    if args.skip_failed and not rate_limited:
        return report_skipped(ctx, report.errors)
    if len(report.errors) > 1:  # the exit code and last line are the first failure's
        for account_id, error in report.errors.items():
            ctx.stderr.write(
                redact(f"asyncinvoices: {account_id}: {error}\n", ctx.redactor.secrets)
            )
    if rate_limited:
        raise rate_limited[0]
    if report.errors:
        raise next(iter(report.errors.values()))
    return ExitCode.OK
