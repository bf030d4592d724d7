"""Telemetry: the OpenTelemetry spans and metrics of walks, listings and requests; on_request.

The SDK's in-memory span exporter and metric reader stand in for an application's exporters;
the requests are those a FakeCloudflare served, counted at its end of the wire.
"""

from __future__ import annotations

import collections
import functools
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from yarl import URL

from asyncinvoices import Backoff, ConfigurationError, InvoiceClient, RequestEvent, ServerError
from asyncinvoices._http.counts import RequestCounts
from asyncinvoices.testing import FakeCloudflare, Fault

pytestmark = pytest.mark.anyio

TEMPLATE = "/accounts/{account_id}/ai-gateway/billing/invoice-history"


class Telemetry:
    """An SDK tracer and meter provider whose spans and metric points stay in memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def points(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        """Each metric's points as (attributes, value or histogram count)."""
        found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        data = self.reader.get_metrics_data()
        assert data is not None
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                assert scope.scope.name == "asyncinvoices"
                for metric in scope.metrics:
                    found[metric.name] = [
                        (dict(p.attributes or {}), p.count if hasattr(p, "count") else p.value)
                        for p in metric.data.data_points
                    ]
        return found

    def dump(self) -> str:
        """Every span and metric point as JSON, to search for what must not be there."""
        data = self.reader.get_metrics_data()
        assert data is not None
        return "\n".join([*(s.to_json() for s in self.spans()), data.to_json()])


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    telemetry = Telemetry()
    yield telemetry
    telemetry.meter_provider.shutdown()
    telemetry.tracer_provider.shutdown()


def _client(fake: FakeCloudflare, otel: Telemetry, **options: Any) -> InvoiceClient:
    return InvoiceClient(
        api_token=fake.api_token,
        base_url=fake.base_url,
        rate_limit=None,
        backoff=Backoff(first=0.01),
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        **options,
    )


def _expected_requests(fake: FakeCloudflare) -> dict[tuple[int, int], Any]:
    """The served requests by (page, resend_count): the attempts of each page in order."""
    attempts: collections.Counter[int] = collections.Counter()
    expected = {}
    for record in fake.requests:
        assert record.page is not None
        expected[(record.page, attempts[record.page])] = record
        attempts[record.page] += 1
    return expected


async def test_a_walk_with_a_retried_page_makes_these_exact_spans(otel: Telemetry) -> None:
    """One walk span, a child of the application's span; one CLIENT span per attempt under it.

    Page 2 is answered 503 once and retried; page 3's connection is reset once and sent
    again. The page requests run in tasks of their own while the application's span is the
    current one: their spans still have the walk's span as parent.
    """
    faults = [Fault.status(503, page=2, attempt=1), Fault.reset(page=3, attempt=1)]
    app = otel.tracer_provider.get_tracer("app")
    async with FakeCloudflare(invoices=25, faults=faults) as fake:
        async with _client(fake, otel, per_page=10, max_concurrency=4) as client:
            with app.start_as_current_span("GET /report") as app_span:
                async with client.invoices(fake.account_id) as stream:
                    ids = [invoice.id async for invoice in stream]
    assert ids == fake.ids()
    assert [(r.page, r.status, r.fault) for r in sorted(fake.requests, key=lambda r: r.page)] == [
        (1, 200, None),
        (2, 503, "status"),
        (2, 200, None),
        (3, 0, "reset"),
        (3, 200, None),
    ]
    spans = otel.spans()
    by_name = collections.Counter(s.name for s in spans)
    assert by_name == {"GET /report": 1, "asyncinvoices.walk": 1, f"GET {TEMPLATE}": 5}
    walk = next(s for s in spans if s.name == "asyncinvoices.walk")
    assert walk.kind is SpanKind.INTERNAL
    assert walk.parent is not None
    assert walk.parent.span_id == app_span.get_span_context().span_id
    assert walk.context is not None
    assert walk.context.trace_id == app_span.get_span_context().trace_id
    assert dict(walk.attributes or {}) == {
        "asyncinvoices.account_id": fake.account_id,
        "asyncinvoices.invoice_type": "all",
        "asyncinvoices.per_page": 10,
        "asyncinvoices.invoices": 25,
        "asyncinvoices.pages": 3,
        "asyncinvoices.requests": 5,
    }
    assert walk.status.status_code is StatusCode.UNSET

    url = URL(fake.base_url)
    expected = _expected_requests(fake)
    requests = [s for s in spans if s.kind is SpanKind.CLIENT]
    seen = {}
    for span in requests:
        attributes = dict(span.attributes or {})
        key = (attributes["asyncinvoices.page"], attributes.get("http.request.resend_count", 0))
        seen[key] = span
        record = expected[key]
        assert span.parent is not None
        assert span.parent.span_id == walk.context.span_id
        want: dict[str, Any] = {
            "http.request.method": "GET",
            "server.address": "127.0.0.1",
            "server.port": url.port,
            "url.full": f"{fake.base_url}/accounts/{fake.account_id}/ai-gateway/billing/"
            f"invoice-history?type=all&page={record.page}&per_page=10",
            "url.template": TEMPLATE,
            "asyncinvoices.page": record.page,
            "asyncinvoices.quota.wait": 0.0,
        }
        if key[1]:
            want["http.request.resend_count"] = key[1]
        if record.status:
            want["http.response.status_code"] = record.status
            want["cloudflare.ray_id"] = fake._ray(record.number)
        if record.status == 503:
            want["error.type"] = "503"
        if record.fault == "reset":
            want["error.type"] = "ClientOSError"
        assert attributes == want
        failed = record.status != 200
        assert span.status.status_code is (StatusCode.ERROR if failed else StatusCode.UNSET)
    assert sorted(seen) == sorted(expected)


