"""Saying on stderr that a run is waiting for the rate limit, so that it does not look stuck.

The client calls ``on_wait`` with a :class:`~asyncinvoices.RateWait` each time a request
starts waiting. Most waits are short and many requests wait together, so :class:`WaitNotices`
turns that stream into a few lines a person can read: only waits longer than
:data:`NOTICE_AFTER` seconds, and no new line while the wait announced last is still running
(or for :data:`MIN_GAP` seconds), since the requests behind it wait for the same thing.
With the progress bar, the bar's note says it instead (see ``_progress.governor_note``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from asyncinvoices import RateWait

__all__ = ["MIN_GAP", "NOTICE_AFTER", "WaitNotices", "wait_line"]

#: Waits up to this many seconds go unmentioned: a pause shorter than that does not look
#: stuck.
NOTICE_AFTER: Final = 3.0
#: The least time between two lines, however short the waits announced.
MIN_GAP: Final = 10.0

_WHY: Final[Mapping[str, str]] = {
    "quota": "the quota of requests per window is used up",
    "server": "Cloudflare's Ratelimit header says its quota is used up",
    "retry-after": "Cloudflare answered 429 with a Retry-After",
}


def wait_line(wait: RateWait) -> str:
    """Return the stderr line for one wait.

    Example:
        >>> wait_line(RateWait(seconds=12.4, reason="quota", page=7))
        'waiting 12 s for the rate limit (the quota of requests per window is used up)'
    """
    why = _WHY.get(wait.reason, wait.reason)
    return f"waiting {wait.seconds:,.0f} s for the rate limit ({why})"


class WaitNotices:
    """An ``on_wait`` callback that writes a few lines about long waits.

    Args:
        write: Writes one line (without its newline) where the user sees it.
        clock: The current time in seconds (``anyio.current_time`` in a run).

    Attributes:
        muted: While true, nothing is written (a progress bar shows the waits instead).
    """

    def __init__(self, write: Callable[[str], None], clock: Callable[[], float]) -> None:
        self._write = write
        self._clock = clock
        self._quiet_until = float("-inf")
        self.muted = False

    def __call__(self, wait: RateWait) -> None:
        """Write a line for ``wait`` if it is long and no recent line covers it."""
        if self.muted or wait.seconds <= NOTICE_AFTER:
            return
        now = self._clock()
        if now < self._quiet_until:
            return
        self._quiet_until = now + max(wait.seconds, MIN_GAP)
        self._write(wait_line(wait))
