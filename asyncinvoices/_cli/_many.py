"""``fetch`` and ``summary`` over many accounts, and the ``accounts`` command.

With more than one ACCOUNT_ID, or ``--all-accounts``, ``fetch`` and ``summary`` walk every
account with :meth:`InvoiceClient.invoices_many` on one client, so that all of them share the
token's quota (docs/cloudflare-api.md, "Rate limits"). Every row then carries ``account_id``.
``--skip-failed`` goes on past an account that fails, names it on stderr with the reason and
ends with :attr:`ExitCode.PARTIAL`.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, Final

from asyncinvoices._errors import AsyncInvoicesError, ConfigurationError
from asyncinvoices._models import Account
from asyncinvoices._streams.many import ManyStream

from ._atomic import atomic_text_file
from ._failures import ExitCode, describe
from ._formats import dumps_record, iso_utc, make_writer
from ._logging import redact
from ._output import Output, resolve_output
from ._progress import Progress, progress_display
from ._summary import Aggregator, render_format

if TYPE_CHECKING:
    from ._commands import Context

__all__ = [
    "ACCOUNT_CSV_COLUMNS",
    "account_record",
    "accounts",
    "fetch_many",
    "is_many",
    "report_skipped",
    "summary_many",
    "write_accounts",
]

#: The CSV header of ``asyncinvoices accounts``.
ACCOUNT_CSV_COLUMNS: Final = ("id", "name", "type", "created_on", "settings", "extra")


def is_many(args: Any) -> bool:
    """Whether the command walks several accounts (rows then carry ``account_id``).

    Raises:
        ConfigurationError: If neither an ACCOUNT_ID nor ``--all-accounts`` was given, or
            both were.
    """
    ids: Sequence[str] = args.account_ids
    if args.all_accounts and ids:
        raise ConfigurationError("give ACCOUNT_IDs or --all-accounts, not both")
    if not args.all_accounts and not ids:
        raise ConfigurationError("give one or more ACCOUNT_IDs, or --all-accounts")
    if not args.all_accounts and len(dict.fromkeys(ids)) == 1:
        args.account_id = ids[0]
        return False
    if getattr(args, "resume", None):
        # A state file records one account's position; the walk over many accounts has its
        # own checkpoint, which the state file format does not hold.
        raise ConfigurationError(
            "--resume works with one ACCOUNT_ID; with several accounts or --all-accounts, "
            "run again without --resume"
        )
    return True


def _stream(ctx: Context, client: Any, progress: Progress) -> ManyStream:
    args = ctx.args
    stream: ManyStream = client.invoices_many(
        None if args.all_accounts else args.account_ids,
        type=args.type,
        since=args.since,
        until=args.until,
        on_progress=progress.update,
        on_error="skip" if args.skip_failed else "raise",
    )
    return stream


def report_skipped(ctx: Context, failures: Mapping[str, AsyncInvoicesError]) -> int:
    """Name each skipped account with its reason on stderr; return the exit code."""
    for account_id, error in failures.items():
        message, _ = describe(error)
        with contextlib.suppress(OSError, ValueError):
            ctx.stderr.write(
                f"asyncinvoices: account {account_id} skipped: "
                f"{redact(message, ctx.redactor.secrets)}\n"
            )
    ctx.stderr.flush()
    return ExitCode.PARTIAL if failures else ExitCode.OK


def _name_failed(ctx: Context, stream: ManyStream, exc: BaseException) -> None:
    account_id = stream.failed_account
    if isinstance(exc, AsyncInvoicesError) and account_id is not None:
        ctx.stderr.write(f"asyncinvoices: account {account_id} failed\n")


async def fetch_many(ctx: Context) -> int:
    """``fetch`` over several accounts: every row carries ``account_id``."""
    from ._commands import (
        _client_for,
        output_progress,
        report_requests,
        wait_notices,
        with_governor_watch,
    )

    args = ctx.args
    output = resolve_output(args.output, args.format)
    notices = wait_notices(ctx)
    client = _client_for(ctx, notices)
    async with client:
        with output_progress(ctx, output, "accounts") as progress:
            notices.muted |= progress.visible
            stream = _stream(ctx, client, progress)
            if ctx.metrics is not None:
                ctx.metrics.invoices = lambda: stream.stats.invoices

            async def copy(file: IO[str]) -> int:
                writer = make_writer(output.format, file, account_column=True)
                try:
                    async with stream:
                        async for account_id, invoice in stream:
                            writer.write(invoice, account_id)
                        progress.update(stream.stats)
                except BaseException as exc:
                    _name_failed(ctx, stream, exc)
                    raise
                writer.end()
                return writer.count

            written = await _to_output(
                output, ctx, lambda f: with_governor_watch(client, progress, lambda: copy(f))
            )
    if output.path is not None and not ctx.quiet:
        accounts = stream.stats.accounts_done - stream.stats.failed
        ctx.stderr.write(f"wrote {written:,} invoices of {accounts:,} accounts to {output.path}\n")
    code = report_skipped(ctx, stream.failures)
    report_requests(ctx, stream.stats)
    return code


async def _to_output(output: Output, ctx: Context, body: Any) -> int:
    if output.path is None:
        written: int = await body(ctx.stdout)
        return written
    newline = "" if output.format == "csv" else None
    with atomic_text_file(output.path, newline=newline, compress=output.compress) as file:
        return await body(file)  # type: ignore[no-any-return]


async def summary_many(ctx: Context) -> int:
    """``summary`` over several accounts: each account's totals, and all of them together."""
    from ._commands import (
        _client_for,
        report_requests,
        terminal_width,
        wait_notices,
        with_governor_watch,
    )

    notices = wait_notices(ctx)
    client = _client_for(ctx, notices)
    aggregator = Aggregator()
    each: dict[str, Aggregator] = {}
    async with client:
        with progress_display(
            ctx.stderr, enabled=ctx.show_progress, description="accounts", log_stream=ctx.log_stream
        ) as progress:
            notices.muted |= progress.visible
            stream = _stream(ctx, client, progress)

            async def consume() -> None:
                try:
                    async with stream:
                        async for account_id, invoice in stream:
                            aggregator.add(invoice)
                            if account_id not in each:
                                each[account_id] = Aggregator()
                            each[account_id].add(invoice)
                        progress.update(stream.stats)
                except BaseException as exc:
                    _name_failed(ctx, stream, exc)
                    raise

            await with_governor_watch(client, progress, consume)
    stats = stream.stats
    # Every account walked to its end, in output order, those without invoices included.
    done: list[str] = stream.checkpoint()["done"]
    accounts = {a: (each[a] if a in each else Aggregator()).result() for a in done}
    if ctx.args.format == "table":
        ctx.stdout.write(
            f"{stats.accounts_done - stats.failed:,} accounts"
            + (f" ({stats.failed:,} skipped)" if stats.failed else "")
            + "\n"
        )
    width = min(terminal_width(ctx.stdout), 100)
    ctx.stdout.write(render_format(ctx.args.format, aggregator.result(), accounts, width=width))
    ctx.stdout.flush()
    code = report_skipped(ctx, stream.failures)
    report_requests(ctx, stream.stats)
    return code


