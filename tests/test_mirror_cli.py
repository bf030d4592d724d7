"""``asyncinvoices sync``: output, exit codes and the database URL's password, in-process."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from asyncinvoices._cli import ExitCode, run_async
from asyncinvoices.testing import FakeCloudflare, Fault

from .postgres import PASSWORD, PostgresServer

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("instant_backoff")]

HEADER = (
    "account                           mode  seen  inserted  updated  removed  requests  outcome\n"
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeCloudflare]:
    """A fake account of 230 invoices."""
    async with FakeCloudflare(230, seed=7) as server:
        yield server


async def sync(
    fake: FakeCloudflare, *argv: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Run ``asyncinvoices sync ... --base-url FAKE`` and return (code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    environ = {"CLOUDFLARE_API_TOKEN": fake.api_token, **(env or {})}
    # 50 a page unless a test says otherwise, so that the requests column does not follow
    # the client's default page size.
    args = ["sync", "--per-page", "50", *argv, "--base-url", fake.base_url]
    code = await run_async(args, stdout=out, stderr=err, environ=environ)
    return code, out.getvalue(), err.getvalue()


def committed(path: Path) -> list[tuple[object, ...]]:
    """The runs a sync has committed so far: none while the file or its schema is not there."""
    try:
        return rows(path, "SELECT account_id FROM sync_runs") if path.exists() else []
    except sqlite3.OperationalError:  # the schema is still being made
        return []


async def wait_committed(path: Path, runs: int) -> None:
    """Wait (10 s at most) until a sync in another task or process has committed ``runs``.

    The command offers no event to wait on, so the file is read every 10 ms.
    """
    for _ in range(1000):
        if len(committed(path)) >= runs:
            return
        await anyio.sleep(0.01)
    raise AssertionError(f"fewer than {runs} runs committed after 10 s")


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    """The rows of ``sql`` on the SQLite file ``path``."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return [tuple(row) for row in db.execute(sql).fetchall()]


async def test_sync_prints_seen_inserted_updated_removed_per_account(
    fake: FakeCloudflare, tmp_path: Path
) -> None:
    """Two accounts, twice: the counts of each, and zeros for the unchanged re-run."""
    other = fake.add_account(invoices=7)
    db = f"sqlite:///{tmp_path}/m.db"

    first = await sync(fake, fake.account_id, other, "--db", db)
    fake.delete_invoices(fake.ids()[:1])
    second = await sync(fake, fake.account_id, other, "--db", db, "--full")

    assert first == (
        ExitCode.OK,
        f"mirrored into {db} (the file {tmp_path}/m.db)\n"
        + HEADER
        + f"{fake.account_id}  full   230       230        0        0         5  ok\n"
        + f"{other}  full     7         7        0        0         1  ok\n",
        "",
    )
    assert second == (
        ExitCode.OK,
        f"mirrored into {db} (the file {tmp_path}/m.db)\n"
        + HEADER
        + f"{fake.account_id}  full   229         0        0        1         5  ok\n"
        + f"{other}  full     7         0        0        0         1  ok\n",
        "",
    )


async def test_sync_all_accounts_mirrors_every_listed_account(
    fake: FakeCloudflare, tmp_path: Path
) -> None:
    """--all-accounts: every account GET /accounts lists, in its order; none unreadable."""
    other = fake.add_account(invoices=7)
    fake.add_account(invoices=3, readable=False)
    db = f"sqlite:///{tmp_path}/m.db"

    result = await sync(fake, "--all-accounts", "--db", db)

    assert result == (
        ExitCode.OK,
        f"mirrored into {db} (the file {tmp_path}/m.db)\n"
        + HEADER
        + f"{fake.account_id}  full   230       230        0        0         5  ok\n"
        + f"{other}  full     7         7        0        0         1  ok\n",
        "",
    )


@pytest.mark.parametrize("argv", [[], ["0" * 32, "--all-accounts"]])
async def test_sync_needs_ids_or_all_accounts_not_both(
    fake: FakeCloudflare, tmp_path: Path, argv: list[str]
) -> None:
    """No ACCOUNT_ID and no --all-accounts, or both: a usage error before any request."""
    code, out, err = await sync(fake, *argv, "--db", f"sqlite:///{tmp_path}/m.db")

    assert (code, out) == (ExitCode.USAGE, "")
    assert err.startswith(
        "asyncinvoices: configuration error: give one or more ACCOUNT_IDs, or --all-accounts "
        "(not both)"
    )
    assert fake.requests == []


