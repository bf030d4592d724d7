"""``--metrics-file``: the run's figures in Prometheus's text format, read back with its parser."""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import io
import os
import sqlite3
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from asyncinvoices._cli import ExitCode, run_async
from asyncinvoices.testing import FakeCloudflare, Fault

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("instant_backoff")]


async def cli(fake: FakeCloudflare, *argv: str) -> tuple[int, str, str]:
    """Run the command line against ``fake``; return (code, stdout, stderr).

    50 invoices a page, so that the faults and counts below name the pages they mean.
    """
    out, err = io.StringIO(), io.StringIO()
    environ = {"CLOUDFLARE_API_TOKEN": fake.api_token}
    code = await run_async(
        [*argv, "--per-page", "50", "--base-url", fake.base_url],
        stdout=out,
        stderr=err,
        environ=environ,
    )
    return code, out.getvalue(), err.getvalue()


def samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the file, by name and sorted labels, through prometheus_client's parser.

    Every family must be a gauge with its HELP text.
    """
    found = {}
    for family in text_string_to_metric_families(path.read_text()):
        assert family.type == "gauge", family.name
        assert family.documentation, family.name
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def served(fake: FakeCloudflare) -> collections.Counter[str]:
    return collections.Counter(str(r.status) for r in fake.requests)


def last_ok_finish(db: Path, account_id: str) -> float:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        [(text,)] = conn.execute(
            "SELECT max(finished_at) FROM sync_runs WHERE account_id = ? AND outcome = 'ok'",
            (account_id,),
        ).fetchall()
    when = dt.datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()


async def test_sync_writes_the_figures_and_the_last_success_survives_a_failed_run(
    tmp_path: Path,
) -> None:
    """A sync with a retried page, then a failed one: every figure matches the fake's counts.

    The failed run still writes the file, says so in the outcome, and keeps the end time of
    the earlier successful run, read from the mirror's sync_runs.
    """
    db, metrics = tmp_path / "m.db", tmp_path / "asyncinvoices.prom"
    async with FakeCloudflare(230, seed=7, faults=[Fault.status(503, page=2, attempt=1)]) as fake:
        code, _, err = await cli(
            fake, "sync", fake.account_id, "--db", f"sqlite:///{db}", "--metrics-file", str(metrics)
        )
        assert code == ExitCode.OK, err
        first = samples(metrics)
        first_served = served(fake)
        first_finish = last_ok_finish(db, fake.account_id)
        fake.delete_invoices(fake.ids()[:2])
        fake.reset_counters()
        fake.add_fault(Fault.status(403, page=1))
        code, _, err = await cli(
            fake, "sync", fake.account_id, "--db", f"sqlite:///{db}", "--metrics-file", str(metrics)
        )
        assert code == ExitCode.AUTHENTICATION
        second = samples(metrics)
        second_served = served(fake)

    assert first_served == {"200": 5, "503": 1}
    account = (("account", fake.account_id), ("command", "sync"))
    sync = (("command", "sync"),)
    assert first == {
        **{
            ("asyncinvoices_run_outcome", (("command", "sync"), ("outcome", o))): float(o == "ok")
            for o in ("ok", "partial", "failed", "interrupted")
        },
        ("asyncinvoices_run_success", sync): 1.0,
        ("asyncinvoices_run_end_timestamp_seconds", sync): first[
            ("asyncinvoices_run_end_timestamp_seconds", sync)
        ],
        ("asyncinvoices_run_requests", (("command", "sync"), ("status", "200"))): 5.0,
        ("asyncinvoices_run_requests", (("command", "sync"), ("status", "503"))): 1.0,
        ("asyncinvoices_run_invoices", sync): 230.0,
        ("asyncinvoices_run_rate_limit_wait_seconds", sync): 0.0,
        ("asyncinvoices_mirror_inserted", account): 230.0,
        ("asyncinvoices_mirror_updated", account): 0.0,
        ("asyncinvoices_mirror_removed", account): 0.0,
        ("asyncinvoices_last_success_timestamp_seconds", account): pytest.approx(first_finish),
    }
    assert first[("asyncinvoices_run_end_timestamp_seconds", sync)] >= first_finish

    # The failed run: 403 on the first page (not retried), nothing committed.
    assert second_served == {"403": 1}
    assert second[("asyncinvoices_run_success", sync)] == 0.0
    assert second[("asyncinvoices_run_outcome", (("command", "sync"), ("outcome", "failed")))] == 1
    assert second[("asyncinvoices_run_outcome", (("command", "sync"), ("outcome", "ok")))] == 0
    got = {
        dict(labels)["status"]: value
        for (name, labels), value in second.items()
        if name == "asyncinvoices_run_requests"
    }
    assert got == {"403": 1.0}
    assert second[("asyncinvoices_mirror_inserted", account)] == 0.0
    assert second[("asyncinvoices_last_success_timestamp_seconds", account)] == pytest.approx(
        first_finish
    )
    assert sorted(p.name for p in os.scandir(tmp_path)) == ["asyncinvoices.prom", "m.db"]


async def test_fetch_writes_requests_invoices_and_the_outcome(tmp_path: Path) -> None:
    """fetch -o FILE --metrics-file: requests by status as the fake served them, invoices."""
    metrics = tmp_path / "fetch.prom"
    faults = [Fault.status(429, retry_after=1, page=2, attempt=1)]
    async with FakeCloudflare(120, faults=faults) as fake:
        code, _, err = await cli(
            fake,
            "fetch",
            fake.account_id,
            "-o",
            str(tmp_path / "out.csv"),
            "--metrics-file",
            str(metrics),
        )
        assert code == ExitCode.OK, err
    fetch = (("command", "fetch"),)
    found = samples(metrics)
    got = {
        dict(labels)["status"]: value
        for (name, labels), value in found.items()
        if name == "asyncinvoices_run_requests"
    }
    assert got == {"200": 3.0, "429": 1.0}
    assert served(fake) == {"200": 3, "429": 1}
    assert found[("asyncinvoices_run_invoices", fetch)] == 120.0
    assert found[("asyncinvoices_run_success", fetch)] == 1.0
    assert found[("asyncinvoices_run_rate_limit_wait_seconds", fetch)] > 0.5
    assert not any(name.startswith("asyncinvoices_mirror") for name, _ in found)
