"""Syncs under the real constraint: Cloudflare's quota, counted in requests at the server.

Against the real API the time of a sync is set by the quota, not by the CPU: 1,200 requests
per five minutes per user, refilled at 4 a second (docs/cloudflare-api.md, "Rate limits"). So
every figure here is a request count, taken where the quota takes it, at the server
(FakeCloudflare's ``received``), and the wall time the quota imposes is computed from it:
the first 1,200 requests are free, each further one costs a quarter of a second.

``python -m benchmarks.quota [--quick]`` mirrors realistic histories (three years, most
invoices paid within days, ``FakeCloudflare(history="realistic")``) into SQLite and counts:

* the first sync of a 1,000,000-invoice account;
* its nightly sync after a day of activity: a few hundred new invoices, the open ones of
  the last days half paid;
* the nightly sync of 2,000 small accounts after a day of activity;
* the nightly sync of a 100,000-invoice three-year account, against a full walk of it (the
  target: at most 1 %), and the same with one invoice open for seven months.

Each against the previous release's defaults (50 invoices a page, a full walk every time)
and against the fewest requests possible: pages of the server's largest size, down to the
oldest invoice that changed. The server accepts 1,000 a page; this release's client runs
with its own defaults, so its page size is whatever the client's default is. ``--quick``
makes every account fifty times smaller, for the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from asyncinvoices import InvoiceClient, InvoiceMirror
from asyncinvoices.testing import FakeCloudflare

__all__ = ["FREE", "RATE", "Row", "main", "quota_seconds", "render", "run"]

#: Requests the quota lets through at once: a full window (docs/cloudflare-api.md, "Rate limits").
FREE = 1200
#: Requests a second the quota refills once the window is spent.
RATE = 4.0
#: The largest page the fake accepts: the largest any Cloudflare list endpoint is known to.
SERVER_MAX = 1000
#: The previous release's defaults.
PREVIOUS_PER_PAGE = 50
#: New invoices a day on the 1,000,000-invoice account, one a minute.
NEW_A_DAY = 300


def quota_seconds(requests: int) -> float:
    """The wall time Cloudflare's quota imposes on ``requests`` sent at once.

    Args:
        requests: Requests of the run; the first :data:`FREE` go at once, the rest at
            :data:`RATE` a second.
    """
    return max(0, requests - FREE) / RATE


@attrs.frozen(kw_only=True)
class Row:
    """One line of the table: a sync, measured three ways.

    Attributes:
        name: What was synced.
        previous: Requests with the previous release's defaults.
        current: Requests with this release's defaults.
        fewest: The fewest requests that can see every change.
        full: Requests of a full walk with this release's page size, for the 1 % target.
    """

    name: str
    previous: int | None
    current: int
    fewest: int
    full: int | None = None


class _Clock:
    """The mirror's clock: set by the scenario, so that windows do not follow real time."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


async def _sync(
    fake: FakeCloudflare,
    mirror: InvoiceMirror,
    ids: Sequence[str],
    *,
    previous: bool,
) -> int:
    """Sync ``ids`` as the previous release or this one would; return the requests served."""
    fake.reset_counters()
    options: dict[str, Any] = {"rate_limit": None}  # the quota is computed, not waited for
    if previous:
        options["per_page"] = PREVIOUS_PER_PAGE
    async with InvoiceClient(api_token=fake.api_token, base_url=fake.base_url, **options) as c:
        report = await mirror.sync(c, ids, full=previous)
    if not report.ok:
        raise RuntimeError(f"the sync failed: {next(iter(report.errors.values()))}")
    served = fake.received
    counted = sum(run.requests for run in report.accounts)
    if counted != served:
        raise RuntimeError(f"the mirror counted {counted} requests, the server {served}")
    return served


def _recent(fake: FakeCloudflare, account_id: str) -> list[dict[str, Any]]:
    """The account's invoices of the last three days of its history and after, newest first.

    Read a chunk at a time from the fake's data, so that a 1,000,000-invoice account is not
    built whole: activity touches only this head of the history.
    """
    data = fake._account(account_id)
    since = fake.history_end - dt.timedelta(days=3)
    head: list[dict[str, Any]] = []
    while True:
        chunk = data.page_serials("all", len(head), SERVER_MAX)
        for serial in chunk:
            invoice = data.expected(serial)
            if invoice["created"] < since:
                return head
            head.append(invoice)
        if len(chunk) < SERVER_MAX:
            return head


