"""A producer task in the client's task group and the one consumer that reads from it.

The account listing and the walk over many accounts run their requests in a task of the
client's task group (as ``invoices.py`` does for one account), so that no task outlives the
client. :class:`Background` is that task with its own cancel scope; :class:`Channel` adds a
zero-buffer memory object stream, so that a slow consumer holds the producer back and a
failure reaches the consumer in order, after the items before it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar

import anyio
import anyio.abc
import attrs

from asyncinvoices._errors import AsyncInvoicesError, TransportError
from asyncinvoices._http.counts import RequestCounts
from asyncinvoices._walk.in_order import as_library_error

if TYPE_CHECKING:
    from typing_extensions import Self

T = TypeVar("T")

__all__ = [
    "Background",
    "Channel",
    "RunFigures",
    "Spawn",
    "Stopwatch",
    "StreamContext",
]


Spawn = Callable[[Callable[[], Any]], None]
"""Starts a function in the client's task group (``InvoiceClient._spawn``)."""


class RunFigures(TypedDict):
    """The figures every stream's stats share: its requests as the wire counted them, and
    the time since it started."""

    requests: int
    retries: int
    throttled_seconds: float
    elapsed: float


class Stopwatch:
    """When a stream's run started, for the ``elapsed`` of its stats.

    Args:
        clock: The monotonic clock.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._began: float | None = None

    def start(self) -> None:
        """Note the start of the run, once."""
        if self._began is None:
            self._began = self._clock()

    @property
    def elapsed(self) -> float:
        """Seconds since :meth:`start`; 0 before it."""
        return 0.0 if self._began is None else self._clock() - self._began

    def counted(self, counts: RequestCounts) -> RunFigures:
        """The shared figures of a run whose requests ``counts`` tallies."""
        return RunFigures(
            requests=counts.requests,
            retries=counts.retries,
            throttled_seconds=counts.throttled_seconds,
            elapsed=self.elapsed,
        )


class StreamContext:
    """``async with stream:`` starts the stream's walk and closes the stream on the way out.

    Shared by every stream of the client; a stream provides ``_start`` and ``aclose``.
    """

    def _start(self) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Stop the walk: cancel every request in flight and wait until they are gone."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class Background:
    """One task of the client's task group that can be cancelled and waited for alone.

    Args:
        spawn: Starts a function in the client's task group.
        run: What the task does.
    """

    def __init__(self, spawn: Spawn, run: Callable[[], Awaitable[None]]) -> None:
        self._spawn = spawn
        self._run = run
        self._scope = anyio.CancelScope()
        self._done = anyio.Event()
        self.started = False

    def start(self) -> None:
        """Start the task (once)."""
        if not self.started:
            self._spawn(self._body)
            self.started = True

    async def _body(self) -> None:
        try:
            with self._scope:
                await self._run()
        finally:
            self._done.set()

    async def cancel_and_wait(self) -> None:
        """Cancel the task and wait, shielded, until it has ended."""
        self._scope.cancel()
        if self.started:
            with anyio.CancelScope(shield=True):
                await self._done.wait()

    def cancel(self) -> None:
        """Cancel without waiting (from ``__del__``)."""
        # Collected after its event loop ended, cancel() raises RuntimeError: the client's
        # task group, which owned the task, has cancelled it already.
        with contextlib.suppress(RuntimeError):
            self._scope.cancel()


@attrs.frozen
class _Failure:
    error: AsyncInvoicesError


class Channel(Generic[T]):
    """Items produced in a background task, received one at a time, in order.

    Args:
        spawn: Starts a function in the client's task group.
        produce: Calls ``await send(item)`` for each item; raises to fail the channel.
    """

    def __init__(
        self, spawn: Spawn, produce: Callable[[Callable[[T], Awaitable[None]]], Awaitable[None]]
    ) -> None:
        self._produce = produce
        send, receive = anyio.create_memory_object_stream[Any](0)
        self._send = send
        self._receive = receive
        self._task = Background(spawn, self._run)
        self._finished = False
        self.closed = False

    @property
    def started(self) -> bool:
        """Whether the producer was started."""
        return self._task.started

    def start(self) -> None:
        """Start the producer, unless started or closed."""
        if not self.closed:
            self._task.start()

    async def _run(self) -> None:
        async with self._send:
            try:
                await self._produce(self._send.send)
                self._finished = True
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                return  # the consumer closed the channel
            except Exception as exc:
                with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                    await self._send.send(_Failure(as_library_error(exc)))

    async def receive(self) -> T:
        """Return the next item.

        Raises:
            StopAsyncIteration: Once the producer has finished, or the channel is closed.
            AsyncInvoicesError: What the producer failed with.
        """
        if self.closed:
            raise StopAsyncIteration
        self.start()
        try:
            item = await self._receive.receive()
        except anyio.EndOfStream:
            finished = self._finished
            await self.aclose()
            if not finished:
                raise TransportError("the client was closed before the walk finished") from None
            raise StopAsyncIteration from None
        except anyio.ClosedResourceError:
            raise StopAsyncIteration from None
        if isinstance(item, _Failure):
            await self.aclose()
            raise item.error
        return item  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """Cancel the producer and wait until it has ended."""
        if self.closed:
            return
        self.closed = True
        self._receive.close()
        if self._task.started:
            await self._task.cancel_and_wait()
        else:
            self._send.close()

    def abandon(self) -> None:
        """Close without waiting, for ``__del__`` of a stream left without ``aclose``."""
        if self.closed:
            return
        self.closed = True
        self._receive.close()
        if not self._task.started:
            self._send.close()
        else:
            self._task.cancel()
