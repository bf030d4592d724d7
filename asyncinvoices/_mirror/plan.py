"""What one sync of an account walks: the whole history, or only what can still change. Pure.

An invoice changes until it is final: ``paid`` or ``void`` (Stripe's terminal states; the
statuses Cloudflare documents for invoices are draft / open / paid / uncollectible / void,
docs/cloudflare-api.md, "Response envelope"). Any other status, an unknown one or none, may still
change. The history is listed newest first and new invoices appear at its head (same
document, "The endpoint"), so a walk that starts at the head and stops once it is past

* the *lookback window* (``now - lookback``), which catches late changes to recent invoices
  that were already final (a refund voiding a paid invoice, a corrected description), and
* the oldest invoice the mirror holds as not final, however old,

reads every invoice that can still change, and every new one. What it cannot see is a change
to an invoice that was already final and is older than the window: the periodic *full walk*
(every ``full_every``) catches that, and only a full walk, which reaches the end of the
history, can tell that an invoice was removed.

:func:`plan_sync` is the whole rule, a function of plain values, so that another consumer of
the history (an export, a pipeline source) can apply exactly the same rule to its own state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Final, Literal

import attrs

from asyncinvoices._errors import ConfigurationError

__all__ = [
    "DEFAULT_FULL_EVERY",
    "DEFAULT_LOOKBACK",
    "FINAL_STATUSES",
    "MAX_LOOKBACK",
    "SyncMode",
    "SyncPlan",
    "check_sync_options",
    "is_final",
    "plan_sync",
    "walk_cutoff",
]

SyncMode = Literal["full", "partial"]
"""How much of an account's history a sync walks, as ``sync_runs.mode`` records it."""

#: The statuses after which an invoice no longer changes.
FINAL_STATUSES: Final = frozenset({"paid", "void"})
#: Seven days: most invoices are paid within days, and an invoice that is not yet final is
#: re-read whatever its age; the window only has to cover late edits of final ones.
DEFAULT_LOOKBACK: Final = dt.timedelta(days=7)
#: The longest lookback accepted: beyond it a partial walk saves little over a full one.
MAX_LOOKBACK: Final = dt.timedelta(days=60)
#: Thirty days between full walks: a removal or an edit of an old, final invoice shows
#: within a month, for one full walk's requests a month.
DEFAULT_FULL_EVERY: Final = dt.timedelta(days=30)


def is_final(status: str | None) -> bool:
    """Whether an invoice of this status can no longer change (``paid`` or ``void``).

    Args:
        status: The invoice's ``status``; ``None`` and unknown values are not final.
    """
    return status in FINAL_STATUSES


def walk_cutoff(
    now: dt.datetime, lookback: dt.timedelta, not_final_created: Iterable[dt.datetime]
) -> dt.datetime:
    """The creation time a partial walk must reach: the older of the window and the oldest
    invoice that is not final.

    Args:
        now: The time of the sync.
        lookback: The lookback window.
        not_final_created: The creation times of the invoices held as not final.
    """
    return min([now - lookback, *not_final_created])


@attrs.frozen(kw_only=True)
class SyncPlan:
    """What one sync of an account walks.

    Attributes:
        mode: ``"full"``: the whole history, newest to oldest; ``"partial"``: newest first
            down to ``since``.
        since: For a partial walk, the oldest creation time it reads (inclusive); ``None``
            for a full walk.
        reason: Why, in a few words (``"first sync"``, ``"full walk due"``, ...).
    """

    mode: Literal["full", "partial"]
    since: dt.datetime | None
    reason: str


def check_sync_options(lookback: dt.timedelta, full_every: dt.timedelta) -> None:
    """Refuse a lookback or full-walk interval that cannot be used.

    Raises:
        ConfigurationError: If ``lookback`` is negative or longer than :data:`MAX_LOOKBACK`,
            or ``full_every`` is not positive.
    """
    if not isinstance(lookback, dt.timedelta) or not isinstance(full_every, dt.timedelta):
        raise ConfigurationError("lookback and full_every must be datetime.timedelta values")
    if not dt.timedelta(0) <= lookback <= MAX_LOOKBACK:
        raise ConfigurationError(
            f"lookback must be between 0 and {MAX_LOOKBACK.days} days, got {lookback}"
        )
    if full_every <= dt.timedelta(0):
        raise ConfigurationError(f"full_every must be positive, got {full_every}")


def plan_sync(
    *,
    now: dt.datetime,
    last_full: dt.datetime | None,
    not_final_created: Iterable[dt.datetime | None],
    full: bool = False,
    lookback: dt.timedelta = DEFAULT_LOOKBACK,
    full_every: dt.timedelta = DEFAULT_FULL_EVERY,
) -> SyncPlan:
    """Decide what the sync of one account walks, from what the mirror holds of it.

    Args:
        now: The time of the sync (timezone-aware).
        last_full: When the account's last successful full walk started; ``None`` if it
            never had one (its first sync).
        not_final_created: The creation time of each invoice held as not final (see
            :func:`is_final`), ``None`` for one without a creation time.
        full: Walk the whole history whatever the rest says.
        lookback: The window of recent invoices always re-read.
        full_every: The longest time between two full walks.

    Returns:
        A full plan for a first sync, when asked, when the last full walk is ``full_every``
        old, or when an invoice that is not final has no creation time (no partial walk can
        be sure to reach it); else a partial plan down to :func:`walk_cutoff`.

    Raises:
        ConfigurationError: For a lookback outside 0 to 60 days, or an interval that is not
            positive.
    """
    check_sync_options(lookback, full_every)
    if last_full is None:
        return SyncPlan(mode="full", since=None, reason="first sync")
    if full:
        return SyncPlan(mode="full", since=None, reason="full walk asked for")
    if now - last_full >= full_every:
        return SyncPlan(mode="full", since=None, reason="full walk due")
    created = list(not_final_created)
    known = [c for c in created if c is not None]
    if len(known) < len(created):
        return SyncPlan(mode="full", since=None, reason="an open invoice has no creation time")
    return SyncPlan(mode="partial", since=walk_cutoff(now, lookback, known), reason="partial")
