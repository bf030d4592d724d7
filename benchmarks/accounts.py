"""Many small accounts on one quota: ``invoices_many`` against its lower bound and a loop.

``python -m benchmarks.accounts`` starts FakeCloudflare in a subprocess (this script with
``--serve``) holding 500 accounts of 0 to 3 pages each at 60 ms per response, then times:

* ``invoices_many`` over every account at concurrency C = 16;
* the lower bound: every request the walk needs, C at a time, each taking the latency:
  ``ceil(requests / C) * latency``;
* a loop of ``list_invoices`` per account, as a user without ``invoices_many`` would write.

The target is a wall time within 1.3 times the lower bound. The client's and the server's
rate limits are off: 500 accounts take about 900 requests, and both runs together would
spend more than the 1,200 of one five-minute window, which is another benchmark's subject.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import subprocess
import sys
import time
from typing import Any

from asyncinvoices import InvoiceClient
from asyncinvoices.testing import FakeCloudflare

__all__ = ["main"]

PER_PAGE = 50
# Invoices per account: 0 and 30 take one request, 80 two, 130 three.
SIZES = (0, 30, 80, 130)


def invoice_counts(accounts: int, seed: int) -> list[int]:
    """The seeded invoice count of each account."""
    draw = random.Random(seed)
    return [draw.choice(SIZES) for _ in range(accounts)]


def requests_needed(counts: list[int]) -> int:
    """Requests one walk of every account takes: an empty account still takes one."""
    return sum(max(1, math.ceil(n / PER_PAGE)) for n in counts)


async def _serve(accounts: int, latency_ms: float, seed: int) -> None:
    counts = invoice_counts(accounts, seed)
    async with FakeCloudflare(
        counts, accounts=accounts, latency=latency_ms / 1000, rate_limit=None, seed=seed
    ) as fake:
        announce = {"base_url": fake.base_url, "api_token": fake.api_token}
        print(json.dumps({**announce, "account_ids": fake.account_ids}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def _client(
    server: dict[str, Any], concurrency: int, read_ahead: int | None = None
) -> InvoiceClient:
    return InvoiceClient(
        api_token=server["api_token"],
        base_url=server["base_url"],
        max_concurrency=concurrency,
        per_page=PER_PAGE,
        rate_limit=None,
        read_ahead=read_ahead,
    )


async def _many(
    server: dict[str, Any], concurrency: int, read_ahead: int | None
) -> tuple[float, int, int]:
    async with _client(server, concurrency, read_ahead) as client:
        began = time.perf_counter()
        async with client.invoices_many(server["account_ids"]) as stream:
            invoices = sum([1 async for _ in stream])
        return time.perf_counter() - began, invoices, stream.stats.requests


async def _loop(server: dict[str, Any], concurrency: int) -> tuple[float, int]:
    async with _client(server, concurrency) as client:
        began = time.perf_counter()
        invoices = 0
        for account_id in server["account_ids"]:
            invoices += len(await client.list_invoices(account_id))
        return time.perf_counter() - began, invoices


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one JSON object of its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--latency", type=float, default=60.0, help="ms per response")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--read-ahead", type=int, default=None, help="default: the client's")
    parser.add_argument("--no-loop", action="store_true", help="skip the per-account loop")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve(args.accounts, args.latency, args.seed))
        return 0
    command = [sys.executable, "-m", "benchmarks.accounts", "--serve"]
    command += ["--accounts", str(args.accounts), "--latency", str(args.latency)]
    command += ["--seed", str(args.seed)]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as p:
        assert p.stdout is not None
        assert p.stdin is not None
        server = json.loads(p.stdout.readline())
        counts = invoice_counts(args.accounts, args.seed)
        needed = requests_needed(counts)
        bound = math.ceil(needed / args.concurrency) * args.latency / 1000
        wall, invoices, requests = asyncio.run(_many(server, args.concurrency, args.read_ahead))
        result: dict[str, Any] = {
            "accounts": args.accounts,
            "invoices": invoices,
            "requests": requests,
            "concurrency": args.concurrency,
            "latency_ms": args.latency,
            "many_s": round(wall, 3),
            "bound_s": round(bound, 3),
            "many_over_bound": round(wall / bound, 3),
        }
        if invoices != sum(counts) or requests != needed:
            raise RuntimeError(f"the walk did not fetch what the server holds: {result}")
        if not args.no_loop:
            loop_wall, loop_invoices = asyncio.run(_loop(server, args.concurrency))
            assert loop_invoices == invoices
            result["loop_s"] = round(loop_wall, 3)
            result["loop_over_many"] = round(loop_wall / wall, 2)
        p.stdin.close()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