async def test_metrics_count_the_requests_the_server_served(otel: Telemetry) -> None:
    """Requests by status, durations, retries, 429s, quota waits and invoices, as served."""
    faults = [
        Fault.status(429, retry_after=1, page=2, attempt=1),
        Fault.status(502, page=3, attempt=1),
    ]
    events: list[RequestEvent] = []
    async with FakeCloudflare(invoices=45, faults=faults) as fake:
        async with _client(
            fake, otel, per_page=10, max_concurrency=2, on_request=events.append
        ) as client:
            async with client.invoices(fake.account_id) as stream:
                ids = [invoice.id async for invoice in stream]
    assert ids == fake.ids()
    served = collections.Counter(r.status for r in fake.requests)
    assert served == {200: 5, 429: 1, 502: 1}
    points = otel.points()
    port = URL(fake.base_url).port
    base = {"http.request.method": "GET", "server.address": "127.0.0.1", "server.port": port}

    def by_status(status: int) -> dict[str, Any]:
        extra = {} if status < 400 else {"error.type": str(status)}
        return {**base, "http.response.status_code": status, **extra}

    want = sorted((json.dumps(by_status(s), sort_keys=True), n) for s, n in served.items())
    for name in ("asyncinvoices.requests", "http.client.request.duration"):
        got = sorted((json.dumps(a, sort_keys=True), v) for a, v in points[name])
        assert got == want, name
    assert points["asyncinvoices.retries"] == [(base, 2)]
    assert points["asyncinvoices.rate_limited"] == [(base, 1)]
    assert points["asyncinvoices.invoices"] == [({}, 45)]
    [(attributes, waited)] = points["asyncinvoices.quota.wait"]
    assert attributes == base
    assert waited == pytest.approx(stream.stats.throttled_seconds)
    assert waited == pytest.approx(sum(e.waited for e in events))
    assert waited > 0.5  # the 429's Retry-After of 1 s held the other requests back
    # on_request saw the same attempts, with the server's ray ids.
    assert sorted((e.page, e.status, e.ray_id) for e in events) == sorted(
        (r.page, r.status, fake._ray(r.number)) for r in fake.requests
    )


async def test_no_credential_in_any_span_attribute_event_or_metric(otel: Telemetry) -> None:
    """A failed walk, a listing and retries: the token appears nowhere in what was exported."""
    faults = [Fault.status(500, page=2)]
    async with FakeCloudflare(invoices=30, accounts=2, faults=faults) as fake:
        async with _client(fake, otel, per_page=10, max_retries=1) as client:
            async with client.accounts() as accounts:
                listed = [a.id async for a in accounts]
            with pytest.raises(ServerError, match="HTTP 500") as raised:
                await client.list_invoices(fake.account_id)
        # The legacy global key too: its key and email travel in headers only.
        async with InvoiceClient(
            api_email=fake.api_email,
            api_key=fake.api_key,
            base_url=fake.base_url,
            per_page=10,
            tracer_provider=otel.tracer_provider,
            meter_provider=otel.meter_provider,
        ) as legacy:
            first = await legacy.get_page(fake.account_id, page=1)
    assert [i.id for i in first.invoices] == fake.ids()[:10]
    assert len(listed) == 2
    assert fake.api_token not in str(raised.value)
    dump = otel.dump()
    for secret in (fake.api_token, fake.api_key, fake.api_email):
        assert secret not in dump
        assert secret[:12] not in dump
    walk = next(s for s in otel.spans() if s.name == "asyncinvoices.walk")
    assert walk.status.status_code is StatusCode.ERROR
    assert [e.name for e in walk.events] == ["exception"]
    assert dict(walk.attributes or {})["error.type"] == "ServerError"


