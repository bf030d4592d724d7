"""What a client learns of the page sizes a server accepts and serves, without I/O.

Every request counts against the token's quota (docs/cloudflare-api.md, "Rate limits"), so the
fewest requests come from the largest page the server accepts. Cloudflare does not document
that size for the invoice history, and its list endpoints differ (docs/cloudflare-api.md, "The
endpoint": 50, 100 and 1000 are all seen). So a client starts from the largest any of them
is known to accept and learns from what the server does:

* a 400 / 6008 naming its maximum ("per_page variable must be a number between 1 and
  100"): that maximum is used;
* a 400 / 6008 naming nothing: the next smaller of the sizes Cloudflare endpoints are known
  to use (:data:`KNOWN_SIZES`) is tried, down to the smallest;
* a page smaller than asked although more follow (the ``per_page`` it echoes, or fewer
  invoices with ``has_more``): the server clamps silently, and later walks ask for what it
  serves.

One :class:`PageSizes` per client and endpoint keeps what was learnt, so that the first
page of every later walk, of any account, asks for a size already known to work: the probe
is paid once per client. Nothing here sends or awaits anything; the driver asks
:meth:`PageSizes.ask` for the size of a first request, reports a refusal with
:meth:`PageSizes.refused` and a success with :meth:`PageSizes.succeeded`, and asks
:meth:`PageSizes.proven` whether a request needs the probe to itself.

A size the caller chose is never raised: the server's limits only ever lower it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Final

from asyncinvoices._errors import BadRequestError

__all__ = [
    "KNOWN_SIZES",
    "LARGEST_KNOWN_SIZE",
    "PageSizes",
    "per_page_limit",
]

LARGEST_KNOWN_SIZE: Final = 1000
"""The largest ``per_page`` any Cloudflare list endpoint is known to accept: where a walk
that was given no ``per_page`` starts (docs/cloudflare-api.md, "The endpoint")."""

KNOWN_SIZES: Final = (1000, 100, 50, 20)
"""The page-size maxima Cloudflare endpoints are known to use, largest first: the steps down
after a refusal that names no maximum (docs/cloudflare-api.md, "The endpoint")."""

# docs/cloudflare-api.md, "The endpoint": an out-of-range per_page is rejected with 6008 and a
# chain entry such as 11000 "per_page variable must be a number between 1 and 1000". The
# account listing names its own least size ("between 5 and 50").
_PER_PAGE_LIMIT = re.compile(r"per_page\b.*?between\s+\d+\s+and\s+(\d+)", re.IGNORECASE)

_INVALID_PARAMETERS = 6008


def per_page_limit(exc: BadRequestError) -> int | None:
    """The largest ``per_page`` a 6008 rejection names, or ``None`` if it names none.

    docs/cloudflare-api.md, "The endpoint": an out-of-range ``per_page`` is rejected with code 6008
    and a chain entry such as 11000 "per_page variable must be a number between 1 and 1000".
    """
    if _INVALID_PARAMETERS not in exc.codes:
        return None
    for error in exc.errors:
        for text in [error.message, *(c.message for c in error.chain)]:
            match = _PER_PAGE_LIMIT.search(text)
            if match:
                return int(match.group(1))
    return None


class PageSizes:
    """What one client knows of the page sizes one endpoint accepts and serves.

    Shared by every walk of the client: what one walk learns, the next walks use. It only
    ever learns limits (a size refused, a maximum named, a clamp seen) and acceptances, so
    the size it advises only ever goes down, and a size once proven is asked for again
    without a probe.

    Args:
        steps: The sizes to try, largest first; the first is where a walk without a
            ``per_page`` of its own starts, the others are the steps down after a refusal
            that names no maximum.

    Attributes:
        named: The maximum the server named in a refusal, once it has.
        refused_from: The smallest size the server refused without naming a maximum: it and
            every larger size are taken as refused.
        accepted: The largest size the server answered with a success (0: none yet).
        served: The most invoices the server serves in a page whatever was asked, once a
            page showed that it clamps silently.
        refusals: How many requests the server refused for their page size.
    """

    def __init__(self, steps: Sequence[int] = KNOWN_SIZES) -> None:
        if not steps or any(b >= a for a, b in itertools.pairwise(steps)) or steps[-1] < 1:
            raise ValueError(f"steps must be positive and strictly decreasing, got {steps!r}")
        self._steps = tuple(steps)
        self.named: int | None = None
        self.refused_from: int | None = None
        self.accepted = 0
        self.served: int | None = None
        self.refusals = 0

    @property
    def largest(self) -> int:
        """Where a walk without a ``per_page`` of its own starts: the first step."""
        return self._steps[0]

    def ask(self, wanted: int | None) -> int:
        """The page size to ask for: ``wanted`` (or the largest step), within what was learnt.

        Args:
            wanted: The caller's own ``per_page``, or ``None`` for the largest accepted.
        """
        size = self._steps[0] if wanted is None else wanted
        if self.named is not None:
            size = min(size, self.named)
        elif self.refused_from is not None and size >= self.refused_from:
            below = [s for s in self._steps if s < self.refused_from]
            # A size proven by a success beats a step down from the refused one.
            size = max(below[0] if below else self._steps[-1], self.accepted)
            if wanted is not None:
                size = min(size, wanted)
        if self.served is not None:
            size = min(size, self.served)
        return size

    def proven(self, size: int) -> bool:
        """Whether a request for ``size`` is known to be accepted, so needs no probe."""
        return size <= self.accepted

    def refused(self, size: int, exc: BadRequestError) -> None:
        """Learn from a request for ``size`` refused with ``exc``; :meth:`ask` then advises less.

        Raises:
            BadRequestError: ``exc`` itself, when it teaches nothing about the page size: it
                is not a 6008, or names a maximum that ``size`` was within, or names none
                while no known size is smaller than ``size``, or ``size`` was accepted
                before (the refusal is about something else).
        """
        if _INVALID_PARAMETERS not in exc.codes or size <= self.accepted:
            raise exc
        limit = per_page_limit(exc)
        if limit is not None:
            if not 1 <= limit < size:
                raise exc
            self.named = limit if self.named is None else min(self.named, limit)
        else:
            if size <= self._steps[-1]:
                raise exc  # nothing smaller to try: the refusal must be about something else
            self.refused_from = size if self.refused_from is None else min(self.refused_from, size)
        self.refusals += 1

    def succeeded(self, asked: int, served: int) -> None:
        """Learn from a success: ``asked`` is accepted, and a page of ``served`` < ``asked``
        (with more to follow) shows a silent clamp."""
        self.accepted = max(self.accepted, asked)
        if served < asked:
            self.served = served if self.served is None else min(self.served, served)

    def __repr__(self) -> str:
        return (
            f"<PageSizes ask={self.ask(None)} named={self.named} "
            f"refused_from={self.refused_from} accepted={self.accepted} served={self.served}>"
        )
