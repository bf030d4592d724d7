"""The documentation's example programs run, against FakeCloudflare, and print what the pages show.

Each program in ``docs/examples`` is run the way a reader runs it: as a script, in a fresh
directory, with ``CLOUDFLARE_API_TOKEN`` and ``CLOUDFLARE_BASE_URL`` pointing at a
FakeCloudflare. Outputs quoted by the pages live in ``docs/examples/output``; set
``ASYNCINVOICES_UPDATE_DOCS=1`` to rewrite them after an intended change.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import anyio
import pytest

from asyncinvoices import InvoiceClient
from asyncinvoices.testing import FakeCloudflare, Fault

pytestmark = pytest.mark.anyio

DOCS = Path(__file__).resolve().parent.parent / "docs"
EXAMPLES = DOCS / "examples"
OUTPUT = EXAMPLES / "output"
UPDATE = os.environ.get("ASYNCINVOICES_UPDATE_DOCS") == "1"

# The tutorial's server: `python -m asyncinvoices.testing --invoices 5000` (seed 0).
TUTORIAL_INVOICES = 5_000

# Timings differ from run to run; everything else in the outputs is deterministic.
_SECONDS = re.compile(r"\b\d+\.\d+ s\b")


def _normalise(text: str) -> str:
    return _SECONDS.sub("0.00 s", text)


def _check_output(name: str, actual: str) -> None:
    path = OUTPUT / name
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    assert _normalise(expected) == _normalise(actual)


def _environment(fake: FakeCloudflare) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("CLOUDFLARE_API_KEY", "CLOUDFLARE_EMAIL")
    }
    env["CLOUDFLARE_API_TOKEN"] = fake.api_token
    env["CLOUDFLARE_BASE_URL"] = fake.base_url
    return env


async def _run(
    fake: FakeCloudflare, cwd: Path, script: str, *args: str, returncode: int = 0
) -> str:
    result = await anyio.run_process(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=cwd,
        env=_environment(fake),
        check=False,
    )
    assert result.returncode == returncode, result.stderr.decode()
    return result.stdout.decode()


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def tutorial_fake() -> AsyncIterator[FakeCloudflare]:
    """The server the tutorial starts: 5,000 invoices, seed 0, Cloudflare's rate limit."""
    async with FakeCloudflare(TUTORIAL_INVOICES, seed=0) as fake:
        yield fake


def test_every_example_is_shown() -> None:
    """Each program in docs/examples is included by at least one page."""
    pages = "\n".join(p.read_text(encoding="utf-8") for p in DOCS.rglob("*.md"))
    missing = [p.name for p in sorted(EXAMPLES.glob("*.py")) if f"examples/{p.name}" not in pages]
    assert missing == []


def test_tutorial_shows_the_fake_servers_credentials() -> None:
    """The account id and token quoted by the tutorial are those of the seed-0 server."""
    fake = FakeCloudflare(TUTORIAL_INVOICES, seed=0)
    tutorial = (DOCS / "tutorial.md").read_text(encoding="utf-8")

    assert fake.account_id in tutorial
    assert fake.api_token in tutorial


async def test_first_invoices(tutorial_fake: FakeCloudflare, tmp_path: Path) -> None:
    """first_invoices.py prints the count and the five newest invoices."""
    out = await _run(tutorial_fake, tmp_path, "first_invoices.py", tutorial_fake.account_id)

    _check_output("first_invoices.txt", out)


async def test_walk_all(tutorial_fake: FakeCloudflare, tmp_path: Path) -> None:
    """walk_all.py walks the whole account and prints its totals."""
    out = await _run(tutorial_fake, tmp_path, "walk_all.py", tutorial_fake.account_id)

    _check_output("walk_all.txt", out)
    assert f"{TUTORIAL_INVOICES:,} invoices in 100 pages, 100 requests" in out


async def test_export_csv(tutorial_fake: FakeCloudflare, tmp_path: Path) -> None:
    """export_csv.py writes one row per invoice, in the server's order."""
    out = await _run(tutorial_fake, tmp_path, "export_csv.py", tutorial_fake.account_id)

    _check_output("export_csv.txt", out)
    lines = (tmp_path / "invoices.csv").read_text(encoding="utf-8").splitlines()
    _check_output("invoices_head.csv", "\n".join(lines[:4]) + "\n")
    assert len(lines) == TUTORIAL_INVOICES + 1
    assert tutorial_fake.ids() == [line.split(",", 1)[0] for line in lines[1:]]


