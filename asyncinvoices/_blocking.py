"""``SyncInvoiceClient``: the blocking twin of :class:`InvoiceClient`, for scripts and notebooks.

The async client does the work; this module only carries calls to it and results back, and
its methods are made from the async client's own (:func:`_twin`, :func:`_stream_twin`), so
that a parameter added there is a parameter here, with the same default and documentation.

The client runs on an event loop of its own, in a thread of its own (an anyio blocking
portal, started on ``__enter__`` or first use and stopped on :meth:`SyncInvoiceClient.close`),
and each blocking call submits a coroutine to that loop and waits for its result. So it works
where the calling thread runs no loop (a script), where it already runs one (a Jupyter
notebook, where ``asyncio.run`` refuses to start), and from many threads at once, which then
share one loop, one connection pool and one rate governor, as the rate limit is per user
(docs/cloudflare-api.md, "Rate limits").

Two things never run on the client's loop: ``on_progress`` callbacks are relayed to the thread
that iterates, so that a callback may block, raise or update a notebook widget; and a
``KeyboardInterrupt`` (Ctrl-C) in the calling thread cancels the call it interrupted and tears
the whole loop down, because the program is being stopped.

The streams it returns are in ``_streams/blocking.py``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import inspect
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from ._client import InvoiceClient
from ._errors import ConfigurationError, TransportError
from ._http.governor import RateGovernor
from ._models import Invoice, RateLimit
from ._streams.blocking import (
    ClosedOnExit,
    Relay,
    SyncAccountStream,
    SyncInvoiceStream,
    SyncManyStream,
    SyncPageStream,
)

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "SyncAccountStream",
    "SyncInvoiceClient",
    "SyncInvoiceStream",
    "SyncManyStream",
    "SyncPageStream",
]

P = ParamSpec("P")
T = TypeVar("T")
A = TypeVar("A")

_DEFAULT_RATE_LIMIT = RateLimit()
_CLOSED = "this SyncInvoiceClient is closed; create a new one"


# -- the twins: blocking methods made from the async client's ---------------------------------


def _documented(twin: Callable[..., Any], method: Callable[..., Any], returns: str) -> None:
    """Give ``twin`` the name, documentation and signature of ``method``, returning ``returns``."""
    functools.update_wrapper(twin, method)
    twin.__doc__ = (
        f"The blocking twin of :meth:`InvoiceClient.{method.__name__}`: the same arguments, "
        f"run on the client's own event loop.\n\n{inspect.getdoc(method) or ''}"
    )
    signature = inspect.signature(method)
    twin.__signature__ = signature.replace(return_annotation=returns)  # type: ignore[attr-defined]


def _twin(
    method: Callable[Concatenate[InvoiceClient, P], Awaitable[T]],
) -> Callable[Concatenate[SyncClientBase, P], T]:
    """A blocking method that awaits ``method`` on the client's loop and returns its result."""

    def call(self: SyncClientBase, /, *args: P.args, **kwargs: P.kwargs) -> T:
        result: T = self._call(functools.partial(method, self._client, *args, **kwargs))
        return result

    _documented(call, method, inspect.signature(method).return_annotation)
    return call


def _stream_twin(
    method: Callable[Concatenate[InvoiceClient, P], A],
    blocking: Callable[[SyncClientBase, A, Relay], T],
) -> Callable[Concatenate[SyncClientBase, P], T]:
    """A blocking method that makes ``method``'s async stream and wraps it in ``blocking``.

    Its ``on_progress`` is relayed to the thread that iterates.
    """

    def call(self: SyncClientBase, /, *args: P.args, **kwargs: P.kwargs) -> T:
        relay, kwargs["on_progress"] = Relay.wrap(kwargs.get("on_progress"))
        stream = self._call(functools.partial(method, self._client, *args, **kwargs))
        return blocking(self, stream, relay)

    _documented(call, method, getattr(blocking, "__name__", "object"))
    return call


def _settings_of(
    init: Callable[Concatenate[InvoiceClient, P], None],
) -> Callable[[Callable[..., None]], Callable[Concatenate[SyncClientBase, P], None]]:
    """Give a constructor that passes its settings on the async client's parameters, for
    mypy and for the reference."""

    def decorate(twin: Callable[..., None]) -> Callable[Concatenate[SyncClientBase, P], None]:
        functools.update_wrapper(twin, init)
        return twin

    return decorate


def _list_twin(
    method: Callable[Concatenate[InvoiceClient, P], Awaitable[list[Invoice]]],
) -> Callable[Concatenate[SyncClientBase, P], list[Invoice]]:
    """A blocking ``list_invoices``: the twin of ``invoices``, collected in the calling thread
    (where its ``on_progress`` runs)."""

    def call(self: SyncClientBase, /, *args: P.args, **kwargs: P.kwargs) -> list[Invoice]:
        stream: SyncInvoiceStream = getattr(self, "invoices")(*args, **kwargs)  # noqa: B009
        with stream:
            return list(stream)

    _documented(call, method, "list[Invoice]")
    return call


