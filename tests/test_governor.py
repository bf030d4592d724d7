"""Tests of the rate governor: the pure sliding window, then the waiting on a real clock."""

from __future__ import annotations

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncinvoices import RateLimit
from asyncinvoices._http.governor import RateGovernor, SlidingWindow
from asyncinvoices._wire.protocol import RateLimitHeader


def test_window_counts_in_flight_and_recent() -> None:
    """A place is held from start until window seconds after the end."""
    window = SlidingWindow(2, 10.0)
    assert window.wait_time(0.0) == 0.0
    window.start()
    window.start()
    assert window.wait_time(1.0) is None  # both in flight: one must end first
    window.end(3.0)
    assert window.occupied(3.0) == 2
    assert window.wait_time(3.0) == 10.0
    assert window.wait_time(12.5) == 0.5
    assert window.wait_time(13.0) == 0.0
    assert window.occupied(13.0) == 1


def test_window_adopts_a_policy_as_quota_and_window_together() -> None:
    """A server policy applies with its own window, beside the configured limit, never looser."""
    window = SlidingWindow(1200, 300.0)
    window.adopt(2000, 60.0)  # implied by 1,200 per 300 s: adds nothing
    assert window.limits == ((1200, 300.0),)
    window.adopt(6, 2.0)
    assert window.limits == ((1200, 300.0), (6, 2.0))
    window.adopt(600, 600.0)  # the server's latest policy replaces its earlier one
    assert window.limits == ((1200, 300.0), (600, 600.0))
    window.adopt(None, None)
    assert window.limits == ((1200, 300.0), (600, 600.0))
    window.adopt(100, None)  # a quota without a window counts over the configured window
    assert window.limits == ((1200, 300.0), (100, 300.0))
    window.adopt(1200, 300.0)
    assert window.limits == ((1200, 300.0),)


def test_policy_with_a_short_window_paces_instead_of_stalling() -> None:
    """6 per 2 s under 1,200 per 300 s: the seventh request waits 2 s, not 300 s."""
    window = SlidingWindow(1200, 300.0)
    window.adopt(6, 2.0)
    for moment in range(6):
        assert window.wait_time(moment * 0.1) == 0.0
        window.start()
        window.end(moment * 0.1)
    assert window.wait_time(0.5) == pytest.approx(1.5)
    assert window.binding(0.5) == (6, 2.0)
    assert window.wait_time(2.0) == 0.0
    assert window.binding(2.0) is None
    assert window.occupied(2.0) == 6  # still counted against the configured 300 s
    assert window.occupied(2.0, 2.0) == 5


def test_policy_counts_requests_sent_before_it_was_adopted() -> None:
    """A policy announced late counts the requests already within its window."""
    window = SlidingWindow(10, 1.0, history=60.0)
    for moment in (0.0, 10.0, 20.0):
        window.start()
        window.end(moment)
    window.adopt(3, 30.0)
    assert window.wait_time(20.0) == pytest.approx(10.0)  # the first leaves the 30 s window


@settings(max_examples=200, deadline=None)
@given(
    quota=st.integers(1, 6),
    window=st.floats(1.0, 10.0),
    requests=st.lists(
        st.tuples(st.floats(0.0, 3.0), st.floats(0.0, 2.0), st.floats(0.0, 1.0)),
        min_size=1,
        max_size=40,
    ),
)
def test_no_server_window_ever_exceeds_quota(
    quota: int, window: float, requests: list[tuple[float, float, float]]
) -> None:
    """Whatever the latencies, the server's counting instants never put more than quota in a window.

    Each request wants to start after a gap, lasts a duration, and is counted by the server at
    some fraction of the way through; admission follows the window's wait_time.
    """
    sw = SlidingWindow(quota, window)
    now = 0.0
    ends: list[float] = []  # pending end times of requests in flight
    counted: list[float] = []
    for gap, duration, fraction in requests:
        now += gap
        while True:
            # End every request whose end time has come.
            for end in sorted(e for e in ends if e <= now):
                ends.remove(end)
                sw.end(end)
            wait = sw.wait_time(now)
            if wait == 0.0:
                break
            # Advance to whatever can change the answer: a request ending, or an expiry.
            now = min([*ends, *([] if wait is None else [now + wait])])
        sw.start()
        ends.append(now + duration)
        counted.append(now + duration * fraction)
    counted.sort()
    for i, start in enumerate(counted):
        inside = [t for t in counted[i:] if t < start + window]
        assert len(inside) <= quota


pytestmark = pytest.mark.anyio


async def test_governor_admits_no_more_than_quota_in_any_window() -> None:
    """With a quota of 5 per 0.5 s, 15 immediate requests take two further windows."""
    governor = RateGovernor(RateLimit(requests=5, window=0.5))
    starts: list[float] = []

    async def one() -> None:
        async with governor.slot():
            starts.append(anyio.current_time())

    began = anyio.current_time()
    async with anyio.create_task_group() as tg:
        for _ in range(15):
            tg.start_soon(one)
    elapsed = anyio.current_time() - began
    starts.sort()
    for i, start in enumerate(starts):
        assert len([t for t in starts[i:] if t < start + 0.5]) <= 5
    assert elapsed >= 1.0


async def test_governor_pause_holds_everyone() -> None:
    """A pause holds every request until it passes, and the wait is reported."""
    governor = RateGovernor(None)
    governor.pause_until(anyio.current_time() + 0.3)
    waits: list[float] = []

    async def one() -> None:
        async with governor.slot() as waited:
            waits.append(waited)

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(one)
    assert len(waits) == 3
    assert min(waits) >= 0.25


async def test_governor_obeys_server_when_it_says_nothing_remains() -> None:
    """A Ratelimit header with nothing remaining pauses until its reset."""
    governor = RateGovernor(RateLimit(requests=100, window=60.0))
    now = anyio.current_time()
    governor.observe(RateLimitHeader(remaining=0, reset=2.0))
    assert governor.paused_until == pytest.approx(now + 2.0, abs=0.1)
    governor.observe(RateLimitHeader(remaining=5, reset=1.0))
    assert governor.paused_until == pytest.approx(now + 2.0, abs=0.1)
    governor.observe(None)
    assert governor.window is not None
    assert governor.window.quota == 100
    governor.observe(RateLimitHeader(remaining=5, reset=1.0, quota=60, window=120.0))
    assert governor.window.limits == ((100, 60.0), (60, 120.0))
