"""dlt into DuckDB against fetch, side by side: ``python -m benchmarks.warehouse [--invoices N]``.

The question: what does loading through dlt cost next to writing the same account to a JSON
Lines file? A first load of ``asyncinvoices.dlt.cloudflare_invoices`` into a new DuckDB
database is timed against ``asyncinvoices fetch -o FILE.jsonl`` of the same account, from the
same server, with the same page size and concurrency.

FakeCloudflare runs in a process of its own (``benchmarks.serve``, no rate limit, no latency:
the CPU-bound case). Each command runs in its own process, timed from start to exit
(interpreter start-up and imports included, for both); the load is this module's ``load``
command, which runs one ``pipeline.run`` with dlt's defaults (extract, normalize into
``insert_values`` files, load), its pipelines directory and data directory in a temp dir and
telemetry off. One untimed fetch first warms the server's page cache; then, per repetition:
the fetch; a first load into a new database with dlt's default load files for DuckDB
(``insert_values``) and another with ``loader_file_format="jsonl"``; and a second load of the
unchanged account into the latter (a partial walk back to the oldest invoice not final,
which in the fake's data is early in the history). The last line is JSON, for scripts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.mirror import _server, summarize, timed

__all__ = ["main"]


def load(argv: Sequence[str]) -> int:
    """One load of an account into a DuckDB file, as a user's script would run it."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.warehouse load")
    parser.add_argument("account_id")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--pipelines-dir", required=True)
    parser.add_argument("--per-page", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--loader-file-format", default=None)
    args = parser.parse_args(argv)

    import dlt

    from asyncinvoices.dlt import cloudflare_invoices

    pipeline = dlt.pipeline(
        pipeline_name="bench",
        destination=dlt.destinations.duckdb(args.database),
        pipelines_dir=args.pipelines_dir,
        dataset_name="billing",
    )
    source = cloudflare_invoices(
        [args.account_id],
        base_url=args.base_url,
        per_page=args.per_page,
        max_concurrency=args.concurrency,
        rate_limit=None,
    )
    pipeline.run(source.with_resources("invoices"), loader_file_format=args.loader_file_format)
    return 0


def _count(database: str) -> int:
    import duckdb

    with duckdb.connect(database, read_only=True) as connection:
        row = connection.sql("SELECT count(*) FROM billing.invoices").fetchone()
    assert row is not None
    return int(row[0])


def _measure(args: argparse.Namespace, info: dict[str, Any]) -> dict[str, Any]:
    cli = [sys.executable, "-m", "asyncinvoices"]
    common = ["--base-url", info["base_url"], "--per-page", str(args.per_page)]
    common += ["--concurrency", str(args.concurrency), "--no-progress"]
    account = info["account_id"]
    times: dict[str, list[float]] = {
        "fetch": [],
        "dlt_insert_values": [],
        "dlt_jsonl": [],
        "dlt_jsonl_again": [],
    }
    with tempfile.TemporaryDirectory(prefix="asyncinvoices-bench-") as tmp:
        env = {
            **os.environ,
            "CLOUDFLARE_API_TOKEN": info["api_token"],
            "DLT_DATA_DIR": str(Path(tmp) / "dlt-data"),
            "RUNTIME__DLTHUB_TELEMETRY": "false",
        }
        output = str(Path(tmp) / "invoices.jsonl")
        timed([*cli, "fetch", account, "-o", output, *common], env)  # warms the page cache
        for repetition in range(args.repeat):
            times["fetch"].append(timed([*cli, "fetch", account, "-o", output, *common], env))
            for file_format in ("insert_values", "jsonl"):
                name = f"{file_format}-{repetition}"
                database = str(Path(tmp) / f"{name}.duckdb")
                command = [sys.executable, "-m", "benchmarks.warehouse", "load", account]
                command += ["--base-url", info["base_url"], "--database", database]
                command += ["--pipelines-dir", str(Path(tmp) / f"pipelines-{name}")]
                command += ["--per-page", str(args.per_page)]
                command += ["--concurrency", str(args.concurrency)]
                command += ["--loader-file-format", file_format]
                times[f"dlt_{file_format}"].append(timed(command, env))
                loaded = _count(database)
                if loaded != args.invoices:
                    raise SystemExit(f"loaded {loaded} invoices, expected {args.invoices}")
            times["dlt_jsonl_again"].append(timed(command, env))
    return summarize(args.invoices, times)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison and print a table and one JSON line (or, with ``load``, one load)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["load"]:
        return load(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m benchmarks.warehouse")
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--per-page", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    with _server(args.invoices, args.per_page) as info:
        result = _measure(args, info)
    print(f"{args.invoices:,} invoices, per_page {args.per_page}, concurrency {args.concurrency}")
    for name, seconds in result["seconds"].items():
        ratio = result["ratios"].get(f"{name}_over_fetch")
        print(f"  {name:<18} {seconds:8.2f} s" + (f"   {ratio:.2f}x fetch" if ratio else ""))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
