"""Pagination planning and exactly-once bookkeeping, without any I/O.

The endpoint pages by offset, newest invoice first (docs/cloudflare-api.md, "The endpoint"). Every
decision of a walk is taken here, by three small state machines in the manner of h11's
connection state: the driver (``_walk/driver.py``) asks a machine for its next action with
``next_request()``, carries out the request, and hands the page back with ``feed(page)``,
which says what to deliver. A machine's terminal action names the next machine.

* :class:`FirstPage` asks for page 1 alone, to learn ``total_count`` and the page size the
  server really uses (a server may clamp ``per_page`` silently, or reject it with code 6008
  and name its maximum).
* :class:`AlignedWindow` asks for pages ``k, k+1, ...`` of a fixed size, up to ``read_ahead``
  pages beyond the one it waits for, and judges them strictly in page order. It is exact as
  long as the data does not move: every page then reports the same ``total_count`` and no
  page repeats an invoice (:func:`judge_aligned`).
* :class:`AnchoredSearch` is used once the data has moved (``total_count`` changed, a page
  repeated invoices, the page size changed) and to resume from a checkpoint. Each request is
  chosen so that it contains the last invoice already delivered (:func:`anchored_request`);
  the new invoices are those after that anchor (:meth:`Ledger.take_anchored`). Because
  invoices are only ever created at the head and the relative order of existing invoices
  never changes, a page that contains an already-delivered invoice proves that nothing
  between it and the page's end was skipped. Once a page ends on a page boundary, the walk
  goes back to aligned.

This is what lets the iterator yield every invoice that existed for the whole run exactly
once, whatever was created or deleted meanwhile. Nothing here awaits or sends anything: the
machines can be driven synchronously by a test against an in-memory model of the server.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TypeAlias

import attrs

from asyncinvoices._errors import BadRequestError, PaginationError
from asyncinvoices._models import Invoice, InvoicePage
from asyncinvoices._walk.actions import (
    AlignAt,
    Await,
    Deliver,
    Done,
    Request,
    Restart,
    Seek,
)
from asyncinvoices._walk.ledger import Ledger
from asyncinvoices._walk.pages import (
    Anchor,
    Verdict,
    _ends_short,
    anchored_request,
    check_end,
    check_extent,
    check_page_number,
    finished,
    hard_page_cap,
    judge_aligned,
    page_count,
    served_less,
    server_page_size,
)

from .page_size import PageSizes

__all__ = [
    "AlignedWindow",
    "AnchoredSearch",
    "FirstPage",
    "Machine",
    "Walk",
    "WalkProgress",
]


ABSOLUTE_PAGE_CAP = 1_000_000
"""The most pages a walk without ``total_count`` may request.

