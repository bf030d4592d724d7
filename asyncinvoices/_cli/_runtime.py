"""What every command runs on: its context, the client, the progress bar, the closing lines.

A command is an async function of a :class:`Context` (where to write, the environment, the
parsed arguments). It gets its client from :func:`make_client` (credentials, API root and
shared quota from the command line and the environment, every secret registered with the log
redactor first), shows progress with :meth:`Context.progress` while
:func:`with_governor_watch` keeps the bar's note in step with the rate limit, and ends with
:func:`report_skipped` and :func:`report_requests`. Machine-readable output goes to
``ctx.stdout`` only; progress, logs and errors go to ``ctx.stderr``.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import shutil
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, TypeVar

import anyio
import attrs

import asyncinvoices as ai

from ._failures import ExitCode, describe
from ._logging import RedactingFilter, StreamSwitch, redact
from ._metrics import RunMetrics
from ._options import (
    CLOUDFLARE_API,
    ENV_BASE_URL,
    ENV_EMAIL,
    ENV_KEY,
    ENV_SHARED_QUOTA,
    ENV_TOKEN,
)
from ._output import Output
from ._progress import Progress, is_terminal, progress_display, watch_governor
from ._waits import WaitNotices

__all__ = [
    "Context",
    "client_for",
    "make_client",
    "report_requests",
    "report_skipped",
    "requests_line",
    "terminal_width",
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

    def progress(
        self, description: str, *, output: Output | None = None
    ) -> AbstractContextManager[Progress]:
        """The command's progress bar on stderr, with ``description`` before it.

        Not drawn when the rows of ``output`` stream into the same terminal: the bar's
        redraws would tear them, and they show the progress themselves.
        """
        into_terminal = output is not None and output.path is None and is_terminal(self.stdout)
        return progress_display(
            self.stderr,
            enabled=self.show_progress and not into_terminal,
            description=description,
            log_stream=self.log_stream,
        )

    def keep_password(self, password: str | None) -> None:
        """Keep the password of a URL out of everything the run prints: registered before
        anything can fail, in both spellings a message could carry."""
        if password:
            self.redactor.secrets += (password, urllib.parse.quote(password, safe=""))


def make_client(
    ctx: Context,
    *,
    max_concurrency: int,
    per_page: int | None,
    rate_limit: ai.RateLimit | None = None,
    on_wait: Callable[[ai.RateWait], object] | None = None,
) -> ai.InvoiceClient:
    """Build the client from the environment and ``--base-url``; register its secrets.

    Args:
        ctx: The command's context.
        max_concurrency: ``--concurrency``.
        per_page: ``--per-page``; ``None``: the largest the server accepts.
        rate_limit: ``--rate-limit``; Cloudflare's 1,200 requests per 300 s by default.
        on_wait: Told when a request starts waiting for the rate limit.

    Raises:
        ConfigurationError: If no credentials are set, naming the variables to set, or
            ``--base-url`` (or ``$CLOUDFLARE_BASE_URL``) cannot be used, naming it.
    """
    env = ctx.environ
    token = env.get(ENV_TOKEN) or None
    email, key = env.get(ENV_EMAIL) or None, env.get(ENV_KEY) or None
    # Registered before anything can fail, so that even an error about them is redacted;
    # they are all the secrets the client holds.
    ctx.redactor.secrets += tuple(s for s in (token, key) if s)
    if token is None and (email is None or key is None):
        raise ai.ConfigurationError(
            f'no Cloudflare credentials: set {ENV_TOKEN} to an API token with the "AI Gateway '
            f'Read" permission (or both {ENV_EMAIL} and {ENV_KEY} for a global API key)'
        )
    if ctx.args.base_url:
        base_url, source = ctx.args.base_url, "--base-url"
    else:
        base_url, source = env.get(ENV_BASE_URL) or CLOUDFLARE_API, ENV_BASE_URL

    def client(shared_quota: str) -> ai.InvoiceClient:
        return ai.InvoiceClient(
            api_token=token,
            api_email=None if token else email,
            api_key=None if token else key,
            base_url=base_url,
            max_concurrency=max_concurrency,
            per_page=per_page,
            rate_limit=ai.RateLimit() if rate_limit is None else rate_limit,
            on_wait=on_wait,
            shared_quota=shared_quota,
            quota_key=getattr(ctx.args, "quota_key", None),
            on_request=None if ctx.metrics is None else ctx.metrics.on_request,
        )

    spec = getattr(ctx.args, "shared_quota", None) or env.get(ENV_SHARED_QUOTA)
    if spec:
        ctx.keep_password(urllib.parse.urlsplit(spec).password if "://" in spec else None)
    # The client checks every setting before the cache directory is made, which needs none
    # of them: a bad --base-url leaves nothing behind.
    directory = ai.cache_directory(env)
    try:
        made = client(spec or directory.as_uri())
    except ai.ConfigurationError as exc:
        # The library's messages name its parameter, `base_url`; a user of the command line
        # set a flag or a variable, so the message names that instead.
        message = str(exc)
        if not message.startswith("base_url "):
            raise
        raise ai.ConfigurationError(source + message[len("base_url") :]) from None
    return made if spec or _writable(directory) else client("local")


def _writable(directory: Path) -> bool:
    """Make the directory where the command line keeps the shared quota by default.

    There every ``asyncinvoices`` process of the user on this machine shares one window, so
    that a run also remembers the requests of the run before it. Where that directory cannot
    be written (a read-only home in a container), the run counts its own requests only, and
    says so.
    """
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
        return False
    return True


def client_for(ctx: Context, notices: WaitNotices) -> ai.InvoiceClient:
    """The client of a command with the walk options (``--concurrency``, ``--per-page``,
    ``--rate-limit``), telling ``notices`` of long waits."""
    args = ctx.args
    return make_client(
        ctx,
        max_concurrency=args.concurrency,
        per_page=args.per_page,
        rate_limit=args.rate_limit,
        on_wait=notices,
    )


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


async def with_governor_watch(
    client: ai.InvoiceClient, progress: Progress, body: Callable[[], Awaitable[T]]
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


def requests_line(stats: ai.FetchStats | ai.ManyStats) -> str:
    """The line on stderr that says what a run cost: its requests, and the fewest possible.

    Every request counts against the token's quota (docs/cloudflare-api.md, "Rate limits"); the
    fewest are those the server's page size allows, once ``total_count`` tells them.
    """
    noun = "request" if stats.requests == 1 else "requests"
    line = f"{stats.requests:,} {noun}"
    fewest = stats.fewest_requests
    if fewest is not None:
        line += f"; the fewest possible: {fewest:,}"
        if isinstance(stats, ai.FetchStats) and stats.page_size is not None:
            line += f", at {stats.page_size:,} invoices a page"
    return line


def report_requests(ctx: Context, stats: ai.FetchStats | ai.ManyStats) -> None:
    """Write :func:`requests_line` to stderr, unless ``-q``."""
    if not ctx.quiet:
        ctx.stderr.write(requests_line(stats) + "\n")
        ctx.stderr.flush()


def report_skipped(ctx: Context, failures: Mapping[str, ai.AsyncInvoicesError]) -> ExitCode:
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


def terminal_width(stream: IO[str], default: int = 80) -> int:
    """Return the width of the terminal ``stream`` is, or ``default`` when it is not one."""
    if is_terminal(stream):
        return shutil.get_terminal_size((default, 24)).columns
    return default
