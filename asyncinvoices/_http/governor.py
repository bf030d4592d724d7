"""The rate governor: one per client, shared by every request the client sends.

Cloudflare allows 1,200 requests in ANY five-minute window and answers overuse with a block
of five minutes (docs/cloudflare-api.md, "Rate limits"). A token bucket of 1,200 refilling at 4/s
would allow 2,400 in the first five minutes and trip that block, so the governor keeps a true
sliding window instead.

Each request occupies a place in the window from the moment it is sent until ``window``
seconds after its response arrived. The server counts the request at some instant between
sending and the response, so this is the one accounting under which network delay can never
push the server's count over the quota: if at most ``requests - 1`` places are occupied when a
request is admitted, no window of the server's clock can hold more than ``requests``.

A place is taken for every request that reaches the wire, however it was sent: the transport
asks the governor once per attempt, a re-send by the HTTP library included.

On top of its own count the governor obeys the server: a ``Ratelimit`` header with nothing
remaining, or a 429 with ``Retry-After``, pauses every request of the client until the time
given. A header with some remaining is a budget: the governor never has more requests in
flight than it says remain (other clients of the same user may be spending the rest). A
``Ratelimit-Policy`` is a quota *and* its window: it is enforced as a second limit
beside the configured one, never instead of it, so an adopted policy can only make the client
stricter.

:class:`SlidingWindow` is the pure bookkeeping (times are passed in); :class:`RateGovernor`
adds the waiting and tells the application about it (:class:`~asyncinvoices.RateWait`).

The window above is this process's own. With a shared store (``_http/quota.py``: a file, Redis)
the governor also asks the store before each request, after its own window let it through,
and tells it when the request ended: the store's window counts the requests of every process
that shares it. The server's pauses and a stricter policy go to the store with the next
admission, so that every process waits, and pauses the store reports are kept here as if
the server had ordered them. A store that cannot be reached fails the request before it is
sent.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio

from asyncinvoices._errors import AsyncInvoicesError, RateLimitError
from asyncinvoices._models import RateLimit, RateWait, WaitReason
from asyncinvoices._wire.protocol import RateLimitHeader

from .quota import Admission, QuotaStore

__all__ = ["RateGovernor", "SlidingWindow"]

logger = logging.getLogger("asyncinvoices")

# A wait at least this long is logged at INFO; shorter ones, which a throttled walk has
# between every two requests, at DEBUG so that INFO stays readable.
_NOTABLE_WAIT = 1.0

# How often a request held back by places in flight in the shared store (perhaps in another
# process, which cannot signal here) asks the store again.
_STORE_POLL = 0.02

# Ended requests older than every window are forgotten, and never more than this many are
# kept: a window's decision needs only its `quota` most recent ends.
_MAX_HISTORY = 100_000


class SlidingWindow:
    """Counts requests in a sliding window, each from its start until ``window`` after its end.

    The configured limit (``quota`` per ``window``) always applies. A server policy adopted
    with :meth:`adopt` applies beside it, over the same history of requests.

    Args:
        quota: The most requests any window may hold.
        window: The window's length in seconds.
        history: Seconds of ended requests to remember, at least ``window``: a policy with a
            longer window adopted later counts the requests already sent within it.
    """

    def __init__(self, quota: int, window: float, *, history: float = 0.0) -> None:
        self.quota = quota
        self.window = window
        self.policy: tuple[int, float] | None = None
        self.in_flight = 0
        self._history = max(window, history) if math.isfinite(history) else window
        self._ended: list[float] = []  # end times, sorted; entries before _head are expired
        self._head = 0

    @property
    def limits(self) -> tuple[tuple[int, float], ...]:
        """Every limit in force, as ``(quota, window)``: the configured one first."""
        own = (self.quota, self.window)
        return (own,) if self.policy is None else (own, self.policy)

    def _expire(self, now: float) -> None:
        ended, horizon = self._ended, self._history
        head = self._head
        while head < len(ended) and ended[head] + horizon <= now:
            head += 1
        head = max(head, len(ended) - _MAX_HISTORY)
        if head > 1024 and head * 2 > len(ended):
            del ended[:head]  # compact now and then, so the list does not grow for ever
            head = 0
        self._head = head

    def _first_recent(self, window: float, now: float) -> int:
        # The same expression as the waits below, `end + window <= now`, so that rounding can
        # never call a place both taken (here) and free (there).
        return bisect.bisect_right(self._ended, now, lo=self._head, key=lambda end: end + window)

    def occupied(self, now: float, window: float | None = None) -> int:
        """How many places are taken at ``now``: requests in flight or ended within ``window``.

        Args:
            now: The clock time.
            window: The window to count over; the configured one by default.
        """
        self._expire(now)
        first = self._first_recent(self.window if window is None else window, now)
        return self.in_flight + len(self._ended) - first

    def _wait_for(self, quota: int, window: float, now: float) -> float | None:
        first = self._first_recent(window, now)
        taken = self.in_flight + len(self._ended) - first
        if taken < quota:
            return 0.0
        # `taken - quota + 1` places must free up; ended ones free up oldest first.
        index = first + taken - quota
        if index >= len(self._ended):
            return None  # the requests in flight alone fill the quota: one must end first
        return max(0.0, self._ended[index] + window - now)

    def wait_time(self, now: float) -> float | None:
        """Seconds until a request may start: ``0.0`` now, ``None`` when one must end first."""
        self._expire(now)
        waits = [self._wait_for(quota, window, now) for quota, window in self.limits]
        if None in waits:
            return None
        return max(wait for wait in waits if wait is not None)

    def binding(self, now: float) -> tuple[int, float] | None:
        """The limit that holds requests back at ``now``, or ``None`` when one may start."""
        self._expire(now)
        for quota, window in self.limits:
            if self._wait_for(quota, window, now) != 0.0:
                return quota, window
        return None

    def start(self) -> None:
        """Take a place for a request that starts now."""
        self.in_flight += 1

    def end(self, now: float) -> None:
        """Release a request's in-flight place; it stays counted until ``now + window``."""
        self.in_flight -= 1
        # Times come from one monotonic clock, so appending almost always keeps the order.
        if self._ended and now < self._ended[-1]:
            bisect.insort(self._ended, now, lo=self._head)
        else:
            self._ended.append(now)

    def adopt(self, quota: int | None, window: float | None) -> None:
        """Enforce the server's policy of ``quota`` requests per ``window`` seconds as well.

        A policy is a quota and its window together: ``6`` per ``2`` s is not ``6`` per the
        configured window. A quota without a window applies over the configured window. A
        policy the configured limit already implies (no larger quota over no shorter window)
        adds nothing and is dropped, so the client never becomes looser than configured.
        """
        if quota is None or quota < 1:
            return
        if window is None or not math.isfinite(window) or window <= 0:
            window = self.window
        if quota >= self.quota and window <= self.window:
            self.policy = None
            return
        self.policy = (quota, window)
        self._history = max(self._history, window)


