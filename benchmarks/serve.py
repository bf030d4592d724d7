"""FakeCloudflare in a process of its own, with seeded faults and a stats channel on stdin.

``python -m benchmarks.serve --invoices N ...`` prints one JSON line (base_url, account_id,
api_token, pid) as soon as it listens. Then each line read on stdin is a command:

* ``stats``: print one JSON line with the statuses sent, the faults injected and the peak
  of requests in flight since the last ``stats``, then forget those records;
* end of input (the harness went away): stop.

The standalone ``python -m asyncinvoices.testing`` has no fault options and no way to ask
how many 429s it sent, which the faults and rate-governor scenarios need.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import os
import statistics
import sys
import threading
from collections.abc import Sequence

from asyncinvoices.testing import FakeCloudflare, Fault
from asyncinvoices.testing import _server as fake_server
from asyncinvoices.testing._shapes import SHAPES

__all__ = ["fault_set", "main"]


def fault_set(rate: float) -> list[Fault]:
    """The faults of the faults scenario: ``rate`` of requests get 502, 503 or a reset.

    The three kinds are equally likely. Only the first matching fault shapes a response and
    each draws independently, so each gets the probability ``p`` with
    ``1 - (1 - p) ** 3 == rate``.
    """
    if rate <= 0:
        return []
    p = 1.0 - (1.0 - rate) ** (1.0 / 3.0)
    return [
        Fault.status(502, probability=p),
        Fault.status(503, probability=p),
        Fault.reset(probability=p),
    ]


def _median_ms(values: list[float]) -> float | None:
    return round(statistics.median(values) * 1000, 3) if values else None


def _stats(fake: FakeCloudflare) -> dict[str, object]:
    records = fake.requests
    statuses = collections.Counter(str(r.status) for r in records)
    faults = collections.Counter(f.kind for f in fake.injected)
    done = [r for r in records if r.finished is not None]
    result: dict[str, object] = {
        "requests": sum(statuses.values()),
        "statuses": dict(statuses),
        "faults": dict(faults),
        "peak_in_flight": fake.peak_in_flight,
        # Arrival to last byte written, added latency included.
        "service_ms": _median_ms([r.finished - r.started for r in done if r.finished]),
    }
    if done:
        # Requests in flight on average, from the first arrival to the last response.
        span = max(r.finished or 0.0 for r in done) - min(r.started for r in done)
        result["span_s"] = round(span, 3)
        busy = sum((r.finished or 0.0) - r.started for r in done)
        result["mean_in_flight"] = round(busy / span, 2) if span > 0 else None
    if fake.peak_in_flight == 1 and len(done) > 1:
        # One request at a time: from a response's last byte to the next request's arrival
        # is the client's own time per request (reading, decoding, sending the next).
        gaps = [b.started - a.finished for a, b in itertools.pairwise(done) if a.finished]
        result["client_gap_ms"] = _median_ms(gaps)
    fake.reset_counters()
    return result


async def _serve(args: argparse.Namespace) -> None:
    # The fake keeps 64 MiB of rendered pages; rendering a page of 1,000 invoices takes it
    # ~30 ms, three times what the client needs to decode it, so a benchmark whose pages do
    # not fit would measure the server. There is no public setting for it yet.
    setattr(fake_server, "_CACHE_BYTES", args.cache_mib * 1024 * 1024)  # noqa: B010
    rate_limit: tuple[int, float] | None = None
    if args.rate_limit is not None:
        rate_limit = (int(args.rate_limit[0]), float(args.rate_limit[1]))
    fake = FakeCloudflare(
        args.invoices,
        seed=args.seed,
        max_per_page=args.max_per_page,
        rate_limit=rate_limit,
        block_seconds=args.block,
        latency=args.latency / 1000.0,
        faults=fault_set(args.fault_rate),
        shapes=args.shapes,
    )
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str | None] = asyncio.Queue()

    def read_stdin() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(commands.put_nowait, line.strip())
        loop.call_soon_threadsafe(commands.put_nowait, None)

    async with fake:
        info = {
            "base_url": fake.base_url,
            "account_id": fake.account_id,
            "api_token": fake.api_token,
            "pid": os.getpid(),
        }
        print(json.dumps(info), flush=True)
        threading.Thread(target=read_stdin, daemon=True).start()
        while (command := await commands.get()) is not None:
            if command == "stats":
                print(json.dumps(_stats(fake)), flush=True)


def _rate_limit(text: str) -> list[float] | None:
    if text == "off":
        return None
    quota, _, window = text.partition("/")
    return [int(quota), float(window)]


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until standard input ends."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve")
    parser.add_argument("--invoices", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0, help="ms added to each response")
    parser.add_argument("--max-per-page", type=int, default=100)
    parser.add_argument("--rate-limit", type=_rate_limit, default=None, help="Q/W or off")
    parser.add_argument("--block", type=float, default=300.0, help="seconds a 429 block lasts")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shapes", choices=SHAPES, default="plain", help="shape of the data")
    parser.add_argument("--cache-mib", type=int, default=64, help="rendered pages kept, MiB")
    asyncio.run(_serve(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
