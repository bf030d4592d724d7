"""The standalone server (``python -m asyncinvoices.testing``) and the pytest plugin."""

from __future__ import annotations

import argparse
import asyncio
import functools
import io
import json
import logging
import os
import sys
from pathlib import Path

import aiohttp
import anyio
import pytest

import asyncinvoices
from asyncinvoices.testing import _cli
from asyncinvoices.testing._cli import parse_rate_limit, serve

pytestmark = pytest.mark.anyio
pytest_plugins = ["pytester"]

_ROOT = Path(asyncinvoices.__file__).resolve().parent.parent


@pytest.fixture
def anyio_backend() -> str:
    """aiohttp runs on asyncio only."""
    return "asyncio"


async def test_json_line_describes_a_working_server() -> None:
    """--json prints one flushed line with everything a harness needs; SIGTERM stops it."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "asyncinvoices.testing",
        "--port",
        "0",
        "--json",
        "--invoices",
        "30",
        "--rate-limit",
        "50/10",
        "--accounts",
        "3",
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        info = json.loads(line)
        assert set(info) == {
            "base_url",
            "account_id",
            "account_ids",
            "api_token",
            "api_email",
            "api_key",
            "pid",
        }
        assert info["pid"] == process.pid
        assert len(info["account_ids"]) == 3
        assert info["account_ids"][0] == info["account_id"]
        url = f"{info['base_url']}/accounts/{info['account_id']}/ai-gateway/billing/invoice-history"
        headers = {"Authorization": f"Bearer {info['api_token']}"}
        async with (
            aiohttp.ClientSession() as session,
            session.get(url, headers=headers) as response,
        ):
            assert response.status == 200
            assert response.headers["Ratelimit-Policy"] == '"default";q=50;w=10'
            body = await response.json()
        assert body["result_info"]["total_count"] == 30
    finally:
        process.terminate()
        await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0


async def test_serve_announces_itself_for_humans() -> None:
    """Without --json, serve prints the URL, account and token, and stops when cancelled."""
    out = io.StringIO()
    async with anyio.create_task_group() as group:
        info = await group.start(functools.partial(serve, invoices=7, latency=0.001, out=out))
        group.cancel_scope.cancel()
    assert info["base_url"].startswith("http://127.0.0.1:")
    assert out.getvalue() == (
        "FakeCloudflare serving 7 invoices in 1 account\n"
        f"  base URL    {info['base_url']}\n"
        f"  account id  {info['account_id']}\n"
        f"  API token   {info['api_token']}\n"
        f"  legacy      X-Auth-Email: {info['api_email']}\n"
        f"              X-Auth-Key: {info['api_key']}\n"
        "Press Ctrl-C to stop.\n"
        "FakeCloudflare stopped; it served 0 requests.\n"
    )


async def test_serve_gives_the_real_totals_and_the_requests_it_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """40 accounts of 1,000 are 40,000 invoices; on exit, and in the log of each request, the
    requests it served, counted at the wire."""
    out = io.StringIO()
    caplog.set_level(logging.INFO, logger="asyncinvoices.testing")
    async with anyio.create_task_group() as group:
        serving = functools.partial(serve, invoices=1_000, accounts=40, out=out)
        info = await group.start(serving)
        headers = {"Authorization": f"Bearer {info['api_token']}"}
        url = f"{info['base_url']}/accounts/{info['account_id']}/ai-gateway/billing/invoice-history"
        async with aiohttp.ClientSession(headers=headers) as session:
            for page in (1, 2):
                async with session.get(url, params={"page": page, "per_page": 5}) as response:
                    assert response.status == 200
            async with session.get(f"{info['base_url']}/nowhere") as response:
                assert response.status == 404
        group.cancel_scope.cancel()

    lines = out.getvalue().splitlines()
    assert lines[0] == "FakeCloudflare serving 40,000 invoices: 40 accounts of 1,000"
    assert lines[2] == f"  account id  {info['account_id']} (and 39 more: GET /accounts)"
    assert lines[-1] == "FakeCloudflare stopped; it served 3 requests."
    path = f"/client/v4/accounts/{info['account_id']}/ai-gateway/billing/invoice-history"
    assert [r.getMessage() for r in caplog.records] == [
        f"fake server: request 1: GET {path}?page=1&per_page=5 -> 200",
        f"fake server: request 2: GET {path}?page=2&per_page=5 -> 200",
        "fake server: request 3: GET /client/v4/nowhere -> 404",
        "fake server: stopped after serving 3 requests",
    ]
    assert info["api_token"] not in caplog.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1200/300", (1200, 300.0)), ("5/0.5", (5, 0.5)), ("10", (10, 300.0)), ("off", None)],
)
def test_rate_limit_argument(text: str, expected: tuple[int, float] | None) -> None:
    """Q/W parses to a pair; 'off' disables the limit."""
    assert parse_rate_limit(text) == expected


@pytest.mark.parametrize("text", ["x/1", "0/1", "5/0", "5/-1"])
def test_rate_limit_argument_errors(text: str) -> None:
    """Nonsense is an argparse error, not a crash."""
    with pytest.raises(argparse.ArgumentTypeError):
        parse_rate_limit(text)


_PLUGIN_TESTS = """
import aiohttp
import pytest

from asyncinvoices.testing import FakeCloudflare, Fault

pytestmark = pytest.mark.anyio


