"""Sans-I/O tests of pagination planning and the exactly-once ledger."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncinvoices import Invoice, InvoicePage, Pagination, PaginationError
from asyncinvoices._walk.ledger import Ledger
from asyncinvoices._walk.pages import (
    Verdict,
    anchored_request,
    hard_page_cap,
    judge_aligned,
    page_count,
)

EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def inv(n: int) -> Invoice:
    """Invoice number n of a newest-first account: higher n is older."""
    return Invoice(
        id=f"in_{n}",
        amount_due=Decimal(n),
        amount_paid=Decimal(0),
        amount_remaining=Decimal(n),
        currency="usd",
        created=EPOCH - dt.timedelta(minutes=n),
    )


def page(number: int, ids: list[int], *, total: int | None, per_page: int = 3) -> InvoicePage:
    """A page as the decoder would return it."""
    return InvoicePage(
        number=number,
        invoices=tuple(inv(i) for i in ids),
        pagination=Pagination(page=number, per_page=per_page, total_count=total),
    )


@pytest.mark.parametrize(
    ("total", "per_page", "pages"),
    [(0, 50, 1), (1, 50, 1), (50, 50, 1), (51, 50, 2), (400 * 50, 50, 400), (7, 1, 7)],
)
def test_page_count(total: int, per_page: int, pages: int) -> None:
    """The plan covers every invoice, and an empty account still has one page."""
    assert page_count(total, per_page) == pages
    assert hard_page_cap(total, per_page) == pages + 2


def test_judge_accepts_continuation() -> None:
    """A page with the expected total and no repeats is accepted."""
    ledger = Ledger()
    ledger.take([inv(0), inv(1), inv(2)])
    assert judge_aligned(
        page(2, [3, 4, 5], total=9), expected_total=9, per_page=3, seen=ledger
    ) is (Verdict.ACCEPT)


def test_judge_realigns_on_total_change_or_repeat_or_size() -> None:
    """A changed total, a partly repeated page or another page size mean the data moved."""
    ledger = Ledger()
    ledger.take([inv(0), inv(1), inv(2)])
    assert judge_aligned(
        page(2, [3, 4, 5], total=10), expected_total=9, per_page=3, seen=ledger
    ) is (Verdict.REALIGN)
    assert judge_aligned(
        page(2, [2, 3, 4], total=9), expected_total=9, per_page=3, seen=ledger
    ) is (Verdict.REALIGN)
    assert (
        judge_aligned(
            page(2, [3, 4], total=9, per_page=2), expected_total=9, per_page=3, seen=ledger
        )
        is Verdict.REALIGN
    )


def test_judge_rejects_wrong_page_number() -> None:
    """A page that says it is another page than asked for is a PaginationError."""
    answered = InvoicePage(
        number=3, invoices=(inv(0),), pagination=Pagination(page=1, per_page=3, total_count=9)
    )
    with pytest.raises(PaginationError, match="asked for page 3 but the server returned page 1"):
        judge_aligned(answered, expected_total=9, per_page=3, seen=Ledger())


def test_judge_rejects_repeated_page() -> None:
    """Page content repeated with an unchanged total means the page parameter is ignored."""
    ledger = Ledger()
    ledger.take([inv(0), inv(1), inv(2)])
    with pytest.raises(PaginationError) as info:
        judge_aligned(page(2, [0, 1, 2], total=9), expected_total=9, per_page=3, seen=ledger)
    assert info.value.page == 2


def test_ledger_take_skips_repeats_and_tracks_last() -> None:
    """The ledger delivers each id once and remembers the last delivered."""
    ledger = Ledger()
    assert [i.id for i in ledger.take([inv(0), inv(1)])] == ["in_0", "in_1"]
    assert [i.id for i in ledger.take([inv(1), inv(2)])] == ["in_2"]
    assert ledger.duplicates == 1
    assert ledger.last_id == "in_2"
    assert ledger.last_created == inv(2).created


def test_ledger_anchored_after_creations() -> None:
    """New invoices before the anchor are skipped; what follows the anchor is delivered."""
    ledger = Ledger()
    ledger.take([inv(0), inv(1), inv(2)])
    # Two invoices were created at the head: the page now starts with older delivered ones.
    taken = ledger.take_anchored([inv(-2), inv(1), inv(2), inv(3), inv(4)])
    assert taken is not None
    assert [i.id for i in taken] == ["in_3", "in_4"]
    assert ledger.last_id == "in_4"


def test_ledger_anchored_after_anchor_deleted() -> None:
    """When the anchor itself was deleted, creation times place the continuation."""
    ledger = Ledger()
    ledger.take([inv(0), inv(1), inv(2)])
    ledger.seen.discard("in_2")  # as if in_2 was delivered, then deleted upstream
    ledger.seen.discard("in_1")
    ledger.seen.discard("in_0")
    taken = ledger.take_anchored([inv(-1), inv(3), inv(4)])
    assert taken is not None
    assert [i.id for i in taken] == ["in_3", "in_4"]
    assert ledger.take_anchored([inv(5), inv(6)]) is None
    assert ledger.placement([inv(7), inv(8)]) == 1
    assert ledger.placement([inv(-5), inv(-4)]) == -1


def test_ledger_placement_needs_created() -> None:
    """Without creation times a page cannot be placed."""
    ledger = Ledger()
    bare = Invoice(
        id="x",
        amount_due=Decimal(1),
        amount_paid=Decimal(1),
        amount_remaining=Decimal(0),
        currency="usd",
    )
    ledger.take([bare])
    assert ledger.take_anchored([inv(1)]) is None
    with pytest.raises(PaginationError):
        ledger.placement([inv(1)])


def test_invoices_without_id_are_always_delivered() -> None:
    """An invoice without an id cannot be recognised, so it is never dropped."""
    ledger = Ledger()
    bare = Invoice(
        amount_due=Decimal(1), amount_paid=Decimal(1), amount_remaining=Decimal(0), currency="usd"
    )
    assert ledger.take([bare, bare]) == [bare, bare]
    assert ledger.count_seen([bare]) == 0


@pytest.mark.parametrize(
    ("position", "per_page", "expected"),
    [
        (0, 50, (1, 50)),
        (48, 50, (1, 50)),
        (49, 50, (2, 49)),  # the anchor is last on its page of 50: 49 reaches past it
        (50, 50, (2, 50)),
        (-1, 50, (1, 50)),
        (0, 1, (1, 2)),
        (5, 1, (2, 4)),  # sizes 2 and 3 divide 6: the first size that does not is 4
    ],
)
def test_anchored_request_examples(position: int, per_page: int, expected: tuple[int, int]) -> None:
    """Known anchors give the expected request."""
    assert anchored_request(position, per_page) == expected


@given(st.integers(0, 100_000), st.integers(1, 1000))
def test_anchored_request_overlaps(position: int, per_page: int) -> None:
    """The chosen page always holds the anchor and at least one invoice after it."""
    number, size = anchored_request(position, per_page)
    start = (number - 1) * size
    assert size >= 2
    assert start <= position < start + size - 1


def test_ledger_forgets_old_ids_of_an_ordered_walk() -> None:
    """Past `retain` ids, the oldest deliveries are forgotten; their times still place them."""
    ledger = Ledger(retain=3)
    assert [i.id for i in ledger.take([inv(n) for n in range(10)])] == [
        f"in_{n}" for n in range(10)
    ]
    assert ledger.ordered
    assert ledger.seen == {"in_7", "in_8", "in_9"}
    assert ledger.forgotten == 7
    # A forgotten invoice that comes back is newer than the frontier: never delivered again.
    assert ledger.is_newer(inv(2))
    assert not ledger.is_newer(inv(10))
    shifted = page(4, [2, 3, 4], total=10)
    assert judge_aligned(shifted, expected_total=10, per_page=3, seen=ledger) is Verdict.REALIGN
    taken = ledger.take_anchored([inv(5), inv(6), inv(7), inv(8), inv(9), inv(10), inv(11)])
    assert taken is not None
    assert [i.id for i in taken] == ["in_10", "in_11"]
    assert ledger.take_anchored([inv(3), inv(4), inv(5)]) is None
    assert ledger.placement([inv(3), inv(4), inv(5)]) == -1


def test_ledger_keeps_every_id_when_order_is_broken() -> None:
    """Invoices out of time order, or without times or ids, switch forgetting off for good."""
    for broken in (
        [inv(0), inv(1), inv(0 - 5)],
        [
            inv(0),
            Invoice(
                id="x",
                amount_due=Decimal(1),
                amount_paid=Decimal(1),
                amount_remaining=Decimal(0),
                currency="usd",
            ),
        ],
    ):
        ledger = Ledger(retain=1)
        ledger.take(broken)
        ledger.take([inv(n) for n in range(20, 30)])
        assert not ledger.ordered
        assert ledger.forgotten <= 1
        assert len(ledger.seen) >= 11


def test_ledger_keeps_ids_tied_with_the_frontier() -> None:
    """Ids sharing the last delivered creation time are never forgotten."""
    same = [
        Invoice(
            id=f"t{n}",
            amount_due=Decimal(1),
            amount_paid=Decimal(1),
            amount_remaining=Decimal(0),
            currency="usd",
            created=EPOCH,
        )
        for n in range(5)
    ]
    ledger = Ledger(retain=2)
    ledger.take(same)
    assert ledger.seen == {f"t{n}" for n in range(5)}
    assert ledger.forgotten == 0


class _ModelLedger:
    """The ledger's rules, one invoice at a time, to check its page-at-once path against."""

    def __init__(self, retain: int) -> None:
        self.seen: set[str] = set()
        self.order: list[tuple[str, dt.datetime]] | None = []
        self.last: tuple[str | None, dt.datetime | None] = (None, None)
        self.duplicates = self.forgotten = 0
        self.retain = retain

    def take(self, invoices: list[Invoice]) -> list[Invoice]:
        out = []
        for one in invoices:
            if one.id is not None and one.id in self.seen:
                self.duplicates += 1
                continue
            if one.id is not None:
                self.seen.add(one.id)
            previous = out[-1].created if out else self.last[1]
            if self.order is not None:
                if (
                    one.id is None
                    or one.created is None
                    or (previous is not None and one.created > previous)
                ):
                    self.order = None
                else:
                    self.order.append((one.id, one.created))
            out.append(one)
        if out:
            self.last = (out[-1].id, out[-1].created)
            while (
                self.order is not None
                and len(self.order) > self.retain
                and self.last[1] is not None
                and self.order[0][1] > self.last[1]
            ):
                self.seen.discard(self.order.pop(0)[0])
                self.forgotten += 1
        return out


