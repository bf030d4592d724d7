"""A long fuzz run of the sans-I/O protocol layer, kept outside ``make test``.

``make fuzz`` (``python -m tests.fuzz_protocol``) runs the properties of
``tests/test_reliability_protocol.py`` with many more examples and a fresh random seed each
time: any status, headers and body give an ``InvoicePage`` or an ``AsyncInvoicesError``
subclass, and the rate-limit headers parse to ``None`` or finite, non-negative values.

With ``--atheris`` (when the atheris package is installed) it runs a coverage-guided fuzzer
on raw bytes instead, for as long as atheris is told to (``-- -max_total_time=600``).

Examples::

    python -m tests.fuzz_protocol                       # 20,000 examples per property
    python -m tests.fuzz_protocol --examples 200000 --seed 7
    python -m tests.fuzz_protocol --atheris -- -max_total_time=600
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
import time
from collections.abc import Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from asyncinvoices import AsyncInvoicesError
from asyncinvoices._wire.protocol import ResponseDecoder

from .test_reliability_protocol import (
    bodies,
    check_rate_limit_headers,
    decode_outcome,
    headers,
    statuses,
)

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


def hypothesis_run(examples: int, seed: int | None) -> dict[str, int]:
    """Run both properties with ``examples`` each; return how often each outcome came."""
    outcomes: dict[str, int] = {}
    long_run = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )

    @long_run
    @given(statuses, headers(), bodies, st.integers(1, 10**6))
    def decode(status: int, head: dict[str, str], body: bytes, page: int) -> None:
        outcome = decode_outcome(status, head, body, page)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    @long_run
    @given(headers())
    def ratelimit(head: dict[str, str]) -> None:
        check_rate_limit_headers(head)

    for test in (decode, ratelimit):
        (test if seed is None else hypothesis_seed(seed)(test))()
    return outcomes


def atheris_run(argv: list[str]) -> None:  # pragma: no cover - needs atheris
    import atheris  # type: ignore[import-not-found]

    decoder = ResponseDecoder()
    content_types = ["application/json", "text/html", "", "application/problem+json"]

    def one(data: bytes) -> None:
        provider = atheris.FuzzedDataProvider(data)
        status = provider.ConsumeIntInRange(100, 599)
        head = {
            "Content-Type": content_types[provider.ConsumeIntInRange(0, 3)],
            "Retry-After": provider.ConsumeUnicodeNoSurrogates(12),
            "Ratelimit": provider.ConsumeUnicodeNoSurrogates(40),
            "Ratelimit-Policy": provider.ConsumeUnicodeNoSurrogates(40),
        }
        body = provider.ConsumeBytes(provider.remaining_bytes())
        with contextlib.suppress(AsyncInvoicesError):
            decoder.decode(status, head, body, page=1, now=NOW)

    atheris.Setup([sys.argv[0], *argv], one)
    atheris.Fuzz()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz_protocol", description=__doc__)
    parser.add_argument("--examples", type=int, default=20_000, help="per property")
    parser.add_argument("--seed", type=int, default=None, help="default: a new one each run")
    parser.add_argument("--atheris", action="store_true", help="coverage-guided, on raw bytes")
    parser.add_argument("rest", nargs="*", help="after --: arguments for atheris/libFuzzer")
    args = parser.parse_args(argv)
    if args.atheris:
        atheris_run(args.rest)
        return 0
    started = time.perf_counter()
    outcomes = hypothesis_run(args.examples, args.seed)
    elapsed = time.perf_counter() - started
    print(f"{sum(outcomes.values())} responses decoded in {elapsed:.0f} s, no foreign exception:")
    for outcome, count in sorted(outcomes.items(), key=lambda item: -item[1]):
        print(f"  {count:8d}  {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
