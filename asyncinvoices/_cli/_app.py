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
from typing import IO, NoReturn, cast

import anyio

from asyncinvoices import __version__

from . import _commands as commands
from ._accounts import accounts
from ._demo import demo
from ._failures import EXIT_CODES_HELP, ExitCode, describe, exit_codes_help
from ._formats import FORMATS
from ._logging import JsonLines, logging_to, redact
from ._metrics import RunMetrics
from ._options import (
    CLOUDFLARE_API,
    INVOICE_TYPES,
    MAX_CONCURRENCY,
    add_account_selection,
    add_connection_options,
    add_metrics_file_argument,
    concurrency,
    date,
    milliseconds,
    non_negative_int,
    positive,
    rate_limit,
)
from ._runtime import Context
from ._summary import SUMMARY_FORMATS
from ._sync import SYNC_EXAMPLES, add_sync_arguments, sync

__all__ = ["MAX_CONCURRENCY", "build_parser", "main", "run", "run_async"]

logger = logging.getLogger("asyncinvoices")

_DESCRIPTION = """\
Fetch the complete Cloudflare AI Gateway invoice history of an account:
concurrently, in order, exactly once, within the rate limit."""

_MAIN_EXAMPLES = f"""\
examples:
  asyncinvoices demo                       the whole product against a local fake Cloudflare
  export CLOUDFLARE_API_TOKEN=...          a token with "AI Gateway Read"
  asyncinvoices fetch 023e105f4ecef8ad9ca31a8372d0c353 -o invoices.csv
  asyncinvoices fetch 023e105f4ecef8ad9ca31a8372d0c353 --format jsonl | jq .amount_due
  asyncinvoices summary 023e105f4ecef8ad9ca31a8372d0c353 --type auto
  asyncinvoices accounts                   every account the token can read
  asyncinvoices fetch --all-accounts --skip-failed -o all.csv
  asyncinvoices fake-server --port 8787    point curl or any SDK at it

environment:
  CLOUDFLARE_API_TOKEN                     API token with "AI Gateway Read" (preferred)
  CLOUDFLARE_EMAIL, CLOUDFLARE_API_KEY     or: account email and legacy global API key
  CLOUDFLARE_BASE_URL                      API root (default {CLOUDFLARE_API})

"""

_FETCH_EXAMPLES = """\
examples:
  asyncinvoices fetch ACCOUNT_ID                          a table in the terminal
  asyncinvoices fetch ACCOUNT_ID -o invoices.csv          CSV, written atomically
  asyncinvoices fetch ACCOUNT_ID -o invoices.jsonl.gz     JSON Lines, gzip-compressed
  asyncinvoices fetch ACCOUNT_ID --format jsonl | jq -c 'select(.status == "open")'
  asyncinvoices fetch ACCOUNT_ID --type manual --format json -o manual.json
  asyncinvoices fetch ACCOUNT_ID -o all.csv --resume all.state.json
                                  run it again after a failure: it goes on where it stopped
  asyncinvoices fetch ID1 ID2 ID3 -o three.csv            several accounts on one quota
  asyncinvoices fetch --all-accounts --skip-failed -o all.jsonl
                                  every account the token can read; one that fails is
                                  named on stderr, the rest is written, exit code 8

many accounts:
  With more than one ACCOUNT_ID, or --all-accounts, every row carries account_id: the
  first column of CSV and the table, a field of JSON and JSON Lines. The accounts are
  fetched side by side within --concurrency and the one rate limit, and written grouped,
  in the order given (--all-accounts: the listing's). --since/--until apply to each
  account; --resume takes one ACCOUNT_ID only.

formats:
  table   aligned columns for reading; amounts exact
  csv     header row, every field; amounts exact decimals (640.19), created ISO-8601 UTC
          (2026-01-02T03:04:05Z); unknown fields as a JSON object in the last column
  jsonl   one invoice per line with the API's field names; amounts exact JSON numbers,
          created in Unix seconds as the API sends it; unknown fields included
  json    the same objects in one JSON array
  Without --format, -o FILE takes the format from FILE's suffix: .csv, .jsonl (or
  .ndjson), .json, or .txt for the table; any other suffix needs --format. A further .gz
  compresses the file (-o invoices.csv.gz). -o - writes to stdout.

"""

