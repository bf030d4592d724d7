"""Requests running side by side, their results taken in a set order: the one way a walk or a
listing runs its page requests concurrently, and the one way an unforeseen failure becomes the
library's own."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Generic, TypeVar

import anyio
import anyio.abc

from asyncinvoices._errors import AsyncInvoicesError

__all__ = [
    "Deferred",
    "InOrder",
    "as_library_error",
    "in_order",
]

T = TypeVar("T")
R = TypeVar("R")


def as_library_error(exc: Exception) -> AsyncInvoicesError:
    """Return ``exc`` as it is, or wrapped under the library's root exception."""
    if isinstance(exc, AsyncInvoicesError):
        return exc
    # Never lose a failure: anything unforeseen still reaches the consumer, typed.
    error = AsyncInvoicesError(f"unexpected error: {exc!r}")
    error.__cause__ = exc
    return error


class Deferred:
    """An exception caught inside a task group's ``async with``, to raise once it has exited.

    Raised inside, it would reach the caller wrapped in an exception group; kept and raised
    after the group, it arrives as itself. The one way the library does this::

        deferred = Deferred()
        async with anyio.create_task_group() as task_group:
            with deferred.keep(Exception):
                ...
        deferred.raise_kept()
    """

    def __init__(self) -> None:
        self.error: BaseException | None = None
        """What was kept, if anything."""

    @contextlib.contextmanager
    def keep(self, *kinds: type[BaseException]) -> Iterator[None]:
        """Catch an exception of ``kinds`` raised in the block and keep it."""
        try:
            yield
        except kinds as exc:
            self.error = exc

    def raise_kept(self) -> None:
        """Raise what was kept, if anything."""
        if self.error is not None:
            raise self.error


class InOrder(Generic[T]):
    """Requests running side by side in a task group, their results taken in a set order.

    Each request stores its result or its exception instead of raising it, so that a failure
    never tears down the task group behind the consumer's back: the failure is raised by
    :meth:`take` when its turn comes, after every result before it. Use it through
    :func:`in_order`.
    """

    def __init__(self, task_group: anyio.abc.TaskGroup) -> None:
        self._task_group = task_group
        self._results: dict[int, T | Exception] = {}
        self._ready: dict[int, anyio.Event] = {}

    def start(self, key: int, call: Callable[[], Awaitable[T]]) -> None:
        """Start ``call`` now; its result is taken later with ``take(key)``."""
        done = self._ready[key] = anyio.Event()

        async def run() -> None:
            try:
                self._results[key] = await call()
            except Exception as exc:  # raised by take(), in order
                self._results[key] = exc
            finally:
                done.set()

        self._task_group.start_soon(run)

    async def take(self, key: int) -> T:
        """Wait for the request started as ``key`` and return its result, or raise its error."""
        await self._ready.pop(key).wait()
        result = self._results.pop(key)
        if isinstance(result, Exception):
            raise result
        return result


async def in_order(body: Callable[[InOrder[T]], Awaitable[R]]) -> R:
    """Run ``body`` with an :class:`InOrder`; cancel what is left in flight when it returns.

    An exception of ``body`` is raised once nothing is left in flight, as itself rather than
    inside an exception group.
    """
    deferred = Deferred()
    async with anyio.create_task_group() as task_group:
        with deferred.keep(Exception):  # raised below, once nothing is left in flight
            result = await body(InOrder(task_group))
        task_group.cancel_scope.cancel()
    deferred.raise_kept()
    return result
