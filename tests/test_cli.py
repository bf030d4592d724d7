"""End-to-end tests of the command line, run in-process against FakeCloudflare."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import gzip
import io
import json
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest

import asyncinvoices
from asyncinvoices._cli import ExitCode, build_parser, run, run_async
from asyncinvoices._cli._app import MAX_CONCURRENCY
from asyncinvoices._cli._demo import SPEND_PER_MONTH
from asyncinvoices._cli._formats import CSV_COLUMNS
from asyncinvoices.testing import FakeCloudflare, Fault

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("instant_backoff")]


@pytest.fixture
def anyio_backend() -> str:
    """aiohttp runs on asyncio only."""
    return "asyncio"


@pytest.fixture
async def fake() -> AsyncIterator[FakeCloudflare]:
    """A fake account of 230 invoices: five pages of 50, the last one partial."""
    async with FakeCloudflare(230, seed=7) as server:
        yield server


# What a run over the fake account costs: page 1 of 1,000 refused (the fake names its
# maximum, 100), then its three pages of 100.
REQUESTS = "4 requests; the fewest possible: 3, at 100 invoices a page\n"


class Captured:
    """The outcome of one command: exit code, stdout, stderr."""

    def __init__(self, code: int, stdout: str, stderr: str) -> None:
        self.code = code
        self.stdout = stdout
        self.stderr = stderr


class TTY(io.StringIO):
    """A text buffer that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def env_for(fake: FakeCloudflare, **extra: str) -> dict[str, str]:
    """The environment of a user whose token is the fake's."""
    return {"CLOUDFLARE_API_TOKEN": fake.api_token, **extra}


async def cli(*argv: str, env: dict[str, str], stderr: io.StringIO | None = None) -> Captured:
    """Run the command line in this event loop and capture what it wrote."""
    out, err = io.StringIO(), stderr if stderr is not None else io.StringIO()
    code = await run_async(list(argv), stdout=out, stderr=err, environ=env)
    return Captured(code, out.getvalue(), err.getvalue())


async def fetch(fake: FakeCloudflare, *argv: str, **kwargs: Any) -> Captured:
    """``asyncinvoices fetch`` of the fake's account, against the fake."""
    return await cli(
        "fetch", fake.account_id, "--base-url", fake.base_url, *argv, env=env_for(fake), **kwargs
    )


def names(directory: Path) -> list[str]:
    """The names of the files in ``directory``, sorted."""
    return sorted(p.name for p in directory.iterdir())


