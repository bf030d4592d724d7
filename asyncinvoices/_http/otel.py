"""OpenTelemetry's side of the client's telemetry: spans and metrics through the API only.

Imported by ``observe.py`` only, and only when ``opentelemetry-api`` is installed (the
``otel`` extra). Like every instrumentation library, it takes the global tracer and meter
providers unless the client is given its own, and brings no SDK: without one configured,
the API's providers hand out non-recording spans and instruments that drop every point.

Names and attributes follow OpenTelemetry's HTTP client conventions
(https://opentelemetry.io/docs/specs/semconv/http/http-spans/ and ``http-metrics``): one
span of kind CLIENT per attempt on the wire, named ``GET {url.template}``, with
``http.request.resend_count`` on every attempt after the first, an ERROR status from status
400 up or when no response came, and the ``http.client.request.duration`` histogram in
seconds. What is Cloudflare's or this library's own is namespaced: ``cloudflare.ray_id``,
``asyncinvoices.*``.

A request's span is the child of its walk's span by an explicit parent context, not the
current one: page requests run in tasks of their own, whose context was copied from
whichever task started them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from asyncinvoices._errors import ConfigurationError
from asyncinvoices._version import __version__

from .telemetry import Observer, Probe, Produce, RequestEvent, Scope

if TYPE_CHECKING:
    from yarl import URL

    from asyncinvoices._http.counts import RequestCounts

__all__ = ["OtelObserver"]

T = TypeVar("T")

INSTRUMENTATION_NAME = "asyncinvoices"
SCHEMA_URL = "https://opentelemetry.io/schemas/1.26.0"

# The conventions' advice for http.client.request.duration (semconv, "HTTP metrics").
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)  # fmt: skip  # noqa: E501


# The client's own counters: (attribute, name, unit, description).
_COUNTERS = (
    ("requests", "asyncinvoices.requests", "{request}",
     "Requests that went on the wire, by status (or error.type)."),
    ("retries", "asyncinvoices.retries", "{request}",
     "Requests on the wire that repeated an earlier attempt."),
    ("rate_limited", "asyncinvoices.rate_limited", "{response}",
     "Responses with status 429 (Too Many Requests)."),
    ("quota_wait", "asyncinvoices.quota.wait", "s",
     "Seconds requests waited for the rate limit before they were sent."),
    ("invoices", "asyncinvoices.invoices", "{invoice}", "Invoices delivered by walks."),
)  # fmt: skip


class _Instruments:
    """The metric instruments of one meter: the conventions' duration histogram and
    :data:`_COUNTERS`."""

    requests: metrics.Counter
    retries: metrics.Counter
    rate_limited: metrics.Counter
    quota_wait: metrics.Counter
    invoices: metrics.Counter

    def __init__(self, meter: metrics.Meter) -> None:
        self.duration = meter.create_histogram(
            "http.client.request.duration",
            unit="s",
            description="Duration of HTTP client requests.",
            explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS),
        )
        for attribute, name, unit, description in _COUNTERS:
            counter = meter.create_counter(name, unit=unit, description=description)
            setattr(self, attribute, counter)


class OtelObserver(Observer):
    """Reports walks, listings and requests as spans and metrics.

    Args:
        tracer_provider: The provider to take a tracer from; ``None`` for the global one.
        meter_provider: The provider to take a meter from; ``None`` for the global one.
        on_request: Called with a :class:`RequestEvent` after each attempt, as well.

    Raises:
        ConfigurationError: A provider is not one of OpenTelemetry's.
    """

    def __init__(
        self,
        *,
        tracer_provider: object | None,
        meter_provider: object | None,
        on_request: Callable[[RequestEvent], object] | None,
    ) -> None:
        super().__init__(on_request)
        if tracer_provider is not None and not isinstance(tracer_provider, trace.TracerProvider):
            raise ConfigurationError("tracer_provider must be an OpenTelemetry TracerProvider")
        if meter_provider is not None and not isinstance(meter_provider, metrics.MeterProvider):
            raise ConfigurationError("meter_provider must be an OpenTelemetry MeterProvider")
        self.tracer = trace.get_tracer(
            INSTRUMENTATION_NAME,
            __version__,
            tracer_provider=tracer_provider,
            schema_url=SCHEMA_URL,
        )
        meter = metrics.get_meter(
            INSTRUMENTATION_NAME, __version__, meter_provider=meter_provider, schema_url=SCHEMA_URL
        )
        self.instruments = _Instruments(meter)
        self.on_request = on_request

    def walk(self, account_id: str, type: str, counts: RequestCounts) -> Scope:
        """The scope of one walk: its span's parent is the context current now."""
        return _OtelScope(
            self,
            "asyncinvoices.walk",
            {"asyncinvoices.account_id": account_id, "asyncinvoices.invoice_type": type},
            counts,
            walk=True,
        )

    def listing(self, counts: RequestCounts) -> Scope:
        """The scope of one account listing: its span's parent is the context current now."""
        return _OtelScope(self, "asyncinvoices.accounts", {}, counts, walk=False)


