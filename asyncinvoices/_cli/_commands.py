"""The commands ``fetch``, ``summary`` and ``fake-server``: arguments in, output out.

``fetch`` and ``summary`` have one flow for one account and for several: a :class:`Walk` of
``(account_id, invoice)`` rows. Over several accounts, or ``--all-accounts``, every row carries
``account_id``, and ``--skip-failed`` goes on past an account that fails, names it on stderr
with the reason and ends with :attr:`ExitCode.PARTIAL`; over one, ``--resume`` continues a
run that was cut off.
"""

from __future__ import annotations

import logging
from typing import IO, TextIO, cast

import asyncinvoices as ai

from ._atomic import atomic_text_file
from ._failures import ExitCode
from ._formats import Writer, make_writer
from ._output import Output, resolve_output
from ._progress import Progress
from ._resume import ResumableRun
from ._runtime import (
    Context,
    client_for,
    report_requests,
    report_skipped,
    terminal_width,
    wait_notices,
    with_governor_watch,
)
from ._summary import Aggregator, render_format
from ._walks import Walk, selected_accounts, walks_many

__all__ = ["fake_server", "fetch", "summary"]

logger = logging.getLogger("asyncinvoices")


#: The options of ``fetch`` and ``summary`` that the client's walk takes as they are.
_WALK_OPTIONS = ("type", "since", "until")


def _walk(
    ctx: Context,
    client: ai.InvoiceClient,
    account_ids: list[str] | None,
    progress: Progress,
    resume: ResumableRun | None = None,
) -> Walk:
    """The walk of the accounts, the type and the span the command line gives; over one
    account, after where ``resume`` stopped."""
    args = ctx.args
    return Walk(
        client,
        account_ids,
        on_progress=progress.update,
        skip_failed=args.skip_failed,
        resume=None if resume is None else resume.checkpoint,
        stderr=ctx.stderr,
        **{name: getattr(args, name) for name in _WALK_OPTIONS},
    )


def _description(account_ids: list[str] | None) -> str:
    """What the progress bar counts: the pages of one account, or the accounts."""
    return "accounts" if walks_many(account_ids) else "fetching"


def _log_done(walk: Walk, what: str) -> None:
    """Log what the walk of one account cost."""
    if walk.many:
        return
    stats = walk.stats
    logger.info(
        "%s %d invoices: %d pages, %d requests (%d retries), %.1f s throttled, %.2f s",
        what,
        stats.invoices,
        stats.pages,
        stats.requests,
        stats.retries,
        stats.throttled_seconds,
        stats.elapsed,
    )


async def fetch(ctx: Context) -> ExitCode:
    """``asyncinvoices fetch``: stream every invoice to stdout or, atomically, to a file."""
    args = ctx.args
    account_ids = selected_accounts(args)
    output = resolve_output(args.output, args.format)
    resume = ResumableRun(args.resume, output) if args.resume else None
    notices = wait_notices(ctx)
    client = client_for(ctx, notices)
    async with client:
        with ctx.progress(_description(account_ids), output=output) as progress:
            notices.muted |= progress.visible  # the bar's note says it
            # Validates the account id, the type and a checkpoint before any file is created.
            walk = _walk(ctx, client, account_ids, progress, resume)
            if ctx.metrics is not None:
                ctx.metrics.invoices = lambda: walk.stats.invoices
            written = await _write_all(ctx, client, walk, output, progress, resume)
        _log_done(walk, "fetched")
    if resume is not None:
        resume.finish()
    if output.path is not None and not ctx.quiet:
        ctx.stderr.write(_wrote(walk, written, output.path))
        ctx.stderr.flush()
    code = report_skipped(ctx, walk.failures)
    report_requests(ctx, walk.stats)
    return code


def _wrote(walk: Walk, written: tuple[int, int], path: str) -> str:
    """The line that says what ``fetch -o FILE`` wrote."""
    stats = walk.stats
    if isinstance(stats, ai.ManyStats):
        accounts = stats.accounts_done - stats.failed
        return f"wrote {written[0]:,} invoices of {accounts:,} accounts to {path}\n"
    noun = "invoice" if written[0] == 1 else "invoices"
    earlier = f", {written[1]:,} of them in this run" if written[0] != written[1] else ""
    return f"wrote {written[0]:,} {noun} to {path}{earlier}\n"


