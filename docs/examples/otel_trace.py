"""Trace a walk with OpenTelemetry and print the spans it made, as a tree.

An application configures the SDK once, at start-up, and asyncinvoices uses the global
providers. Here the spans stay in memory so the tree can be printed; a service exports them
(OTLP to a collector, Jaeger, Tempo, Honeycomb...) instead.

Run: python otel_trace.py ACCOUNT_ID   (pip install 'asyncinvoices[otel]' opentelemetry-sdk)
"""

import sys

import anyio
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from asyncinvoices import InvoiceClient

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("billing-report")


async def main(account_id: str) -> None:
    async with InvoiceClient(per_page=20) as client:
        # The application's own span: the walk's span becomes its child.
        with tracer.start_as_current_span("monthly report"):
            async with client.invoices(account_id) as stream:
                count = sum([1 async for _ in stream])
    print(f"{count} invoices\n")

    spans = exporter.get_finished_spans()
    children: dict[int | None, list] = {}
    for span in spans:
        children.setdefault(span.parent.span_id if span.parent else None, []).append(span)

    def show(span, depth: int) -> None:
        a = span.attributes
        if span.kind is trace.SpanKind.CLIENT:
            detail = (
                f"page={a['asyncinvoices.page']} status={a.get('http.response.status_code')}"
                f" ray={a.get('cloudflare.ray_id')}"
            )
            if "http.request.resend_count" in a:
                detail += f" resend={a['http.request.resend_count']}"
        elif span.name == "asyncinvoices.walk":
            detail = (
                f"invoices={a['asyncinvoices.invoices']} pages={a['asyncinvoices.pages']}"
                f" requests={a['asyncinvoices.requests']}"
            )
        else:
            detail = ""
        print(f"{'  ' * depth}{span.kind.name:<8} {span.name} {detail}".rstrip())
        kids = children.get(span.context.span_id, [])
        order = ("asyncinvoices.page", "http.request.resend_count")
        for kid in sorted(kids, key=lambda s: [s.attributes.get(k, 0) for k in order]):
            show(kid, depth + 1)

    for root in children[None]:
        show(root, 0)


anyio.run(main, sys.argv[1], backend="asyncio")
