"""The walk's machines driven synchronously against an in-memory model of the endpoint.

No server, no event loop: a small model answers each request the way docs/cloudflare-api.md
describes the endpoint (offset pages, newest first, ``total_count`` and ``has_more``), and
can misbehave the ways it documents or users observed: invoices created and deleted between
requests, ``page`` ignored from some request on (with the asked number echoed or not),
``per_page`` clamped, ``total_count`` inflated or missing. A driver does what the paginator
does, answering the aligned window's requests in a random order, and records every request.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncinvoices import Invoice, InvoicePage, Pagination, PaginationError
from asyncinvoices._walk.actions import AlignAt, Await, Done, Request, Restart, Seek
from asyncinvoices._walk.ledger import Ledger
from asyncinvoices._walk.machines import (
    AlignedWindow,
    AnchoredSearch,
    FirstPage,
    Walk,
    WalkProgress,
)
from asyncinvoices._walk.pages import Anchor, page_count

EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)

PROPERTY = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def invoice(key: str, minutes: int) -> Invoice:
    """An invoice created ``minutes`` after the epoch."""
    return Invoice(
        id=key,
        amount_due=Decimal(1),
        amount_paid=Decimal(0),
        amount_remaining=Decimal(1),
        currency="usd",
        created=EPOCH + dt.timedelta(minutes=minutes),
    )


@attrs.frozen
class Create:
    """``n`` invoices created at the head."""

    n: int


@attrs.frozen
class Delete:
    """``n`` invoices deleted from ``position`` on."""

    position: int
    n: int


@attrs.define
class Model:
    """The endpoint over one account, answering requests one at a time.

    Attributes:
        invoices: The account now, newest first.
        clamp: Serve at most this many invoices per page, whatever was asked.
        report_per_page: Whether ``pagination.per_page`` is reported.
        inflate: Added to the true ``total_count``; ``None`` omits ``total_count``.
        ignore_from: From this request on, page 1 is served whatever page was asked.
        echo: Whether an ignored request still reports the page number asked for.
        events: Data changes applied just before answering request ``n`` (1-based).
        requests: Every ``(page, per_page)`` asked, in the order answered.
    """

    invoices: list[Invoice] = attrs.field(repr=lambda v: f"<{len(v)}: {v[0].id}..>" if v else "[]")
    clamp: int | None = None
    report_per_page: bool = True
    inflate: int | None = 0
    ignore_from: int | None = None
    echo: bool = True
    events: dict[int, tuple[Create | Delete, ...]] = attrs.field(factory=dict)
    requests: list[tuple[int, int]] = attrs.field(factory=list)
    fired: list[Create | Delete] = attrs.field(factory=list)
    _newest: int = 0

    @classmethod
    def of(cls, n: int, **kwargs: object) -> Model:
        """An account of ``n`` invoices, one minute apart, newest first."""
        return cls([invoice(f"in_{k}", -k) for k in range(n)], **kwargs)  # type: ignore[arg-type]

    def answer(self, page: int, per_page: int) -> InvoicePage:
        """Apply the events due, then serve page ``page`` of ``per_page``."""
        self.requests.append((page, per_page))
        for change in self.events.get(len(self.requests), ()):
            self._apply(change)
        size = per_page if self.clamp is None else min(per_page, self.clamp)
        ignored = self.ignore_from is not None and len(self.requests) >= self.ignore_from
        served = 1 if ignored else page
        offset = (served - 1) * size
        chunk = self.invoices[offset : offset + size]
        total = None if self.inflate is None else len(self.invoices) + self.inflate
        return InvoicePage(
            number=page,
            invoices=tuple(chunk),
            pagination=Pagination(
                page=page if self.echo else served,
                per_page=size if self.report_per_page else None,
                total_count=total,
                has_more=offset + len(chunk) < len(self.invoices),
            ),
        )

    def _apply(self, change: Create | Delete) -> None:
        self.fired.append(change)
        if isinstance(change, Create):
            fresh = []
            for _ in range(change.n):
                self._newest += 1
                fresh.append(invoice(f"new_{self._newest}", self._newest))
            self.invoices[:0] = reversed(fresh)
        else:
            del self.invoices[change.position : change.position + change.n]


@attrs.define
class Outcome:
    """What a driven walk delivered, how it ended, how many pages it ever held, and how
    many requests it started (a page started but not awaited when its phase ends is never
    answered, as a cancelled request)."""

    ids: list[str | None]
    error: PaginationError | None
    progress: WalkProgress
    held: int
    started: int = 0


def drive(
    model: Model,
    *,
    per_page: int,
    read_ahead: int,
    order: st.DataObject | None = None,
    ledger: Ledger | None = None,
    resume: Anchor | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Outcome:
    """Walk ``model`` as the paginator does; ``order`` picks when started pages are answered."""
    progress = WalkProgress()
    walk = Walk(
        ledger=ledger or Ledger(),
        per_page=per_page,
        read_ahead=read_ahead,
        progress=progress,
        since=since,
        until=until,
    )
    out = Outcome([], None, progress, 0)
    machine: FirstPage | AlignedWindow | AnchoredSearch | None = walk.start(resume)
    try:
        while machine is not None:
            action = _phase(model, machine, out, order)
            machine = None if isinstance(action, Done) else walk.enter(action)
    except PaginationError as exc:
        out.error = exc
    return out


def _phase(
    model: Model,
    machine: FirstPage | AlignedWindow | AnchoredSearch,
    out: Outcome,
    order: st.DataObject | None,
) -> Done | AlignAt | Seek | Restart:
    started: list[Request] = []  # in flight, in the order started
    answered: dict[int, InvoicePage] = {}
    while True:
        action = machine.next_request()
        out.started += isinstance(action, Request)
        if isinstance(action, Request) and isinstance(machine, AlignedWindow):
            started.append(action)
            out.held = max(out.held, len(started) + len(answered))
            while started and order is not None and order.draw(st.booleans(), label="answer"):
                pick = order.draw(st.integers(0, len(started) - 1), label="which")
                request = started.pop(pick)
                answered[request.page] = model.answer(request.page, request.per_page)
            continue
        if isinstance(action, Request):
            page = model.answer(action.page, action.per_page)
        elif isinstance(action, Await):
            for request in [r for r in started if r.page == action.page]:
                started.remove(request)
                answered[request.page] = model.answer(request.page, request.per_page)
            page = answered.pop(action.page)
        else:
            return action
        delivery = machine.feed(page)
        if delivery is not None:
            out.ids += [i.id for i in delivery.page.invoices]


# -- strategies ---------------------------------------------------------------------------


@st.composite
def walks(draw: st.DrawFn) -> tuple[int, int, int]:
    """An account size, a page size giving at most about 40 pages, and a read-ahead."""
    n = draw(st.integers(0, 400))
    per_page = draw(st.integers(max(1, -(-n // 40)), 60))
    return n, per_page, draw(st.integers(0, 9))


# -- the data does not move: the exact sequence ----------------------------------------------


@PROPERTY
@given(
    walks(),
    st.none() | st.integers(1, 60),
    st.booleans(),
    st.none() | st.integers(0, 300),
    st.sampled_from([None, 3, 20_000]),
    st.data(),
)
def test_still_data_comes_exactly(
    walk: tuple[int, int, int],
    clamp: int | None,
    report_per_page: bool,
    inflate: int | None,
    retain: int | None,
    order: st.DataObject,
) -> None:
    """Clamped, inflated or missing totals, any read-ahead: the exact sequence, no drift."""
    n, per_page, read_ahead = walk
    model = Model.of(n, clamp=clamp, report_per_page=report_per_page, inflate=inflate)
    expected = [i.id for i in model.invoices]
    out = drive(
        model, per_page=per_page, read_ahead=read_ahead, order=order, ledger=Ledger(retain=retain)
    )
    assert out.error is None
    assert out.ids == expected
    assert out.progress.drift == 0
    assert out.held <= read_ahead + 1


@PROPERTY
@given(walks(), st.integers(1, 500), st.booleans(), st.data())
def test_inflated_total_costs_at_most_read_ahead(
    walk: tuple[int, int, int], inflate: int, clamped: bool, order: st.DataObject
) -> None:
    """Past the first short or empty page, exactly min(read_ahead, pages left in the plan)."""
    n, per_page, read_ahead = walk
    served = max(1, per_page // 2) if clamped else per_page
    model = Model.of(n, clamp=served, inflate=inflate)
    out = drive(model, per_page=per_page, read_ahead=read_ahead, order=order)
    assert out.error is None
    assert out.ids == [i.id for i in model.invoices]
    ends = n // served + 1  # the first page holding fewer than `served`: it shows the end
    planned = page_count(n + inflate, served)
    expected = 1 if ends == 1 else min(planned, ends + read_ahead)
    assert len(model.requests) == expected
    assert len(model.requests) - ends <= read_ahead
    assert sorted(p for p, _ in model.requests) == list(range(1, expected + 1))


def test_inflated_total_example() -> None:
    """137 invoices claimed as 400 in pages of 50, read_ahead 2: pages 1 to 5, not 8."""
    model = Model.of(137, inflate=400 - 137)
    out = drive(model, per_page=50, read_ahead=2)
    assert out.ids == [f"in_{k}" for k in range(137)]
    assert model.requests == [(1, 50), (2, 50), (3, 50), (4, 50), (5, 50)]
    assert (out.progress.planned_pages, out.progress.total_count) == (8, 400)


def test_read_ahead_holds_pages_beyond_the_head() -> None:
    """With read_ahead 3 the window asks for pages 2 to 5 before it waits for page 2."""
    walk = Walk(ledger=Ledger(), per_page=10, read_ahead=3, progress=WalkProgress())
    window = AlignedWindow(walk, AlignAt(2, 10, 100))
    actions = [window.next_request() for _ in range(5)]
    assert actions == [Request(2, 10), Request(3, 10), Request(4, 10), Request(5, 10), Await(2)]
    assert window.next_request() == Await(2)


# -- the server ignores `page` ---------------------------------------------------------------


@PROPERTY
@given(walks(), st.integers(2, 12), st.booleans(), st.sampled_from([None, 3]), st.data())
def test_ignored_page_is_a_pagination_error(
    walk: tuple[int, int, int],
    ignore_from: int,
    echo: bool,
    retain: int | None,
    order: st.DataObject,
) -> None:
    """Page 1 for ever from some request on, echoed or not: PaginationError, never a loop."""
    n, per_page, read_ahead = walk
    honest = Model.of(n)
    drive(honest, per_page=per_page, read_ahead=read_ahead)
    model = Model.of(n, ignore_from=ignore_from, echo=echo)
    expected = [i.id for i in model.invoices]
    out = drive(
        model, per_page=per_page, read_ahead=read_ahead, order=order, ledger=Ledger(retain=retain)
    )
    assert out.ids == expected[: len(out.ids)]
    if ignore_from > len(honest.requests):
        assert out.error is None
        assert out.ids == expected
        return
    assert type(out.error) is PaginationError
    assert "does not honour the page parameter" in str(out.error)
    # No more requests that deliver nothing in a row than the walk allows for re-aligning
    # after drift (two per page held, plus 20), each of them with the read-ahead it started.
    allowed = 2 * (read_ahead + 1) + 20
    assert len(model.requests) <= ignore_from + (allowed + 1) * (read_ahead + 1)


@pytest.mark.parametrize("echo", [False, True])
def test_ignored_page_from_the_second_request(echo: bool) -> None:
    """Page 2 answered with page 1: the error names page 2, after exactly page 1's invoices.

    Page 3 was started too (read_ahead 1) but is never answered: the walk stops at page 2.
    """
    model = Model.of(100, ignore_from=2, echo=echo)
    out = drive(model, per_page=20, read_ahead=1)
    assert out.ids == [f"in_{k}" for k in range(20)]
    assert type(out.error) is PaginationError
    assert out.error.page == 2
    assert model.requests == [(1, 20), (2, 20)]


# -- the data moves between requests -----------------------------------------------------------


@st.composite
def moving(draw: st.DrawFn) -> tuple[Model, int, int]:
    """An account with creations and deletions due at random requests after the first."""
    n, per_page, read_ahead = draw(walks())
    pages = max(1, -(-n // per_page))
    due = draw(st.lists(st.integers(2, pages + 3), min_size=1, max_size=6, unique=True))
    events: dict[int, tuple[Create | Delete, ...]] = {}
    for request in due:
        if draw(st.booleans()):
            change: Create | Delete = Create(draw(st.integers(1, 2 * per_page)))
        else:
            change = Delete(draw(st.integers(0, max(0, n - 1))), draw(st.integers(1, 2 * per_page)))
        events[request] = (*events.get(request, ()), change)
    inflate = draw(st.sampled_from([0, 0, 3]))
    return Model.of(n, events=events, inflate=inflate), per_page, read_ahead


def _drifted(model: Model, before: list[str | None]) -> bool:
    return any(isinstance(c, Create) for c in model.fired) or before != [
        i.id for i in model.invoices
    ]


@PROPERTY
@given(moving(), st.sampled_from([None, 3, 20_000]), st.data())
def test_moving_data_comes_exactly_once_in_order(
    case: tuple[Model, int, int], retain: int | None, order: st.DataObject
) -> None:
    """Invoices that existed throughout come once, in order; nothing comes twice."""
    model, per_page, read_ahead = case
    before = [i.id for i in model.invoices]
    ever = set(before) | {f"new_{k}" for k in range(1, 1000)}
    out = drive(
        model, per_page=per_page, read_ahead=read_ahead, order=order, ledger=Ledger(retain=retain)
    )
    ids = out.ids
    assert len(ids) == len(set(ids))
    assert set(ids) <= ever
    old = set(before)
    assert [i for i in ids if i in old] == [i for i in before if i in set(ids)]
    if model.inflate:
        # An inflated total_count under moving data cannot be told from a server that
        # ignores `page`: the walk may stop there, but never with a duplicate.
        assert out.error is None or type(out.error) is PaginationError
        return
    assert out.error is None, out.error
    after = {i.id for i in model.invoices}
    survivors = [i for i in before if i in after]
    assert [i for i in ids if i in set(survivors)] == survivors
    assert out.held <= read_ahead + 1
    if model.inflate is not None and _drifted(model, before):
        assert out.progress.drift >= 1


def test_balanced_shift_is_caught_by_ids() -> None:
    """Three created and three deleted at once: total_count unchanged, the shift still seen."""
    model = Model.of(60, events={3: (Create(3), Delete(40, 3))})
    before = [i.id for i in model.invoices]
    out = drive(model, per_page=10, read_ahead=0)
    assert out.error is None
    assert out.ids == [i for i in before if i not in {"in_37", "in_38", "in_39"}]
    assert out.progress.drift == 1
    assert out.progress.refetched_pages == 3  # page 3, then pages 3 of 9 and 3 of 10


# -- the machines' own rules ---------------------------------------------------------------


def test_search_without_anchor_restarts() -> None:
    """A search with nothing delivered to anchor to begins again with page 1."""
    walk = Walk(ledger=Ledger(), per_page=10, read_ahead=0, progress=WalkProgress())
    assert AnchoredSearch(walk, Seek(5, 10, None)).next_request() == Restart()
    assert isinstance(walk.enter(Restart()), FirstPage)


def test_resume_searches_after_the_anchor() -> None:
    """A checkpoint's anchor is searched for first; the walk delivers only what follows."""
    model = Model.of(50)
    anchor = Anchor(position=21, invoice_id="in_21", created=model.invoices[21].created)
    out = drive(model, per_page=10, read_ahead=2, resume=anchor)
    assert out.ids == [f"in_{k}" for k in range(22, 50)]
    assert model.requests[0] == (3, 10)


