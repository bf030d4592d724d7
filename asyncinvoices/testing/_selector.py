"""Which requests a fault applies to: one selector type shared by every fault kind.

A `Selector` holds the six keyword-only selectors every `Fault` constructor takes; all that
are given must match, and none given means "every request". It is compared with a
`MatchContext`, the facts about one request the server knows when it arrives.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypedDict

import attrs

__all__ = ["MatchContext", "Selector", "When"]


class When(TypedDict, total=False):
    """The selector keywords every `Fault` constructor accepts (see `Selector`)."""

    request: int | None
    page: int | None
    attempt: int | None
    probability: float | None
    times: int | None
    account_id: str | None


@attrs.frozen(kw_only=True)
class MatchContext:
    """What a fault's selectors are compared with, for one request.

    Attributes:
        request: The request number (1-based, all requests to the endpoint).
        page: The page requested (1 when the query has none).
        attempt: How many times this (account, type, page, per_page) was requested so far.
        account_id: The account in the path.
        draw: A seeded uniform number in [0, 1) for this request and fault.
    """

    request: int
    page: int
    attempt: int
    account_id: str
    draw: float


def _positive(instance: object, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{attribute.name} must be >= 1, got {value}")


def _probability(instance: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise ValueError(f"probability must be between 0 and 1, got {value}")


@attrs.frozen(kw_only=True)
class Selector:
    """Which requests a fault applies to; every field given must match.

    Attributes:
        request: The Nth request to the endpoint (1-based, all requests of the server).
        page: The page requested (1 when the query has no ``page``).
        attempt: The Nth time this same (account, type, page, per_page) was requested.
        probability: Fire with this chance, drawn from the server's seed, the request
            number and the fault's position, so a run is reproducible.
        times: Fire at most this many times (None: on every match); counted by the server.
        account_id: Only requests for this account.

    Raises:
        ValueError: If a number is out of range (counts below 1, a probability outside 0-1).
    """

    request: int | None = attrs.field(default=None, validator=_positive)
    page: int | None = attrs.field(default=None, validator=_positive)
    attempt: int | None = attrs.field(default=None, validator=_positive)
    probability: float | None = attrs.field(default=None, validator=_probability)
    times: int | None = attrs.field(default=None, validator=_positive)
    account_id: str | None = None

    def matches(self, context: MatchContext) -> bool:
        """Return whether this request is selected (``times`` is the server's job).

        Args:
            context: The request's number, page, attempt, account and random draw.
        """
        return (
            (self.request is None or self.request == context.request)
            and (self.page is None or self.page == context.page)
            and (self.attempt is None or self.attempt == context.attempt)
            and (self.account_id is None or self.account_id == context.account_id)
            and (self.probability is None or context.draw < self.probability)
        )

    def given(self) -> Iterator[tuple[str, Any]]:
        """Yield ``(name, value)`` for every selector that was given, in declaration order."""
        for field in attrs.fields(Selector):
            value = getattr(self, field.name)
            if value is not None:
                yield field.name, value
