"""Processes sharing one quota, and what sharing costs: ``python -m benchmarks.shared_quota``.

Two questions:

1. **Four processes, one quota.** Four ``asyncinvoices fetch`` processes with the same token
   walk one account each against a server that enforces a quota scaled down to 60 requests
   per 5 s (a 429 blocks it for one window). Shared through Redis, they should finish within
   1.15 times the least time the quota allows, with no 429; each counting alone (``--shared-
   quota local``) they spend the quota four times over, and the server's 429s say so.
2. **The cost of sharing.** The time one request spends in the store (an admission and a
   release, 2,000 times in a row); and one process walking an account of 1,000 pages with no
   quota that binds and no latency (the case where a round trip to the store shows most),
   with the window in this process, in a file, and in Redis: the difference in wall time
   per request is what the shared quota costs a walk.

The server runs in a process of its own (``benchmarks.serve``); Redis is a throwaway
``redis-server`` on loopback (``tests/redis_server.py``). The last line is JSON, for scripts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["main"]

QUOTA, WINDOW = 60, 5.0


@contextlib.contextmanager
def _server(*options: str) -> Iterator[tuple[dict[str, Any], subprocess.Popen[str]]]:
    command = [sys.executable, "-m", "benchmarks.serve", *options]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as p:
        assert p.stdout is not None
        assert p.stdin is not None
        try:
            yield json.loads(p.stdout.readline()), p
        finally:
            p.stdin.close()  # the server stops at the end of its input
            p.wait(timeout=30)


def _stats(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write("stats\n")
    process.stdin.flush()
    result: dict[str, Any] = json.loads(process.stdout.readline())
    return result


@contextlib.contextmanager
def _redis() -> Iterator[str]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.redis_server import running_redis

    with running_redis() as server:
        yield server.url()


def _four(pages: int, store: str, key: str, processes: int) -> dict[str, Any]:
    """``processes`` fetches of ``pages`` pages each, side by side; the server's statuses."""
    invoices = pages * 10
    with _server(
        f"--invoices={invoices}",
        "--latency=20",
        f"--rate-limit={QUOTA}/{WINDOW:g}",
        f"--block={WINDOW:g}",
    ) as (info, server):
        env = {**os.environ, "CLOUDFLARE_API_TOKEN": info["api_token"]}
        command = [
            sys.executable, "-m", "asyncinvoices", "fetch", info["account_id"],
            "--base-url", info["base_url"], "--rate-limit", f"{QUOTA}/{WINDOW:g}",
            "--per-page", "10", "--format", "jsonl", "-q",
            "--shared-quota", store, "--quota-key", key,
        ]  # fmt: skip
        start = time.perf_counter()
        running = [
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            for _ in range(processes)
        ]
        outputs = [p.communicate()[0] for p in running]
        elapsed = time.perf_counter() - start
        codes = [p.returncode for p in running]
        stats = _stats(server)
    complete = all(len(out.splitlines()) == invoices for out in outputs)
    requests = processes * pages
    minimum = (math.ceil(requests / QUOTA) - 1) * WINDOW
    return {
        "processes": processes,
        "requests_needed": requests,
        "seconds": round(elapsed, 2),
        # From the first request's arrival to the last response: without the processes'
        # start-up, which the quota does not govern.
        "server_span": stats.get("span_s"),
        "minimum_seconds": minimum,
        "ratio": round((stats.get("span_s") or elapsed) / minimum, 3),
        "statuses": stats["statuses"],
        "exit_codes": codes,
        "complete": complete,
    }


def _cost(store: str, pages: int, repeats: int) -> list[float]:
    """Seconds of one process's walk of ``pages`` pages, ``repeats`` times, with ``store``."""
    import anyio

    from asyncinvoices import InvoiceClient, RateLimit

    times: list[float] = []
    with _server(f"--invoices={pages * 10}", "--rate-limit=off") as (info, _):

        async def walk(key: str) -> float:
            async with InvoiceClient(
                api_token=info["api_token"],
                base_url=info["base_url"],
                per_page=10,
                rate_limit=RateLimit(requests=1_000_000, window=1.0),
                shared_quota=store,
                quota_key=key,
            ) as client:
                start = time.perf_counter()
                count = 0
                async for _ in client.invoices(info["account_id"]):
                    count += 1
                elapsed = time.perf_counter() - start
            assert count == pages * 10
            return elapsed

        anyio.run(walk, "warm-up")  # the server renders and caches every page, untimed
        for n in range(repeats):
            times.append(anyio.run(walk, f"cost-{n}"))
    return times


def _round_trips(store_url: str, count: int) -> float:
    """Microseconds one request spends in the store: one admission and one release."""
    import anyio

    from asyncinvoices._http.quota import Admission
    from asyncinvoices._http.quota_stores import open_store

    async def run() -> float:
        store = open_store(store_url, "round-trips")
        assert store is not None
        try:
            start = time.perf_counter()
            for n in range(count):
                ask = Admission(token=f"t{n}", quota=1_000_000, window=1.0, lease=31.0)
                assert (await store.admit(ask)).admitted
                await store.release(f"t{n}")
            return (time.perf_counter() - start) / count * 1e6
        finally:
            await store.aclose()

    return anyio.run(run)


def main(argv: list[str] | None = None) -> int:
    """Run both measurements and print their table, then one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.shared_quota")
    parser.add_argument("--pages", type=int, default=75, help="pages per process (default 75)")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--cost-pages", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-cost", action="store_true", help="only the four processes")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    with _redis() as redis_url, tempfile.TemporaryDirectory() as directory:
        results["shared_redis"] = _four(args.pages, redis_url, "four", args.processes)
        results["shared_file"] = _four(args.pages, Path(directory).as_uri(), "four", args.processes)
        results["each_alone"] = _four(args.pages, "local", "alone", args.processes)
        cost: dict[str, list[float]] = {"local": [1.0], "file": [1.0], "redis": [1.0]}
        if args.no_cost:
            args.cost_pages = 1
        for name, store in (
            ("local", "local"),
            ("file", Path(directory).as_uri()),
            ("redis", redis_url),
        ):
            if not args.no_cost:
                cost[name] = _cost(store, args.cost_pages, args.repeats)
                if name != "local":
                    results[f"round_trips_{name}_us"] = round(_round_trips(store, 2000), 1)
    base = statistics.median(cost["local"])
    results["cost"] = {
        name: {
            "seconds": [round(t, 3) for t in times],
            "per_request_us": round((statistics.median(times) - base) / args.cost_pages * 1e6, 1),
        }
        for name, times in cost.items()
    }
    for name in ("shared_redis", "shared_file", "each_alone"):
        row = results[name]
        print(
            f"{name:<13} {row['processes']} processes, {row['requests_needed']} requests: "
            f"{row['seconds']:.2f} s, {row['server_span']:.2f} s at the server "
            f"({row['ratio']:.2f}x the least {row['minimum_seconds']:g} s), "
            f"statuses {row['statuses']}, exit codes {row['exit_codes']}"
        )
    for name in ("file", "redis"):
        if f"round_trips_{name}_us" in results:
            print(
                f"store {name:<5} one admission and one release: "
                f"{results[f'round_trips_{name}_us']:.0f} µs"
            )
    for name, row in results["cost"].items():
        print(
            f"cost {name:<6} median {statistics.median(row['seconds']):.3f} s for "
            f"{args.cost_pages} requests: +{row['per_request_us']:.1f} µs a request"
        )
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
