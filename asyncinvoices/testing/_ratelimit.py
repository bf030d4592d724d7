"""Cloudflare's API rate limit as an exact sliding window, with the five-minute block.

docs/cloudflare-api.md, "Rate limits" [D]: at most 1,200 requests in ANY 5-minute window;
going over blocks ALL calls for the next five minutes with 429s. "Any window" means a true
sliding window, so the limiter keeps the arrival time of every counted request (at most
``quota`` of them) instead of approximating with a token bucket, which would admit twice the
quota in the first window.

The limiter is pure: it is given the time and never reads a clock, so tests can drive it
with plain numbers.
"""

from __future__ import annotations

import math
from collections import deque

import attrs

__all__ = ["RateDecision", "SlidingWindowLimiter"]


@attrs.frozen(kw_only=True)
class RateDecision:
    """The limiter's answer for one request.

    Attributes:
        allowed: False when the request must be answered with 429.
        remaining: Requests still allowed in the current window (``r=`` of ``Ratelimit``).
        reset: Whole seconds until a slot frees, or until the block lifts (``t=``).
        retry_after: Whole seconds for ``Retry-After``; None when the request is allowed.
    """

    allowed: bool
    remaining: int
    reset: int
    retry_after: int | None


class SlidingWindowLimiter:
    """Admit at most ``quota`` requests in any ``window``-second interval.

    A request that finds ``quota`` counted requests in the last ``window`` seconds is over
    the limit: it starts a block of ``block_seconds`` during which every request gets 429.
    Rejected requests are not counted, so they neither use up the window nor extend the
    block: Cloudflare documents the block as "the next five minutes", a fixed span.

    Args:
        quota: Requests allowed per window (Cloudflare: 1200).
        window: Window length in seconds (Cloudflare: 300).
        block_seconds: How long a block lasts (Cloudflare: 300).

    Raises:
        ValueError: If ``quota`` < 1 or a duration is not positive.
    """

    def __init__(self, quota: int, window: float, block_seconds: float) -> None:
        if quota < 1:
            raise ValueError(f"rate-limit quota must be >= 1, got {quota}")
        if window <= 0 or block_seconds < 0:
            raise ValueError("rate-limit window must be > 0 and block_seconds >= 0")
        self.quota = quota
        self.window = window
        self.block_seconds = block_seconds
        self._counted: deque[float] = deque()
        self._blocked_until = -math.inf

    @property
    def policy(self) -> str:
        """The ``Ratelimit-Policy`` header value, e.g. ``"default";q=1200;w=300``."""
        return f'"default";q={self.quota};w={_number(self.window)}'

    def admit(self, now: float) -> RateDecision:
        """Decide on a request arriving at ``now`` and count it if it is allowed.

        Args:
            now: The arrival time, in seconds on a monotonic clock.
        """
        self._expire(now)
        if now < self._blocked_until:
            return self._blocked(now)
        if len(self._counted) >= self.quota:
            self._blocked_until = now + self.block_seconds
            return self._blocked(now)
        self._counted.append(now)
        return self._open(now)

    def peek(self, now: float) -> RateDecision:
        """Describe the state at ``now`` without counting a request.

        Args:
            now: The current time, in seconds on a monotonic clock.
        """
        self._expire(now)
        return self._blocked(now) if now < self._blocked_until else self._open(now)

    def _expire(self, now: float) -> None:
        horizon = now - self.window
        counted = self._counted
        while counted and counted[0] <= horizon:
            counted.popleft()

    def _open(self, now: float) -> RateDecision:
        # ``t`` is when the oldest counted request leaves the window, i.e. when one more
        # slot frees up; 0 when nothing is counted.
        reset = _ceil(self._counted[0] + self.window - now) if self._counted else 0
        remaining = self.quota - len(self._counted)
        return RateDecision(allowed=True, remaining=remaining, reset=reset, retry_after=None)

    def _blocked(self, now: float) -> RateDecision:
        # Cloudflare sends whole seconds; rounding up never invites an early retry.
        wait = max(_ceil(self._blocked_until - now), 1)
        return RateDecision(allowed=False, remaining=0, reset=wait, retry_after=wait)


def _ceil(seconds: float) -> int:
    """Round up to whole seconds, ignoring float noise (``300.00000000000006`` is 300)."""
    return math.ceil(round(seconds, 6))


def _number(value: float) -> str:
    """Render ``300.0`` as ``300`` and ``0.5`` as ``0.5``."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))
