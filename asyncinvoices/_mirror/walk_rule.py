"""The incremental rule for a store that keeps its state per account: the dlt source's.

The rule itself is :func:`~asyncinvoices.plan_sync` (``_mirror/plan.py``), the one the database
mirror follows: a partial walk newest first back past both the lookback window and the oldest
invoice held as not final, a full walk on the first walk, on request, when the last one is
``full_every`` old, or when an invoice held as not final has no ``created``. This module adds
what a store without tables needs around it: :class:`AccountWalkState`, the few plain values
remembered per account between walks (they fit dlt's resource state), and
:class:`OpenInvoices`, which finds those values in what a walk delivers. Nothing here does I/O
or reads a clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from asyncinvoices._models import Invoice

from .plan import SyncPlan, is_final, plan_sync

__all__ = [
    "AccountWalkState",
    "OpenInvoices",
    "plan_walk",
]


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


def plan_walk(
    state: AccountWalkState,
    *,
    now: dt.datetime,
    lookback: dt.timedelta,
    full_every: dt.timedelta,
    full_requested: bool = False,
) -> SyncPlan:
    """Return the walk an account needs at ``now``: :func:`~asyncinvoices.plan_sync` of what
    ``state`` remembers.

    Args:
        state: What was remembered after the account's last walk.
        now: The current time, timezone-aware.
        lookback: How far back from ``now`` a partial walk reads at least.
        full_every: How old the last full walk may be before the next walk is full.
        full_requested: Whether the caller asks for a full walk.

    Raises:
        ConfigurationError: For a lookback outside 0 to 60 days, or an interval that is not
            positive.
    """
    not_final: list[dt.datetime | None] = [] if state.oldest_open is None else [state.oldest_open]
    if state.undated_open:
        not_final.append(None)
    return plan_sync(
        now=now,
        last_full=state.last_full,
        not_final_created=not_final,
        full=full_requested,
        lookback=lookback,
        full_every=full_every,
    )


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
        self, plan: SyncPlan, previous: AccountWalkState, started: dt.datetime
    ) -> AccountWalkState:
        """Return the account's state once the walk of ``plan``, begun at ``started``, ended.

        Args:
            plan: The walk that was done.
            previous: The state before it.
            started: When it started (a full walk's time is its start: what changed during
                it may have been missed).
        """
        return AccountWalkState(
            last_full=started if plan.mode == "full" else previous.last_full,
            oldest_open=self.oldest,
            undated_open=self.undated,
        )
