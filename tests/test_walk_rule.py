"""The incremental rule, pure: which walk an account needs, and what is remembered after it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from asyncinvoices import Invoice, SyncPlan
from asyncinvoices._mirror.walk_rule import (
    AccountWalkState,
    OpenInvoices,
    plan_walk,
)

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 6, 30, 12, tzinfo=UTC)
DAY = dt.timedelta(days=1)
LOOKBACK = 30 * DAY
FULL_EVERY = 30 * DAY


def plan(state: AccountWalkState, *, full: bool = False) -> SyncPlan:
    """The plan at NOW with the module's test settings."""
    return plan_walk(state, now=NOW, lookback=LOOKBACK, full_every=FULL_EVERY, full_requested=full)


def invoice(status: str | None, created: dt.datetime | None) -> Invoice:
    """An invoice of that status and creation time."""
    return Invoice(
        amount_due=Decimal(1),
        amount_paid=Decimal(0),
        amount_remaining=Decimal(1),
        currency="usd",
        status=status,
        created=created,
    )


def test_the_first_walk_of_an_account_is_full() -> None:
    """No state: a full walk from the start."""
    assert plan(AccountWalkState()) == SyncPlan(mode="full", since=None, reason="first sync")


def test_a_requested_full_walk_is_full() -> None:
    """full_requested overrides a recent full walk."""
    state = AccountWalkState(last_full=NOW - DAY)
    assert plan(state, full=True) == SyncPlan(mode="full", since=None, reason="full walk asked for")


def test_a_full_walk_comes_when_the_last_is_full_every_old() -> None:
    """At exactly full_every since the last full walk, the walk is full; a second before, not."""
    due = AccountWalkState(last_full=NOW - FULL_EVERY)
    not_due = AccountWalkState(last_full=NOW - FULL_EVERY + dt.timedelta(seconds=1))
    assert plan(due) == SyncPlan(mode="full", since=None, reason="full walk due")
    assert plan(not_due) == SyncPlan(mode="partial", since=NOW - LOOKBACK, reason="partial")


def test_an_open_invoice_without_created_forces_a_full_walk() -> None:
    """A walk with since never delivers an undated invoice, so only a full one re-reads it."""
    state = AccountWalkState(last_full=NOW - DAY, undated_open=True)
    assert plan(state) == SyncPlan(
        mode="full", since=None, reason="an open invoice has no creation time"
    )


def test_a_partial_walk_goes_back_to_the_oldest_open_invoice() -> None:
    """An open invoice older than the window moves since back to it."""
    old = NOW - 400 * DAY
    state = AccountWalkState(last_full=NOW - DAY, oldest_open=old)
    assert plan(state) == SyncPlan(mode="partial", since=old, reason="partial")


def test_a_partial_walk_reads_at_least_the_lookback_window() -> None:
    """An open invoice inside the window does not shorten it."""
    state = AccountWalkState(last_full=NOW - DAY, oldest_open=NOW - 2 * DAY)
    assert plan(state) == SyncPlan(mode="partial", since=NOW - LOOKBACK, reason="partial")


def test_state_round_trips_through_json_values() -> None:
    """to_state gives JSON values that from_state reads back as the same state."""
    state = AccountWalkState(last_full=NOW, oldest_open=NOW - 9 * DAY, undated_open=True)
    assert state.to_state() == {
        "last_full": "2026-06-30T12:00:00+00:00",
        "oldest_open": "2026-06-21T12:00:00+00:00",
        "undated_open": True,
    }
    assert AccountWalkState.from_state(state.to_state()) == state
    assert AccountWalkState.from_state(None) == AccountWalkState()
    assert AccountWalkState.from_state({}) == AccountWalkState()


def test_the_oldest_open_invoice_is_found_across_pages() -> None:
    """Paid and void invoices are skipped; every other status counts, a missing one too."""
    tracker = OpenInvoices()
    tracker.add([invoice("paid", NOW - 500 * DAY), invoice("open", NOW - 10 * DAY)])
    tracker.add([invoice(None, NOW - 40 * DAY), invoice("void", NOW - 900 * DAY)])
    tracker.add([invoice("weird", NOW - 20 * DAY)])
    assert tracker.oldest == NOW - 40 * DAY
    assert tracker.undated is False


def test_state_after_a_partial_walk_keeps_the_last_full_walk() -> None:
    """A partial walk carries last_full over and records what it found open."""
    tracker = OpenInvoices()
    tracker.add([invoice("open", NOW - 3 * DAY)])
    previous = AccountWalkState(last_full=NOW - 5 * DAY, oldest_open=NOW - 50 * DAY)
    partial = SyncPlan(mode="partial", since=NOW - 50 * DAY, reason="partial")
    assert tracker.state_after(partial, previous, NOW) == AccountWalkState(
        last_full=NOW - 5 * DAY, oldest_open=NOW - 3 * DAY, undated_open=False
    )


def test_state_after_a_full_walk_starts_the_schedule_again() -> None:
    """A full walk sets last_full to its start; an undated open invoice is remembered."""
    tracker = OpenInvoices()
    tracker.add([invoice("open", None), invoice("paid", NOW - DAY)])
    full = SyncPlan(mode="full", since=None, reason="first sync")
    assert tracker.state_after(full, AccountWalkState(), NOW) == AccountWalkState(
        last_full=NOW, oldest_open=None, undated_open=True
    )
