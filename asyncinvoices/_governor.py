"""The rate governor: one per client, shared by every request the client sends.

Cloudflare allows 1,200 requests in ANY five-minute window and answers overuse with a block
of five minutes (CLOUDFLARE_API.md, "Rate limits"). A token bucket of 1,200 refilling at 4/s
would allow 2,400 in the first five minutes and trip that block, so the governor keeps a true
sliding window instead.

Each request occupies a place in the window from the moment it is sent until ``window``
seconds after its response arrived. The server counts the request at some instant between
sending and the response, so this is the one accounting under which network delay can never
push the server's count over the quota: if at most ``requests - 1`` places are occupied when a
request is admitted, no window of the server's clock can hold more than ``requests``.

On top of its own count the governor obeys the server: a ``Ratelimit`` header with nothing
remaining, or a 429 with ``Retry-After``, pauses every request of the client until the time
given; a ``Ratelimit-Policy`` stricter than the configured quota is adopted.

:class:`SlidingWindow` is the pure bookkeeping (times are passed in); :class:`RateGovernor`
adds the waiting.
"""

from __future__ import annotations

import collections
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio

from ._errors import RateLimitError
from ._models import RateLimit
from ._protocol import RateLimitHeader

__all__ = ["RateGovernor", "SlidingWindow"]


class SlidingWindow:
    """Counts requests in a sliding window, each from its start until ``window`` after its end.

    Args:
        quota: The most requests any window may hold.
        window: The window's length in seconds.
    """

    def __init__(self, quota: int, window: float) -> None:
        self.quota = quota
        self.window = window
        self.in_flight = 0
        self._ended: collections.deque[float] = collections.deque()

    def _expire(self, now: float) -> None:
        ended, window = self._ended, self.window
        # The same expression as in wait_time, so that rounding can never call a place both
        # taken (here) and free (there).
        while ended and ended[0] + window <= now:
            ended.popleft()

    def occupied(self, now: float) -> int:
        """How many places are taken at ``now``: requests in flight or ended within the window."""
        self._expire(now)
        return self.in_flight + len(self._ended)

    def wait_time(self, now: float) -> float | None:
        """Seconds until a request may start: ``0.0`` now, ``None`` when one must end first."""
        if self.occupied(now) < self.quota:
            return 0.0
        if not self._ended:
            return None
        return max(0.0, self._ended[0] + self.window - now)

    def start(self) -> None:
        """Take a place for a request that starts now."""
        self.in_flight += 1

    def end(self, now: float) -> None:
        """Release a request's in-flight place; it stays counted until ``now + window``."""
        self.in_flight -= 1
        # Times come from one monotonic clock, so appending keeps the deque sorted.
        self._ended.append(now)

    def adopt(self, quota: int | None, window: float | None) -> None:
        """Tighten the quota or lengthen the window when the server's policy is stricter."""
        if quota is not None and 0 < quota < self.quota:
            self.quota = quota
        if window is not None and window > self.window and math.isfinite(window):
            self.window = window


class RateGovernor:
    """Admits requests so that the client never exceeds its quota, and pauses on 429s.

    Args:
        limit: The quota, or ``None`` to count nothing (pauses from the server still apply).
        clock: The monotonic clock, ``anyio.current_time`` unless a test passes its own.
        max_pause: The longest pause from the server a request waits out; a request that
            would wait longer raises :class:`RateLimitError` instead. A ``Ratelimit-Policy``
            window longer than both this and the current window is not adopted.
    """

    def __init__(
        self,
        limit: RateLimit | None,
        *,
        clock: Callable[[], float] = anyio.current_time,
        max_pause: float = math.inf,
    ) -> None:
        self._max_pause = max_pause
        self._window = SlidingWindow(limit.requests, limit.window) if limit else None
        self._clock = clock
        self._paused_until = 0.0
        self._lock = anyio.Lock()  # FIFO, so no waiting request is starved by later ones
        self._changed = anyio.Event()
        self._waits = 0  # how many times any request had to wait: see _admit

    @property
    def window(self) -> SlidingWindow | None:
        """The sliding-window bookkeeping, or ``None`` when no quota is set."""
        return self._window

    @property
    def paused_until(self) -> float:
        """The clock time before which no request is admitted (0.0 when not paused)."""
        return self._paused_until

    def pause_until(self, when: float) -> None:
        """Admit nothing before clock time ``when`` (a later pause wins over an earlier one)."""
        if when > self._paused_until:
            self._paused_until = when

    def observe(self, header: RateLimitHeader | None) -> None:
        """Take in the server's ``Ratelimit`` headers from a response."""
        if header is None:
            return
        if self._window is not None:
            window = header.window
            if window is not None and window > max(self._window.window, self._max_pause):
                # A place in a window that long may take longer to free up than any wait the
                # client allows (10**9 s would wait for ever): keep the stricter quota over
                # the current window, and let the server's 429 and Retry-After decide.
                window = None
            self._window.adopt(header.quota, window)
        if header.remaining <= 0 and header.reset > 0:
            # Nothing left in the server's own count: someone else shares the quota, or the
            # server counts differently; either way its word is final.
            now = self._clock()
            if self._window is None or self._window.occupied(now) < self._window.quota:
                self.pause_until(now + header.reset)

    def _notify(self) -> None:
        event, self._changed = self._changed, anyio.Event()
        event.set()

    async def _admit(self) -> float:
        """Wait until a request may start and take its place; return the seconds throttled.

        Time counts as throttled when the quota or a pause held this request back, or held
        back a request queued ahead of it; not the time the event loop takes to get round to
        this task when nothing is throttled.
        """
        entered = self._clock()
        waits_before = self._waits
        async with self._lock:
            while True:
                now = self._clock()
                if now < self._paused_until:
                    if self._paused_until - now > self._max_pause:
                        # A `Ratelimit` header with nothing remaining asked for a longer pause
                        # than the client may wait: sending anyway would trip Cloudflare's
                        # block, so the request fails as a Retry-After that long would.
                        raise RateLimitError(
                            "not sent: an earlier response's Ratelimit header said the quota "
                            f"is used up; waiting {self._paused_until - now:.0f} s",
                            status=429,
                            retry_after=self._paused_until - now,
                        )
                    self._waits += 1
                    await anyio.sleep(self._paused_until - now)
                    continue
                window = self._window
                if window is None:
                    break
                delay = window.wait_time(now)
                if delay == 0.0:
                    window.start()
                    break
                self._waits += 1
                changed = self._changed
                with anyio.move_on_after(delay if delay is not None else math.inf):
                    await changed.wait()
        return self._clock() - entered if self._waits != waits_before else 0.0

    def _release(self) -> None:
        if self._window is not None:
            self._window.end(self._clock())
        self._notify()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Hold a place in the window for the duration of one request.

        Yields the seconds spent waiting to be admitted. The place stays counted for
        ``window`` seconds after the block ends, however it ends.
        """
        waited = await self._admit()
        try:
            yield waited
        finally:
            self._release()