def test_backend_is_asyncio(request, anyio_backend):
    assert anyio_backend == "asyncio"
    # The plugin's fixture, not anyio's (which is parametrized over installed backends).
    assert not hasattr(request.node, "callspec")


async def test_default_server(fake_cloudflare):
    assert isinstance(fake_cloudflare, FakeCloudflare)
    headers = {"Authorization": f"Bearer {fake_cloudflare.api_token}"}
    async with aiohttp.ClientSession() as session:
        async with session.get(fake_cloudflare.url_for(), headers=headers) as response:
            assert response.status == 200
            assert (await response.json())["result_info"]["total_count"] == 120


async def test_factory(fake_cloudflare_factory):
    async with fake_cloudflare_factory(invoices=3, faults=[Fault.status(503)]) as fake:
        headers = {"Authorization": f"Bearer {fake.api_token}"}
        async with aiohttp.ClientSession() as session:
            async with session.get(fake.url_for(), headers=headers) as response:
                assert response.status == 503
        assert len(fake.ids()) == 3
    async with fake_cloudflare_factory(5) as other:
        assert other.base_url != fake.base_url or len(other.ids()) == 5
"""


@pytest.mark.parametrize(
    "plugins",
    [
        ("-p", "anyio", "-p", "asyncinvoices.testing._pytest_plugin"),
        ("-p", "asyncinvoices.testing._pytest_plugin", "-p", "anyio"),
    ],
)
def test_pytest_plugin_fixtures(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, plugins: tuple[str, ...]
) -> None:
    """The plugin's fixtures give running servers on asyncio, whatever the plugin order."""
    # Load exactly these plugins, whether or not the package's entry point is installed.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.syspath_prepend(str(_ROOT))
    pytester.makepyfile(test_plugin=_PLUGIN_TESTS)
    result = pytester.runpytest_inprocess(*plugins, "-W", "error", "-q")
    result.assert_outcomes(passed=3)


def test_own_anyio_backend_fixture_wins(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user's anyio_backend fixture overrides the plugin's default."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.syspath_prepend(str(_ROOT))
    pytester.makeconftest(
        "import pytest\n\n@pytest.fixture(params=['asyncio'])\n"
        "def anyio_backend(request):\n    return ('asyncio', {'debug': True})\n"
    )
    pytester.makepyfile(
        test_own="def test_backend(anyio_backend):\n"
        "    assert anyio_backend == ('asyncio', {'debug': True})\n"
    )
    result = pytester.runpytest_inprocess(
        "-p", "anyio", "-p", "asyncinvoices.testing._pytest_plugin", "-q"
    )
    result.assert_outcomes(passed=1)


async def test_serve_json_line_in_process() -> None:
    """serve(json_output=True) writes one JSON line naming this process."""
    out = io.StringIO()
    async with anyio.create_task_group() as group:
        started = await group.start(
            functools.partial(serve, invoices=3, json_output=True, rate_limit=None, out=out)
        )
        group.cancel_scope.cancel()
    info = json.loads(out.getvalue())
    assert started == info
    assert info["pid"] == os.getpid()
    assert info["api_email"] == "owner@example.com"


def test_main_passes_milliseconds_as_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """main() parses the flags, converts milliseconds and treats Ctrl-C as a clean exit."""
    seen: dict[str, object] = {}

    async def fake_serve(**kwargs: object) -> None:
        seen.update(kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli, "serve", fake_serve)
    argv = ["--port", "8787", "--invoices", "9", "--latency", "60", "--jitter", "5"]
    argv += ["--seed", "3", "--rate-limit", "5/1", "--max-per-page", "50", "--shapes", "mixed"]
    argv += ["--accounts", "4", "--history", "realistic", "--order", "oldest"]
    assert _cli.main(argv) == 0
    assert seen == {
        "host": "127.0.0.1",
        "port": 8787,
        "invoices": 9,
        "seed": 3,
        "latency": 0.06,
        "jitter": 0.005,
        "rate_limit": (5, 1.0),
        "max_per_page": 50,
        "shapes": "mixed",
        "accounts": 4,
        "history": "realistic",
        "order": "oldest",
        "json_output": False,
    }


async def test_serve_names_the_other_accounts() -> None:
    """With several accounts, the announcement says how many more the listing holds."""
    out = io.StringIO()
    async with anyio.create_task_group() as group:
        info = await group.start(
            functools.partial(serve, invoices=2, accounts=3, rate_limit=None, out=out)
        )
        group.cancel_scope.cancel()
    assert len(info["account_ids"]) == 3
    assert f"  account id  {info['account_id']} (and 2 more: GET /accounts)\n" in out.getvalue()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--latency", "fast"], "argument --latency: expected milliseconds, got 'fast'"),
        (["--latency", "-5"], "argument --latency: expected 0 to 600000 ms, got -5"),
        (["--jitter", "nan"], "argument --jitter: expected 0 to 600000 ms, got nan"),
        (["--jitter", "600000"], "argument --jitter: expected 0 to 600000 ms, got 600000"),
    ],
)
def test_main_refuses_latency_that_is_not_milliseconds(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """A --latency or --jitter that is not 0 to ten minutes in milliseconds: exit status 2
    and a message that says what it wants, as asyncinvoices demo says it."""
    with pytest.raises(SystemExit) as exited:
        _cli.main(argv)
    assert exited.value.code == 2
    assert capsys.readouterr().err.endswith(f"error: {message}\n")
