"""One small class per fault kind: its parameters, their checks, and the reply it builds.

Each class is registered with `constructor`, which makes it ``Fault.<kind>``: the class
docstring is the constructor's documentation. Selector keywords are passed through
``**when`` to the one `Selector` type; no kind repeats them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

import attrs

from ._data import AccountData
from ._faults import HTML_STATUSES, Fault, constructor
from ._reply import HTML, Exchange, Reply, error_reply
from ._responses import Pagination, error_for_status, success_body
from ._selector import Selector

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._selector import When

__all__ = [
    "ClampPerPage",
    "Create",
    "Delete",
    "Disconnect",
    "ErrorEnvelope",
    "FloatNumbers",
    "HasMore",
    "IgnorePage",
    "MalformedJson",
    "MissingPagination",
    "Reset",
    "ResultInfoOnly",
    "Slow",
    "Status",
    "TotalCount",
    "Truncate",
    "WrongType",
]

_kind = attrs.frozen(kw_only=True, repr=False, init=False)


class _Plain(Fault):
    """A kind without parameters of its own: only the selectors."""

    def __init__(self, **when: Unpack[When]) -> None:
        self.__attrs_init__(selector=Selector(**when))  # type: ignore[attr-defined]


def _paged(
    exchange: Exchange,
    *,
    served_page: int | None = None,
    claimed_page: int | None = None,
    has_more: bool | None = None,
    total_count: int | Literal["real"] | None = "real",
    where: Literal["both", "result", "result_info", "none"] = "both",
    floats: bool = False,
    array: bytes | None = None,
) -> Reply:
    """Return a 200 page whose invoices or pagination differ from the normal page's.

    Unchanged parts default to the truth: the requested page, its real ``has_more`` and
    ``total_count``, pagination in both places, integers, the page's own invoices.
    """
    total = exchange.invoice_account().count(exchange.type)
    claimed = exchange.page if claimed_page is None else claimed_page
    if array is None:
        body, start, end = exchange.render(served_page or exchange.page, exchange.per_page)
        array = body[start:end]
    pagination = Pagination(
        has_more=claimed * exchange.per_page < total if has_more is None else has_more,
        page=claimed,
        per_page=exchange.per_page,
        total_count=total if total_count == "real" else total_count,
        floats=floats,
    )
    return Reply(status=200, body=success_body(array, pagination, where)[0])


@constructor
@_kind
class Status(Fault):
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
        request, page, attempt, probability, times, account_id: Selector, see `Fault`.

    Raises:
        ValueError: If ``code`` is not a 4xx or 5xx status.
    """

    kind: ClassVar[str] = "status"
    any_endpoint: ClassVar[bool] = True
    code: int
    retry_after: float | None

    def __init__(
        self, code: int, *, retry_after: float | None = None, **when: Unpack[When]
    ) -> None:
        if not 400 <= code <= 599:
            raise ValueError(f"status code must be between 400 and 599, got {code}")
        if retry_after is not None and retry_after < 0:
            raise ValueError(f"retry_after must be >= 0, got {retry_after}")
        self.__attrs_init__(  # type: ignore[attr-defined]
            code=code, retry_after=retry_after, selector=Selector(**when)
        )

    def reply(self, exchange: Exchange) -> Reply:
        if self.code in HTML_STATUSES:
            return Reply(status=self.code, content_type=HTML)  # the server renders the page
        reply = error_reply(self.code, error_for_status(self.code, exchange.path))
        if self.code == 429:
            wait = 1 if self.retry_after is None else self.retry_after
            reply.headers["Retry-After"] = str(-int(-wait // 1))
        return reply


@constructor
@_kind
class Reset(_Plain):
    """Close the connection without any response, with a TCP reset (kind ``"reset"``).

    The request was counted (rate limit, `FakeCloudflare.requests`) before the reset, as a
    real server under load counts a request it then drops.

    Args:
        request, page, attempt, probability, times, account_id: Selector, see `Fault`.
    """

    kind: ClassVar[str] = "reset"
    any_endpoint: ClassVar[bool] = True

    def reply(self, exchange: Exchange) -> Reply:
        return Reply(status=0, action="reset")


@constructor
@_kind
class Disconnect(_Plain):
    """Close the connection cleanly (a TCP FIN) without any response (kind
    ``"disconnect"``).

    What a server does when it drops a kept-alive connection it was about to reuse, or
    sheds load: the request was counted (rate limit, `FakeCloudflare.requests`,
    `FakeCloudflare.received`) and the client reads an end of stream instead of a status
    line. aiohttp's ``ClientSession`` re-sends an idempotent request once, silently, after
    such a close or a reset (see the testing page).

    Args:
        request, page, attempt, probability, times, account_id: Selector, see `Fault`.
    """

    kind: ClassVar[str] = "disconnect"
    any_endpoint: ClassVar[bool] = True

    def reply(self, exchange: Exchange) -> Reply:
        return Reply(status=0, action="close")


@constructor
@_kind
class Truncate(_Plain):
    """Send 200 with the full ``Content-Length`` but only half the body, then close
    (kind ``"truncate"``).

    Args:
        request, page, attempt, probability, times, account_id: Selector, see `Fault`.
    """

    kind: ClassVar[str] = "truncate"
    any_endpoint: ClassVar[bool] = True

    def reply(self, exchange: Exchange) -> Reply:
        return attrs.evolve(exchange.normal(), action="truncate")


@constructor
@_kind
class Slow(Fault):
    """Wait ``delay`` more seconds, then respond normally (kind ``"slow"``).

    If the client gives up first, the server notices the closed connection and stops.

    Args:
        delay: Seconds, on top of the server's latency.
        request, page, attempt, probability, times, account_id: Selector, see `Fault`.

    Raises:
        ValueError: If ``delay`` is negative.
    """

    kind: ClassVar[str] = "slow"
    any_endpoint: ClassVar[bool] = True
    delay: float

    def __init__(self, delay: float, **when: Unpack[When]) -> None:
        if delay < 0:
            raise ValueError(f"delay must be >= 0, got {delay}")
        self.__attrs_init__(delay=delay, selector=Selector(**when))  # type: ignore[attr-defined]

    def reply(self, exchange: Exchange) -> Reply:
        return attrs.evolve(exchange.normal(), delay=self.delay)


@constructor
@_kind
class MalformedJson(_Plain):
    """Send 200 ``application/json`` whose body is not valid JSON (kind
    ``"malformed_json"``): the first half of the real body, with a correct length.

    Args:
        request, page, attempt, probability, times, account_id: Selector, see `Fault`.
    """

    kind: ClassVar[str] = "malformed_json"
    any_endpoint: ClassVar[bool] = True

    def reply(self, exchange: Exchange) -> Reply:
        body = exchange.normal().body
        return Reply(status=200, body=body[: len(body) // 2])


@constructor
@_kind
class ErrorEnvelope(Fault):
    """Send a ``success: false`` envelope with one error (kind ``"error_envelope"``).

    Args:
        code: The Cloudflare error code.
        message: The error message.
        status: The HTTP status to send it with (200 by default: the envelope, not the
            status, carries the failure).
        request, page, attempt, probability, times, account_id: Selector, see `Fault`.

    Raises:
        ValueError: If ``status`` is not between 200 and 599.
    """

    kind: ClassVar[str] = "error_envelope"
    any_endpoint: ClassVar[bool] = True
    code: int
    message: str
    status: int  # type: ignore[misc,assignment]  # the HTTP status, not the constructor

    def __init__(
        self,
        code: int = 10000,
        message: str = "Authentication error",
        status: int = 200,
        **when: Unpack[When],
    ) -> None:
        if not 200 <= status <= 599:
            raise ValueError(f"status must be between 200 and 599, got {status}")
        self.__attrs_init__(  # type: ignore[attr-defined]
            code=code, message=message, status=status, selector=Selector(**when)
        )

    def reply(self, exchange: Exchange) -> Reply:
        return error_reply(self.status, [{"code": self.code, "message": self.message}])


@constructor
@_kind
class WrongType(Fault):
    """Set ``field`` of the page's first invoice to ``value`` (kind ``"wrong_type"``).

    An empty page is served unchanged (the fault is still recorded).

    Args:
        field: The invoice key to replace (or add).
        value: Any JSON-serialisable value.
        request, page, attempt, probability, times, account_id: Selector, see `Fault`.
    """

    kind: ClassVar[str] = "wrong_type"
    field: str
    value: Any

    def __init__(
        self, field: str = "amount_due", value: Any = "not-a-number", **when: Unpack[When]
    ) -> None:
        self.__attrs_init__(  # type: ignore[attr-defined]
            field=field, value=value, selector=Selector(**when)
        )

    def reply(self, exchange: Exchange) -> Reply:
        account = exchange.invoice_account()
        offset = (exchange.page - 1) * exchange.per_page
        serials = account.page_serials(exchange.type, offset, exchange.per_page)
        rendered = [account.render(serial) for serial in serials]
        if serials:
            rendered[0] = account.render_with(serials[0], self.field, self.value)
        return _paged(exchange, array=("[" + ",".join(rendered) + "]").encode())


@constructor
@_kind
class MissingPagination(_Plain):
    """Omit both ``result.pagination`` and ``result_info`` (kind ``"missing_pagination"``).

    Args:
        request, page, attempt, probability, times, account_id: Selector, see `Fault`.
    """

    kind: ClassVar[str] = "missing_pagination"

    def reply(self, exchange: Exchange) -> Reply:
        return _paged(exchange, where="none")


@constructor
@_kind
class ResultInfoOnly(_Plain):
    """Put the pagination only in top-level ``result_info`` (kind ``"result_info_only"``).

    Args:
        request, page, attempt, probability, times, account_id: Selector, see `Fault`.
    """

    kind: ClassVar[str] = "result_info_only"

    def reply(self, exchange: Exchange) -> Reply:
        return _paged(exchange, where="result_info")


@constructor
@_kind
class FloatNumbers(_Plain):
    """Render ``page``, ``per_page`` and ``total_count`` as floats, e.g. ``2.0`` (kind
    ``"float_numbers"``); the schema types them as ``number`` (docs/cloudflare-api.md).

    Args:
        request, page, attempt, probability, times, account_id: Selector, see `Fault`.
    """

    kind: ClassVar[str] = "float_numbers"

    def reply(self, exchange: Exchange) -> Reply:
        return _paged(exchange, floats=True)


@constructor
@_kind
class IgnorePage(Fault):
    """Serve page 1 whatever page was asked (kind ``"ignore_page"``).

    Some Cloudflare list endpoints do this (docs/cloudflare-api.md, "The endpoint" [O]).
    With ``echo=False`` the pagination honestly says page 1. With ``echo=True`` it claims
    the requested page, and ``has_more`` is computed for that page, so only the repeated
    ids give the lie away.

    Args:
        echo: Whether the pagination claims the requested page number.
        request, page, attempt, probability, times, account_id: Selector, see `Fault`.
    """

    kind: ClassVar[str] = "ignore_page"
    echo: bool

    def __init__(self, echo: bool = False, **when: Unpack[When]) -> None:
        self.__attrs_init__(echo=echo, selector=Selector(**when))  # type: ignore[attr-defined]

    def reply(self, exchange: Exchange) -> Reply:
        claimed = exchange.page if self.echo else 1
        return _paged(exchange, served_page=1, claimed_page=claimed)


@constructor
@_kind
class ClampPerPage(Fault):
    """Silently serve pages of ``min(per_page, n)`` invoices and report that size as
    ``per_page``; page boundaries are computed with the clamped size (kind
    ``"clamp_per_page"``).

    Args:
        n: The largest page size served (>= 1).
        request, page, attempt, probability, times, account_id: Selector, see `Fault`.

    Raises:
        ValueError: If ``n`` < 1.
    """

    kind: ClassVar[str] = "clamp_per_page"
    n: int

    def __init__(self, n: int, **when: Unpack[When]) -> None:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.__attrs_init__(n=n, selector=Selector(**when))  # type: ignore[attr-defined]

    def reply(self, exchange: Exchange) -> Reply:
        body = exchange.render(exchange.page, min(exchange.per_page, self.n))[0]
        return Reply(status=200, body=body)


@constructor
@_kind
class Create(Fault):
    """Before serving, create ``n`` invoices at the head of the list (kind ``"create"``).

    Every later page shifts down by ``n``; the response reflects the new state.

    Args:
        n: How many invoices to create (>= 0).
        request, page, attempt, probability, times, account_id: Selector, see `Fault`.

    Raises:
        ValueError: If ``n`` is negative.
    """

    kind: ClassVar[str] = "create"
    changes_data: ClassVar[bool] = True
    n: int

    def __init__(self, n: int, **when: Unpack[When]) -> None:
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        self.__attrs_init__(n=n, selector=Selector(**when))  # type: ignore[attr-defined]

    def change(self, account: AccountData) -> None:
        account.create(self.n)


@constructor
@_kind
class Delete(Fault):
    """Before serving, delete ``n`` invoices from index ``position`` of the all-types
    order, newest first (kind ``"delete"``); later pages shift up.

    Args:
        n: How many invoices to delete (>= 0; fewer at the end of the list).
        position: 0-based index of the first one to delete.
        request, page, attempt, probability, times, account_id: Selector, see `Fault`.

    Raises:
        ValueError: If ``n`` or ``position`` is negative.
    """

    kind: ClassVar[str] = "delete"
    changes_data: ClassVar[bool] = True
    n: int
    position: int

    def __init__(self, n: int, position: int = 0, **when: Unpack[When]) -> None:
        if n < 0 or position < 0:
            raise ValueError(f"n and position must be >= 0, got {n} and {position}")
        self.__attrs_init__(  # type: ignore[attr-defined]
            n=n, position=position, selector=Selector(**when)
        )

    def change(self, account: AccountData) -> None:
        account.delete_at(self.position, self.n)


@constructor
@_kind
class HasMore(Fault):
    """Override ``has_more`` in this response's pagination (kind ``"has_more"``).

    Args:
        value: The value to claim.
        request, page, attempt, probability, times, account_id: Selector, see `Fault`.
    """

    kind: ClassVar[str] = "has_more"
    value: bool

    def __init__(self, value: bool, **when: Unpack[When]) -> None:
        self.__attrs_init__(value=value, selector=Selector(**when))  # type: ignore[attr-defined]

    def reply(self, exchange: Exchange) -> Reply:
        return _paged(exchange, has_more=self.value)


@constructor
@_kind
class TotalCount(Fault):
    """Claim ``total_count = value`` in this response, data unchanged (kind
    ``"total_count"``); None omits the key.

    Args:
        value: The count to claim, or None to leave the key out.
        request, page, attempt, probability, times, account_id: Selector, see `Fault`.
    """

    kind: ClassVar[str] = "total_count"
    value: int | None

    def __init__(self, value: int | None, **when: Unpack[When]) -> None:
        self.__attrs_init__(value=value, selector=Selector(**when))  # type: ignore[attr-defined]

    def reply(self, exchange: Exchange) -> Reply:
        return _paged(exchange, total_count=self.value)