async def test_listing_and_many_accounts_each_have_their_span(otel: Telemetry) -> None:
    """invoices_many over the listing: a listing span and one walk span per account.

    Every request span is a child of the span of the listing or walk that sent it.
    """
    async with FakeCloudflare(invoices=15, accounts=3) as fake:
        async with _client(fake, otel, per_page=10) as client:
            async with client.invoices_many() as stream:
                pairs = [(a, i.id) async for a, i in stream]
    assert len(pairs) == sum(len(fake.ids(account)) for account in fake.account_ids)
    spans = otel.spans()
    listing = [s for s in spans if s.name == "asyncinvoices.accounts"]
    walks = {
        dict(s.attributes or {})["asyncinvoices.account_id"]: s
        for s in spans
        if s.name == "asyncinvoices.walk"
    }
    assert len(listing) == 1
    assert sorted(walks) == sorted(fake.account_ids)
    parents = {s.context.span_id: s for s in [*listing, *walks.values()] if s.context}
    requests = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert len(requests) == len(fake.requests)
    for span in requests:
        assert span.parent is not None
        parent = parents[span.parent.span_id]
        template = dict(span.attributes or {})["url.template"]
        assert template == ("/accounts" if parent.name == "asyncinvoices.accounts" else TEMPLATE)
    for account_id, walk in walks.items():
        attributes = dict(walk.attributes or {})
        assert attributes["asyncinvoices.invoices"] == len(fake.ids(account_id))
        served = [r for r in fake.requests if r.account_id == account_id]
        assert attributes["asyncinvoices.requests"] == len(served)
    assert dict(listing[0].attributes or {})["asyncinvoices.accounts"] == 3


def test_a_provider_that_is_not_opentelemetrys_is_refused() -> None:
    """tracer_provider= takes an OpenTelemetry TracerProvider, nothing else."""
    with pytest.raises(ConfigurationError, match="tracer_provider must be"):
        InvoiceClient(api_token="t" * 40, tracer_provider=object())
    with pytest.raises(ConfigurationError, match="meter_provider must be"):
        InvoiceClient(api_token="t" * 40, meter_provider=object())
    with pytest.raises(ConfigurationError, match="on_request must be callable"):
        InvoiceClient(api_token="t" * 40, on_request=42)  # type: ignore[arg-type]


_WITHOUT_OTEL = textwrap.dedent(
    """
    import sys

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                raise ImportError(f"{name} is not installed here")
            return None

    sys.meta_path.insert(0, Refuse())

    import anyio
    from asyncinvoices import ConfigurationError, InvoiceClient
    from asyncinvoices.testing import FakeCloudflare

    async def main():
        events = []
        async with FakeCloudflare(invoices=25) as fake:
            async with InvoiceClient(
                api_token=fake.api_token, base_url=fake.base_url, per_page=10,
                on_request=events.append,
            ) as client:
                ids = [i.id async for i in client.invoices(fake.account_id)]
            assert ids == fake.ids()
        try:
            InvoiceClient(api_token="t" * 40, tracer_provider=object())
        except ConfigurationError as exc:
            refused = str(exc)
        loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
        print(len(ids), len(events), refused, loaded, "asyncinvoices._http.otel" in sys.modules)

    anyio.run(main, backend="asyncio")
    """
)


def test_without_opentelemetry_the_client_works_and_imports_none_of_it() -> None:
    """With opentelemetry unimportable, a walk runs, on_request still works, nothing loads."""
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_OTEL], capture_output=True, text=True, timeout=120
    )
    assert done.stderr == ""
    assert done.stdout == (
        "25 3 tracer_provider and meter_provider need OpenTelemetry: "
        "pip install 'asyncinvoices[otel]' [] False\n"
    )


def test_without_opentelemetry_no_probe_is_made() -> None:
    """The no-op observer's scopes leave the walk as it is and give the transport no probe."""
    from asyncinvoices._http.counts import RequestCounts
    from asyncinvoices._http.telemetry import NO_OBSERVER, NO_SCOPE

    scope = NO_OBSERVER.walk("0" * 32, "all", RequestCounts())
    assert scope is NO_SCOPE
    assert scope.probe(1, TEMPLATE) is None

    async def produce(emit: Any) -> None:
        raise NotImplementedError

    assert scope.wrap(produce, per_page=10) is produce


