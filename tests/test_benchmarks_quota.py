"""The quota benchmark: its formula, its table, and a tiny run counted at the server."""

from __future__ import annotations

import pytest

from benchmarks import quota

pytestmark = pytest.mark.anyio


def test_quota_time_is_free_for_a_window_then_four_a_second() -> None:
    """1,200 requests at once; 20,000 take (20,000 - 1,200) / 4 s = 78 minutes 20 s."""
    assert quota.quota_seconds(0) == 0.0
    assert quota.quota_seconds(1200) == 0.0
    assert quota.quota_seconds(1201) == 0.25
    assert quota.quota_seconds(20_000) == 4700.0


def test_the_table_shows_requests_quota_time_and_the_target() -> None:
    """Counts, quota times in seconds or minutes, the share and the verdicts."""
    results = {
        "mode": "full",
        "server_max_per_page": 1000,
        "previous_per_page": 50,
        "seconds": 12.5,
        "rows": [
            {"name": "first sync, 1,000,000 invoices", "previous": 20_000, "current": 1001,
             "fewest": 1000, "full": None},
            {"name": "nightly sync, 100,000 invoices over three years", "previous": None,
             "current": 1, "fewest": 1, "full": 100},
        ],
    }  # fmt: skip
    lines = quota.render(results).splitlines()
    assert lines[5:8] == [
        "|---|---:|---:|---:|---:|---:|---:|",
        "| first sync, 1,000,000 invoices | 20,000 | 78 min | 1,001 | 0 s | 1,000 | 0 s |",
        "| nightly sync, 100,000 invoices over three years | n/a | n/a | 1 | 0 s | 1 | 0 s |",
    ]
    assert lines[-3] == "| 100,000 invoices over three years | 1 | 100 | 1.0% | at most 1 %: met |"
    assert lines[-1] == "First sync: 1 requests above the fewest (target: at most 2)."


async def test_a_tiny_run_counts_every_sync_at_the_server() -> None:
    """Sizes / 1,000: the previous release's walks are exact; this release's never cost more."""
    results = await quota.run(scale=1000)

    rows = {row["name"]: row for row in results["rows"]}
    assert list(rows) == [
        "first sync, 1,000 invoices",
        "nightly sync, 1,000 invoices, 1 new",
        "nightly sync, 2 accounts of 20 to 600 invoices",
        "nightly sync, 100 invoices over three years",
        "nightly sync, 100 invoices over three years, one open for seven months",
    ]
    first = rows["first sync, 1,000 invoices"]
    assert (first["previous"], first["fewest"]) == (20, 1)  # 50 a page; 1,000 a page
    nightly = rows["nightly sync, 1,000 invoices, 1 new"]
    assert (nightly["previous"], nightly["fewest"]) == (21, 1)  # a full walk of 1,001
    many = rows["nightly sync, 2 accounts of 20 to 600 invoices"]
    assert many["fewest"] == 2
    for row in rows.values():
        assert row["fewest"] <= row["current"]
        assert row["previous"] is None or row["current"] <= row["previous"]
    three = rows["nightly sync, 100 invoices over three years"]
    assert three["current"] == 1
