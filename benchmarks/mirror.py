"""Mirror against fetch, side by side: ``python -m benchmarks.mirror [--invoices N] [--postgres]``.

The question: does writing to the database slow the walk down? The target is a first
``asyncinvoices sync`` of an account taking at most 1.5 times an ``asyncinvoices fetch -o
FILE.jsonl`` of the same account, from the same server, with the same options.

FakeCloudflare runs in a process of its own (``benchmarks.serve``, no rate limit, no
latency: the CPU-bound case, where the database has the least time to hide behind the
network). Each command runs as a user runs it, in its own process, timed from start to exit
(interpreter start-up included, for both). One untimed fetch first warms the server's page
cache; then, per repetition: the fetch, a first sync into a new database, and an unchanged
re-sync of it. The last line is JSON, for scripts.

``--postgres`` also syncs into a throwaway PostgreSQL server (``tests/postgres.py``: initdb
and pg_ctl must be installed); ``--postgres-url URL`` uses an existing, empty database.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]


@contextlib.contextmanager
def _server(invoices: int, max_per_page: int) -> Iterator[dict[str, Any]]:
    command = [sys.executable, "-m", "benchmarks.serve", f"--invoices={invoices}"]
    command += [f"--max-per-page={max_per_page}", "--rate-limit=off"]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as p:
        assert p.stdout is not None
        assert p.stdin is not None
        try:
            yield json.loads(p.stdout.readline())
        finally:
            p.stdin.close()  # the server stops at the end of its input
            p.wait(timeout=30)


@contextlib.contextmanager
def _postgres(url: str | None, wanted: bool) -> Iterator[str | None]:
    if url is not None or not wanted:
        yield url
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.postgres import running_server

    with running_server() as server:
        yield server.create_database("bench")


def timed(command: Sequence[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def summarize(invoices: int, times: dict[str, list[float]]) -> dict[str, Any]:
    """The median of each command's runs, and each one's ratio to ``fetch``'s."""
    medians = {name: round(statistics.median(values), 2) for name, values in times.items()}
    ratios = {
        f"{name}_over_fetch": round(medians[name] / medians["fetch"], 2)
        for name in medians
        if name != "fetch"
    }
    return {"invoices": invoices, "seconds": medians, "ratios": ratios, "runs": times}


def _drop_tables(url: str) -> None:
    """Empty a PostgreSQL database for the next repetition's first sync."""
    import anyio
    import asyncpg

    from asyncinvoices._mirror.types import parse_database_url

    parsed = parse_database_url(url)

    async def drop() -> None:
        conn = await asyncpg.connect(
            host=parsed.host,
            port=parsed.port,
            user=parsed.user,
            password=parsed.password,
            database=parsed.database,
        )
        await conn.execute(
            "DROP VIEW IF EXISTS invoices_seen; DROP TABLE IF EXISTS invoices, "
            "invoice_changes, sync_runs, asyncinvoices_schema"
        )
        await conn.close()

    anyio.run(drop)


def _measure(args: argparse.Namespace, info: dict[str, Any], pg_url: str | None) -> dict[str, Any]:
    env = {**os.environ, "CLOUDFLARE_API_TOKEN": info["api_token"]}
    cli = [sys.executable, "-m", "asyncinvoices"]
    common = ["--base-url", info["base_url"], "--per-page", str(args.per_page)]
    common += ["--concurrency", str(args.concurrency), "--no-progress"]
    account = info["account_id"]
    times: dict[str, list[float]] = {"fetch": [], "sync_sqlite": [], "resync_sqlite": []}
    if pg_url:
        times |= {"sync_postgres": [], "resync_postgres": []}
    with tempfile.TemporaryDirectory(prefix="asyncinvoices-bench-") as tmp:
        output = str(Path(tmp) / "invoices.jsonl")
        timed([*cli, "fetch", account, "-o", output, *common], env)  # warms the page cache
        for repetition in range(args.repeat):
            times["fetch"].append(timed([*cli, "fetch", account, "-o", output, *common], env))
            db = f"sqlite:///{tmp}/mirror-{repetition}.db"
            sync = [*cli, "sync", account, "--db", db, *common]
            times["sync_sqlite"].append(timed(sync, env))
            times["resync_sqlite"].append(timed(sync, env))
            if pg_url:
                _drop_tables(pg_url)
                sync = [*cli, "sync", account, "--db", pg_url, *common]
                times["sync_postgres"].append(timed(sync, env))
                times["resync_postgres"].append(timed(sync, env))
    return summarize(args.invoices, times)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison and print a table and one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mirror")
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--per-page", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--postgres", action="store_true", help="also a throwaway PostgreSQL")
    parser.add_argument("--postgres-url", help="also this (empty) PostgreSQL database")
    args = parser.parse_args(argv)
    with (
        _server(args.invoices, args.per_page) as info,
        _postgres(args.postgres_url, args.postgres) as pg_url,
    ):
        result = _measure(args, info, pg_url)
    print(f"{args.invoices:,} invoices, per_page {args.per_page}, concurrency {args.concurrency}")
    for name, seconds in result["seconds"].items():
        ratio = result["ratios"].get(f"{name}_over_fetch")
        print(f"  {name:<16} {seconds:8.2f} s" + (f"   {ratio:.2f}x fetch" if ratio else ""))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
