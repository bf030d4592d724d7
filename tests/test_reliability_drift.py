"""Drift: invoices created at the head and deleted anywhere while a run is in progress.

Each drift event is a ``Fault.create`` or ``Fault.delete`` on one request, so the response to
that request reports the new ``total_count``: the API reveals every event to a client that
reads it. Over random accounts, page sizes, concurrency, server latency and events, every
invoice that existed for the whole run must be yielded exactly once and in order, nothing may
be yielded twice, and the run must report the drift.
"""

from __future__ import annotations

import json

import anyio
import attrs
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from asyncinvoices import (
    FetchStats,
    InvoiceClient,
    InvoiceStream,
    InvoiceType,
    PageStream,
)
from asyncinvoices.testing import FakeCloudflare, Fault

PROPERTY = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# Failures the retries cover, drawn from the server's seed: state faults (create, delete)
# still apply to a request that gets one of these, and its retry observes the new total.
FLAKY = (Fault.status(503, probability=0.1), Fault.reset(probability=0.05))


pytestmark = pytest.mark.usefixtures("instant_backoff")


@attrs.frozen
class Drift:
    """One random run with data moving under it."""

    invoices: int
    per_page: int
    max_concurrency: int
    latency: float
    jitter: float
    events: tuple[Fault, ...]
    flaky: bool = False  # 503s and resets on top, which the retries cover
    type: InvoiceType = "all"
    pages: bool = False  # consume client.pages() instead of client.invoices()
    consumer_delay: float = 0.0  # seconds the consumer spends on each page


