"""The commands ``fetch``, ``summary`` and ``fake-server``: arguments in, output out.

Each command is an async function of a :class:`Context` (where to write, the environment,
the parsed arguments). Machine-readable output goes to ``ctx.stdout`` only; progress, logs
and errors go to ``ctx.stderr``.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import shutil
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from typing import IO, TextIO, TypeVar, cast

import anyio
import attrs

from asyncinvoices._client import InvoiceClient
from asyncinvoices._config import (
    DEFAULT_BASE_URL,
    ENV_BASE_URL,
    ENV_EMAIL,
    ENV_KEY,
    ENV_TOKEN,
    resolve_base_url,
)
from asyncinvoices._errors import ConfigurationError
from asyncinvoices._http.quota import ENV_SHARED_QUOTA
from asyncinvoices._http.quota_file import cache_directory
from asyncinvoices._models import FetchStats, ManyStats, RateLimit, RateWait
from asyncinvoices._streams.invoices import InvoiceStream

from ._atomic import atomic_text_file
from ._formats import Writer, make_writer
from ._logging import RedactingFilter, StreamSwitch
from ._metrics import RunMetrics
from ._output import Output, resolve_output
from ._progress import Progress, progress_display, watch_governor
from ._resume import ResumableRun
from ._summary import Aggregator, render_format
from ._waits import WaitNotices

__all__ = [
    "Context",
    "fake_server",
    "fetch",
    "make_client",
    "output_progress",
    "summary",
    "wait_notices",
    "with_governor_watch",
]

logger = logging.getLogger("asyncinvoices")

T = TypeVar("T")


@attrs.define
class Context:
    """Everything a command needs from the outside world.

    Attributes:
        args: The parsed command line.
        stdout: Where data goes.
        stderr: Where progress, logs and errors go.
        environ: The environment to read credentials from.
        redactor: The log filter; commands add the secrets they load to it.
        log_stream: The log handler's stream, redirected while the progress bar runs.
        metrics: The run's figures for ``--metrics-file``, or ``None``.
    """

    args: argparse.Namespace
    stdout: IO[str]
    stderr: IO[str]
    environ: Mapping[str, str]
    redactor: RedactingFilter
    log_stream: StreamSwitch
    metrics: RunMetrics | None = None

    @property
    def show_progress(self) -> bool:
        """Whether a progress bar may be drawn (it still needs stderr to be a terminal)."""
        return not getattr(self.args, "no_progress", False) and not self.quiet

    @property
    def quiet(self) -> bool:
        """Whether ``-q``: no progress bar and no informational lines on stderr."""
        return bool(getattr(self.args, "quiet", False))


def make_client(
    ctx: Context,
    *,
    max_concurrency: int,
    per_page: int | None,
    rate_limit: RateLimit | None = None,
    on_wait: Callable[[RateWait], object] | None = None,
) -> InvoiceClient:
    """Build the client from the environment and ``--base-url``; register its secrets.

    Args:
        ctx: The command's context.
        max_concurrency: ``--concurrency``.
        per_page: ``--per-page``; ``None``: the largest the server accepts.
        rate_limit: ``--rate-limit``; Cloudflare's 1,200 requests per 300 s by default.
        on_wait: Told when a request starts waiting for the rate limit.

    Raises:
        ConfigurationError: If no credentials are set, naming the variables to set.
    """
    env = ctx.environ
    token = env.get(ENV_TOKEN) or None
    email, key = env.get(ENV_EMAIL) or None, env.get(ENV_KEY) or None
    # Registered before anything can fail, so that even an error about them is redacted.
    ctx.redactor.secrets += tuple(s for s in (token, key) if s)
    if token is None and (email is None or key is None):
        raise ConfigurationError(
            f'no Cloudflare credentials: set {ENV_TOKEN} to an API token with the "AI Gateway '
            f'Read" permission (or both {ENV_EMAIL} and {ENV_KEY} for a global API key)'
        )
    base_url = _base_url(ctx)
    shared_quota, quota_key = _shared_quota(ctx)
    client = InvoiceClient(
        api_token=token,
        api_email=None if token else email,
        api_key=None if token else key,
        base_url=base_url,
        max_concurrency=max_concurrency,
        per_page=per_page,
        rate_limit=RateLimit() if rate_limit is None else rate_limit,
        on_wait=on_wait,
        shared_quota=shared_quota,
        quota_key=quota_key,
        on_request=None if ctx.metrics is None else ctx.metrics.on_request,
    )
    ctx.redactor.secrets += client._credentials.secrets()
    return client


def _shared_quota(ctx: Context) -> tuple[str, str | None]:
    """The shared quota's store and key: ``--shared-quota``, the environment, or a file.

    By default every ``asyncinvoices`` process of the user on this machine shares one window,
    kept in a file in the user's cache directory, so that a run also remembers the requests
    of the run before it. Where that directory cannot be written (a read-only home in a
    container), the run counts its own requests only, and says so.
    """
    key = getattr(ctx.args, "quota_key", None)
    spec = getattr(ctx.args, "shared_quota", None) or ctx.environ.get(ENV_SHARED_QUOTA)
    if spec:
        password = urllib.parse.urlsplit(spec).password if "://" in spec else None
        if password:
            ctx.redactor.secrets += (password, urllib.parse.quote(password, safe=""))
        return spec, key
    directory = cache_directory(ctx.environ)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not os.access(directory, os.W_OK):
            raise PermissionError(errno.EACCES, "permission denied")
    except OSError as exc:
        logger.warning(
            "cannot keep the shared quota in %s (%s): counting this run's requests only",
            directory,
            exc.strerror or exc,
        )
        return "local", key
    return directory.as_uri(), key


def _base_url(ctx: Context) -> str:
    """The API root from ``--base-url``, ``$CLOUDFLARE_BASE_URL`` or the default, validated.

    The library's messages name its parameter, ``base_url``; a user of the command line set
    a flag or a variable, so the message names that instead.
    """
    if ctx.args.base_url:
        raw, source = ctx.args.base_url, "--base-url"
    else:
        raw, source = ctx.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL, ENV_BASE_URL
    try:
        return resolve_base_url(raw, environ={})
    except ConfigurationError as exc:
        message = str(exc)
        if message.startswith("base_url "):
            message = source + message[len("base_url") :]
        raise ConfigurationError(message) from None


def wait_notices(ctx: Context) -> WaitNotices:
    """Return the ``on_wait`` callback that tells stderr about long rate-limit waits.

    Muted by ``-q``, and by ``-v``, whose log already has a line for every wait.
    """

    def write(line: str) -> None:
        ctx.stderr.write(line + "\n")
        ctx.stderr.flush()

    notices = WaitNotices(write, anyio.current_time)
    notices.muted = ctx.quiet or bool(getattr(ctx.args, "verbose", 0))
    return notices


def _client_for(ctx: Context, notices: WaitNotices) -> InvoiceClient:
    args = ctx.args
    return make_client(
        ctx,
        max_concurrency=args.concurrency,
        per_page=args.per_page,
        rate_limit=args.rate_limit,
        on_wait=notices,
    )


async def with_governor_watch(
    client: InvoiceClient, progress: Progress, body: Callable[[], Awaitable[T]]
) -> T:
    """Run ``body`` while a task keeps the progress note in step with the rate governor."""
    failure: Exception | None = None
    results: list[T] = []
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(watch_governor, client.governor, progress)
        try:
            results.append(await body())
        except Exception as exc:
            # Raised after the task group, so that it is not wrapped in an ExceptionGroup.
            failure = exc
        finally:
            task_group.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return results[0]


def requests_line(stats: FetchStats | ManyStats) -> str:
    """The line on stderr that says what a run cost: its requests, and the fewest possible.

    Every request counts against the token's quota (docs/cloudflare-api.md, "Rate limits"); the
    fewest are those the server's page size allows, once ``total_count`` tells them.
    """
    noun = "request" if stats.requests == 1 else "requests"
    line = f"{stats.requests:,} {noun}"
    fewest = stats.fewest_requests
    if fewest is not None:
        line += f"; the fewest possible: {fewest:,}"
        if isinstance(stats, FetchStats) and stats.page_size is not None:
            line += f", at {stats.page_size:,} invoices a page"
    return line


def report_requests(ctx: Context, stats: FetchStats | ManyStats) -> None:
    """Write :func:`requests_line` to stderr, unless ``-q``."""
    if not ctx.quiet:
        ctx.stderr.write(requests_line(stats) + "\n")
        ctx.stderr.flush()


def _log_done(stream: InvoiceStream, what: str) -> None:
    stats = stream.stats
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


def output_progress(
    ctx: Context, output: Output, description: str
) -> AbstractContextManager[Progress]:
    """The progress bar of a command that writes rows to ``output``.

    Not drawn when the rows stream into the same terminal: the bar's redraws would tear
    them, and they show the progress themselves.
    """
    return progress_display(
        ctx.stderr,
        enabled=ctx.show_progress and not (output.path is None and _is_terminal(ctx.stdout)),
        description=description,
        log_stream=ctx.log_stream,
    )


async def fetch(ctx: Context) -> int | None:
    """``asyncinvoices fetch``: stream every invoice to stdout or, atomically, to a file."""
    from ._many import fetch_many, is_many

    args = ctx.args
    if is_many(args):
        return await fetch_many(ctx)
    output = resolve_output(args.output, args.format)
    resume = ResumableRun(args.resume, output) if args.resume else None
    notices = wait_notices(ctx)
    client = _client_for(ctx, notices)
    async with client:
        with output_progress(ctx, output, "fetching") as progress:
            notices.muted |= progress.visible  # the bar's note says it
            # Validates the account id, the type and a checkpoint before any file is created.
            stream = client.invoices(
                args.account_id,
                type=args.type,
                since=args.since,
                until=args.until,
                on_progress=progress.update,
                resume=None if resume is None else resume.checkpoint,
            )
            if ctx.metrics is not None:
                ctx.metrics.invoices = lambda: stream.stats.invoices
            written = await _write_all(ctx, client, stream, output, progress, resume)
        _log_done(stream, "fetched")
    if resume is not None:
        resume.finish()
    if output.path is not None and not ctx.quiet:
        noun = "invoice" if written[0] == 1 else "invoices"
        earlier = f", {written[1]:,} of them in this run" if written[0] != written[1] else ""
        ctx.stderr.write(f"wrote {written[0]:,} {noun} to {output.path}{earlier}\n")
        ctx.stderr.flush()
    report_requests(ctx, stream.stats)
    return None


async def _write_all(
    ctx: Context,
    client: InvoiceClient,
    stream: InvoiceStream,
    output: Output,
    progress: Progress,
    resume: ResumableRun | None,
) -> tuple[int, int]:
    """Copy every invoice of ``stream`` to ``output``; return how many the output holds and
    how many of them this run wrote."""
    writers: list[Writer] = []

    async def copy(file: IO[str]) -> None:
        writer = make_writer(output.format, file)
        writers.append(writer)
        if resume is not None:
            resume.begin(file, writer)
        writing = False
        try:
            async with stream:
                async for invoice in stream:
                    writing = True
                    writer.write(invoice)
                    writing = False
                progress.update(stream.stats)
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
            _keep_for_resume(ctx, resume, writers[0].count, stream, output.path)
        raise
    return writers[0].count, writers[0].count - before


def _keep_for_resume(
    ctx: Context, resume: ResumableRun, written: int, stream: InvoiceStream, path: str
) -> None:
    """Record where a failed run stopped, now that the invoices it wrote are in ``path``."""
    resume.save(written, stream.checkpoint())
    noun = "invoice" if written == 1 else "invoices"
    ctx.stderr.write(f"kept {written:,} {noun} in {path}: the same command continues after them\n")
    ctx.stderr.flush()


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed, or not a real file
        return False


def terminal_width(stream: IO[str], default: int = 80) -> int:
    """Return the width of the terminal ``stream`` is, or ``default`` when it is not one."""
    if _is_terminal(stream):
        return shutil.get_terminal_size((default, 24)).columns
    return default


async def summary(ctx: Context) -> int | None:
    """``asyncinvoices summary``: totals, months and a spend chart, for a person to read."""
    from ._many import is_many, summary_many

    args = ctx.args
    if is_many(args):
        return await summary_many(ctx)
    notices = wait_notices(ctx)
    client = _client_for(ctx, notices)
    aggregator = Aggregator()
    async with client:
        with progress_display(
            ctx.stderr,
            enabled=ctx.show_progress,
            description="fetching",
            log_stream=ctx.log_stream,
        ) as progress:
            notices.muted |= progress.visible
            stream = client.invoices(
                args.account_id,
                type=args.type,
                since=args.since,
                until=args.until,
                on_progress=progress.update,
            )

            async def consume() -> None:
                async with stream:
                    async for invoice in stream:
                        aggregator.add(invoice)
                    progress.update(stream.stats)

            await with_governor_watch(client, progress, consume)
        _log_done(stream, "summarised")
    result = aggregator.result()
    width = min(terminal_width(ctx.stdout), 100)
    ctx.stdout.write(render_format(args.format, result, {args.account_id: result}, width=width))
    ctx.stdout.flush()
    report_requests(ctx, stream.stats)
    return None


async def fake_server(ctx: Context) -> None:
    """``asyncinvoices fake-server``: serve FakeCloudflare until Ctrl-C or SIGTERM."""
    from asyncinvoices.testing._cli import (
        serve,  # the fake needs aiohttp's server side: import lazily
    )

    args = ctx.args
    await serve(
        host=args.host,
        port=args.port,
        invoices=args.invoices,
        seed=args.seed,
        latency=args.latency / 1000,
        rate_limit=args.rate_limit,
        max_per_page=args.max_per_page,
        shapes=args.shapes,
        accounts=args.accounts,
        json_output=args.json,
        out=cast(TextIO, ctx.stdout),  # serve() only calls write() and flush()
    )
