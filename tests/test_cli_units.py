"""Tests of the command line's pure parts: formats, summary, chart, failures, files, logs."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import os
import re
import stat
import types
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncinvoices import (
    AsyncInvoicesError,
    AuthenticationError,
    BadRequestError,
    CloudflareErrorDetail,
    ConfigurationError,
    FetchStats,
    Invoice,
    NotFoundError,
    PaginationError,
    RateLimit,
    RateLimitError,
    RateWait,
    ResponseFormatError,
    ServerError,
    TransportError,
)
from asyncinvoices._cli import ExitCode, build_parser
from asyncinvoices._cli._atomic import atomic_text_file
from asyncinvoices._cli._chart import bar, bar_chart
from asyncinvoices._cli._demo import quota_line, run_report
from asyncinvoices._cli._failures import describe, exit_codes_help, network_text
from asyncinvoices._cli._formats import (
    CSV_COLUMNS,
    csv_row,
    decimal_text,
    dumps_record,
    iso_utc,
    make_writer,
    to_record,
    unix_seconds,
)
from asyncinvoices._cli._logging import RedactingFilter, StreamSwitch, logging_to, redact
from asyncinvoices._cli._output import Output, resolve_output
from asyncinvoices._cli._progress import governor_note
from asyncinvoices._cli._resume import ResumeState, check_resumable, count_records, load_state
from asyncinvoices._cli._runtime import Context, wait_notices
from asyncinvoices._cli._summary import render, summarize
from asyncinvoices._cli._waits import WaitNotices
from asyncinvoices._http.governor import RateGovernor

UTC = dt.timezone.utc


def invoice(**changes: object) -> Invoice:
    """An invoice with every field set; ``changes`` override."""
    fields: dict[str, object] = {
        "amount_due": Decimal("640.19"),
        "amount_paid": Decimal("640.19"),
        "amount_remaining": Decimal(0),
        "currency": "usd",
        "id": "in_1",
        "attempt_count": 1,
        "attempted": True,
        "auto_advance": False,
        "created": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "created_by": "system",
        "description": "Top-up, with a comma",
        "invoice_origin": "auto_top_up",
        "invoice_pdf": "https://pay.stripe.com/x/pdf",
        "status": "paid",
    }
    fields.update(changes)
    return Invoice(**fields)  # type: ignore[arg-type]


# -- formats --------------------------------------------------------------------------------


def test_record_keeps_api_names_unknown_fields_and_unix_seconds() -> None:
    """to_record gives the API's object back, unknown fields included."""
    record = to_record(invoice(extra={"tax": Decimal("1.10"), "lines": [{"n": 1}]}))

    assert record["created"] == 1767323045
    assert record["tax"] == Decimal("1.10")
    line = dumps_record(record)
    assert '"amount_due":640.19' in line
    assert '"tax":1.10,"lines":[{"n":1}]' in line
    assert json.loads(line, parse_float=Decimal) == record


def test_missing_values_are_null_in_json_and_empty_in_csv() -> None:
    """None is null in JSON and an empty cell in CSV."""
    bare = Invoice(
        amount_due=Decimal(1), amount_paid=Decimal(0), amount_remaining=Decimal(1), currency="eur"
    )

    assert json.loads(dumps_record(to_record(bare)))["created"] is None
    row = csv_row(bare)
    assert row[CSV_COLUMNS.index("id")] == ""
    assert row[CSV_COLUMNS.index("amount_due")] == "1"


def test_times_keep_their_microseconds() -> None:
    """Fractional seconds survive in both time formats."""
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 250000, tzinfo=UTC)

    assert unix_seconds(when) == Decimal("1767323045.25")
    assert iso_utc(when) == "2026-01-02T03:04:05.250000Z"
    assert iso_utc(when.astimezone(dt.timezone(dt.timedelta(hours=2)))).endswith("05.250000Z")


def test_exponent_decimals_are_written_plainly_in_csv() -> None:
    """CSV never writes an exponent."""
    assert decimal_text(Decimal("1E+3")) == "1000"
    assert decimal_text(Decimal("1E-7")) == "0.0000001"


