"""Pagination planning and exactly-once bookkeeping, without any I/O.

The endpoint pages by offset, newest invoice first (CLOUDFLARE_API.md, "The endpoint"). Two
ways of walking it are planned here and carried out by ``_paginator.py``:

*Aligned* walking asks for pages ``1..P`` of a fixed size concurrently. It is fast, and it is
exact as long as the data does not move: every page then reports the same ``total_count`` and
no page repeats an invoice. :func:`judge_aligned` checks exactly that for each page, in order.

*Anchored* walking is used once the data has moved (``total_count`` changed, a page repeated
invoices, the page size changed) and to resume from a checkpoint. Each request is chosen so
that it contains the last invoice already delivered (:func:`anchored_request`); the new
invoices are those after that anchor (:meth:`Ledger.take_anchored`). Because invoices are only
ever created at the head and the relative order of existing invoices never changes, a page
that contains an already-delivered invoice proves that nothing between it and the page's end
was skipped. This is what lets the iterator yield every invoice that existed for the whole
run exactly once, whatever was created or deleted meanwhile.
"""

from __future__ import annotations

import collections
import datetime as dt
import enum
from collections.abc import Iterable, Sequence

import attrs

from ._errors import PaginationError
from ._models import Invoice, InvoicePage

__all__ = [
    "DEFAULT_RETAIN",
    "Anchor",
    "Ledger",
    "Verdict",
    "anchored_request",
    "check_page_number",
    "hard_page_cap",
    "judge_aligned",
    "page_count",
]


DEFAULT_RETAIN = 20_000
"""How many delivered ids the ledger keeps at least (about 2 MB), however long the run."""


