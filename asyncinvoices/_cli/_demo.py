"""``asyncinvoices demo``: the whole product against the embedded fake Cloudflare.

It starts :class:`~asyncinvoices.testing.FakeCloudflare` on an ephemeral loopback port with
a large account, fetches every invoice with the concurrent client, checks the result
against the server's own list, and prints the summary view and what the run measured.

The "one page at a time" estimate is the number of pages times the median time the fake
server took to answer one page in this same run, read from its request log
(``fake.requests``: ``finished - started`` of every successful request). It is what a
sequential client would need at best, since it leaves out the client's own overhead.
"""

from __future__ import annotations

import contextlib
import sqlite3
import statistics
import time
from collections.abc import Sequence
from typing import Any, Final

import anyio

import asyncinvoices as ai
from asyncinvoices import FetchStats, InvoiceClient, ManyStats, RateLimit

from ._runtime import Context, terminal_width, with_governor_watch
from ._summary import Aggregator, render
from ._sync import database_url, render_report
from ._walks import Walk

__all__ = [
    "CLOUDFLARE_QUOTA",
    "demo",
    "demo_faults",
    "fault_label",
    "median_page_seconds",
    "quota_line",
    "run_report",
    "split_invoices",
]

# Cloudflare's limit is 1,200 requests per five minutes (docs/cloudflare-api.md, "Rate limits").
# A demo account larger than 1,200 pages would spend minutes waiting on it, so the quota of
# the fake and of the client grows with the account: the governor is on, but never blocks.
_WINDOW = 300.0
# With --faults the limit is scaled down instead, to the same shape at a demo's pace, so
# that the governor visibly holds requests back for a few seconds. The fake enforces it
# too, with a short block, should the client ever exceed it.
_FAULTS_QUOTA = 150
_FAULTS_WINDOW = 1.0
_FAULTS_BLOCK = 5.0
# The demo's page size, the most its fake server serves in one page.
_PER_PAGE = 100


