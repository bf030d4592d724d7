"""The benchmark harness's pure parts: formulas, verdicts and rendering, without running it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from benchmarks import report
from benchmarks.run_one import _Digest
from benchmarks.scenarios import scenarios
from benchmarks.serve import fault_set
from benchmarks.suite import merged


def test_lower_bound_is_one_round_for_page_one_then_rounds_of_c() -> None:
    """L x (1 + ceil((P - 1) / C)), with no pages taking no time."""
    assert report.lower_bound(0.06, 400, 16) == pytest.approx(0.06 * 26)
    assert report.lower_bound(0.06, 400, 64) == pytest.approx(0.06 * 8)
    assert report.lower_bound(0.06, 400, 1) == pytest.approx(0.06 * 400)
    assert report.lower_bound(0.06, 1, 64) == pytest.approx(0.06)
    assert report.lower_bound(0.06, 0, 4) == 0.0


def test_quota_minimum_follows_the_sliding_window() -> None:
    """300 pages at 60 per 5 s: the fifth batch starts at 20 s, after page 1's round trip."""
    assert report.quota_minimum(300, 60, 5.0, 0.06) == pytest.approx(20.0 + 0.06 + 0.06)
    # 241 pages: the last request is the first of the fifth batch, due at exactly 20 s.
    assert report.quota_minimum(241, 60, 5.0, 0.06) == pytest.approx(20.0 + 0.06)
    # Within the quota only page 1 and one more round trip.
    assert report.quota_minimum(60, 60, 5.0, 0.06) == pytest.approx(0.12)
    assert report.quota_minimum(0, 60, 5.0, 0.06) == 0.0


def test_quota_minimum_with_a_concurrency_limit_is_the_lower_bound_when_quota_is_loose() -> None:
    """With a quota that never binds, the concurrency limit gives the latency lower bound."""
    for concurrency in (1, 4, 16):
        assert report.quota_minimum(400, 10_000, 300.0, 0.06, concurrency) == pytest.approx(
            report.lower_bound(0.06, 400, concurrency)
        )


def test_summarize_gives_median_min_max() -> None:
    """The median of an even count is the mean of the middle two; no values give None."""
    assert report.summarize([3.0, 1.0, 2.0, 10.0]) == report.Summary(2.5, 1.0, 10.0, 4)
    assert report.summarize([]) is None


def test_fault_set_fires_at_the_combined_rate() -> None:
    """Three equally likely faults, each at p, so that at least one fires with the rate."""
    faults = fault_set(0.05)
    assert [f.kind for f in faults] == ["status", "status", "reset"]
    p = faults[0].probability
    assert p is not None
    assert 1 - (1 - p) ** 3 == pytest.approx(0.05)
    assert fault_set(0.0) == []


def test_quick_scenarios_are_the_full_ones_made_smaller() -> None:
    """Same scenarios and contenders; smaller accounts and fewer repetitions when quick."""
    full, quick = scenarios(quick=False), scenarios(quick=True)
    assert [s.name for s in full] == [
        "latency",
        "cpu",
        "memory",
        "governor",
        "faults",
        "telemetry",
    ]
    assert [s.name for s in quick] == [s.name for s in full]
    for big, small in zip(full, quick, strict=True):
        assert [c.contender for c in big.cases] == [c.contender for c in small.cases]
        assert small.repetitions <= big.repetitions
        assert big.repetitions >= 3
    latency = full[0].params
    assert (latency["latency"], latency["invoices"], latency["per_page"]) == (0.06, 20_000, 50)
    assert latency["pages"] == 400
    assert full[2].params["sizes"] == [100_000, 300_000, 1_000_000]
    assert (full[3].params["quota"], full[3].params["window"], full[3].params["pages"]) == (
        60,
        5.0,
        300,
    )


