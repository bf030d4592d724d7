"""SyncInvoiceClient: the async client's results, from plain threads, running loops and pools.

These tests are synchronous, like the code they stand for. FakeCloudflare runs on an event
loop in a thread of its own (an anyio blocking portal), so that it keeps serving while a test
blocks, even inside ``asyncio.run``. What the async client returns for the same account is
the expected value throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import importlib.util
import inspect
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

from asyncinvoices import (
    AccountStream,
    AsyncInvoicesError,
    AuthenticationError,
    ConfigurationError,
    FetchStats,
    InvoiceClient,
    InvoicePage,
    InvoiceStream,
    PageStream,
    SyncAccountStream,
    SyncInvoiceClient,
    SyncInvoiceStream,
    SyncPageStream,
    TransportError,
)
from asyncinvoices.testing import FakeCloudflare, Fault

T = TypeVar("T")

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
UPDATE = os.environ.get("ASYNCINVOICES_UPDATE_DOCS") == "1"
TOKEN = "8w71o-OIZuhtwyTAkMA8HORjeiasibw4oWNo9HdU"
CLOSED = "^this SyncInvoiceClient is closed; create a new one$"


class Served:
    """A FakeCloudflare running on its own loop and thread, and ways to reach it."""

    def __init__(self, fake: FakeCloudflare, portal: BlockingPortal) -> None:
        self.fake = fake
        self.portal = portal

    def on_loop(self, function: Callable[[], Awaitable[T]]) -> T:
        """Run an async function on the server's loop and return its result."""
        return self.portal.call(function)

    def client(self, **kwargs: Any) -> SyncInvoiceClient:
        return SyncInvoiceClient(
            api_token=self.fake.api_token, base_url=self.fake.base_url, **kwargs
        )

    def async_call(self, method: str, *args: Any, per_page: int = 20, **kwargs: Any) -> Any:
        """What ``InvoiceClient.<method>(*args, **kwargs)`` returns, run on the server's loop."""

        async def run() -> Any:
            async with InvoiceClient(
                api_token=self.fake.api_token, base_url=self.fake.base_url, per_page=per_page
            ) as client:
                return await getattr(client, method)(*args, **kwargs)

        return self.on_loop(run)

    def async_ids(self, account_id: str | None = None, **kwargs: Any) -> list[str]:
        invoices = self.async_call("list_invoices", account_id or self.fake.account_id, **kwargs)
        return [invoice.id for invoice in invoices]

    def connections(self) -> int:
        """How many connections the server holds open (one aiohttp handler task each)."""

        async def count() -> int:
            tasks = asyncio.all_tasks()
            return sum(
                getattr(t.get_coro(), "__qualname__", "") == "RequestHandler.start" for t in tasks
            )

        return self.on_loop(count)

    def settled(self) -> bool:
        """Whether the server has no request in flight and no connection open."""
        return eventually(lambda: self.fake.in_flight == 0 and self.connections() == 0)