def test_search_that_cannot_settle_fails() -> None:
    """Pages that keep holding only newer invoices end in a PaginationError, not a loop."""
    ledger = Ledger()
    ledger.take([invoice("old", -1000)])
    walk = Walk(ledger=ledger, per_page=5, read_ahead=0, progress=WalkProgress())
    search = AnchoredSearch(walk, Seek(0, 5, None))

    def newer_page(number: int) -> InvoicePage:
        action = search.next_request()
        assert isinstance(action, Request)
        fresh = tuple(invoice(f"n{number}_{k}", number * 10 - k) for k in range(5))
        pagination = Pagination(page=action.page, per_page=action.per_page)
        return InvoicePage(number=action.page, invoices=fresh, pagination=pagination)

    # Two idle requests per page held (read_ahead 0: one page) and 20 more are allowed.
    for number in range(1, 2 * 1 + 20 + 1):
        assert search.feed(newer_page(number)) is None
    last = newer_page(23)
    with pytest.raises(PaginationError) as info:
        search.feed(last)
    assert "23 requests in a row brought no new invoice" in str(info.value)


# -- bounds on `created` -----------------------------------------------------------------------


def minutes(n: int) -> dt.datetime:
    """The instant ``n`` minutes after the epoch (invoice ``in_k`` was created at ``-k``)."""
    return EPOCH + dt.timedelta(minutes=n)


