"""Nothing lost in the CLI: a failed or interrupted ``fetch -o FILE`` keeps the previous file.

Every way a run can end early (an API error, a malformed response, a usage error, a failing
disk, cancellation, Ctrl-C as ``KeyboardInterrupt`` in the process) leaves the previous file
byte for byte, leaves no temporary file behind, and leaves nothing running or unclosed.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import gc
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import anyio
import pytest

from asyncinvoices._cli import ExitCode, _commands, run, run_async
from asyncinvoices._cli._formats import CSV_COLUMNS
from asyncinvoices.testing import FakeCloudflare, Fault

PREVIOUS = "the previous, good content\n"


pytestmark = pytest.mark.usefixtures("instant_backoff")


@pytest.fixture
def target(tmp_path: Path) -> Path:
    """An output file with previous content."""
    path = tmp_path / "invoices.jsonl"
    path.write_text(PREVIOUS)
    return path


def assert_untouched(target: Path) -> None:
    assert target.read_text() == PREVIOUS
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


@contextlib.contextmanager
def fake_in_thread(**kwargs: Any) -> Iterator[FakeCloudflare]:
    """A FakeCloudflare served by its own event loop in a thread, for run() in this one."""
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def serve() -> None:
        async with FakeCloudflare(**kwargs) as fake:
            holder["fake"], holder["stop"] = fake, asyncio.Event()
            holder["loop"] = asyncio.get_running_loop()
            ready.set()
            await holder["stop"].wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield holder["fake"]
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(10)


class Interrupting:
    """Wraps the output writer; raises ``exc`` after ``after`` invoices."""

    def __init__(self, writer: Any, after: int, exc: BaseException) -> None:
        self.writer, self.after, self.exc, self.count = writer, after, exc, 0

    def write(self, invoice: Any, account_id: str = "") -> None:
        self.count += 1
        if self.count > self.after:
            raise self.exc
        self.writer.write(invoice, account_id)

    def end(self) -> None:
        self.writer.end()


def interrupt_writer(monkeypatch: pytest.MonkeyPatch, after: int, exc: BaseException) -> None:
    make = _commands.make_writer

    def patched(format: str, file: IO[str], **options: Any) -> Any:
        return Interrupting(make(format, file, **options), after, exc)

    monkeypatch.setattr(_commands, "make_writer", patched)


def fetch_argv(fake: FakeCloudflare, target: Path, *extra: str) -> list[str]:
    return ["fetch", fake.account_id, "--base-url", fake.base_url, "-o", str(target), *extra]


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fault.status(503, page=3), ExitCode.SERVER),
        (Fault.status(403, page=2), ExitCode.AUTHENTICATION),
        (Fault.malformed_json(page=4), ExitCode.BAD_RESPONSE),
        (Fault.ignore_page(page=2), ExitCode.BAD_RESPONSE),
        (Fault.reset(page=5), ExitCode.SERVER),
    ],
)
@pytest.mark.anyio
async def test_failed_fetch_keeps_the_previous_file(target: Path, fault: Fault, code: int) -> None:
    """A run that fails on a later page exits non-zero and the old file stays as it was."""
    async with FakeCloudflare(invoices=300, faults=[fault]) as fake:
        out, err = io.StringIO(), io.StringIO()
        argv = fetch_argv(fake, target, "--per-page", "20")
        env = {"CLOUDFLARE_API_TOKEN": fake.api_token}
        with anyio.fail_after(20):
            result = await run_async(argv, stdout=out, stderr=err, environ=env)
    assert (result, out.getvalue()) == (code, "")
    assert_untouched(target)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["fetch", "../..", "-o", "{target}"], {"CLOUDFLARE_API_TOKEN": "t" * 40}),
        (["fetch", "0" * 32, "-o", "{target}"], {}),
        (
            ["fetch", "0" * 32, "-o", "{target}", "--base-url", "http://example.com/v4"],
            {"CLOUDFLARE_API_TOKEN": "t" * 40},
        ),
        (["fetch", "0" * 32, "-o", "{target}"], {"CLOUDFLARE_API_TOKEN": "t\nX: y"}),
    ],
    ids=["traversal-id", "no-credentials", "http-remote", "newline-token"],
)
async def test_usage_errors_keep_the_previous_file(
    target: Path, argv: list[str], env: dict[str, str]
) -> None:
    """Refused configuration exits 2 before the file is touched."""
    out, err = io.StringIO(), io.StringIO()
    argv = [a.replace("{target}", str(target)) for a in argv]
    assert await run_async(argv, stdout=out, stderr=err, environ=env) == ExitCode.USAGE
    assert_untouched(target)


@pytest.mark.anyio
async def test_disk_failure_mid_write_keeps_the_previous_file(
    target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An OSError while writing (a full disk) keeps the old file and removes the partial one."""
    interrupt_writer(monkeypatch, 50, OSError(28, "No space left on device"))
    async with FakeCloudflare(invoices=300, latency=0.01) as fake:
        out, err = io.StringIO(), io.StringIO()
        env = {"CLOUDFLARE_API_TOKEN": fake.api_token}
        result = await run_async(fetch_argv(fake, target), stdout=out, stderr=err, environ=env)
        await fake.wait_idle()
    assert result != ExitCode.OK
    assert "No space left on device" in err.getvalue()
    assert_untouched(target)