_SUMMARY_EXAMPLES = """\
examples:
  asyncinvoices summary ACCOUNT_ID
  asyncinvoices summary ACCOUNT_ID --type auto --no-progress > summary.txt
  asyncinvoices summary --all-accounts --skip-failed     each account, and all together
  asyncinvoices summary --all-accounts --format csv > accounts.csv
  asyncinvoices summary ACCOUNT_ID --format json | jq '.total'

Totals by currency and status (due, paid, remaining), invoices and amounts per month, and a
bar chart of spend (amount_paid) per month; with several accounts, a row per account and
currency too. Amounts are exactly as Cloudflare sends them, summed without rounding; their
unit (currency units or cents) is not documented.

"""

_ACCOUNTS_EXAMPLES = """\
examples:
  asyncinvoices accounts                                  a table in the terminal
  asyncinvoices accounts --format jsonl | jq -r .id       the ids, for scripts
  asyncinvoices accounts --name "My Shop" -o shop.csv

Every account the credentials can read (GET /accounts), in the listing's order: by name,
--direction desc to reverse it. Fields: id, name, type, created_on (ISO-8601 UTC),
settings, and any field this version does not know.

"""

_DEMO_EXAMPLES = """\
examples:
  asyncinvoices demo                            50,000 invoices, 60 ms per response
  asyncinvoices demo --faults                   with a 429, a 502, a 503, a reset and a
                                                rate limit scaled down to 150 requests/s
  asyncinvoices demo --invoices 200000 --concurrency 32
  asyncinvoices demo --accounts 500 --invoices 30000
                                                500 accounts walked side by side on one
                                                quota with invoices_many

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

# The demo and the fake server talk to no Cloudflare: of the API's failures, only the demo's
# own check of what it fetched can fail.
_DEMO_EXIT_CODES = exit_codes_help(
    {
        ExitCode.OK: "success: every invoice arrived exactly once and in order",
        ExitCode.ERROR: "unexpected error",
        ExitCode.USAGE: "bad arguments",
        ExitCode.BAD_RESPONSE: "the invoices fetched are not the fake server's list",
        ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
        ExitCode.BROKEN_PIPE: "",
    }
)
_FAKE_EXIT_CODES = exit_codes_help(
    {
        ExitCode.OK: "stopped with Ctrl-C or SIGTERM",
        ExitCode.ERROR: "cannot listen, e.g. the port is in use",
        ExitCode.USAGE: "bad arguments",
    }
)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks and shows defaults."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)

    def _format_action_invocation(self, action: argparse.Action) -> str:
        # Python 3.13 names an option's value once ("-o, --output FILE"), earlier versions
        # after each spelling: one form on every version keeps the help that docs/cli.md
        # holds the same wherever it is regenerated.
        if not action.option_strings or action.nargs == 0:
            return super()._format_action_invocation(action)
        value = self._format_args(action, self._get_default_metavar_for_optional(action))
        return ", ".join(action.option_strings) + " " + value


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
        "--log-format",
        choices=("text", "json"),
        default="text" if top else argparse.SUPPRESS,
        help="how log lines on stderr look: text (the default), or json, one object per line "
        "(time, level, message, page, status, wait, ray_id) for log pipelines; then every "
        "line on stderr is JSON, the command's own notes included, and no progress bar",
    )
    group.add_argument(
        "--no-progress",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="no progress bar (it is only drawn when stderr is a terminal anyway)",
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="no progress bar, no 'wrote N invoices' line and no notes about waiting for "
        "the rate limit; warnings and errors are still shown",
    )
    return common


def _add_fetch_options(parser: argparse.ArgumentParser) -> None:
    add_account_selection(
        parser,
        ids_help="one or more Cloudflare account ids: 32 hexadecimal characters each",
        skip_failed_help="with several accounts: go on past an account that fails, name it "
        "on stderr with the reason, and exit with 8 (a rate limit still stops the run)",
    )
    _add_walk_options(parser)


def _add_client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--concurrency",
        type=concurrency,
        default=8,
        metavar="C",
        help=f"requests in flight at most (default: 8, at most {MAX_CONCURRENCY})",
    )
    add_connection_options(parser)


def _add_walk_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--type",
        choices=INVOICE_TYPES,
        default="all",
        help="auto top-ups, manual top-ups, or all (default: all)",
    )
    parser.add_argument(
        "--per-page",
        type=positive,
        metavar="N",
        help="invoices per request (default: the largest the server accepts: 1,000 first, "
        "then the maximum a refusal names, or 100, 50, 20, or the size of the pages it "
        "serves; learnt once per run). N is never raised, only lowered to the server's "
        "maximum",
    )
    parser.add_argument(
        "--since",
        type=date,
        metavar="DATE",
        help="only invoices created on or after DATE (UTC unless a zone is given); the walk "
        "stops once the pages are older, so a recent span costs a few requests",
    )
    parser.add_argument(
        "--until",
        type=date,
        metavar="DATE",
        help="only invoices created before DATE (UTC unless a zone is given)",
    )
    _add_client_options(parser)


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

    def command(
        name: str, help: str, examples: str, exit_codes: str = EXIT_CODES_HELP
    ) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help,
            description=help,
            epilog=examples + exit_codes,
            formatter_class=_Formatter,
            parents=[_common(top=False)],
        )

    _add_fetch_command(
        command("fetch", "Fetch every invoice to stdout or a file.", _FETCH_EXAMPLES)
    )
    summary = "Totals, months and a spend chart, in the terminal."
    _add_summary_options(command("summary", summary, _SUMMARY_EXAMPLES))
    listing = "List the accounts the credentials can read."
    _add_accounts_options(command("accounts", listing, _ACCOUNTS_EXAMPLES))
    add_sync_arguments(
        command("sync", "Mirror the invoice history into a database.", SYNC_EXAMPLES)
    )
    demo = "Fetch a large account from an embedded fake Cloudflare."
    _add_demo_options(command("demo", demo, _DEMO_EXAMPLES, _DEMO_EXIT_CODES))
    fake = "Run the fake Cloudflare server standalone."
    _add_fake_server_options(command("fake-server", fake, _FAKE_EXAMPLES, _FAKE_EXIT_CODES))
    return parser


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="output format (default: from -o FILE's suffix, else table)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write to FILE atomically instead of stdout: a failed or interrupted run "
        "leaves the previous FILE untouched; FILE.gz is compressed; - is stdout",
    )


def _add_summary_options(summary: argparse.ArgumentParser) -> None:
    _add_fetch_options(summary)
    summary.add_argument(
        "--format",
        choices=SUMMARY_FORMATS,
        default="table",
        help="table: for reading (default); csv: a row per account and currency, then the "
        "combined rows (account_id all); json: one object with every total",
    )


def _add_accounts_options(accounts: argparse.ArgumentParser) -> None:
    accounts.add_argument("--name", help="only the accounts with exactly this name")
    accounts.add_argument(
        "--direction",
        choices=("asc", "desc"),
        help="order by name, ascending or descending (default: the server's)",
    )
    _add_output_options(accounts)
    _add_client_options(accounts)


def _add_fetch_command(fetch: argparse.ArgumentParser) -> None:
    _add_fetch_options(fetch)
    _add_output_options(fetch)
    add_metrics_file_argument(fetch)
    fetch.add_argument(
        "--resume",
        metavar="STATE",
        help="keep what a failed or interrupted run wrote to -o FILE (csv or jsonl), and "
        "where it stopped in STATE; the same command then continues after it and appends. "
        "STATE is removed when the run completes",
    )


def _add_demo_options(demo: argparse.ArgumentParser) -> None:
    demo.add_argument(
        "--invoices", type=non_negative_int, default=50_000, metavar="N", help="default: 50000"
    )
    demo.add_argument(
        "--latency",
        type=milliseconds,
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
    demo.add_argument(
        "--concurrency",
        type=concurrency,
        default=16,
        metavar="C",
        help=f"default: 16, at most {MAX_CONCURRENCY}",
    )
    demo.add_argument(
        "--accounts",
        type=positive,
        default=1,
        metavar="N",
        help="share the invoices out between N accounts and fetch them all at once (default: 1)",
    )
    demo.add_argument(
        "--db",
        metavar="URL",
        help="then mirror the accounts into this database, as `sync` does, and show a query "
        "of it (e.g. sqlite:///demo.db; a PostgreSQL URL needs the postgres extra)",
    )
    demo.add_argument("--seed", type=int, default=0, metavar="S", help="data seed (default: 0)")


def _add_fake_server_options(fake: argparse.ArgumentParser) -> None:
    fake.add_argument("--host", default="127.0.0.1", help="interface (default: 127.0.0.1)")
    fake.add_argument(
        "--port", type=non_negative_int, default=0, metavar="P", help="default: 0, a free port"
    )
    fake.add_argument(
        "--invoices", type=non_negative_int, default=50_000, metavar="N", help="default: 50000"
    )
    fake.add_argument(
        "--latency", type=milliseconds, default=0.0, metavar="MS", help="per response, ms"
    )
    fake.add_argument("--seed", type=int, default=0, metavar="S", help="data seed (default: 0)")
    fake.add_argument(
        "--rate-limit",
        type=rate_limit,
        default=(1200, 300.0),
        metavar="Q/W",
        help="at most Q requests in any W seconds, like Cloudflare (default: 1200/300; "
        "'off' disables)",
    )
    fake.add_argument(
        "--max-per-page", type=positive, default=100, metavar="N", help="default: 100"
    )
    fake.add_argument(
        "--shapes",
        choices=("plain", "mixed"),
        default="plain",
        help="plain: every invoice in one tidy shape; mixed: also every other form the API's "
        "schema allows (1.0 for 1, ISO or Unix times, missing or null optionals, unknown "
        "fields), to test a client against (default: plain)",
    )
    fake.add_argument(
        "--accounts",
        type=positive,
        default=1,
        metavar="N",
        help="serve N accounts, each with --invoices invoices, all listed by GET /accounts "
        "(default: 1)",
    )
    fake.add_argument(
        "--json", action="store_true", help="announce with one JSON line on stdout, for scripts"
    )


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


#: Each command's function.
_COMMANDS: Mapping[str, Callable[[Context], Awaitable[object]]] = {
    "fetch": commands.fetch,
    "summary": commands.summary,
    "accounts": accounts,
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
    out = sys.stdout if stdout is None else stdout
    err = sys.stderr if stderr is None else stderr
    env = os.environ if environ is None else environ
    parsed = _parse(build_parser(), sys.argv[1:] if argv is None else argv, out, err)
    if isinstance(parsed, int):
        return parsed
    verbosity = int(parsed.verbose)
    json_lines = parsed.log_format == "json"
    with logging_to(err, verbosity=verbosity, json_lines=json_lines) as (redactor, log_stream):
        ctx = Context(
            args=parsed,
            stdout=out,
            # Every line on stderr is then JSON: the commands' notes become records too (and
            # the stream, not a terminal, draws no progress bar).
            stderr=cast(IO[str], JsonLines(err, redactor)) if json_lines else err,
            environ=env,
            redactor=redactor,
            log_stream=log_stream,
            metrics=_run_metrics(parsed),
        )
        try:
            result = await _COMMANDS[parsed.command](ctx)
        except Exception as exc:
            return _metrics_written(ctx, _failed(exc, ctx, verbosity))
        except BaseException:
            _metrics_written(ctx, ExitCode.INTERRUPTED)
            raise
    if result is False:  # the demo's check against the server's list failed
        return ExitCode.BAD_RESPONSE
    if isinstance(result, ExitCode):  # e.g. PARTIAL: some accounts were skipped
        return _metrics_written(ctx, result)
    return _metrics_written(ctx, ExitCode.OK)


def _run_metrics(parsed: argparse.Namespace) -> RunMetrics | None:
    path = getattr(parsed, "metrics_file", None)
    return None if path is None else RunMetrics(parsed.command, path)


def _metrics_written(ctx: Context, code: int) -> int:
    """Write ``--metrics-file`` with the outcome ``code`` says; return ``code``."""
    metrics = ctx.metrics
    if metrics is not None:
        outcomes = {
            ExitCode.OK: "ok",
            ExitCode.PARTIAL: "partial",
            ExitCode.INTERRUPTED: "interrupted",
        }
        outcome = outcomes.get(ExitCode(code), "failed")
        try:
            metrics.write(outcome)
        except OSError as exc:
            ctx.stderr.write(f"asyncinvoices: cannot write the metrics file: {exc}\n")
            return code or ExitCode.ERROR
    return code


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


def _failed(exc: Exception, ctx: Context, verbosity: int) -> int:
    if isinstance(exc, BrokenPipeError):
        # The reader went away (`| head`): stop quietly, as Unix tools do.
        return ExitCode.BROKEN_PIPE
    message, code = describe(exc, now=dt.datetime.now(dt.timezone.utc))
    if verbosity and code != ExitCode.INTERRUPTED:
        logger.error("traceback of the failure:", exc_info=exc)
    if ctx.args.log_format == "json":
        fields = {"status": getattr(exc, "status", None), "ray_id": getattr(exc, "ray_id", None)}
        logger.error("%s", message, extra=fields)
        return code
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
