"""Faults FakeCloudflare can inject, and the record of what it injected.

A `Fault` says WHAT goes wrong and WHEN. WHEN is one `Selector` (``_selector.py``), the
same for every kind. WHAT is the fault's class: one small class per kind, below `Fault`,
holding its parameters, their checks, its documentation and the reply it builds. Each kind
class registers itself as a constructor of `Fault` (``Fault.status(...)`` is
``Status(...)``), so adding a kind touches one class, plus the line that declares its
constructor's type in `Fault`. The kinds live in this module, beside `Fault`, because each
needs the other: a kind is a `Fault`, and `Fault` names every kind's constructor.

Faults are immutable values; how often each one fired is kept by the server, so one `Fault`
can be reused across servers.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal, TypeVar

import attrs

from ._data import AccountData
from ._reply import HTML, Exchange, Reply, error_reply
from ._responses import HTML_STATUSES, Pagination, error_for_status, success_body
from ._selector import MatchContext, Selector

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._selector import When


__all__ = [
    "ClampPerPage",
    "Create",
    "Delete",
    "Disconnect",
    "ErrorEnvelope",
    "Fault",
    "FloatNumbers",
    "HasMore",
    "IgnorePage",
    "InjectedFault",
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

_SELECTOR_NAMES: Final = tuple(field.name for field in attrs.fields(Selector))


@attrs.frozen(kw_only=True, repr=False)
class Fault:
    """One failure to inject into FakeCloudflare's responses; build it with a constructor.

    Every constructor takes the same keyword-only selectors (a `Selector`); all that are
    given must match for the fault to fire, and none given means "every request":

    - ``request``: the Nth request to the endpoint (1-based, all requests of the server).
    - ``page``: the page requested (1 when the query has no ``page``).
    - ``attempt``: the Nth time this same (account, type, page, per_page) was requested.
    - ``probability``: fire with this chance, drawn from the server's seed, the request
      number and the fault's position, so a run is reproducible.
    - ``times``: fire at most this many times (None: on every match).
    - ``account_id``: only requests for this account.

    Requests rejected before faults are considered (rate limit, routing, authentication,
    bad parameters) are not attempts and never receive a fault. Faults that change the
    account's data (``create``, ``delete``) all apply when they match; of the others, which
    shape the response, only the first matching one applies.

    Example::

        Fault.status(503, page=3, attempt=1)    # the first request of page 3 fails
        Fault.reset(probability=0.1)            # one request in ten loses its connection
        Fault.create(5, request=4, times=1)     # five new invoices appear before request 4
    """

    #: The kind's name, which is also the name of its constructor, e.g. ``"status"``.
    kind: ClassVar[str] = ""
    #: Whether the fault changes the account's data rather than shaping the response.
    changes_data: ClassVar[bool] = False
    #: Whether it also applies to the account listing (``GET /accounts``): only kinds that
    #: need no invoice data do.
    any_endpoint: ClassVar[bool] = False

    #: Which requests it applies to.
    selector: Selector = attrs.field(factory=Selector)

    if TYPE_CHECKING:
        # The constructors, one per kind class below, installed by `_kind`; declared for
        # type checkers only, as the classes come later.
        status: ClassVar[type[Status]]
        reset: ClassVar[type[Reset]]
        disconnect: ClassVar[type[Disconnect]]
        truncate: ClassVar[type[Truncate]]
        slow: ClassVar[type[Slow]]
        malformed_json: ClassVar[type[MalformedJson]]
        error_envelope: ClassVar[type[ErrorEnvelope]]
        wrong_type: ClassVar[type[WrongType]]
        missing_pagination: ClassVar[type[MissingPagination]]
        result_info_only: ClassVar[type[ResultInfoOnly]]
        float_numbers: ClassVar[type[FloatNumbers]]
        ignore_page: ClassVar[type[IgnorePage]]
        clamp_per_page: ClassVar[type[ClampPerPage]]
        create: ClassVar[type[Create]]
        delete: ClassVar[type[Delete]]
        has_more: ClassVar[type[HasMore]]
        total_count: ClassVar[type[TotalCount]]

    @property
    def params(self) -> tuple[tuple[str, Any], ...]:
        """The kind-specific parameters, as ``(name, value)`` pairs in constructor order."""
        fields = attrs.fields(type(self))
        return tuple((f.name, getattr(self, f.name)) for f in fields if f.name != "selector")

    # The selectors, readable on the fault itself as before they had a type of their own.
    request = property(lambda self: self.selector.request)
    page = property(lambda self: self.selector.page)
    attempt = property(lambda self: self.selector.attempt)
    probability = property(lambda self: self.selector.probability)
    times = property(lambda self: self.selector.times)
    account_id = property(lambda self: self.selector.account_id)

    def __repr__(self) -> str:
        pairs = [*self.params, *self.selector.given()]
        args = [repr(self.kind), *(f"{name}={value!r}" for name, value in pairs)]
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

    def _set(self, when: When, **params: Any) -> None:
        """Set a kind's parameters and its selector, through the init attrs writes."""
        self.__attrs_init__(**params, selector=Selector(**when))  # type: ignore[attr-defined]

    def matches(self, context: MatchContext) -> bool:
        """Return whether the selectors accept this request (``times`` is the caller's job).

        Args:
            context: The request's number, page, attempt, account and random draw.
        """
        return self.selector.matches(context)

    def change(self, account: AccountData) -> None:
        """Change the account's data before the response is built (data faults only).

        Args:
            account: The data of the account the request is for.
        """

    def reply(self, exchange: Exchange) -> Reply:
        """Return the reply to a request this fault was selected for.

        The default is the normal page, which is what data faults serve.

        Args:
            exchange: The request, the account and a way to render its normal pages.
        """
        return exchange.normal()


