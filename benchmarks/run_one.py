"""Run one contender once, in this process, and print one JSON line about it.

``python -m benchmarks.run_one '<spec as JSON>'``; the spec names the contender, the server
and the settings (see :func:`main`). The line holds the wall time, the invoices and pages
read, the peak RSS of this process (``ru_maxrss``: this process alone, not the harness nor
the server) and, when asked, a digest of every invoice in order, to prove two runs read the
same data.

Each timing (wall time, and the CPU time of this process over the same span) starts inside
the event loop, just before the client (or session) is created,
and stops after the last invoice was read; interpreter start-up and imports are not counted.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import resource
import sys
import time
from collections.abc import Iterable
from typing import Any

CONTENDERS = (
    "asyncinvoices",  # client.invoices() streamed, each invoice dropped once read
    "asyncinvoices-list",  # await client.list_invoices()
    "official-sdk",  # cloudflare.AsyncCloudflare, page by page with extra_query
    "naive-aiohttp",  # sequential aiohttp + json.loads loop, dicts kept
    "ceiling",  # ResponseDecoder over pre-fetched bodies, no HTTP
)


def _peak_rss_mib() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class _Digest:
    """An order-sensitive digest of (id, amounts, currency, created) of every invoice."""

    def __init__(self, enabled: bool) -> None:
        self._hash = hashlib.sha256() if enabled else None
        self.enabled = enabled

    def add(self, values: Iterable[object]) -> None:
        if self._hash is not None:
            self._hash.update(("\x1f".join(map(str, values)) + "\x1e").encode())

    def hexdigest(self) -> str | None:
        return None if self._hash is None else self._hash.hexdigest()


def _invoice_key(invoice: Any) -> tuple[object, ...]:
    created = invoice.created.timestamp() if invoice.created is not None else None
    return (invoice.id, invoice.amount_due, invoice.amount_paid, invoice.currency, created)


class _RefuseOpenTelemetry:
    """A meta path finder for which OpenTelemetry is not installed."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ImportError(f"{name} is made unimportable for this run")


def _otel_setup(mode: str | None) -> dict[str, Any]:
    """Prepare OpenTelemetry as ``mode`` says; return the client's provider arguments.

    Must run before asyncinvoices is imported, so that ``"absent"`` is what it finds.
    """
    if mode == "absent":
        sys.meta_path.insert(0, _RefuseOpenTelemetry())
        return {}
    if mode is None:
        return {}
    # Imported now, as an application would at start-up: imports are not timed (above).
    import asyncinvoices._http.otel  # noqa: F401

    if mode != "sdk":
        return {}
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    # As an application would: spans batched to an exporter in the background.
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return {"tracer_provider": tracer_provider, "meter_provider": meter_provider}


async def _asyncinvoices(spec: dict[str, Any], *, as_list: bool) -> dict[str, Any]:
    providers = _otel_setup(spec.get("otel"))
    from asyncinvoices import InvoiceClient, RateLimit

    digest = _Digest(spec.get("digest", False))
    rate = spec.get("rate_limit")
    started, cpu = time.perf_counter(), time.process_time()
    async with InvoiceClient(
        **providers,
        api_token=spec["api_token"],
        base_url=spec["base_url"],
        max_concurrency=spec["concurrency"],
        per_page=spec["per_page"],
        read_ahead=spec.get("read_ahead"),
        rate_limit=None if rate is None else RateLimit(requests=rate[0], window=rate[1]),
    ) as client:
        invoices: list[Any] = []
        stats = None
        if as_list:
            invoices = await client.list_invoices(spec["account_id"])
            count = len(invoices)
        else:
            count = 0
            async with client.invoices(spec["account_id"]) as stream:
                if digest.enabled:
                    async for invoice in stream:
                        count += 1
                        # Part of the consumer's work, so timed; it overlaps the requests in
                        # flight, as whatever a real consumer does with each invoice would.
                        digest.add(_invoice_key(invoice))
                else:
                    # Without a digest the key is not built: the ceiling builds none either.
                    async for _ in stream:
                        count += 1
                stats = stream.stats
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    for invoice in invoices:  # a list is digested after the timing, as for the SDK
        digest.add(_invoice_key(invoice))
    result: dict[str, Any] = {
        "wall": wall,
        "cpu": cpu,
        "invoices": count,
        "digest": digest.hexdigest(),
        "otel_loaded": any(m.startswith("opentelemetry") for m in sys.modules),
    }
    if stats is not None:
        result.update(
            pages=stats.pages,
            requests=stats.requests,
            retries=stats.retries,
            throttled=stats.throttled_seconds,
        )
    if spec.get("otel") is not None:
        result["hooks_cpu_per_request"] = _hooks_cpu_per_request(client, spec)
    return result


