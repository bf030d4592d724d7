"""What reached FakeCloudflare: one record per request, counted at the wire, and who waits.

The traffic is told of every arrival and every departure by the HTTP side; it numbers the
requests, keeps their records, counts what is in flight, and wakes the tests that wait
for arrivals or for quiet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal

import attrs

__all__ = ["ServedRequest", "Traffic"]


@attrs.frozen(kw_only=True)
class ServedRequest:
    """A record of one request to the invoice-history endpoint.

    Attributes:
        number: Arrival order, 1-based, over the server's lifetime.
        account_id: The account id in the path, as sent.
        page: The ``page`` query parameter as an integer; None if absent or not an integer.
        per_page: The ``per_page`` query parameter likewise.
        type: The ``type`` query parameter as sent (``"all"`` when absent).
        status: The HTTP status sent; 0 while in flight and when nothing was sent (a
            ``reset`` fault, or the client went away before the response).
        fault: The kind of the fault injected, several joined with ``+`` in the order they
            applied (e.g. ``"create+status"``); None when none was.
        started: When the request arrived, on the server's clock (`time.monotonic` unless
            another was given).
        finished: When the response was written, on the same clock; None while in flight and
            when the connection was reset or lost.
        endpoint: ``"invoice-history"``, or ``"accounts"`` for the account listing (whose
            records have an empty ``account_id`` and ``type``).
    """

    number: int
    account_id: str
    page: int | None
    per_page: int | None
    type: str
    status: int
    fault: str | None
    started: float
    finished: float | None
    endpoint: Literal["invoice-history", "accounts"] = "invoice-history"


class Traffic:
    """The requests of one server: numbers, records, what is in flight, and waiters."""

    def __init__(self) -> None:
        #: The number of the last request to an endpoint (they count for the whole life).
        self.number = 0
        #: The number of the last request to any other path.
        self.other_number = 0
        self.received = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self._records: list[ServedRequest] = []
        self._first_number = 1
        # asyncio events need no running loop to be created; they bind to the loop on
        # first wait, which is the loop that serves (aiohttp runs on asyncio only).
        self._idle = asyncio.Event()
        self._idle.set()
        self._arrived = asyncio.Event()

    @property
    def records(self) -> list[ServedRequest]:
        """One record per request to an endpoint since the last `reset` (a copy)."""
        return list(self._records)

    def arrive(self) -> int:
        """Count a request to an endpoint that reached the server; return its number."""
        self.number += 1
        self.received += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        self._idle.clear()
        arrived, self._arrived = self._arrived, asyncio.Event()
        arrived.set()
        return self.number

    def arrive_elsewhere(self) -> int:
        """Count a request to another path; return its own number."""
        self.other_number += 1
        self.received += 1
        return self.other_number

    def record(self, record: ServedRequest) -> None:
        """Keep the record of a request that just arrived."""
        self._records.append(record)

    def leave(self, record: ServedRequest | None, status: int, finished: float | None) -> None:
        """Count a request as handled, with what was sent; the last one out wakes waiters."""
        index = -1 if record is None else record.number - self._first_number
        if record is not None and index >= 0:
            self._records[index] = attrs.evolve(record, status=status, finished=finished)
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    def reset(self) -> None:
        """Clear the records and the counts; request numbers keep counting."""
        self._records.clear()
        self.received = 0
        self._first_number = self.number + 1
        self.peak_in_flight = self.in_flight

    async def wait_idle(self, timeout: float) -> None:
        """Wait until nothing is in flight (see `FakeCloudflare.wait_idle`).

        Raises:
            TimeoutError: If requests are still in flight after ``timeout`` seconds.
        """
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"FakeCloudflare still had {self.in_flight} request(s) in flight "
                f"after {timeout:g} s"
            ) from None

    async def wait_requests(
        self, count: int, timeout: float, matching: Callable[[ServedRequest], bool] | None
    ) -> None:
        """Wait until ``count`` records (that ``matching`` accepts) are kept.

        Raises:
            TimeoutError: If fewer arrived within ``timeout`` seconds.
        """

        def seen() -> int:
            if matching is None:
                return len(self._records)
            return sum(1 for record in self._records if matching(record))

        async def arrivals() -> None:
            while seen() < count:
                await self._arrived.wait()

        try:
            await asyncio.wait_for(arrivals(), timeout)
        except asyncio.TimeoutError:
            which = "" if matching is None else " matching"
            raise TimeoutError(
                f"FakeCloudflare saw {seen()}{which} request(s), not {count}, within {timeout:g} s"
            ) from None