def eventually(condition: Callable[[], bool], deadline: float = 10.0) -> bool:
    """Poll ``condition`` until it holds or ``deadline`` seconds have passed."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.005)
    return True


@contextlib.contextmanager
def serve(*args: Any, **kwargs: Any) -> Iterator[Served]:
    with start_blocking_portal(name="fake-cloudflare") as portal:
        fake = portal.call(functools.partial(FakeCloudflare, *args, **kwargs))
        with portal.wrap_async_context_manager(fake):
            yield Served(fake, portal)


@pytest.fixture
def served() -> Iterator[Served]:
    """250 invoices, seed 3: thirteen pages of twenty."""
    with serve(250, seed=3) as server:
        yield server


@pytest.fixture
def slow() -> Iterator[Served]:
    """A large account with slow pages, so that requests are in flight when a run stops."""
    with serve(20_000, seed=2, latency=0.05) as server:
        yield server


def threads() -> set[threading.Thread]:
    return set(threading.enumerate())


# -- the surface ---------------------------------------------------------------------------

RENAMED = {"aclose": "close"}
RETURNS = {
    "AccountStream": "SyncAccountStream",
    "InvoiceStream": "SyncInvoiceStream",
    "ManyStream": "SyncManyStream",
    "PageStream": "SyncPageStream",
}
PROTOCOLS = {
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "__aiter__": "__iter__",
    "__anext__": "__next__",
}


def public(cls: type) -> dict[str, Any]:
    return {name: member for name, member in inspect.getmembers(cls) if not name.startswith("_")}


@pytest.mark.parametrize(
    ("async_cls", "sync_cls"),
    [
        (InvoiceClient, SyncInvoiceClient),
        (InvoiceStream, SyncInvoiceStream),
        (PageStream, SyncPageStream),
        (AccountStream, SyncAccountStream),
    ],
)
def test_public_surface_mirrors_the_async_class(async_cls: type, sync_cls: type) -> None:
    """Same public names (aclose is close), parameters and returns, blocking instead of async."""
    twins = {RENAMED.get(name, name): member for name, member in public(async_cls).items()}

    assert sorted(twins) == sorted(public(sync_cls))
    for name, member in twins.items():
        twin = getattr(sync_cls, name)
        if isinstance(member, property):
            assert isinstance(twin, property), name
            continue
        expected = inspect.signature(member)
        actual = inspect.signature(twin)
        assert list(expected.parameters.values()) == list(actual.parameters.values()), name
        returns = RETURNS.get(expected.return_annotation, expected.return_annotation)
        assert returns == actual.return_annotation, name
        assert not inspect.iscoroutinefunction(twin), name
    protocols = [PROTOCOLS[name] for name in PROTOCOLS if hasattr(async_cls, name)]
    assert [name for name in protocols if not hasattr(sync_cls, name)] == []


def test_constructor_mirrors_invoice_client() -> None:
    """The constructors take the same parameters, with the same defaults and types."""
    expected = inspect.signature(InvoiceClient).parameters
    actual = inspect.signature(SyncInvoiceClient).parameters

    assert list(expected.values()) == list(actual.values())


def test_repr_names_the_credentials_kind_never_the_secret() -> None:
    """The repr is the async client's, renamed; the token appears nowhere."""
    client = SyncInvoiceClient(api_token=TOKEN)

    assert repr(client) == (
        "<SyncInvoiceClient base_url='https://api.cloudflare.com/client/v4' "
        "credentials=token max_concurrency=8 per_page=None>"
    )
    assert client.base_url == "https://api.cloudflare.com/client/v4"


# -- the same results -----------------------------------------------------------------------


def test_invoices_from_a_plain_thread_equal_the_async_clients(served: Served) -> None:
    """invoices(), pages() and list_invoices() give the async client's ids, in order."""
    expected = served.async_ids()

    with served.client(per_page=20) as client:
        assert [invoice.id for invoice in client.invoices(served.fake.account_id)] == expected
        pages = list(client.pages(served.fake.account_id))
        listed = client.list_invoices(served.fake.account_id, type="auto", per_page=7)

    assert [invoice.id for page in pages for invoice in page.invoices] == expected
    assert [page.pagination.page for page in pages] == list(range(1, 14))
    assert [invoice.id for invoice in listed] == served.async_ids(type="auto")
    assert expected == served.fake.ids()


def test_invoices_from_inside_a_running_event_loop(served: Served) -> None:
    """Called synchronously from a coroutine under asyncio.run, as in a notebook cell."""
    expected = served.async_ids()

    async def cell() -> tuple[bool, list[str], int]:
        running = asyncio.get_running_loop().is_running()
        with served.client(per_page=20) as client:
            ids = [invoice.id for invoice in client.invoices(served.fake.account_id)]
            return running, ids, client.count(served.fake.account_id)

    assert asyncio.run(cell()) == (True, expected, 250)


def test_threads_share_one_client(served: Served) -> None:
    """Eight walks on four threads through one client each return the async client's ids."""
    second = served.fake.add_account(90, seed=11)
    jobs = [(served.fake.account_id, "all"), (served.fake.account_id, "auto")]
    jobs += [(second, "all"), (served.fake.account_id, "manual")]
    expected = {job: served.async_ids(job[0], type=job[1]) for job in jobs}
    before = threads()

    def walk(job: tuple[str, Any]) -> list[str]:
        return [invoice.id for invoice in client.list_invoices(job[0], type=job[1])]

    with served.client(per_page=20) as client, ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(walk, jobs * 2))

    assert results == [expected[job] for job in jobs * 2]
    assert threads() == before
    assert served.settled()


