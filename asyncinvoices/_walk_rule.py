"""Which walk an account needs, and what to remember after it: the incremental rule, pure.

An invoice can still change until it is final (``paid`` or ``void``), and Cloudflare lists
invoices newest first. So a walk that starts at the head of the list and stops once it is past
both

- the *lookback window* (``now - lookback``), which covers late changes to recent invoices,
- and the oldest invoice held as not final,

reads again every invoice that can still change, at the cost of the pages that hold them. The
walk is built on ``since=`` (``InvoiceClient.invoices``), which stops after the page that ends
before it and walks to the end, filtering, when the server turns out not to list newest first.

Only a *full* walk (to the end of the history, no ``since``) sees which invoices are gone, and
only a full walk catches a change to an invoice that was final already and is older than the
window. So a full walk happens on the first walk of an account, on request, when the last
one is ``full_every`` old, and when an invoice held as not final has no ``created`` (a walk
with ``since`` never delivers an invoice without one).

Final means ``paid`` or ``void``; every other status, unknown ones and a missing one included,
is not final, so that a status this version does not know is re-read rather than frozen.

The state kept between walks is :class:`AccountWalkState`, a few plain values per account
(it fits dlt's resource state, or a row of a table). Nothing here does I/O or reads a clock,
so that every store kept current by partial walks (the dlt source, a database mirror) can
follow one rule, written once, and test it with plain values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

import attrs

from ._models import Invoice

__all__ = [
    "FINAL_STATUSES",
    "AccountWalkState",
    "OpenInvoices",
    "WalkPlan",
    "WalkReason",
    "is_final",
    "plan_walk",
]

#: The statuses after which an invoice no longer changes (Stripe's terminal states: an invoice
#: paid or voided is closed; ``uncollectible`` may still be paid later).
FINAL_STATUSES: Final = frozenset({"paid", "void"})

WalkReason = Literal["first", "requested", "schedule", "undated_open", "partial"]
"""Why a walk is full (the first four) or partial."""


def is_final(status: str | None) -> bool:
    """Return whether an invoice of this status can no longer change.

    Args:
        status: The invoice's status as sent, or ``None`` when it had none.
    """
    return status in FINAL_STATUSES


@attrs.frozen(kw_only=True)
class AccountWalkState:
    """What the rule remembers of one account between walks.

    Attributes:
        last_full: When the last full walk of the account started; ``None`` before the first.
        oldest_open: The ``created`` of the oldest invoice held as not final, ``None`` when
            every invoice held is final (or has no ``created``, see ``undated_open``).
        undated_open: Whether an invoice held as not final has no ``created``.
    """

    last_full: dt.datetime | None = None
    oldest_open: dt.datetime | None = None
    undated_open: bool = False

    def to_state(self) -> dict[str, Any]:
        """Return the state as JSON values (ISO-8601 text for the times)."""
        return {
            "last_full": None if self.last_full is None else self.last_full.isoformat(),
            "oldest_open": None if self.oldest_open is None else self.oldest_open.isoformat(),
            "undated_open": self.undated_open,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None) -> AccountWalkState:
        """Return the state :meth:`to_state` wrote; ``None`` or ``{}`` is a new account.

        Args:
            state: What :meth:`to_state` returned, as stored and read back.
        """
        if not state:
            return cls()

        def when(key: str) -> dt.datetime | None:
            text = state.get(key)
            return None if text is None else dt.datetime.fromisoformat(str(text))

        return cls(
            last_full=when("last_full"),
            oldest_open=when("oldest_open"),
            undated_open=bool(state.get("undated_open", False)),
        )


@attrs.frozen(kw_only=True)
class WalkPlan:
    """The walk an account needs now.

    Attributes:
        full: Whether to walk the whole history (and so mark as removed what is not listed).
        since: For a partial walk, the ``since=`` to walk with; ``None`` for a full walk.
        reason: Why: ``first``, ``requested``, ``schedule``, ``undated_open`` or ``partial``.
    """

    full: bool
    since: dt.datetime | None
    reason: WalkReason


def plan_walk(
    state: AccountWalkState,
    *,
    now: dt.datetime,
    lookback: dt.timedelta,
    full_every: dt.timedelta,
    full_requested: bool = False,
) -> WalkPlan:
    """Return the walk an account needs at ``now``, by the rule of this module.

    Args:
        state: What was remembered after the account's last walk.
        now: The current time, timezone-aware.
        lookback: How far back from ``now`` a partial walk reads at least.
        full_every: How old the last full walk may be before the next walk is full.
        full_requested: Whether the caller asks for a full walk.

    Returns:
        A full walk (``since=None``), or a partial one with ``since`` the earlier of
        ``now - lookback`` and the oldest invoice held as not final.
    """
    if state.last_full is None:
        return WalkPlan(full=True, since=None, reason="first")
    if full_requested:
        return WalkPlan(full=True, since=None, reason="requested")
    if now - state.last_full >= full_every:
        return WalkPlan(full=True, since=None, reason="schedule")
    if state.undated_open:
        return WalkPlan(full=True, since=None, reason="undated_open")
    since = now - lookback
    if state.oldest_open is not None:
        since = min(since, state.oldest_open)
    return WalkPlan(full=False, since=since, reason="partial")


class OpenInvoices:
    """Follows the invoices a walk delivers to find the oldest one that is not final.

    After a partial walk, every invoice held as not final was among those delivered (the walk
    went back at least to the oldest of them), so what this finds is the state after the
    walk; an invoice that stayed open but is no longer listed is forgotten until the next
    full walk marks it removed.
    """

    def __init__(self) -> None:
        self.oldest: dt.datetime | None = None
        self.undated = False

    def add(self, invoices: Iterable[Invoice]) -> None:
        """Take in the invoices of one page."""
        for invoice in invoices:
            if is_final(invoice.status):
                continue
            created = invoice.created
            if created is None:
                self.undated = True
            elif self.oldest is None or created < self.oldest:
                self.oldest = created

    def state_after(
        self, plan: WalkPlan, previous: AccountWalkState, started: dt.datetime
    ) -> AccountWalkState:
        """Return the account's state once the walk of ``plan``, begun at ``started``, ended.

        Args:
            plan: The walk that was done.
            previous: The state before it.
            started: When it started (a full walk's time is its start: what changed during
                it may have been missed).
        """
        return AccountWalkState(
            last_full=started if plan.full else previous.last_full,
            oldest_open=self.oldest,
            undated_open=self.undated,
        )
