"""The dlt source, loading into a real DuckDB database in a temp dir from FakeCloudflare.

Every run is a real ``pipeline.run``: extract, normalize and load, with dlt's state stored in
the database. The pipelines directory, dlt's data directory and the project directory are
temp dirs; dlt's telemetry is off, so nothing but loopback is reached.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import dlt
import duckdb
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from asyncinvoices import (
    AuthenticationError,
    ConfigurationError,
    Invoice,
    InvoiceClient,
    ResponseFormatError,
)
from asyncinvoices._mirror.records import KeyAssigner
from asyncinvoices.dlt import cloudflare_invoices, invoice_rows
from asyncinvoices.testing import FakeCloudflare, Fault

pytestmark = pytest.mark.anyio

UTC = dt.timezone.utc
DAY = dt.timedelta(days=1)
PER_PAGE = 50
DATASET = "billing"


@pytest.fixture(autouse=True)
def dlt_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """dlt's directories in the test's temp dir, no telemetry, no Cloudflare variables."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt-data"))
    monkeypatch.setenv("DLT_PROJECT_DIR", str(tmp_path))
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    for name in ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_API_KEY", "CLOUDFLARE_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("SOURCES__CLOUDFLARE_INVOICES__API_TOKEN", raising=False)


class Warehouse:
    """One dlt pipeline into one DuckDB file, and what it holds."""

    def __init__(self, fake: FakeCloudflare, root: Path) -> None:
        self.fake = fake
        self.root = root
        self.database = root / "warehouse.duckdb"
        self.requests = 0
        self.pages: list[int | None] = []

    def pipeline(self) -> Any:
        """The pipeline, as a fresh process would make it (its state read back from disk)."""
        return dlt.pipeline(
            pipeline_name="cloudflare",
            destination=dlt.destinations.duckdb(str(self.database)),
            pipelines_dir=str(self.root / "pipelines"),
            dataset_name=DATASET,
        )

    async def run(self, now: dt.datetime, **options: Any) -> int:
        """Load the fake's default account as of ``now``, one request at a time; return the
        requests the run cost, counted at the fake."""
        options = {
            "base_url": self.fake.base_url,
            "per_page": PER_PAGE,
            "max_concurrency": 1,
            "read_ahead": 0,
            "lookback_days": 10,
            "clock": lambda: now,
            **options,
        }
        account_ids = options.pop("account_ids", [self.fake.account_id])
        file_format = options.pop("file_format", None)

        def load() -> None:
            source = cloudflare_invoices(account_ids, **options)
            self.pipeline().run(source, loader_file_format=file_format)

        served = len(self.fake.requests)
        try:
            await anyio.to_thread.run_sync(load)
        finally:
            requests = self.fake.requests[served:]
            self.requests = len(requests)
            self.pages = [r.page for r in requests if r.endpoint == "invoice-history"]
        return self.requests

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of a query on the database, read-only."""
        with duckdb.connect(str(self.database), read_only=True) as connection:
            return connection.sql(sql).fetchall()

    def rows(self) -> dict[str, dict[str, Any]]:
        """The invoices table by id, without dlt's own columns."""
        with duckdb.connect(str(self.database), read_only=True) as connection:
            relation = connection.sql(
                f"SELECT * EXCLUDE (_dlt_load_id, _dlt_id) FROM {DATASET}.invoices"
            )
            names = relation.columns
            rows = [dict(zip(names, values, strict=True)) for values in relation.fetchall()]
        for row in rows:
            if row["extra"] is not None:
                row["extra"] = json.loads(row["extra"])
        return {row["id"]: row for row in rows}

    def walk_state(self) -> dict[str, Any]:
        """The rule's state of the default account, as the pipeline stored it."""
        state = self.pipeline().state["sources"]["cloudflare_invoices"]
        return dict(state["resources"]["invoices"]["accounts"][self.fake.account_id])