def _drawn(n: int, minutes: int | None, has_id: bool) -> Invoice:
    created = None if minutes is None else EPOCH - dt.timedelta(minutes=minutes)
    return attrs.evolve(inv(n), id=f"in_{n}" if has_id else None, created=created)


mostly_ordered_pages = st.lists(
    st.lists(
        st.tuples(
            st.integers(0, 40),  # the id: repeats happen
            st.one_of(st.integers(0, 60), st.none()),  # minutes before the epoch
            st.booleans() | st.just(True),  # mostly with an id
        ),
        max_size=8,
    ),
    max_size=8,
)


@given(mostly_ordered_pages, st.integers(0, 6), st.booleans())
def test_the_ledger_takes_pages_as_its_one_at_a_time_rules_say(
    pages: list[list[tuple[int, int | None, bool]]], retain: int, sort_them: bool
) -> None:
    """Same invoices delivered, same duplicates, same ids remembered and forgotten."""
    ledger, model = Ledger(retain=retain), _ModelLedger(retain)
    counter = 0
    for drawn in pages:
        if sort_them:  # newest first, ids unique: the walk's usual page
            drawn = [(counter + i, m, True) for i, (_, m, _) in enumerate(drawn)]
            drawn.sort(key=lambda d: -1 if d[1] is None else d[1])
            counter += len(drawn)
        invoices = [_drawn(*d) for d in drawn]
        assert ledger.take(invoices) == model.take(invoices)
        assert ledger.seen == model.seen
        assert (ledger.last_id, ledger.last_created) == model.last
        assert (ledger.duplicates, ledger.forgotten) == (model.duplicates, model.forgotten)
        assert ledger.ordered == (model.order is not None)
        assert ledger.count_seen(invoices) == sum(
            1 for one in invoices if one.id is not None and one.id in model.seen
        )
