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

import statistics
import time
from collections.abc import Sequence
from typing import Any

from asyncinvoices._client import InvoiceClient
from asyncinvoices._models import FetchStats, RateLimit

from ._commands import Context, terminal_width, with_governor_watch
from ._progress import progress_display
from ._summary import Aggregator, render

__all__ = ["demo", "demo_faults", "fault_label", "median_page_seconds", "run_report"]

# Cloudflare's limit is 1,200 requests per five minutes (CLOUDFLARE_API.md, "Rate limits").
# A demo account larger than 1,200 pages would spend minutes waiting on it, so the quota of
# the fake and of the client grows with the account: the governor is on, but never blocks.
_WINDOW = 300.0
# With --faults the limit is scaled down instead, to the same shape at a demo's pace, so
# that the governor visibly holds requests back for a few seconds. The fake enforces it
# too, with a short block, should the client ever exceed it.
_FAULTS_QUOTA = 150
_FAULTS_WINDOW = 1.0
_FAULTS_BLOCK = 5.0


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


def run_report(
    *,
    stats: FetchStats,
    wall: float,
    concurrency: int,
    per_page: int,
    median: float | None,
    verified: bool,
    injected: Sequence[Any],
    served: Sequence[Any] = (),
) -> str:
    """Return the "measured run" block of the demo's output.

    ``served`` is the fake's log of the requests that reached it: the report compares their
    number with the client's count, and says how many of them were answered 429 by the
    server's own rate limit rather than by an injected fault.
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
        f"  requests       {stats.requests:,} ({stats.retries:,} retries)",
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


def _server_line(stats: FetchStats, served: Sequence[Any]) -> str:
    limited = sum(1 for r in served if r.status == 429 and r.fault is None)
    same = "as counted by the client" if len(served) == stats.requests else "the client counted"
    text = f"  server saw     {len(served):,} requests ({same}"
    text += "" if len(served) == stats.requests else f" {stats.requests:,}!"
    return text + f"), {limited} over its quota (429)"


def _limits(args: Any, pages: int) -> tuple[RateLimit, float, list[Any]]:
    """The rate limit, the fake's block length and the faults of this demo."""
    if args.faults:
        limit = RateLimit(requests=_FAULTS_QUOTA, window=_FAULTS_WINDOW)
        return limit, _FAULTS_BLOCK, demo_faults(pages)
    return RateLimit(requests=max(1200, 2 * pages + 100), window=_WINDOW), _WINDOW, []


def _announcement(base_url: str, args: Any, limit: RateLimit, faults: Sequence[Any]) -> str:
    """The lines the demo prints before it fetches."""
    text = (
        f"FakeCloudflare on {base_url}\n{args.invoices:,} invoices, "
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
    per_page = 100
    limit, block, faults = _limits(args, -(-args.invoices // per_page))
    out = ctx.stdout
    async with FakeCloudflare(
        args.invoices,
        seed=args.seed,
        latency=args.latency / 1000,
        rate_limit=(limit.requests, limit.window),
        block_seconds=block,
        max_per_page=per_page,
        faults=faults,
    ) as fake:
        out.write(_announcement(fake.base_url, args, limit, faults))
        out.flush()
        client = InvoiceClient(
            api_token=fake.api_token,
            base_url=fake.base_url,
            per_page=per_page,
            max_concurrency=args.concurrency,
            rate_limit=limit,
        )
        ctx.redactor.secrets += client._credentials.secrets()
        aggregator = Aggregator()
        ids: list[str | None] = []
        async with client:
            stats, wall = await _fetch(ctx, client, fake.account_id, aggregator, ids)
        verified = ids == fake.ids()
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
            )
        )
        out.flush()
    return verified


async def _fetch(
    ctx: Context,
    client: InvoiceClient,
    account_id: str,
    aggregator: Aggregator,
    ids: list[str | None],
) -> tuple[FetchStats, float]:
    """Walk the account into ``aggregator`` and ``ids``; return the stats and the wall time."""
    with progress_display(
        ctx.stderr,
        enabled=ctx.show_progress,
        description="fetching",
        log_stream=ctx.log_stream,
    ) as progress:
        stream = client.invoices(account_id, on_progress=progress.update)

        async def consume() -> None:
            async with stream:
                async for invoice in stream:
                    aggregator.add(invoice)
                    ids.append(invoice.id)
                progress.update(stream.stats)

        began = time.perf_counter()
        await with_governor_watch(client, progress, consume)
        return stream.stats, time.perf_counter() - began