# -- the accounts command --------------------------------------------------------------------


def account_record(account: Account) -> dict[str, Any]:
    """Return the account as the API's JSON object: ``created_on`` ISO-8601 UTC, unknown
    fields included."""
    record: dict[str, Any] = {
        "id": account.id,
        "name": account.name,
        "type": account.type,
        "created_on": None if account.created_on is None else iso_utc(account.created_on),
        "settings": None if account.settings is None else dict(account.settings),
    }
    for name, value in account.extra.items():
        record.setdefault(name, value)
    return record


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return dumps_record(value) if isinstance(value, dict) else json.dumps(value)
    return str(value)


def write_accounts(format: str, file: IO[str], accounts: Sequence[Account]) -> None:
    """Write ``accounts`` in ``format`` (table, csv, jsonl or json) to ``file``."""
    if format == "csv":
        rows = csv.writer(file)
        rows.writerow(ACCOUNT_CSV_COLUMNS)
        for account in accounts:
            record = account_record(account)
            extra = dict(account.extra)
            cells = [record[c] for c in ACCOUNT_CSV_COLUMNS[:-1]]
            rows.writerow([*(_csv_cell(c) for c in cells), _csv_cell(extra or None)])
    elif format == "jsonl":
        file.writelines(dumps_record(account_record(a)) + "\n" for a in accounts)
    elif format == "json":
        lines = ",\n".join(dumps_record(account_record(a)) for a in accounts)
        file.write(f"[\n{lines}\n]\n" if accounts else "[]\n")
    else:
        file.write(f"{'id':<32}  {'type':<10}  {'created_on':<20}  name\n")
        for a in accounts:
            created = iso_utc(a.created_on) if a.created_on else "-"
            file.write(f"{a.id:<32}  {a.type or '-':<10}  {created:<20}  {a.name}\n")
    file.flush()


async def accounts(ctx: Context) -> None:
    """``asyncinvoices accounts``: every account the credentials can read."""
    from ._commands import make_client, wait_notices

    args = ctx.args
    output = resolve_output(args.output, args.format)
    client = make_client(
        ctx,
        max_concurrency=args.concurrency,
        per_page=None,  # the listing's largest accepted, from its documented 50 down
        rate_limit=args.rate_limit,
        on_wait=wait_notices(ctx),
    )
    async with client:
        async with client.accounts(name=args.name, direction=args.direction) as stream:
            listed = [account async for account in stream]
    if output.path is None:
        write_accounts(output.format, ctx.stdout, listed)
        return
    newline = "" if output.format == "csv" else None
    with atomic_text_file(output.path, newline=newline, compress=output.compress) as file:
        write_accounts(output.format, file, listed)
    if not ctx.quiet:
        ctx.stderr.write(f"wrote {len(listed):,} accounts to {output.path}\n")
        ctx.stderr.flush()