class SyncClientBase(ClosedOnExit):
    """The event loop, its thread and the crossings of a :class:`SyncInvoiceClient`."""

    _client: InvoiceClient

    def _start(self, client: InvoiceClient) -> None:
        self._client = client
        # Reentrant: a stream collected by the garbage collector while this thread holds the
        # lock closes itself through the same lock.
        self._lock = threading.RLock()
        self._stack: contextlib.ExitStack | None = None
        self._portal: BlockingPortal | None = None
        self._loop_thread: int | None = None
        self._calls: set[concurrent.futures.Future[Any]] = set()
        self._closed = False

    def __enter__(self) -> Self:
        self._running_portal()
        return self

    def close(self) -> None:
        """Cancel every call and walk still running, close the connections, stop the thread.

        May be called from any thread, and more than once. Calls cut short raise
        :class:`TransportError` in their threads; calls made afterwards raise
        :class:`ConfigurationError`.
        """
        with self._lock:
            self._closed = True
            stack, self._stack, self._portal = self._stack, None, None
            calls, self._calls = self._calls, set()
        for call in calls:
            call.cancel()  # the portal cancels the call's task on its loop
        if stack is not None:
            # The async client first (it cancels its walks and closes its connections, in
            # the task that entered it), then the loop, whose thread is joined.
            stack.close()

    def __del__(self) -> None:
        # A safety net for a client that was never closed. Not during interpreter shutdown:
        # the loop's thread may already be frozen there, and waiting for it would hang.
        if getattr(self, "_stack", None) is None or sys.is_finalizing():
            return
        if threading.get_ident() != self._loop_thread:
            with contextlib.suppress(Exception):
                self.close()

    def _running_portal(self) -> BlockingPortal:
        with self._lock:
            if self._closed:
                raise ConfigurationError(_CLOSED)
            if self._portal is None:
                with contextlib.ExitStack() as stack:
                    portal = stack.enter_context(start_blocking_portal(name="asyncinvoices"))
                    stack.enter_context(portal.wrap_async_context_manager(self._client))
                    self._loop_thread = portal.call(threading.get_ident)
                    self._stack = stack.pop_all()
                self._portal = portal
            return self._portal

    @contextlib.contextmanager
    def _interruptible(self) -> Iterator[None]:
        """Turn a KeyboardInterrupt (or SystemExit) in the calling thread into a shutdown."""
        try:
            yield
        except Exception:
            raise
        except BaseException:
            # Ctrl-C while waiting leaves the call running on the loop: close the client,
            # which cancels every call, so that no thread, task or connection outlives the
            # program's end.
            self.close()
            raise

    def _call(self, function: Callable[[], Any], *, closed: bool = False) -> Any:
        """Run ``function`` on the loop and return its result, in the calling thread.

        Args:
            function: A coroutine function, or a plain function to run on the loop's thread.
            closed: What to do once the client is closed: ``False`` raises
                :class:`ConfigurationError`, ``True`` returns ``None`` (for reads and
                clean-ups that a closed client has made moot).
        """
        with self._interruptible():
            with self._lock:
                if self._closed:
                    if closed:
                        return None
                    raise ConfigurationError(_CLOSED)
                future = self._running_portal().start_task_soon(function)
                self._calls.add(future)
            try:
                return future.result()
            except concurrent.futures.CancelledError:
                if closed:
                    return None
                raise TransportError("the client was closed before the call finished") from None
            finally:
                with self._lock:
                    self._calls.discard(future)


# -- the client -------------------------------------------------------------------------------


class SyncInvoiceClient(SyncClientBase):
    """A blocking client for Cloudflare's AI Gateway invoice history.

    The same constructor, methods and errors as :class:`InvoiceClient`, for code that is not
    async: scripts, notebooks (where an event loop is already running), and threads, which
    may share one client::

        with SyncInvoiceClient() as client:
            for invoice in client.invoices("023e105f4ecef8ad9ca31a8372d0c353"):
                print(invoice.id, invoice.amount_due, invoice.status)

    It runs an :class:`InvoiceClient` on an event loop in a thread of its own, started on
    ``with`` (or the first call) and stopped by :meth:`close`. A ``KeyboardInterrupt`` in a
    calling thread while the client works cancels the work and closes the client.

    The arguments are :class:`InvoiceClient`'s, with two differences: ``session`` must be
    ``None`` (an :class:`aiohttp.ClientSession` belongs to the event loop it was made on, and
    this client runs its own), and ``on_wait`` runs on the client's own thread (keep it
    quick, and do not call the client from it).

    Raises:
        ConfigurationError: If a setting is invalid, no credentials can be found, or a
            ``session`` is given.
    """

    @_settings_of(InvoiceClient.__init__)
    def __init__(self, **settings: Any) -> None:
        if settings.get("session") is not None:
            raise ConfigurationError(
                "SyncInvoiceClient takes no session=: an aiohttp.ClientSession belongs to the "
                "event loop it was made on, and this client runs its own"
            )
        # Built here, so that a bad setting is reported by the constructor, as by the async
        # client; it binds to no event loop until it is entered on the client's own.
        self._start(InvoiceClient(**settings))

    def __repr__(self) -> str:
        return "<Sync" + repr(self._client).removeprefix("<")

    @property
    def base_url(self) -> str:
        """The API root requests are sent to."""
        return self._client.base_url

    @property
    def governor(self) -> RateGovernor:
        """The rate governor every request of this client passes through.

        Read it only: its methods belong to the client's event loop.
        """
        return self._client.governor

    invoices = _stream_twin(InvoiceClient.invoices, SyncInvoiceStream)
    pages = _stream_twin(InvoiceClient.pages, SyncPageStream)
    accounts = _stream_twin(InvoiceClient.accounts, SyncAccountStream)
    invoices_many = _stream_twin(InvoiceClient.invoices_many, SyncManyStream)
    get_page = _twin(InvoiceClient.get_page)
    count = _twin(InvoiceClient.count)

    list_invoices = _list_twin(InvoiceClient.list_invoices)