async def test_sync_defaults_to_invoices_db_or_the_environment(
    fake: FakeCloudflare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --db: $ASYNCINVOICES_DB, else sqlite:///invoices.db in the working directory."""
    monkeypatch.chdir(tmp_path)
    env_db = f"sqlite:///{tmp_path}/from-env.db"

    code, out, _ = await sync(fake, fake.account_id)
    code_env, out_env, _ = await sync(fake, fake.account_id, env={"ASYNCINVOICES_DB": env_db})

    assert (code, out.splitlines()[0]) == (
        ExitCode.OK,
        f"mirrored into sqlite:///invoices.db (the file {tmp_path}/invoices.db)",
    )
    assert rows(tmp_path / "invoices.db", "SELECT count(*) FROM invoices") == [(230,)]
    assert (code_env, out_env.splitlines()[0]) == (
        ExitCode.OK,
        f"mirrored into {env_db} (the file {tmp_path}/from-env.db)",
    )
    assert rows(tmp_path / "from-env.db", "SELECT count(*) FROM invoices") == [(230,)]


async def test_a_relative_sqlite_url_names_its_absolute_file(
    fake: FakeCloudflare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three slashes are relative to the working directory: the report says which file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "var" / "lib").mkdir(parents=True)

    code, out, err = await sync(fake, fake.account_id, "--db", "sqlite:///var/lib/invoices.db")

    assert (code, err) == (ExitCode.OK, "")
    assert out.splitlines()[0] == (
        f"mirrored into sqlite:///var/lib/invoices.db (the file {tmp_path}/var/lib/invoices.db)"
    )
    assert rows(tmp_path / "var/lib/invoices.db", "SELECT count(*) FROM invoices") == [(230,)]


@pytest.mark.parametrize("slashes", ["///", "////"])
async def test_an_sqlite_file_in_a_missing_directory_is_refused(
    fake: FakeCloudflare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slashes: str
) -> None:
    """Like -o into a missing directory: exit 1 naming the absolute file, nothing created.

    Three slashes (relative, the working directory is tmp_path) and four (absolute) name
    the same file here.
    """
    monkeypatch.chdir(tmp_path)
    path = "var/lib/asyncinvoices/invoices.db"
    url = f"sqlite:{slashes}{path if slashes == '///' else f'{tmp_path}/{path}'[1:]}"

    code, out, err = await sync(fake, fake.account_id, "--db", url)

    assert (code, out) == (ExitCode.ERROR, "")
    assert err == (
        f"asyncinvoices: database error: cannot open {url} (the file {tmp_path}/{path}): the "
        f"directory {tmp_path}/var/lib/asyncinvoices does not exist (sqlite:///FILE is relative "
        "to the working directory, sqlite:////FILE absolute)\n"
    )
    assert not (tmp_path / "var").exists()
    assert fake.received == 0


async def test_ctrl_c_says_which_accounts_were_mirrored_and_how_to_go_on(
    tmp_path: Path,
) -> None:
    """Interrupted while two of four accounts are still being walked: the table of what was
    done on stdout, the accounts not mirrored and the command that mirrors them on stderr."""
    async with FakeCloudflare([5, 7, 120, 3], accounts=4, seed=7) as fake:
        a, b, c, d = fake.account_ids
        for slow in (c, d):
            fake.add_fault(Fault.slow(60, account_id=slow))
        db = f"sqlite:///{tmp_path}/m.db"
        out, err = io.StringIO(), io.StringIO()
        argv = ["sync", a, b, c, d, "--db", db, "--per-page", "50", "--base-url", fake.base_url]
        environ = {"CLOUDFLARE_API_TOKEN": fake.api_token}
        runs = "SELECT account_id, outcome FROM sync_runs ORDER BY run_id"

        async with anyio.create_task_group() as group:

            async def command() -> None:
                await run_async(argv, stdout=out, stderr=err, environ=environ)
                raise AssertionError("the sync was not interrupted")  # pragma: no cover

            group.start_soon(command)
            # The accounts are walked side by side: a and b are committed while the first
            # pages of c and d are still on their way.
            for slow in (c, d):
                await fake.wait_requests(1, matching=lambda r, s=slow: r.account_id == s)
            await wait_committed(tmp_path / "m.db", 2)
            group.cancel_scope.cancel()  # what Ctrl-C does to the command's task

    assert out.getvalue() == (
        f"mirrored into {db} (the file {tmp_path}/m.db)\n"
        + HEADER
        + f"{a}  full     5         5        0        0         1  ok\n"
        + f"{b}  full     7         7        0        0         1  ok\n"
        + f"{c}  full     0         0        0        0         1  cancelled\n"
        + f"{d}  full     0         0        0        0         1  cancelled\n"
    )
    assert err.getvalue() == (
        "asyncinvoices: interrupted: 2 of 4 accounts mirrored and committed; 2 not, their rows "
        f"as they were: {c} {d}\n"
        f"asyncinvoices: to mirror the rest, run: asyncinvoices sync {c} {d} --db {db} "
        f"--base-url {fake.base_url} --per-page 50\n"
    )
    assert sorted(rows(tmp_path / "m.db", runs)) == sorted(
        [(a, "ok"), (b, "ok"), (c, "cancelled"), (d, "cancelled")]
    )


async def test_sigint_mid_sync_names_the_rest_and_exits_130(tmp_path: Path) -> None:
    """The same report from a real Ctrl-C (SIGINT) to `python -m asyncinvoices sync`."""
    async with FakeCloudflare([5, 120], accounts=2, seed=7) as fake:
        a, b = fake.account_ids
        fake.add_fault(Fault.slow(60, account_id=b))
        db = f"sqlite:///{tmp_path}/m.db"
        env = {**os.environ, "CLOUDFLARE_API_TOKEN": fake.api_token}
        argv = [sys.executable, "-m", "asyncinvoices", "sync", a, b, "--db", db]
        argv += ["--base-url", fake.base_url, "--no-progress", "--per-page", "50"]
        async with await anyio.open_process(argv, env=env) as process:
            await fake.wait_requests(1, matching=lambda r: r.account_id == b, timeout=20)
            await wait_committed(tmp_path / "m.db", 1)  # a's, while b's page is on its way
            process.send_signal(signal.SIGINT)
            with anyio.fail_after(10):
                code = await process.wait()
            assert process.stdout is not None
            assert process.stderr is not None
            stdout = b"".join([chunk async for chunk in process.stdout]).decode()
            stderr = b"".join([chunk async for chunk in process.stderr]).decode()

    assert code == ExitCode.INTERRUPTED
    assert stdout.splitlines()[-2:] == [
        f"{a}  full     5         5        0        0         1  ok",
        f"{b}  full     0         0        0        0         1  cancelled",
    ]
    assert stderr == (
        "asyncinvoices: interrupted: 1 of 2 accounts mirrored and committed; 1 not, their rows "
        f"as they were: {b}\n"
        f"asyncinvoices: to mirror the rest, run: asyncinvoices sync {b} --db {db} "
        f"--base-url {fake.base_url} --per-page 50\n"
        "asyncinvoices: interrupted\n"
    )


async def test_failed_sync_exits_like_fetch_and_records_the_run(
    fake: FakeCloudflare, tmp_path: Path
) -> None:
    """Cloudflare failing after every retry: exit 6, the table says failed, nothing stored."""
    fake.add_fault(Fault.status(503, page=3))
    db = f"sqlite:///{tmp_path}/m.db"

    code, out, err = await sync(fake, fake.account_id, "--db", db)

    assert code == ExitCode.SERVER
    assert out.splitlines()[2].split() == [
        fake.account_id,
        *("full", "100", "0", "0", "0", "10", "failed"),
    ]
    assert len(fake.requests) == 10  # what the table says is what reached the server
    assert err.splitlines()[-1].startswith("asyncinvoices: Cloudflare failed (HTTP 503")
    assert rows(tmp_path / "m.db", "SELECT count(*) FROM invoices") == [(0,)]
    assert rows(tmp_path / "m.db", "SELECT outcome FROM sync_runs") == [("failed",)]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u:hunter2@h/db", "invalid database URL: unsupported scheme 'mysql'"),
        ("sqlite://invoices.db", "invalid database URL: an sqlite URL needs three slashes"),
        ("postgresql://u:hunter2@h:port/db", "invalid database URL: it cannot be parsed"),
    ],
)
async def test_bad_database_url_is_a_usage_error_without_the_password(
    fake: FakeCloudflare, url: str, message: str
) -> None:
    """Exit 2 with what is wrong; the URL (and its password) is not repeated."""
    code, out, err = await sync(fake, fake.account_id, "--db", url)

    assert (code, out) == (ExitCode.USAGE, "")
    assert err.startswith(f"asyncinvoices: configuration error: {message}")
    assert "hunter2" not in err


