"""The command line: argument parsing, dispatch, logging, and turning failures into exit codes.

:func:`run` is the whole program as a function of ``argv``, the output streams and the
environment, so tests run it in-process; :func:`main` is the console script.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import IO, Any, NoReturn

import anyio

from asyncinvoices._models import INVOICE_TYPES
from asyncinvoices._version import __version__

from ._failures import EXIT_CODES_HELP, ExitCode, describe
from ._formats import FORMATS
from ._logging import logging_to, redact

__all__ = ["build_parser", "main", "run", "run_async"]

logger = logging.getLogger("asyncinvoices")

_DESCRIPTION = """\
Fetch the complete Cloudflare AI Gateway invoice history of an account:
concurrently, in order, exactly once, within the rate limit."""

_MAIN_EXAMPLES = """\
examples:
  asyncinvoices demo                       the whole product against a local fake Cloudflare
  export CLOUDFLARE_API_TOKEN=...          a token with "AI Gateway Read"
  asyncinvoices fetch 023e105f4ecef8ad9ca31a8372d0c353 -o invoices.csv
  asyncinvoices fetch 023e105f4ecef8ad9ca31a8372d0c353 --format jsonl | jq .amount_due
  asyncinvoices summary 023e105f4ecef8ad9ca31a8372d0c353 --type auto
  asyncinvoices fake-server --port 8787    point curl or any SDK at it

