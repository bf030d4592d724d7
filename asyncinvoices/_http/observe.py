"""Choosing a client's observer, once per client: OpenTelemetry's (``otel.py``) when it is
installed, imported only then, or the no-op one of ``telemetry.py``. Kept apart from both so
that neither imports the other's way back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asyncinvoices._errors import ConfigurationError

from .telemetry import NO_OBSERVER, Observer, RequestEvent

__all__ = [
    "observer_for",
]

_OTEL: list[Any] = []  # the `_otel` module once imported, or None when it cannot be


def _otel_module() -> Any:
    # Tried once per process: OpenTelemetry is either installed or not.
    if not _OTEL:
        try:
            from . import otel as _otel
        except ImportError:
            _OTEL.append(None)
        else:
            _OTEL.append(_otel)
    return _OTEL[0]


def observer_for(
    *,
    tracer_provider: object | None,
    meter_provider: object | None,
    on_request: Callable[[RequestEvent], object] | None,
) -> Observer:
    """Choose a client's observer: OpenTelemetry's when it is installed, else the no-op one.

    Args:
        tracer_provider: OpenTelemetry's tracer provider; ``None`` for the global one.
        meter_provider: OpenTelemetry's meter provider; ``None`` for the global one.
        on_request: Called with a :class:`RequestEvent` after each attempt on the wire.

    Raises:
        ConfigurationError: A provider was given but ``opentelemetry-api`` is not installed,
            or ``on_request`` is not callable.
    """
    if on_request is not None and not callable(on_request):
        raise ConfigurationError("on_request must be callable")
    otel = _otel_module()
    if otel is None:
        if tracer_provider is not None or meter_provider is not None:
            raise ConfigurationError(
                "tracer_provider and meter_provider need OpenTelemetry: "
                "pip install 'asyncinvoices[otel]'"
            )
        return NO_OBSERVER if on_request is None else Observer(on_request)
    observer: Observer = otel.OtelObserver(
        tracer_provider=tracer_provider, meter_provider=meter_provider, on_request=on_request
    )
    return observer
