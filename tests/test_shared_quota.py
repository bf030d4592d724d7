"""The shared quota's stores: the pure decision, the file and a real Redis, and the clients."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from asyncinvoices import (
    ConfigurationError,
    InvoiceClient,
    QuotaStoreError,
    RateLimit,
    RateLimitError,
    SyncInvoiceClient,
)
from asyncinvoices._config import Credentials
from asyncinvoices._http.quota import Admission, QuotaState, QuotaStore, Verdict, default_quota_key
from asyncinvoices._http.quota_file import FileQuotaStore, cache_directory
from asyncinvoices._http.quota_stores import open_store
from asyncinvoices.testing import FakeCloudflare

from .redis_server import RedisServer, free_port

pytestmark = pytest.mark.anyio

S = 1_000_000  # microseconds in a second


def ask(token: str, **kwargs: object) -> Admission:
    """An admission of quota 3 per second, a lease of 10 s, unless told otherwise."""
    fields: dict[str, object] = {"quota": 3, "window": 1.0, "lease": 10.0, **kwargs}
    return Admission(token=token, **fields)  # type: ignore[arg-type]


# -- the pure decision -----------------------------------------------------------------------


def test_state_admits_up_to_the_quota_then_waits_for_a_request_in_flight() -> None:
    state = QuotaState()
    assert [state.admit(100 * S, ask(t)).admitted for t in "abc"] == [True, True, True]
    assert state.admit(100 * S, ask("d")) == Verdict(admitted=False, wait=None)


def test_state_counts_an_ended_request_for_a_window_after_its_end() -> None:
    state = QuotaState()
    for token in "abc":
        state.admit(100 * S, ask(token))
    state.release(100 * S + 200_000, "a")
    assert state.admit(100 * S + 300_000, ask("d")) == Verdict(admitted=False, wait=0.9)
    assert state.admit(101 * S + 200_000, ask("d")).admitted


def test_state_frees_the_place_of_a_dead_process_after_its_lease() -> None:
    state = QuotaState()
    for token in "abc":
        state.admit(100 * S, ask(token, lease=2.0))
    assert state.admit(101 * S, ask("d", lease=2.0)).wait is None
    assert state.admit(102 * S, ask("d", lease=2.0)).admitted
    assert sorted(state.flying) == ["d"]


def test_state_shares_a_pause_and_keeps_the_later_one() -> None:
    state = QuotaState()
    assert state.admit(100 * S, ask("a", pause=5.0, pause_reason="retry-after")) == Verdict(
        admitted=False, wait=5.0, reason="retry-after"
    )
    assert state.admit(101 * S, ask("b", pause=1.0)) == Verdict(
        admitted=False, wait=4.0, reason="retry-after"
    )
    assert state.admit(105 * S, ask("c")).admitted


def test_state_drops_a_server_pause_its_own_full_window_explains() -> None:
    """A header with nothing remaining, read while the window was full: nothing to share."""
    state = QuotaState()
    for token in "abc":
        state.admit(100 * S, ask(token))
    state.release(100 * S + 100_000, "a")
    # Read at 100.1 s, offered at 100.5 s: three places were taken then.
    offer = ask("d", pause=1.0, pause_age=0.4)
    assert state.admit(100 * S + 500_000, offer) == Verdict(admitted=False, wait=0.6)
    assert state.paused_until == 0


def test_state_shares_a_server_pause_when_its_window_had_room() -> None:
    """Two of three places taken as the header said nothing remains: another tool spends."""
    state = QuotaState()
    for token in "ab":
        state.admit(100 * S, ask(token))
    offer = ask("c", pause=2.0, pause_age=0.5)
    assert state.admit(101 * S, offer) == Verdict(admitted=False, wait=2.0, reason="server")
    assert state.admit(102 * S, ask("c")) == Verdict(admitted=False, wait=1.0, reason="server")


def test_state_enforces_a_shared_policy_beside_each_quota() -> None:
    state = QuotaState()
    assert state.admit(100 * S, ask("a", policy=(1, 4.0))).admitted
    state.release(100 * S, "a")
    # The policy, one per 4 s, holds the next request for 4 s; the quota alone would not.
    assert state.admit(100 * S + 1, ask("b")) == Verdict(admitted=False, wait=3.999999)


def test_state_round_trips_through_json() -> None:
    state = QuotaState()
    state.admit(100 * S, ask("a", policy=(2, 4.0), pause=0.0))
    state.admit(100 * S, ask("b"))
    state.release(100 * S + 5, "b")
    assert QuotaState.from_json(state.to_json()) == state
    with pytest.raises(ValueError, match="not a quota state"):
        QuotaState.from_json({"flying": {}})


# -- the stores, each for real ---------------------------------------------------------------


@pytest.fixture(params=["file", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[QuotaStore]:
    """A file store in a temporary directory, or a Redis store on the test server."""
    if request.param == "file":
        made: QuotaStore = FileQuotaStore(tmp_path, "k1")
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        made = open_store(server.url(), f"k-{request.node.name}")  # type: ignore[assignment]
    yield made
    await made.aclose()


async def test_store_admits_the_quota_then_holds_until_an_end_frees_a_place(
    store: QuotaStore,
) -> None:
    admitted = [(await store.admit(ask(t))).admitted for t in "abc"]
    assert admitted == [True, True, True]
    assert await store.admit(ask("d")) == Verdict(admitted=False, wait=None)
    await store.release("a")
    verdict = await store.admit(ask("d"))
    assert not verdict.admitted
    assert verdict.reason == "quota"
    assert verdict.wait is not None
    assert 0.5 < verdict.wait <= 1.0
    await anyio.sleep(verdict.wait)
    assert (await store.admit(ask("d"))).admitted


async def test_store_frees_an_unreleased_place_after_its_lease(store: QuotaStore) -> None:
    assert (await store.admit(ask("a", quota=1, lease=0.3))).admitted
    assert await store.admit(ask("b", quota=1, lease=0.3)) == Verdict(admitted=False, wait=None)
    await anyio.sleep(0.35)
    assert (await store.admit(ask("b", quota=1, lease=0.3))).admitted


async def test_store_shares_a_pause(store: QuotaStore) -> None:
    first = await store.admit(ask("a", pause=3.0, pause_reason="retry-after"))
    assert (first.admitted, first.reason) == (False, "retry-after")
    second = await store.admit(ask("b"))
    assert (second.admitted, second.reason) == (False, "retry-after")
    assert second.wait is not None
    assert 2.5 < second.wait <= 3.0


async def test_store_shares_a_server_pause_only_when_the_window_had_room(
    store: QuotaStore,
) -> None:
    assert (await store.admit(ask("a", quota=1))).admitted
    # The window (one place) was full as the header was read: the pause is not shared.
    assert await store.admit(ask("b", quota=1, pause=30.0)) == Verdict(admitted=False, wait=None)
    await store.release("a")
    verdict = await store.admit(ask("b", quota=2, pause=30.0))
    assert (verdict.admitted, verdict.reason) == (False, "server")
    assert verdict.wait is not None
    assert 29.0 < verdict.wait <= 30.0


async def test_store_shares_a_stricter_policy(store: QuotaStore) -> None:
    assert (await store.admit(ask("a", policy=(1, 30.0)))).admitted
    await store.release("a")
    verdict = await store.admit(ask("b"))
    assert not verdict.admitted
    assert verdict.wait is not None
    assert 29.0 < verdict.wait <= 30.0


# -- the clients -----------------------------------------------------------------------------


async def test_redis_holds_no_credential_and_keys_share_one_hash_tag(
    redis_server: RedisServer,
) -> None:
    import redis.asyncio as aioredis

    async with FakeCloudflare(60) as fake:
        async with InvoiceClient(
            api_token=fake.api_token,
            base_url=fake.base_url,
            per_page=20,
            shared_quota=redis_server.url(1),
        ) as client:
            ids = [invoice.id async for invoice in client.invoices(fake.account_id)]
    assert ids == fake.ids()
    key = default_quota_key(Credentials(token=fake.api_token))
    connection = aioredis.Redis.from_url(redis_server.url(1))
    try:
        keys = sorted(k.decode() for k in await connection.keys("*"))
        assert keys == [f"asyncinvoices:{{{key}}}:ended"]
        dump = b" ".join(
            member + b" " + str(score).encode()
            for member, score in await connection.zrange(keys[0], 0, -1, withscores=True)
        )
        assert await connection.zcard(keys[0]) == 3
    finally:
        await connection.aclose()
    assert fake.api_token.encode() not in dump
    assert fake.api_token[:12] not in key


async def test_unreachable_redis_sends_nothing() -> None:
    """The store cannot be reached: QuotaStoreError, naming the store, and no request sent."""
    port = free_port()
    async with FakeCloudflare(60) as fake:
        async with InvoiceClient(
            api_token=fake.api_token,
            base_url=fake.base_url,
            shared_quota=f"redis://:hunter2@127.0.0.1:{port}/0",
        ) as client:
            with pytest.raises(QuotaStoreError) as info:
                await client.list_invoices(fake.account_id)
        assert fake.requests == []
    assert info.value.store == f"redis://:***@127.0.0.1:{port}/0"
    assert str(info.value) == (
        f"the shared quota in redis://:***@127.0.0.1:{port}/0 cannot be reached: Connection refused"
    )
    assert "hunter2" not in str(info.value)


async def test_file_store_shared_by_two_clients_keeps_one_window(tmp_path: Path) -> None:
    """Two clients one after the other, two requests each, quota 3 per 2 s.

    The second client's second request waits for the first client's first to leave the window.
    """
    async with FakeCloudflare(100, rate_limit=(3, 2.0)) as fake:
        for _ in range(2):
            async with InvoiceClient(
                api_token=fake.api_token,
                base_url=fake.base_url,
                per_page=50,
                max_concurrency=1,
                rate_limit=RateLimit(requests=3, window=2.0),
                shared_quota=tmp_path.as_uri(),
            ) as client:
                assert [i.id async for i in client.invoices(fake.account_id)] == fake.ids()
        assert [r.status for r in fake.requests] == [200] * 4
        first_end, fourth_start = fake.requests[0].finished, fake.requests[3].started
        assert first_end is not None
        assert fourth_start - first_end >= 2.0
    assert [p.name for p in sorted(tmp_path.iterdir())] == [  # noqa: ASYNC240 - after the run
        f"{default_quota_key(Credentials(token=fake.api_token))}.json"
    ]


def test_sync_client_takes_the_shared_quota(tmp_path: Path) -> None:
    with SyncInvoiceClient(
        api_token="t" * 40, shared_quota=tmp_path.as_uri(), quota_key="team-a"
    ) as client:
        store = client.governor.store
        assert isinstance(store, FileQuotaStore)
        assert store.path == tmp_path / "team-a.json"


def test_environment_variable_chooses_the_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ASYNCINVOICES_SHARED_QUOTA", tmp_path.as_uri())
    client = InvoiceClient(api_token="t" * 40, quota_key="k")
    assert isinstance(client.governor.store, FileQuotaStore)
    assert InvoiceClient(api_token="t" * 40, shared_quota="local").governor.store is None
    monkeypatch.delenv("ASYNCINVOICES_SHARED_QUOTA")
    assert InvoiceClient(api_token="t" * 40).governor.store is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"shared_quota": "http://redis:6379"},
            "shared_quota must be a redis://, rediss://, unix:// or file:/// URL, or 'local', "
            "not 'http://redis:6379'",
        ),
        (
            {"shared_quota": "file://host/x"},
            "a file shared quota is file:///absolute/directory, on this machine",
        ),
        (
            {"shared_quota": "redis://h", "quota_key": "a{b}"},
            "quota_key must be 1 to 100 letters, digits, '.', '_' or '-', not 'a{b}'",
        ),
        (
            {"shared_quota": "redis://h", "rate_limit": None},
            "shared_quota needs a rate_limit: the quota to share",
        ),
    ],
)
def test_bad_shared_quota_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        InvoiceClient(api_token="t" * 40, **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_default_key_names_the_credentials_without_revealing_them() -> None:
    token = "a" * 40
    key = default_quota_key(Credentials(token=token))
    assert key == default_quota_key(Credentials(token=token))
    assert key != default_quota_key(Credentials(token="b" * 40))
    assert key.startswith("cred-")
    assert len(key) == 29
    assert "aaaa" not in key


def test_cache_directory_follows_xdg(tmp_path: Path) -> None:
    assert (
        cache_directory({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "asyncinvoices" / "quota"
    )
    assert cache_directory({"XDG_CACHE_HOME": "relative"}) == (
        Path.home() / ".cache" / "asyncinvoices" / "quota"
    )


def test_without_the_option_redis_is_never_imported() -> None:
    code = (
        "import sys, asyncinvoices\n"
        "asyncinvoices.InvoiceClient(api_token='t' * 40)\n"
        "asyncinvoices.InvoiceClient(api_token='t' * 40, shared_quota='local')\n"
        "print(sorted(m for m in sys.modules if m == 'redis' or m.startswith('redis.')))\n"
    )
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout == "[]\n"


async def test_file_store_ignores_a_stale_tail_and_refuses_what_it_did_not_write(
    tmp_path: Path,
) -> None:
    """A process killed between writing the window and cutting the file leaves a tail."""
    store = FileQuotaStore(tmp_path, "k")
    assert (await store.admit(ask("a"))).admitted
    await store.aclose()
    path = tmp_path / "k.json"
    path.write_bytes(path.read_bytes() + b'9],"paused_until":0}\n')
    assert (await store.admit(ask("b"))).admitted
    await store.aclose()
    path.write_text("not json")
    with pytest.raises(QuotaStoreError) as info:
        await store.admit(ask("c"))
    await store.aclose()
    assert str(info.value) == (
        f"{path.as_uri()} is not a quota window (Expecting value: line 1 column 1 (char 0)); "
        "remove it to start afresh"
    )
    assert info.value.store == path.as_uri()


@pytest.mark.parametrize("kind", ["file", "redis"])
async def test_a_pause_another_process_was_told_holds_this_one_too(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Another process met a 429 with Retry-After 100 s: this one sends nothing either.

    With max_retry_wait 10 s it fails at once, as a Retry-After of 100 s would.
    """
    url = tmp_path.as_uri() if kind == "file" else request.getfixturevalue("redis_server").url(4)
    other = open_store(url, f"paused-{kind}")
    assert other is not None
    told = await other.admit(
        ask("x", quota=1200, window=300.0, pause=100.0, pause_reason="retry-after")
    )
    await other.aclose()
    assert (told.admitted, told.reason) == (False, "retry-after")
    async with FakeCloudflare(60) as fake:
        async with InvoiceClient(
            api_token=fake.api_token,
            base_url=fake.base_url,
            shared_quota=url,
            quota_key=f"paused-{kind}",
            max_retry_wait=10,
        ) as client:
            with pytest.raises(RateLimitError) as info:
                await client.list_invoices(fake.account_id)
        assert fake.requests == []
    assert re.fullmatch(
        r"not sent: a 429 told a process sharing this quota to wait; waiting (99|100) s "
        r"exceeds max_retry_wait=10 s; Cloudflare blocks the token until then",
        str(info.value),
    )
    assert info.value.status == 429


