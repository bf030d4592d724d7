"""A FastAPI service traced end to end with OpenTelemetry.

The SDK and exporter are the application's: here OTLP to a collector. FastAPI's
instrumentation makes a span for each incoming request; asyncinvoices, with the global
providers, makes the walk's span its child, and a CLIENT span per request to Cloudflare
under the walk, with the response's status and cf-ray. So a slow or failed report shows, in
one trace, which page was slow, which was retried and what ray id Cloudflare gave it.

Run: uvicorn otel_fastapi:app
(pip install 'asyncinvoices[otel]' opentelemetry-sdk opentelemetry-exporter-otlp
opentelemetry-instrumentation-fastapi fastapi uvicorn; OTEL_EXPORTER_OTLP_ENDPOINT set)
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

from fastapi import FastAPI, Request
from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from asyncinvoices import InvoiceClient

# Once, before anything makes a span: the global providers every library uses.
resource = Resource.create({"service.name": "billing-api"})
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(tracer_provider)
reader = PeriodicExportingMetricReader(OTLPMetricExporter())
metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[reader]))


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with InvoiceClient() as client:  # takes the global providers
        app.state.invoices = client
        yield
    tracer_provider.shutdown()  # flush the last spans


app = FastAPI(lifespan=lifespan)
FastAPIInstrumentor.instrument_app(app)


@app.get("/accounts/{account_id}/due")
async def due(account_id: str, request: Request) -> dict[str, str]:
    client: InvoiceClient = request.app.state.invoices
    total: dict[str, Decimal] = {}
    # The walk's span is a child of FastAPI's span for this request, the current one here.
    async with client.invoices(account_id) as stream:
        async for invoice in stream:
            total[invoice.currency] = total.get(invoice.currency, Decimal(0)) + invoice.amount_due
    return {currency: str(amount) for currency, amount in sorted(total.items())}
