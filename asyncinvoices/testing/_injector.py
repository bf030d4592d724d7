"""What FakeCloudflare injects: the rate limit and its block, the faults, the latency.

The injector decides, for one request at a time and without I/O, whether it is over the
rate limit, which faults it gets and how long it waits; it keeps what that takes (the
limiter's window, how often each fault fired, how often each page was asked for) and the
record of every fault it injected. It never sees the invoices: a data fault is handed back
to the caller, who applies it to the store.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Final

from ._data import hex_digest
from ._faults import Fault, InjectedFault
from ._ratelimit import RateDecision, SlidingWindowLimiter
from ._selector import MatchContext

__all__ = ["FaultInjector"]


class FaultInjector:
    """Rate limiting, faults and latency for one server, all drawn from its seed.

    Args:
        seed: Seed of the random draws (``probability`` selectors, jitter).
        rate_limit: ``(requests, window_seconds)``, or None for no limit.
        block_seconds: How long a block lasts once the limit is exceeded.
        latency: Seconds added to every response.
        jitter: Seconds of seeded uniform variation around the latency.
        faults: The faults to inject from the start.

    Raises:
        ValueError: If the rate limit or the latency is out of range.
    """

    def __init__(
        self,
        *,
        seed: int,
        rate_limit: tuple[int, float] | None,
        block_seconds: float,
        latency: float,
        jitter: float,
        faults: Iterable[Fault],
    ) -> None:
        if latency < 0 or jitter < 0:
            raise ValueError("latency and jitter must be >= 0")
        self.seed: Final = seed
        self.latency = latency
        self.jitter = jitter
        self._limiter = (
            None if rate_limit is None else SlidingWindowLimiter(*rate_limit, block_seconds)
        )
        self._faults: list[Fault] = []
        self._fired: list[int] = []
        self._attempts: dict[Hashable, int] = {}
        self._injected: list[InjectedFault] = []
        for fault in faults:
            self.add(fault)

    # -------------------------------------------------------------- rate limit

    def admit(self, now: float) -> RateDecision | None:
        """Count a request arriving at ``now``; None when there is no rate limit."""
        return None if self._limiter is None else self._limiter.admit(now)

    def peek(self, now: float) -> RateDecision | None:
        """Describe the rate limit at ``now`` without counting a request."""
        return None if self._limiter is None else self._limiter.peek(now)

    def rate_headers(self, decision: RateDecision | None) -> dict[str, str]:
        """Return the rate-limit headers of a response (none without a rate limit)."""
        if decision is None or self._limiter is None:
            return {}
        headers = {
            # docs/cloudflare-api.md, "Rate limits": sent on every response since September 2025.
            "Ratelimit": f'"default";r={decision.remaining};t={decision.reset}',
            "Ratelimit-Policy": self._limiter.policy,
        }
        if decision.retry_after is not None:
            headers["Retry-After"] = str(decision.retry_after)
        return headers

    # ------------------------------------------------------------------ faults

    def add(self, fault: Fault) -> None:
        """Inject ``fault`` into matching requests from now on."""
        self._faults.append(fault)
        self._fired.append(0)

    @property
    def injected(self) -> list[InjectedFault]:
        """Every fault injected since the last `forget`, in order (a copy)."""
        return list(self._injected)

    def forget(self) -> None:
        """Clear the record of injected faults; ``times`` and attempts keep counting."""
        self._injected.clear()

    def inject(
        self, number: int, key: Hashable, page: int, account_id: str, *, listing: bool = False
    ) -> list[Fault]:
        """Return the faults request ``number`` gets, and record them as injected.

        Every matching data fault comes first, then the first matching response fault.
        Each one returned counts as fired (for ``times``). The account listing is offered
        only the kinds that need no invoice data, and an ``account_id`` selector never
        matches it.

        Args:
            number: The request number.
            key: What makes two requests the same page (for ``attempt``).
            page: The page asked for.
            account_id: The account in the path; empty for the listing.
            listing: Whether the request is for the account listing.
        """
        attempt = self._attempts.get(key, 0) + 1
        self._attempts[key] = attempt
        state: list[Fault] = []
        shaping: list[Fault] = []
        for index, fault in enumerate(self._faults):
            if fault.times is not None and self._fired[index] >= fault.times:
                continue
            if (shaping and not fault.changes_data) or (listing and not fault.any_endpoint):
                continue
            draw = self.unit("fault", number, index) if fault.probability is not None else 0.0
            context = MatchContext(
                request=number, page=page, attempt=attempt, account_id=account_id, draw=draw
            )
            if fault.matches(context):
                self._fired[index] += 1
                (state if fault.changes_data else shaping).append(fault)
        applied = state + shaping
        self._injected.extend(
            InjectedFault(request=number, page=page, attempt=attempt, kind=fault.kind)
            for fault in applied
        )
        return applied

    # ----------------------------------------------------------------- latency

    def delay(self, number: int) -> float:
        """Return the latency of request ``number``, jitter included."""
        if not self.jitter:
            return self.latency
        offset = (2.0 * self.unit("jitter", number) - 1.0) * self.jitter
        return max(self.latency + offset, 0.0)

    def unit(self, *parts: object) -> float:
        """Return a seeded uniform number in [0, 1) for ``parts``."""
        return int(hex_digest(self.seed, *parts, size=8), 16) / 2.0**64