@PROPERTY
@given(
    walks(),
    st.none() | st.integers(-450, 10),
    st.none() | st.integers(-450, 10),
    st.none() | st.integers(1, 60),
    st.sampled_from([0, 0, 200, None]),
    st.data(),
)
def test_bounds_deliver_exactly_the_range_and_stop_early(
    walk: tuple[int, int, int],
    since: int | None,
    until: int | None,
    clamp: int | None,
    inflate: int | None,
    order: st.DataObject,
) -> None:
    """since <= created < until, in order; no page started past read_ahead beyond the
    first page that ends older than since."""
    n, per_page, read_ahead = walk
    if since is not None and until is not None and since >= until:
        since, until = until, since + 1
    full = drive(
        Model.of(n, clamp=clamp, inflate=inflate), per_page=per_page, read_ahead=read_ahead
    )
    model = Model.of(n, clamp=clamp, inflate=inflate)
    low = None if since is None else minutes(since)
    high = None if until is None else minutes(until)
    out = drive(model, per_page=per_page, read_ahead=read_ahead, order=order, since=low, until=high)
    expected = [
        i.id
        for i in model.invoices
        if i.created is not None
        and (low is None or i.created >= low)
        and (high is None or i.created < high)
    ]
    assert out.error is None
    assert out.ids == expected
    assert not out.progress.unordered
    assert out.started <= full.started
    older = [k for k, i in enumerate(model.invoices) if low is not None and i.created < low]
    if older:
        served = per_page if clamp is None else min(per_page, clamp)
        stop = older[0] // served + 1  # the first page that ends older than since
        assert out.started <= (1 if stop == 1 else stop + read_ahead)