@given(st.decimals(allow_nan=False, allow_infinity=False, places=4))
def test_any_amount_round_trips_exactly_through_json(amount: Decimal) -> None:
    """Every finite Decimal is written as a JSON number that parses back equal."""
    line = dumps_record({"amount_due": amount})

    assert json.loads(line, parse_float=Decimal)["amount_due"] == amount


def test_writers_frame_their_output() -> None:
    """CSV has a header; an empty JSON array is valid; unknown formats are refused."""
    out = io.StringIO()
    writer = make_writer("csv", out)
    writer.write(invoice(extra={"x": True}))
    writer.end()
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == list(CSV_COLUMNS)
    assert rows[1][CSV_COLUMNS.index("description")] == "Top-up, with a comma"
    assert rows[1][-1] == '{"x":true}'

    empty = io.StringIO()
    array = make_writer("json", empty)
    array.end()
    assert json.loads(empty.getvalue()) == []

    with pytest.raises(ValueError, match="unknown format"):
        make_writer("xml", io.StringIO())


def test_table_marks_missing_values() -> None:
    """The table writes '-' for a missing id, time, status or origin."""
    out = io.StringIO()
    writer = make_writer("table", out)
    writer.write(invoice(id=None, created=None, status=None, invoice_origin=None))

    assert out.getvalue().splitlines()[1].split()[:3] == ["-", "-", "-"]


@pytest.mark.parametrize("format", ["table", "csv", "jsonl", "json"])
def test_writers_write_nothing_before_the_first_invoice(format: str) -> None:
    """No header and no '[' until an invoice (or the end) comes, then both in order."""
    out = io.StringIO()
    writer = make_writer(format, out)
    assert out.getvalue() == ""

    writer.write(invoice())
    writer.write(invoice(id="in_2"))
    writer.end()

    text = out.getvalue()
    lines = text.splitlines()
    assert writer.count == 2
    if format == "json":
        assert [r["id"] for r in json.loads(text)] == ["in_1", "in_2"]
    elif format == "jsonl":
        assert [json.loads(line)["id"] for line in lines] == ["in_1", "in_2"]
    else:
        assert [line.split(",")[0].split()[0] for line in lines] == ["id", "in_1", "in_2"]


@pytest.mark.parametrize(
    ("output", "format", "expected"),
    [
        (None, None, Output(path=None, format="table")),
        ("-", None, Output(path=None, format="table")),
        ("-", "csv", Output(path=None, format="csv")),
        ("a/x.csv", None, Output(path="a/x.csv", format="csv")),
        ("x.NDJSON", None, Output(path="x.NDJSON", format="jsonl")),
        ("x.json.gz", None, Output(path="x.json.gz", format="json", compress=True)),
        ("x.txt", None, Output(path="x.txt", format="table")),
        ("x.tsv", "csv", Output(path="x.tsv", format="csv")),
        ("x.gz", "jsonl", Output(path="x.gz", format="jsonl", compress=True)),
        ("x.csv", "json", Output(path="x.csv", format="json")),
    ],
)
def test_output_is_resolved_from_suffix_and_format(
    output: str | None, format: str | None, expected: Output
) -> None:
    """--format wins; else the suffix under an optional .gz; - and nothing are stdout."""
    assert resolve_output(output, format) == expected


@pytest.mark.parametrize("output", ["x.tsv", "x", "x.gz", "dir.csv/x", ".csv"])
def test_output_without_a_known_suffix_is_refused(output: str) -> None:
    """A name that names no format raises ConfigurationError naming the -o value."""
    with pytest.raises(ConfigurationError, match=rf"^-o {re.escape(output)}: cannot tell"):
        resolve_output(output, None)


# -- summary and chart ------------------------------------------------------------------------