async def test_postgres_password_is_never_printed(
    fake: FakeCloudflare, postgres_server: PostgresServer
) -> None:
    """With -vv, on success and on a wrong password: the password shows nowhere."""
    name = f"c_{uuid.uuid4().hex[:16]}"
    url = postgres_server.create_database(name)
    wrong = url.replace("p%40ss", "wrong-pass")
    port = postgres_server.port

    ok = await sync(fake, fake.account_id, "-vv", env={"ASYNCINVOICES_DB": url})
    failed = await sync(fake, fake.account_id, "-vv", "--db", wrong)

    assert ok[0] == ExitCode.OK
    assert ok[1].splitlines()[0] == f"mirrored into postgresql://mirror:***@127.0.0.1:{port}/{name}"
    assert failed[0] == ExitCode.ERROR
    assert (
        failed[2]
        .splitlines()[-1]
        .startswith(
            "asyncinvoices: database error: cannot connect to "
            f"postgresql://mirror:***@127.0.0.1:{port}/{name}"
        )
    )
    for text in (*ok[1:], *failed[1:]):
        for secret in (PASSWORD, "p%40ss", "wrong-pass", fake.api_token):
            assert secret not in text


async def test_every_failed_account_is_named_and_the_first_picks_the_exit_code(
    fake: FakeCloudflare, tmp_path: Path
) -> None:
    """Two accounts failing differently: one line each on stderr, exit code of the first."""
    other = fake.add_account(invoices=7)
    fake.add_fault(Fault.status(503, account_id=fake.account_id))
    fake.add_fault(Fault.status(404, account_id=other))

    code, out, err = await sync(fake, fake.account_id, other, "--db", f"sqlite:///{tmp_path}/m.db")

    lines = err.splitlines()
    assert code == ExitCode.SERVER
    assert [line.split()[-1] for line in out.splitlines()[2:]] == ["failed", "failed"]
    assert lines[-3].startswith(f"asyncinvoices: {fake.account_id}: HTTP 503")
    assert lines[-2].startswith(f"asyncinvoices: {other}: HTTP 404")
    assert lines[-1].startswith("asyncinvoices: Cloudflare failed (HTTP 503")