@st.composite
def drifts(draw: st.DrawFn) -> Drift:
    invoices = draw(st.integers(0, 400))
    per_page = draw(st.integers(max(2, invoices // 30), 60))
    pages = max(1, -(-invoices // per_page))
    # From request 2 on: the first response shows the data the run starts from.
    requests = draw(
        st.lists(st.integers(2, pages + 3), min_size=1, max_size=6, unique=True).map(sorted)
    )
    events: list[Fault] = []
    for request in requests:
        if draw(st.booleans()):
            events.append(Fault.create(draw(st.integers(1, 2 * per_page)), request=request))
        else:
            n = draw(st.integers(1, 2 * per_page))
            position = draw(st.integers(0, max(0, invoices - 1)))
            events.append(Fault.delete(n, position, request=request))
    return Drift(
        invoices=invoices,
        per_page=per_page,
        max_concurrency=draw(st.integers(1, 8)),
        latency=draw(st.sampled_from([0.0, 0.002])),
        jitter=draw(st.sampled_from([0.0, 0.002])),
        events=tuple(events),
        flaky=draw(st.booleans()),
        type=draw(st.sampled_from(["all", "all", "auto", "manual"])),
        pages=draw(st.booleans()),
        consumer_delay=draw(st.sampled_from([0.0, 0.0, 0.003])),
    )


def every_id(seed: int, created: int, invoices: int) -> set[str]:
    """The ids of every invoice the account ever had: those of an account that large."""
    return set(FakeCloudflare(invoices=invoices + created, seed=seed).ids())


async def run_drift(drift: Drift) -> tuple[list[str | None], FetchStats, list[str], list[str]]:
    seed = 5
    async with FakeCloudflare(
        invoices=drift.invoices,
        seed=seed,
        latency=drift.latency,
        jitter=drift.jitter,
        faults=[*drift.events, *FLAKY] if drift.flaky else drift.events,
    ) as fake:
        before = fake.ids(type=drift.type)
        async with InvoiceClient(
            api_token=fake.api_token,
            base_url=fake.base_url,
            per_page=drift.per_page,
            max_concurrency=drift.max_concurrency,
            max_retries=10,
        ) as client:
            ids: list[str | None] = []
            stream: InvoiceStream | PageStream
            with anyio.fail_after(60):
                if drift.pages:
                    async with client.pages(fake.account_id, type=drift.type) as stream:
                        async for page in stream:
                            ids += [invoice.id for invoice in page.invoices]
                            await anyio.sleep(drift.consumer_delay)
                else:
                    async with client.invoices(fake.account_id, type=drift.type) as stream:
                        async for invoice in stream:
                            ids.append(invoice.id)
                            if len(ids) % drift.per_page == 0:
                                await anyio.sleep(drift.consumer_delay)
        after = fake.ids(type=drift.type)
        fired = [f for f in fake.injected if f.kind in ("create", "delete")]
        # The state the run starts from is the one its first answered request saw (a reset
        # request may be resent after an event already fired).
        first_ok = min(r.number for r in fake.requests if r.status == 200)
    created = sum(f.param("n") for f in drift.events if f.kind == "create")
    assert set(ids) <= every_id(seed, created, drift.invoices)
    if drift.type != "all":
        # A creation or deletion may concern only the other type: judge by what is seen.
        changed = before != after and all(f.request > first_ok for f in fired)
    elif any(f.request <= first_ok for f in fired):
        changed = any(f.kind == "create" and f.request > first_ok for f in fired)
    else:
        changed = before != after or any(f.kind == "create" for f in fired)
    if currently_in_test_context():
        event(f"drift events fired: {len(fired)}")
        event("data changed" if changed else "data unchanged")
    if changed:
        assert stream.stats.drift >= 1, stream.stats
    return ids, stream.stats, before, after


def check_exactly_once(ids: list[str | None], before: list[str], after: list[str]) -> None:
    """Whole-run invoices once each, in order; nothing twice; old ones in the old order."""
    assert None not in ids
    assert len(ids) == len(set(ids))
    survivors = [i for i in before if i in set(after)]
    assert [i for i in ids if i in set(survivors)] == survivors
    old = set(before)
    assert [i for i in ids if i in old] == [i for i in before if i in set(ids)]


@PROPERTY
@given(drifts())
def test_whole_run_invoices_exactly_once(drift: Drift) -> None:
    """Random creations and deletions mid-run, with or without 503s and resets, any type
    filter, invoices or pages, fast or slow consumers: whole-run invoices once, in order;
    the drift is reported."""
    ids, _stats, before, after = anyio.run(run_drift, drift, backend="asyncio")
    check_exactly_once(ids, before, after)


@pytest.mark.parametrize(
    "events",
    [
        # Shifts hidden from total_count: as many created at the head as deleted further on.
        [Fault.create(3, request=3), Fault.delete(3, 150, request=3)],
        [Fault.create(5, request=2), Fault.delete(5, 100, request=4)],
        # Deleted exactly where the walk stands, and the head shifting at the same time.
        [Fault.delete(20, 20, request=2), Fault.create(20, request=5)],
    ],
)
@pytest.mark.parametrize("concurrency", [1, 6])
def test_shifts_with_unchanged_total(events: list[Fault], concurrency: int) -> None:
    """Creations and deletions that leave total_count unchanged are still caught by ids."""
    drift = Drift(200, 20, concurrency, 0.0, 0.0, tuple(events))
    ids, stats, before, after = anyio.run(run_drift, drift, backend="asyncio")
    check_exactly_once(ids, before, after)
    assert stats.drift >= 1


@attrs.frozen
class Resume:
    """A run stopped after ``taken`` invoices, data moved, then resumed from its checkpoint."""

    invoices: int
    per_page: int
    taken: int
    created: int
    deletions: tuple[tuple[int, int], ...]  # (position, n), applied in order
    events: tuple[Fault, ...]  # more drift during the resumed run


@st.composite
def resumes(draw: st.DrawFn) -> Resume:
    invoices = draw(st.integers(1, 300))
    per_page = draw(st.integers(max(2, invoices // 25), 50))
    deletions = draw(
        st.lists(st.tuples(st.integers(0, invoices), st.integers(1, per_page)), max_size=3)
    )
    events = draw(
        st.lists(
            st.one_of(
                st.builds(
                    lambda n, r: Fault.create(n, request=r), st.integers(1, 20), st.integers(2, 9)
                ),
                st.builds(
                    lambda n, p, r: Fault.delete(n, p, request=r),
                    st.integers(1, 20),
                    st.integers(0, invoices),
                    st.integers(2, 9),
                ),
            ),
            max_size=3,
        )
    )
    return Resume(
        invoices=invoices,
        per_page=per_page,
        taken=draw(st.integers(1, invoices)),
        created=draw(st.integers(0, 30)),
        deletions=tuple(deletions),
        events=tuple(events),
    )


async def run_resume(case: Resume) -> None:
    async with FakeCloudflare(invoices=case.invoices, seed=8) as fake:
        before = fake.ids()
        async with InvoiceClient(
            api_token=fake.api_token, base_url=fake.base_url, per_page=case.per_page
        ) as client:
            first: list[str | None] = []
            async with client.invoices(fake.account_id) as stream:
                async for invoice in stream:
                    first.append(invoice.id)
                    if len(first) == case.taken:
                        break
                checkpoint = json.loads(json.dumps(stream.checkpoint()))
            fake.create_invoices(case.created)
            for position, n in case.deletions:
                current = fake.ids()
                fake.delete_invoices(current[position : position + n])
            middle = fake.ids()
            # Requests of the resumed run are counted from here.
            fake.reset_counters()
            for event_fault in case.events:
                fake.add_fault(event_fault)
            with anyio.fail_after(30):
                rest = [i.id async for i in client.invoices(fake.account_id, resume=checkpoint)]
        after = fake.ids()
    ids = first + rest
    assert len(ids) == len(set(ids))
    assert first == before[: case.taken]
    # Every invoice older than the checkpoint's anchor that existed throughout comes once, in
    # order, after the first part; nothing newer than the anchor comes again.
    anchor = first[-1]
    older = before[before.index(anchor) + 1 :]
    survivors = [i for i in older if i in set(middle) and i in set(after)]
    assert [i for i in rest if i in set(survivors)] == survivors
    assert set(rest) <= set(older) | (set(middle) | set(after)) - set(before)
    assert not set(rest) & set(before[: before.index(anchor) + 1])


@PROPERTY
@given(resumes())
def test_resume_after_drift_yields_the_rest_once(case: Resume) -> None:
    """Stop, let the data move, resume from the checkpoint: the rest once, in order."""
    anyio.run(run_resume, case, backend="asyncio")