def test_summary_sums_exactly_by_currency_status_and_month() -> None:
    """Sums are exact Decimals; months come from created in UTC; undated is its own row."""
    invoices = [
        invoice(amount_due=Decimal("0.1"), amount_paid=Decimal("0.1")),
        invoice(amount_due=Decimal("0.2"), amount_paid=Decimal("0.2")),
        invoice(status="open", amount_paid=Decimal(0), amount_remaining=Decimal("640.19")),
        invoice(currency="eur", created=None, status=None),
    ]

    summary = summarize(invoices)

    assert summary.total.count == 4
    assert summary.by_currency["USD"].paid == Decimal("0.3")
    assert summary.by_status["USD", "open"].remaining == Decimal("640.19")
    assert summary.by_month["USD", "2026-01"].count == 3
    assert summary.by_month["EUR", "undated"].count == 1
    text = render(summary, width=80)
    assert "0.30" in text
    assert "EUR  -  " in text
    assert "undated" in text
    assert "bars" not in render(summary, chart=False)


def test_empty_summary() -> None:
    """No invoices says so."""
    assert render(summarize([])) == "No invoices.\n"


def test_bars_are_proportional_in_eighths() -> None:
    """Bars scale to the maximum; tiny positive values still show; zero shows nothing."""
    assert bar(Decimal(10), Decimal(10), 4) == "████"
    assert bar(Decimal(1), Decimal(16), 1) == "▏"
    assert bar(Decimal("0.0001"), Decimal(1000), 10) == "▏"
    assert bar(Decimal(0), Decimal(10), 4) == ""
    assert bar_chart([]) == []
    lines = bar_chart([("a", Decimal(2)), ("bb", Decimal(1))], width=12, values=False)
    assert lines == ["a   ████████", "bb  ████"]


# -- failures -----------------------------------------------------------------------------------

AUTH = CloudflareErrorDetail(code=10000, message="Authentication error")


@pytest.mark.parametrize(
    ("exc", "code", "words"),
    [
        (ConfigurationError("bad"), ExitCode.USAGE, "configuration error: bad"),
        (
            AuthenticationError("x", status=403, errors=(AUTH,), ray_id="r1"),
            ExitCode.AUTHENTICATION,
            "(HTTP 403, code 10000 Authentication error) (cf-ray r1)",
        ),
        (NotFoundError("x", status=404), ExitCode.NOT_FOUND, "32 hexadecimal"),
        (RateLimitError("x", status=429), ExitCode.RATE_LIMITED, "five minutes"),
        (BadRequestError("x", status=400), ExitCode.USAGE, "--per-page"),
        (ServerError("x", status=502), ExitCode.SERVER, "after every retry"),
        (TransportError("reset"), ExitCode.SERVER, "network error: reset"),
        (ResponseFormatError("junk", ray_id="r2"), ExitCode.BAD_RESPONSE, "cf-ray r2"),
        (PaginationError("loop"), ExitCode.BAD_RESPONSE, "paging cannot be trusted"),
        (AsyncInvoicesError("odd"), ExitCode.ERROR, "error: odd"),
        (PermissionError(13, "Permission denied", "/x"), ExitCode.ERROR, "/x: Permission"),
        (RuntimeError("bug"), ExitCode.ERROR, "--verbose"),
        (KeyboardInterrupt(), ExitCode.INTERRUPTED, "interrupted"),
    ],
)
def test_every_failure_has_a_message_and_exit_code(
    exc: BaseException, code: ExitCode, words: str
) -> None:
    """Each kind of failure maps to its documented exit code and a helpful line."""
    message, exit_code = describe(exc)

    assert exit_code == code
    assert words in message
    assert "\n" not in message


def test_rate_limit_says_when_the_block_lifts() -> None:
    """A Retry-After becomes a clock time."""
    now = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    exc = RateLimitError("x", status=429, retry_after=300)

    message, _ = describe(exc, now=now)

    assert "lifts in 300 s, at 12:05:00 UTC" in message


# -- atomic files ------------------------------------------------------------------------------