async def _write_all(
    ctx: Context,
    client: ai.InvoiceClient,
    walk: Walk,
    output: Output,
    progress: Progress,
    resume: ResumableRun | None,
) -> tuple[int, int]:
    """Copy every invoice of ``walk`` to ``output``; return how many the output holds and
    how many of them this run wrote."""
    writers: list[Writer] = []

    async def copy(file: IO[str]) -> None:
        writer = make_writer(output.format, file, account_column=walk.many)
        writers.append(writer)
        if resume is not None:
            resume.begin(file, writer)
        writing = False
        try:
            async with walk:
                async for account_id, invoice in walk:
                    writing = True
                    writer.write(invoice, account_id)
                    writing = False
                progress.update(walk.stats)
        except BaseException:
            # A failure between two invoices leaves a valid file to keep and continue; one
            # in the middle of a row does not, and the previous state stays as it was.
            if resume is not None and not writing:
                writer.end()
                resume.kept = True
            raise
        writer.end()

    if output.path is None:
        await with_governor_watch(client, progress, lambda: copy(ctx.stdout))
        return writers[0].count, writers[0].count
    newline = "" if output.format == "csv" else None
    before = 0 if resume is None or resume.previous is None else resume.previous.written
    try:
        with atomic_text_file(
            output.path,
            newline=newline,
            compress=output.compress,
            keep=lambda: resume is not None and resume.kept,
        ) as file:
            await with_governor_watch(client, progress, lambda: copy(file))
    except BaseException:
        if resume is not None and resume.kept:
            _keep_for_resume(ctx, resume, writers[0].count, walk, output.path)
        raise
    return writers[0].count, writers[0].count - before


def _keep_for_resume(
    ctx: Context, resume: ResumableRun, written: int, walk: Walk, path: str
) -> None:
    """Record where a failed run stopped, now that the invoices it wrote are in ``path``."""
    resume.save(written, walk.checkpoint())
    noun = "invoice" if written == 1 else "invoices"
    ctx.stderr.write(f"kept {written:,} {noun} in {path}: the same command continues after them\n")
    ctx.stderr.flush()


async def summary(ctx: Context) -> ExitCode:
    """``asyncinvoices summary``: totals, months and a spend chart, for a person to read."""
    args = ctx.args
    account_ids = selected_accounts(args)
    notices = wait_notices(ctx)
    client = client_for(ctx, notices)
    total = Aggregator()
    each: dict[str, Aggregator] = {}  # the accounts' own, when there are several
    async with client:
        with ctx.progress(_description(account_ids)) as progress:
            notices.muted |= progress.visible
            walk = _walk(ctx, client, account_ids, progress)

            async def consume() -> None:
                many = walk.many
                async with walk:
                    async for account_id, invoice in walk:
                        total.add(invoice)
                        if many:
                            per = each.get(account_id)
                            if per is None:
                                per = each[account_id] = Aggregator()
                            per.add(invoice)
                    progress.update(walk.stats)

            await with_governor_watch(client, progress, consume)
        _log_done(walk, "summarised")
    result = total.result()
    # Every account walked to its end, in output order, those without invoices included; one
    # account's figures are the totals.
    if walk.many:
        accounts = {a: each.get(a, Aggregator()).result() for a in walk.done()}
    else:
        accounts = dict.fromkeys(walk.done(), result)
    stats = walk.stats
    if args.format == "table" and isinstance(stats, ai.ManyStats):
        ctx.stdout.write(
            f"{stats.accounts_done - stats.failed:,} accounts"
            + (f" ({stats.failed:,} skipped)" if stats.failed else "")
            + "\n"
        )
    width = min(terminal_width(ctx.stdout), 100)
    ctx.stdout.write(render_format(args.format, result, accounts, width=width))
    ctx.stdout.flush()
    code = report_skipped(ctx, walk.failures)
    report_requests(ctx, stats)
    return code


#: The options of ``fake-server`` that it hands to the server as they are.
_SERVED_AS_GIVEN = (
    "host", "port", "invoices", "seed", "rate_limit", "max_per_page", "shapes", "accounts"
)  # fmt: skip


async def fake_server(ctx: Context) -> None:
    """``asyncinvoices fake-server``: serve FakeCloudflare until Ctrl-C or SIGTERM."""
    from asyncinvoices.testing import serve  # the fake needs aiohttp's server side: lazily

    args = ctx.args
    await serve(
        **{name: getattr(args, name) for name in _SERVED_AS_GIVEN},
        latency=args.latency / 1000,
        json_output=args.json,
        out=cast(TextIO, ctx.stdout),  # serve() only calls write() and flush()
    )