@PROPERTY
@given(walks(), st.integers(0, 398), st.integers(1, 5), st.data())
def test_bounds_on_an_unordered_server_fetch_everything(
    walk: tuple[int, int, int], first: int, gap: int, order: st.DataObject
) -> None:
    """Two invoices out of time order before the bound: the walk notices, reads every page
    and filters, and says so."""
    n, per_page, read_ahead = walk
    if n < 3:
        n = 3
    first = min(first, n - 3)
    second = min(first + gap, n - 2)  # both newer than the oldest, which alone is too old
    model = Model.of(n)
    a, b = model.invoices[first], model.invoices[second]
    model.invoices[first] = attrs.evolve(a, created=b.created)
    model.invoices[second] = attrs.evolve(b, created=a.created)
    since = model.invoices[n - 1].created + dt.timedelta(seconds=30)  # all but the oldest
    full = drive(Model.of(n), per_page=per_page, read_ahead=read_ahead)
    out = drive(model, per_page=per_page, read_ahead=read_ahead, order=order, since=since)
    assert out.error is None
    assert out.progress.unordered
    assert out.ids == [i.id for i in model.invoices if i.created >= since]
    assert out.started == full.started


def test_since_on_a_large_account_reads_only_the_pages_it_needs() -> None:
    """Invoices of the last 95 minutes out of 4,000, pages of 50, read_ahead 3: 5 requests."""
    model = Model.of(4000)
    out = drive(model, per_page=50, read_ahead=3, since=minutes(-94))
    assert out.ids == [f"in_{k}" for k in range(95)]
    # Page 2 ends with in_99, older than since: pages 3 to 5 were started (read ahead) and
    # are cancelled unanswered here; no more were started.
    assert model.requests == [(1, 50), (2, 50)]
    assert out.started == 5
    assert out.progress.planned_pages == 80