_GLOBAL_PROVIDERS = textwrap.dedent(
    """
    import anyio
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from asyncinvoices import InvoiceClient
    from asyncinvoices.testing import FakeCloudflare

    async def main():
        async with FakeCloudflare(invoices=25) as fake:
            # Made before the SDK is configured, as a module-level client would be.
            client = InvoiceClient(api_token=fake.api_token, base_url=fake.base_url, per_page=10)
            exporter = InMemorySpanExporter()
            tracer_provider = TracerProvider()
            tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
            trace.set_tracer_provider(tracer_provider)
            reader = InMemoryMetricReader()
            metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
            async with client:
                ids = [i.id async for i in client.invoices(fake.account_id)]
            served = len(fake.requests)
        names = sorted(s.name for s in exporter.get_finished_spans())
        [metric] = [
            m
            for r in reader.get_metrics_data().resource_metrics
            for s in r.scope_metrics
            for m in s.metrics
            if m.name == "asyncinvoices.requests"
        ]
        print(len(ids), served, names, sum(p.value for p in metric.data.data_points))

    anyio.run(main, backend="asyncio")
    """
)


def test_the_global_providers_are_used_even_when_set_after_the_client_was_made() -> None:
    """Without provider arguments, the API's global providers are used, as they are set later.

    Run in a process of its own: the global providers can be set once per process.
    """
    done = subprocess.run(
        [sys.executable, "-c", _GLOBAL_PROVIDERS], capture_output=True, text=True, timeout=120
    )
    assert done.stderr == ""
    span = f"GET {TEMPLATE}"
    assert done.stdout == f"25 3 {sorted(['asyncinvoices.walk', span, span, span])} 3\n"


def test_a_blocking_walks_span_is_a_child_of_the_callers_span(otel: Telemetry) -> None:
    """SyncInvoiceClient: the walk runs on the client's own thread, under the caller's span.

    anyio's portal runs each call in a copy of the calling thread's context, so the span
    current in the caller is the one the walk's scope finds.
    """
    from anyio.from_thread import start_blocking_portal

    from asyncinvoices import SyncInvoiceClient

    app = otel.tracer_provider.get_tracer("app")
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(
            portal.call(functools.partial(FakeCloudflare, invoices=25))
        ) as fake,
    ):
        with SyncInvoiceClient(
            api_token=fake.api_token,
            base_url=fake.base_url,
            per_page=10,
            tracer_provider=otel.tracer_provider,
            meter_provider=otel.meter_provider,
        ) as client:
            with app.start_as_current_span("nightly report") as app_span:
                with client.invoices(fake.account_id) as stream:
                    ids = [invoice.id for invoice in stream]
        assert ids == fake.ids()
    spans = otel.spans()
    [walk] = [s for s in spans if s.name == "asyncinvoices.walk"]
    assert walk.parent is not None
    assert walk.parent.span_id == app_span.get_span_context().span_id
    requests = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert len(requests) == 3
    assert walk.context is not None
    assert {s.parent.span_id for s in requests if s.parent} == {walk.context.span_id}


async def test_on_request_without_opentelemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    """With OpenTelemetry absent, on_request alone still sees every attempt on the wire."""
    from asyncinvoices._http import observe

    monkeypatch.setattr(observe, "_OTEL", [None])
    events: list[RequestEvent] = []
    faults = [Fault.status(502, page=2, attempt=1)]
    async with FakeCloudflare(invoices=25, faults=faults) as fake:
        async with InvoiceClient(
            api_token=fake.api_token,
            base_url=fake.base_url,
            per_page=10,
            rate_limit=None,
            backoff=Backoff(first=0.01),
            on_request=events.append,
        ) as client:
            assert client._fetcher.observer.walk("0" * 32, "all", RequestCounts()).probe(1, "")
            ids = await client.list_invoices(fake.account_id)
    assert [i.id for i in ids] == fake.ids()
    got = sorted((e.page, e.resend_count, e.status, e.error_type, e.ray_id) for e in events)
    assert got == sorted(
        (
            r.page,
            int(r.fault is None and r.page == 2),
            r.status,
            None if r.status == 200 else "502",
            fake._ray(r.number),
        )
        for r in fake.requests
    )
    assert all(e.url.startswith(f"{fake.base_url}/accounts/{fake.account_id}/") for e in events)
    assert all(e.seconds > 0 and e.waited == 0.0 for e in events)


async def test_an_attempt_cancelled_on_the_wire_ends_its_span(otel: Telemetry) -> None:
    """A stream closed while a request waits for its response: the span still ends, typed."""
    async with FakeCloudflare(invoices=25, latency=5.0) as fake:
        async with _client(fake, otel, per_page=10) as client:
            stream = client.invoices(fake.account_id)
            async with stream:
                await fake.wait_requests(1)
    [request] = [s for s in otel.spans() if s.kind is SpanKind.CLIENT]
    assert dict(request.attributes or {})["error.type"] == "CancelledError"
    assert "http.response.status_code" not in dict(request.attributes or {})
    [walk] = [s for s in otel.spans() if s.name == "asyncinvoices.walk"]
    assert dict(walk.attributes or {})["asyncinvoices.requests"] == 1
    assert walk.status.status_code is StatusCode.UNSET