def test_atomic_file_replaces_on_success_and_keeps_the_mode(tmp_path: Path) -> None:
    """The new content replaces the old one, with the old file's permissions."""
    target = tmp_path / "out.txt"
    target.write_text("old")
    os.chmod(target, 0o640)

    with atomic_text_file(target) as file:
        file.write("new")
        assert target.read_text() == "old"

    assert target.read_text() == "new"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_atomic_file_leaves_nothing_behind_on_failure(tmp_path: Path, error: BaseException) -> None:
    """Any failure, Ctrl-C included, removes the temporary file and keeps the old one."""
    target = tmp_path / "out.txt"
    target.write_text("old")

    def write_half() -> None:
        with atomic_text_file(target) as file:
            file.write("half")
            raise error

    with pytest.raises(type(error)):
        write_half()

    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_file_in_a_missing_directory_names_the_target(tmp_path: Path) -> None:
    """The error names the file asked for, not the temporary one."""
    target = tmp_path / "missing" / "out.csv"

    with pytest.raises(FileNotFoundError) as caught, atomic_text_file(target):
        pass  # pragma: no cover - never entered

    assert caught.value.filename == str(target)


def test_atomic_new_file_gets_umask_permissions(tmp_path: Path) -> None:
    """A new file gets what open() would have given it, not mkstemp's 0600."""
    umask = os.umask(0o022)
    try:
        with atomic_text_file(tmp_path / "new.txt") as file:
            file.write("x")
    finally:
        os.umask(umask)

    assert stat.S_IMODE(os.stat(tmp_path / "new.txt").st_mode) == 0o644


# -- logging and progress --------------------------------------------------------------------


def test_redaction_covers_arguments_and_tracebacks() -> None:
    """Secrets are replaced in formatted messages and in exception text."""
    stream = io.StringIO()
    with logging_to(stream, verbosity=2, secrets=["s3cret"]):
        log = logging.getLogger("asyncinvoices.test")
        log.debug("token %s", "s3cret")
        try:
            raise ValueError("bad s3cret")
        except ValueError:
            log.exception("failed")

    assert "s3cret" not in stream.getvalue()
    assert "token ***" in stream.getvalue()
    assert "ValueError: bad ***" in stream.getvalue()
    assert redact("ab abc", ["ab", "abc"]) == "*** ***"
    assert RedactingFilter([]).filter(logging.makeLogRecord({"msg": "x"}))


def test_governor_note_explains_each_wait() -> None:
    """The note says nothing, names the Retry-After pause, or names the full quota."""
    clock = [100.0]
    governor = RateGovernor(RateLimit(requests=1, window=10.0), clock=lambda: clock[0])

    assert governor_note(governor, 100.0) == ""
    governor.pause_until(102.0)
    assert governor_note(governor, 100.0) == "Retry-After: waiting 2 s"
    window = governor.window
    assert window is not None
    window.start()
    window.end(100.0)
    assert governor_note(governor, 104.0) == "rate limit 1/10 s, next in 6 s"
    assert governor_note(governor, 111.0) == ""


def test_network_text_drops_aiohttps_tls_setting() -> None:
    """Without a connection error underneath, the message is kept but for 'ssl:default'."""
    exc = TransportError("ClientOSError: Cannot connect to host h:80 ssl:default [boom] (page 2)")

    assert network_text(exc) == "ClientOSError: Cannot connect to host h:80 [boom] (page 2)"


def test_network_text_names_host_port_and_the_reason() -> None:
    """A refused connection reads as the operating system's reason, not asyncio's text."""

    class ConnectorError(Exception):
        host, port = "127.0.0.1", 9
        os_error = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 9)")

    exc = TransportError("whatever aiohttp said", page=3)
    exc.__cause__ = ConnectorError()

    assert network_text(exc) == f"cannot connect to 127.0.0.1:9: {os.strerror(111)} (page 3)"


def test_exit_codes_help_lists_the_codes_given() -> None:
    """A command's epilog lists its own codes, with its own words or the general ones."""
    text = exit_codes_help({ExitCode.OK: "fine", ExitCode.BROKEN_PIPE: ""})

    assert text == (
        "exit codes:\n  0    fine\n  141  standard output was closed early, e.g. by `| head`\n"
    )


def test_atomic_gzip_file_is_removed_on_failure(tmp_path: Path) -> None:
    """A compressed file that fails half-way leaves the old file and no temporary one."""
    target = tmp_path / "out.csv.gz"
    target.write_bytes(b"old")

    def write_half() -> None:
        with atomic_text_file(target, compress=True) as file:
            file.write("half")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_half()

    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv.gz"]