def test_until_drops_the_newest_and_invoices_without_time() -> None:
    """until is exclusive; with a bound, an invoice without a creation time is left out."""
    model = Model.of(10)
    model.invoices[5] = attrs.evolve(model.invoices[5], created=None)
    out = drive(model, per_page=4, read_ahead=1, until=minutes(-2))
    assert out.ids == ["in_3", "in_4", "in_6", "in_7", "in_8", "in_9"]  # in_2 is at until
    assert out.progress.unordered  # no creation time: the order cannot be trusted


# -- the rarer exits ---------------------------------------------------------------------------


def test_understated_total_is_followed_on_has_more() -> None:
    """total_count 5 short of 45 invoices: the last planned page says has_more, is followed."""
    model = Model.of(45, inflate=-5)
    out = drive(model, per_page=10, read_ahead=2)
    assert out.error is None
    assert out.ids == [f"in_{k}" for k in range(45)]
    assert [p for p, _ in model.requests] == [1, 2, 3, 4, 5]


def test_has_more_beyond_the_slack_is_a_pagination_error() -> None:
    """Three pages more than total_count plans, each saying has_more: stopped at the cap."""
    model = Model.of(80, inflate=-30)
    out = drive(model, per_page=10, read_ahead=0)
    assert out.ids == [f"in_{k}" for k in range(70)]
    assert type(out.error) is PaginationError
    assert str(out.error) == (
        "page 7 still says has_more although total_count 50 fits in 5 pages of 10"
    )