def _day_of_activity(fake: FakeCloudflare, account_id: str, new: int, seed: int) -> None:
    """New invoices, and half the open invoices of the last days paid."""
    draw = random.Random(seed)
    opened = [i for i in _recent(fake, account_id) if i["status"] == "open"]
    fake.create_invoices(new, account_id)
    for invoice in opened:
        if draw.random() < 0.5:
            fake.update_invoice(
                invoice["id"],
                account_id,
                status="paid",
                amount_paid=Decimal(invoice["amount_due"]),
                amount_remaining=0,
            )


def _fewest_nightly(fake: FakeCloudflare, account_id: str, before: dict[str, Any]) -> int:
    """Pages of the largest size, newest first, down to the oldest new or changed invoice."""
    now = _recent(fake, account_id)
    last = max(
        (n for n, invoice in enumerate(now) if before.get(invoice["id"]) != invoice),
        default=0,
    )
    return last // SERVER_MAX + 1


def _state(fake: FakeCloudflare, account_id: str) -> dict[str, Any]:
    return {invoice["id"]: invoice for invoice in _recent(fake, account_id)}


async def _big_account(invoices: int, workdir: Path) -> list[Row]:
    """The first sync of one big account, and its nightly sync after a day of activity."""
    scale = f"{invoices:,}"
    async with FakeCloudflare(
        invoices, seed=0, history="realistic", rate_limit=None, max_per_page=SERVER_MAX
    ) as fake:
        clock = _Clock(fake.history_end)
        account = [fake.account_id]
        rows = []
        async with (
            InvoiceMirror.open(f"sqlite:///{workdir}/previous.db", clock=clock) as old,
            InvoiceMirror.open(f"sqlite:///{workdir}/current.db", clock=clock) as new,
        ):
            first_old = await _sync(fake, old, account, previous=True)
            first_new = await _sync(fake, new, account, previous=False)
            rows.append(
                Row(
                    name=f"first sync, {scale} invoices",
                    previous=first_old,
                    current=first_new,
                    fewest=math.ceil(invoices / SERVER_MAX),
                )
            )
            before = _state(fake, fake.account_id)
            new_a_day = max(1, NEW_A_DAY * invoices // 1_000_000)
            _day_of_activity(fake, fake.account_id, new_a_day, seed=1)
            clock.now += dt.timedelta(days=1)
            nightly_old = await _sync(fake, old, account, previous=True)
            nightly_new = await _sync(fake, new, account, previous=False)
            rows.append(
                Row(
                    name=f"nightly sync, {scale} invoices, {new_a_day:,} new",
                    previous=nightly_old,
                    current=nightly_new,
                    fewest=_fewest_nightly(fake, fake.account_id, before),
                )
            )
    return rows


async def _many_accounts(accounts: int, workdir: Path) -> Row:
    """The nightly sync of many small accounts, each with a day of activity."""
    draw = random.Random(2)
    counts = [draw.randrange(20, 600) for _ in range(accounts)]
    async with FakeCloudflare(
        counts,
        accounts=accounts,
        seed=2,
        history="realistic",
        rate_limit=None,
        max_per_page=SERVER_MAX,
    ) as fake:
        clock = _Clock(fake.history_end)
        ids = fake.account_ids
        async with (
            InvoiceMirror.open(f"sqlite:///{workdir}/many-previous.db", clock=clock) as old,
            InvoiceMirror.open(f"sqlite:///{workdir}/many-current.db", clock=clock) as new,
        ):
            await _sync(fake, old, ids, previous=True)
            await _sync(fake, new, ids, previous=False)
            for n, account_id in enumerate(ids):
                _day_of_activity(fake, account_id, 1 + n % 3, seed=n)
            clock.now += dt.timedelta(days=1)
            nightly_old = await _sync(fake, old, ids, previous=True)
            nightly_new = await _sync(fake, new, ids, previous=False)
    # No walk can see an account's changes in less than one request.
    return Row(
        name=f"nightly sync, {accounts:,} accounts of 20 to 600 invoices",
        previous=nightly_old,
        current=nightly_new,
        fewest=accounts,
    )


async def _three_years(invoices: int, seed: int, workdir: Path, label: str) -> Row:
    """A nightly sync of a three-year account against a full walk at the same page size."""
    async with FakeCloudflare(
        invoices, seed=seed, history="realistic", rate_limit=None, max_per_page=SERVER_MAX
    ) as fake:
        clock = _Clock(fake.history_end)
        account = [fake.account_id]
        async with InvoiceMirror.open(f"sqlite:///{workdir}/three-{seed}.db", clock=clock) as m:
            full = await _sync(fake, m, account, previous=False)
            before = _state(fake, fake.account_id)
            # One day of a three-year account's own pace.
            _day_of_activity(fake, fake.account_id, max(1, invoices // 1095), seed=3)
            clock.now += dt.timedelta(days=1)
            nightly = await _sync(fake, m, account, previous=False)
            fewest = _fewest_nightly(fake, fake.account_id, before)
    return Row(
        name=f"nightly sync, {invoices:,} invoices over three years{label}",
        previous=None,
        current=nightly,
        fewest=fewest,
        full=full,
    )


async def run(*, quick: bool = False, scale: int | None = None) -> dict[str, Any]:
    """Measure every row; return them, with the settings, as a JSON-ready dictionary.

    Args:
        quick: Accounts fifty times smaller (and 40 small accounts instead of 2,000).
        scale: Divide every size by this instead (the tests take 1,000: one page each).
    """
    if scale is None:
        scale = 50 if quick else 1
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="asyncinvoices-quota-") as tmp:
        workdir = Path(tmp)
        rows = await _big_account(1_000_000 // scale, workdir)
        rows.append(await _many_accounts(2000 // scale, workdir))
        rows.append(await _three_years(100_000 // scale, 0, workdir, ""))
        rows.append(await _three_years(100_000 // scale, 4, workdir, ", one open for seven months"))
    return {
        "mode": "full" if scale == 1 else f"quick (sizes / {scale})",
        "server_max_per_page": SERVER_MAX,
        "previous_per_page": PREVIOUS_PER_PAGE,
        "seconds": round(time.monotonic() - started, 1),
        "rows": [attrs.asdict(row) for row in rows],
    }


def _time(requests: int | None) -> str:
    if requests is None:
        return "n/a"
    seconds = quota_seconds(requests)
    if seconds == 0:
        return "0 s"
    if seconds < 120:
        return f"{seconds:,.0f} s"
    return f"{seconds / 60:,.0f} min"


def _count(requests: int | None) -> str:
    return "n/a" if requests is None else f"{requests:,}"


def render(results: dict[str, Any]) -> str:
    """The Markdown section of ``docs/benchmarks.md`` for a :func:`run`'s results."""
    lines = [
        "## Under Cloudflare's quota",
        "",
        "`python -m benchmarks.quota`: requests counted at the server, and the wall time "
        f"Cloudflare's quota imposes on them (the first {FREE:,} at once, then {RATE:g} a "
        "second). *Previous*: the previous release's defaults, "
        f"{results['previous_per_page']} invoices a page and a full walk on every sync. "
        "*This release*: its defaults, the page size included, against a server that accepts "
        f"{results['server_max_per_page']:,} a page. *Fewest*: pages of that size, newest "
        "first, down to the oldest invoice that is new or changed (one request per account "
        f"at least). Measured in {results['mode']} mode, in {results['seconds']:g} s.",
        "",
        "| sync | previous | quota time | this release | quota time | fewest | quota time |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["rows"]:
        lines.append(
            f"| {row['name']} | {_count(row['previous'])} | {_time(row['previous'])} "
            f"| {_count(row['current'])} | {_time(row['current'])} "
            f"| {_count(row['fewest'])} | {_time(row['fewest'])} |"
        )
    lines += ["", "Nightly against a full walk of the same account, at this release's page size:"]
    lines += ["", "| account | nightly | full walk | share | target |", "|---|---:|---:|---:|---|"]
    for row in results["rows"]:
        if row["full"] is None:
            continue
        share = row["current"] / row["full"]
        verdict = "met" if share <= 0.01 else "not met"
        target = f"at most 1 %: {verdict}" if "open" not in row["name"] else "none"
        lines.append(
            f"| {row['name'].removeprefix('nightly sync, ')} | {row['current']:,} "
            f"| {row['full']:,} | {share:.1%} | {target} |"
        )
    first = results["rows"][0]
    lines += [
        "",
        f"First sync: {first['current'] - first['fewest']:,} requests above the fewest "
        "(target: at most 2).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the rows, print the table; ``--json FILE`` also writes the results."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quota", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="accounts fifty times smaller")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the results here")
    args = parser.parse_args(argv)
    results = asyncio.run(run(quick=args.quick))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    sys.stdout.write(render(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