def test_count_and_get_page_equal_the_async_clients(served: Served) -> None:
    """count() and get_page() return what InvoiceClient's return."""
    account = served.fake.account_id
    expected_page = served.async_call("get_page", account, page=3, per_page=7)

    with served.client() as client:
        page = client.get_page(account, page=3, per_page=7)
        count = client.count(account, type="manual")

    # Each response has its own cf-ray; everything else is the same.
    assert attrs.evolve(page, ray_id=expected_page.ray_id) == expected_page
    assert isinstance(page, InvoicePage)
    assert count == served.async_call("count", account, type="manual")


def test_stream_stats_checkpoint_and_resume(served: Served) -> None:
    """After 35 invoices: the async stream's checkpoint; resuming from it gives the rest."""
    account = served.fake.account_id

    async def async_checkpoint() -> dict[str, Any]:
        async with (
            InvoiceClient(api_token=served.fake.api_token, base_url=served.fake.base_url) as c,
            c.invoices(account, per_page=20) as stream,
        ):
            async for _ in stream:
                if stream.stats.invoices == 35:
                    return stream.checkpoint()
        raise AssertionError("fewer than 35 invoices")

    with served.client() as client:
        with client.invoices(account, per_page=20) as stream:
            assert stream.total_count is None
            head = [invoice.id for invoice in itertools.islice(stream, 35)]
            saved = stream.checkpoint()
            assert repr(stream) == (
                f"<SyncInvoiceStream account_id='{account}' type='all' running invoices=35>"
            )
            stats = stream.stats
            assert stream.total_count == 250
        with client.invoices(account, per_page=20, resume=saved) as stream:
            rest = [invoice.id for invoice in stream]
            assert next(stream, None) is None  # an ended stream stays ended

    assert saved == served.on_loop(async_checkpoint)
    assert (stats.invoices, stats.pages, stats.total_count) == (35, 2, 250)
    assert head + rest == served.fake.ids()
    assert stream.stats.invoices == 215  # the snapshot survives the client


def test_on_progress_runs_in_the_iterating_thread(served: Served) -> None:
    """Called in the caller's thread, once per page, with the async client's figures."""
    account = served.fake.account_id
    expected: list[tuple[int, int]] = []
    served.async_call(
        "list_invoices",
        account,
        on_progress=lambda s: expected.append((s.pages, s.invoices)),
    )
    seen: list[tuple[int, int, int]] = []

    def progress(stats: FetchStats) -> None:
        seen.append((threading.get_ident(), stats.pages, stats.invoices))

    with served.client(per_page=20) as client:
        client.list_invoices(account, on_progress=progress)

    assert [(pages, invoices) for _, pages, invoices in seen] == expected
    assert expected == [(n, 20 * (n - 1)) for n in range(1, 14)]
    assert {ident for ident, _, _ in seen} == {threading.get_ident()}


def async_log(served: Served, account: str, **kwargs: Any) -> list[tuple[Any, ...]]:
    """Everything the async stream shows its consumer, in order; see sync_log."""

    async def run() -> list[tuple[Any, ...]]:
        log: list[tuple[Any, ...]] = []
        async with InvoiceClient(
            api_token=served.fake.api_token, base_url=served.fake.base_url, max_retries=0
        ) as client:
            stream = client.invoices(account, on_progress=progress_logger(log), **kwargs)
            async with stream:
                try:
                    async for invoice in stream:
                        log.append(invoice_entry(invoice.id, stream))
                except AsyncInvoicesError as exc:
                    log.append(error_entry(exc))
        return log

    return served.on_loop(run)


def sync_log(served: Served, account: str, **kwargs: Any) -> list[tuple[Any, ...]]:
    """Every on_progress call, and after each invoice its checkpoint and stats, in order."""
    log: list[tuple[Any, ...]] = []
    with served.client(max_retries=0) as client:
        stream = client.invoices(account, on_progress=progress_logger(log), **kwargs)
        with stream:
            try:
                for invoice in stream:
                    log.append(invoice_entry(invoice.id, stream))
            except AsyncInvoicesError as exc:
                log.append(error_entry(exc))
    return log