@pytest.mark.parametrize("library", ["pandas", "polars"])
async def test_export_dataframe(
    tutorial_fake: FakeCloudflare, tmp_path: Path, library: str
) -> None:
    """export_dataframe.py sums an amount column exactly where floats are off, per library."""
    pytest.importorskip(library)
    eur = [x["amount_due"] for x in tutorial_fake.invoices() if x["currency"] == "eur"]
    exact, as_floats = sum(Decimal(x) for x in eur), sum(float(x) for x in eur)

    out = await _run(
        tutorial_fake, tmp_path, "export_dataframe.py", tutorial_fake.account_id, library
    )

    _check_output(f"export_dataframe_{library}.txt", out)
    assert f"EUR due, exact:     {exact}\n" in out
    assert f"{TUTORIAL_INVOICES:,} rows\n" in out
    assert Decimal(f"{as_floats:.2f}") == exact
    assert str(as_floats) != str(exact)  # the float sum is off in its last digits


async def test_incremental(tutorial_fake: FakeCloudflare, tmp_path: Path) -> None:
    """incremental.py appends only new invoices, in a request or two, and a run cut off is
    resumed with its own since, so that nothing is skipped or written twice."""
    fake, account = tutorial_fake, tutorial_fake.account_id
    outputs = [await _run(fake, tmp_path, "incremental.py", account)]
    fake.create_invoices(7)
    fake.reset_counters()
    outputs.append(await _run(fake, tmp_path, "incremental.py", account))
    requests_for_seven = len(fake.requests)
    fake.create_invoices(120)
    outputs.append(
        await _run(fake, tmp_path, "incremental.py", account, "--stop-after", "50", returncode=1)
    )
    checkpoint = json.loads((tmp_path / "invoices.checkpoint.json").read_text(encoding="utf-8"))
    outputs.append(await _run(fake, tmp_path, "incremental.py", account))

    _check_output("incremental.txt", "".join(outputs))
    _check_output("incremental_checkpoint.json", json.dumps(checkpoint, indent=4) + "\n")
    rows = (tmp_path / "invoices.jsonl").read_text(encoding="utf-8").splitlines()
    ids, everything = [json.loads(row)["id"] for row in rows], fake.ids()
    assert ids == everything[127:] + everything[120:127] + everything[:50] + everything[50:120]
    # The newest of the seven: the since of the run that was cut off.
    assert checkpoint["since"] == json.loads(rows[TUTORIAL_INVOICES])["created"].replace(
        "Z", "+00:00"
    )
    # Page 1 holds the seven new invoices and ends before since; the default read-ahead may
    # have asked for page 2 as well.
    assert requests_for_seven <= 2
    assert not (tmp_path / "invoices.checkpoint.json").exists()


async def test_nightly_script(tutorial_fake: FakeCloudflare, tmp_path: Path) -> None:
    """nightly.sh appends the invoices of each day it is given once; a failed night appends
    nothing and leaves no file behind; without a day it takes yesterday (none in the fake)."""
    fake = tutorial_fake
    env = _environment(fake)
    env["ACCOUNT_ID"] = fake.account_id
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    script = ["sh", str(EXAMPLES / "nightly.sh")]
    codes = []
    for day, token in [
        ("2024-12-29", fake.api_token),
        ("2024-12-30", fake.api_token),
        ("2024-12-31", "x" * 40),  # a token Cloudflare refuses: exit 3
    ]:
        env["CLOUDFLARE_API_TOKEN"] = token
        result = await anyio.run_process([*script, day], cwd=tmp_path, env=env, check=False)
        codes.append(result.returncode)
    env["CLOUDFLARE_API_TOKEN"] = fake.api_token
    yesterday = await anyio.run_process(script, cwd=tmp_path, env=env, check=False)

    assert (codes, yesterday.returncode) == ([0, 0, 3], 0)
    rows = (tmp_path / "invoices.jsonl").read_text(encoding="utf-8").splitlines()
    by_day = {
        day: [x["id"] for x in fake.expected_invoices() if x["created"].date().isoformat() == day]
        for day in ("2024-12-29", "2024-12-30")
    }
    assert [len(ids) > 0 for ids in by_day.values()] == [True, True]
    assert [json.loads(row)["id"] for row in rows] == by_day["2024-12-29"] + by_day["2024-12-30"]
    assert os.listdir(tmp_path) == ["invoices.jsonl"]