def test_walk_without_total_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without total_count only the absolute cap bounds a walk that never ends."""
    monkeypatch.setattr("asyncinvoices._walk.machines.ABSOLUTE_PAGE_CAP", 5)
    model = Model.of(100, inflate=None)
    out = drive(model, per_page=10, read_ahead=1)
    assert out.ids == [f"in_{k}" for k in range(50)]
    assert type(out.error) is PaginationError
    assert (str(out.error), out.error.page) == ("more than 5 pages without an end", 6)


def test_resume_on_an_emptied_account_ends() -> None:
    """Every invoice deleted since the checkpoint: page 1 is empty, the walk ends."""
    model = Model.of(0)
    anchor = Anchor(position=12, invoice_id="in_12", created=minutes(-12))
    out = drive(model, per_page=10, read_ahead=0, resume=anchor)
    assert (out.ids, out.error) == ([], None)
    # Past the end each time, the search looks earlier, down to page 1.
    assert model.requests == [(2, 10), (2, 9), (1, 10)]


def test_resume_with_since_stops_after_the_bound() -> None:
    """A search delivers after the anchor up to since, then starts nothing more."""
    model = Model.of(200)
    anchor = Anchor(position=9, invoice_id="in_9", created=minutes(-9))
    out = drive(model, per_page=10, read_ahead=3, resume=anchor, since=minutes(-14))
    assert out.ids == [f"in_{k}" for k in range(10, 15)]
    assert model.requests == [(2, 9)]  # it ends with in_17, older than since


def test_search_error_comes_after_its_page_is_delivered() -> None:
    """A search page that ends the list short of its total_count is delivered, then fails."""
    model = Model.of(30, inflate=7)
    anchor = Anchor(position=25, invoice_id="in_25", created=minutes(-25))
    walk = Walk(ledger=Ledger(), per_page=10, read_ahead=0, progress=WalkProgress())
    search = walk.start(anchor)
    action = search.next_request()
    assert action == Request(3, 10)
    assert isinstance(action, Request)
    delivery = search.feed(model.answer(action.page, action.per_page))
    assert delivery is not None
    assert [i.id for i in delivery.page.invoices] == ["in_26", "in_27", "in_28", "in_29"]
    with pytest.raises(PaginationError) as info:
        search.next_request()
    assert str(info.value) == (
        "page 3 ends the list after 30 invoices but its total_count is 37; "
        "the server does not honour the page parameter"
    )


@pytest.mark.parametrize(("has_more", "expected"), [(True, AlignAt(2, 5, 100)), (False, Done())])
def test_short_first_page_ends_the_walk_unless_it_says_more(
    has_more: bool, expected: AlignAt | Done
) -> None:
    """5 of 10 under a total of 100: the end, unless has_more says otherwise; then the
    server serves 5 a page whatever per_page it echoes, and the walk pages by 5."""
    walk = Walk(ledger=Ledger(), per_page=10, read_ahead=0, progress=WalkProgress())
    first = FirstPage(walk)
    assert first.next_request() == Request(1, 10)
    page = Model.of(5).answer(1, 10)
    pagination = attrs.evolve(page.pagination, total_count=100, has_more=has_more)
    delivery = first.feed(attrs.evolve(page, pagination=pagination))
    assert delivery is not None
    assert len(delivery.page.invoices) == 5
    assert first.next_request() == expected


@PROPERTY
@given(moving(), st.integers(-420, 5), st.data())
def test_moving_data_with_since_keeps_the_bound(
    case: tuple[Model, int, int], since_minutes: int, order: st.DataObject
) -> None:
    """With drift and since: whole-run invoices within the bound once, in order, no others."""
    model, per_page, read_ahead = case
    model.inflate = 0
    since = minutes(since_minutes)
    before = [i.id for i in model.invoices]
    out = drive(model, per_page=per_page, read_ahead=read_ahead, order=order, since=since)
    assert out.error is None, out.error
    ids = out.ids
    assert len(ids) == len(set(ids))
    created = {i.id: i.created for i in model.invoices}
    after = set(created)
    survivors = [i for i in before if i in after and created[i] >= since]
    assert [i for i in ids if i in set(survivors)] == survivors
    assert all(k.startswith("new_") or int(k[3:]) <= -since_minutes for k in map(str, ids))