@pytest.mark.anyio
async def test_cancelled_fetch_keeps_the_previous_file(target: Path) -> None:
    """Cancelled from outside mid-run: the cancellation propagates and the old file stays."""
    async with FakeCloudflare(invoices=3000, latency=0.05) as fake:
        env = {"CLOUDFLARE_API_TOKEN": fake.api_token}
        with anyio.move_on_after(0.4) as scope:
            await run_async(
                fetch_argv(fake, target), stdout=io.StringIO(), stderr=io.StringIO(), environ=env
            )
        assert scope.cancelled_caught
        await fake.wait_idle()
        assert fake.requests
    assert_untouched(target)


def interrupted_run(target: Path, monkeypatch: pytest.MonkeyPatch, after: int) -> tuple[int, str]:
    """fetch -o with a KeyboardInterrupt raised in the consumer after ``after`` invoices, as
    Python 3.10 raises it wherever the main thread is; checks what must hold however run()
    ends: no request left, the old file kept, nothing unclosed. Returns exit code and stderr."""
    interrupt_writer(monkeypatch, after, KeyboardInterrupt())
    code = -1
    with fake_in_thread(invoices=2000, latency=0.02) as fake:
        out, err = io.StringIO(), io.StringIO()
        env = {"CLOUDFLARE_API_TOKEN": fake.api_token}
        try:
            code = run(fetch_argv(fake, target), stdout=out, stderr=err, environ=env)
        finally:
            for _ in range(100):
                if fake.in_flight == 0:
                    break
                threading.Event().wait(0.01)
            assert fake.in_flight == 0
            assert fake.requests
            assert fake.api_token not in out.getvalue() + err.getvalue()
            assert_untouched(target)
            gc.collect()  # an unclosed aiohttp session would warn here; warnings are errors
    return code, err.getvalue()


@pytest.mark.parametrize("after", [0, 1, 120])
def test_keyboard_interrupt_inside_the_run(
    target: Path, monkeypatch: pytest.MonkeyPatch, after: int
) -> None:
    """Ctrl-C raised inside the run: exit 130 with one line on stderr, the old file kept,
    nothing left running.

    Found by this test: the interrupt reached run() wrapped in an exception group by the
    command's task group, and ended in a traceback instead of exit 130.
    """
    code, err = interrupted_run(target, monkeypatch, after)
    assert code == ExitCode.INTERRUPTED
    assert err.endswith("asyncinvoices: interrupted\n")


def test_successful_fetch_replaces_the_file(target: Path) -> None:
    """The control case: a complete run replaces the old content with every invoice."""
    with fake_in_thread(invoices=130) as fake:
        env = {"CLOUDFLARE_API_TOKEN": fake.api_token}
        code = run(
            fetch_argv(fake, target), stdout=io.StringIO(), stderr=io.StringIO(), environ=env
        )
        expected = fake.ids()
    assert code == ExitCode.OK
    lines = target.read_text().splitlines()
    assert [line.split('"id":')[1].split('"')[1] for line in lines] == expected
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


# -- fetch --resume: an interrupted run continues where it stopped ----------------------------


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def resume_argv(fake: FakeCloudflare, target: Path, state: Path, *extra: str) -> list[str]:
    return [*fetch_argv(fake, target, "--per-page", "50", *extra), "--resume", str(state)]