environment:
  CLOUDFLARE_API_TOKEN                     API token with "AI Gateway Read" (preferred)
  CLOUDFLARE_EMAIL, CLOUDFLARE_API_KEY     or: account email and legacy global API key
  CLOUDFLARE_BASE_URL                      API root (default https://api.cloudflare.com/client/v4)

"""

_FETCH_EXAMPLES = """\
examples:
  asyncinvoices fetch ACCOUNT_ID                          a table in the terminal
  asyncinvoices fetch ACCOUNT_ID -o invoices.csv          CSV, written atomically
  asyncinvoices fetch ACCOUNT_ID --format jsonl | jq -c 'select(.status == "open")'
  asyncinvoices fetch ACCOUNT_ID --type manual --format json -o manual.json

formats:
  table   aligned columns for reading; amounts exact
  csv     header row, every field; amounts exact decimals (640.19), created ISO-8601 UTC
          (2026-01-02T03:04:05Z); unknown fields as a JSON object in the last column
  jsonl   one invoice per line with the API's field names; amounts exact JSON numbers,
          created in Unix seconds as the API sends it; unknown fields included
  json    the same objects in one JSON array
  Without --format, -o FILE picks csv, jsonl or json from FILE's suffix, else table.

"""

_SUMMARY_EXAMPLES = """\
examples:
  asyncinvoices summary ACCOUNT_ID
  asyncinvoices summary ACCOUNT_ID --type auto --no-progress > summary.txt

Totals by currency and status (due, paid, remaining), invoices and amounts per month, and a
bar chart of spend (amount_paid) per month. Amounts are shown as Cloudflare sends them (most
likely cents) and summed exactly.

"""

_DEMO_EXAMPLES = """\
examples:
  asyncinvoices demo                            50,000 invoices, 60 ms per response
  asyncinvoices demo --faults                   with a 429, a 502, a 503, a reset and a
                                                rate limit scaled down to 150 requests/s
  asyncinvoices demo --invoices 200000 --concurrency 32

No Cloudflare account and no network needed: the fake server listens on 127.0.0.1 only.
The "one at a time" line multiplies the pages by the median page latency the fake server
measured in this run (its request log).

"""

_FAKE_EXAMPLES = """\
examples:
  asyncinvoices fake-server --port 8787 --latency 60
  curl -H "Authorization: Bearer TOKEN" \\
    "http://127.0.0.1:8787/client/v4/accounts/ACCOUNT/ai-gateway/billing/invoice-history?per_page=5"
  CLOUDFLARE_API_TOKEN=TOKEN asyncinvoices fetch ACCOUNT --base-url http://127.0.0.1:8787/client/v4

Prints the base URL, account id and token (fake ones, derived from --seed), then serves
until Ctrl-C.

"""


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    if text == "0":
        return 0
    return _positive(text)


def _milliseconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected milliseconds, got {text!r}") from None
    if not 0 <= value < 600_000:
        raise argparse.ArgumentTypeError(f"expected 0 to 600000 ms, got {text}")
    return value


def _rate_limit(text: str) -> tuple[int, float] | None:
    from asyncinvoices.testing._cli import parse_rate_limit

    return parse_rate_limit(text)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks and shows defaults."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def _common(*, top: bool) -> argparse.ArgumentParser:
    # The same options on the main parser and on each command, so that both
    # `asyncinvoices -v fetch X` and `asyncinvoices fetch X -v` work. SUPPRESS keeps a
    # command's unset option from overwriting the main parser's value.
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("global options")
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0 if top else argparse.SUPPRESS,
        help="log more to stderr (-vv: every request) and show tracebacks; "
        "credentials are always redacted",
    )
    group.add_argument(
        "--no-progress",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="no progress bar (it is only drawn when stderr is a terminal anyway)",
    )
    return common


def _add_fetch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("account_id", metavar="ACCOUNT_ID", help="the Cloudflare account id")
    parser.add_argument(
        "--type",
        choices=INVOICE_TYPES,
        default="all",
        help="auto top-ups, manual top-ups, or all (default: all)",
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
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help="API root (default: $CLOUDFLARE_BASE_URL or https://api.cloudflare.com/client/v4); "
        "https, or http to loopback only",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the whole command line, every command included."""
    parser = argparse.ArgumentParser(
        prog="asyncinvoices",
        description=_DESCRIPTION,
        epilog=_MAIN_EXAMPLES + EXIT_CODES_HELP,
        formatter_class=_Formatter,
        parents=[_common(top=True)],
    )
    parser.add_argument("--version", action="version", version=f"asyncinvoices {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help: str, examples: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help,
            description=help,
            epilog=examples + EXIT_CODES_HELP,
            formatter_class=_Formatter,
            parents=[_common(top=False)],
        )

    fetch = command("fetch", "Fetch every invoice to stdout or a file.", _FETCH_EXAMPLES)
    _add_fetch_options(fetch)
    fetch.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="output format (default: from -o FILE's suffix, else table)",
    )
    fetch.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write to FILE atomically instead of stdout: a failed or interrupted run "
        "leaves the previous FILE untouched",
    )

    summary = command(
        "summary", "Totals, months and a spend chart, in the terminal.", _SUMMARY_EXAMPLES
    )
    _add_fetch_options(summary)

    from ._sync import SYNC_EXAMPLES, add_sync_arguments

    add_sync_arguments(
        command("sync", "Mirror the invoice history into a database.", SYNC_EXAMPLES)
    )

    demo = command(
        "demo", "Fetch a large account from an embedded fake Cloudflare.", _DEMO_EXAMPLES
    )
    demo.add_argument(
        "--invoices", type=_non_negative_int, default=50_000, metavar="N", help="default: 50000"
    )
    demo.add_argument(
        "--latency",
        type=_milliseconds,
        default=60.0,
        metavar="MS",
        help="per response, ms (default: 60)",
    )
    demo.add_argument(
        "--faults",
        action="store_true",
        help="inject a 429, a 502, a 503 and a connection reset, and scale the rate limit "
        "down to 150 requests per second so that the governor visibly holds requests back",
    )
    demo.add_argument("--concurrency", type=_positive, default=16, metavar="C", help="default: 16")
    demo.add_argument("--seed", type=int, default=0, metavar="S", help="data seed (default: 0)")

    fake = command("fake-server", "Run the fake Cloudflare server standalone.", _FAKE_EXAMPLES)
    fake.add_argument("--host", default="127.0.0.1", help="interface (default: 127.0.0.1)")
    fake.add_argument(
        "--port", type=_non_negative_int, default=0, metavar="P", help="default: 0, a free port"
    )
    fake.add_argument(
        "--invoices", type=_non_negative_int, default=50_000, metavar="N", help="default: 50000"
    )
    fake.add_argument(
        "--latency", type=_milliseconds, default=0.0, metavar="MS", help="per response, ms"
    )
    fake.add_argument("--seed", type=int, default=0, metavar="S", help="data seed (default: 0)")
    fake.add_argument(
        "--rate-limit",
        type=_rate_limit,
        default=(1200, 300.0),
        metavar="Q/W",
        help="at most Q requests in any W seconds, like Cloudflare (default: 1200/300; "
        "'off' disables)",
    )
    fake.add_argument(
        "--max-per-page", type=_positive, default=100, metavar="N", help="default: 100"
    )
    fake.add_argument(
        "--json", action="store_true", help="announce with one JSON line on stdout, for scripts"
    )
    return parser


