"""The rule of what a sync walks: pure, driven with plain values."""

from __future__ import annotations

import datetime as dt

import pytest

from asyncinvoices import ConfigurationError, SyncPlan, is_final, plan_sync, walk_cutoff

NOW = dt.datetime(2026, 12, 2, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("status", "final"),
    [("paid", True), ("void", True), ("open", False), ("draft", False),
     ("uncollectible", False), ("refunded", False), (None, False), ("PAID", False)],
)  # fmt: skip
def test_only_paid_and_void_are_final(status: str | None, final: bool) -> None:
    """Any other status, unknown ones and none included, may still change."""
    assert is_final(status) is final


def test_the_cutoff_is_the_older_of_the_window_and_the_oldest_open_invoice() -> None:
    """An invoice open for a year moves the cut-off a year back; recent ones do not."""
    assert walk_cutoff(NOW, 7 * DAY, []) == NOW - 7 * DAY
    assert walk_cutoff(NOW, 7 * DAY, [NOW - DAY, NOW - 2 * DAY]) == NOW - 7 * DAY
    assert walk_cutoff(NOW, 7 * DAY, [NOW - DAY, NOW - 365 * DAY]) == NOW - 365 * DAY


def test_first_sync_asked_full_and_due_full_are_full_walks() -> None:
    """No full walk yet, full=True, or the last one full_every old: the whole history."""
    recent = NOW - DAY
    assert plan_sync(now=NOW, last_full=None, not_final_created=[]) == SyncPlan(
        mode="full", since=None, reason="first sync"
    )
    assert plan_sync(now=NOW, last_full=recent, not_final_created=[], full=True) == SyncPlan(
        mode="full", since=None, reason="full walk asked for"
    )
    assert plan_sync(now=NOW, last_full=NOW - 30 * DAY, not_final_created=[]) == SyncPlan(
        mode="full", since=None, reason="full walk due"
    )
    assert plan_sync(
        now=NOW, last_full=NOW - 29 * DAY, not_final_created=[], full_every=28 * DAY
    ) == SyncPlan(mode="full", since=None, reason="full walk due")


def test_otherwise_a_partial_walk_down_to_the_cutoff() -> None:
    """Defaults: a week back, further for an older invoice that is not final."""
    last = NOW - 29 * DAY
    assert plan_sync(now=NOW, last_full=last, not_final_created=[NOW - DAY]) == SyncPlan(
        mode="partial", since=NOW - 7 * DAY, reason="partial"
    )
    old = NOW - 400 * DAY
    assert plan_sync(now=NOW, last_full=last, not_final_created=[old]) == SyncPlan(
        mode="partial", since=old, reason="partial"
    )
    assert plan_sync(
        now=NOW, last_full=last, not_final_created=[], lookback=dt.timedelta(0)
    ) == SyncPlan(mode="partial", since=NOW, reason="partial")


def test_an_open_invoice_without_a_creation_time_needs_a_full_walk() -> None:
    """No partial walk can be sure to reach an invoice it cannot place in time."""
    plan = plan_sync(now=NOW, last_full=NOW - DAY, not_final_created=[NOW - DAY, None])
    assert plan == SyncPlan(mode="full", since=None, reason="an open invoice has no creation time")


@pytest.mark.parametrize(
    ("lookback", "full_every", "message"),
    [
        (61 * DAY, 30 * DAY, "lookback must be between 0 and 60 days, got 61 days, 0:00:00"),
        (-DAY, 30 * DAY, "lookback must be between 0 and 60 days, got -1 day, 0:00:00"),
        (DAY, dt.timedelta(0), "full_every must be positive, got 0:00:00"),
        (7, 30 * DAY, "lookback and full_every must be datetime.timedelta values"),
    ],
)
def test_unusable_options_are_refused(lookback: object, full_every: object, message: str) -> None:
    """A lookback beyond 60 days, a negative one, or no interval: a ConfigurationError."""
    with pytest.raises(ConfigurationError) as caught:
        plan_sync(
            now=NOW,
            last_full=None,
            not_final_created=[],
            lookback=lookback,  # type: ignore[arg-type]
            full_every=full_every,  # type: ignore[arg-type]
        )
    assert str(caught.value) == message
