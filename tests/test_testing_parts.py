"""Sans-I/O tests of the three parts FakeCloudflare is made of, each on its own: the store
(accounts, invoices, rendered pages), the injector (rate limit, faults, latency) and the
traffic (numbers, records, counts)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from asyncinvoices.testing import FakeCloudflare, Fault, InjectedFault
from asyncinvoices.testing._data import AccountData
from asyncinvoices.testing._injector import FaultInjector
from asyncinvoices.testing._listing import ListingQuery
from asyncinvoices.testing._ratelimit import RateDecision
from asyncinvoices.testing._store import InvoiceStore, invoice_type
from asyncinvoices.testing._traffic import ServedRequest, Traffic

# -------------------------------------------------------------------- store


def _store(invoices: int = 5, accounts: int = 1, **options: Any) -> InvoiceStore:
    settings: dict[str, Any] = {
        "seed": 0,
        "auto_fraction": 0.3,
        "shapes": "plain",
        "history": "uniform",
        "order": "newest",
        "cache_bytes": 1 << 20,
        **options,
    }
    return InvoiceStore(invoices, accounts=accounts, **settings)


def _page_ids(body: bytes) -> list[str]:
    return [invoice["id"] for invoice in json.loads(body)["result"]["invoices"]]


def test_store_holds_the_same_accounts_as_the_server_it_serves() -> None:
    """Same seed, same accounts: the store is where FakeCloudflare's data comes from."""
    store = _store(3, accounts=2)
    fake = FakeCloudflare(3, accounts=2, rate_limit=None)
    assert store.account_ids == fake.account_ids
    assert store.default_id == fake.account_id
    assert store.listed(None, "all", AccountData.invoice_id) == fake.ids()


def test_store_serves_created_invoices_on_the_next_page_it_renders() -> None:
    """A page rendered before a change is not served after it: the change drops the cache."""
    store = _store(5)
    account = store.account()
    before = _page_ids(store.page(account, "all", 1, 3)[0])
    assert before == store.listed(None, "all", AccountData.invoice_id)[:3]
    created = store.create_invoices(2)
    after = _page_ids(store.page(account, "all", 1, 3)[0])
    assert after == [*created, before[0]]


def test_store_deletes_nothing_unless_every_id_is_current() -> None:
    """One unknown id: KeyError naming it, and every invoice still there."""
    store = _store(4)
    ids = store.listed(None, "all", AccountData.invoice_id)
    with pytest.raises(KeyError, match="no invoice 'in_nope' in account"):
        store.delete_invoices([ids[0], "in_nope"])
    assert store.listed(None, "all", AccountData.invoice_id) == ids
    store.delete_invoices([ids[1], ids[3]])
    assert store.listed(None, "all", AccountData.invoice_id) == [ids[0], ids[2]]


def test_store_updates_an_invoice_in_place_and_serves_it_changed() -> None:
    """The updated invoice keeps its place; the cached page shows the new status."""
    store = _store(3)
    account = store.account()
    ids = store.listed(None, "all", AccountData.invoice_id)
    store.page(account, "all", 1, 3)
    store.update_invoice(ids[1], None, {"status": "void"})
    served = json.loads(store.page(account, "all", 1, 3)[0])["result"]["invoices"]
    assert [invoice["id"] for invoice in served] == ids
    assert served[1]["status"] == "void"


def test_store_knows_which_accounts_the_token_may_read() -> None:
    """Readable: the default account and added ones; not an unreadable one nor an unknown id."""
    store = _store(1)
    hidden = store.add_account(2, None, "Hidden", False)
    shown = store.add_account(2, None, "Shown", True)
    assert store.account_ids == [store.default_id, hidden, shown]
    assert [store.readable(a) for a in (store.default_id, hidden, shown, "0" * 32)] == [
        True,
        False,
        True,
        False,
    ]
    listed = json.loads(store.listing(ListingQuery()))["result"]
    assert [account["name"] for account in listed] == ["Account 0", "Shown"]