def progress_logger(log: list[tuple[Any, ...]]) -> Callable[[FetchStats], None]:
    return lambda stats: log.append(("progress", stats.pages, stats.invoices))


def invoice_entry(invoice_id: str | None, stream: Any) -> tuple[Any, ...]:
    stats = stream.stats
    return ("invoice", invoice_id, stream.checkpoint(), stats.pages, stats.invoices)


def error_entry(exc: AsyncInvoicesError) -> tuple[Any, ...]:
    return ("error", type(exc).__name__, getattr(exc, "status", None), getattr(exc, "page", None))


@pytest.mark.parametrize(
    ("invoices", "faults", "kwargs", "delivered", "progress"),
    [
        pytest.param(45, [], {"per_page": 10}, 45, 5, id="pages of ten"),
        pytest.param(45, [], {"per_page": 15}, 45, 3, id="whole pages"),
        pytest.param(0, [], {}, 0, 1, id="empty account"),
        pytest.param(45, [Fault.status(403, page=3)], {"per_page": 10}, 20, 2, id="403 on page 3"),
        pytest.param(60, [], {"per_page": 7, "type": "auto"}, 20, 3, id="auto"),
    ],
)
def test_invoice_stream_shows_what_the_async_one_shows(
    invoices: int, faults: list[Fault], kwargs: dict[str, Any], delivered: int, progress: int
) -> None:
    """Same progress calls, invoices, checkpoints, pages and counts, in the same order."""
    with serve(invoices, seed=5, faults=faults) as server:
        expected = async_log(server, server.fake.account_id, **kwargs)
        actual = sync_log(server, server.fake.account_id, **kwargs)
        ids = server.fake.ids(type=kwargs.get("type", "all"))

    assert actual == expected
    assert [entry[1] for entry in actual if entry[0] == "invoice"] == ids[:delivered]
    assert [entry[0] for entry in actual].count("progress") == progress
    if faults:
        assert actual[-1] == ("error", "AuthenticationError", 403, 3)


def test_page_stream_shows_what_the_async_one_shows(served: Served) -> None:
    """pages(): the same progress calls, pages, checkpoints and figures, in the same order."""
    account = served.fake.account_id

    def entry(page: InvoicePage, stream: Any) -> tuple[Any, ...]:
        stats = stream.stats
        ids = [invoice.id for invoice in page.invoices]
        return ("page", page.pagination.page, ids, stream.checkpoint(), stats.pages, stats.invoices)

    async def run() -> list[tuple[Any, ...]]:
        log: list[tuple[Any, ...]] = []
        async with (
            InvoiceClient(api_token=served.fake.api_token, base_url=served.fake.base_url) as c,
            c.pages(account, per_page=30, on_progress=progress_logger(log)) as stream,
        ):
            async for page in stream:
                log.append(entry(page, stream))
        return log

    actual: list[tuple[Any, ...]] = []
    with served.client() as client:
        with client.pages(account, per_page=30, on_progress=progress_logger(actual)) as stream:
            for page in stream:
                actual.append(entry(page, stream))
            assert next(stream, None) is None

    assert actual == served.on_loop(run)
    assert [entry[1] for entry in actual if entry[0] == "page"] == list(range(1, 10))
    assert [i for entry in actual if entry[0] == "page" for i in entry[2]] == served.fake.ids()


def test_a_closed_stream_returns_nothing_more(served: Served) -> None:
    """close() in the middle of a page: no more invoices, and the checkpoint is the last one."""
    account = served.fake.account_id
    with served.client() as client:
        stream = client.invoices(account, per_page=20)
        head = [next(stream).id for _ in range(5)]
        stream.close()
        assert (next(stream, None), stream.stats.invoices, stream.stats.pages) == (None, 5, 1)
        rest = [i.id for i in client.invoices(account, per_page=20, resume=stream.checkpoint())]

    assert head + rest == served.fake.ids()


def test_resumed_stream_shows_what_the_async_one_shows(served: Served) -> None:
    """Resuming from a checkpoint: the same log from there on."""
    account = served.fake.account_id
    with served.client() as client, client.invoices(account, per_page=20) as stream:
        head = [invoice.id for invoice in itertools.islice(stream, 30)]
        saved = stream.checkpoint()

    actual = sync_log(served, account, per_page=20, resume=saved)

    assert actual == async_log(served, account, per_page=20, resume=saved)
    rest = [entry[1] for entry in actual if entry[0] == "invoice"]
    assert head + rest == served.fake.ids()