def csv_ids(target: Path) -> list[str]:
    with target.open(newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    assert rows[0] == list(CSV_COLUMNS)  # the header, once, first
    return [row[0] for row in rows[1:]]


@pytest.mark.anyio
async def test_resume_after_a_failed_late_page_writes_each_invoice_once(tmp_path: Path) -> None:
    """A 403 on page 4 keeps pages 1-3 in a valid CSV and a state; the same command again
    appends the rest without a second header, and removes the state."""
    target, state = tmp_path / "all.csv", tmp_path / "all.state.json"
    async with FakeCloudflare(invoices=230, faults=[Fault.status(403, page=4, times=1)]) as fake:
        env = {"CLOUDFLARE_API_TOKEN": fake.api_token}
        first_err, second_err = io.StringIO(), io.StringIO()
        first = await run_async(
            resume_argv(fake, target, state), stdout=io.StringIO(), stderr=first_err, environ=env
        )
        kept = csv_ids(target)
        saved = json.loads(state.read_text())
        second = await run_async(
            resume_argv(fake, target, state), stdout=io.StringIO(), stderr=second_err, environ=env
        )
        expected = fake.ids()

    assert (first, second) == (ExitCode.AUTHENTICATION, ExitCode.OK)
    assert kept == expected[:150]
    assert (saved["format"], saved["written"], saved["checkpoint"]["last_id"]) == (
        "csv",
        150,
        expected[149],
    )
    assert first_err.getvalue().startswith(
        f"kept 150 invoices in {target}: the same command continues after them\n"
        "asyncinvoices: authentication failed (HTTP 403"
    )
    assert second_err.getvalue() == (
        f"wrote 230 invoices to {target}, 80 of them in this run\n"
        # The 80 left fit in 2 pages; the search for where to continue costs one more.
        "3 requests; the fewest possible: 2, at 50 invoices a page\n"
    )
    assert csv_ids(target) == expected
    assert names(tmp_path) == ["all.csv"]


@pytest.mark.anyio
async def test_resume_after_a_cancelled_run_writes_each_invoice_once(tmp_path: Path) -> None:
    """Cancelled while page 5 is being served: the JSON Lines file keeps what was written,
    and a second run completes it; twice interrupted, three runs still give each invoice once."""
    target, state = tmp_path / "all.jsonl", tmp_path / "state.json"
    async with FakeCloudflare(invoices=600) as fake:
        env = {"CLOUDFLARE_API_TOKEN": fake.api_token}
        argv = resume_argv(fake, target, state, "--concurrency", "2")
        held: list[int] = []
        for page in (5, 9):
            # Page `page` is served only after 30 s, once: the run is cancelled while it waits.
            fake.reset_counters()
            fake.add_fault(Fault.slow(30, page=page, times=1))
            async with anyio.create_task_group() as group:
                group.start_soon(
                    lambda: run_async(argv, stdout=io.StringIO(), stderr=io.StringIO(), environ=env)
                )
                await fake.wait_requests(1, timeout=10, matching=lambda r, p=page: r.page == p)
                group.cancel_scope.cancel()
            held.append(len(target.read_text().splitlines()))
        last = await run_async(argv, stdout=io.StringIO(), stderr=io.StringIO(), environ=env)
        expected = fake.ids()

    ids = [json.loads(line)["id"] for line in target.read_text().splitlines()]
    assert last == ExitCode.OK
    assert 0 < held[0] < held[1] < 600
    assert ids == expected
    assert names(tmp_path) == ["all.jsonl"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--format", "json"], "--resume cannot append to --format json: use csv or jsonl"),
        (["--format", "table"], "--resume cannot append to --format table: use csv or jsonl"),
        (["-o", "-"], "--resume needs -o FILE: what was written must be kept"),
    ],
)
async def test_resume_refuses_what_it_cannot_append_to(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    """JSON arrays, the table and stdout are refused with exit 2 before any request."""
    async with FakeCloudflare(invoices=10) as fake:
        argv = [*resume_argv(fake, tmp_path / "x.csv", tmp_path / "s.json"), *extra]
        err = io.StringIO()
        code = await run_async(
            argv, stdout=io.StringIO(), stderr=err, environ={"CLOUDFLARE_API_TOKEN": "t" * 40}
        )
        assert fake.requests == []
    assert code == ExitCode.USAGE
    assert err.getvalue().startswith(f"asyncinvoices: configuration error: {message}")
    assert names(tmp_path) == []


@pytest.mark.anyio
async def test_resume_refuses_a_file_changed_since(tmp_path: Path) -> None:
    """A state that does not match the output file (a row removed) exits 2 and touches nothing."""
    target, state = tmp_path / "all.csv", tmp_path / "state.json"
    async with FakeCloudflare(invoices=230, faults=[Fault.status(403, page=4, times=1)]) as fake:
        env = {"CLOUDFLARE_API_TOKEN": fake.api_token}
        argv = resume_argv(fake, target, state)
        await run_async(argv, stdout=io.StringIO(), stderr=io.StringIO(), environ=env)
        lines = target.read_text().splitlines(keepends=True)
        target.write_text("".join(lines[:-1]))
        before = (target.read_bytes(), state.read_bytes(), len(fake.requests))
        err = io.StringIO()
        code = await run_async(argv, stdout=io.StringIO(), stderr=err, environ=env)
        after = (target.read_bytes(), state.read_bytes(), len(fake.requests))

    assert code == ExitCode.USAGE
    assert err.getvalue() == (
        f"asyncinvoices: configuration error: --resume {state}: {target} holds 149 invoices "
        f"but the interrupted run wrote 150; it was changed since. Remove {state} to start over\n"
    )
    assert before == after