def test_store_refuses_what_it_does_not_hold() -> None:
    """An unknown account, a duplicate seed and an unknown type: typed errors, exact text."""
    store = _store(1)
    with pytest.raises(KeyError, match="no account 'nope' on this FakeCloudflare"):
        store.account("nope")
    with pytest.raises(ValueError, match="an account with seed 0 already exists"):
        store.add_account(1, 0, None, True)
    with pytest.raises(ValueError, match=r"type must be one of \('all', 'auto', 'manual'\)"):
        invoice_type("every")
    with pytest.raises(ValueError, match="history must be one of"):
        _store(1, history="recent")
    with pytest.raises(ValueError, match="expected 2 invoice counts, one per account, got 1"):
        InvoiceStore([1], accounts=2, seed=0, auto_fraction=0.3, shapes="plain",
                     history="uniform", order="newest", cache_bytes=1)  # fmt: skip


def test_store_page_reports_a_claimed_size_but_serves_the_real_one() -> None:
    """``claimed`` changes what ``per_page`` says, not how many invoices the page holds."""
    store = _store(5)
    body = json.loads(store.page(store.account(), "all", 1, 2, claimed=50)[0])
    assert body["result"]["pagination"] == {
        "has_more": True,
        "page": 1,
        "per_page": 50,
        "total_count": 5,
    }
    assert len(body["result"]["invoices"]) == 2


# ----------------------------------------------------------------- injector


def _injector(*faults: Fault, rate_limit: tuple[int, float] | None = None) -> FaultInjector:
    return FaultInjector(
        seed=0, rate_limit=rate_limit, block_seconds=30.0, latency=0.0, jitter=0.0, faults=faults
    )


def test_injector_without_a_limit_counts_nothing_and_sends_no_headers() -> None:
    """rate_limit=None: no decision, no Ratelimit headers."""
    injector = _injector()
    assert injector.admit(0.0) is None
    assert injector.peek(0.0) is None
    assert injector.rate_headers(None) == {}


def test_injector_blocks_past_the_quota_with_exact_headers() -> None:
    """Two in ten seconds pass; the third starts a 30 s block, said in every header."""
    injector = _injector(rate_limit=(2, 10.0))
    first, second, third = (injector.admit(t) for t in (0.0, 1.0, 2.0))
    assert first == RateDecision(allowed=True, remaining=1, reset=10, retry_after=None)
    assert second == RateDecision(allowed=True, remaining=0, reset=9, retry_after=None)
    assert third == RateDecision(allowed=False, remaining=0, reset=30, retry_after=30)
    assert injector.rate_headers(third) == {
        "Ratelimit": '"default";r=0;t=30',
        "Ratelimit-Policy": '"default";q=2;w=10',
        "Retry-After": "30",
    }
    assert injector.peek(31.9) == RateDecision(allowed=False, remaining=0, reset=1, retry_after=1)


def test_injector_applies_data_faults_then_the_first_response_fault() -> None:
    """Every matching data fault, then one response fault, recorded in that order."""
    injector = _injector(
        Fault.status(503, page=2, attempt=1), Fault.create(2, request=1), Fault.status(500)
    )
    first = injector.inject(1, ("a", 1), 1, "a")
    assert [fault.kind for fault in first] == ["create", "status"]
    assert first[1].param("code") == 500
    assert injector.inject(2, ("a", 2), 2, "a")[0].param("code") == 503
    assert injector.inject(3, ("a", 2), 2, "a")[0].param("code") == 500  # attempt 2
    assert injector.injected == [
        InjectedFault(request=1, page=1, attempt=1, kind="create"),
        InjectedFault(request=1, page=1, attempt=1, kind="status"),
        InjectedFault(request=2, page=2, attempt=1, kind="status"),
        InjectedFault(request=3, page=2, attempt=2, kind="status"),
    ]