_F = TypeVar("_F", bound=Fault)


def constructor(kind: type[_F]) -> type[_F]:
    """Register a kind class as the `Fault` constructor named after its ``kind``.

    The constructor is a classmethod of `Fault` that builds the kind; it carries the kind's
    docstring, and its signature spells out the selector keywords, so ``help(Fault.status)``
    and the reference show exactly what may be passed.

    Args:
        kind: A subclass of `Fault` with a ``kind`` name and an ``__init__``.

    Returns:
        The class itself.
    """

    @functools.wraps(kind, assigned=("__doc__",), updated=())
    def build(cls: type[Fault], *args: Any, **kwargs: Any) -> Fault:
        return kind(*args, **kwargs)

    build.__name__ = kind.kind
    build.__qualname__ = f"Fault.{kind.kind}"
    build.__signature__ = _signature(kind.__init__)  # type: ignore[attr-defined]
    setattr(Fault, kind.kind, classmethod(build))
    return kind


def _signature(init: Callable[..., None]) -> inspect.Signature:
    """Return the constructor signature: ``cls``, the kind's parameters, then the selectors."""
    own = [p for p in inspect.signature(init).parameters.values() if p.kind != p.VAR_KEYWORD]
    selectors = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=note)
        for name, note in zip(_SELECTOR_NAMES, _SELECTOR_NOTES, strict=True)
    ]
    cls = inspect.Parameter("cls", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return inspect.Signature([cls, *own[1:], *selectors], return_annotation="Fault")


_SELECTOR_NOTES: Final = ("int | None",) * 3 + ("float | None", "int | None", "str | None")


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


#: The Args line of the selectors, which every kind's documentation ends with.
_SELECTOR_ARGS: Final = (
    "request, page, attempt, probability, times, account_id: Selector, see `Fault`."
)


def _kind(
    name: str, *, any_endpoint: bool = False, changes_data: bool = False
) -> Callable[[type[_F]], type[_F]]:
    """Make a class the fault kind ``name`` and register it as `Fault`'s constructor of it.

    Args:
        name: The kind's name, which is also the constructor's.
        any_endpoint: Whether it applies to the account listing too (see `Fault`).
        changes_data: Whether it changes the account's data rather than the response.
    """

    def make(cls: type[_F]) -> type[_F]:
        cls.kind = name
        cls.any_endpoint = any_endpoint
        cls.changes_data = changes_data
        cls.__doc__ = _with_selectors(cls.__doc__ or "")
        return constructor(attrs.frozen(kw_only=True, repr=False, init=False)(cls))

    return make


def _with_selectors(doc: str) -> str:
    """Return a kind's docstring with the selectors last in its ``Args`` section."""
    head, raises, tail = inspect.cleandoc(doc).partition("\n\nRaises:")
    args = "\n    " if "\nArgs:\n" in head else "\n\nArgs:\n    "
    return head + args + _SELECTOR_ARGS + raises + tail


_N = TypeVar("_N", int, float)


def _at_least(name: str, value: _N, least: int) -> _N:
    """Return ``value`` if it is at least ``least``.

    Raises:
        ValueError: If it is less.
    """
    if value < least:
        raise ValueError(f"{name} must be >= {least}, got {value}")
    return value


class _Plain(Fault):
    """A kind without parameters of its own: only the selectors."""

    def __init__(self, **when: Unpack[When]) -> None:
        self._set(when)


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


@_kind("status", any_endpoint=True)
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

    Raises:
        ValueError: If ``code`` is not a 4xx or 5xx status.
    """

    code: int
    retry_after: float | None

    def __init__(
        self, code: int, *, retry_after: float | None = None, **when: Unpack[When]
    ) -> None:
        if not 400 <= code <= 599:
            raise ValueError(f"status code must be between 400 and 599, got {code}")
        if retry_after is not None:
            _at_least("retry_after", retry_after, 0)
        self._set(when, code=code, retry_after=retry_after)

    def reply(self, exchange: Exchange) -> Reply:
        if self.code in HTML_STATUSES:
            return Reply(status=self.code, content_type=HTML)  # the server renders the page
        reply = error_reply(self.code, error_for_status(self.code, exchange.path))
        if self.code == 429:
            wait = 1 if self.retry_after is None else self.retry_after
            reply.headers["Retry-After"] = str(-int(-wait // 1))
        return reply


@_kind("reset", any_endpoint=True)
class Reset(_Plain):
    """Close the connection without any response, with a TCP reset (kind ``"reset"``).

    The request was counted (rate limit, `FakeCloudflare.requests`) before the reset, as a
    real server under load counts a request it then drops.
    """

    def reply(self, exchange: Exchange) -> Reply:
        return Reply(status=0, action="reset")


@_kind("disconnect", any_endpoint=True)
class Disconnect(_Plain):
    """Close the connection cleanly (a TCP FIN) without any response (kind
    ``"disconnect"``).

    What a server does when it drops a kept-alive connection it was about to reuse, or
    sheds load: the request was counted (rate limit, `FakeCloudflare.requests`,
    `FakeCloudflare.received`) and the client reads an end of stream instead of a status
    line. aiohttp's ``ClientSession`` re-sends an idempotent request once, silently, after
    such a close or a reset (see the testing page).
    """

    def reply(self, exchange: Exchange) -> Reply:
        return Reply(status=0, action="close")


@_kind("truncate", any_endpoint=True)
class Truncate(_Plain):
    """Send 200 with the full ``Content-Length`` but only half the body, then close
    (kind ``"truncate"``).
    """

    def reply(self, exchange: Exchange) -> Reply:
        return attrs.evolve(exchange.normal(), action="truncate")


@_kind("slow", any_endpoint=True)
class Slow(Fault):
    """Wait ``delay`` more seconds, then respond normally (kind ``"slow"``).

    If the client gives up first, the server notices the closed connection and stops.

    Args:
        delay: Seconds, on top of the server's latency.

    Raises:
        ValueError: If ``delay`` is negative.
    """

    delay: float

    def __init__(self, delay: float, **when: Unpack[When]) -> None:
        self._set(when, delay=_at_least("delay", delay, 0))

    def reply(self, exchange: Exchange) -> Reply:
        return attrs.evolve(exchange.normal(), delay=self.delay)


@_kind("malformed_json", any_endpoint=True)
class MalformedJson(_Plain):
    """Send 200 ``application/json`` whose body is not valid JSON (kind
    ``"malformed_json"``): the first half of the real body, with a correct length.
    """

    def reply(self, exchange: Exchange) -> Reply:
        body = exchange.normal().body
        return Reply(status=200, body=body[: len(body) // 2])


@_kind("error_envelope", any_endpoint=True)
class ErrorEnvelope(Fault):
    """Send a ``success: false`` envelope with one error (kind ``"error_envelope"``).

    Args:
        code: The Cloudflare error code.
        message: The error message.
        status: The HTTP status to send it with (200 by default: the envelope, not the
            status, carries the failure).

    Raises:
        ValueError: If ``status`` is not between 200 and 599.
    """

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
        self._set(when, code=code, message=message, status=status)

    def reply(self, exchange: Exchange) -> Reply:
        return error_reply(self.status, [{"code": self.code, "message": self.message}])


@_kind("wrong_type")
class WrongType(Fault):
    """Set ``field`` of the page's first invoice to ``value`` (kind ``"wrong_type"``).

    An empty page is served unchanged (the fault is still recorded).

    Args:
        field: The invoice key to replace (or add).
        value: Any JSON-serialisable value.
    """

    field: str
    value: Any

    def __init__(
        self, field: str = "amount_due", value: Any = "not-a-number", **when: Unpack[When]
    ) -> None:
        self._set(when, field=field, value=value)

    def reply(self, exchange: Exchange) -> Reply:
        account = exchange.invoice_account()
        offset = (exchange.page - 1) * exchange.per_page
        serials = account.page_serials(exchange.type, offset, exchange.per_page)
        rendered = [account.render(serial) for serial in serials]
        if serials:
            rendered[0] = account.render_with(serials[0], self.field, self.value)
        return _paged(exchange, array=("[" + ",".join(rendered) + "]").encode())


@_kind("missing_pagination")
class MissingPagination(_Plain):
    """Omit both ``result.pagination`` and ``result_info`` (kind ``"missing_pagination"``)."""

    def reply(self, exchange: Exchange) -> Reply:
        return _paged(exchange, where="none")


@_kind("result_info_only")
class ResultInfoOnly(_Plain):
    """Put the pagination only in top-level ``result_info`` (kind ``"result_info_only"``)."""

    def reply(self, exchange: Exchange) -> Reply:
        return _paged(exchange, where="result_info")


@_kind("float_numbers")
class FloatNumbers(_Plain):
    """Render ``page``, ``per_page`` and ``total_count`` as floats, e.g. ``2.0`` (kind
    ``"float_numbers"``); the schema types them as ``number`` (docs/cloudflare-api.md).
    """

    def reply(self, exchange: Exchange) -> Reply:
        return _paged(exchange, floats=True)


@_kind("ignore_page")
class IgnorePage(Fault):
    """Serve page 1 whatever page was asked (kind ``"ignore_page"``).

    Some Cloudflare list endpoints do this (docs/cloudflare-api.md, "The endpoint" [O]).
    With ``echo=False`` the pagination honestly says page 1. With ``echo=True`` it claims
    the requested page, and ``has_more`` is computed for that page, so only the repeated
    ids give the lie away.

    Args:
        echo: Whether the pagination claims the requested page number.
    """

    echo: bool

    def __init__(self, echo: bool = False, **when: Unpack[When]) -> None:
        self._set(when, echo=echo)

    def reply(self, exchange: Exchange) -> Reply:
        claimed = exchange.page if self.echo else 1
        return _paged(exchange, served_page=1, claimed_page=claimed)


@_kind("clamp_per_page")
class ClampPerPage(Fault):
    """Silently serve pages of ``min(per_page, n)`` invoices and report that size as
    ``per_page``; page boundaries are computed with the clamped size (kind
    ``"clamp_per_page"``).

    Args:
        n: The largest page size served (>= 1).

    Raises:
        ValueError: If ``n`` < 1.
    """

    n: int

    def __init__(self, n: int, **when: Unpack[When]) -> None:
        self._set(when, n=_at_least("n", n, 1))

    def reply(self, exchange: Exchange) -> Reply:
        body = exchange.render(exchange.page, min(exchange.per_page, self.n))[0]
        return Reply(status=200, body=body)


@_kind("create", changes_data=True)
class Create(Fault):
    """Before serving, create ``n`` invoices at the head of the list (kind ``"create"``).

    Every later page shifts down by ``n``; the response reflects the new state.

    Args:
        n: How many invoices to create (>= 0).

    Raises:
        ValueError: If ``n`` is negative.
    """

    n: int

    def __init__(self, n: int, **when: Unpack[When]) -> None:
        self._set(when, n=_at_least("n", n, 0))

    def change(self, account: AccountData) -> None:
        account.create(self.n)


@_kind("delete", changes_data=True)
class Delete(Fault):
    """Before serving, delete ``n`` invoices from index ``position`` of the all-types
    order, newest first (kind ``"delete"``); later pages shift up.

    Args:
        n: How many invoices to delete (>= 0; fewer at the end of the list).
        position: 0-based index of the first one to delete.

    Raises:
        ValueError: If ``n`` or ``position`` is negative.
    """

    n: int
    position: int

    def __init__(self, n: int, position: int = 0, **when: Unpack[When]) -> None:
        if n < 0 or position < 0:
            raise ValueError(f"n and position must be >= 0, got {n} and {position}")
        self._set(when, n=n, position=position)

    def change(self, account: AccountData) -> None:
        account.delete_at(self.position, self.n)


@_kind("has_more")
class HasMore(Fault):
    """Override ``has_more`` in this response's pagination (kind ``"has_more"``).

    Args:
        value: The value to claim.
    """

    value: bool

    def __init__(self, value: bool, **when: Unpack[When]) -> None:
        self._set(when, value=value)

    def reply(self, exchange: Exchange) -> Reply:
        return _paged(exchange, has_more=self.value)


@_kind("total_count")
class TotalCount(Fault):
    """Claim ``total_count = value`` in this response, data unchanged (kind
    ``"total_count"``); None omits the key.

    Args:
        value: The count to claim, or None to leave the key out.
    """

    value: int | None

    def __init__(self, value: int | None, **when: Unpack[When]) -> None:
        self._set(when, value=value)

    def reply(self, exchange: Exchange) -> Reply:
        return _paged(exchange, total_count=self.value)