def _hooks_cpu_per_request(client: Any, spec: dict[str, Any]) -> float:
    """CPU seconds the telemetry hooks of one request take, measured after the walk.

    The same calls a request makes (its walk's scope makes a probe; the probe sees the
    attempt sent, answered and read), repeated in a loop: a cost too small to see in a
    walk's time on a busy machine, measured on its own. Zero when no probe is made.
    """
    from yarl import URL

    from asyncinvoices._http.counts import RequestCounts
    from asyncinvoices._http.fetcher import INVOICE_HISTORY_TEMPLATE

    scope = client._fetcher.observer.walk(spec["account_id"], "all", RequestCounts())
    url = URL(
        f"{spec['base_url']}/accounts/{spec['account_id']}/ai-gateway/billing/"
        f"invoice-history?type=all&page=2&per_page={spec['per_page']}"
    )
    headers = {"cf-ray": "4494f4043ca851c5-SJC"}
    rounds = 5_000
    started = time.process_time()
    for page in range(rounds):
        probe = scope.probe(page, INVOICE_HISTORY_TEMPLATE)
        if probe is not None:
            probe.sent(url, 0.0)
            probe.responded(200, headers)
            probe.finished()
    return (time.process_time() - started) / rounds


async def _official_sdk(spec: dict[str, Any]) -> dict[str, Any]:
    import cloudflare

    digest = _Digest(spec.get("digest", False))
    started, cpu = time.perf_counter(), time.process_time()
    # The SDK's defaults (max_retries=2, 60 s timeout), as a user of the SDK gets them.
    async with cloudflare.AsyncCloudflare(
        api_token=spec["api_token"], base_url=spec["base_url"]
    ) as client:
        invoices: list[Any] = []
        page = 1
        while True:
            response = await client.ai_gateway.billing.invoice_history(
                account_id=spec["account_id"],
                extra_query={"page": page, "per_page": spec["per_page"]},
            )
            invoices.extend(response.invoices)
            if not response.pagination.has_more:
                break
            page += 1
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    for invoice in invoices:
        # The SDK reads amounts and `created` as floats.
        digest.add((invoice.id, invoice.amount_due, invoice.amount_paid, invoice.currency))
    return {
        "wall": wall,
        "cpu": cpu,
        "invoices": len(invoices),
        "pages": page,
        "digest": digest.hexdigest(),
    }


def _headers(spec: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {spec['api_token']}", "Accept": "application/json"}


def _url(spec: dict[str, Any]) -> str:
    return f"{spec['base_url']}/accounts/{spec['account_id']}/ai-gateway/billing/invoice-history"


async def _naive_aiohttp(spec: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    started, cpu = time.perf_counter(), time.process_time()
    invoices: list[dict[str, Any]] = []
    page = 1
    async with aiohttp.ClientSession(headers=_headers(spec)) as session:
        while True:
            params = {"page": str(page), "per_page": str(spec["per_page"])}
            async with session.get(_url(spec), params=params) as response:
                response.raise_for_status()
                payload = json.loads(await response.read())
            result = payload["result"]
            invoices.extend(result["invoices"])
            if not result["pagination"]["has_more"]:
                break
            page += 1
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"wall": wall, "cpu": cpu, "invoices": len(invoices), "pages": page, "digest": None}


async def _ceiling(spec: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    from asyncinvoices._wire.protocol import ResponseDecoder

    # Fetch every body first, outside the timing.
    bodies: list[tuple[int, dict[str, str], bytes]] = []
    page = 1
    async with aiohttp.ClientSession(headers=_headers(spec)) as session:
        while True:
            params = {"type": "all", "page": str(page), "per_page": str(spec["per_page"])}
            async with session.get(_url(spec), params=params) as response:
                body = await response.read()
                bodies.append((response.status, dict(response.headers), body))
            if not json.loads(body)["result"]["pagination"]["has_more"]:
                break
            page += 1
    digest = _Digest(spec.get("digest", False))
    decoder = ResponseDecoder()
    started, cpu = time.perf_counter(), time.process_time()
    invoices: list[Any] = []
    for number, (status, headers, body) in enumerate(bodies, start=1):
        invoices.extend(decoder.decode(status, headers, body, page=number).invoices)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    for invoice in invoices:
        digest.add(_invoice_key(invoice))
    return {
        "wall": wall,
        "cpu": cpu,
        "invoices": len(invoices),
        "pages": page,
        "digest": digest.hexdigest(),
    }


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the contender ``spec["contender"]`` once and return what it measured."""
    contender = spec["contender"]
    if contender == "asyncinvoices":
        return await _asyncinvoices(spec, as_list=False)
    if contender == "asyncinvoices-list":
        return await _asyncinvoices(spec, as_list=True)
    if contender == "official-sdk":
        return await _official_sdk(spec)
    if contender == "naive-aiohttp":
        return await _naive_aiohttp(spec)
    if contender == "ceiling":
        return await _ceiling(spec)
    raise SystemExit(f"unknown contender {contender!r}; one of {', '.join(CONTENDERS)}")


def main(argv: list[str] | None = None) -> int:
    """Run the spec given as the one argument and print the result as one JSON line.

    The spec's keys: ``contender``, ``base_url``, ``account_id``, ``api_token``,
    ``per_page``, ``concurrency``, ``rate_limit`` (``[requests, window]`` or null),
    ``digest`` (whether to hash every invoice) and, optionally, ``profile``: a file to
    write a cProfile of the run to (``python -m pstats FILE`` reads it).
    """
    args = sys.argv[1:] if argv is None else argv
    spec = json.loads(args[0])
    if spec.get("profile"):
        import cProfile

        with cProfile.Profile() as profiler:
            result = asyncio.run(run(spec))
        profiler.dump_stats(spec["profile"])
    else:
        result = asyncio.run(run(spec))
    result["peak_rss_mib"] = _peak_rss_mib()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
