"""The ``accounts`` command: every account the credentials can read, in four formats."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from typing import IO, Any, Final

import asyncinvoices as ai

from ._atomic import atomic_text_file
from ._formats import dumps_record, iso_utc
from ._output import resolve_output
from ._runtime import Context, make_client, wait_notices

__all__ = ["ACCOUNT_CSV_COLUMNS", "account_record", "accounts", "write_accounts"]

#: The CSV header of ``asyncinvoices accounts``.
ACCOUNT_CSV_COLUMNS: Final = ("id", "name", "type", "created_on", "settings", "extra")


def account_record(account: ai.Account) -> dict[str, Any]:
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


def write_accounts(format: str, file: IO[str], accounts: Sequence[ai.Account]) -> None:
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