class RateGovernor:
    """Admits requests so that the client never exceeds its quota, and pauses on 429s.

    Read it through :attr:`InvoiceClient.governor` to see why a walk is held back; the
    client drives it.

    Args:
        limit: The quota, or ``None`` to count nothing (pauses from the server still apply).
        clock: The monotonic clock, ``anyio.current_time`` unless a test passes its own.
        max_pause: The longest pause from the server a request waits out; a request that
            would wait longer raises :class:`RateLimitError` instead. A ``Ratelimit-Policy``
            window longer than both this and the configured window is enforced over the
            longer of the two instead: the client may not wait longer for a place.
        on_wait: Called with a :class:`~asyncinvoices.RateWait` each time a request starts
            waiting for the rate limit.
        store: The shared window every process with the same store and key counts in, or
            ``None`` for this process alone. Needs ``limit``.
        timeout: The request timeout, in seconds: a place in the shared store whose process
            died is freed this long plus the window after it was taken.
    """

    def __init__(
        self,
        limit: RateLimit | None,
        *,
        clock: Callable[[], float] = anyio.current_time,
        max_pause: float = math.inf,
        on_wait: Callable[[RateWait], object] | None = None,
        store: QuotaStore | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._max_pause = max_pause
        self._store = store if limit is not None else None
        self._timeout = timeout
        # Tokens name this process's places in the store: random, so that no two processes
        # (nor a restarted one) share one, and they say nothing about the credentials.
        self._tokens = (f"{secrets.token_hex(8)}-{n}" for n in itertools.count())
        # A pause to share: (until, why, when the server said it).
        self._share_pause: tuple[float, WaitReason, float] | None = None
        self._shared_policy: tuple[int, float] | None = None
        self._window = (
            SlidingWindow(limit.requests, limit.window, history=max_pause) if limit else None
        )
        self._clock = clock
        self._on_wait = on_wait
        self._paused_until = 0.0
        self._pause_reason: WaitReason = "server"
        self._lock = anyio.Lock()  # FIFO, so no waiting request is starved by later ones
        self._changed = anyio.Event()
        self._waits = 0  # how many times any request had to wait: see _admit
        self._sending = 0  # requests on the wire now
        # What the last `Ratelimit` header left to start, less what was on the wire then;
        # None when no header said so, or once its `t` seconds have passed.
        self._budget: int | None = None
        self._budget_until = 0.0

    @property
    def window(self) -> SlidingWindow | None:
        """The sliding-window bookkeeping, or ``None`` when no quota is set."""
        return self._window

    @property
    def paused_until(self) -> float:
        """The clock time before which no request is admitted (0.0 when not paused)."""
        return self._paused_until

    @property
    def store(self) -> QuotaStore | None:
        """The shared store of the window, or ``None`` when this process counts alone."""
        return self._store

    def pause_until(self, when: float, *, reason: WaitReason = "retry-after") -> None:
        """Admit nothing before clock time ``when`` (a later pause wins over an earlier one).

        With a shared store, the pause goes to the store with the next admission, so that
        every process sharing it waits too.

        Args:
            when: The clock time the pause ends.
            reason: Why, as reported to ``on_wait``: ``"retry-after"`` or ``"server"``.
        """
        self._offer_pause(when, reason)
        self._hold_until(when, reason)

    def _offer_pause(self, when: float, reason: WaitReason) -> None:
        if self._store is not None and (self._share_pause is None or when > self._share_pause[0]):
            self._share_pause = (when, reason, self._clock())

    def _hold_until(self, when: float, reason: WaitReason) -> None:
        if when > self._paused_until:
            self._paused_until = when
            self._pause_reason = reason

    def observe(self, header: RateLimitHeader | None) -> None:
        """Take in the server's ``Ratelimit`` headers from a response."""
        if header is None:
            return
        if self._window is not None and header.quota is not None:
            window = header.window
            longest = max(self._window.window, self._max_pause)
            if window is not None and window > longest:
                # A place in a window that long may take longer to free up than any wait the
                # client allows (10**9 s would wait for ever): enforce the quota over the
                # longest window the client may wait, and let the server's 429 decide the rest.
                window = longest
            self._window.adopt(header.quota, window)
        now = self._clock()
        if header.remaining > 0 and header.reset > 0:
            # The requests still on the wire may not be in the server's count yet: they spend
            # the budget first. A later response brings a fresh budget.
            self._budget = header.remaining - self._sending
            self._budget_until = now + header.reset
            self._notify()
        elif header.remaining <= 0 and header.reset > 0:
            # Nothing left in the server's own count: someone else shares the quota, or the
            # server counts differently; either way its word is final.
            self._budget = None
            if self._store is not None:
                # Only the shared window knows whether the processes sharing it explain the
                # empty count; the store decides, with the next admission.
                self._offer_pause(now + header.reset, "server")
            elif self._window is None or self._window.wait_time(now) == 0.0:
                self.pause_until(now + header.reset, reason="server")

    def _notify(self) -> None:
        event, self._changed = self._changed, anyio.Event()
        event.set()

    def _announce(self, seconds: float | None, reason: WaitReason, page: int | None) -> None:
        where = f"page {page}: " if page is not None else ""
        how_long = "until a request ends" if seconds is None else f"{seconds:.1f} s"
        level = logging.INFO if seconds is not None and seconds >= _NOTABLE_WAIT else logging.DEBUG
        logger.log(
            level,
            "%swaiting %s for the rate limit (%s)",
            where,
            how_long,
            reason,
            extra={"page": page, "wait": seconds},
        )
        if self._on_wait is not None and seconds is not None:
            self._on_wait(RateWait(seconds=seconds, reason=reason, page=page))

    async def _hold_for_pause(self, now: float, page: int | None) -> None:
        wait = self._paused_until - now
        if wait > self._max_pause:
            # A `Ratelimit` header with nothing remaining asked for a longer pause than the
            # client may wait: sending anyway would trip Cloudflare's block, so the request
            # fails as a Retry-After that long would.
            why = (
                "a 429 told a process sharing this quota to wait"
                if self._pause_reason == "retry-after"
                else "an earlier response's Ratelimit header said the quota is used up"
            )
            raise RateLimitError(
                f"not sent: {why}; waiting {wait:.0f} s",
                status=429,
                page=page,
                retry_after=wait,
            )
        self._announce(wait, self._pause_reason, page)
        await anyio.sleep(wait)

    async def _admit_shared(self, page: int | None, now: float) -> str | None:
        """Ask the store for a place; return its token, or ``None`` after waiting (ask again).

        Raises:
            QuotaStoreError: If the store cannot be reached; no place was taken.
        """
        assert self._store is not None
        assert self._window is not None
        window = self._window
        pause, age = 0.0, 0.0
        reason: WaitReason = "server"
        if self._share_pause is not None:
            pause, reason = max(0.0, self._share_pause[0] - now), self._share_pause[1]
            age = max(0.0, now - self._share_pause[2])
        policy = window.policy if window.policy != self._shared_policy else None
        token = next(self._tokens)
        verdict = await self._store.admit(
            Admission(
                token=token,
                quota=window.quota,
                window=window.window,
                lease=self._timeout + max(w for _, w in window.limits),
                pause=pause,
                pause_reason=reason,
                pause_age=age,
                policy=policy,
            )
        )
        # Shared now (or there was nothing new to share).
        self._share_pause = None
        self._shared_policy = window.policy
        if verdict.admitted:
            return token
        self._waits += 1
        if verdict.reason != "quota" and verdict.wait is not None:
            # A pause the server ordered some process: held here as one ordered to this one.
            self._hold_until(self._clock() + verdict.wait, verdict.reason)
            return None
        if verdict.wait is not None:
            self._announce(verdict.wait, "quota", page)
        changed = self._changed
        with anyio.move_on_after(_STORE_POLL if verdict.wait is None else verdict.wait):
            await changed.wait()
        return None

    async def _admit(self, page: int | None) -> tuple[float, str | None]:
        """Wait until a request may start and take its place; return the seconds throttled.

        Time counts as throttled when the quota or a pause held this request back, or held
        back a request queued ahead of it; not the time the event loop takes to get round to
        this task when nothing is throttled.
        """
        entered = self._clock()
        waits_before = self._waits
        token: str | None = None
        async with self._lock:
            while True:
                now = self._clock()
                if now < self._paused_until:
                    self._waits += 1
                    await self._hold_for_pause(now, page)
                    continue
                if self._over_budget(now):
                    # The server's header said fewer remain than are on the wire: wait for a
                    # response (with a fresh header) or for the header's `t` to pass.
                    self._waits += 1
                    self._announce(None, "server", page)
                    changed = self._changed
                    with anyio.move_on_after(self._budget_until - now):
                        await changed.wait()
                    continue
                window = self._window
                delay = 0.0 if window is None else window.wait_time(now)
                if delay == 0.0:
                    if self._store is not None:
                        token = await self._admit_shared(page, now)
                        if token is None:
                            continue
                    if window is not None:
                        window.start()
                    self._sending += 1
                    if self._budget is not None:
                        self._budget -= 1
                    break
                self._waits += 1
                self._announce(delay, "quota", page)
                changed = self._changed
                with anyio.move_on_after(delay if delay is not None else math.inf):
                    await changed.wait()
        return (self._clock() - entered if self._waits != waits_before else 0.0), token

    def _over_budget(self, now: float) -> bool:
        if self._budget is None:
            return False
        if now >= self._budget_until or self._sending == 0:
            # Past its `t`, or every request it was set against has ended (and answered with
            # a fresh header, or none): the budget no longer says anything.
            self._budget = None
            return False
        return self._budget <= 0

    def _release(self) -> None:
        self._sending -= 1
        if self._window is not None:
            self._window.end(self._clock())
        self._notify()

    @asynccontextmanager
    async def slot(self, page: int | None = None) -> AsyncIterator[float]:
        """Hold a place in the window for the duration of one request on the wire.

        Yields the seconds spent waiting to be admitted. The place stays counted for
        ``window`` seconds after the block ends, however it ends.

        Args:
            page: The page the request is for, named in logs and in ``on_wait``.
        """
        waited, token = await self._admit(page)
        try:
            yield waited
        finally:
            self._release()
            if token is not None:
                await self._release_shared(token)

    async def _release_shared(self, token: str) -> None:
        assert self._store is not None
        # Shielded: a cancelled request still ended. A release that fails is not the
        # request's failure (its response is in): the lease frees the place in time.
        with anyio.CancelScope(shield=True), anyio.move_on_after(self._timeout):
            try:
                await self._store.release(token)
            except AsyncInvoicesError as exc:
                logger.warning("%s; the place is freed when its lease ends", exc)

    async def aclose(self) -> None:
        """Close the shared store's connection, if any."""
        if self._store is not None:
            with anyio.CancelScope(shield=True):
                await self._store.aclose()