async def test_a_store_lost_mid_walk_leaves_a_checkpoint_to_resume_from(tmp_path: Path) -> None:
    """The file store turns unusable after two pages: the walk fails closed with
    QuotaStoreError, and its checkpoint resumes with every other invoice exactly once."""
    async with FakeCloudflare(200) as fake:
        delivered: list[str] = []
        async with InvoiceClient(
            api_token=fake.api_token,
            base_url=fake.base_url,
            per_page=20,
            max_concurrency=1,
            read_ahead=0,
            shared_quota=tmp_path.as_uri(),
            quota_key="lost",
        ) as client:
            stream = client.invoices(fake.account_id)

            async def copy() -> None:
                async with stream:
                    async for invoice in stream:
                        delivered.append(invoice.id)
                        if len(delivered) == 40:
                            (tmp_path / "lost.json").write_text("not json")

            with pytest.raises(QuotaStoreError):
                await copy()
            saved = stream.checkpoint()
        sent = len(fake.requests)
        async with InvoiceClient(
            api_token=fake.api_token, base_url=fake.base_url, per_page=20, shared_quota="local"
        ) as client:
            rest = [i.id async for i in client.invoices(fake.account_id, resume=saved)]
    assert delivered + rest == fake.ids()
    # No page is read ahead: the third page's admission met the broken store, and was not sent.
    assert (len(delivered), sent) == (40, 2)