async def test_a_later_sync_is_partial_and_its_row_says_so(tmp_path: Path) -> None:
    """The second sync of a realistic history reads one page; the table shows mode and cost."""
    async with FakeCloudflare(2000, seed=0, history="realistic") as fake:
        db = f"sqlite:///{tmp_path}/m.db"
        first = await sync(fake, fake.account_id, "--db", db, "--per-page", "100")
        fake.reset_counters()
        second = await sync(fake, fake.account_id, "--db", db, "--per-page", "100")
        served = len(fake.requests)

    assert first[1].splitlines()[2].split()[1:] == ["full", "2,000", "2,000", "0", "0", "20", "ok"]
    # "seen" is left out: the window ends at the real clock's now.
    mode, _, *counts = second[1].splitlines()[2].split()[1:]
    assert [mode, *counts] == ["partial", "0", "0", "0", "1", "ok"]
    assert (second[0], served) == (ExitCode.OK, 1)
    runs = rows(tmp_path / "m.db", "SELECT mode, requests FROM sync_runs ORDER BY run_id")
    assert runs == [("full", 20), ("partial", 1)]


async def test_an_oldest_first_server_is_named_under_the_table(tmp_path: Path) -> None:
    """A partial sync that had to walk to the end says so under the table."""
    async with FakeCloudflare(120, seed=0, history="realistic", order="oldest") as fake:
        db = f"sqlite:///{tmp_path}/m.db"
        await sync(fake, fake.account_id, "--db", db)
        code, out, _ = await sync(fake, fake.account_id, "--db", db)

    assert code == ExitCode.OK
    mode, _, *counts = out.splitlines()[2].split()[1:]  # "seen" follows the real clock
    assert [mode, *counts] == ["partial", "0", "0", "0", "3", "ok"]
    assert out.splitlines()[3:] == [
        f"{fake.account_id}: the server does not list newest first, so the partial sync "
        "walked to the end of the history (3 requests)"
    ]


