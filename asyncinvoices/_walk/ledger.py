"""The exactly-once ledger of a walk, without I/O: which invoices were delivered, so that a
page that repeats them after the data moved yields only the new ones."""

from __future__ import annotations

import collections
import datetime as dt
import operator
from collections.abc import Sequence

from asyncinvoices._errors import PaginationError
from asyncinvoices._models import Invoice

__all__ = ["DEFAULT_RETAIN", "Ledger"]

# The ledger reads these of a whole page at once, in C.
_ID = operator.attrgetter("id")


_CREATED = operator.attrgetter("created")


DEFAULT_RETAIN = 20_000
"""How many delivered ids the ledger keeps at least (about 2 MB), however long the run."""


class Ledger:
    """What has been delivered in this run: the exactly-once bookkeeping.

    Invoices are recognised by ``id``; an invoice without an id cannot be recognised again
    and is always delivered.
    """

    def __init__(self, *, retain: int | None = DEFAULT_RETAIN) -> None:
        self.seen: set[str] = set()
        self.last_created: dt.datetime | None = None
        self.last_id: str | None = None
        self.duplicates = 0
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

    def count_seen(self, invoices: Sequence[Invoice]) -> int:
        """How many of ``invoices`` were delivered before."""
        seen = self.seen
        if seen.isdisjoint(map(_ID, invoices)):  # the usual answer, without a Python loop
            return 0
        return sum(1 for inv in invoices if inv.id is not None and inv.id in seen)

    def remember(self, invoice_id: str | None, created: dt.datetime | None) -> None:
        """Mark an invoice as delivered without delivering it (the anchor of a checkpoint)."""
        if invoice_id is not None:
            self.seen.add(invoice_id)
        self.last_id = invoice_id
        self.last_created = created

    def take(self, invoices: Sequence[Invoice]) -> list[Invoice]:
        """Deliver ``invoices``, skipping any already delivered, and return those delivered."""
        ids = list(map(_ID, invoices))
        fresh = set(ids)
        if len(fresh) == len(ids) and None not in fresh and self.seen.isdisjoint(fresh):
            return self._take_all(invoices, ids, fresh)
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
            self.last_id = out[-1].id
            self.last_created = out[-1].created
            if order is not None:
                self._forget(order)
        return out

    def _take_all(
        self, invoices: Sequence[Invoice], ids: list[str], fresh: set[str]
    ) -> list[Invoice]:
        # The usual page: every invoice has an id never delivered. The same bookkeeping as
        # the loop of `take`, a page at a time in C (a million invoices make it worth it).
        out = list(invoices)
        if not out:
            return out
        self.seen |= fresh
        order = self._order
        if order is not None:
            created = list(map(_CREATED, invoices))
            previous = self.last_created
            if (
                None not in created
                and (previous is None or created[0] <= previous)
                and created == sorted(created, reverse=True)
            ):
                order.extend(zip(ids, created, strict=True))
            else:
                order = self._order = None  # out of order: remember every id from now on
        self.last_id = ids[-1]
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
        delivered (the run delivers what existed when it passed that point). When the page
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
                return self.take(invoices[index + 1 :])
        last = self.last_created
        if last is None or not invoices:
            return None
        created = [inv.created for inv in invoices]
        if any(c is None for c in created):
            return None
        newer = sum(1 for c in created if c is not None and c > last)
        if 0 < newer < len(invoices):
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
