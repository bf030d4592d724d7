"""Turns raw runs into numbers, verdicts, tables, a plot and ``docs/benchmarks.md``.

Everything here is a pure function of the results dictionary written by
:mod:`benchmarks.suite` (matplotlib is imported only to draw the plot), so a saved run can
be rendered again at any time: ``python -m benchmarks --report benchmarks/results/latest.json``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

from .scenarios import TELEMETRY_CASES, cpu_case

__all__ = [
    "Summary",
    "Target",
    "describe_run",
    "lower_bound",
    "plot_concurrency",
    "quota_minimum",
    "render_docs",
    "render_tables",
    "summarize",
    "targets",
]

NOTES = Path(__file__).resolve().parent / "notes.md"

#: How much the peak RSS may grow from the smallest to the largest account and still be
#: called flat.
FLAT_GROWTH = 0.10

#: The targets of the issue "Speed at the physical limit, on every valid shape of data".
LATENCY_C16_BOUND = 1.10  # at most this many times the lower bound at C = 16
LATENCY_C64_BOUND = 1.30  # ... and at C = 64
LATENCY_SDK_SPEEDUP = 14  # at C = 16, at least this many times faster than the official SDK
CPU_SDK_SPEEDUP = 7  # on the shape mix, invoices per second against the official SDK
CPU_CEILING_SHARE = 0.9  # on the shape mix, invoices per second against the in-process ceiling
CPU_TARGET_SHAPE = "mixed"
FAULTS_SLOWDOWN = 1.4  # the 5% faults run against the clean one
#: With the OpenTelemetry API installed and no SDK, the CPU-bound walk costs at most this much
#: more than without OpenTelemetry. Judged on the client's CPU time: the walk's cost is its
#: CPU, and on a shared machine the wall time also measures the neighbours.
TELEMETRY_OVERHEAD = 1.02


def lower_bound(latency: float, pages: int, concurrency: int) -> float:
    """The least wall time a walk of ``pages`` pages can take at ``concurrency``.

    Page 1 comes alone (it says how many pages there are); the other ``pages - 1`` go in
    rounds of ``concurrency``, each round at least one ``latency``:
    ``L x (1 + ceil((P - 1) / C))``.
    """
    if pages <= 0:
        return 0.0
    return latency * (1 + math.ceil((pages - 1) / concurrency))


def quota_minimum(
    pages: int, quota: int, window: float, latency: float, concurrency: int | None = None
) -> float:
    """The least wall time ``pages`` requests can take without exceeding the quota.

    The server allows at most ``quota`` requests in any ``window`` seconds, counted when
    they arrive, so request ``i`` cannot start before request ``i - quota`` started plus
    ``window``. Page 1 goes alone; at most ``concurrency`` are in flight (None: no limit);
    each takes ``latency``. Starting every request as early as these rules allow is optimal,
    since all take the same time.
    """
    starts: list[float] = []
    for i in range(pages):
        start = 0.0 if i == 0 else latency  # the rest wait for page 1
        if i >= quota:
            start = max(start, starts[i - quota] + window)
        if concurrency is not None and i >= concurrency:
            start = max(start, starts[i - concurrency] + latency)
        starts.append(start)
    return starts[-1] + latency if starts else 0.0


@attrs.frozen
class Summary:
    """Median, minimum and maximum of some values, and how many there were."""

    median: float
    min: float
    max: float
    n: int


def summarize(values: Iterable[float]) -> Summary | None:
    """Summarize ``values``, or return None when there are none."""
    data = sorted(values)
    if not data:
        return None
    return Summary(statistics.median(data), data[0], data[-1], len(data))


@attrs.frozen
class Target:
    """One target of the issue and whether this run met it.

    Attributes:
        scenario: The scenario it belongs to.
        text: The target, as the issue states it.
        measured: What was measured, in words and numbers.
        met: True, False, or None when it could not be measured.
    """

    scenario: str
    text: str
    measured: str
    met: bool | None


# -- grouping -----------------------------------------------------------------------------


def _runs(results: dict[str, Any], scenario: str, case: str | None = None) -> list[dict[str, Any]]:
    return [
        r
        for r in results.get("runs", [])
        if r["scenario"] == scenario and (case is None or r["case"] == case)
    ]


def _ok(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in runs if "error" not in r]


def _cases(results: dict[str, Any], scenario: str) -> list[str]:
    seen: dict[str, None] = {}
    for run in _runs(results, scenario):
        seen.setdefault(run["case"], None)
    return list(seen)


def _wall(results: dict[str, Any], scenario: str, case: str) -> Summary | None:
    return summarize(r["wall"] for r in _ok(_runs(results, scenario, case)))


def _rss(results: dict[str, Any], scenario: str, case: str) -> Summary | None:
    return summarize(r["peak_rss_mib"] for r in _ok(_runs(results, scenario, case)))


def _cpu(results: dict[str, Any], scenario: str, case: str) -> Summary | None:
    return summarize(r["cpu"] for r in _ok(_runs(results, scenario, case)) if "cpu" in r)


def _in_flight(runs: Iterable[dict[str, Any]]) -> Summary | None:
    return summarize(
        r["server"]["mean_in_flight"]
        for r in runs
        if r.get("server", {}).get("mean_in_flight") is not None
    )


def _statuses(runs: Iterable[dict[str, Any]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for run in runs:
        for status, count in run.get("server", {}).get("statuses", {}).items():
            total[status] = total.get(status, 0) + count
    return total


def _params(results: dict[str, Any], scenario: str) -> dict[str, Any]:
    params: dict[str, Any] = results["scenarios"][scenario]["params"]
    return params


# -- formatting ---------------------------------------------------------------------------


def _s(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if value < 10 else f"{value:.2f}" if value < 100 else f"{value:.1f}"


def _x(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.2f}x"


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def _per_s(value: float | None) -> str:
    return "n/a" if value is None else f"{_rate(value)}/s"


def _spread(summary: Summary | None) -> list[str]:
    if summary is None:
        return ["n/a", "n/a", "n/a"]
    return [_s(summary.median), _s(summary.min), _s(summary.max)]


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _failed(results: dict[str, Any], scenario: str, case: str) -> str:
    runs = _runs(results, scenario, case)
    bad = [r for r in runs if "error" in r]
    return f" (failed {len(bad)}/{len(runs)}: {bad[0]['error'][:80]})" if bad else ""


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _median(summary: Summary | None) -> float | None:
    return None if summary is None else summary.median


def describe_run(run: dict[str, Any]) -> str:
    """One line about a run, for the progress log."""
    if "error" in run:
        return f"{run['scenario']:8} {run['case']:30} #{run['repetition']} FAILED: {run['error']}"
    statuses = run.get("server", {}).get("statuses", {})
    return (
        f"{run['scenario']:8} {run['case']:30} #{run['repetition']} "
        f"{run['wall']:8.3f} s  {run['invoices']:>9,} invoices  "
        f"{run['peak_rss_mib']:6.1f} MiB  HTTP {statuses}"
    )


# -- scenario tables ----------------------------------------------------------------------


def _latency_table(results: dict[str, Any]) -> str:
    p = _params(results, "latency")
    sdk = _median(_wall(results, "latency", "official SDK"))
    rows = []
    for case in _cases(results, "latency"):
        runs = _ok(_runs(results, "latency", case))
        wall = _wall(results, "latency", case)
        concurrency = runs[0]["settings"]["concurrency"] if runs else None
        sequential = not case.startswith(("C=", "list_invoices"))
        bound = lower_bound(p["latency"], p["pages"], 1 if sequential else concurrency or 1)
        rows.append(
            [
                case + _failed(results, "latency", case),
                "1 (sequential)" if sequential else str(concurrency),
                *_spread(wall),
                _s(bound),
                _x(_ratio(_median(wall), bound)),
                _x(_ratio(sdk, _median(wall))),
                _s(_median(_in_flight(runs))),
                _s(_median(_cpu(results, "latency", case))),
                _s(_median(_rss(results, "latency", case))),
            ]
        )
    header = ["contender", "concurrency", "median s", "min s", "max s", "lower bound s",
              "vs bound", "speed-up vs SDK", "mean in flight", "client CPU s",
              "peak RSS MiB"]  # fmt: skip
    return _table(header, rows)


def _cpu_shapes(results: dict[str, Any]) -> list[str]:
    # Results from before the shape mix have no "shapes" and are all plain.
    shapes: list[str] = _params(results, "cpu").get("shapes", ["plain"])
    return shapes


def _shape_of(results: dict[str, Any], case: str) -> str:
    runs = _runs(results, "cpu", case)
    shape: str = runs[0].get("server_settings", {}).get("shapes", "plain") if runs else "plain"
    return shape


def _cpu_table(results: dict[str, Any]) -> str:
    n = _params(results, "cpu")["invoices"]
    rows = []
    for shape in _cpu_shapes(results):
        # Each shape's contenders are compared with the SDK and the ceiling on the same data.
        sdk = _rate_of(results, cpu_case("official SDK", shape), n)
        ceiling = _rate_of(results, cpu_case("in-process ceiling", shape), n)
        for case in _cases(results, "cpu"):
            if _shape_of(results, case) != shape:
                continue
            rate = _rate_of(results, case, n)
            rows.append(
                [
                    case.removesuffix(f", {shape}") + _failed(results, "cpu", case),
                    shape,
                    *_spread(_wall(results, "cpu", case)),
                    _rate(rate),
                    _x(_ratio(rate, sdk)),
                    _x(_ratio(rate, ceiling)),
                    _s(_median(_cpu(results, "cpu", case))),
                    _s(_median(_rss(results, "cpu", case))),
                ]
            )
    header = ["contender", "data", "median s", "min s", "max s", "invoices/s", "vs SDK",
              "vs ceiling", "client CPU s", "peak RSS MiB"]  # fmt: skip
    return _table(header, rows)


def _rate_of(results: dict[str, Any], case: str, invoices: int) -> float | None:
    wall = _median(_wall(results, "cpu", case))
    return None if wall is None or wall == 0 else invoices / wall


def _memory_table(results: dict[str, Any]) -> str:
    rows = []
    for case in _cases(results, "memory"):
        rss = _rss(results, "memory", case)
        wall = _wall(results, "memory", case)
        runs = _ok(_runs(results, "memory", case))
        n = runs[0]["invoices"] if runs else 0
        rows.append(
            [
                case + _failed(results, "memory", case),
                *_spread(rss),
                _s(_median(wall)),
                _rate(None if wall is None else n / wall.median),
            ]
        )
    header = ["invoices streamed", "median peak RSS MiB", "min MiB", "max MiB", "median s",
              "invoices/s"]  # fmt: skip
    return _table(header, rows)


def _governor_numbers(results: dict[str, Any]) -> tuple[float, float]:
    p = _params(results, "governor")
    minimum = quota_minimum(p["pages"], p["quota"], p["window"], p["latency"])
    with_c = quota_minimum(p["pages"], p["quota"], p["window"], p["latency"], p["concurrency"])
    return minimum, with_c


def _governor_table(results: dict[str, Any]) -> str:
    p = _params(results, "governor")
    minimum, _ = _governor_numbers(results)
    rows = []
    for case in _cases(results, "governor"):
        runs = _ok(_runs(results, "governor", case))
        wall = _wall(results, "governor", case)
        throttled = summarize(r.get("throttled", 0.0) for r in runs)
        rows.append(
            [
                case + _failed(results, "governor", case),
                str(p["pages"]),
                *_spread(wall),
                _s(minimum),
                _x(_ratio(_median(wall), minimum)),
                str(_statuses(runs).get("429", 0)),
                _s(_median(throttled)),
            ]
        )
    header = ["quota", "pages", "median s", "min s", "max s", "quota minimum s", "vs minimum",
              "429s (all runs)", "throttled s (sum over requests)"]  # fmt: skip
    return _table(header, rows)


def _digests(runs: Iterable[dict[str, Any]]) -> set[str]:
    return {r["digest"] for r in runs if r.get("digest")}


def _faults_table(results: dict[str, Any]) -> str:
    clean = _median(_wall(results, "faults", "clean"))
    reference = _digests(_ok(_runs(results, "faults", "clean")))
    rows = []
    for case in _cases(results, "faults"):
        runs = _ok(_runs(results, "faults", case))
        wall = _wall(results, "faults", case)
        injected: dict[str, int] = {}
        for run in runs:
            for kind, count in run.get("server", {}).get("faults", {}).items():
                injected[kind] = injected.get(kind, 0) + count
        requests = sum(r.get("server", {}).get("requests", 0) for r in runs)
        same = bool(runs) and _digests(runs) == reference and len(reference) == 1
        rows.append(
            [
                case + _failed(results, "faults", case),
                *_spread(wall),
                _x(_ratio(_median(wall), clean)),
                f"{sum(r.get('retries', 0) for r in runs) / max(len(runs), 1):.1f}",
                f"{sum(injected.values())} of {requests}",
                ", ".join(f"{k} {v}" for k, v in sorted(_statuses(runs).items())) or "n/a",
                "yes" if same else "NO",
            ]
        )
    header = ["server", "median s", "min s", "max s", "vs clean", "retries per run",
              "faults / requests", "statuses sent", "output identical to clean"]  # fmt: skip
    return _table(header, rows)


def _telemetry_table(results: dict[str, Any]) -> str:
    n = _params(results, "telemetry")["invoices"]
    base = TELEMETRY_CASES[0][0]
    base_wall = _median(_wall(results, "telemetry", base))
    base_cpu = _median(_cpu(results, "telemetry", base))
    rows = []
    for case in _cases(results, "telemetry"):
        wall, cpu = _wall(results, "telemetry", case), _cpu(results, "telemetry", case)
        rate = _ratio(n, _median(wall))
        hooks = _hooks_share(results, case)
        rows.append(
            [
                case + _failed(results, "telemetry", case),
                *_spread(wall),
                _per_s(rate),
                _x(_ratio(_median(wall), base_wall)),
                _s(_median(cpu)),
                _x(_ratio(_median(cpu), base_cpu)),
                "n/a" if hooks is None else f"{hooks[0] * 1e6:.1f} µs, {hooks[1]:.2%}",
            ]
        )
    header = ["OpenTelemetry", "median s", "min s", "max s", "invoices/s", "wall vs without",
              "client CPU s", "CPU vs without",
              "hooks' CPU per request, share of the walk's CPU"]  # fmt: skip
    return _table(header, rows)


_TABLES = {
    "latency": _latency_table,
    "cpu": _cpu_table,
    "memory": _memory_table,
    "governor": _governor_table,
    "faults": _faults_table,
    "telemetry": _telemetry_table,
}


# -- targets ------------------------------------------------------------------------------


def _at_most(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


def _at_least(value: float | None, limit: float) -> bool | None:
    return None if value is None else value >= limit


def _latency_targets(results: dict[str, Any]) -> list[Target]:
    p = _params(results, "latency")
    found = []
    for c, limit in ((16, LATENCY_C16_BOUND), (64, LATENCY_C64_BOUND)):
        wall = _median(_wall(results, "latency", f"C={c}"))
        bound = lower_bound(p["latency"], p["pages"], c)
        ratio = _ratio(wall, bound)
        found.append(
            Target(
                "latency",
                f"at most {limit:.2f}x the lower bound at C = {c}",
                f"{_s(wall)} s against {_s(bound)} s: {_x(ratio)}",
                _at_most(ratio, limit),
            )
        )
    sdk = _median(_wall(results, "latency", "official SDK"))
    mine = _median(_wall(results, "latency", "C=16"))
    speedup = _ratio(sdk, mine)
    found.append(
        Target(
            "latency",
            f"at C = 16, at least {LATENCY_SDK_SPEEDUP}x faster than the official SDK",
            f"{_s(mine)} s against {_s(sdk)} s: {_x(speedup)}",
            _at_least(speedup, LATENCY_SDK_SPEEDUP),
        )
    )
    return found


def _cpu_targets(results: dict[str, Any]) -> list[Target]:
    n = _params(results, "cpu")["invoices"]
    shape = CPU_TARGET_SHAPE
    mine = _rate_of(results, cpu_case("asyncinvoices (stream)", shape), n)
    sdk = _rate_of(results, cpu_case("official SDK", shape), n)
    ceiling = _rate_of(results, cpu_case("in-process ceiling", shape), n)
    vs_sdk, vs_ceiling = _ratio(mine, sdk), _ratio(mine, ceiling)
    return [
        Target(
            "cpu",
            f"on the shape mix, invoices per second at least {CPU_SDK_SPEEDUP}x the official SDK",
            f"{_per_s(mine)} against {_per_s(sdk)}: {_x(vs_sdk)}",
            _at_least(vs_sdk, CPU_SDK_SPEEDUP),
        ),
        Target(
            "cpu",
            f"on the shape mix, invoices per second at least {CPU_CEILING_SHARE}x the "
            "in-process ceiling",
            f"{_per_s(mine)} against {_per_s(ceiling)}: {_x(vs_ceiling)}",
            _at_least(vs_ceiling, CPU_CEILING_SHARE),
        ),
    ]


def _memory_targets(results: dict[str, Any]) -> list[Target]:
    cases = _cases(results, "memory")
    peaks = [_median(_rss(results, "memory", case)) for case in cases]
    largest = peaks[-1] if peaks else None
    known = [p for p in peaks if p is not None]
    flat = None
    growth_text = "n/a"
    if len(known) == len(peaks) and len(known) >= 2:
        growth = known[-1] / known[0] - 1
        flat = growth <= FLAT_GROWTH
        growth_text = f"{growth * 100:+.1f}%"
    shown = ", ".join(f"{case}: {_s(p)} MiB" for case, p in zip(cases, peaks, strict=False))
    return [
        Target(
            "memory",
            f"peak RSS under 100 MB streaming {cases[-1] if cases else 'n/a'} invoices",
            f"{_s(largest)} MiB",
            _at_most(largest, 100.0 * 1e6 / 2**20),
        ),
        Target(
            "memory",
            f"flat as the account grows (at most {FLAT_GROWTH:.0%} more from smallest to largest)",
            f"{shown} ({growth_text})",
            flat,
        ),
    ]


def _governor_targets(results: dict[str, Any]) -> list[Target]:
    cases = _cases(results, "governor")
    runs = _ok(_runs(results, "governor"))
    all_runs = _runs(results, "governor")
    rejected = _statuses(runs).get("429", 0)
    minimum, _ = _governor_numbers(results)
    wall = _median(_wall(results, "governor", cases[0])) if cases else None
    ratio = _ratio(wall, minimum)
    return [
        Target(
            "governor",
            "zero 429 responses",
            f"{rejected} in {len(runs)} runs",
            (rejected == 0) if runs and len(runs) == len(all_runs) else None,
        ),
        Target(
            "governor",
            "wall time within 10% of the minimum the quota allows",
            f"{_s(wall)} s against {_s(minimum)} s: {_x(ratio)}",
            _at_most(ratio, 1.10),
        ),
    ]


def _faults_targets(results: dict[str, Any]) -> list[Target]:
    clean = _median(_wall(results, "faults", "clean"))
    faulty = _median(_wall(results, "faults", "5% faults"))
    all_runs = _runs(results, "faults")
    runs = _ok(all_runs)
    digests = _digests(runs)
    counts = {r["invoices"] for r in runs}
    identical = bool(runs) and len(runs) == len(all_runs) and len(digests) == 1
    return [
        Target(
            "faults",
            f"at most {FAULTS_SLOWDOWN}x the clean run's wall time",
            f"{_s(faulty)} s against {_s(clean)} s: {_x(_ratio(faulty, clean))}",
            _at_most(_ratio(faulty, clean), FAULTS_SLOWDOWN),
        ),
        Target(
            "faults",
            "output identical to the clean run",
            f"{len(runs)} of {len(all_runs)} runs finished; "
            f"{len(digests)} distinct digest(s) of {', '.join(map(str, sorted(counts)))} invoices",
            identical,
        ),
    ]


def _hooks_share(results: dict[str, Any], case: str) -> tuple[float, float] | None:
    """The telemetry hooks' CPU per request, and that times the requests over the walk's CPU."""
    runs = _ok(_runs(results, "telemetry", case))
    per_request = summarize(
        r["hooks_cpu_per_request"] for r in runs if "hooks_cpu_per_request" in r
    )
    requests = summarize(r["requests"] for r in runs if "requests" in r)
    cpu = _median(_cpu(results, "telemetry", case))
    if per_request is None or requests is None or not cpu:
        return None
    return per_request.median, per_request.median * requests.median / cpu


def _telemetry_targets(results: dict[str, Any]) -> list[Target]:
    without = _median(_cpu(results, "telemetry", TELEMETRY_CASES[0][0]))
    api = _median(_cpu(results, "telemetry", TELEMETRY_CASES[1][0]))
    ratio = _ratio(api, without)
    hooks = _hooks_share(results, TELEMETRY_CASES[1][0])
    return [
        Target(
            "telemetry",
            "with the OpenTelemetry API installed and no SDK, the CPU-bound walk within "
            f"{TELEMETRY_OVERHEAD - 1:.0%} of its client CPU time without OpenTelemetry",
            f"{_s(api)} s against {_s(without)} s of CPU: {_x(ratio)}",
            _at_most(ratio, TELEMETRY_OVERHEAD),
        ),
        Target(
            "telemetry",
            "with the OpenTelemetry API installed and no SDK, the telemetry hooks of a walk's "
            f"requests at most {TELEMETRY_OVERHEAD - 1:.0%} of the walk's CPU time",
            "n/a"
            if hooks is None
            else f"{hooks[0] * 1e6:.1f} µs per request: {hooks[1]:.2%} of the walk's CPU",
            None if hooks is None else hooks[1] <= TELEMETRY_OVERHEAD - 1,
        ),
    ]


_TARGETS = {
    "latency": _latency_targets,
    "cpu": _cpu_targets,
    "memory": _memory_targets,
    "governor": _governor_targets,
    "faults": _faults_targets,
    "telemetry": _telemetry_targets,
}


def targets(results: dict[str, Any]) -> list[Target]:
    """Every target of the scenarios present in ``results``, with its verdict."""
    found: list[Target] = []
    for name in results.get("scenarios", {}):
        if name in _TARGETS:
            found += _TARGETS[name](results)
    return found


def _verdict(met: bool | None) -> str:
    return "met" if met else "**MISSED**" if met is False else "not measured"


def _targets_table(results: dict[str, Any]) -> str:
    rows = [
        [results["scenarios"][t.scenario]["title"], t.text, t.measured, _verdict(t.met)]
        for t in targets(results)
    ]
    return _table(["scenario", "target", "measured (medians)", "verdict"], rows)


# -- rendering ----------------------------------------------------------------------------


def _scenario_line(results: dict[str, Any], name: str) -> str:
    p = _params(results, name)
    reps = results["scenarios"][name]["repetitions"]
    if name == "latency":
        text = (f"{p['latency'] * 1000:g} ms per request, {p['invoices']:,} invoices at "
                f"per_page {p['per_page']} ({p['pages']} pages)")  # fmt: skip
    elif name == "cpu":
        shapes = p.get("shapes", ["plain"])
        text = (f"no added latency, {p['invoices']:,} invoices at per_page {p['per_page']}, "
                f"asyncinvoices at max_concurrency {p['concurrency']}; data "
                f"{' and '.join(shapes)}")  # fmt: skip
        if "mixed" in shapes:
            text += (
                ' (FakeCloudflare(shapes="mixed"): about a third of the invoices in the other '
                "shapes the schema allows)"
            )
    elif name == "memory":
        text = (f"asyncinvoices streaming and discarding, per_page {p['per_page']}, "
                f"max_concurrency {p['concurrency']}")  # fmt: skip
    elif name == "governor":
        minimum, with_c = _governor_numbers(results)
        text = (f"server and client quota {p['quota']} requests per {p['window']:g} s, "
                f"{p['pages']} pages, {p['latency'] * 1000:g} ms per request, "
                f"max_concurrency {p['concurrency']}; quota minimum {_s(minimum)} s "
                f"({_s(with_c)} s with the concurrency limit)")  # fmt: skip
    elif name == "telemetry":
        text = (f"the CPU-bound walk: no added latency, {p['invoices']:,} invoices at per_page "
                f"{p['per_page']}, max_concurrency {p['concurrency']}; OpenTelemetry made "
                "unimportable, installed with no SDK configured (the library's spans and "
                "instruments are the API's no-op ones), and an SDK recording every span "
                "(batched to an in-memory exporter) and metric point")  # fmt: skip
    else:
        text = (f"{p['fault_rate']:.0%} of requests answered 502, 503 or reset (seeded), "
                f"{p['latency'] * 1000:g} ms per request, {p['invoices']:,} invoices at "
                f"per_page {p['per_page']}, max_concurrency {p['concurrency']}")  # fmt: skip
    measured = results["scenarios"][name].get("measured")
    if measured:
        load = measured.get("load_average") or []
        text += (f"; measured on its own, started {measured['started']}, load average "
                 f"{', '.join(f'{x:.2f}' for x in load) or 'n/a'} at the start")  # fmt: skip
    return f"{text}; {reps} repetitions."


def render_tables(results: dict[str, Any]) -> str:
    """The Markdown tables of every scenario and the targets, for standard output."""
    parts = [f"# asyncinvoices benchmarks ({results.get('mode', '?')} run)"]
    if results.get("mode") == "quick":
        parts.append(
            "A quick run pages smaller accounts, so fixed start-up costs weigh more: the "
            "targets are defined for the full sizes (`python -m benchmarks`)."
        )
    for name, scenario in results.get("scenarios", {}).items():
        parts.append(f"## {scenario['title']}\n\n{_scenario_line(results, name)}\n")
        parts.append(_TABLES[name](results))
    parts.append("## Targets\n\n" + _targets_table(results))
    return "\n\n".join(parts) + "\n"


def _machine(results: dict[str, Any]) -> str:
    m = results["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    load = m.get("load_average")
    after = m.get("load_average_after")
    lines = [
        f"- CPU: {m['cpu']}, {m['cores']} cores",
        f"- System: {m['system']}, {m['python']}",
        f"- Packages: {packages}",
    ]
    if load:
        text = f"- Load average (1, 5, 15 min) at the start: {', '.join(f'{x:.2f}' for x in load)}"
        if after:
            text += f"; at the end: {', '.join(f'{x:.2f}' for x in after)}"
        lines.append(text)
    lines.append(
        f"- Run: {results.get('mode', '?')}, started {results.get('started', '?')}, "
        f"took {results.get('seconds', '?')} s"
    )
    return "\n".join(lines)


def render_docs(results: dict[str, Any], *, plot: str | None) -> str:
    """The whole of ``docs/benchmarks.md`` for ``results``.

    Args:
        results: A results dictionary as :mod:`benchmarks.suite` writes it.
        plot: The plot's path relative to ``docs/``, or None when there is none.
    """
    names = list(results.get("scenarios", {}))
    parts = [
        "# Benchmarks",
        "How fast asyncinvoices fetches an account's invoice history, against the official "
        "`cloudflare` SDK, a naive `aiohttp` loop and the in-process ceiling of its own "
        "decoding. This page is generated by `make bench` from the raw results in "
        "`benchmarks/results/latest.json`; the method and the profiling notes at the end come "
        "from `benchmarks/notes.md`. Every figure is a median of several runs, with the "
        "minimum and maximum; ratios compare runs of the same session.",
        "## Targets\n\n" + _targets_table(results),
        "## Reproducing\n\n```console\n"
        "$ make bench        # the full suite, 12 to 20 minutes on two cores\n"
        "$ make bench-quick  # smaller accounts, 2 repetitions, under 2 minutes\n"
        "$ python -m benchmarks --report benchmarks/results/latest.json  # re-render\n```",
        "## Machine\n\n" + _machine(results),
    ]
    for name in names:
        scenario = results["scenarios"][name]
        section = f"## {scenario['title']}\n\n{_scenario_line(results, name)}\n\n"
        section += _TABLES[name](results)
        if name == "latency" and plot is not None:
            section += (
                "\n\n![Wall time against max_concurrency, with the lower bound and the "
                f"official SDK]({plot})"
            )
        parts.append(section)
    if "quota" in results:
        from .quota import render

        parts.append(render(results["quota"]).strip())
    if NOTES.exists():
        parts.append(NOTES.read_text(encoding="utf-8").strip())
    return "\n\n".join(parts) + "\n"


def plot_concurrency(results: dict[str, Any], path: Path) -> bool:
    """Draw wall time against ``max_concurrency`` for the latency scenario into ``path``.

    asyncinvoices' medians with min-max bars, the lower bound as a curve, the official SDK
    and the naive loop as horizontal lines. Returns False (and draws nothing) when the
    latency scenario is missing or matplotlib is not installed.
    """
    if "latency" not in results.get("scenarios", {}):
        return False
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    p = _params(results, "latency")
    xs, medians, low, high = [], [], [], []
    for c in p["concurrencies"]:
        wall = _wall(results, "latency", f"C={c}")
        if wall is not None:
            xs.append(c)
            medians.append(wall.median)
            low.append(wall.median - wall.min)
            high.append(wall.max - wall.median)
    curve = list(range(1, max(p["concurrencies"]) + 1))
    figure, axes = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    axes.plot(
        curve,
        [lower_bound(p["latency"], p["pages"], c) for c in curve],
        color="0.5",
        linestyle="--",
        label="lower bound L x (1 + ceil((P - 1) / C))",
    )
    axes.plot(
        curve,
        [LATENCY_C16_BOUND * lower_bound(p["latency"], p["pages"], c) for c in curve],
        color="0.5",
        linestyle=":",
        label=f"{LATENCY_C16_BOUND:.2f} x lower bound (target at C = 16; "
        f"{LATENCY_C64_BOUND:.2f} x at C = 64)",
    )
    axes.errorbar(xs, medians, yerr=[low, high], marker="o", capsize=4, label="asyncinvoices")
    for case, style in (("official SDK", "-"), ("naive aiohttp", ":")):
        wall = _wall(results, "latency", case)
        if wall is not None:
            axes.axhline(wall.median, color="C3" if style == "-" else "C2", linestyle=style,
                         label=f"{case} (sequential)")  # fmt: skip
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xticks(p["concurrencies"], [str(c) for c in p["concurrencies"]])
    axes.set_xlabel("max_concurrency")
    axes.set_ylabel("wall time, s (median, min-max)")
    axes.set_title(f"{p['pages']} pages of {p['per_page']}, {p['latency'] * 1000:g} ms per request")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return True
