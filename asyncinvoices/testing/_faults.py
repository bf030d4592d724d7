"""Faults FakeCloudflare can inject, and the record of what it injected.

A `Fault` says WHAT goes wrong (its kind, from a classmethod constructor) and WHEN (the
keyword-only selectors every constructor takes; all that are given must match). Faults are
immutable values; how often each one fired is kept by the server, so one `Fault` can be
reused across servers.
"""

from __future__ import annotations

from typing import Any, Final

import attrs

__all__ = ["HTML_STATUSES", "STATE_KINDS", "Fault", "InjectedFault", "MatchContext"]

#: Kinds that change the account's data before the response is built; all matching ones
#: apply. Every other kind shapes the response, and only the first matching one applies.
STATE_KINDS: Final = frozenset({"create", "delete"})

#: Statuses the Cloudflare edge answers with an HTML page instead of JSON
#: (CLOUDFLARE_API.md, "Errors": "the edge returns HTML pages for 502 and 520-524" [O]).
HTML_STATUSES: Final = frozenset({502, 520, 521, 522, 523, 524})


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


def _positive(name: str) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: int | None) -> None:
        if value is not None and value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")

    return check


def _probability(instance: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise ValueError(f"probability must be between 0 and 1, got {value}")


@attrs.frozen(kw_only=True, repr=False)
class Fault:
    """One failure to inject into FakeCloudflare's responses; build it with a constructor.

    Every constructor takes the same keyword-only selectors; all that are given must match
    for the fault to fire, and none given means "every request":

    - ``request``: the Nth request to the endpoint (1-based, all requests of the server).
    - ``page``: the page requested (1 when the query has no ``page``).
    - ``attempt``: the Nth time this same (account, type, page, per_page) was requested.
    - ``probability``: fire with this chance, drawn from the server's seed, the request
      number and the fault's position, so a run is reproducible.
    - ``times``: fire at most this many times (None: on every match).
    - ``account_id``: only requests for this account.

    Requests rejected before faults are considered (rate limit, routing, authentication,
    bad parameters) are not attempts and never receive a fault.

    Example::

        Fault.status(503, page=3, attempt=1)    # the first request of page 3 fails
        Fault.reset(probability=0.1)            # one request in ten loses its connection
        Fault.create(5, request=4, times=1)     # five new invoices appear before request 4
    """

    kind: str
    request: int | None = attrs.field(default=None, validator=_positive("request"))
    page: int | None = attrs.field(default=None, validator=_positive("page"))
    attempt: int | None = attrs.field(default=None, validator=_positive("attempt"))
    probability: float | None = attrs.field(default=None, validator=_probability)
    times: int | None = attrs.field(default=None, validator=_positive("times"))
    account_id: str | None = None
    #: Kind-specific parameters, as ``(name, value)`` pairs (see the constructors).
    params: tuple[tuple[str, Any], ...] = ()

    def __repr__(self) -> str:
        args = [repr(self.kind), *(f"{name}={value!r}" for name, value in self.params)]
        for name in ("request", "page", "attempt", "probability", "times", "account_id"):
            value = getattr(self, name)
            if value is not None:
                args.append(f"{name}={value!r}")
        return f"Fault({', '.join(args)})"

    def param(self, name: str) -> Any:
        """Return the kind-specific parameter ``name``.

        Args:
            name: A parameter of this fault's constructor, e.g. ``"code"``.

        Raises:
            KeyError: If this kind has no such parameter.
        """
        for key, value in self.params:
            if key == name:
                return value
        raise KeyError(name)

    def matches(self, context: MatchContext) -> bool:
        """Return whether the selectors accept this request (``times`` is the caller's job).

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

    # ------------------------------------------------------------------ kinds

    @classmethod
    def status(
        cls,
        code: int,
        *,
        retry_after: float | None = None,
        request: int | None = None,
        page: int | None = None,
        attempt: int | None = None,
        probability: float | None = None,
        times: int | None = None,
        account_id: str | None = None,
    ) -> Fault:
        """Answer with HTTP status ``code`` (kind ``"status"``).

        502 and 520-524 get an HTML page (``Content-Type: text/html``) as Cloudflare's edge
        sends; every other status gets the JSON failure envelope with the Cloudflare code
        a real response would carry:

        ===========  ===============================================================
        HTTP         ``errors``
        ===========  ===============================================================
        400          6008 "Invalid request parameters"
        401, 403     10000 "Authentication error"
        404          7003 "Could not route to ..." + 7000 "No route for that URI"
        405          10405 "Method not allowed"
        429          971 "Please wait and consider throttling your request speed",
                     plus ``Retry-After: <retry_after, whole seconds, default 1>``
        other 4xx    6008 "Invalid request parameters"
        5xx          10001 "An internal error occurred" (503: "Service unavailable")
        ===========  ===============================================================

        Args:
            code: An HTTP status from 400 to 599.
            retry_after: Seconds for ``Retry-After`` on a 429, rounded up (default 1).
            request: Selector, see `Fault`.
            page: Selector, see `Fault`.
            attempt: Selector, see `Fault`.
            probability: Selector, see `Fault`.
            times: Selector, see `Fault`.
            account_id: Selector, see `Fault`.

        Raises:
            ValueError: If ``code`` is not a 4xx or 5xx status.
        """
        if not 400 <= code <= 599:
            raise ValueError(f"status code must be between 400 and 599, got {code}")
        if retry_after is not None and retry_after < 0:
            raise ValueError(f"retry_after must be >= 0, got {retry_after}")
        return cls(
            kind="status",
            params=(("code", code), ("retry_after", retry_after)),
            request=request,
            page=page,
            attempt=attempt,
            probability=probability,
            times=times,
            account_id=account_id,
        )

    @classmethod
    def reset(
        cls,
        *,
        request: int | None = None,
        page: int | None = None,
        attempt: int | None = None,
        probability: float | None = None,
        times: int | None = None,
        account_id: str | None = None,
    ) -> Fault:
        """Close the connection without any response, with a TCP reset (kind ``"reset"``).

        Args:
            request: Selector, see `Fault`.
            page: Selector, see `Fault`.
            attempt: Selector, see `Fault`.
            probability: Selector, see `Fault`.
            times: Selector, see `Fault`.
            account_id: Selector, see `Fault`.
        """
        return cls(
            kind="reset",
            request=request,
            page=page,
            attempt=attempt,
            probability=probability,
            times=times,
            account_id=account_id,
        )

    @classmethod
    def truncate(
        cls,
        *,
        request: int | None = None,
        page: int | None = None,
        attempt: int | None = None,
        probability: float | None = None,
        times: int | None = None,
        account_id: str | None = None,
    ) -> Fault:
        """Send 200 with the full ``Content-Length`` but only half the body, then close
        (kind ``"truncate"``).

        Args:
            request: Selector, see `Fault`.
            page: Selector, see `Fault`.
            attempt: Selector, see `Fault`.
            probability: Selector, see `Fault`.
            times: Selector, see `Fault`.
            account_id: Selector, see `Fault`.
        """
        return cls(
            kind="truncate",
            request=request,
            page=page,
            attempt=attempt,
            probability=probability,
            times=times,
            account_id=account_id,
        )

    @classmethod
    def slow(
        cls,
        delay: float,
        *,
        request: int | None = None,
        page: int | None = None,
        attempt: int | None = None,
        probability: float | None = None,
        times: int | None = None,
        account_id: str | None = None,
    ) -> Fault:
        """Wait ``delay`` more seconds, then respond normally (kind ``"slow"``).

        If the client gives up first, the server notices the closed connection and stops.

        Args:
            delay: Seconds, on top of the server's latency.
            request: Selector, see `Fault`.
            page: Selector, see `Fault`.
            attempt: Selector, see `Fault`.
            probability: Selector, see `Fault`.
            times: Selector, see `Fault`.
            account_id: Selector, see `Fault`.

        Raises:
            ValueError: If ``delay`` is negative.
        """
        if delay < 0:
            raise ValueError(f"delay must be >= 0, got {delay}")
        return cls(
            kind="slow",
            params=(("delay", delay),),
            request=request,
            page=page,
            attempt=attempt,
            probability=probability,
            times=times,
            account_id=account_id,
        )

    @classmethod
    def malformed_json(
        cls,
        *,
        request: int | None = None,
        page: int | None = None,
        attempt: int | None = None,
        probability: float | None = None,
        times: int | None = None,
        account_id: str | None = None,
    ) -> Fault:
        """Send 200 ``application/json`` whose body is not valid JSON (kind
        ``"malformed_json"``): the first half of the real body, with a correct length.

        Args:
            request: Selector, see `Fault`.
            page: Selector, see `Fault`.
            attempt: Selector, see `Fault`.
            probability: Selector, see `Fault`.
            times: Selector, see `Fault`.
            account_id: Selector, see `Fault`.
        """
        return cls(
            kind="malformed_json",
            request=request,
            page=page,
            attempt=attempt,
            probability=probability,
            times=times,
            account_id=account_id,
        )

    @classmethod
    def error_envelope(
        cls,
        code: int = 10000,
        message: str = "Authentication error",
        status: int = 200,
        *,
        request: int | None = None,
        page: int | None = None,
        attempt: int | None = None,
        probability: float | None = None,
        times: int | None = None,
        account_id: str | None = None,
    ) -> Fault:
        """Send a ``success: false`` envelope with one error (kind ``"error_envelope"``).

        Args:
            code: The Cloudflare error code.
            message: The error message.
            status: The HTTP status to send it with (200 by default: the envelope, not the
                status, carries the failure).
            request: Selector, see `Fault`.
            page: Selector, see `Fault`.
            attempt: Selector, see `Fault`.
            probability: Selector, see `Fault`.
            times: Selector, see `Fault`.
            account_id: Selector, see `Fault`.

        Raises:
            ValueError: If ``status`` is not between 200 and 599.
        """
        if not 200 <= status <= 599:
            raise ValueError(f"status must be between 200 and 599, got {status}")
        return cls(
            kind="error_envelope",
            params=(("code", code), ("message", message), ("status", status)),
            request=request,
            page=page,
            attempt=attempt,
            probability=probability,
            times=times,
            account_id=account_id,
        )

    @classmethod
    def wrong_type(
        cls,
        field: str = "amount_due",
        value: Any = "not-a-number",
        *,
        request: int | None = None,
        page: int | None = None,
        attempt: int | None = None,
        probability: float | None = None,
        times: int | None = None,
        account_id: str | None = None,
    ) -> Fault:
        """Set ``field`` of the page's first invoice to ``value`` (kind ``"wrong_type"``).

        An empty page is served unchanged (the fault is still recorded).

        Args:
            field: The invoice key to replace (or add).
            value: Any JSON-serialisable value.
            request: Selector, see `Fault`.
            page: Selector, see `Fault`.
            attempt: Selector, see `Fault`.
            probability: Selector, see `Fault`.
            times: Selector, see `Fault`.
            account_id: Selector, see `Fault`.
        """
        return cls(
            kind="wrong_type",
            params=(("field", field), ("value", value)),
            request=request,
            page=page,
            attempt=attempt,
            probability=probability,
            times=times,
            account_id=account_id,
        )

    @classmethod
    def missing_pagination(
        cls,
        *,
        request: int | None = None,
        page: int | None = None,
        attempt: int | None = None,
        probability: float | None = None,
        times: int | None = None,
        account_id: str | None = None,
    ) -> Fault:
        """Omit both ``result.pagination`` and ``result_info`` (kind ``"missing_pagination"``).

        Args:
            request: Selector, see `Fault`.
            page: Selector, see `Fault`.
            attempt: Selector, see `Fault`.
            probability: Selector, see `Fault`.
            times: Selector, see `Fault`.
            account_id: Selector, see `Fault`.
        """
        return cls(
            kind="missing_pagination",
            request=request,
            page=page,
            attempt=attempt,
            probability=probability,
            times=times,
            account_id=account_id,
        )

    @classmethod
    def result_info_only(
        cls,
        *,
        request: int | None = None,
        page: int | None = None,
        attempt: int | None = None,
        probability: float | None = None,
        times: int | None = None,
        account_id: str | None = None,
    ) -> Fault:
        """Put the pagination only in top-level ``result_info`` (kind ``"result_info_only"``).

        Args:
            request: Selector, see `Fault`.
            page: Selector, see `Fault`.
            attempt: Selector, see `Fault`.
            probability: Selector, see `Fault`.
            times: Selector, see `Fault`.
            account_id: Selector, see `Fault`.
        """
        return cls(
            kind="result_info_only",
            request=request,
            page=page,
            attempt=attempt,
            probability=probability,
            times=times,
            account_id=account_id,
        )

    @classmethod
    def float_numbers(
        cls,
        *,
        request: int | None = None,
        page: int | None = None,
        attempt: int | None = None,
        probability: float | None = None,
        times: int | None = None,
        account_id: str | None = None,
    ) -> Fault:
        """Render ``page``, ``per_page`` and ``total_count`` as floats, e.g. ``2.0`` (kind
        ``"float_numbers"``); the schema types them as ``number`` (CLOUDFLARE_API.md).

        Args:
            request: Selector, see `Fault`.
            page: Selector, see `Fault`.
            attempt: Selector, see `Fault`.
            probability: Selector, see `Fault`.
            times: Selector, see `Fault`.
            account_id: Selector, see `Fault`.
        """
        return cls(
            kind="float_numbers",
            request=request,
            page=page,
            attempt=attempt,
            probability=probability,
            times=times,
            account_id=account_id,
        )

    @classmethod
    def ignore_page(
        cls,
        echo: bool = False,
        *,
        request: int | None = None,
        page: int | None = None,
        attempt: int | None = None,
        probability: float | None = None,
        times: int | None = None,
        account_id: str | None = None,
    ) -> Fault:
        """Serve page 1 whatever page was asked (kind ``"ignore_page"``).

        Some Cloudflare list endpoints do this (CLOUDFLARE_API.md, "The endpoint" [O]).
        With ``echo=False`` the pagination honestly says page 1. With ``echo=True`` it claims
        the requested page, and ``has_more`` is computed for that page, so only the repeated
        ids give the lie away.

        Args:
            echo: Whether the pagination claims the requested page number.
            request: Selector, see `Fault`.
            page: Selector, see `Fault`.
            attempt: Selector, see `Fault`.
            probability: Selector, see `Fault`.
            times: Selector, see `Fault`.
            account_id: Selector, see `Fault`.
        """
        return cls(
            kind="ignore_page",
            params=(("echo", echo),),
            request=request,
            page=page,
            attempt=attempt,
            probability=probability,
            times=times,
            account_id=account_id,
        )

    @classmethod
    def clamp_per_page(
        cls,
        n: int,
        *,
        request: int | None = None,
        page: int | None = None,
        attempt: int | None = None,
        probability: float | None = None,
        times: int | None = None,
        account_id: str | None = None,
    ) -> Fault:
        """Silently serve pages of ``min(per_page, n)`` invoices and report that size as
        ``per_page``; page boundaries are computed with the clamped size (kind
        ``"clamp_per_page"``).

        Args:
            n: The largest page size served (>= 1).
            request: Selector, see `Fault`.
            page: Selector, see `Fault`.
            attempt: Selector, see `Fault`.
            probability: Selector, see `Fault`.
            times: Selector, see `Fault`.
            account_id: Selector, see `Fault`.

        Raises:
            ValueError: If ``n`` < 1.
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        return cls(
            kind="clamp_per_page",
            params=(("n", n),),
            request=request,
            page=page,
            attempt=attempt,
            probability=probability,
            times=times,
            account_id=account_id,
        )

    @classmethod
    def create(
        cls,
        n: int,
        *,
        request: int | None = None,
        page: int | None = None,
        attempt: int | None = None,
        probability: float | None = None,
        times: int | None = None,
        account_id: str | None = None,
    ) -> Fault:
        """Before serving, create ``n`` invoices at the head of the list (kind ``"create"``).

        Every later page shifts down by ``n``; the response reflects the new state.

        Args:
            n: How many invoices to create (>= 0).
            request: Selector, see `Fault`.
            page: Selector, see `Fault`.
            attempt: Selector, see `Fault`.
            probability: Selector, see `Fault`.
            times: Selector, see `Fault`.
            account_id: Selector, see `Fault`.

        Raises:
            ValueError: If ``n`` is negative.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        return cls(
            kind="create",
            params=(("n", n),),
            request=request,
            page=page,
            attempt=attempt,
            probability=probability,
            times=times,
            account_id=account_id,
        )

    @classmethod
    def delete(
        cls,
        n: int,
        position: int = 0,
        *,
        request: int | None = None,
        page: int | None = None,
        attempt: int | None = None,
        probability: float | None = None,
        times: int | None = None,
        account_id: str | None = None,
    ) -> Fault:
        """Before serving, delete ``n`` invoices from index ``position`` of the all-types
        order, newest first (kind ``"delete"``); later pages shift up.

        Args:
            n: How many invoices to delete (>= 0; fewer at the end of the list).
            position: 0-based index of the first one to delete.
            request: Selector, see `Fault`.
            page: Selector, see `Fault`.
            attempt: Selector, see `Fault`.
            probability: Selector, see `Fault`.
            times: Selector, see `Fault`.
            account_id: Selector, see `Fault`.

        Raises:
            ValueError: If ``n`` or ``position`` is negative.
        """
        if n < 0 or position < 0:
            raise ValueError(f"n and position must be >= 0, got {n} and {position}")
        return cls(
            kind="delete",
            params=(("n", n), ("position", position)),
            request=request,
            page=page,
            attempt=attempt,
            probability=probability,
            times=times,
            account_id=account_id,
        )

    @classmethod
    def has_more(
        cls,
        value: bool,
        *,
        request: int | None = None,
        page: int | None = None,
        attempt: int | None = None,
        probability: float | None = None,
        times: int | None = None,
        account_id: str | None = None,
    ) -> Fault:
        """Override ``has_more`` in this response's pagination (kind ``"has_more"``).

        Args:
            value: The value to claim.
            request: Selector, see `Fault`.
            page: Selector, see `Fault`.
            attempt: Selector, see `Fault`.
            probability: Selector, see `Fault`.
            times: Selector, see `Fault`.
            account_id: Selector, see `Fault`.
        """
        return cls(
            kind="has_more",
            params=(("value", value),),
            request=request,
            page=page,
            attempt=attempt,
            probability=probability,
            times=times,
            account_id=account_id,
        )

    @classmethod
    def total_count(
        cls,
        value: int | None,
        *,
        request: int | None = None,
        page: int | None = None,
        attempt: int | None = None,
        probability: float | None = None,
        times: int | None = None,
        account_id: str | None = None,
    ) -> Fault:
        """Claim ``total_count = value`` in this response, data unchanged (kind
        ``"total_count"``); None omits the key.

        Args:
            value: The count to claim, or None to leave the key out.
            request: Selector, see `Fault`.
            page: Selector, see `Fault`.
            attempt: Selector, see `Fault`.
            probability: Selector, see `Fault`.
            times: Selector, see `Fault`.
            account_id: Selector, see `Fault`.
        """
        return cls(
            kind="total_count",
            params=(("value", value),),
            request=request,
            page=page,
            attempt=attempt,
            probability=probability,
            times=times,
            account_id=account_id,
        )


@attrs.frozen(kw_only=True)
class InjectedFault:
    """A record of one fault FakeCloudflare injected.

    Attributes:
        request: The number of the request it was injected into.
        page: The page that request asked for (1 when it asked for none).
        attempt: How many times that (account, type, page, per_page) had been requested,
            this request included.
        kind: The fault's kind, e.g. ``"status"`` or ``"reset"``.
    """

    request: int
    page: int
    attempt: int
    kind: str
