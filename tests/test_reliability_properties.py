"""Property-based tests: random accounts, page sizes, concurrency, consumers and fault schedules.

Each example starts a FakeCloudflare with a random account and a random schedule of faults,
walks it with a fresh client and checks the promise of the library: the exact sequence of
the server when the retries cover the faults, otherwise a typed error, and in every case
nothing yielded twice, nothing left in flight, no task left behind and the session closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import anyio
import attrs
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from asyncinvoices import AsyncInvoicesError, InvoiceClient
from asyncinvoices.testing import FakeCloudflare, Fault

# Reproducible in CI: the same examples on every run, no example database on disk.
PROPERTY = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Faults the client must retry through: 5xx (HTML from the edge for 502/520), 408, 429 with a
# zero Retry-After, a reset connection, a body cut short.
RETRYABLE_STATUSES = (408, 429, 500, 502, 503, 520)
# Faults no retry can fix: the response is wrong, not unavailable.
FATAL_KINDS = ("status_4xx", "malformed_json", "wrong_type", "error_envelope", "ignore_page")


pytestmark = pytest.mark.usefixtures("instant_backoff")


@attrs.frozen
class Planned:
    """One fault of a schedule, with what the test knows about it."""

    fault: Fault
    page: int
    fatal: bool


@attrs.frozen
class Scenario:
    """One random run: the account, how it is walked, and what goes wrong."""

    invoices: int
    per_page: int
    max_concurrency: int
    max_retries: int
    consumer_delay: float
    every: int
    faults: tuple[Planned, ...]
    exhaust: int | None  # a page that fails with 503 on every attempt, if any

    def pages(self, served_per_page: int) -> int:
        return max(1, -(-self.invoices // served_per_page))


def _retryable(kind: int, page: int, attempt: int) -> Fault:
    if kind < len(RETRYABLE_STATUSES):
        code = RETRYABLE_STATUSES[kind]
        retry_after = 0 if code == 429 else None
        return Fault.status(code, retry_after=retry_after, page=page, attempt=attempt)
    if kind == len(RETRYABLE_STATUSES):
        return Fault.reset(page=page, attempt=attempt)
    return Fault.truncate(page=page, attempt=attempt)


def _fatal(kind: str, page: int) -> Fault:
    if kind == "status_4xx":
        return Fault.status(403, page=page, attempt=1)
    if kind == "malformed_json":
        return Fault.malformed_json(page=page, attempt=1)
    if kind == "wrong_type":
        return Fault.wrong_type("amount_due", {"nested": [1, 2]}, page=page, attempt=1)
    if kind == "error_envelope":
        return Fault.error_envelope(page=page, attempt=1)
    return Fault.ignore_page(page=page, attempt=1)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    invoices = draw(st.one_of(st.integers(0, 60), st.integers(61, 3000)))
    # At most about 40 pages, so that an example takes a fraction of a second; page sizes
    # above the server's maximum of 100 exercise the 6008 fallback.
    smallest = max(1, -(-invoices // 40))
    per_page = draw(st.integers(smallest, max(smallest, 150)))
    served = min(per_page, 100)
    pages = max(1, -(-invoices // served))
    max_retries = draw(st.integers(0, 3))
    faults: list[Planned] = []
    for _ in range(draw(st.integers(0, 6))):
        page = draw(st.integers(1, pages + 1))  # one past the end: a fault that never fires
        attempt = draw(st.integers(1, 3))
        kind = draw(st.integers(0, len(RETRYABLE_STATUSES) + 1))
        faults.append(Planned(_retryable(kind, page, attempt), page, fatal=False))
    if draw(st.integers(0, 4)) == 0:
        kind = draw(st.sampled_from(FATAL_KINDS))
        page = draw(st.integers(2 if kind == "ignore_page" else 1, pages + 1))
        # wrong_type changes the first invoice of the page: an empty page is served as it is.
        fatal = kind != "wrong_type" or invoices > 0
        faults.append(Planned(_fatal(kind, page), page, fatal=fatal))
    exhaust = draw(st.none() | st.integers(1, pages + 1)) if draw(st.booleans()) else None
    return Scenario(
        invoices=invoices,
        per_page=per_page,
        max_concurrency=draw(st.integers(1, 12)),
        max_retries=max_retries,
        consumer_delay=draw(st.sampled_from([0.0, 0.0, 0.0005, 0.002])),
        every=draw(st.integers(1, 50)),
        faults=tuple(faults),
        exhaust=exhaust,
    )


def covered(scenario: Scenario, pages: int) -> bool:
    """Whether the retries surely cover every fault that can fire."""
    if scenario.exhaust is not None and scenario.exhaust <= pages:
        return False
    per_page_faults: dict[int, set[int | None]] = {}
    for planned in scenario.faults:
        if planned.page > pages:
            continue
        if planned.fatal:
            return False
        per_page_faults.setdefault(planned.page, set()).add(planned.fault.attempt)
    # Each failed attempt of the client consumes at least one fault of its page (aiohttp may
    # resend a reset request, which only consumes more of them).
    return all(len(attempts) <= scenario.max_retries for attempts in per_page_faults.values())


def surely_fails(scenario: Scenario, pages: int) -> bool:
    """Whether some fault no retry can cover is certain to be reached."""
    if scenario.exhaust is not None and scenario.exhaust <= pages:
        return True
    # A fatal fault is on attempt 1 of an existing page: that attempt is always made, unless
    # an earlier failure ended the run first; either way the run fails.
    return any(p.fatal and p.page <= pages for p in scenario.faults)


async def consume(
    client: InvoiceClient, account_id: str, scenario: Scenario
) -> tuple[list[str | None], BaseException | None]:
    """Walk the account as a consumer of the given speed; return what came and how it ended."""
    ids: list[str | None] = []
    try:
        async with client.invoices(account_id) as stream:
            async for invoice in stream:
                ids.append(invoice.id)
                if scenario.consumer_delay and len(ids) % scenario.every == 0:
                    await anyio.sleep(scenario.consumer_delay)
    except AsyncInvoicesError as exc:
        return ids, exc
    return ids, None


async def settle(fake: FakeCloudflare) -> None:
    """Wait for the server to notice connections the client dropped."""
    await fake.wait_idle()


def other_tasks() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def run_scenario(scenario: Scenario) -> None:
    # Only the first matching response fault applies: the page that fails on every attempt
    # first, then the fatal faults, so that no other fault on the same attempt hides them.
    ordered = sorted(scenario.faults, key=lambda p: not p.fatal)
    faults: list[Fault] = [p.fault for p in ordered]
    if scenario.exhaust is not None:
        faults.insert(0, Fault.status(503, page=scenario.exhaust))
    async with FakeCloudflare(
        invoices=scenario.invoices, seed=scenario.invoices, faults=faults
    ) as fake:
        expected = fake.ids()
        pages = scenario.pages(min(scenario.per_page, 100))
        client = InvoiceClient(
            api_token=fake.api_token,
            base_url=fake.base_url,
            per_page=scenario.per_page,
            max_concurrency=scenario.max_concurrency,
            max_retries=scenario.max_retries,
            timeout=10,
        )
        async with client:
            with anyio.fail_after(60):
                ids, error = await consume(client, fake.account_id, scenario)
        assert client._fetcher.closed
        await settle(fake)
        assert fake.in_flight == 0
        # Nothing twice, nothing out of order, nothing the server does not have.
        assert ids == expected[: len(ids)]
        assert len(set(ids)) == len(ids)
        if covered(scenario, pages):
            assert error is None, f"{scenario}: {error!r}"
            assert ids == expected
        if surely_fails(scenario, pages):
            assert error is not None, scenario
        if currently_in_test_context():
            event(
                "outcome: exact sequence" if error is None else f"outcome: {type(error).__name__}"
            )
        if error is not None:
            # A failure the library foresaw, never the catch-all for the unexpected.
            assert type(error) is not AsyncInvoicesError, repr(error)
            assert not str(error).startswith("unexpected error")
        else:
            assert ids == expected
    assert other_tasks() == set()


@PROPERTY
@given(scenarios())
def test_exact_sequence_or_typed_error(scenario: Scenario) -> None:
    """Random account, page size, concurrency, consumer and faults: exact or typed error."""
    anyio.run(run_scenario, scenario, backend="asyncio")


def test_fault_free_accounts_are_exact() -> None:
    """Edge sizes without faults: empty, one invoice, exactly one page, one past a page."""
    sizes: Sequence[tuple[int, int]] = [(0, 10), (1, 1), (10, 10), (11, 10), (100, 100), (101, 99)]
    for invoices, per_page in sizes:
        scenario = Scenario(invoices, per_page, 4, 0, 0.0, 1, (), None)
        anyio.run(run_scenario, scenario, backend="asyncio")