def test_server_argv_names_every_setting() -> None:
    """The server process gets the rate limit as Q/W, or off."""
    servers = {
        name: s for scenario in scenarios(quick=False) for name, s in scenario.servers.items()
    }
    assert "--rate-limit=off" in servers["s"].argv() or "--rate-limit=60/5.0" in servers["s"].argv()
    cpu = scenarios(quick=False)[1]
    assert "--shapes=plain" in cpu.servers["plain"].argv()
    assert "--shapes=mixed" in cpu.servers["mixed"].argv()
    assert (cpu.params["concurrency"], cpu.params["invoices"], cpu.params["per_page"]) == (
        8,
        200_000,
        1000,
    )
    assert [c.label for c in cpu.cases if c.server == "mixed"] == [
        "asyncinvoices (stream), mixed",
        "official SDK, mixed",
        "in-process ceiling, mixed",
    ]
    governor = scenarios(quick=False)[3].servers["s"]
    assert "--rate-limit=60/5.0" in governor.argv()
    assert "--block=5.0" in governor.argv()


def test_digest_is_order_sensitive_and_optional() -> None:
    """Two runs reading the same invoices in the same order have the same digest."""
    one, two, other, off = _Digest(True), _Digest(True), _Digest(True), _Digest(False)
    for digest in (one, two):
        digest.add(("in_1", 5))
        digest.add(("in_2", 6))
    other.add(("in_2", 6))
    other.add(("in_1", 5))
    off.add(("in_1", 5))
    assert one.hexdigest() == two.hexdigest() != other.hexdigest()
    assert off.hexdigest() is None


# -- a small fake result set --------------------------------------------------------------


def _run(scenario: str, case: str, wall: float, **extra: Any) -> dict[str, Any]:
    run: dict[str, Any] = {
        "scenario": scenario,
        "case": case,
        "contender": extra.pop("contender", "asyncinvoices"),
        "repetition": 1,
        "settings": {"concurrency": extra.pop("concurrency", 16)},
        "wall": wall,
        "cpu": wall / 2,
        "invoices": extra.pop("invoices", 1000),
        "peak_rss_mib": extra.pop("rss", 40.0),
        "digest": extra.pop("digest", None),
        "server": extra.pop("server", {"requests": 20, "statuses": {"200": 20}}),
    }
    run.update(extra)
    return run


def _results() -> dict[str, Any]:
    full = {s.name: s for s in scenarios(quick=False)}
    runs = []
    # Latency: 400 pages of 60 ms. C=16 within the bound; C=64 not.
    in_flight = {"requests": 400, "statuses": {"200": 400}, "mean_in_flight": 14.0}
    for wall in (1.60, 1.70, 1.65):
        runs.append(_run("latency", "C=16", wall, server=in_flight))
    for wall in (0.9, 1.0, 0.95):
        runs.append(_run("latency", "C=64", wall, concurrency=64))
    for c, wall in ((1, 24.5), (4, 6.2)):
        runs.append(_run("latency", f"C={c}", wall, concurrency=c))
    runs.append(_run("latency", "official SDK", 26.0, contender="official-sdk"))
    runs.append(_run("latency", "naive aiohttp", 24.8, contender="naive-aiohttp"))
    # CPU: 200,000 invoices.
    for case, wall in (
        ("asyncinvoices (stream)", 4.0),
        ("official SDK", 40.0),
        ("in-process ceiling", 2.0),
    ):
        runs.append(_run("cpu", case, wall, invoices=200_000))
    runs.append(_run("cpu", "naive aiohttp", 0.1, error="boom: connection refused"))
    # CPU on the shape mix: 8x the SDK, but only 0.8x the ceiling.
    mixed = {"shapes": "mixed"}
    for case, wall in (
        ("asyncinvoices (stream), mixed", 5.0),
        ("official SDK, mixed", 40.0),
        ("in-process ceiling, mixed", 4.0),
    ):
        runs.append(_run("cpu", case, wall, invoices=200_000, server_settings=mixed))
    # Memory: flat and small.
    for case, rss in (("100,000", 60.0), ("300,000", 62.0), ("1,000,000", 64.0)):
        runs.append(_run("memory", case, 5.0, rss=rss))
    # Governor: no 429, a little over the minimum.
    runs.append(_run("governor", "60 / 5 s", 20.5, throttled=100.0))
    # Faults: one digest everywhere.
    runs.append(_run("faults", "clean", 1.6, digest="abc"))
    runs.append(
        _run(
            "faults",
            "5% faults",
            2.4,
            digest="abc",
            retries=3,
            server={"requests": 23, "statuses": {"200": 20, "503": 3}, "faults": {"status": 3}},
        )
    )
    # Telemetry: the API without an SDK costs 1%; a recording SDK 10%.
    for case, wall, hooks in (
        ("without OpenTelemetry", 4.0, 0.0),
        ("OpenTelemetry API, no SDK", 4.04, 20e-6),
        ("OpenTelemetry SDK, recording", 4.4, 90e-6),
    ):
        runs.append(
            _run(
                "telemetry",
                case,
                wall,
                invoices=200_000,
                requests=200,
                hooks_cpu_per_request=hooks,
            )
        )
    return {
        "mode": "full",
        "started": "2026-01-01T00:00:00+00:00",
        "seconds": 1.0,
        "machine": {
            "cpu": "Test CPU",
            "cores": 2,
            "system": "Linux",
            "python": "CPython 3.11",
            "packages": {"asyncinvoices": "1.0"},
            "load_average": [1.0, 1.0, 1.0],
        },
        "scenarios": {
            name: {"title": s.title, "repetitions": s.repetitions, "params": s.params}
            for name, s in full.items()
        },
        "runs": runs,
    }


