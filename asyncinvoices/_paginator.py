"""Carries out the walk over an account's pages: concurrent, in order, exactly once.

The decisions are the planner's (``_planner.py``); this module owns the concurrency. A walk
is a sequence of phases:

* **first**: page 1 alone, to learn ``total_count`` and the page size the server really uses
  (a server may clamp ``per_page`` silently, or reject it with code 6008 and name its maximum);
* **aligned**: pages ``k, k+1, ...`` fetched concurrently by a task group, at most ``window``
  ahead of the page being delivered, delivered strictly in page order;
* **anchored**: one request at a time, each overlapping what was already delivered, used
  when the data moves under the walk and to resume from a checkpoint. Once an anchored page
  ends on a page boundary the walk goes back to aligned.

Each fetch task stores its result or exception instead of raising it, so a failure never
tears down the task group behind the consumer's back: the walk decides, cancels what is
still in flight, and raises the error in order.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import anyio
import attrs

from ._errors import BadRequestError, PaginationError
from ._models import Invoice, InvoicePage
from ._planner import (
    Anchor,
    Ledger,
    Verdict,
    anchored_request,
    check_page_number,
    hard_page_cap,
    judge_aligned,
    page_count,
)

__all__ = ["Counters", "Paginator"]

Fetch = Callable[[int, int], Awaitable[InvoicePage]]
Emit = Callable[[InvoicePage], Awaitable[None]]

# Without a total_count nothing bounds the walk but has_more; a server that says has_more
# forever while returning new invoices is stopped here rather than never.
ABSOLUTE_PAGE_CAP = 1_000_000

# CLOUDFLARE_API.md, "The endpoint": an out-of-range per_page is rejected with 6008 and a
# chain entry such as 11000 "per_page variable must be a number between 1 and 1000".
_PER_PAGE_LIMIT = re.compile(r"per_page\b.*?between\s+1\s+and\s+(\d+)", re.IGNORECASE)


@attrs.define
class Counters:
    """Mutable tallies of one walk, read by the stream to build :class:`FetchStats`."""

    pages: int = 0
    planned_pages: int | None = None
    total_count: int | None = None
    requests: int = 0
    retries: int = 0
    throttled_seconds: float = 0.0
    drift: int = 0
    refetched_pages: int = 0


@attrs.frozen
class _Aligned:
    start: int
    per_page: int
    total: int | None


@attrs.frozen
class _Anchored:
    position: int
    per_page: int
    total: int | None


def _per_page_limit(exc: BadRequestError) -> int | None:
    if 6008 not in exc.codes:
        return None
    for error in exc.errors:
        for text in [error.message, *(c.message for c in error.chain)]:
            match = _PER_PAGE_LIMIT.search(text)
            if match:
                return int(match.group(1))
    return None


class Paginator:
    """Walks every page of one account and type, delivering each invoice once, in order.

    Args:
        fetch: Sends one request: ``await fetch(page, per_page)``, with retries.
        per_page: The page size to ask for.
        window: How many pages may be fetched ahead of the one being delivered.
        counters: Where to tally pages, drift and re-fetches.
        ledger: The exactly-once bookkeeping, shared with the caller.
        resume: Where a previous run stopped, to continue after it.
    """

    def __init__(
        self,
        fetch: Fetch,
        *,
        per_page: int,
        window: int,
        counters: Counters,
        ledger: Ledger,
        resume: Anchor | None = None,
    ) -> None:
        self._fetch = fetch
        self._per_page = per_page
        self._window = window
        self._counters = counters
        self._ledger = ledger
        self._resume = resume
        self._last_total: int | None = None
        self._first_total: int | None = None
        self._idle = 0  # requests in a row that delivered no new invoice

    async def run(self, emit: Emit) -> None:
        """Fetch and ``emit`` every page, in order, until the account is exhausted.

        Each emitted page holds only the invoices delivered from it (repeats removed).

        Raises:
            AsyncInvoicesError: Whatever a request raised after its retries, or a
                :class:`PaginationError` when the server's paging cannot be trusted.
        """
        phase: _Aligned | _Anchored | None
        resume = self._resume
        if resume is not None and resume.position >= 0:
            self._ledger.remember(resume.invoice_id, resume.created)
            phase = _Anchored(resume.position, self._per_page, None)
        else:
            phase = await self._first(emit)
        while phase is not None:
            if isinstance(phase, _Aligned):
                phase = await self._aligned(phase, emit)
            else:
                phase = await self._anchored(phase, emit)

    def _track_total(self, total: int | None) -> None:
        if total is None:
            return
        if self._last_total is not None and total != self._last_total:
            self._counters.drift += 1
        if self._first_total is None:
            self._first_total = total
        self._last_total = total
        self._counters.total_count = total

    def _plan(self, per_page: int, total: int | None) -> None:
        if total is not None:
            self._counters.planned_pages = page_count(total, per_page)

    async def _first(self, emit: Emit) -> _Aligned | None:
        per_page = self._per_page
        try:
            page = await self._fetch(1, per_page)
        except BadRequestError as exc:
            limit = _per_page_limit(exc)
            if limit is None or limit >= per_page or limit < 1:
                raise
            # The server named its maximum: ask again within it rather than fail the run.
            per_page = limit
            page = await self._fetch(1, per_page)
        check_page_number(page)
        size = self._server_page_size(page, per_page)
        total = page.pagination.total_count
        self._track_total(total)
        self._plan(size, total)
        await self._deliver(page, self._ledger.take(page.invoices), emit)
        if self._finished(page, 1, size, total):
            return None
        return _Aligned(2, size, total)

    @staticmethod
    def _server_page_size(page: InvoicePage, asked: int) -> int:
        """The page size the server actually pages by, which may be less than asked."""
        reported = page.pagination.per_page
        count = len(page.invoices)
        if reported is not None and reported >= max(count, 1):
            return reported
        total = page.pagination.total_count
        if 0 < count < asked and (
            page.pagination.has_more or (total is not None and total > count)
        ):
            # Fewer invoices than asked although more exist: the server clamps silently.
            return count
        return max(asked, count)

    @staticmethod
    def _finished(page: InvoicePage, number: int, per_page: int, total: int | None) -> bool:
        count = len(page.invoices)
        has_more = page.pagination.has_more
        if total is not None and number < page_count(total, per_page):
            return False
        if has_more is None:
            return count < per_page or total is not None
        return not has_more or count == 0

    async def _deliver(self, page: InvoicePage, delivered: list[Invoice], emit: Emit) -> None:
        self._counters.pages += 1
        if delivered:
            self._idle = 0
        await emit(attrs.evolve(page, invoices=tuple(delivered)))

    def _no_progress(self, page: int, per_page: int) -> None:
        """Count a request that delivered nothing; fail when too many come in a row.

        Re-aligning after drift may need a few such requests, more when many invoices were
        created at the head (each page of them is one more step forward); a server that
        ignores ``page`` while echoing it back produces them for ever.
        """
        self._idle += 1
        grown = 0
        if self._first_total is not None and self._last_total is not None:
            grown = max(0, self._last_total - self._first_total)
        allowed = 2 * self._window + 20 + grown // max(per_page, 1)
        if self._idle > allowed:
            raise PaginationError(
                f"{self._idle} requests in a row brought no new invoice (page {page}); the "
                "server does not honour the page parameter, or the data never stops moving",
                page=page,
            )

    @staticmethod
    def _check_end(page: InvoicePage, offset: int) -> None:
        """A page that ends the list must end it where its own total_count says.

        The page at ``offset`` holding ``count`` invoices and saying nothing follows puts the
        list's length at ``offset + count``; the same response's ``total_count`` must agree,
        or the page is not the one asked for (a server ignoring ``page``, or a lie).
        """
        total = page.pagination.total_count
        end = offset + len(page.invoices)
        if total is not None and total != end and page.invoices:
            raise PaginationError(
                f"page {page.number} ends the list after {end} invoices but its total_count "
                f"is {total}; the server does not honour the page parameter",
                page=page.number,
            )

    async def _aligned(self, phase: _Aligned, emit: Emit) -> _Aligned | _Anchored | None:
        per_page, total = phase.per_page, phase.total
        last = page_count(total, per_page) if total is not None else None
        cap = hard_page_cap(total, per_page) if total is not None else ABSOLUTE_PAGE_CAP
        limit = last  # the highest page that may be started; None while walking on has_more
        results: dict[int, InvoicePage | Exception] = {}
        ready: dict[int, anyio.Event] = {}
        error: Exception | None = None
        next_phase: _Aligned | _Anchored | None = None

        async def fetch_into(number: int) -> None:
            try:
                results[number] = await self._fetch(number, per_page)
            except Exception as exc:  # delivered in page order by the walk below
                results[number] = exc
            finally:
                ready[number].set()

        async with anyio.create_task_group() as tg:
            started = phase.start - 1
            number = phase.start
            while True:
                while started < number - 1 + self._window and (limit is None or started < limit):
                    started += 1
                    ready[started] = anyio.Event()
                    tg.start_soon(fetch_into, started)
                if number > started:
                    break
                await ready[number].wait()
                del ready[number]
                result = results.pop(number)
                if isinstance(result, Exception):
                    error = result
                    break
                try:
                    verdict = judge_aligned(
                        result, expected_total=total, per_page=per_page, seen=self._ledger
                    )
                except PaginationError as exc:
                    error = exc
                    break
                if verdict is Verdict.REALIGN:
                    drift = self._counters.drift
                    self._track_total(result.pagination.total_count)
                    if self._counters.drift == drift and self._ledger.count_seen(result.invoices):
                        # The page repeats delivered invoices under an unchanged total_count:
                        # as many were created as deleted. The data moved all the same.
                        self._counters.drift += 1
                    self._counters.refetched_pages += 1
                    try:
                        self._no_progress(number, per_page)
                    except PaginationError as exc:
                        error = exc
                        break
                    next_phase = _Anchored(self._frontier(number - 1, per_page), per_page, total)
                    break
                self._track_total(result.pagination.total_count)
                await self._deliver(result, self._ledger.take(result.invoices), emit)
                if not result.invoices and last is not None and number < last:
                    # total_count promises more pages, yet this one is empty, and an offset past
                    # the end stays empty: finish the pages already started and start no more,
                    # so that an inflated total_count costs at most one window of requests.
                    limit = started
                if last is None:
                    if self._finished(result, number, per_page, None):
                        break
                elif number >= last:
                    if self._finished(result, number, per_page, total):
                        break
                    if number + 1 > cap:
                        error = PaginationError(
                            f"page {number} still says has_more although total_count "
                            f"{total} fits in {last} pages of {per_page}",
                            page=number,
                        )
                        break
                    limit = number + 1  # the server says there is more: follow, one by one
                number += 1
                if number > cap:
                    error = PaginationError(f"more than {cap} pages without an end", page=number)
                    break
            tg.cancel_scope.cancel()
        if error is not None:
            raise error
        return next_phase

    @staticmethod
    def _frontier(last_page: int, per_page: int) -> int:
        """The position of the last invoice delivered by aligned page ``last_page``."""
        return last_page * per_page - 1

    async def _anchored(self, phase: _Anchored, emit: Emit) -> _Aligned | None:
        ledger = self._ledger
        if ledger.last_id is None and ledger.last_created is None:
            # Nothing delivered yet, so nothing to anchor to: start over from page 1.
            return await self._first(emit)
        position, per_page = phase.position, phase.per_page
        size = per_page
        direction = 0
        steps = 0
        # Each step moves at least one page; a walk that cannot settle in this many steps
        # is chasing data that never stops moving.
        max_steps = 3 * page_count(max(position, 0) + 1, per_page) + 50
        previous: tuple[tuple[int, int], tuple[str | None, int]] | None = None
        repeats = 0
        while True:
            number, asked = anchored_request(position, size)
            page = await self._fetch(number, asked)
            self._counters.refetched_pages += 1
            check_page_number(page)
            # Different requests answered with the same invoices, again and again: a server
            # that ignores `page` while echoing it back (CLOUDFLARE_API.md, "The endpoint").
            content = (page.invoices[0].id if page.invoices else None, len(page.invoices))
            if previous is not None and previous[0] != (number, asked) and previous[1] == content:
                repeats += 1
                if repeats >= 2 and page.invoices:
                    raise PaginationError(
                        f"pages asked for at different offsets return the same invoices "
                        f"(page {number}); the server does not honour the page parameter",
                        page=number,
                    )
            else:
                repeats = 0
            previous = ((number, asked), content)
            self._track_total(page.pagination.total_count)
            offset = (number - 1) * asked
            anchor_id = ledger.last_id
            taken = ledger.take_anchored(page.invoices)
            count = len(page.invoices)
            if taken == [] and count and page.invoices[-1].id != anchor_id:
                # Every invoice on the page was delivered before, but the last delivered one is
                # not its last: the page lies wholly before the anchor (the head grew while the
                # walk stood still), so the frontier is further on. Aligning at this page's
                # end would take the invoices between it and the anchor for unseen ones.
                self._no_progress(number, asked)
                if count == asked and page.pagination.has_more is not False:
                    steps += 1
                    if steps > max_steps:
                        raise PaginationError(
                            "could not find where to continue after the data moved", page=number
                        )
                    direction = -1
                    position = max(position + 1, offset + count)
                    continue
                self._check_end(page, offset)
                return None  # the list ends on this page: nothing follows the anchor
            if taken is None:
                self._no_progress(number, asked)
                steps += 1
                if steps > max_steps:
                    raise PaginationError(
                        "could not find where to continue after the data moved", page=number
                    )
                if not page.invoices:
                    if number == 1:
                        return None  # the account is empty now
                    position = offset - 1  # past the end: the data shrank, look earlier
                    continue
                where = ledger.placement(page.invoices)
                if where < 0 and (count < asked or page.pagination.has_more is False):
                    # The list ends before the anchor's place: the anchor and everything older
                    # were deleted, and what is left is newer than the walk's frontier.
                    self._check_end(page, offset)
                    return None
                if where > 0 and offset == 0:
                    # The first page holds nothing newer than the anchor, which was deleted:
                    # nothing precedes the page, so all of it follows the anchor.
                    taken = ledger.take(page.invoices)
                else:
                    if direction and where != direction:
                        # Bouncing between two pages: the anchor sits on their boundary. Another
                        # page size moves the boundary so that one page straddles it.
                        size = max(2, size - 1)
                    direction = where
                    position = position + count if where < 0 else max(0, offset - 1)
                    continue
            if taken:
                await self._deliver(page, taken, emit)
            else:
                self._no_progress(number, asked)
            position = offset + count - 1
            total = page.pagination.total_count
            if count < asked or page.pagination.has_more is False:
                self._check_end(page, offset)
                return None
            if asked == per_page and (offset + count) % per_page == 0:
                self._plan(per_page, total)
                return _Aligned((offset + count) // per_page + 1, per_page, total)
            direction = 0
            size = per_page
