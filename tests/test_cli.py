"""End-to-end tests of the command line, run in-process against FakeCloudflare."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest

import asyncinvoices
from asyncinvoices._cli import ExitCode, run, run_async
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

    assert (result.code, result.stderr) == (ExitCode.OK, "")
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

    assert (result.code, result.stdout, result.stderr) == (ExitCode.OK, "", "")
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

    assert (code, err.getvalue()) == (ExitCode.OK, "")
    assert len(out.getvalue().splitlines()) == 231


async def test_progress_is_drawn_only_on_a_terminal(fake: FakeCloudflare) -> None:
    """A terminal stderr gets the progress bar; --no-progress and a pipe get nothing."""
    tty = TTY()
    shown = await fetch(fake, "--format", "jsonl", stderr=tty)
    hidden = await fetch(fake, "--format", "jsonl", "--no-progress", stderr=TTY())
    piped = await fetch(fake, "--format", "jsonl")

    assert "fetching" in shown.stderr
    assert "5/5" in shown.stderr
    assert (hidden.stderr, piped.stderr) == ("", "")
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
    assert result.stderr.count("GET ") == 5
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


async def test_invalid_account_id_is_a_usage_error(fake: FakeCloudflare) -> None:
    """An account id that cannot be a path segment exits 2 before any request."""
    result = await cli("fetch", "../x", "--base-url", fake.base_url, env=env_for(fake))

    assert result.code == ExitCode.USAGE
    assert fake.requests == []


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

    assert result.code == ExitCode.SERVER
    assert "network error" in result.stderr


# -- summary, demo, fake-server -------------------------------------------------------------


async def test_summary_totals_are_exact(fake: FakeCloudflare) -> None:
    """The summary's totals per currency equal the sums of the server's invoices."""
    result = await cli("summary", fake.account_id, "--base-url", fake.base_url, env=env_for(fake))

    assert (result.code, result.stderr) == (ExitCode.OK, "")
    invoices = fake.invoices()
    assert result.stdout.startswith("230 invoices;")
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
    assert "fake server measured in this run" in out
    assert "retry" in result.stderr  # the library's warnings about the retried requests


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


# -- the command line itself --------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["fetch"], ["summary"], ["demo"], ["fake-server"]])
def test_help_has_examples_and_exit_codes(command: list[str]) -> None:
    """--help on every command exits 0 and shows examples and the exit codes."""
    out, err = io.StringIO(), io.StringIO()

    code = run([*command, "--help"], stdout=out, stderr=err, environ={})

    assert (code, err.getvalue()) == (0, "")
    assert "examples:" in out.getvalue()
    assert "130  interrupted" in out.getvalue()


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

    code = run(["fetch", "abc", "-o", str(tmp_path / "x.csv")], stdout=out, stderr=err, environ={})

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