def page_count(total_count: int, per_page: int) -> int:
    """How many pages of ``per_page`` hold ``total_count`` invoices (at least one)."""
    return max(1, -(-total_count // per_page))


def hard_page_cap(total_count: int, per_page: int) -> int:
    """The most pages an aligned walk may request before the server is deemed to loop.

    Two pages of slack beyond the plan let a final page that still says ``has_more`` be
    followed, while a server that says ``has_more`` forever is stopped.
    """
    return page_count(total_count, per_page) + 2


class Verdict(enum.Enum):
    """What to do with a page received during an aligned walk."""

    ACCEPT = "accept"
    """The page continues the previous one exactly: deliver all of it."""
    REALIGN = "realign"
    """The data moved or the page size changed: switch to anchored walking."""


def check_page_number(page: InvoicePage) -> None:
    """Raise if the server says it returned another page than the one asked for.

    Some list endpoints ignore ``page`` and return page 1 for ever (cloudflare-python #2584,
    CLOUDFLARE_API.md "The endpoint").

    Raises:
        PaginationError: If the reported page number differs from the requested one.
    """
    reported = page.pagination.page
    if reported is not None and reported != page.number:
        raise PaginationError(
            f"asked for page {page.number} but the server returned page {reported}; "
            "it does not honour the page parameter",
            page=page.number,
        )


def judge_aligned(
    page: InvoicePage,
    *,
    expected_total: int | None,
    per_page: int,
    seen: Ledger,
) -> Verdict:
    """Decide whether an aligned page can be delivered as it is.

    Args:
        page: The page as received.
        expected_total: The ``total_count`` every page of this walk has reported so far.
        per_page: The page size the walk plans with.
        seen: What has been delivered.

    Raises:
        PaginationError: If the server returned another page than the one asked for, or
            repeated an earlier page while its ``total_count`` stayed the same (it ignores
            ``page``: cloudflare-python #2584, CLOUDFLARE_API.md "The endpoint").
    """
    check_page_number(page)
    if page.pagination.total_count != expected_total:
        return Verdict.REALIGN
    if page.pagination.per_page is not None and page.pagination.per_page != per_page:
        return Verdict.REALIGN
    if seen.forgotten and page.invoices and seen.is_newer(page.invoices[0]):
        # Some delivered ids were forgotten: a page that starts newer than the last delivered
        # invoice repeats invoices the ledger can no longer recognise by id.
        return Verdict.REALIGN
    repeated = seen.count_seen(page.invoices)
    if repeated:
        with_ids = sum(1 for inv in page.invoices if inv.id is not None)
        if repeated == with_ids and page.number > 1:
            raise PaginationError(
                f"page {page.number} repeats invoices already received while total_count "
                "did not change; the server does not honour the page parameter",
                page=page.number,
            )
        return Verdict.REALIGN
    return Verdict.ACCEPT


@attrs.frozen(kw_only=True)
class Anchor:
    """Where the last delivered invoice was last seen.

    Attributes:
        position: Its 0-based index in the server's order when last seen.
        invoice_id: Its id.
        created: Its creation time, to place pages when the invoice itself was deleted.
    """

    position: int
    invoice_id: str | None
    created: dt.datetime | None


def anchored_request(position: int, per_page: int) -> tuple[int, int]:
    """Choose ``(page, per_page)`` so that the page holds ``position`` and what follows it.

    The page must contain the anchor (the invoice at ``position``) and at least one invoice
    after it. With the walk's own page size that fails only when the anchor is the last of
    its page; smaller sizes are tried then (down to half), keeping the one that reaches
    furthest past the anchor. A page size of one cannot overlap, so two is used.

    Args:
        position: The anchor's 0-based index.
        per_page: The walk's page size.

    Returns:
        The 1-based page number and the page size to ask for.
    """
    if position < 0:
        return 1, max(per_page, 2)
    best: tuple[int, int, int] | None = None  # (items after the anchor, page, size)
    smallest = max(2, per_page // 2)
    for size in range(max(per_page, 2), smallest - 1, -1):
        page = position // size + 1
        after = page * size - 1 - position
        if after > 0 and (best is None or after > best[0]):
            best = (after, page, size)
            if size == per_page:
                break  # the walk's own size reaches past the anchor: keep pages aligned
    if best is None:
        # Every size from per_page down to half of it puts the anchor last on its page;
        # one more than per_page never does (consecutive sizes cannot both divide
        # position + 1 ... unless position + 1 is a multiple of both, so keep looking up).
        size = per_page + 1
        while (position + 1) % size == 0:
            size += 1
        return position // size + 1, size
    return best[1], best[2]


class Ledger:
    """What has been delivered in this run: the exactly-once bookkeeping.

    Invoices are recognised by ``id``; an invoice without an id cannot be recognised again
    and is always delivered.
    """

    def __init__(self, *, retain: int | None = DEFAULT_RETAIN) -> None:
        self.seen: set[str] = set()
        self.delivered = 0
        self.last_created: dt.datetime | None = None
        self.last_id: str | None = None
        self.duplicates = 0
        self.skipped_new = 0
        self._retain = retain
        # Delivery order of the ids in `seen`, kept only while every delivered invoice has a
        # creation time no newer than the one before it: only then can an id be forgotten.
        self._order: collections.deque[tuple[str, dt.datetime]] | None = (
            collections.deque() if retain is not None else None
        )
        self.forgotten = 0

    @property
    def ordered(self) -> bool:
        """Whether every invoice delivered so far came newest first, each with a creation time."""
        return self._order is not None

    def count_seen(self, invoices: Iterable[Invoice]) -> int:
        """How many of ``invoices`` were delivered before."""
        seen = self.seen
        return sum(1 for inv in invoices if inv.id is not None and inv.id in seen)

    def remember(self, invoice_id: str | None, created: dt.datetime | None) -> None:
        """Mark an invoice as delivered without delivering it (the anchor of a checkpoint)."""
        if invoice_id is not None:
            self.seen.add(invoice_id)
        self.last_id = invoice_id
        self.last_created = created

    def take(self, invoices: Sequence[Invoice]) -> list[Invoice]:
        """Deliver ``invoices``, skipping any already delivered, and return those delivered."""
        out: list[Invoice] = []
        seen = self.seen
        order = self._order
        previous = self.last_created
        for inv in invoices:
            if inv.id is not None:
                if inv.id in seen:
                    self.duplicates += 1
                    continue
                seen.add(inv.id)
            if order is not None:
                created = inv.created
                if (
                    inv.id is None
                    or created is None
                    or (previous is not None and created > previous)
                ):
                    order = self._order = None  # out of order: remember every id from now on
                else:
                    order.append((inv.id, created))
                    previous = created
            out.append(inv)
        if out:
            self.delivered += len(out)
            self.last_id = out[-1].id
            self.last_created = out[-1].created
            if order is not None:
                self._forget(order)
        return out

    def _forget(self, order: collections.deque[tuple[str, dt.datetime]]) -> None:
        # Streaming a million invoices must not keep a million ids. An id can be forgotten
        # once it is strictly newer than the last delivered invoice: should it come back (the
        # pages shifted), its creation time alone places it before the frontier, so it is
        # never taken for a new one (see judge_aligned and take_anchored). Ids that share
        # the frontier's creation time are kept, since time cannot tell them apart.
        assert self._retain is not None
        seen, last = self.seen, self.last_created
        while len(order) > self._retain and last is not None and order[0][1] > last:
            seen.discard(order.popleft()[0])
            self.forgotten += 1

    def is_newer(self, invoice: Invoice) -> bool:
        """Whether ``invoice`` is strictly newer than the last delivered one."""
        last = self.last_created
        return last is not None and invoice.created is not None and invoice.created > last

    def take_anchored(self, invoices: Sequence[Invoice]) -> list[Invoice] | None:
        """Deliver what follows the first already-delivered invoice on an anchored page.

        Invoices before the anchor are newer than it: created during the run, they are not
        delivered (the run delivers what existed when it passed that point) but counted in
        :attr:`skipped_new`. When the page
        holds no delivered invoice, the last delivered invoice's creation time places it:
        a page that reaches from newer to older invoices straddles the gap the deleted
        anchor left, and its older part follows on.

        Returns:
            The invoices delivered (possibly none), or ``None`` when the page cannot be
            placed relative to what was delivered: it lies wholly before or after it.
        """
        seen = self.seen
        for index, inv in enumerate(invoices):
            if inv.id is not None and inv.id in seen:
                self.skipped_new += index
                return self.take(invoices[index + 1 :])
        last = self.last_created
        if last is None or not invoices:
            return None
        created = [inv.created for inv in invoices]
        if any(c is None for c in created):
            return None
        newer = sum(1 for c in created if c is not None and c > last)
        if 0 < newer < len(invoices):
            self.skipped_new += newer
            return self.take(invoices[newer:])
        return None

    def placement(self, invoices: Sequence[Invoice]) -> int:
        """Tell where a page that could not be anchored lies: -1 before, 1 after the anchor.

        Pages of newer invoices lie before (the data shifted down: move forward); pages of
        older invoices lie after (the data shifted up: move back).

        Raises:
            PaginationError: If the invoices carry no creation times to compare.
        """
        last = self.last_created
        created = [inv.created for inv in invoices]
        if last is None or not created or any(c is None for c in created):
            raise PaginationError(
                "the data moved during the run and the invoices carry no creation time to "
                "find the place to continue from"
            )
        return -1 if all(c is not None and c > last for c in created) else 1