async def test_resume(tutorial_fake: FakeCloudflare, tmp_path: Path) -> None:
    """resume.py, stopped half-way and run again, writes every invoice exactly once."""
    account = tutorial_fake.account_id
    first = await _run(
        tutorial_fake, tmp_path, "resume.py", account, "--stop-after", "2000", returncode=1
    )
    checkpoint = json.loads((tmp_path / "invoices.checkpoint.json").read_text(encoding="utf-8"))
    _check_output("checkpoint.json", json.dumps(checkpoint, indent=4) + "\n")
    tutorial_fake.create_invoices(7)  # new invoices arrive between the two runs
    second = await _run(tutorial_fake, tmp_path, "resume.py", account)

    _check_output("resume.txt", first + second)
    rows = (tmp_path / "invoices.jsonl").read_text(encoding="utf-8").splitlines()
    ids = [json.loads(row)["id"] for row in rows]
    assert tutorial_fake.ids()[7:] == ids
    assert not (tmp_path / "invoices.checkpoint.json").exists()


async def test_many_accounts(tmp_path: Path) -> None:
    """many_accounts.py counts three accounts through one client."""
    async with FakeCloudflare(1_200, seed=0) as fake:
        accounts = [fake.account_id, fake.add_account(300, seed=1), fake.add_account(45, seed=2)]
        out = await _run(fake, tmp_path, "many_accounts.py", *accounts)

    _check_output("many_accounts.txt", out)


def _first_open_page_start(fake: FakeCloudflare, pages: range, per_page: int) -> int:
    """The first page in ``pages`` whose first invoice is open (what Fault.wrong_type edits)."""
    invoices = fake.invoices()
    return next(p for p in pages if invoices[(p - 1) * per_page]["status"] == "open")


async def test_worker_syncs_new_and_changed_invoices(tutorial_fake: FakeCloudflare) -> None:
    """worker.sync adds new invoices and updates an open invoice that was paid meanwhile;
    an incremental round reads only back to its re-check window, a full round everything."""
    worker = _load("worker")
    store = worker.Store()
    fake, recheck = tutorial_fake, dt.timedelta(days=90)
    # per_page=20 for the full walks too, so that the edited invoices stay the same ones.
    async with InvoiceClient(
        api_token=fake.api_token, base_url=fake.base_url, per_page=20
    ) as client:
        first = await worker.sync(client, fake.account_id, store, recheck=recheck)
        assert store.newest_created is not None
        horizon = int((store.newest_created - recheck).timestamp())
        fake.create_invoices(3)
        # The page of the first invoice created before the window: where the round stops.
        stop = next(i for i, x in enumerate(fake.invoices()) if x["created"] < horizon) // 20 + 1
        # The fake has no "pay this invoice": serve one open invoice inside the window as
        # paid from now on (the first of its page, which wrong_type edits), and one far older.
        inside = _first_open_page_start(fake, range(1, stop), 20)
        outside = _first_open_page_start(fake, range(stop + 50, 250), 20)
        recent_id, old_id = fake.ids()[(inside - 1) * 20], fake.ids()[(outside - 1) * 20]
        fake.add_fault(Fault.wrong_type("status", "paid", page=inside))
        fake.add_fault(Fault.wrong_type("status", "paid", page=outside))
        before = (store.invoices[recent_id].status, store.invoices[old_id].status)
        fake.reset_counters()
        second = await worker.sync(client, fake.account_id, store, recheck=recheck)
        pages_read = sorted(r.page for r in fake.requests if r.page is not None)
        after_incremental = store.invoices[old_id].status
        third = await worker.sync(client, fake.account_id, store, full=True)

    assert (first, second, third) == ((TUTORIAL_INVOICES, 0), (3, 1), (0, 1))
    assert before == ("open", "open")
    assert (store.invoices[recent_id].status, after_incremental) == ("paid", "open")
    assert store.invoices[old_id].status == "paid"
    assert len(store.invoices) == TUTORIAL_INVOICES + 3
    # Pages 1 to stop, plus at most max_concurrency=2 pages the walk had started ahead of
    # the loop when it stopped.
    assert pages_read[:stop] == list(range(1, stop + 1))
    assert stop <= len(pages_read) <= stop + 2


async def test_worker_once(tutorial_fake: FakeCloudflare, tmp_path: Path) -> None:
    """worker.py --once syncs one round and exits."""
    out = await _run(tutorial_fake, tmp_path, "worker.py", tutorial_fake.account_id, "--once")

    assert f"synced {TUTORIAL_INVOICES:,} new and 0 changed invoices; 5,000 in the store" in out


