"""What went on the wire, counted: by one call of the transport (:class:`WireTally`) and for
one walk or one client (:class:`RequestCounts`). Below the transport, the fetcher and the
telemetry, which all read these counts."""

from __future__ import annotations

import attrs

__all__ = [
    "RequestCounts",
    "WireTally",
]


@attrs.define
class WireTally:
    """What one call of :meth:`Transport.get` put on the wire, filled in as it goes.

    Attributes:
        attempts: Requests that went on the wire, aiohttp's own re-sends included.
        throttled: Seconds the gate held those attempts back.
    """

    attempts: int = 0
    throttled: float = 0.0


@attrs.define
class RequestCounts:
    """Requests sent on behalf of one walk (or one client), as the wire saw them.

    Attributes:
        requests: Requests that went on the wire, retries and silent re-sends included.
        retries: Those that repeated an earlier attempt.
        throttled_seconds: Seconds the rate limit held them back.
    """

    requests: int = 0
    retries: int = 0
    throttled_seconds: float = 0.0

    def add(self, tally: WireTally, *, retry: bool) -> None:
        """Count what one call of the transport put on the wire."""
        self.requests += tally.attempts
        # Every attempt of a retry repeats an earlier one; of a first try, all but the first.
        self.retries += tally.attempts if retry else max(0, tally.attempts - 1)
        self.throttled_seconds += tally.throttled
