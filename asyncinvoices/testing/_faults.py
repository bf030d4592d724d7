"""Faults FakeCloudflare can inject, and the record of what it injected.

A `Fault` says WHAT goes wrong and WHEN. WHEN is one `Selector` (``_selector.py``), the
same for every kind. WHAT is the fault's class: one small class per kind in
``_fault_kinds.py``, holding its parameters, their checks, its documentation and the reply it
builds. Each kind class registers itself as a constructor of `Fault` (``Fault.status(...)``
is ``Status(...)``), so adding a kind touches one class, plus the line that declares its
constructor's type below.

Faults are immutable values; how often each one fired is kept by the server, so one `Fault`
can be reused across servers.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar

import attrs

from ._data import AccountData
from ._reply import Exchange, Reply
from ._selector import MatchContext, Selector

if TYPE_CHECKING:
    from ._fault_kinds import (
        ClampPerPage,
        Create,
        Delete,
        Disconnect,
        ErrorEnvelope,
        FloatNumbers,
        HasMore,
        IgnorePage,
        MalformedJson,
        MissingPagination,
        Reset,
        ResultInfoOnly,
        Slow,
        Status,
        TotalCount,
        Truncate,
        WrongType,
    )

__all__ = ["HTML_STATUSES", "Fault", "InjectedFault", "constructor"]

#: Statuses the Cloudflare edge answers with an HTML page instead of JSON
#: (docs/cloudflare-api.md, "Errors": "the edge returns HTML pages for 502 and 520-524" [O]).
HTML_STATUSES: Final = frozenset({502, 520, 521, 522, 523, 524})

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
        # The constructors, one per kind class of ``_fault_kinds.py``, installed by
        # `constructor`; declared for type checkers only, as the classes come later.
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