async def test_skip_failed_goes_on_and_exits_8(fake: FakeCloudflare, tmp_path: Path) -> None:
    """--skip-failed: the failed account is named with its reason, the others are synced."""
    other = fake.add_account(invoices=7)
    fake.add_fault(Fault.status(404, account_id=fake.account_id))
    db = f"sqlite:///{tmp_path}/m.db"

    code, out, err = await sync(
        fake, fake.account_id, other, "--db", db, "--skip-failed", "--concurrency", "1"
    )

    assert code == ExitCode.PARTIAL
    assert [line.split()[-1] for line in out.splitlines()[2:]] == ["failed", "ok"]
    assert re.fullmatch(
        re.escape(
            f"asyncinvoices: account {fake.account_id} skipped: account not found (HTTP 404, "
            f"code 7003 Could not route to /accounts/{fake.account_id}/ai-gateway/billing/"
            "invoice-history, perhaps your object identifier is invalid?) (cf-ray "
        )
        + r"[0-9a-f]{16}-SJC"
        + re.escape(
            "): check the account id, 32 hexadecimal characters from the Cloudflare dashboard URL\n"
        ),
        err,
    )
    assert rows(tmp_path / "m.db", "SELECT account_id, count(*) FROM invoices GROUP BY 1") == [
        (other, 7)
    ]


async def test_without_skip_failed_no_account_starts_after_a_failure(
    fake: FakeCloudflare, tmp_path: Path
) -> None:
    """--concurrency 1, two accounts open: the first fails, the second ends, none starts."""
    others = [fake.add_account(invoices=7) for _ in range(3)]
    fake.add_fault(Fault.status(404, account_id=fake.account_id))

    code, out, _ = await sync(
        fake, fake.account_id, *others, "--db", f"sqlite:///{tmp_path}/m.db", "--concurrency", "1"
    )

    assert code == ExitCode.NOT_FOUND
    table = [line.split() for line in out.splitlines()[2:]]
    assert [(row[0], row[-1]) for row in table] == [(fake.account_id, "failed"), (others[0], "ok")]
    assert [r.account_id for r in fake.requests] == [fake.account_id, others[0]]


async def test_accounts_are_walked_side_by_side(tmp_path: Path) -> None:
    """Twenty one-page accounts: eight requests in flight at once, as --concurrency allows."""
    async with FakeCloudflare([3] * 20, accounts=20, latency=0.4) as fake:
        code, out, _ = await sync(
            fake, "--all-accounts", "--db", f"sqlite:///{tmp_path}/m.db", "--concurrency", "8"
        )
        peak = fake.peak_in_flight

    assert code == ExitCode.OK
    assert [line.split()[1:] for line in out.splitlines()[2:]] == [
        ["full", "3", "3", "0", "0", "1", "ok"]
    ] * 20
    assert peak == 8
    assert rows(tmp_path / "m.db", "SELECT count(*), sum(requests) FROM sync_runs") == [(20, 20)]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lookback", "61"], "argument --lookback: expected 0 and at most 60 days, got 61"),
        (["--full-every", "0"], "argument --full-every: expected above 0 days, got 0"),
        (["--rate-limit", "off"], "argument --rate-limit: the rate limit cannot be switched off"),
    ],
)
async def test_sync_options_are_checked(
    fake: FakeCloudflare, tmp_path: Path, argv: list[str], message: str
) -> None:
    """An out-of-range --lookback, --full-every or --rate-limit: usage error, no request."""
    code, out, err = await sync(fake, fake.account_id, "--db", f"sqlite:///{tmp_path}/m.db", *argv)

    assert (code, out) == (ExitCode.USAGE, "")
    assert message in err
    assert fake.requests == []


def test_the_command_to_mirror_the_rest_keeps_every_option_and_hides_passwords() -> None:
    """The rerun command repeats the run's options; a password in a URL shows as ***."""
    from asyncinvoices._cli._app import build_parser
    from asyncinvoices._cli._sync import rerun_command
    from asyncinvoices._mirror.types import parse_database_url

    a, b = "a" * 32, "b" * 32
    db = "postgresql://billing:pw@db:5432/invoices"
    args = build_parser().parse_args(
        [
            "sync",
            a,
            b,
            "--db",
            db,
            "--per-page",
            "100",
            "--concurrency",
            "4",
            "--rate-limit",
            "600/300",
            "--full",
            "--lookback",
            "14",
            "--full-every",
            "7.5",
            "--skip-failed",
            "--shared-quota",
            "redis://:s3cret@cache:6379/0",
            "--quota-key",
            "team",
        ]
    )
    command = rerun_command(args, parse_database_url(db), [b])
    assert command == (
        f"asyncinvoices sync {b} --db 'postgresql://billing:***@db:5432/invoices' "
        "--per-page 100 --concurrency 4 --rate-limit 600/300 --full --lookback 14 "
        "--full-every 7.5 --skip-failed --shared-quota 'redis://:***@cache:6379/0' "
        "--quota-key team"
    )
    plain = build_parser().parse_args(["sync", a])
    assert rerun_command(plain, parse_database_url("sqlite:///m.db"), [a]) == (
        f"asyncinvoices sync {a}"
    )