# -- errors --------------------------------------------------------------------------------


def test_api_errors_are_the_librarys_own_in_the_calling_thread(served: Served) -> None:
    """A wrong token raises AuthenticationError 403 / 10000, without the token in it."""
    wrong = "x" * 40
    with SyncInvoiceClient(api_token=wrong, base_url=served.fake.base_url) as client:
        with pytest.raises(AuthenticationError) as info:
            client.list_invoices(served.fake.account_id)

    assert (info.value.status, info.value.codes) == (403, (10000,))
    assert wrong not in str(info.value)
    assert wrong not in repr(info.value)


def test_invalid_arguments_raise_the_async_clients_errors(served: Served) -> None:
    """The same ConfigurationError, with the same message, as InvoiceClient."""

    async def async_error() -> str:
        client = InvoiceClient(api_token=TOKEN)
        with pytest.raises(ConfigurationError) as info:
            client.invoices("../x")
        return str(info.value)

    with served.client() as client:
        with pytest.raises(ConfigurationError) as info:
            client.invoices("../x")
        with pytest.raises(ConfigurationError, match=r"^on_progress must be callable$"):
            client.pages(served.fake.account_id, on_progress=3)  # type: ignore[arg-type]

    assert str(info.value) == served.on_loop(async_error)


def test_account_ids_follow_the_one_rule(served: Served) -> None:
    """Another shape is refused before any request; upper case walks the lower-case account."""
    fake = served.fake
    with served.client() as client:
        with pytest.raises(ConfigurationError, match=r"^'not-an-id' is not an account id"):
            client.invoices_many(["not-an-id"])
        with pytest.raises(ConfigurationError, match=r"^'not-an-id' is not an account id"):
            client.count("not-an-id")
        assert fake.received == 0
        ids = [invoice.id for invoice in client.invoices(fake.account_id.upper())]
        many = [(a, invoice.id) for a, invoice in client.invoices_many([fake.account_id.upper()])]

    assert ids == fake.ids()
    assert many == [(fake.account_id, i) for i in fake.ids()]
    assert {r.account_id for r in fake.requests} == {fake.account_id}


def test_missing_credentials_raise_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials: the constructor raises InvoiceClient's error, and starts nothing."""
    for name in ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_API_KEY", "CLOUDFLARE_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    before = threads()

    with pytest.raises(ConfigurationError) as expected:
        InvoiceClient()
    with pytest.raises(ConfigurationError) as actual:
        SyncInvoiceClient()

    assert str(actual.value) == str(expected.value)
    assert threads() == before


def test_a_session_is_refused() -> None:
    """An aiohttp session belongs to another loop: ConfigurationError, not a hang."""
    with pytest.raises(ConfigurationError) as info:
        SyncInvoiceClient(api_token=TOKEN, session=object())  # type: ignore[arg-type]

    assert str(info.value) == (
        "SyncInvoiceClient takes no session=: an aiohttp.ClientSession belongs to the event "
        "loop it was made on, and this client runs its own"
    )


# -- lifecycle -----------------------------------------------------------------------------


def test_thread_starts_on_first_use_and_stops_on_close(served: Served) -> None:
    """Construction starts nothing; the first call starts one thread; close() ends it."""
    before = threads()
    client = served.client()
    assert threads() == before

    assert client.count(served.fake.account_id) == 250
    assert [t.name for t in threads() - before] == ["asyncinvoices"]

    client.close()
    client.close()
    assert threads() == before
    assert served.settled()
    with pytest.raises(ConfigurationError, match=CLOSED):
        client.count(served.fake.account_id)
    with pytest.raises(ConfigurationError, match=CLOSED), client:
        pass


def test_a_forgotten_client_is_closed_when_collected(served: Served) -> None:
    """A client dropped without close() ends its thread and connections when collected."""
    before = threads()
    client = served.client()
    assert client.count(served.fake.account_id) == 250
    assert client.governor.paused_until == 0.0

    del client
    gc.collect()

    assert threads() == before
    assert served.settled()