def demo_faults(pages: int) -> list[Any]:
    """Return the faults ``--faults`` injects: 502 and 503 pages, a reset, and a 429."""
    from asyncinvoices.testing import Fault

    last = max(pages, 1)
    return [
        Fault.status(502, page=min(3, last), attempt=1),
        Fault.status(503, page=min(max(2, last // 2), last), attempt=1),
        Fault.reset(page=min(max(2, last // 3), last), attempt=1),
        Fault.status(429, retry_after=1, request=min(40, last)),
    ]


def fault_label(fault: Any) -> str:
    """Describe one injected fault for a person: ``"HTTP 502 on page 3"``."""
    if fault.kind == "status":
        what = f"HTTP {fault.param('code')}"
        if fault.param("retry_after") is not None:
            what += f" (Retry-After {fault.param('retry_after'):g} s)"
    elif fault.kind == "reset":
        what = "connection reset"
    else:  # pragma: no cover - the demo injects only the kinds above
        what = str(fault.kind)
    where = f"page {fault.page}" if fault.page is not None else f"request {fault.request}"
    return f"{what} on {where}"


def _wrap(items: Sequence[str], *, head: str, width: int = 80) -> str:
    """Join ``items`` with commas after ``head``, breaking lines between items only."""
    lines = [head]
    for i, item in enumerate(items):
        text = item + ("," if i < len(items) - 1 else "")
        if len(lines[-1]) + 1 + len(text) > width and lines[-1].strip():
            lines.append(" " * len(head) + text)
        else:
            sep = "" if lines[-1] == head else " "
            lines[-1] += sep + text
    return "\n".join(lines)


def median_page_seconds(requests: Sequence[Any]) -> float | None:
    """Return the median serving time of the successful requests in a fake's request log."""
    durations = [
        r.finished - r.started for r in requests if r.status == 200 and r.finished is not None
    ]
    return statistics.median(durations) if durations else None


#: Cloudflare's quota (requests, seconds), which the demo's report measures requests against.
CLOUDFLARE_QUOTA: Final = RateLimit()


def quota_line(requests: int, limit: RateLimit | None = None) -> str:
    """Return "N requests; the quota allows 1,200 per 5 minutes", Cloudflare's quota, and the
    limit this run used instead, if another.

    Example:
        >>> quota_line(500)
        '500 requests; the quota allows 1,200 per 5 minutes'
        >>> quota_line(19, RateLimit(requests=150, window=1.0))
        '19 requests; the quota allows 1,200 per 5 minutes (this demo: 150 per 1 s)'
    """
    quota = CLOUDFLARE_QUOTA
    text = f"{requests:,} requests; the quota allows {quota.requests:,} per {_span(quota.window)}"
    if limit is not None and limit != quota:
        text += f" (this demo: {limit.requests:,} per {_span(limit.window)})"
    return text


def _span(seconds: float) -> str:
    if seconds % 60 == 0:
        minutes = int(seconds // 60)
        return "minute" if minutes == 1 else f"{minutes} minutes"
    return f"{seconds:g} s"


def run_report(
    *,
    stats: FetchStats | ManyStats,
    wall: float,
    concurrency: int,
    per_page: int,
    median: float | None,
    verified: bool,
    injected: Sequence[Any],
    served: Sequence[Any] = (),
    limit: RateLimit | None = None,
) -> str:
    """Return the "measured run" block of the demo's output.

    The requests are the client's count (its :class:`FetchStats` or :class:`ManyStats`), next
    to Cloudflare's quota. ``served`` is the fake's log of the requests that reached it, its
    own count at the wire: the report gives it beside the client's, and says how many of them
    were answered 429 by the server's own rate limit rather than by an injected fault.
    ``limit`` is the rate limit the demo ran with, named when it is not Cloudflare's.
    """
    rate = stats.invoices / wall if wall > 0 else 0.0
    lines = [
        "The run",
        f"  invoices       {stats.invoices:,}"
        + (
            ", each exactly once and in order (verified)"
            if verified
            else ": NOT the server's list, in order, each once!"
        ),
        f"  pages          {stats.pages:,} of up to {per_page} invoices each",
        *(
            [f"  accounts       {stats.accounts_done:,}, fetched side by side on one quota"]
            if isinstance(stats, ManyStats)
            else []
        ),
        f"  requests       {quota_line(stats.requests, limit)}",
        f"                 counted by the client (its {type(stats).__name__}), "
        f"{stats.retries:,} of them retries",
        f"  throttled      {stats.throttled_seconds:.1f} s, summed over requests held by the "
        "governor or Retry-After",
        f"  concurrency    {concurrency} requests in flight at most",
        f"  wall time      {wall:.2f} s ({rate:,.0f} invoices/s)",
    ]
    if injected:
        lines.append(f"  faults         {len(injected)} injected by the server, all survived")
    if served:
        lines.append(_server_line(stats, served))
    if median is not None:
        sequential = stats.pages * median
        per_page_ms = median * 1000
        lines += [
            f"  one at a time  {sequential:.1f} s = {stats.pages:,} pages x {per_page_ms:.0f} ms, "
            "the median page latency that the",
            f"                 fake server measured in this run ({sequential / wall:.1f}x "
            "this run's wall time)",
        ]
    return "\n".join(lines) + "\n"


def _server_line(stats: FetchStats | ManyStats, served: Sequence[Any]) -> str:
    limited = sum(1 for r in served if r.status == 429 and r.fault is None)
    same = (
        "the client counted as many"
        if len(served) == stats.requests
        else f"the client counted {stats.requests:,}, NOT as many!"
    )
    return (
        f"  server         received {len(served):,} requests, by its own count at the wire;\n"
        f"                 {same}; {limited:,} answered 429 by its own rate limit"
    )


def _limits(args: Any, pages: int) -> tuple[RateLimit, float, list[Any]]:
    """The rate limit, the fake's block length and the faults of this demo."""
    if args.faults:
        limit = RateLimit(requests=_FAULTS_QUOTA, window=_FAULTS_WINDOW)
        return limit, _FAULTS_BLOCK, demo_faults(pages)
    return RateLimit(requests=max(1200, 2 * pages + 100), window=_WINDOW), _WINDOW, []


def _announcement(base_url: str, args: Any, limit: RateLimit, faults: Sequence[Any]) -> str:
    """The lines the demo prints before it fetches."""
    spread = f" in {args.accounts:,} accounts" if args.accounts > 1 else ""
    text = (
        f"FakeCloudflare on {base_url}\n{args.invoices:,} invoices{spread}, "
        f"{args.latency:g} ms per response; fetching with concurrency {args.concurrency}\n"
    )
    if faults:
        text += (
            _wrap([fault_label(f) for f in faults], head="Faults: ")
            + "\n"
            + f"Rate limit scaled down to {limit.requests} requests per {limit.window:g} s "
            "(Cloudflare: 1,200 per 300 s)\n"
        )
    return text + "\n"


async def demo(ctx: Context) -> bool:
    """Run the demo; return whether every invoice arrived exactly once and in order."""
    from asyncinvoices.testing import (
        FakeCloudflare,  # the fake needs aiohttp's server side: import lazily
    )

    args = ctx.args
    per_page = _PER_PAGE
    counts = split_invoices(args.invoices, args.accounts)
    limit, block, faults = _limits(args, sum(max(1, -(-n // per_page)) for n in counts))
    out = ctx.stdout
    async with FakeCloudflare(
        counts,
        accounts=args.accounts,
        seed=args.seed,
        latency=args.latency / 1000,
        rate_limit=(limit.requests, limit.window),
        block_seconds=block,
        max_per_page=per_page,
        faults=faults,
    ) as fake:
        out.write(_announcement(fake.base_url, args, limit, faults))
        out.flush()
        ctx.redactor.secrets += (fake.api_token,)
        client = _client(fake, args.concurrency, limit)
        aggregator = Aggregator()
        ids: list[tuple[str, str | None]] = []
        async with client:
            stats, wall = await _fetch(ctx, client, fake.account_ids, aggregator, ids)
        verified = ids == [(a, i) for a in fake.account_ids for i in fake.ids(a)]
        out.write(render(aggregator.result(), width=min(terminal_width(out), 100)))
        out.write("\n")
        out.write(
            run_report(
                stats=stats,
                wall=wall,
                concurrency=args.concurrency,
                per_page=per_page,
                median=median_page_seconds(fake.requests),
                verified=verified,
                injected=fake.injected,
                served=fake.requests,
                limit=limit,
            )
        )
        out.flush()
        if args.db is not None:
            await _mirror(ctx, fake, limit)
    return verified


# Spend per month, from the how-to's questions to ask the mirror (docs/howto/mirror.md).
SPEND_PER_MONTH = """\
SELECT substr(created, 1, 7) AS month, currency, count(*) AS invoices,
       sum(CAST(amount_paid AS REAL)) AS spend
FROM invoices
WHERE removed_at IS NULL
GROUP BY month, currency
ORDER BY month DESC, currency
LIMIT 6"""


async def _mirror(ctx: Context, fake: Any, limit: RateLimit) -> None:
    """Mirror the demo's accounts into ``--db`` and print the sync's table and one query."""
    args, out = ctx.args, ctx.stdout
    url = database_url(ctx, args.db)
    client = _client(fake, args.concurrency, limit)
    async with client, ai.InvoiceMirror.open(url) as mirror:
        report = await mirror.sync(client, fake.account_ids)
    out.write(f"\nMirrored into {url.display}\n{render_report(report)}")
    if url.scheme == "sqlite" and url.path is not None:
        rows = await anyio.to_thread.run_sync(_query, url.path, SPEND_PER_MONTH)
        out.write(f"\n{SPEND_PER_MONTH};\n\n")
        out.write("".join(f"{m}  {c}  {n:>8,}  {s:>16,.2f}\n" for m, c, n, s in rows))
    out.flush()


def _query(path: str, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return connection.execute(sql).fetchall()


def split_invoices(invoices: int, accounts: int) -> list[int]:
    """Share ``invoices`` out between ``accounts`` as evenly as whole numbers allow.

    Example:
        >>> split_invoices(10, 3)
        [4, 3, 3]
    """
    share, left = divmod(invoices, accounts)
    return [share + (1 if n < left else 0) for n in range(accounts)]


def _client(fake: Any, concurrency: int, limit: RateLimit) -> InvoiceClient:
    """A client of the demo's fake server, at its page size."""
    return InvoiceClient(
        api_token=fake.api_token,
        base_url=fake.base_url,
        per_page=_PER_PAGE,
        max_concurrency=concurrency,
        rate_limit=limit,
    )


async def _fetch(
    ctx: Context,
    client: InvoiceClient,
    account_ids: list[str],
    aggregator: Aggregator,
    ids: list[tuple[str, str | None]],
) -> tuple[FetchStats | ManyStats, float]:
    """Walk the accounts into ``aggregator`` and ``ids``; return the stats and the wall time.

    One account is walked with ``invoices()``, several with ``invoices_many()``.
    """
    with ctx.progress("fetching") as progress:
        walk = Walk(client, account_ids, on_progress=progress.update)

        async def consume() -> None:
            async with walk:
                async for account_id, invoice in walk:
                    aggregator.add(invoice)
                    ids.append((account_id, invoice.id))
                progress.update(walk.stats)

        began = time.perf_counter()
        await with_governor_watch(client, progress, consume)
        return walk.stats, time.perf_counter() - began