# -- waits for the rate limit ------------------------------------------------------------------


def notices_with_clock() -> tuple[WaitNotices, list[str], list[float]]:
    lines: list[str] = []
    clock = [1000.0]
    return WaitNotices(lines.append, lambda: clock[0]), lines, clock


def test_short_waits_are_not_mentioned() -> None:
    """A wait of 3 s or less writes nothing; a longer one writes its line."""
    notices, lines, _ = notices_with_clock()

    notices(RateWait(seconds=3.0, reason="quota"))
    notices(RateWait(seconds=3.2, reason="retry-after", page=4))

    assert lines == ["waiting 3 s for the rate limit (Cloudflare answered 429 with a Retry-After)"]


def test_one_line_per_wait_however_many_requests_wait() -> None:
    """Requests waiting behind an announced wait add no line until it has run out."""
    notices, lines, clock = notices_with_clock()

    notices(RateWait(seconds=12.4, reason="server", page=2))
    for page in range(3, 10):
        notices(RateWait(seconds=12.0, reason="server", page=page))
    clock[0] += 12.3
    notices(RateWait(seconds=20.0, reason="quota"))
    clock[0] += 0.1
    notices(RateWait(seconds=20.0, reason="quota"))

    assert lines == [
        "waiting 12 s for the rate limit (Cloudflare's Ratelimit header says its quota is used up)",
        "waiting 20 s for the rate limit (the quota of requests per window is used up)",
    ]


def test_lines_are_at_least_ten_seconds_apart() -> None:
    """Back-to-back waits of 4 s get a line every 10 s, not every 4 s."""
    notices, lines, clock = notices_with_clock()

    for _ in range(10):
        notices(RateWait(seconds=4.0, reason="quota"))
        clock[0] += 4.0

    assert len(lines) == 4  # at 0, 12, 24 and 36 s of the 40


@pytest.mark.parametrize(
    ("argv", "muted"),
    [([], False), (["-q"], True), (["--quiet"], True), (["-v"], True), (["-vv"], True)],
)
def test_quiet_and_verbose_mute_the_notices(argv: list[str], muted: bool) -> None:
    """-q says nothing; -v's log already has a line for every wait."""
    args = build_parser().parse_args(["fetch", "0" * 32, *argv])
    ctx = Context(
        args=args,
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        environ={},
        redactor=RedactingFilter([]),
        log_stream=StreamSwitch(io.StringIO()),
    )

    assert wait_notices(ctx).muted is muted


def test_muted_notices_write_nothing() -> None:
    """While muted (a progress bar shows the wait), even a long wait writes nothing."""
    notices, lines, _ = notices_with_clock()
    notices.muted = True

    notices(RateWait(seconds=300.0, reason="retry-after"))

    assert lines == []


def test_overlapping_logging_blocks_restore_the_level_found_first() -> None:
    """Two commands in one process, ending in the order they did not start: the logger's
    level is the lowest open one, then the one from before both."""
    logger = logging.getLogger("asyncinvoices")
    before = logger.level
    first = logging_to(io.StringIO(), verbosity=0)
    second = logging_to(io.StringIO(), verbosity=2)

    first.__enter__()
    second.__enter__()
    both = logger.level
    first.__exit__(None, None, None)
    one = logger.level
    second.__exit__(None, None, None)

    assert (both, one, logger.level) == (logging.DEBUG, logging.DEBUG, before)


# -- --resume state ----------------------------------------------------------------------------


def test_resume_refuses_gzip_before_anything() -> None:
    """A .gz output cannot be appended to and checked: refused with what to do instead."""
    with pytest.raises(ConfigurationError, match=r"^--resume cannot append to a \.gz file; "):
        check_resumable(resolve_output("x.csv.gz", None))