async def expected_rows(fake: FakeCloudflare) -> dict[str, dict[str, Any]]:
    """The rows the fake's current invoices must become, by key.

    The invoices are read by a client, as the source reads them, so that an invoice without
    an id gets the key of the form it is sent in (``1200.0`` and ``1200`` are equal amounts
    with different derived keys); they equal the values the fake says a client must make.
    """
    async with InvoiceClient(
        api_token=fake.api_token, base_url=fake.base_url, per_page=100, rate_limit=None
    ) as client:
        invoices = await client.list_invoices(fake.account_id)
    assert invoices == [Invoice(**values) for values in fake.expected_invoices()]
    rows = invoice_rows(fake.account_id, invoices, KeyAssigner())
    for row in rows:
        row["extra"] = json.loads(json.dumps(row["extra"])) if row["extra"] else None
    return {row["id"]: row for row in rows}


def newest_created(fake: FakeCloudflare) -> dt.datetime:
    """The creation time of the account's newest invoice."""
    created = fake.expected_invoices()[0]["created"]
    assert isinstance(created, dt.datetime)
    return created


def pages_of_since_walk(fake: FakeCloudflare, since: dt.datetime) -> int:
    """The pages a sequential walk with ``since`` reads: up to the one that ends before it."""
    for position, values in enumerate(fake.expected_invoices()):
        if values["created"] < since:
            return position // PER_PAGE + 1
    return -(-len(fake.ids()) // PER_PAGE)


@pytest.fixture
async def fake() -> AsyncIterator[FakeCloudflare]:
    """500 invoices in the tidy shape, newest first."""
    async with FakeCloudflare(500, seed=7) as server:
        yield server


def settle_history(fake: FakeCloudflare, *, recent: int = 30) -> int:
    """Pay every invoice not final beyond the newest ``recent``, but for the first one found
    from position 100 on (as an account's history reads: old invoices paid, an odd one left
    open), and return that one's position."""
    everything = fake.expected_invoices()
    old_open = next(p for p in range(100, 140) if everything[p]["status"] not in ("paid", "void"))
    for position, values in enumerate(everything):
        if position >= recent and position != old_open and values["status"] not in ("paid", "void"):
            fake.update_invoice(fake.ids()[position], status="paid")
    return old_open


@pytest.mark.parametrize("file_format", [None, "jsonl"])
async def test_the_first_run_loads_every_invoice_exactly(
    tmp_path: Path, file_format: str | None
) -> None:
    """Every invoice, in every shape the schema allows, is one row with its exact values; the
    amounts are DECIMAL columns and a fractional amount reads back as the same Decimal; with
    dlt's default load files for DuckDB and with JSON Lines."""
    async with FakeCloudflare(300, seed=3, shapes="mixed") as fake:
        warehouse = Warehouse(fake, tmp_path)
        await warehouse.run(newest_created(fake), api_token=fake.api_token, file_format=file_format)

        expected = await expected_rows(fake)
        got = warehouse.rows()
        assert warehouse.query(f"SELECT count(*) FROM {DATASET}.invoices") == [(300,)]
        assert sorted(got) == sorted(expected)
        assert got == expected
        fractional = [
            r for r in expected.values() if r["amount_due"] != r["amount_due"].to_integral()
        ]
        assert fractional
        example = fractional[0]
        assert got[example["id"]]["amount_due"] == example["amount_due"]
        assert isinstance(got[example["id"]]["amount_due"], Decimal)
        assert any(key.startswith("derived:") for key in got)  # invoices sent without an id
        assert any(row["extra"] for row in got.values())  # unknown fields, kept as JSON
        types = dict(
            warehouse.query(
                "SELECT column_name, data_type FROM information_schema.columns "
                f"WHERE table_schema = '{DATASET}' AND table_name = 'invoices'"
            )
        )
        assert {
            name: types[name] for name in ("amount_due", "amount_paid", "amount_remaining")
        } == {
            "amount_due": "DECIMAL(38,9)",
            "amount_paid": "DECIMAL(38,9)",
            "amount_remaining": "DECIMAL(38,9)",
        }
        assert types["extra"] == "JSON"
        assert types["created"] == "TIMESTAMP WITH TIME ZONE"
        # A sequential full walk: one request per page.
        assert warehouse.pages == [1, 2, 3, 4, 5, 6]
        assert warehouse.requests == 6 + 1


async def test_a_second_run_merges_new_and_paid_invoices_with_a_partial_walk(
    fake: FakeCloudflare, tmp_path: Path
) -> None:
    """After activity, the next run walks back only to the oldest open invoice: new invoices
    are added, paid ones updated (an old open one too), nothing marked removed."""
    old_open = settle_history(fake)
    warehouse = Warehouse(fake, tmp_path)
    first = newest_created(fake) + DAY
    await warehouse.run(first, api_token=fake.api_token)
    assert warehouse.pages == list(range(1, 11))
    old_open_created = fake.expected_invoices()[old_open]["created"]
    assert warehouse.walk_state() == {
        "last_full": first.isoformat(),
        "oldest_open": old_open_created.isoformat(),
        "undated_open": False,
    }

    # A day of activity: five new invoices, two recent open ones paid, the old one paid.
    new_ids = fake.create_invoices(5)
    recent_open = [
        fake.ids()[p] for p, v in enumerate(fake.expected_invoices()[:35]) if v["status"] == "open"
    ][:2]
    assert len(recent_open) == 2
    for invoice_id in [*recent_open, fake.ids()[old_open + 5]]:  # moved by the 5 new ones
        fake.update_invoice(invoice_id, status="paid", amount_remaining=0)
    fake.reset_counters()
    second = first + DAY
    await warehouse.run(second, api_token=fake.api_token)

    assert warehouse.rows() == await expected_rows(fake)
    assert warehouse.query(f"SELECT count(*) FROM {DATASET}.invoices") == [(505,)]
    assert set(new_ids) <= set(warehouse.rows())
    # The walk went back to the old open invoice and stopped after the page ending before it.
    assert pages_of_since_walk(fake, old_open_created) == 3
    assert warehouse.pages == [1, 2, 3]
    assert warehouse.requests == 3 + 1  # and the account listing
    assert warehouse.query(
        f"SELECT count(*) FROM {DATASET}.invoices WHERE removed_at IS NOT NULL"
    ) == [(0,)]
    # Now every invoice beyond the newest ones is paid: the next partial walk is one page.
    state = warehouse.walk_state()
    assert state["last_full"] == first.isoformat()
    assert state["oldest_open"] is not None
    assert (
        dt.datetime.fromisoformat(state["oldest_open"]) >= fake.expected_invoices()[40]["created"]
    )


async def test_a_full_walk_marks_exactly_the_removed_invoice(
    fake: FakeCloudflare, tmp_path: Path
) -> None:
    """Only a full walk marks removals: the deleted invoice keeps its row and values with
    removed_at set; a partial walk before it marks nothing."""
    settle_history(fake)
    warehouse = Warehouse(fake, tmp_path)
    first = newest_created(fake) + DAY
    await warehouse.run(first, api_token=fake.api_token)
    before = warehouse.rows()
    doomed = fake.ids()[300]
    fake.delete_invoices([doomed])

    await warehouse.run(first + DAY, api_token=fake.api_token)  # partial
    assert warehouse.rows() == before

    third = first + 2 * DAY
    await warehouse.run(third, api_token=fake.api_token, full=True)

    rows = warehouse.rows()
    assert len(rows) == 500
    assert [key for key, row in rows.items() if row["removed_at"] is not None] == [doomed]
    assert rows[doomed] == {**before[doomed], "removed_at": third}
    assert {k: v for k, v in rows.items() if k != doomed} == await expected_rows(fake)
    assert warehouse.pages == list(range(1, 11))  # 499 invoices
    assert warehouse.walk_state()["last_full"] == third.isoformat()

    # The next full walk finds it still gone: the mark keeps the time it was first missed.
    await warehouse.run(third + DAY, api_token=fake.api_token, full=True)
    assert warehouse.rows()[doomed]["removed_at"] == third


async def test_a_full_walk_comes_on_schedule(fake: FakeCloudflare, tmp_path: Path) -> None:
    """full_every_days after the last full walk, the walk is full again by itself."""
    settle_history(fake)
    warehouse = Warehouse(fake, tmp_path)
    first = newest_created(fake) + DAY
    await warehouse.run(first, api_token=fake.api_token, full_every_days=7)
    await warehouse.run(first + 6 * DAY, api_token=fake.api_token, full_every_days=7)
    assert warehouse.pages == [1, 2, 3]
    await warehouse.run(first + 7 * DAY, api_token=fake.api_token, full_every_days=7)
    assert warehouse.pages == list(range(1, 11))
    assert warehouse.walk_state()["last_full"] == (first + 7 * DAY).isoformat()


async def test_a_run_that_fails_midway_leaves_the_previous_load_as_it_was(
    fake: FakeCloudflare, tmp_path: Path
) -> None:
    """A walk cut off by an error loads nothing and keeps the state; the next run is exact."""
    warehouse = Warehouse(fake, tmp_path)
    first = newest_created(fake) + DAY
    await warehouse.run(first, api_token=fake.api_token)
    before, state = warehouse.rows(), warehouse.walk_state()
    loads = warehouse.query(f"SELECT count(*) FROM {DATASET}._dlt_loads")

    fake.create_invoices(60)
    fake.update_invoice(fake.ids()[70], status="void")
    fake.add_fault(Fault.status(403, page=4, times=1))
    with pytest.raises(PipelineStepFailed) as failed:
        await warehouse.run(first + DAY, api_token=fake.api_token, full=True)
    assert isinstance(failed.value.exception.__cause__, AuthenticationError)
    assert warehouse.pages == [1, 2, 3, 4]

    assert warehouse.rows() == before
    assert warehouse.walk_state() == state
    assert warehouse.query(f"SELECT count(*) FROM {DATASET}._dlt_loads") == loads

    await warehouse.run(first + DAY, api_token=fake.api_token, full=True)
    assert warehouse.rows() == await expected_rows(fake)
    assert len(warehouse.rows()) == 560


async def test_the_token_comes_from_dlt_secrets_and_is_written_nowhere(
    fake: FakeCloudflare,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """sources.cloudflare_invoices.api_token, here from the environment, reaches the client;
    no file dlt wrote and no log line holds it."""
    monkeypatch.setenv("SOURCES__CLOUDFLARE_INVOICES__API_TOKEN", fake.api_token)
    caplog.set_level("DEBUG")
    warehouse = Warehouse(fake, tmp_path)
    await warehouse.run(newest_created(fake), account_ids=None)

    assert len(warehouse.rows()) == 500
    assert warehouse.query(f"SELECT id FROM {DATASET}.accounts") == [(fake.account_id,)]
    assert fake.api_token not in caplog.text
    assert files_holding(tmp_path, fake.api_token) == []


def files_holding(root: Path, secret: str) -> list[Path]:
    """The files under ``root`` whose bytes contain ``secret``."""
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


async def test_cloudflare_api_token_is_the_fallback(
    fake: FakeCloudflare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a dlt secret, CLOUDFLARE_API_TOKEN is used."""
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", fake.api_token)
    warehouse = Warehouse(fake, tmp_path)
    await warehouse.run(newest_created(fake))
    assert len(warehouse.rows()) == 500


def test_no_credentials_is_a_configuration_error() -> None:
    """Without any token the source refuses at once, before any request."""
    with pytest.raises(ConfigurationError):
        cloudflare_invoices(["0" * 32], base_url="http://127.0.0.1:9")


def test_an_invalid_account_id_is_a_configuration_error() -> None:
    """Account ids are checked when the source is made."""
    with pytest.raises(ConfigurationError):
        cloudflare_invoices(["../x"], api_token="x" * 40, base_url="http://127.0.0.1:9")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lookback_days": -1}, "lookback_days must be a finite number >= 0, not -1"),
        ({"lookback_days": float("nan")}, "lookback_days must be a finite number >= 0, not nan"),
        ({"lookback_days": "7"}, "lookback_days must be a number, not '7'"),
        ({"lookback_days": 61}, "lookback_days must be between 0 and 60, not 61"),
        ({"lookback_days": 1e12}, "lookback_days must be between 0 and 60, not 1e+12"),
        ({"full_every_days": 1e10}, "full_every_days is too large: 1e+10"),
        ({"full_every_days": 0}, "full_every_days must be a finite number > 0, not 0"),
        ({"full_every_days": True}, "full_every_days must be a number, not True"),
    ],
)
def test_an_invalid_walk_setting_is_a_configuration_error(
    options: dict[str, Any], message: str
) -> None:
    """lookback_days and full_every_days are checked when the source is made, by the
    library's rules for a number and the mirror's for the window."""
    with pytest.raises(ConfigurationError) as caught:
        cloudflare_invoices(
            ["0" * 32], api_token="x" * 40, base_url="http://127.0.0.1:9", **options
        )
    assert str(caught.value) == message


def test_importing_asyncinvoices_does_not_import_dlt() -> None:
    """dlt is an extra: the library and its CLI load without it."""
    code = "import sys, asyncinvoices, asyncinvoices.testing; print('dlt' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ),
    )
    assert result.stdout == "False\n"


async def test_a_server_not_newest_first_is_walked_to_the_end(
    fake: FakeCloudflare, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A partial walk that finds the order is not by created reads every page, and says so."""
    old_open = settle_history(fake)
    warehouse = Warehouse(fake, tmp_path)
    first = newest_created(fake) + DAY
    await warehouse.run(first, api_token=fake.api_token)
    newest = newest_created(fake)
    # Page 2's first invoice claims to be the newest of all: the order is not by created.
    fake.add_fault(Fault.wrong_type("created", int(newest.timestamp()) + 10, page=2))
    caplog.set_level("WARNING", logger="asyncinvoices")

    await warehouse.run(first + DAY, api_token=fake.api_token)

    assert old_open < 150  # a walk in order would have stopped after page 3
    assert warehouse.pages == list(range(1, 11))
    assert [r.getMessage() for r in caplog.records if r.name == "asyncinvoices"] == [
        "the server's invoices are not newest first by creation time: every page is fetched "
        "and filtered for since/until",
        f"{fake.account_id}: the server's invoices are not newest first: the walk read every page",
    ]


def amounts(due: str) -> Invoice:
    """An invoice of that amount due, unpaid."""
    return Invoice(
        id="in_1",
        amount_due=Decimal(due),
        amount_paid=Decimal(0),
        amount_remaining=Decimal(due),
        currency="usd",
    )


def test_an_amount_the_column_would_round_is_refused() -> None:
    """Ten digits after the point do not fit decimal(38, 9): a typed error, not a rounding."""
    with pytest.raises(ResponseFormatError) as refused:
        invoice_rows("a" * 32, [amounts("640.1900000001")], KeyAssigner())
    assert refused.value.field == "amount_due"
    assert str(refused.value) == (
        "invoice in_1: amount_due 640.1900000001 has more than 9 digits after the point, "
        "more than the warehouse column keeps"
    )


def test_trailing_zeros_beyond_the_scale_lose_nothing() -> None:
    """640.190000000000 is 640.19: accepted, as sent."""
    [row] = invoice_rows("a" * 32, [amounts("640.190000000000")], KeyAssigner())
    assert row["amount_due"] == Decimal("640.19")
    assert str(row["amount_due"]) == "640.190000000000"