def iso(created: int) -> str:
    return dt.datetime.fromtimestamp(created, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- fetch: the formats, parsed back --------------------------------------------------------


async def test_jsonl_round_trips_to_the_servers_invoices(fake: FakeCloudflare) -> None:
    """Each JSONL line is the API's invoice object, amounts and created exactly as sent."""
    result = await fetch(fake, "--format", "jsonl")

    assert (result.code, result.stderr) == (ExitCode.OK, REQUESTS)
    lines = result.stdout.splitlines()
    records = [json.loads(line, parse_float=Decimal) for line in lines]
    assert fake.invoices() == records
    assert fake.ids() == [r["id"] for r in records]


async def test_json_is_one_array_of_the_same_objects(fake: FakeCloudflare) -> None:
    """--format json writes one array equal to the server's list."""
    result = await fetch(fake, "--format", "json", "--per-page", "100", "--concurrency", "3")

    assert result.code == ExitCode.OK
    assert fake.invoices() == json.loads(result.stdout, parse_float=Decimal)


async def test_csv_file_has_header_every_field_exact_amounts_and_iso_times(
    fake: FakeCloudflare, tmp_path: Path
) -> None:
    """-o FILE.csv writes CSV with a header; amounts are exact, created is ISO-8601 UTC."""
    target = tmp_path / "invoices.csv"

    result = await fetch(fake, "-o", str(target))

    assert (result.code, result.stdout) == (ExitCode.OK, "")
    assert result.stderr == f"wrote 230 invoices to {target}\n" + REQUESTS
    with target.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert list(CSV_COLUMNS) == list(rows[0].keys())
    expected = fake.invoices()
    assert [i["id"] for i in expected] == [r["id"] for r in rows]
    for raw, row in zip(expected, rows, strict=True):
        for name in ("amount_due", "amount_paid", "amount_remaining"):
            assert Decimal(str(raw[name])) == Decimal(row[name])
            assert str(raw[name]) == row[name]
        assert iso(raw["created"]) == row["created"]
        assert raw["status"] == row["status"]
        assert ("true" if raw["attempted"] else "false") == row["attempted"]
        assert row["extra"] == ""
    assert names(tmp_path) == ["invoices.csv"]


async def test_output_suffix_picks_the_format(fake: FakeCloudflare, tmp_path: Path) -> None:
    """Without --format, -o x.jsonl writes JSON Lines and replaces the old file."""
    target = tmp_path / "x.jsonl"
    target.write_text("old\n")

    result = await fetch(fake, "-o", str(target), "--type", "auto")

    assert (result.code, result.stdout) == (ExitCode.OK, "")
    lines = target.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == fake.ids(type="auto")


async def test_type_filter_and_table_output(fake: FakeCloudflare) -> None:
    """--type manual lists only manual top-ups; the table has a header and one line each."""
    result = await fetch(fake, "--type", "manual", "--format", "table")

    assert result.code == ExitCode.OK
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["id", "created", "status"]
    assert fake.ids(type="manual") == [line.split()[0] for line in lines[1:]]


async def test_no_progress_bar_over_invoices_streaming_to_the_terminal(
    fake: FakeCloudflare,
) -> None:
    """When stdout is the terminal too, the bar would tear the table: it is not drawn."""
    out, err = TTY(), TTY()
    code = await run_async(
        ["fetch", fake.account_id, "--base-url", fake.base_url],
        stdout=out,
        stderr=err,
        environ=env_for(fake),
    )

    assert (code, err.getvalue()) == (ExitCode.OK, REQUESTS)
    assert len(out.getvalue().splitlines()) == 231


async def test_progress_is_drawn_only_on_a_terminal(fake: FakeCloudflare) -> None:
    """A terminal stderr gets the progress bar; --no-progress and a pipe get nothing."""
    tty = TTY()
    shown = await fetch(fake, "--format", "jsonl", stderr=tty)
    hidden = await fetch(fake, "--format", "jsonl", "--no-progress", stderr=TTY())
    piped = await fetch(fake, "--format", "jsonl")

    assert "fetching" in shown.stderr
    assert "3/3" in shown.stderr
    assert shown.stderr.endswith(REQUESTS)
    assert (hidden.stderr, piped.stderr) == (REQUESTS, REQUESTS)
    assert shown.stdout == hidden.stdout == piped.stdout


# -- fetch: failures ---------------------------------------------------------------------------


async def test_failed_run_leaves_the_previous_file_untouched(tmp_path: Path) -> None:
    """A 403 on page 3 exits 3, writes nothing to stdout and keeps the old file as it was."""
    target = tmp_path / "invoices.jsonl"
    target.write_text("the previous, good content\n")
    async with FakeCloudflare(230, faults=[Fault.status(403, page=3)]) as fake:
        result = await fetch(fake, "-o", str(target))

    assert result.code == ExitCode.AUTHENTICATION
    assert result.stdout == ""
    assert target.read_text() == "the previous, good content\n"
    assert names(tmp_path) == ["invoices.jsonl"]
    assert result.stderr.startswith("asyncinvoices: authentication failed (HTTP 403, code 10000")
    assert "AI Gateway Read" in result.stderr
    assert len(result.stderr.splitlines()) == 1


async def test_missing_credentials_name_the_variables(tmp_path: Path) -> None:
    """Without a token: exit 2, one line naming the variables, no file created."""
    target = tmp_path / "out.csv"
    result = await cli("fetch", "0" * 32, "-o", str(target), env={})

    assert result.code == ExitCode.USAGE
    assert "CLOUDFLARE_API_TOKEN" in result.stderr
    assert "CLOUDFLARE_EMAIL" in result.stderr
    assert names(tmp_path) == []


async def test_wrong_token_never_shows_the_token(fake: FakeCloudflare) -> None:
    """A rejected token exits 3; neither stdout nor stderr contains it, even with -vv."""
    secret = "wrong-secret-token-0123456789"
    result = await cli(
        "fetch",
        fake.account_id,
        "--base-url",
        fake.base_url,
        "-vv",
        env={"CLOUDFLARE_API_TOKEN": secret},
    )

    assert result.code == ExitCode.AUTHENTICATION
    assert secret not in result.stdout + result.stderr
    assert "Traceback" in result.stderr  # -v shows the traceback, redacted


async def test_verbose_success_never_shows_the_token(fake: FakeCloudflare) -> None:
    """-vv on a successful run logs every request, never the token."""
    result = await fetch(fake, "-vv", "--format", "jsonl")

    assert result.code == ExitCode.OK
    assert result.stderr.count("GET ") == 4  # the refused page 1 of 1,000, then 3 of 100
    assert fake.api_token not in result.stdout + result.stderr


async def test_verbose_logging_redacts_the_legacy_key(fake: FakeCloudflare) -> None:
    """With email + key and -vv, requests are logged and the key never appears."""
    env = {"CLOUDFLARE_EMAIL": fake.api_email, "CLOUDFLARE_API_KEY": fake.api_key}
    result = await cli(
        "fetch", fake.account_id, "--base-url", fake.base_url, "-vv", "--format", "csv", env=env
    )

    assert result.code == ExitCode.OK
    assert "GET " in result.stderr
    assert "fetched 230 invoices" in result.stderr
    assert fake.api_key not in result.stdout + result.stderr


async def test_not_found_exits_4() -> None:
    """A 404 / 7003 "could not route" exits 4 with advice about the id."""
    async with FakeCloudflare(120, faults=[Fault.status(404, page=1)]) as fake:
        result = await fetch(fake)

    assert result.code == ExitCode.NOT_FOUND
    assert "account not found" in result.stderr


async def test_account_the_token_cannot_see_exits_3(fake: FakeCloudflare) -> None:
    """Cloudflare answers 403 for an account outside the token's reach: exit 3."""
    result = await cli("fetch", "f" * 32, "--base-url", fake.base_url, env=env_for(fake))

    assert result.code == ExitCode.AUTHENTICATION
    assert "account id" in result.stderr


@pytest.mark.parametrize("command", ["fetch", "summary", "sync"])
@pytest.mark.parametrize(
    "account_id",
    ["../x", "not-an-account", "0" * 31, "0" * 33, "g" * 32, "023e105f4ecef8ad9ca31a8372d0c35_"],
)
async def test_malformed_account_id_is_refused_before_any_request(
    fake: FakeCloudflare, command: str, account_id: str
) -> None:
    """An id that is not 32 hexadecimal characters exits 2 and no request reaches the fake."""
    result = await cli(command, account_id, "--base-url", fake.base_url, env=env_for(fake))

    assert (result.code, result.stdout) == (ExitCode.USAGE, "")
    assert fake.requests == []
    assert result.stderr.endswith(
        f"error: argument ACCOUNT_ID: {account_id!r} is not an account id: expected 32 "
        "hexadecimal characters, as in the Cloudflare dashboard's URL, e.g. "
        "023e105f4ecef8ad9ca31a8372d0c353\n"
    )


@pytest.mark.parametrize("command", ["fetch", "summary", "sync"])
async def test_upper_case_account_id_walks_the_lower_case_account(
    fake: FakeCloudflare, command: str, tmp_path: Path
) -> None:
    """Hexadecimal is case-insensitive: the lower-case id is asked for, and it succeeds."""
    db = ["--db", f"sqlite:///{tmp_path}/m.db"] if command == "sync" else []
    argv = [command, fake.account_id.upper(), "--base-url", fake.base_url, *db]
    result = await cli(*argv, env=env_for(fake))

    # fetch and summary end stderr with what the run cost: a refused 1,000 a page, then 3.
    report = (
        "" if command == "sync" else "4 requests; the fewest possible: 3, at 100 invoices a page\n"
    )
    assert (result.code, result.stderr) == (ExitCode.OK, report)
    assert {r.account_id for r in fake.requests} == {fake.account_id}
    assert f"{fake.account_id.upper()}" not in result.stdout


async def test_long_rate_limit_block_says_when_it_lifts() -> None:
    """A 429 with a Retry-After longer than the client waits exits 5 and says when."""
    async with FakeCloudflare(120, faults=[Fault.status(429, retry_after=900)]) as fake:
        result = await fetch(fake)

    assert result.code == ExitCode.RATE_LIMITED
    assert "the block lifts in 900 s" in result.stderr


async def test_persistent_server_error_exits_6() -> None:
    """A 502 on every attempt of a page exits 6 after the retries."""
    async with FakeCloudflare(120, faults=[Fault.status(502, page=2)]) as fake:
        result = await fetch(fake)

    assert result.code == ExitCode.SERVER
    assert "HTTP 502" in result.stderr
    assert "cf-ray" in result.stderr


async def test_malformed_response_exits_7() -> None:
    """A body that is not JSON, every time, exits 7."""
    async with FakeCloudflare(120, faults=[Fault.malformed_json(page=1)]) as fake:
        result = await fetch(fake)

    assert result.code == ExitCode.BAD_RESPONSE


async def test_connection_refused_exits_6() -> None:
    """No server at the base URL exits 6 with a network error."""
    async with FakeCloudflare(1) as fake:
        base_url, token = fake.base_url, fake.api_token
    result = await cli(
        "fetch", "a" * 32, "--base-url", base_url, env={"CLOUDFLARE_API_TOKEN": token}
    )

    port = base_url.split(":")[2].split("/")[0]
    assert result.code == ExitCode.SERVER
    assert result.stderr.splitlines()[-1] == (
        f"asyncinvoices: network error: cannot connect to 127.0.0.1:{port}: Connection refused "
        "(page 1): check the connection (and --base-url), then try again"
    )


# -- summary, demo, fake-server -------------------------------------------------------------


async def test_summary_totals_are_exact(fake: FakeCloudflare) -> None:
    """The summary's totals per currency equal the sums of the server's invoices."""
    result = await cli("summary", fake.account_id, "--base-url", fake.base_url, env=env_for(fake))

    assert (result.code, result.stderr) == (ExitCode.OK, REQUESTS)
    invoices = fake.invoices()
    assert result.stdout.startswith("230 invoices.\n")
    for currency in {i["currency"] for i in invoices}:
        mine = [i for i in invoices if i["currency"] == currency]
        paid = sum((Decimal(str(i["amount_paid"])) for i in mine), Decimal(0))
        line = next(x for x in result.stdout.splitlines() if x.startswith(currency.upper() + " "))
        assert f"{len(mine):,}" == line.split()[1]
        assert f"{paid:,.2f}" == line.split()[3]
    assert "per month (UTC), bars: spend (amount_paid)" in result.stdout
    assert "█" in result.stdout


async def test_demo_fetches_everything_and_reports_the_run() -> None:
    """The demo with faults survives them, verifies the ids and prints the measurements."""
    result = await cli(
        "demo", "--invoices", "1500", "--latency", "1", "--faults", "--no-progress", env={}
    )

    assert result.code == ExitCode.OK
    out = result.stdout
    assert "1,500 invoices" in out
    assert "50,000" not in out
    assert "1,500, each exactly once and in order (verified)" in out
    assert "pages          15 of up to 100 invoices each" in out
    assert (
        "Faults: HTTP 502 on page 3, HTTP 503 on page 7, connection reset on page 5,\n"
        "        HTTP 429 (Retry-After 1 s) on request 15\n"
        "Rate limit scaled down to 150 requests per 1 s (Cloudflare: 1,200 per 300 s)\n"
    ) in out
    assert "4 injected by the server, all survived" in out
    # 15 pages and 4 failed attempts, the reset's silent re-send counted like any other.
    assert (
        "  requests       19 requests; the quota allows 1,200 per 5 minutes (this demo: 150 per "
        "1 s)\n"
        "                 counted by the client (its FetchStats), 4 of them retries\n"
    ) in out
    assert (
        "  server         received 19 requests, by its own count at the wire;\n"
        "                 the client counted as many; 0 answered 429 by its own rate limit\n"
    ) in out
    assert "fake server measured in this run" in out
    assert "retry" in result.stderr  # the library's warnings about the retried requests


async def test_demo_of_many_accounts_names_whose_count_is_whose() -> None:
    """demo --accounts 3: the client's ManyStats count beside the quota, the server's own."""
    result = await cli(
        "demo", "--accounts", "3", "--invoices", "3000", "--latency", "1", "--no-progress",
        env={},
    )  # fmt: skip

    assert (result.code, result.stderr) == (ExitCode.OK, "")
    assert (
        "  accounts       3, fetched side by side on one quota\n"
        "  requests       30 requests; the quota allows 1,200 per 5 minutes\n"
        "                 counted by the client (its ManyStats), 0 of them retries\n"
    ) in result.stdout
    assert (
        "  server         received 30 requests, by its own count at the wire;\n"
        "                 the client counted as many; 0 answered 429 by its own rate limit\n"
    ) in result.stdout


async def test_demo_mirrors_into_sqlite_and_shows_a_query(tmp_path: Path) -> None:
    """demo --db: the accounts mirrored as sync does, then spend per month from the file."""
    db = tmp_path / "demo.db"
    result = await cli(
        "demo", "--invoices", "1500", "--latency", "1", "--no-progress", "--db",
        f"sqlite:///{db}", env={},
    )  # fmt: skip

    assert result.code == ExitCode.OK
    out = result.stdout
    assert f"Mirrored into sqlite:///{db} (the file {db})\n" in out
    assert "  full  1,500     1,500        0        0        15  ok\n" in out
    assert "GROUP BY month, currency\nORDER BY month DESC, currency\nLIMIT 6;\n" in out
    with contextlib.closing(sqlite3.connect(db)) as connection:
        rows = connection.execute(SPEND_PER_MONTH).fetchall()
        (count,) = connection.execute("SELECT count(*) FROM invoices").fetchone()
    assert count == 1500
    assert len(rows) == 6
    for month, currency, invoices, spend in rows:
        assert f"{month}  {currency}  {invoices:>8,}  {spend:>16,.2f}\n" in out


async def test_full_demo_with_faults_stays_inside_the_quota() -> None:
    """The default demo with faults: 500 pages under a quota of 150 per second, no real 429.

    Before the governor counted aiohttp's silent re-send of the reset page, this run drew a
    429 from the server's own limit on every run.
    """
    result = await cli("demo", "--faults", "--no-progress", env={})

    assert result.code == ExitCode.OK
    assert "50,000, each exactly once and in order (verified)" in result.stdout
    assert (
        "  requests       504 requests; the quota allows 1,200 per 5 minutes (this demo: 150 "
        "per 1 s)\n"
        "                 counted by the client (its FetchStats), 4 of them retries\n"
        "  throttled      "
    ) in result.stdout
    assert (
        "  server         received 504 requests, by its own count at the wire;\n"
        "                 the client counted as many; 0 answered 429 by its own rate limit\n"
    ) in result.stdout


async def test_fake_server_serves_until_cancelled() -> None:
    """fake-server prints where it listens and with which token; a client can fetch."""
    out, err = io.StringIO(), io.StringIO()
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(
            lambda: run_async(
                ["fake-server", "--invoices", "75", "--json", "--rate-limit", "off"],
                stdout=out,
                stderr=err,
                environ={},
            )
        )
        with anyio.fail_after(5):
            while not out.getvalue().endswith("\n"):  # noqa: ASYNC110 - another task writes it
                await anyio.sleep(0.01)
        info = json.loads(out.getvalue())
        async with asyncinvoices.InvoiceClient(
            api_token=info["api_token"], base_url=info["base_url"]
        ) as client:
            invoices = await client.list_invoices(info["account_id"])
        task_group.cancel_scope.cancel()

    assert len(invoices) == 75


async def test_fake_server_logs_each_request_with_v_and_says_how_many_it_served() -> None:
    """fake-server -v: a log line per request on stderr; on exit, the total on stdout."""
    out, err = io.StringIO(), io.StringIO()
    argv = ["fake-server", "-v", "--invoices", "75", "--rate-limit", "off"]
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(lambda: run_async(argv, stdout=out, stderr=err, environ={}))
        with anyio.fail_after(5):
            while "Ctrl-C" not in out.getvalue():  # noqa: ASYNC110 - another task writes it
                await anyio.sleep(0.01)
        base_url = out.getvalue().split("base URL    ")[1].split()[0]
        token = out.getvalue().split("API token   ")[1].split()[0]
        account = out.getvalue().split("account id  ")[1].split()[0]
        async with asyncinvoices.InvoiceClient(api_token=token, base_url=base_url) as client:
            invoices = await client.list_invoices(account, per_page=50)
        task_group.cancel_scope.cancel()

    assert len(invoices) == 75
    assert out.getvalue().splitlines()[0] == "FakeCloudflare serving 75 invoices in 1 account"
    assert out.getvalue().endswith("FakeCloudflare stopped; it served 2 requests.\n")
    logged = [line for line in err.getvalue().splitlines() if "fake server:" in line]
    path = f"/client/v4/accounts/{account}/ai-gateway/billing/invoice-history"
    assert [line.split("fake server: ")[1] for line in logged] == [
        f"request 1: GET {path}?type=all&page=1&per_page=50 -> 200",
        f"request 2: GET {path}?type=all&page=2&per_page=50 -> 200",
        "stopped after serving 2 requests",
    ]


async def test_fake_server_serves_mixed_shapes_and_many_accounts() -> None:
    """fake-server --shapes mixed --accounts 3: three listed accounts, read exactly."""
    out, err = io.StringIO(), io.StringIO()
    argv = ["fake-server", "--invoices", "40", "--json", "--rate-limit", "off"]
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(
            lambda: run_async(
                [*argv, "--shapes", "mixed", "--accounts", "3"],
                stdout=out,
                stderr=err,
                environ={},
            )
        )
        with anyio.fail_after(5):
            while not out.getvalue().endswith("\n"):  # noqa: ASYNC110 - another task writes it
                await anyio.sleep(0.01)
        info = json.loads(out.getvalue())
        async with asyncinvoices.InvoiceClient(
            api_token=info["api_token"], base_url=info["base_url"]
        ) as client:
            listed = [account.id async for account in client.accounts()]
            read = [await client.list_invoices(a) for a in listed]
        task_group.cancel_scope.cancel()

    assert listed == info["account_ids"]
    # The same seed in process: the invoices the client must read from every shape served.
    async with asyncinvoices.testing.FakeCloudflare(40, shapes="mixed", accounts=3) as fake:
        assert fake.account_ids == listed
        expected = [fake.expected_invoices(a) for a in fake.account_ids]
    assert [[asyncinvoices.Invoice(**values) for values in e] for e in expected] == read
    assert [len(r) for r in read] == [40, 40, 40]


# -- the command line itself --------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["fetch"], ["summary"], ["demo"], ["fake-server"]])
def test_help_has_examples_and_exit_codes(command: list[str]) -> None:
    """--help on every command exits 0 and shows examples and the exit codes."""
    out, err = io.StringIO(), io.StringIO()

    code = run([*command, "--help"], stdout=out, stderr=err, environ={})

    assert (code, err.getvalue()) == (0, "")
    assert "examples:" in out.getvalue()
    assert "\n  2    " in out.getvalue()


def test_version() -> None:
    """--version prints the version."""
    out = io.StringIO()

    assert run(["--version"], stdout=out, stderr=io.StringIO(), environ={}) == 0
    assert f"asyncinvoices {asyncinvoices.__version__}\n" == out.getvalue()


@pytest.mark.parametrize(
    "argv",
    [
        ["fetch"],
        ["fetch", "x", "--format", "xml"],
        ["fetch", "x", "--per-page", "0"],
        ["demo", "--latency", "fast"],
        ["fake-server", "--rate-limit", "many"],
        ["nonsense"],
    ],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    """Bad arguments exit 2 with argparse's message on stderr and nothing on stdout."""
    out, err = io.StringIO(), io.StringIO()

    assert run(argv, stdout=out, stderr=err, environ={}) == 2
    assert out.getvalue() == ""
    assert "error:" in err.getvalue()


def test_run_makes_its_own_event_loop(tmp_path: Path) -> None:
    """run() (what the console script calls) works outside any event loop."""
    out, err = io.StringIO(), io.StringIO()

    argv = ["fetch", "a" * 32, "-o", str(tmp_path / "x.csv")]
    code = run(argv, stdout=out, stderr=err, environ={})

    assert code == ExitCode.USAGE
    assert "CLOUDFLARE_API_TOKEN" in err.getvalue()


async def test_python_dash_m_and_ctrl_c(tmp_path: Path) -> None:
    """`python -m asyncinvoices` runs; SIGINT mid-fetch exits 130 and keeps the old file."""
    target = tmp_path / "out.json"
    target.write_text("old\n")
    async with FakeCloudflare(2000, latency=0.5) as fake:
        env = {**os.environ, "CLOUDFLARE_API_TOKEN": fake.api_token}
        argv = [sys.executable, "-m", "asyncinvoices", "fetch", fake.account_id]
        argv += ["--base-url", fake.base_url, "-o", str(target)]
        async with await anyio.open_process(argv, env=env) as process:
            await fake.wait_requests(1, timeout=10)
            process.send_signal(2)  # SIGINT
            with anyio.fail_after(5):
                code = await process.wait()
            assert process.stderr is not None
            stderr = (await process.stderr.receive()).decode()

    assert code == 130
    assert "interrupted" in stderr
    assert target.read_text() == "old\n"
    assert names(tmp_path) == ["out.json"]


# -- what a newcomer meets: output, flags and messages ------------------------------------------


@pytest.mark.parametrize("format", ["table", "csv", "jsonl", "json"])
async def test_failed_fetch_to_stdout_writes_nothing(format: str) -> None:
    """A run that fails before its first page prints no header, no '[': stdout stays empty."""
    async with FakeCloudflare(230, faults=[Fault.status(403, page=1)]) as fake:
        result = await fetch(fake, "--format", format)

    assert (result.code, result.stdout) == (ExitCode.AUTHENTICATION, "")


@pytest.mark.parametrize(
    ("format", "expected"),
    [
        (
            "table",
            "id                           created               status         cur"
            "      amount_due    amount_paid      remaining  origin\n",
        ),
        ("csv", ",".join(CSV_COLUMNS) + "\r\n"),
        ("jsonl", ""),
        ("json", "[]\n"),
    ],
)
async def test_an_empty_account_still_gets_its_header(format: str, expected: str) -> None:
    """With no invoices at all, a successful run writes the header or the empty array."""
    async with FakeCloudflare(0) as fake:
        result = await fetch(fake, "--format", format)

    # The refused page of 1,000, then the one empty page that shows the account empty.
    requests = "2 requests; the fewest possible: 1, at 100 invoices a page\n"
    assert (result.code, result.stdout, result.stderr) == (ExitCode.OK, expected, requests)


@pytest.mark.parametrize(
    ("name", "format", "argv"),
    [
        ("x.csv.gz", "csv", []),
        ("x.jsonl.gz", "jsonl", []),
        ("x.JSON.GZ", "json", []),
        ("x.tsv.gz", "csv", ["--format", "csv"]),
    ],
)
async def test_gz_suffix_compresses_the_format_it_follows(
    fake: FakeCloudflare, tmp_path: Path, name: str, format: str, argv: list[str]
) -> None:
    """-o x.csv.gz writes gzip of exactly what -o x.csv writes; the format is the inner suffix's."""
    target = tmp_path / name
    plain = await fetch(fake, "--format", format)

    result = await fetch(fake, "-o", str(target), *argv)

    assert (result.code, result.stdout) == (ExitCode.OK, "")
    assert result.stderr == f"wrote 230 invoices to {target}\n" + REQUESTS
    assert gzip.decompress(target.read_bytes()).decode() == plain.stdout
    assert names(tmp_path) == [name]


@pytest.mark.parametrize("name", ["x.tsv", "x.json.gz.bak", "x", "x.gz", "x.xlsx"])
async def test_unknown_suffix_without_format_is_refused(
    fake: FakeCloudflare, tmp_path: Path, name: str
) -> None:
    """-o x.tsv without --format exits 2 before any request and creates no file."""
    target = tmp_path / name

    result = await fetch(fake, "-o", str(target))

    assert (result.code, result.stdout) == (ExitCode.USAGE, "")
    assert result.stderr == (
        f"asyncinvoices: configuration error: -o {target}: cannot tell the format from the "
        "name; use a suffix of .csv, .jsonl, .ndjson, .json, .txt (each optionally followed "
        "by .gz), or say it with --format\n"
    )
    assert fake.requests == []
    assert names(tmp_path) == []


async def test_txt_suffix_writes_the_table(fake: FakeCloudflare, tmp_path: Path) -> None:
    """-o x.txt writes the same table as stdout does."""
    target = tmp_path / "x.txt"
    plain = await fetch(fake)

    result = await fetch(fake, "-o", str(target))

    assert result.code == ExitCode.OK
    assert target.read_text() == plain.stdout


@pytest.mark.parametrize("argv", [["-o", "-", "--format", "jsonl"], ["--format", "jsonl"]])
async def test_dash_output_is_stdout(
    fake: FakeCloudflare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    """-o - writes to stdout, creates no file named '-', and says on stderr only what the
    run cost."""
    monkeypatch.chdir(tmp_path)

    result = await fetch(fake, *argv)

    assert (result.code, result.stderr) == (ExitCode.OK, REQUESTS)
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == fake.ids()
    assert names(tmp_path) == []


async def test_quiet_suppresses_the_wrote_line(fake: FakeCloudflare, tmp_path: Path) -> None:
    """-q (before or after the command) leaves stderr empty on success."""
    first = await fetch(fake, "-o", str(tmp_path / "a.csv"), "-q")
    second = await cli(
        "--quiet",
        "fetch",
        fake.account_id,
        "--base-url",
        fake.base_url,
        "-o",
        str(tmp_path / "b.csv"),
        env=env_for(fake),
    )

    assert (first.code, first.stderr, second.code, second.stderr) == (0, "", 0, "")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


async def test_one_invoice_is_singular(tmp_path: Path) -> None:
    """The line counts in words a person reads: '1 invoice', thousands separated."""
    async with FakeCloudflare(1) as fake:
        one = await fetch(fake, "-o", str(tmp_path / "one.csv"))
    async with FakeCloudflare(2000) as fake:
        many = await fetch(fake, "-o", str(tmp_path / "many.csv"), "--per-page", "100")

    assert one.stderr == (
        f"wrote 1 invoice to {tmp_path / 'one.csv'}\n"
        "2 requests; the fewest possible: 1, at 100 invoices a page\n"
    )
    assert many.stderr == (
        f"wrote 2,000 invoices to {tmp_path / 'many.csv'}\n"
        "20 requests; the fewest possible: 20, at 100 invoices a page\n"
    )


@pytest.mark.parametrize("command", [["fetch", "0" * 32], ["summary", "0" * 32], ["demo"]])
def test_concurrency_has_a_documented_maximum(command: list[str]) -> None:
    """--concurrency above 64 exits 2 with the limit and the reason; 64 itself parses."""
    out, err = io.StringIO(), io.StringIO()

    code = run([*command, "--concurrency", "100000"], stdout=out, stderr=err, environ={})

    assert (code, out.getvalue()) == (ExitCode.USAGE, "")
    assert err.getvalue().endswith(
        "error: argument --concurrency: at most 64 requests in flight, got 100000: "
        "Cloudflare allows 200 requests per second per IP, and more in flight fetch no faster\n"
    )
    assert build_parser().parse_args([*command, "--concurrency", "64"]).concurrency == 64
    assert MAX_CONCURRENCY == 64


async def test_plain_http_base_url_names_the_flag(fake: FakeCloudflare) -> None:
    """The refusal of http:// to a remote host names --base-url, not the library's base_url."""
    result = await cli(
        "fetch", "0" * 32, "--base-url", "http://example.invalid/client/v4", env=env_for(fake)
    )

    assert (result.code, result.stdout) == (ExitCode.USAGE, "")
    assert result.stderr == (
        "asyncinvoices: configuration error: --base-url must use https unless its host is "
        "loopback, got http://example.invalid\n"
    )


async def test_plain_http_base_url_from_the_environment_names_the_variable(
    fake: FakeCloudflare,
) -> None:
    """From $CLOUDFLARE_BASE_URL, the message names the variable."""
    env = env_for(fake, CLOUDFLARE_BASE_URL="http://example.invalid/client/v4")

    result = await cli("fetch", "0" * 32, env=env)

    assert result.code == ExitCode.USAGE
    assert result.stderr == (
        "asyncinvoices: configuration error: CLOUDFLARE_BASE_URL must use https unless its "
        "host is loopback, got http://example.invalid\n"
    )


EXIT_CODE_LINES = {
    "demo": ["0", "1", "2", "7", "130", "141"],
    "fake-server": ["0", "1", "2"],
    "fetch": ["0", "1", "2", "3", "4", "5", "6", "7", "8", "130", "141"],
}


@pytest.mark.parametrize("command", sorted(EXIT_CODE_LINES))
def test_help_lists_only_the_exit_codes_a_command_can_end_with(command: str) -> None:
    """demo and fake-server talk to no Cloudflare: their help leaves out 3 to 6."""
    out = io.StringIO()

    assert run([command, "--help"], stdout=out, stderr=io.StringIO(), environ={}) == 0
    epilog = out.getvalue().split("exit codes:\n")[1]
    assert [line.split()[0] for line in epilog.splitlines()] == EXIT_CODE_LINES[command]


# -- waiting for the rate limit is said ----------------------------------------------------------


async def test_a_long_wait_for_the_rate_limit_is_said_once_or_shown_in_the_bar() -> None:
    """A quota of 1 request per 4 s makes page 2 wait about 4 s: without a bar, one line on
    stderr says so; with the bar, its note does and no plain line is written."""
    results: dict[str, Captured] = {}

    async def one(name: str, stderr: io.StringIO) -> None:
        # The fake enforces the same quota as the client, so a client that did not wait
        # would get a 429, not this result.
        async with FakeCloudflare(60, rate_limit=(1, 4.0), block_seconds=60) as fake:
            results[name] = await fetch(
                fake, "--format", "jsonl", "--rate-limit", "1/4", "--per-page", "50", stderr=stderr
            )
            assert [r.status for r in fake.requests] == [200, 200]

    async with anyio.create_task_group() as group:
        group.start_soon(one, "plain", io.StringIO())
        group.start_soon(one, "bar", TTY())

    plain, bar = results["plain"], results["bar"]
    assert (plain.code, bar.code) == (ExitCode.OK, ExitCode.OK)
    assert plain.stderr == (
        "waiting 4 s for the rate limit (the quota of requests per window is used up)\n"
        "2 requests; the fewest possible: 2, at 50 invoices a page\n"
    )
    assert "waiting 4 s for the rate limit" not in bar.stderr
    assert "rate limit 1/4 s, next in" in bar.stderr
    assert plain.stdout == bar.stdout


def test_rate_limit_option_cannot_switch_the_limit_off() -> None:
    """--rate-limit off exits 2: past the quota Cloudflare blocks the token for five minutes."""
    out, err = io.StringIO(), io.StringIO()

    code = run(["fetch", "0" * 32, "--rate-limit", "off"], stdout=out, stderr=err, environ={})

    assert (code, out.getvalue()) == (ExitCode.USAGE, "")
    assert err.getvalue().endswith(
        "error: argument --rate-limit: the rate limit cannot be switched off; give Q/W\n"
    )