class _OtelScope(Scope):
    """One walk's or listing's span, and the parent of its requests' spans."""

    __slots__ = ("_attributes", "_context", "_counts", "_name", "_observer", "_walk")

    def __init__(
        self,
        observer: OtelObserver,
        name: str,
        attributes: dict[str, Any],
        counts: RequestCounts,
        *,
        walk: bool,
    ) -> None:
        super().__init__(observer.on_request)
        self._observer = observer
        self._name = name
        self._attributes = attributes
        self._counts = counts
        self._walk = walk
        # Taken where the walk was asked for (`client.invoices(...)`): the application's
        # span then is the walk's parent, whichever task later runs the walk.
        self._context = otel_context.get_current()

    def wrap(self, produce: Produce[T], *, per_page: int | None) -> Produce[T]:
        """Return ``produce`` running inside the scope's span.

        ``per_page`` is the size asked for; ``None`` (the largest the server accepts) is
        recorded at the end as the largest page the walk received.
        """
        observer, walk = self._observer, self._walk
        invoices = observer.instruments.invoices

        async def traced(emit: Callable[[T], Awaitable[None]]) -> None:
            parent = self._context
            span = observer.tracer.start_span(
                self._name,
                context=parent,
                kind=SpanKind.INTERNAL,
                attributes=(
                    self._attributes
                    if per_page is None
                    else {**self._attributes, "asyncinvoices.per_page": per_page}
                ),
            )
            self._context = trace.set_span_in_context(span, parent)
            pages = items = largest = 0

            async def counted(item: T) -> None:
                nonlocal pages, items, largest
                await emit(item)  # counted once handed over: a closed consumer took nothing
                size = len(item.invoices if walk else item.accounts)  # type: ignore[attr-defined]
                pages += 1
                items += size
                largest = max(largest, size)
                if walk and size:
                    invoices.add(size)

            try:
                await produce(counted)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                raise  # the consumer closed the stream: the walk was stopped, it did not fail
            except Exception as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
                span.set_attribute("error.type", type(exc).__name__)
                raise
            finally:
                span.set_attributes(
                    {
                        "asyncinvoices.invoices" if walk else "asyncinvoices.accounts": items,
                        "asyncinvoices.pages": pages,
                        "asyncinvoices.requests": self._counts.requests,
                    }
                )
                if per_page is None and largest:
                    span.set_attribute("asyncinvoices.per_page", largest)
                span.end()
                self._context = parent

        return traced

    def probe(self, page: int | None, template: str) -> Probe:
        """The probe of one request, whose attempts' spans are children of this scope's."""
        return Probe(page, _RequestSink(self, template), self._on_request)

    @property
    def context(self) -> otel_context.Context:
        """The context request spans start in: the scope's span once it has started."""
        return self._context

    @property
    def observer(self) -> OtelObserver:
        """The observer that made this scope."""
        return self._observer


class _RequestSink:
    """Starts and ends the span and the metric points of each attempt of one request."""

    __slots__ = ("_name", "_scope", "_template")

    def __init__(self, scope: _OtelScope, template: str) -> None:
        self._scope = scope
        self._template = template
        self._name = f"GET {template}"

    def start(
        self, url: URL, full: str, page: int | None, waited: float, resend_count: int
    ) -> tuple[trace.Span, dict[str, Any]]:
        """Start the attempt's span; return it and the attributes its metric points share."""
        common: dict[str, Any] = {
            "http.request.method": "GET",
            "server.address": url.host or "",
            "server.port": url.port or 443,
        }
        attributes: dict[str, Any] = {
            **common,
            "url.full": full,
            "url.template": self._template,
            "asyncinvoices.quota.wait": waited,
        }
        if page is not None:
            attributes["asyncinvoices.page"] = page
        if resend_count:
            attributes["http.request.resend_count"] = resend_count
        span = self._scope.observer.tracer.start_span(
            self._name, context=self._scope.context, kind=SpanKind.CLIENT, attributes=attributes
        )
        return span, common

    def end(self, state: tuple[trace.Span, dict[str, Any]], event: RequestEvent) -> None:
        """End the attempt's span and record its metric points."""
        span, common = state
        points: Mapping[str, Any] = common
        if event.status is not None or event.error_type is not None:
            points = dict(common)
            if event.status is not None:
                points["http.response.status_code"] = event.status
            if event.error_type is not None:
                points["error.type"] = event.error_type
        if span.is_recording():
            span.set_attributes(points)
            if event.ray_id is not None:
                span.set_attribute("cloudflare.ray_id", event.ray_id)
            if event.error_type is not None:
                span.set_status(Status(StatusCode.ERROR))
        span.end()
        instruments = self._scope.observer.instruments
        instruments.duration.record(event.seconds, points)
        instruments.requests.add(1, points)
        if event.resend_count:
            instruments.retries.add(1, common)
        if event.status == 429:
            instruments.rate_limited.add(1, common)
        if event.waited:
            instruments.quota_wait.add(event.waited, common)
