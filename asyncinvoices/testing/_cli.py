"""Run FakeCloudflare as a standalone server: ``python -m asyncinvoices.testing``.

The benchmark harness starts it in a subprocess with ``--json`` and reads the first line of
stdout (one JSON object: base_url, account_id, api_token, api_email, api_key, pid), so that
line is flushed as soon as the server listens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, TextIO

import anyio
import anyio.abc
from aiohttp import web

from ._data import HISTORIES, ORDERS, History, Order
from ._server import FakeCloudflare
from ._shapes import SHAPES, Shapes

__all__ = ["main", "parse_rate_limit", "serve"]

_FORGET_SECONDS = 60.0

logger = logging.getLogger("asyncinvoices.testing")


def parse_rate_limit(text: str) -> tuple[int, float] | None:
    """Parse ``Q/W`` (e.g. ``1200/300``) into ``(requests, window_seconds)``; ``off`` is None.

    Args:
        text: The ``--rate-limit`` argument.

    Raises:
        argparse.ArgumentTypeError: If the text is not ``Q/W`` with Q >= 1 and W > 0.
    """
    if text.lower() in ("off", "none", "0"):
        return None
    quota, _, window = text.partition("/")
    try:
        parsed = int(quota), float(window or "300")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected REQUESTS/SECONDS, got {text!r}") from None
    if parsed[0] < 1 or parsed[1] <= 0:
        raise argparse.ArgumentTypeError(f"expected REQUESTS >= 1 and SECONDS > 0, got {text!r}")
    return parsed


async def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    invoices: int = 50_000,
    seed: int = 0,
    latency: float = 0.0,
    jitter: float = 0.0,
    rate_limit: tuple[int, float] | None = (1200, 300.0),
    max_per_page: int = 100,
    shapes: Shapes = "plain",
    accounts: int = 1,
    history: History = "uniform",
    order: Order = "newest",
    json_output: bool = False,
    out: TextIO | None = None,
    task_status: anyio.abc.TaskStatus[dict[str, Any]] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Run a FakeCloudflare until cancelled (or SIGTERM / SIGINT), announcing it on ``out``.

    Args:
        host: Interface to listen on.
        port: Port; 0 picks a free one.
        invoices: Invoices of the default account.
        seed: Seed of all data and credentials.
        latency: Seconds added to every response.
        jitter: Seconds of seeded uniform variation around the latency.
        rate_limit: ``(requests, window_seconds)`` or None for no limit.
        max_per_page: Largest accepted ``per_page``.
        shapes: ``"plain"`` or ``"mixed"`` invoice shapes (see `FakeCloudflare`).
        accounts: How many accounts, each with ``invoices`` invoices.
        history: ``"uniform"`` or ``"realistic"`` (see `FakeCloudflare`).
        order: ``"newest"`` first, as Cloudflare lists, or ``"oldest"`` first.
        json_output: Announce with one JSON line instead of human-readable lines.
        out: Where to announce; standard output by default.
        task_status: Set by ``await task_group.start(serve, ...)``, which then returns the
            announced details (base_url, account_id, account_ids, credentials, pid) once
            the server listens.
    """
    out = sys.stdout if out is None else out
    fake = FakeCloudflare(
        invoices,
        seed=seed,
        latency=latency,
        jitter=jitter,
        rate_limit=rate_limit,
        max_per_page=max_per_page,
        shapes=shapes,
        accounts=accounts,
        history=history,
        order=order,
        host=host,
        port=port,
    )
    tally = _Tally()
    fake.app.middlewares.append(tally.middleware)
    stop = asyncio.Event()
    try:
        with _stop_on_signals(stop.set):
            async with fake:
                tally.listening = True
                info = _announce(fake, invoices, json_output, out)
                task_status.started(info)
                async with anyio.create_task_group() as group:
                    group.start_soon(_forget_records, fake)
                    await stop.wait()
                    group.cancel_scope.cancel()
    finally:
        if tally.listening:
            _report_served(tally.served, json_output, out)


class _Tally:
    """Counts every request that reaches the server, at the wire, for as long as it serves
    (the fake's own records are cleared now and then), and logs each one at INFO."""

    def __init__(self) -> None:
        self.served = 0
        self.listening = False

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.served += 1
        number = self.served
        status = "dropped"  # a reset or a disconnect answers nothing
        try:
            response = await handler(request)
            status = str(response.status)
            return response
        finally:
            # The path and query only: the credentials are in the headers, never logged.
            logger.info(
                "fake server: request %d: %s %s -> %s", number, request.method, request.path_qs,
                status,
            )  # fmt: skip