def test_close_leaves_no_thread_task_or_connection(slow: Served) -> None:
    """Closed in the middle of a walk: the walk ends, and nothing is left behind."""
    before = threads()
    client = slow.client(per_page=10, max_concurrency=6)
    stream = client.invoices(slow.fake.account_id)
    first = next(stream)

    client.close()

    assert first.id == slow.fake.ids()[0]
    assert threads() == before
    assert slow.settled()
    with pytest.raises(ConfigurationError, match=CLOSED):
        next(stream)
    stream.close()  # closing a stream of a closed client does nothing


def test_close_from_another_thread_cuts_a_call_short() -> None:
    """A call waiting on the server when another thread closes raises TransportError."""
    with serve(100, seed=4, faults=[Fault.slow(60, page=2)]) as server:
        client = server.client(per_page=10)
        with ThreadPoolExecutor(max_workers=1) as pool:
            call = pool.submit(client.get_page, server.fake.account_id, page=2)
            assert eventually(lambda: server.fake.in_flight == 1)
            client.close()
            with pytest.raises(TransportError) as info:
                call.result()

        assert str(info.value) == "the client was closed before the call finished"
        assert server.settled()


def test_break_cancels_the_walk(slow: Served) -> None:
    """A bare break, and a break inside with, stop the walk while the client stays open."""
    account = slow.fake.account_id
    with slow.client(max_concurrency=6) as client:
        for invoice in client.invoices(account, per_page=10):
            first = invoice.id
            break
        assert eventually(lambda: slow.fake.in_flight == 0)

        with client.pages(account, per_page=11) as stream:
            for page in stream:
                assert page.invoices[0].id == first
                break
        assert eventually(lambda: slow.fake.in_flight == 0)

        assert client.get_page(account, per_page=1).invoices[0].id == first
    # Once every connection is closed, no request can still arrive: the walks never went
    # past page 1 and the max_concurrency pages they had started ahead of it.
    assert slow.settled()
    pages = {size: [r.page for r in slow.fake.requests if r.per_page == size] for size in (10, 11)}
    assert sorted({page for walk in pages.values() for page in walk} - set(range(1, 8))) == []
    assert [len(set(walk)) == len(walk) for walk in pages.values()] == [True, True]
    assert [r.per_page for r in slow.fake.requests if r.per_page not in (10, 11)] == [1]


@pytest.mark.parametrize("method", ["invoices", "pages", "list_invoices"])
def test_keyboard_interrupt_cancels_the_walk_and_closes(slow: Served, method: str) -> None:
    """KeyboardInterrupt in the iterating thread: walk cancelled, thread and connections gone."""
    before = threads()
    client = slow.client(per_page=10, max_concurrency=6)
    pages: list[int] = []

    def interrupt(stats: FetchStats) -> None:
        pages.append(stats.pages)
        if stats.pages == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        list(getattr(client, method)(slow.fake.account_id, on_progress=interrupt))

    assert pages == [1, 2]

    assert threads() == before
    assert slow.settled()
    with pytest.raises(ConfigurationError, match=CLOSED):
        client.count(slow.fake.account_id)