def test_injector_fires_a_fault_at_most_times_and_keeps_counting_after_forget() -> None:
    """``times=1`` fires once; forgetting the record forgets neither fired counts nor attempts."""
    injector = _injector(Fault.reset(times=1), Fault.slow(1.0, attempt=3))
    assert [f.kind for f in injector.inject(1, "k", 1, "a")] == ["reset"]
    injector.forget()
    assert injector.injected == []
    assert injector.inject(2, "k", 1, "a") == []
    assert [f.kind for f in injector.inject(3, "k", 1, "a")] == ["slow"]
    assert injector.injected == [InjectedFault(request=3, page=1, attempt=3, kind="slow")]


def test_injector_offers_the_listing_only_faults_that_need_no_invoices() -> None:
    """A data fault and an invoice-shaping fault pass the listing by; a status does not."""
    injector = _injector(Fault.create(1), Fault.has_more(False), Fault.status(502))
    applied = injector.inject(1, ("accounts", 1), 1, "", listing=True)
    assert [fault.kind for fault in applied] == ["status"]


def test_injector_latency_is_seeded_and_refuses_negative_values() -> None:
    """Jitter varies the latency the same way for the same seed and request number."""
    injector = FaultInjector(
        seed=0, rate_limit=None, block_seconds=0.0, latency=0.5, jitter=0.1, faults=()
    )
    assert [injector.delay(1), injector.delay(2), injector.delay(1)] == [
        0.4839097153245475,
        0.5997737505531731,
        0.4839097153245475,
    ]
    injector.jitter = 0.0
    assert injector.delay(1) == 0.5
    with pytest.raises(ValueError, match="latency and jitter must be >= 0"):
        FaultInjector(
            seed=0, rate_limit=None, block_seconds=0.0, latency=-1.0, jitter=0.0, faults=()
        )


# ------------------------------------------------------------------ traffic


def _record(number: int) -> ServedRequest:
    return ServedRequest(
        number=number,
        account_id="a",
        page=1,
        per_page=None,
        type="all",
        status=0,
        fault=None,
        started=0.0,
        finished=None,
    )


def test_traffic_numbers_records_and_counts_in_flight() -> None:
    """Arrivals are numbered for life; a reset clears records and counts, not numbers."""
    traffic = Traffic()
    first, second = traffic.arrive(), traffic.arrive()
    assert (first, second, traffic.in_flight, traffic.peak_in_flight) == (1, 2, 2, 2)
    traffic.record(_record(1))
    traffic.record(_record(2))
    traffic.leave(_record(2), 200, 5.0)
    assert [(r.number, r.status, r.finished) for r in traffic.records] == [
        (1, 0, None),
        (2, 200, 5.0),
    ]
    assert traffic.arrive_elsewhere() == 1
    assert traffic.received == 3
    traffic.reset()
    assert (traffic.records, traffic.received, traffic.peak_in_flight) == ([], 0, 1)
    traffic.leave(_record(1), 200, 6.0)  # it arrived before the reset: no record to update
    assert (traffic.records, traffic.in_flight, traffic.arrive()) == ([], 0, 3)


# ------------------------------------------------------------------- facade


def test_facade_latency_and_jitter_are_the_injectors() -> None:
    """``fake.latency`` and ``fake.jitter`` read and change what the injector applies."""
    fake = FakeCloudflare(1, latency=0.25, rate_limit=None)
    assert (fake.latency, fake.jitter) == (0.25, 0.0)
    fake.latency, fake.jitter = 0.5, 0.1
    assert (fake.latency, fake.jitter) == (0.5, 0.1)
    assert fake._injector.delay(1) == 0.4839097153245475


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"per_page_limit": "cap"}, "per_page_limit must be one of"),
        ({"listing_max_per_page": 4}, "listing_max_per_page must be >= 5, got 4"),
        ({"latency": -0.5}, "latency and jitter must be >= 0"),
        ({"order": "random"}, "order must be one of"),
    ],
)
def test_facade_refuses_settings_out_of_range(options: dict[str, Any], message: str) -> None:
    """Each part's own check stands behind the facade's constructor: a ValueError naming it."""
    with pytest.raises(ValueError, match=message):
        FakeCloudflare(1, **options)