def _report_served(served: int, json_output: bool, out: TextIO) -> None:
    """Say how many requests the server answered in all, so that a client's count can be
    checked against it: in the log, and on ``out`` unless it carries the one JSON line."""
    noun = "request" if served == 1 else "requests"
    logger.info("fake server: stopped after serving %d %s", served, noun)
    if not json_output:
        with contextlib.suppress(OSError, ValueError):
            print(f"FakeCloudflare stopped; it served {served:,} {noun}.", file=out, flush=True)


@contextlib.contextmanager
def _stop_on_signals(stop: Callable[[], object]) -> Iterator[None]:
    """Call ``stop`` on SIGTERM and SIGINT while the block runs, where the loop allows."""
    loop = asyncio.get_running_loop()
    installed = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        # Not available on Windows or outside the main thread; Ctrl-C then arrives as
        # KeyboardInterrupt, which `main` handles.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop)
            installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def _announce(
    fake: FakeCloudflare, invoices: int, json_output: bool, out: TextIO
) -> dict[str, Any]:
    """Print where the server listens and with which credentials; return the details."""
    info: dict[str, Any] = {
        "base_url": fake.base_url,
        "account_id": fake.account_id,
        "account_ids": fake.account_ids,
        "api_token": fake.api_token,
        "api_email": fake.api_email,
        "api_key": fake.api_key,
        "pid": os.getpid(),
    }
    others = len(fake.account_ids) - 1
    more = f" (and {others} more: GET /accounts)" if others else ""
    accounts = len(fake.account_ids)
    # The invoices of every account, not of one: 40 accounts of 1,000 serve 40,000.
    served = f"{invoices * accounts:,} invoices"
    served += " in 1 account" if accounts == 1 else f": {accounts:,} accounts of {invoices:,}"
    if json_output:
        print(json.dumps(info), file=out, flush=True)
    else:
        print(
            f"FakeCloudflare serving {served}\n"
            f"  base URL    {info['base_url']}\n"
            f"  account id  {info['account_id']}{more}\n"
            f"  API token   {info['api_token']}\n"
            f"  legacy      X-Auth-Email: {info['api_email']}\n"
            f"              X-Auth-Key: {info['api_key']}\n"
            "Press Ctrl-C to stop.",
            file=out,
            flush=True,
        )
    return info


async def _forget_records(fake: FakeCloudflare) -> None:
    """Clear the request records now and then: nobody reads them in a standalone server,
    and a long benchmark session would otherwise keep millions of them."""
    while True:
        await anyio.sleep(_FORGET_SECONDS)
        fake.reset_counters()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m asyncinvoices.testing",
        description="Serve a fake Cloudflare AI Gateway invoice-history endpoint on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: a free one)")
    parser.add_argument("--invoices", type=int, default=50_000, help="invoices (default 50000)")
    parser.add_argument("--latency", type=_seconds, default=0.0, help="added latency, ms")
    parser.add_argument("--jitter", type=_seconds, default=0.0, help="latency jitter, +- ms")
    parser.add_argument("--seed", type=int, default=0, help="seed of all data (default 0)")
    parser.add_argument(
        "--rate-limit",
        type=parse_rate_limit,
        default=(1200, 300.0),
        metavar="Q/W",
        help="at most Q requests in any W seconds (default 1200/300; 'off' disables)",
    )
    parser.add_argument("--max-per-page", type=int, default=100, help="largest per_page")
    parser.add_argument(
        "--accounts", type=int, default=1, help="accounts, each with --invoices (default 1)"
    )
    parser.add_argument(
        "--shapes",
        choices=SHAPES,
        default="plain",
        help="invoice shapes: plain, or mixed (every shape the schema allows; default plain)",
    )
    parser.add_argument(
        "--history",
        choices=HISTORIES,
        default="uniform",
        help="uniform (the default), or realistic: three years, most invoices paid within "
        "days, the open ones recent",
    )
    parser.add_argument(
        "--order",
        choices=ORDERS,
        default="newest",
        help="list newest first (the default, as Cloudflare) or oldest first",
    )
    parser.add_argument(
        "--json", dest="json_output", action="store_true", help="print one JSON line and serve"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and serve until interrupted; return the exit status.

    Args:
        argv: Command-line arguments without the program name; ``sys.argv[1:]`` if None.
    """
    # The parser's destinations are serve()'s keywords, in seconds already.
    options = vars(_parser().parse_args(argv))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(**options))
    return 0


def _seconds(milliseconds: str) -> float:
    """Read a ``--latency`` or ``--jitter`` given in milliseconds, as seconds.

    Raises:
        argparse.ArgumentTypeError: If the text is not a number from 0 to ten minutes.
    """
    try:
        value = float(milliseconds)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected milliseconds, got {milliseconds!r}") from None
    if not 0 <= value < 600_000:
        raise argparse.ArgumentTypeError(f"expected 0 to 600000 ms, got {milliseconds}")
    return value / 1000