CTRL_C = """
import sys, threading
from asyncinvoices import SyncInvoiceClient

def progress(stats):
    if stats.pages == 1:
        print("walking", flush=True)

try:
    with SyncInvoiceClient(per_page=10, max_concurrency=4) as client:
        for invoice in client.invoices(sys.argv[1], on_progress=progress):
            pass
except KeyboardInterrupt:
    print("interrupted", len(threading.enumerate()), flush=True)
else:
    print("finished", flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is a POSIX signal")
def test_ctrl_c_stops_a_script(slow: Served) -> None:
    """SIGINT during a walk: KeyboardInterrupt in the script, which ends with one thread."""
    env = {**os.environ, "CLOUDFLARE_API_TOKEN": slow.fake.api_token}
    env["CLOUDFLARE_BASE_URL"] = slow.fake.base_url
    process = subprocess.Popen(
        [sys.executable, "-c", CTRL_C, slow.fake.account_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "walking\n"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait()

    assert (process.returncode, out, err) == (0, "interrupted 1\n", "")
    assert slow.settled()


# -- the how-to's example ------------------------------------------------------------------


def _example_accounts(server: Served) -> list[str]:
    fake = server.fake
    return [fake.account_id, fake.add_account(300, seed=1), fake.add_account(45, seed=2)]


def _check_output(actual: str) -> None:
    path = EXAMPLES / "output" / "scripts_notebooks.txt"
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == actual


def test_example_runs_as_a_script(tmp_path: Path) -> None:
    """scripts_notebooks.py prints the count, three invoices and one line per account."""
    with serve(1_200, seed=0) as server:
        accounts = _example_accounts(server)
        env = {**os.environ, "CLOUDFLARE_API_TOKEN": server.fake.api_token}
        env["CLOUDFLARE_BASE_URL"] = server.fake.base_url
        result = subprocess.run(
            [sys.executable, str(EXAMPLES / "scripts_notebooks.py"), *accounts],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    assert (result.returncode, result.stderr) == (0, "")
    _check_output(result.stdout)


def test_example_runs_in_a_notebook_cell(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The example's main(), called inside a running event loop, prints the same."""
    spec = importlib.util.spec_from_file_location(
        "scripts_notebooks", EXAMPLES / "scripts_notebooks.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    async def cell(accounts: list[str]) -> None:
        module.main(*accounts)

    with serve(1_200, seed=0) as server:
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", server.fake.api_token)
        monkeypatch.setenv("CLOUDFLARE_BASE_URL", server.fake.base_url)
        asyncio.run(cell(_example_accounts(server)))

    _check_output(capsys.readouterr().out)


# -- many accounts ------------------------------------------------------------------------------


def test_accounts_and_invoices_many_equal_the_async_client() -> None:
    """The blocking listing and multi-account walk give what the async client gives."""
    with serve([30, 0, 75, 12, 41], accounts=5, seed=4) as server:

        async def expected() -> tuple[list[str], list[tuple[str, str | None]]]:
            async with InvoiceClient(
                api_token=server.fake.api_token, base_url=server.fake.base_url, per_page=20
            ) as client:
                async with client.accounts(per_page=5) as listing:
                    ids = [account.id async for account in listing]
                async with client.invoices_many() as many:
                    pairs = [(a, i.id) async for a, i in many]
            return ids, pairs

        account_ids, pairs = server.on_loop(expected)
        progress: list[Any] = []
        with server.client(per_page=20) as client:
            with client.accounts(per_page=5) as listing:
                assert [account.id for account in listing] == account_ids
                assert listing.total_count == 5
                assert listing.stats.accounts == 5
            with client.invoices_many(on_progress=progress.append) as many:
                got = [(account_id, invoice.id) for account_id, invoice in many]
            assert many.stats.accounts_done == 5
            assert many.failures == {}
            order = account_ids[::-1]
            with client.invoices_many(order) as many:
                first = [next(many) for _ in range(40)]
                saved = many.checkpoint()
            with client.invoices_many(order, resume=saved) as many:
                rest = [(a, i.id) for a, i in many]
        assert got == pairs
        assert len(pairs) == 30 + 75 + 12 + 41
        assert progress[-1].accounts_done == 5
        assert all(isinstance(p, type(progress[-1])) for p in progress)
        walked = [(a, i.id) for a, i in first] + rest
        assert walked == [pair for account in order for pair in pairs if pair[0] == account]


def test_invoices_many_skips_a_forbidden_account_from_a_thread() -> None:
    """on_error="skip" in a plain thread: the failure is recorded, the others walked."""
    with serve([10, 10], accounts=2, seed=8) as server:
        forbidden = "f" * 32
        with server.client(per_page=5) as client:
            result: list[Any] = []

            def run() -> None:
                with client.invoices_many(
                    [server.fake.account_ids[0], forbidden, server.fake.account_ids[1]],
                    on_error="skip",
                ) as many:
                    result.append([a for a, _ in many])
                    result.append(many.failures)

            worker = threading.Thread(target=run)
            worker.start()
            worker.join(30)
        accounts, failures = result
        assert accounts == [server.fake.account_ids[0]] * 10 + [server.fake.account_ids[1]] * 10
        assert list(failures) == [forbidden]
        assert isinstance(failures[forbidden], AsyncInvoicesError)