def _verdicts(results: dict[str, Any]) -> dict[str, bool | None]:
    return {f"{t.scenario}: {t.text}": t.met for t in report.targets(results)}


def test_targets_say_plainly_which_are_met_and_which_missed() -> None:
    """Each target is judged on medians: met, missed, or not measured."""
    verdicts = _verdicts(_results())
    assert verdicts == {
        "latency: at most 1.10x the lower bound at C = 16": True,
        "latency: at most 1.30x the lower bound at C = 64": False,
        "latency: at C = 16, at least 14x faster than the official SDK": True,
        "cpu: on the shape mix, invoices per second at least 7x the official SDK": True,
        "cpu: on the shape mix, invoices per second at least 0.9x the in-process ceiling": False,
        "memory: peak RSS under 100 MB streaming 1,000,000 invoices": True,
        "memory: flat as the account grows (at most 10% more from smallest to largest)": True,
        "governor: zero 429 responses": True,
        "governor: wall time within 10% of the minimum the quota allows": True,
        "faults: at most 1.4x the clean run's wall time": False,
        "faults: output identical to the clean run": True,
        "telemetry: with the OpenTelemetry API installed and no SDK, the CPU-bound walk within "
        "2% of its client CPU time without OpenTelemetry": True,
        "telemetry: with the OpenTelemetry API installed and no SDK, the telemetry hooks of a "
        "walk's requests at most 2% of the walk's CPU time": True,
    }


def test_a_429_a_different_digest_or_missing_runs_fail_their_targets() -> None:
    """Rejections, diverging output and scenarios without runs are never reported as met."""
    results = _results()
    for run in results["runs"]:
        if run["scenario"] == "governor":
            run["server"] = {"requests": 301, "statuses": {"200": 300, "429": 1}}
        if run["case"] == "5% faults":
            run["digest"] = "different"
        if run["scenario"] == "memory" and run["case"] == "1,000,000":
            run["peak_rss_mib"] = 140.0
        if run["case"] == "OpenTelemetry API, no SDK":
            run["cpu"] = 2.05  # 2.5% over the run without OpenTelemetry
            run["hooks_cpu_per_request"] = 250e-6  # 200 requests: 2.4% of the walk's CPU
    results["runs"] = [r for r in results["runs"] if not r["case"].startswith("official SDK")]
    verdicts = _verdicts(results)
    assert verdicts["governor: zero 429 responses"] is False
    assert verdicts["faults: output identical to the clean run"] is False
    assert verdicts["memory: peak RSS under 100 MB streaming 1,000,000 invoices"] is False
    assert (
        verdicts["memory: flat as the account grows (at most 10% more from smallest to largest)"]
        is False
    )
    assert (
        verdicts["cpu: on the shape mix, invoices per second at least 7x the official SDK"] is None
    )
    assert [met for name, met in verdicts.items() if name.startswith("telemetry")] == [
        False,
        False,
    ]