@pytest.mark.parametrize(
    "text",
    ["not json", "[]", '{"version": 2, "format": "csv", "written": 0, "checkpoint": {}}', "{}"],
)
def test_resume_refuses_a_state_file_it_did_not_write(tmp_path: Path, text: str) -> None:
    """Anything but this version's state is refused, saying how to start over."""
    state = tmp_path / "state.json"
    state.write_text(text)

    with pytest.raises(ConfigurationError) as caught:
        load_state(str(state), resolve_output(str(tmp_path / "x.csv"), None))

    assert str(caught.value) == (
        f"--resume {state}: not a state file of asyncinvoices fetch; remove it to start over"
    )


def test_resume_state_round_trips_and_checks_format_and_header(tmp_path: Path) -> None:
    """A saved state loads back; another format or a foreign CSV header is refused."""
    state, target = tmp_path / "state.json", tmp_path / "x.csv"
    ResumeState(format="csv", written=0, checkpoint={"position": 0}).save(str(state))
    csv_output = resolve_output(str(target), None)

    assert load_state(str(state), csv_output) == ResumeState("csv", 0, {"position": 0})
    assert load_state(str(tmp_path / "none.json"), csv_output) is None
    with pytest.raises(ConfigurationError, match="the interrupted run wrote csv, not jsonl"):
        load_state(str(state), resolve_output(str(tmp_path / "x.jsonl"), None))
    target.write_text("a,b\r\n1,2\r\n")
    with pytest.raises(ConfigurationError, match="its CSV header is not asyncinvoices'"):
        load_state(str(state), csv_output)
    assert count_records(str(tmp_path / "missing.csv"), "csv") == 0


def test_describe_mirror_errors_say_what_to_do() -> None:
    """A busy mirror says to run again later; another database error says it is one."""
    from asyncinvoices import MirrorBusyError, MirrorError

    busy = MirrorBusyError("account 023e... is locked by another sync")
    assert describe(busy) == (
        "the mirror is busy: account 023e... is locked by another sync; run again once the "
        "other sync has finished",
        ExitCode.ERROR,
    )
    assert describe(MirrorError("schema version 9 is newer than this library")) == (
        "database error: schema version 9 is newer than this library",
        ExitCode.ERROR,
    )


# -- the demo's report ------------------------------------------------------------------------


def test_quota_line_names_cloudflares_quota_and_the_demos_own() -> None:
    """The requests beside Cloudflare's 1,200 per 5 minutes; another limit in brackets."""
    assert quota_line(500) == "500 requests; the quota allows 1,200 per 5 minutes"
    assert quota_line(500, RateLimit()) == "500 requests; the quota allows 1,200 per 5 minutes"
    assert quota_line(2_001, RateLimit(requests=4_100, window=300.0)) == (
        "2,001 requests; the quota allows 1,200 per 5 minutes (this demo: 4,100 per 5 minutes)"
    )
    assert quota_line(3, RateLimit(requests=10, window=60.0)) == (
        "3 requests; the quota allows 1,200 per 5 minutes (this demo: 10 per minute)"
    )


def test_run_report_says_who_counted_what() -> None:
    """The client's count (FetchStats) and the server's own count at the wire, each named;
    a difference between them is flagged."""
    stats = FetchStats(invoices=120, pages=2, requests=3, retries=1)
    served = [
        types.SimpleNamespace(status=200, fault=None),
        types.SimpleNamespace(status=429, fault=None),
        types.SimpleNamespace(status=502, fault="status"),
        types.SimpleNamespace(status=200, fault=None),
    ]

    report = run_report(
        stats=stats, wall=2.0, concurrency=4, per_page=100, median=None, verified=True,
        injected=[], served=served,
    )  # fmt: skip

    assert report == (
        "The run\n"
        "  invoices       120, each exactly once and in order (verified)\n"
        "  pages          2 of up to 100 invoices each\n"
        "  requests       3 requests; the quota allows 1,200 per 5 minutes\n"
        "                 counted by the client (its FetchStats), 1 of them retries\n"
        "  throttled      0.0 s, summed over requests held by the governor or Retry-After\n"
        "  concurrency    4 requests in flight at most\n"
        "  wall time      2.00 s (60 invoices/s)\n"
        "  server         received 4 requests, by its own count at the wire;\n"
        "                 the client counted 3, NOT as many!; 1 answered 429 by its own rate "
        "limit\n"
    )