def _parse(
    parser: argparse.ArgumentParser, argv: Sequence[str], stdout: IO[str], stderr: IO[str]
) -> argparse.Namespace | int:
    # argparse prints help and usage errors to sys.stdout / sys.stderr and exits: point
    # those at our streams and turn the exit into a return value.
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            return parser.parse_args(argv)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else ExitCode.USAGE


def _commands() -> Mapping[str, Callable[[Any], Awaitable[object]]]:
    from . import _commands as commands
    from ._demo import demo
    from ._sync import sync

    return {
        "fetch": commands.fetch,
        "summary": commands.summary,
        "demo": demo,
        "fake-server": commands.fake_server,
        "sync": sync,
    }


async def run_async(
    argv: Sequence[str] | None = None,
    *,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run the command line inside a running event loop and return its exit status.

    The in-process form of :func:`run`, for tests that serve a FakeCloudflare in the same
    loop. Cancellation and ``KeyboardInterrupt`` propagate; every other failure becomes a
    message on ``stderr`` and an exit status.

    Args:
        argv: The arguments without the program name; ``sys.argv[1:]`` by default.
        stdout: Where data goes; ``sys.stdout`` by default.
        stderr: Where progress, logs and errors go; ``sys.stderr`` by default.
        environ: The environment to read credentials from; ``os.environ`` by default.
    """
    from ._commands import Context

    out = sys.stdout if stdout is None else stdout
    err = sys.stderr if stderr is None else stderr
    env = os.environ if environ is None else environ
    parsed = _parse(build_parser(), sys.argv[1:] if argv is None else argv, out, err)
    if isinstance(parsed, int):
        return parsed
    verbosity = int(parsed.verbose)
    with logging_to(err, verbosity=verbosity) as (redactor, log_stream):
        ctx = Context(
            args=parsed,
            stdout=out,
            stderr=err,
            environ=env,
            redactor=redactor,
            log_stream=log_stream,
        )
        try:
            result = await _commands()[parsed.command](ctx)
        except Exception as exc:
            return _failed(exc, ctx, verbosity)
    if result is False:  # the demo's check against the server's list failed
        return ExitCode.BAD_RESPONSE
    return ExitCode.OK


def run(
    argv: Sequence[str] | None = None,
    *,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run the command line in a new event loop and return its exit status.

    Ctrl-C cancels the command, which removes any half-written output file, and returns 130.
    Arguments as for :func:`run_async`.
    """
    err = sys.stderr if stderr is None else stderr
    try:
        return anyio.run(
            functools.partial(run_async, argv, stdout=stdout, stderr=err, environ=environ),
            backend="asyncio",
        )
    except BaseException as exc:
        if not _interrupted(exc):
            raise
        with contextlib.suppress(OSError, ValueError):
            err.write("asyncinvoices: interrupted\n")
            err.flush()
        return ExitCode.INTERRUPTED


def _interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is Ctrl-C, possibly wrapped in an exception group by a task group."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    # A KeyboardInterrupt raised inside an anyio task group reaches us wrapped in a
    # BaseExceptionGroup (a builtin from Python 3.11, the exceptiongroup backport before).
    inner = getattr(exc, "exceptions", None)
    return isinstance(inner, tuple) and any(
        isinstance(e, BaseException) and _interrupted(e) for e in inner
    )


def _failed(exc: Exception, ctx: Any, verbosity: int) -> int:
    if isinstance(exc, BrokenPipeError):
        # The reader went away (`| head`): stop quietly, as Unix tools do.
        return ExitCode.BROKEN_PIPE
    message, code = describe(exc, now=dt.datetime.now(dt.timezone.utc))
    if verbosity and code != ExitCode.INTERRUPTED:
        logger.error("traceback of the failure:", exc_info=exc)
    with contextlib.suppress(OSError, ValueError):
        ctx.stderr.write(f"asyncinvoices: {redact(message, ctx.redactor.secrets)}\n")
        ctx.stderr.flush()
    return code


def main() -> NoReturn:
    """The ``asyncinvoices`` console script: run the command line and exit with its status."""
    code = run()
    if code == ExitCode.BROKEN_PIPE:
        # Python flushes stdout at exit and would complain about the closed pipe once more
        # (https://docs.python.org/3/library/signal.html#note-on-sigpipe).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    sys.exit(code)