Without a total nothing bounds the walk but ``has_more``; a server that says ``has_more``
for ever while returning new invoices is stopped here rather than never.
"""

# Re-aligning after drift takes a few requests that deliver nothing: up to two for each page
# that was held when the data moved, plus a fixed allowance for the search itself, plus one
# step forward per page of invoices created at the head meanwhile. A server that ignores
# `page` while echoing it back (cloudflare-python #2584, docs/cloudflare-api.md "The endpoint")
# produces such requests for ever, and is stopped once they exceed the sum.
_IDLE_PER_HELD_PAGE = 2
_IDLE_ALLOWANCE = 20

# Each step of an anchored search moves at least one page, so a search settles within a few
# steps per page up to its anchor; one that cannot is chasing data that never stops moving.
_SEARCH_STEPS_PER_PAGE = 3
_SEARCH_STEPS_ALLOWANCE = 50

# Different requests answered with the same invoices this many times in a row: a server
# that ignores `page` while echoing it back (docs/cloudflare-api.md, "The endpoint").
_REPEATS_TO_FAIL = 2


# -- what the machines share ------------------------------------------------------------


@attrs.define
class WalkProgress:
    """What a walk has learnt so far, read by the stream to build :class:`FetchStats`.

    Attributes:
        planned_pages: How many pages the current plan needs, once ``total_count`` is known.
        total_count: The ``total_count`` the server last reported.
        drift: How many times the data was seen moving under the walk.
        refetched_pages: Requests spent finding the place to continue after the data moved.
        unordered: Whether an invoice came without a creation time, or newer than one
            delivered before it: the server's order is not by ``created``, so a ``since``
            bound cannot end the walk early and every page is fetched and filtered.
        page_size: The page size the server serves this walk, once page 1 showed it.
        reached: With ``since``, how many invoices from the head of the list the walk had
            to read: up to the first one older than the bound, once one was seen.
        resumed: How many invoices a checkpoint said were delivered before this walk.
    """

    planned_pages: int | None = None
    total_count: int | None = None
    drift: int = 0
    refetched_pages: int = 0
    unordered: bool = False
    page_size: int | None = None
    reached: int | None = None
    resumed: int = 0

    def fewest_requests(self) -> int | None:
        """The fewest requests the walk could have cost at the server's page size.

        The pages of :attr:`page_size` that hold what had to be read: the whole list by
        ``total_count`` (after what a checkpoint delivered, when resumed), or with ``since``
        the invoices up to the first one older than the bound. ``None`` while the page size
        or the extent is not known.
        """
        size = self.page_size
        extent = self.reached
        if extent is None or self.unordered:
            extent = None if self.total_count is None else self.total_count - self.resumed
        if size is None or extent is None:
            return None
        return page_count(max(0, extent), size)


class Walk:
    """The state the machines of one walk share: what was delivered and what was learnt.

    Args:
        ledger: The exactly-once bookkeeping.
        per_page: The page size the caller asked for, or ``None`` for the largest the
            server accepts; ``sizes`` may only lower it.
        read_ahead: How many pages may be started or held beyond the one awaited.
        progress: Where to record what the walk learns.
        since: Deliver only invoices created at or after this instant (inclusive).
        until: Deliver only invoices created before this instant (exclusive).
        sizes: What the client knows of the server's page sizes, shared with its other
            walks; a walk of its own when ``None``.
        read_ahead_for: When given, ``read_ahead`` is derived again from the page size the
            server serves, once page 1 showed it (the client's default depends on it).

    With either bound, an invoice without a creation time is not delivered. Invoices come
    newest first (docs/cloudflare-api.md, "The endpoint"), so once a delivered invoice is older
    than ``since`` nothing after it can be within the bounds: :attr:`past_since` tells the
    machines to start no more pages, unless the order was seen broken
    (:attr:`WalkProgress.unordered`).
    """

    def __init__(
        self,
        *,
        ledger: Ledger,
        per_page: int | None,
        read_ahead: int,
        progress: WalkProgress,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        sizes: PageSizes | None = None,
        read_ahead_for: Callable[[int], int] | None = None,
    ) -> None:
        self.ledger = ledger
        self.wanted = per_page
        self.sizes = PageSizes() if sizes is None else sizes
        self.read_ahead = read_ahead
        self._read_ahead_for = read_ahead_for
        self.progress = progress
        self.since = since
        self.until = until
        self.past_since = False
        self._previous: dt.datetime | None = None  # the last delivered creation time
        self._first_total: int | None = None
        self._last_total: int | None = None
        self._idle = 0  # requests in a row that delivered no new invoice
        self._read = 0  # with since: invoices read before the first one older than it

    def start(self, resume: Anchor | None) -> Machine:
        """The first machine: page 1, or a search after a checkpoint's anchor."""
        if resume is not None and resume.position >= 0:
            self.ledger.remember(resume.invoice_id, resume.created)
            self.progress.resumed = resume.position + 1
            return AnchoredSearch(self, Seek(resume.position, self.first_size(), None))
        return FirstPage(self)

    def first_size(self) -> int:
        """The page size a first request asks for: the caller's, within what was learnt."""
        return self.sizes.ask(self.wanted)

    def page_size(self, size: int) -> None:
        """Record the page size the server serves this walk (page 1 or a search showed it)."""
        self.progress.page_size = size
        if self._read_ahead_for is not None:
            self.read_ahead = self._read_ahead_for(size)

    def enter(self, action: AlignAt | Seek | Restart) -> Machine:
        """The machine that carries out a machine's terminal ``action``."""
        if isinstance(action, AlignAt):
            if self.progress.page_size is None:
                self.page_size(action.per_page)  # a resumed search settled on it
            return AlignedWindow(self, action)
        if isinstance(action, Seek):
            return AnchoredSearch(self, action)
        return FirstPage(self)

    def track_total(self, total: int | None) -> None:
        """Record a reported ``total_count``; a change is drift."""
        if total is None:
            return
        if self._last_total is not None and total != self._last_total:
            self.progress.drift += 1
        if self._first_total is None:
            self._first_total = total
        self._last_total = total
        self.progress.total_count = total

    def plan(self, per_page: int, total: int | None) -> None:
        """Record how many pages of ``per_page`` the walk now plans."""
        if total is not None:
            self.progress.planned_pages = page_count(total, per_page)

    def deliver(self, page: InvoicePage, invoices: Sequence[Invoice]) -> Deliver | None:
        """The action delivering ``invoices`` from ``page``, within the bounds.

        Returns:
            The delivery, or ``None`` when the bounds leave nothing of a page that had
            invoices to deliver.
        """
        if invoices:
            self._idle = 0
        if self.since is None and self.until is None:
            # The order by creation time matters only to bounds on it: without them it is
            # neither followed nor reported.
            return Deliver(attrs.evolve(page, invoices=tuple(invoices)))
        if invoices:
            self._follow_order(invoices)
        kept = tuple(inv for inv in invoices if self._within(inv.created))
        if invoices and not kept:
            return None
        return Deliver(attrs.evolve(page, invoices=kept))

    def _within(self, created: dt.datetime | None) -> bool:
        since, until = self.since, self.until
        return (
            created is not None
            and (since is None or created >= since)
            and (until is None or created < until)
        )

    def _follow_order(self, invoices: Sequence[Invoice]) -> None:
        previous = self._previous
        for inv in invoices:
            created = inv.created
            if created is None or (previous is not None and created > previous):
                self.progress.unordered = True
            else:
                previous = created
        self._previous = previous
        since = self.since
        if since is None:
            return
        if self.progress.reached is None:
            # How far down the list the walk had to read: to the first invoice older than
            # the bound, which proves that nothing after it is within it.
            older = next(
                (
                    k
                    for k, inv in enumerate(invoices)
                    if inv.created is not None and inv.created < since
                ),
                None,
            )
            if older is None:
                self._read += len(invoices)
            else:
                self.progress.reached = self._read + older + 1
        if previous is not None and not self.progress.unordered:
            self.past_since = previous < since

    def no_progress(self, page: int, per_page: int) -> None:
        """Count a request that delivered nothing; fail when too many come in a row.

        Raises:
            PaginationError: Past the allowance described at ``_IDLE_ALLOWANCE``.
        """
        self._idle += 1
        grown = 0
        if self._first_total is not None and self._last_total is not None:
            grown = max(0, self._last_total - self._first_total)
        held = self.read_ahead + 1
        allowed = _IDLE_PER_HELD_PAGE * held + _IDLE_ALLOWANCE + grown // max(per_page, 1)
        if self._idle > allowed:
            raise PaginationError(
                f"{self._idle} requests in a row brought no new invoice (page {page}); the "
                "server does not honour the page parameter, or the data never stops moving",
                page=page,
            )


# -- the machines -----------------------------------------------------------------------


class FirstPage:
    """Page 1 alone: learns ``total_count`` and the page size the server really uses.

    It asks for the walk's size within what the client has learnt (:class:`PageSizes`). A
    server may reject it with code 6008, naming its maximum or not, or clamp it silently
    (docs/cloudflare-api.md, "The endpoint"): a rejection is learnt and page 1 asked for again
    at the size advised next; a clamp is learnt and the walk pages by the size served.

    Args:
        walk: The walk's shared state.
    """

    def __init__(self, walk: Walk) -> None:
        self._walk = walk
        self._asked = walk.first_size()
        self._outcome: Done | AlignAt | None = None

    def next_request(self) -> Request | Done | AlignAt:
        """What to do next: fetch page 1, or the walk's next phase once it was fed."""
        if self._outcome is not None:
            return self._outcome
        # Asked again each time: another walk of the client may have learnt meanwhile.
        self._asked = self._walk.first_size()
        return Request(1, self._asked)

    def refused(self, exc: BadRequestError) -> None:
        """Learn from a rejected request: the next one asks for a size the server may accept.

        Raises:
            BadRequestError: ``exc`` itself, when it teaches nothing about the page size.
        """
        self._walk.sizes.refused(self._asked, exc)

    def feed(self, page: InvoicePage) -> Deliver | None:
        """Take page 1 and plan the rest of the walk from it.

        Raises:
            PaginationError: If the server says it returned another page.
        """
        check_page_number(page)
        walk = self._walk
        size = server_page_size(page, self._asked)
        walk.sizes.succeeded(self._asked, size)
        walk.page_size(size)
        total = page.pagination.total_count
        walk.track_total(total)
        walk.plan(size, total)
        delivery = walk.deliver(page, walk.ledger.take(page.invoices))
        short = _ends_short(page, size) and total is not None
        if finished(page, 1, size, total) or short or walk.past_since:
            # A short first page ends the list, whatever total_count claims: an offset past
            # the end is empty (docs/cloudflare-api.md, "The endpoint"), so an inflated total
            # costs no request at all here.
            self._outcome = Done()
        else:
            self._outcome = AlignAt(2, size, total)
        return delivery


class AlignedWindow:
    """Pages ``start, start+1, ...`` of one size, read ahead and judged strictly in order.

    ``next_request()`` starts pages up to ``read_ahead`` beyond the one awaited (the head),
    then answers :class:`Await` for the head; ``feed`` takes the head. So the driver holds at
    most ``read_ahead + 1`` pages at a time, and when ``total_count`` overstates the data, the
    first short or empty page stops the starting: at most ``read_ahead`` requests are wasted.

    Args:
        walk: The walk's shared state.
        at: Where to start, the page size and the ``total_count`` to plan with.
    """

    def __init__(self, walk: Walk, at: AlignAt) -> None:
        self._walk = walk
        self._per_page = at.per_page
        self._total = total = at.total
        self._last = page_count(total, at.per_page) if total is not None else None
        self._cap = hard_page_cap(total, at.per_page) if total is not None else ABSOLUTE_PAGE_CAP
        self._limit = self._last  # the highest page that may start; None while on has_more
        if at.follow and self._last is not None and at.start > self._last:
            self._limit = at.start  # the page before said has_more: follow it, one page
        self._started = at.start - 1
        self._head = at.start
        self._outcome: Done | Seek | PaginationError | None = None

    def next_request(self) -> Request | Await | Done | Seek:
        """What to do next: start a page, wait for the head, or end this phase.

        Raises:
            PaginationError: If the last page fed showed that the server's paging loops.
        """
        outcome = self._outcome
        if isinstance(outcome, PaginationError):
            raise outcome  # found on the page fed last, raised once it was delivered
        if outcome is not None:
            return outcome
        ahead = self._head + self._walk.read_ahead
        if self._started < ahead and (self._limit is None or self._started < self._limit):
            self._started += 1
            return Request(self._started, self._per_page)
        if self._head > self._started:
            return Done()  # every page started was delivered and nothing more may start
        return Await(self._head)

    def feed(self, page: InvoicePage) -> Deliver | None:
        """Take the head page (the one :class:`Await` named) and say what to deliver.

        Raises:
            PaginationError: If the server ignores ``page``, or nothing was delivered for
                longer than re-aligning after drift can take.
        """
        walk = self._walk
        verdict = judge_aligned(
            page, expected_total=self._total, per_page=self._per_page, seen=walk.ledger
        )
        if verdict is Verdict.REALIGN:
            self._realign(page)
            return None
        walk.track_total(page.pagination.total_count)
        delivery = walk.deliver(page, walk.ledger.take(page.invoices))
        self._advance(page)
        return delivery

    def _realign(self, page: InvoicePage) -> None:
        walk, number, per_page = self._walk, self._head, self._per_page
        drift = walk.progress.drift
        walk.track_total(page.pagination.total_count)
        if walk.progress.drift == drift and walk.ledger.count_seen(page.invoices):
            # The page repeats delivered invoices under an unchanged total_count: as many
            # were created as deleted. The data moved all the same.
            walk.progress.drift += 1
        walk.progress.refetched_pages += 1
        walk.no_progress(number, per_page)
        # Continue after the last invoice of the previous page, wherever it is now.
        self._outcome = Seek((number - 1) * per_page - 1, per_page, self._total)

    def _advance(self, page: InvoicePage) -> None:
        number, last, per_page = self._head, self._last, self._per_page
        if self._walk.past_since:
            self._outcome = Done()  # everything after this page is older than `since`
            return
        if last is not None and number < last and _ends_short(page, per_page):
            # total_count promises more pages, yet this one is short under the same total,
            # and an offset past the end stays empty: finish the pages already started and
            # start no more, so that an inflated total_count wastes at most read_ahead
            # requests beyond this page.
            self._limit = self._started
        if last is None:
            if finished(page, number, per_page, None):
                self._outcome = Done()
                return
        elif number >= last:
            if finished(page, number, per_page, self._total):
                self._outcome = Done()
                return
            if number + 1 > self._cap:
                self._outcome = PaginationError(
                    f"page {number} still says has_more although total_count "
                    f"{self._total} fits in {last} pages of {per_page}",
                    page=number,
                )
                return
            self._limit = number + 1  # the server says there is more: follow, one by one
        self._head += 1
        if self._head > self._cap:
            self._outcome = PaginationError(
                f"more than {self._cap} pages without an end", page=self._head
            )


class AnchoredSearch:
    """One request at a time, each overlapping what was delivered, until pages align again.

    Args:
        walk: The walk's shared state.
        seek: The last delivered invoice's position, the page size and the total to plan with.
    """

    def __init__(self, walk: Walk, seek: Seek) -> None:
        self._walk = walk
        self._per_page = seek.per_page
        self._position = seek.position
        self._size = seek.per_page
        self._direction = 0  # -1 moving forward past newer pages, 1 moving back, 0 settled
        self._steps = 0
        self._max_steps = (
            _SEARCH_STEPS_PER_PAGE * page_count(max(seek.position, 0) + 1, seek.per_page)
            + _SEARCH_STEPS_ALLOWANCE
        )
        self._asked = (1, seek.per_page)
        self._previous: tuple[tuple[int, int], tuple[str | None, int]] | None = None
        self._repeats = 0
        ledger = walk.ledger
        self._outcome: Done | AlignAt | Seek | Restart | PaginationError | None = None
        if ledger.last_id is None and ledger.last_created is None:
            self._outcome = Restart()  # nothing delivered yet, so nothing to anchor to

    def next_request(self) -> Request | Done | AlignAt | Seek | Restart:
        """What to do next: the page holding the anchor, or the walk's next phase.

        Raises:
            PaginationError: If the last page fed ended the list where its own
                ``total_count`` says it does not.
        """
        outcome = self._outcome
        if isinstance(outcome, PaginationError):
            raise outcome  # found on the page fed last, raised once it was delivered
        if outcome is not None:
            return outcome
        self._asked = anchored_request(self._position, self._size)
        return Request(*self._asked)

    def refused(self, exc: BadRequestError) -> None:
        """Learn from a rejected request and search again at a size the server may accept.

        A search resumed from a checkpoint asks for the walk's page size before any page 1
        could show it, so the first request may be refused as page 1's may.

        Raises:
            BadRequestError: ``exc`` itself, when it teaches nothing about the page size, or
                the search had asked for more than the walk's size (no smaller one helps).
        """
        asked = self._asked[1]
        if asked > self._per_page:
            raise exc
        self._walk.sizes.refused(asked, exc)
        self._restart()

    def _restart(self) -> None:
        # Search again, from the same anchor, at the size now advised.
        self._outcome = Seek(self._position, self._walk.first_size(), None)

    def feed(self, page: InvoicePage) -> Deliver | None:
        """Take the page last requested and say what to deliver from it.

        Raises:
            PaginationError: If the server ignores ``page``, or the search cannot settle.
        """
        walk, ledger = self._walk, self._walk.ledger
        number, asked = self._asked
        walk.progress.refetched_pages += 1
        # A size above the walk's (the rare fallback of anchored_request) proves nothing.
        clamp = served_less(page, asked) if asked <= self._per_page else None
        walk.sizes.succeeded(asked, asked if clamp is None else clamp)
        if clamp is not None:
            # The server pages by a smaller size than asked, so this page is not at the
            # offset the search placed it: search again by the size it serves.
            walk.no_progress(number, asked)
            self._restart()
            return None
        if walk.progress.page_size is None and asked == self._per_page:
            walk.page_size(asked)
        check_page_number(page)
        offset = (number - 1) * asked
        if asked <= self._per_page or page.pagination.per_page == asked:
            # An aligned walk follows has_more past a total_count that understates the
            # data; a search needs the total to place pages, so the two must agree. (Not
            # checked when the server may page by a smaller size than asked.)
            check_extent(page, offset)
        self._check_repeats(page)
        walk.track_total(page.pagination.total_count)
        anchor_id = ledger.last_id
        taken = ledger.take_anchored(page.invoices)
        if taken == [] and page.invoices and page.invoices[-1].id != anchor_id:
            self._before_anchor(page, offset)
            return None
        if taken is None:
            taken = self._unplaced(page, offset)
            if taken is None:
                return None
        delivery = None
        if taken:
            delivery = walk.deliver(page, taken)
        else:
            walk.no_progress(number, asked)
        self._after_anchor(page, offset)
        return delivery

    def _check_repeats(self, page: InvoicePage) -> None:
        # Different requests answered with the same invoices, again and again: a server that
        # ignores `page` while echoing it back (docs/cloudflare-api.md, "The endpoint").
        content = (page.invoices[0].id if page.invoices else None, len(page.invoices))
        previous = self._previous
        if previous is not None and previous[0] != self._asked and previous[1] == content:
            self._repeats += 1
            if self._repeats >= _REPEATS_TO_FAIL and page.invoices:
                raise PaginationError(
                    f"pages asked for at different offsets return the same invoices "
                    f"(page {self._asked[0]}); the server does not honour the page parameter",
                    page=self._asked[0],
                )
        else:
            self._repeats = 0
        self._previous = (self._asked, content)

    def _step(self) -> None:
        self._steps += 1
        if self._steps > self._max_steps:
            raise PaginationError(
                "could not find where to continue after the data moved", page=self._asked[0]
            )

    def _before_anchor(self, page: InvoicePage, offset: int) -> None:
        # Every invoice on the page was delivered before, but the last delivered one is not
        # its last: the page lies wholly before the anchor (the head grew while the walk
        # stood still), so the frontier is further on. Aligning at this page's end would
        # take the invoices between it and the anchor for unseen ones.
        number, asked = self._asked
        count = len(page.invoices)
        self._walk.no_progress(number, asked)
        if count == asked and page.pagination.has_more is not False:
            self._step()
            self._direction = -1
            self._position = max(self._position + 1, offset + count)
            return
        check_end(page, offset)
        self._outcome = Done()  # the list ends on this page: nothing follows the anchor

    def _unplaced(self, page: InvoicePage, offset: int) -> list[Invoice] | None:
        # The page holds no delivered invoice: creation times tell which way to move.
        number, asked = self._asked
        count = len(page.invoices)
        self._walk.no_progress(number, asked)
        self._step()
        if not page.invoices:
            if number == 1:
                self._outcome = Done()  # the account is empty now
            else:
                self._position = offset - 1  # past the end: the data shrank, look earlier
            return None
        where = self._walk.ledger.placement(page.invoices)
        if where < 0 and (count < asked or page.pagination.has_more is False):
            # The list ends before the anchor's place: the anchor and everything older were
            # deleted, and what is left is newer than the walk's frontier.
            check_end(page, offset)
            self._outcome = Done()
            return None
        if where > 0 and offset == 0:
            # The first page holds nothing newer than the anchor, which was deleted: nothing
            # precedes the page, so all of it follows the anchor.
            return self._walk.ledger.take(page.invoices)
        if self._direction and where != self._direction:
            # Bouncing between two pages: the anchor sits on their boundary. Another page
            # size moves the boundary so that one page straddles it.
            self._size = max(2, self._size - 1)
        self._direction = where
        self._position = self._position + count if where < 0 else max(0, offset - 1)
        return None

    def _after_anchor(self, page: InvoicePage, offset: int) -> None:
        asked, per_page = self._asked[1], self._per_page
        count = len(page.invoices)
        self._position = offset + count - 1
        total = page.pagination.total_count
        if self._walk.past_since:
            self._outcome = Done()  # everything after this page is older than `since`
            return
        if count < asked or page.pagination.has_more is False:
            try:
                check_end(page, offset)
            except PaginationError as exc:
                self._outcome = exc  # raised once this page's invoices were delivered
                return
            self._outcome = Done()
            return
        if asked == per_page and (offset + count) % per_page == 0:
            self._walk.plan(per_page, total)
            follow = page.pagination.has_more is True
            self._outcome = AlignAt((offset + count) // per_page + 1, per_page, total, follow)
            return
        self._direction = 0
        self._size = per_page


Machine: TypeAlias = FirstPage | AlignedWindow | AnchoredSearch
"""Any of the walk's machines."""