def test_tables_show_ratios_failures_and_verdicts() -> None:
    """The stdout report has every scenario's table, failed runs and the verdicts."""
    text = report.render_tables(_results())
    assert (
        "| C=16 | 16 | 1.650 | 1.600 | 1.700 | 1.560 | 1.06x | 15.76x | 14.00 | 0.825 | 40.00 |"
        in text
    )
    assert "naive aiohttp (failed 1/1: boom: connection refused)" in text
    assert "| 60 / 5 s | 300 | 20.50 | 20.50 | 20.50 | 20.12 | 1.02x | 0 | 100.0 |" in text
    assert "| 5% faults | 2.400 | 2.400 | 2.400 | 1.50x | 3.0 | 3 of 23 |" in text
    assert "quota minimum 20.12 s" in text
    assert (
        "| asyncinvoices (stream) | plain | 4.000 | 4.000 | 4.000 | 50,000 | 10.00x | 0.50x |"
        in text
    )
    assert (
        "| asyncinvoices (stream) | mixed | 5.000 | 5.000 | 5.000 | 40,000 | 8.00x | 0.80x |"
        in text
    )
    assert 'data plain and mixed (FakeCloudflare(shapes="mixed")' in text
    assert (
        "| OpenTelemetry API, no SDK | 4.040 | 4.040 | 4.040 | 49,505/s | 1.01x | 2.020 | 1.01x "
        "| 20.0 µs, 0.20% |" in text
    )
    assert text.count("**MISSED**") == 3


def test_docs_embed_the_machine_the_plot_and_the_notes() -> None:
    """docs/benchmarks.md names the machine, embeds the plot and ends with the notes."""
    text = report.render_docs(_results(), plot="_static/benchmarks-concurrency.png")
    assert text.startswith("# Benchmarks\n")
    assert "- CPU: Test CPU, 2 cores" in text
    assert "![Wall time against max_concurrency" in text
    assert "(_static/benchmarks-concurrency.png)" in text
    assert "## Latency-bound" in text
    assert "## Faults" in text
    if report.NOTES.exists():
        assert report.NOTES.read_text(encoding="utf-8").strip() in text
    assert "/work/" not in text
    assert "/home/" not in text
    assert "![" not in report.render_docs(_results(), plot=None)


def test_plot_is_written(tmp_path: Path) -> None:
    """The concurrency plot is a PNG file."""
    pytest.importorskip("matplotlib")
    path = tmp_path / "plot.png"
    assert report.plot_concurrency(_results(), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not report.plot_concurrency({"scenarios": {}}, path)


def test_numbers_are_formatted_for_reading() -> None:
    """Seconds get three significant decimals, ratios two, missing values n/a."""
    assert report._s(1.23456) == "1.235"
    assert report._s(24.567) == "24.57"
    assert report._s(None) == "n/a"
    assert report._x(math.nan) == "n/a"
    assert report._x(1.234) == "1.23x"


def test_merged_replaces_only_the_scenarios_run_again() -> None:
    """--update-latest: the new scenario's runs replace its old ones; the rest stay."""
    latest = _results()
    new = {
        "started": "2026-02-02T00:00:00+00:00",
        "seconds": 30.0,
        "machine": {"load_average": [0.5, 0.4, 0.3], "load_average_after": [0.6, 0.5, 0.4]},
        "scenarios": {"telemetry": latest["scenarios"]["telemetry"]},
        "runs": [_run("telemetry", "without OpenTelemetry", 3.0, invoices=200_000)],
    }
    result = merged(latest, new)
    assert list(result["scenarios"]) == list(latest["scenarios"])
    assert result["scenarios"]["telemetry"]["measured"]["started"] == new["started"]
    assert [r["wall"] for r in result["runs"] if r["scenario"] == "telemetry"] == [3.0]
    others = [r for r in latest["runs"] if r["scenario"] != "telemetry"]
    assert [r for r in result["runs"] if r["scenario"] != "telemetry"] == others
    assert (
        "measured on its own, started 2026-02-02T00:00:00+00:00, load average 0.50, 0.40, "
        "0.30 at the start" in report.render_tables(result)
    )
