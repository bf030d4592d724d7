"""What a client tells the outside about its requests: OpenTelemetry, and ``on_request``.

The hooks are chosen once, when a client is made (``observer_for`` in ``observe.py``). With neither
OpenTelemetry installed nor an ``on_request`` callback, every hook is the no-op
:data:`NO_OBSERVER`: a walk's producer is left as it is, the transport gets no probe
(``probe is None``) and nothing of ``opentelemetry`` is imported. This module never imports
it; ``otel.py`` does, imported by ``observe.py`` only when it is asked for.

One :class:`Probe` follows one request of the fetcher (``PageFetcher.request``) through
every attempt that reaches the wire, the retries and aiohttp's silent re-sends included
(the transport's per-request middleware calls it once per attempt), and turns each attempt
into one :class:`RequestEvent`: a span and metric points for OpenTelemetry, a call of
``on_request``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import attrs

if TYPE_CHECKING:
    from yarl import URL

    from asyncinvoices._http.counts import RequestCounts

__all__ = [
    "NO_OBSERVER",
    "NO_SCOPE",
    "Observer",
    "Probe",
    "RequestEvent",
    "Scope",
]

T = TypeVar("T")
Produce = Callable[[Callable[[T], Awaitable[None]]], Awaitable[None]]
"""A producer: calls ``await emit(item)`` for each item (a walk's pages, a listing's)."""


@attrs.frozen(kw_only=True)
class RequestEvent:
    """One request attempt that went on the wire, as ``on_request`` receives it.

    Retries and aiohttp's silent re-sends of a request on a closed keep-alive connection
    each make their own event. Nothing in it carries a credential: they travel in headers,
    which are not recorded.

    Attributes:
        url: The full URL with its query (the API root never holds credentials).
        page: The page asked for (of the invoice history or of the account listing).
        status: The HTTP status, or ``None`` when no response came (see ``error_type``).
        error_type: ``None`` for a response below 400; else the status as text (``"429"``)
            or the class of the failure (``"ServerDisconnectedError"``, ``"TimeoutError"``).
        ray_id: Cloudflare's ``cf-ray`` header, what Cloudflare support asks for.
        seconds: From the attempt's start on the wire to its last byte, or its failure.
        waited: Seconds the attempt waited for the rate limit before it was sent.
        resend_count: 0 for the first attempt of a request, then 1, 2, ... for each retry
            or re-send of it (OpenTelemetry's ``http.request.resend_count``).
    """

    url: str
    page: int | None
    status: int | None
    error_type: str | None
    ray_id: str | None
    seconds: float
    waited: float
    resend_count: int


class RequestSink(Protocol):
    """Where a probe starts and ends the OpenTelemetry side of an attempt (``_http/otel.py``)."""

    def start(self, url: URL, full: str, page: int | None, waited: float, resend_count: int) -> Any:
        """Start an attempt (``full`` is ``str(url)``); return what :meth:`end` needs."""

    def end(self, state: Any, event: RequestEvent) -> None:
        """End the attempt started as ``state``."""


class Probe:
    """Follows one request through each of its attempts on the wire.

    The transport calls :meth:`sent` when an attempt is admitted onto the wire,
    :meth:`responded` when its headers arrive, and :meth:`finished` once its body is read,
    or :meth:`failed` when it fails at any point (only the first end of an attempt counts).

    Args:
        page: The page asked for.
        sink: OpenTelemetry's side, or ``None``.
        on_request: The application's callback, or ``None``.
    """

    __slots__ = (
        "_on_request",
        "_page",
        "_ray_id",
        "_sink",
        "_start",
        "_state",
        "_status",
        "_url",
        "_url_text",
        "_waited",
        "attempts",
    )

    def __init__(
        self,
        page: int | None,
        sink: RequestSink | None,
        on_request: Callable[[RequestEvent], object] | None,
    ) -> None:
        self._page = page
        self._sink = sink
        self._on_request = on_request
        self._start: float | None = None
        self._url: URL | None = None
        self._url_text = ""
        self._state: Any = None
        self._status: int | None = None
        self._ray_id: str | None = None
        self._waited = 0.0
        self.attempts = 0
        """Attempts ended so far: the next one's ``resend_count``."""

    def sent(self, url: URL, waited: float) -> None:
        """An attempt was admitted onto the wire after ``waited`` seconds for the quota."""
        self._url = url
        self._url_text = str(url)
        self._waited = waited
        self._status = self._ray_id = None
        if self._sink is not None:
            self._state = self._sink.start(url, self._url_text, self._page, waited, self.attempts)
        self._start = time.perf_counter()

    def responded(self, status: int, headers: Mapping[str, str]) -> None:
        """The attempt's status line and headers arrived."""
        self._status = status
        self._ray_id = headers.get("cf-ray")

    def finished(self) -> None:
        """The attempt's body was read: it ends as its status says."""
        self._end(None)

    def failed(self, error: BaseException) -> None:
        """The attempt failed (no response, or its body was cut off or refused)."""
        self._end(error)

    def _end(self, error: BaseException | None) -> None:
        start = self._start
        if start is None or self._url is None:
            return  # already ended: the error is only passing through another layer
        self._start = None
        status = self._status
        error_type: str | None
        if error is not None and (status is None or status < 400):
            error_type = type(error).__name__
        else:
            error_type = str(status) if status is not None and status >= 400 else None
        event = RequestEvent(
            url=self._url_text,
            page=self._page,
            status=status,
            error_type=error_type,
            ray_id=self._ray_id,
            seconds=time.perf_counter() - start,
            waited=self._waited,
            resend_count=self.attempts,
        )
        self.attempts += 1
        if self._sink is not None:
            self._sink.end(self._state, event)
            self._state = None
        if self._on_request is not None:
            self._on_request(event)


class Scope:
    """Where the requests of one walk or one listing are reported: the no-op form.

    The OpenTelemetry form (``_http/otel.py``) opens a span for the walk while its producer runs
    and makes each request's span a child of it.
    """

    __slots__ = ("_on_request",)

    def __init__(self, on_request: Callable[[RequestEvent], object] | None = None) -> None:
        self._on_request = on_request

    def wrap(self, produce: Produce[T], *, per_page: int | None) -> Produce[T]:
        """Return ``produce`` as it runs inside this scope (here: ``produce`` itself)."""
        return produce

    def probe(self, page: int | None, template: str) -> Probe | None:
        """Return the probe of one request, or ``None`` when nothing observes it.

        Args:
            page: The page asked for.
            template: The path below the API root with its placeholders, e.g.
                ``/accounts/{account_id}/ai-gateway/billing/invoice-history``.
        """
        if self._on_request is None:
            return None
        return Probe(page, None, self._on_request)


NO_SCOPE = Scope()
"""The scope of a client that nothing observes."""


class Observer:
    """Makes the scopes of a client's walks and listings: the no-op form.

    Args:
        on_request: Called with a :class:`RequestEvent` after each attempt on the wire.
    """

    def __init__(self, on_request: Callable[[RequestEvent], object] | None = None) -> None:
        self._on_request = on_request
        self._scope = NO_SCOPE if on_request is None else Scope(on_request)

    def walk(self, account_id: str, type: str, counts: RequestCounts) -> Scope:
        """The scope of one walk over ``account_id``'s invoices of ``type``.

        Args:
            account_id: The account walked.
            type: The invoice type filter.
            counts: The walk's request counts, read when the walk ends.
        """
        return self._scope

    def listing(self, counts: RequestCounts) -> Scope:
        """The scope of one account listing; ``counts`` as for :meth:`walk`."""
        return self._scope


NO_OBSERVER = Observer()
"""The observer of a client without OpenTelemetry and without ``on_request``."""