async def test_web_aiohttp(tutorial_fake: FakeCloudflare, monkeypatch: pytest.MonkeyPatch) -> None:
    """The aiohttp.web service answers a summary, 403 for a foreign account, 404 for no account."""
    from aiohttp.test_utils import TestClient, TestServer

    for name, value in _environment(tutorial_fake).items():
        if name.startswith("CLOUDFLARE_"):
            monkeypatch.setenv(name, value)
    web_aiohttp = _load("web_aiohttp")

    async with TestClient(TestServer(web_aiohttp.make_app())) as http:
        found = await http.get(f"/accounts/{tutorial_fake.account_id}/summary")
        body = await found.json()
        forbidden = await http.get("/accounts/0123456789abcdef0123456789abcdef/summary")
        invalid = await http.get("/accounts/no.such.account/summary")

    assert (found.status, body["invoices"]) == (200, TUTORIAL_INVOICES)
    assert (forbidden.status, invalid.status) == (403, 404)


async def test_fake_without_pytest(tmp_path: Path) -> None:
    """fake_without_pytest.py runs its own server and gets every original invoice once."""
    result = await anyio.run_process(
        [sys.executable, str(EXAMPLES / "fake_without_pytest.py")], cwd=tmp_path, check=False
    )

    assert result.returncode == 0, result.stderr.decode()
    _check_output("fake_without_pytest.txt", result.stdout.decode())


async def test_warehouse(
    tutorial_fake: FakeCloudflare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """warehouse.py loads the account into DuckDB through dlt and sums it by status; run
    again after seven new invoices and a payment, it merges them."""
    import duckdb

    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt-data"))  # not the home directory
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    fake, account = tutorial_fake, tutorial_fake.account_id
    outputs = [await _run(fake, tmp_path, "warehouse.py", account)]
    new = fake.create_invoices(7)
    paid = next(
        i
        for i, v in zip(fake.ids(), fake.expected_invoices(), strict=True)
        if v["status"] == "open"
    )
    due = next(v["amount_due"] for v in fake.invoices() if v["id"] == paid)
    fake.update_invoice(paid, status="paid", amount_paid=due, amount_remaining=0)
    outputs.append(await _run(fake, tmp_path, "warehouse.py", account))

    _check_output("warehouse.txt", "$ python warehouse.py $ACCOUNT\n".join(["", *outputs]))
    with duckdb.connect(str(tmp_path / "cloudflare.duckdb"), read_only=True) as db:
        ids = {row[0] for row in db.sql("SELECT id FROM billing.invoices").fetchall()}
        status = db.sql(f"SELECT status FROM billing.invoices WHERE id = '{paid}'").fetchall()
    assert ids == set(fake.ids())
    assert len(ids) == TUTORIAL_INVOICES + 7
    assert set(new) <= ids
    assert status == [("paid",)]


def test_web_fastapi_compiles() -> None:
    """The FastAPI example is valid Python (FastAPI is not installed to run it)."""
    source = (EXAMPLES / "web_fastapi.py").read_text(encoding="utf-8")

    compile(source, "web_fastapi.py", "exec")


def test_otel_fastapi_compiles() -> None:
    """The traced FastAPI example is valid Python (FastAPI and exporters are not installed)."""
    source = (EXAMPLES / "otel_fastapi.py").read_text(encoding="utf-8")

    compile(source, "otel_fastapi.py", "exec")


async def test_otel_trace(tmp_path: Path) -> None:
    """otel_trace.py prints the walk's span tree: a retried page shows as two CLIENT spans."""
    async with FakeCloudflare(55, seed=0, faults=[Fault.status(503, page=2, attempt=1)]) as fake:
        out = await _run(fake, tmp_path, "otel_trace.py", fake.account_id)
        served = sorted(fake.requests, key=lambda r: (r.page or 0, r.number))
        rays = [fake._ray(r.number) for r in served]

    printed = [line.split("ray=")[1].split()[0] for line in out.splitlines() if "ray=" in line]
    assert printed == rays
    _check_output("otel_trace.txt", out)


async def test_reader_tests_pass(tmp_path: Path) -> None:
    """test_my_app.py, the testing how-to's example, passes under pytest."""
    result = await anyio.run_process(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-W",
            "error",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(EXAMPLES / "test_my_app.py"),
        ],
        cwd=tmp_path,
        check=False,
    )

    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
