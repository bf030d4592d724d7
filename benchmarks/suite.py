"""Runs the scenarios: servers in their own processes, each run in a fresh process.

``python -m benchmarks [--quick] [--only NAME ...] [--report RESULTS.json]``: see :func:`main`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from . import quota, report
from .scenarios import Case, Scenario, ServerSpec, scenarios

__all__ = ["Server", "machine", "main", "merged", "run_case", "run_scenario"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOCS = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "_static" / "benchmarks-concurrency.png"

_PACKAGES = ("asyncinvoices", "aiohttp", "anyio", "attrs", "cattrs", "cloudflare", "httpx",
             "pydantic")  # fmt: skip
_RUN_TIMEOUT = 900.0


class Server:
    """A :mod:`benchmarks.serve` process: started on entry, stopped on exit."""

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.info: dict[str, Any] = {}
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Server:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.serve", *self.spec.argv()],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.info = json.loads(self._readline())
        return self

    def __exit__(self, *exc: object) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()  # the server stops at the end of its input
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _readline(self) -> str:
        assert self._process is not None
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the benchmark server exited before answering")
        return line

    def stats(self) -> dict[str, Any]:
        """The statuses and faults the server sent since the last call (then forgotten)."""
        assert self._process is not None
        assert self._process.stdin is not None
        self._process.stdin.write("stats\n")
        self._process.stdin.flush()
        result: dict[str, Any] = json.loads(self._readline())
        return result


def run_case(case: Case, server: Server) -> dict[str, Any]:
    """Run ``case`` once in a fresh process against ``server``; return its JSON line.

    A run that fails is returned with an ``error`` (the end of its standard error), not
    raised, so that one broken contender does not lose the rest of the suite.
    """
    spec = {
        **case.spec(),
        "base_url": server.info["base_url"],
        "account_id": server.info["account_id"],
        "api_token": server.info["api_token"],
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.run_one", json.dumps(spec)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=_RUN_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {_RUN_TIMEOUT:g} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = done.stderr.strip().splitlines()[-3:]
        return {"error": " | ".join(tail) or f"exit status {done.returncode}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _warm(server: Server, per_page: int) -> None:
    # An untimed pass over every page fills the server's cache of rendered pages.
    warm = Case(label="warm-up", contender="naive-aiohttp", server="", per_page=per_page)
    result = run_case(warm, server)
    if "error" in result:
        raise RuntimeError(f"warm-up failed: {result['error']}")
    server.stats()


def _progress(out: IO[str], text: str) -> None:
    print(text, file=out, flush=True)


def run_scenario(scenario: Scenario, *, out: IO[str] = sys.stderr) -> list[dict[str, Any]]:
    """Run every case of ``scenario`` ``repetitions`` times, interleaved; return the runs."""
    runs: list[dict[str, Any]] = []
    shared: dict[str, Server] = {}
    try:
        for key, spec in scenario.servers.items():
            if not spec.fresh_per_run:
                shared[key] = Server(spec).__enter__()
                if spec.warm:
                    per_page = max(c.per_page for c in scenario.cases if c.server == key)
                    _progress(
                        out, f"  [{scenario.name}] warming the {spec.invoices:,}-invoice server"
                    )
                    _warm(shared[key], per_page)
        for repetition in range(1, scenario.repetitions + 1):
            for case in scenario.cases:
                spec = scenario.servers[case.server]
                if spec.fresh_per_run:
                    with Server(spec) as server:
                        result = run_case(case, server)
                        result["server"] = server.stats()
                else:
                    server = shared[case.server]
                    result = run_case(case, server)
                    result["server"] = server.stats()
                run = {
                    "scenario": scenario.name,
                    "case": case.label,
                    "contender": case.contender,
                    "repetition": repetition,
                    "settings": case.spec(),
                    "server_settings": {"invoices": spec.invoices, "latency_ms": spec.latency_ms,
                                        "rate_limit": spec.rate_limit,
                                        "fault_rate": spec.fault_rate,
                                        "shapes": spec.shapes},
                    **result,
                }  # fmt: skip
                runs.append(run)
                _progress(out, "  " + report.describe_run(run))
    finally:
        for server in shared.values():
            server.__exit__(None, None, None)
    return runs


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """What the results were measured on: CPU, cores, OS, Python and package versions."""
    versions: dict[str, str] = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": versions,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def merged(latest: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``latest`` with the scenarios of ``new`` (and their runs) in place of its own.

    Each replaced scenario records when, and under what load, it was measured, since the
    run's header describes the rest.
    """
    names = set(new["scenarios"])
    measured = {
        "started": new["started"],
        "seconds": new.get("seconds"),
        "load_average": new["machine"].get("load_average"),
        "load_average_after": new["machine"].get("load_average_after"),
    }
    # In the order of `latest`, each replaced in place; a scenario it lacks comes last.
    chosen = {name: dict(latest["scenarios"][name]) for name in latest["scenarios"]}
    for name in names:
        chosen[name] = {**new["scenarios"][name], "measured": measured}
    runs = [r for r in latest["runs"] if r["scenario"] not in names] + new["runs"]
    return {**latest, "scenarios": chosen, "runs": runs}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite (or re-render a saved run), print the tables, save and render.

    Every run writes ``benchmarks/results/raw-<time>.json``. A full run (or ``--docs``)
    also writes ``benchmarks/results/latest.json``, ``docs/benchmarks.md`` and the plot.
    ``--report FILE`` renders a saved results file without running anything.
    """
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=main.__doc__)
    parser.add_argument("--quick", action="store_true", help="small accounts, 2 repetitions")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these scenarios")
    parser.add_argument("--docs", action="store_true", help="render the docs after --quick too")
    parser.add_argument("--no-docs", action="store_true", help="do not render the docs")
    parser.add_argument("--report", type=Path, metavar="FILE", help="render a saved run")
    parser.add_argument(
        "--update-latest",
        action="store_true",
        help="with --only (full size): put these scenarios' new runs into "
        "benchmarks/results/latest.json in place of their old ones, and render the docs",
    )
    args = parser.parse_args(argv)

    if args.report is not None:
        results = json.loads(args.report.read_text(encoding="utf-8"))
    else:
        chosen = [s for s in scenarios(quick=args.quick) if not args.only or s.name in args.only]
        started = time.monotonic()
        results = {
            "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "mode": "quick" if args.quick else "full",
            "machine": machine(),
            "scenarios": {s.name: {"title": s.title, "repetitions": s.repetitions,
                                   "params": s.params} for s in chosen},
            "runs": [],
        }  # fmt: skip
        for scenario in chosen:
            _progress(sys.stderr, f"{scenario.title} ({scenario.repetitions} repetitions)")
            results["runs"].extend(run_scenario(scenario))
        if not args.only or "quota" in args.only:
            _progress(sys.stderr, "Under Cloudflare's quota (requests counted at the server)")
            results["quota"] = asyncio.run(quota.run(quick=args.quick))
        results["seconds"] = round(time.monotonic() - started, 1)
        results["machine"]["load_average_after"] = (
            list(os.getloadavg()) if hasattr(os, "getloadavg") else None
        )
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        raw = RESULTS / f"raw-{stamp}.json"
        raw.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        _progress(sys.stderr, f"raw results: {raw.relative_to(ROOT)}")
        if not args.quick and not args.only:
            (RESULTS / "latest.json").write_text(raw.read_text(encoding="utf-8"))
        elif args.update_latest and not args.quick:
            latest = RESULTS / "latest.json"
            results = merged(json.loads(latest.read_text(encoding="utf-8")), results)
            latest.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")

    print(report.render_tables(results))
    if "quota" in results:
        print(quota.render(results["quota"]))
    full = results.get("mode") == "full" and set(results["scenarios"]) == {
        s.name for s in scenarios(quick=False)
    }
    if not args.no_docs and (args.docs or full):
        plotted = report.plot_concurrency(results, PLOT)
        DOCS.write_text(
            report.render_docs(results, plot=f"_static/{PLOT.name}" if plotted else None),
            encoding="utf-8",
        )
        _progress(sys.stderr, f"wrote {DOCS.relative_to(ROOT)}")
    return 0
