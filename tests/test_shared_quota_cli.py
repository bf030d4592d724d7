"""The command line's shared quota: a file in the cache directory by default, Redis on demand."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from asyncinvoices._cli import ExitCode, run_async
from asyncinvoices._config import Credentials
from asyncinvoices._http.quota import default_quota_key
from asyncinvoices.testing import FakeCloudflare

from .redis_server import RedisServer, free_port

pytestmark = pytest.mark.anyio


async def cli(
    fake: FakeCloudflare, *argv: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Run a command against the fake, in this event loop; return code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    environ = {"CLOUDFLARE_API_TOKEN": fake.api_token, **(env or {})}
    code = await run_async(
        [*argv, "--base-url", fake.base_url], stdout=out, stderr=err, environ=environ
    )
    return code, out.getvalue(), err.getvalue()


def ids(jsonl: str) -> list[str]:
    return [json.loads(line)["id"] for line in jsonl.splitlines()]


async def test_two_runs_back_to_back_share_one_window_with_no_429() -> None:
    """Quota 5 per 3 s, five requests a run: the second run waits for the first's requests.

    Without the shared window the second run's first request would be the sixth in three
    seconds, and answered 429.
    """
    async with FakeCloudflare(230, rate_limit=(5, 3.0), block_seconds=3.0) as fake:
        argv = ("fetch", fake.account_id, "--format", "jsonl", "--rate-limit", "5/3", "-q")
        argv += ("--per-page", "50")  # five pages a run
        first = await cli(fake, *argv)
        second = await cli(fake, *argv)

        assert (first[0], ids(first[1])) == (ExitCode.OK, fake.ids())
        assert (second[0], ids(second[1])) == (ExitCode.OK, fake.ids())
        assert [r.status for r in fake.requests] == [200] * 10
        first_end = fake.requests[0].finished
        assert first_end is not None
        assert fake.requests[5].started - first_end >= 3.0
    key = default_quota_key(Credentials(token=fake.api_token))
    window = Path.home() / ".cache" / "asyncinvoices" / "quota" / f"{key}.json"
    state = json.loads(window.read_text())
    # The first run's requests have left the window; the second's are still in it.
    assert (len(state["ended"]), state["flying"]) == (5, {})


async def test_xdg_cache_home_holds_the_window(tmp_path: Path) -> None:
    async with FakeCloudflare(30) as fake:
        code, _, _ = await cli(
            fake, "fetch", fake.account_id, "-q", "--quota-key", "team", "--format", "jsonl",
            env={"XDG_CACHE_HOME": str(tmp_path)},
        )  # fmt: skip
    assert code == ExitCode.OK
    assert sorted(p.name for p in (tmp_path / "asyncinvoices" / "quota").iterdir()) == ["team.json"]


@pytest.mark.parametrize("command", ["fetch", "summary", "accounts", "sync"])
async def test_shared_quota_in_redis_for_every_command_that_calls_the_api(
    command: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    """Each request of the command took, and released, a place in Redis's window."""
    import redis.asyncio as aioredis

    async with FakeCloudflare(120) as fake:
        argv = {
            "fetch": ["fetch", fake.account_id, "-o", str(tmp_path / "out.csv")],
            "summary": ["summary", fake.account_id],
            "accounts": ["accounts"],
            "sync": ["sync", fake.account_id, "--db", f"sqlite:///{tmp_path / 'm.db'}"],
        }[command]
        key = f"cli-{command}"
        code, _, err = await cli(
            fake, *argv, "-q", "--shared-quota", redis_server.url(2), "--quota-key", key
        )
        sent = len(fake.requests)
    assert (code, err) == (ExitCode.OK, "")
    assert sent >= 1
    connection = aioredis.Redis.from_url(redis_server.url(2))
    try:
        assert await connection.zcard(f"asyncinvoices:{{{key}}}:ended") == sent
        assert await connection.exists(f"asyncinvoices:{{{key}}}:flying") == 0
    finally:
        await connection.aclose()


async def test_unreachable_redis_exits_6_naming_the_store_and_sends_nothing() -> None:
    port = free_port()
    url = f"redis://user:s3cret@127.0.0.1:{port}/0"
    async with FakeCloudflare(30) as fake:
        code, out, err = await cli(fake, "fetch", fake.account_id, "--shared-quota", url)
        assert fake.requests == []
    assert (code, out) == (ExitCode.SERVER, "")
    assert err == (
        f"asyncinvoices: shared quota unavailable: the shared quota in "
        f"redis://user:***@127.0.0.1:{port}/0 cannot be reached: Connection refused; nothing "
        "was sent, since without it the quota "
        "cannot be known to have room. Check the store (--shared-quota, "
        "$ASYNCINVOICES_SHARED_QUOTA), or count this run alone with --shared-quota local\n"
    )


async def test_environment_variable_names_the_store() -> None:
    port = free_port()
    async with FakeCloudflare(30) as fake:
        code, _, err = await cli(
            fake, "accounts", env={"ASYNCINVOICES_SHARED_QUOTA": f"redis://127.0.0.1:{port}"}
        )
        assert fake.requests == []
    assert code == ExitCode.SERVER
    assert f"redis://127.0.0.1:{port} cannot be reached" in err


async def test_unwritable_cache_directory_counts_the_run_alone_and_says_so(tmp_path: Path) -> None:
    """The cache directory cannot be made (a file is in the way): a warning, then a local run."""
    blocker = tmp_path / "cache"
    blocker.write_text("")
    async with FakeCloudflare(30) as fake:
        code, out, err = await cli(
            fake, "fetch", fake.account_id, "-q", "--format", "jsonl",
            env={"XDG_CACHE_HOME": str(blocker)},
        )  # fmt: skip
    assert (code, ids(out)) == (ExitCode.OK, fake.ids())
    assert err == (
        f"WARNING: cannot keep the shared quota in {blocker}/asyncinvoices/quota (Not a "
        "directory): counting this run's requests only\n"
    )
