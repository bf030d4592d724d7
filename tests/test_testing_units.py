"""Sans-I/O tests of FakeCloudflare's parts: the limiter, the data, the bodies, the faults."""

from __future__ import annotations

import inspect
import json
import re
from decimal import Decimal

import pytest

import asyncinvoices.testing
from asyncinvoices.testing import FakeCloudflare, Fault, InjectedFault
from asyncinvoices.testing._checks import Credentials, authenticate
from asyncinvoices.testing._data import AccountData
from asyncinvoices.testing._ratelimit import RateDecision, SlidingWindowLimiter
from asyncinvoices.testing._responses import Pagination, html_error_page, success_body
from asyncinvoices.testing._selector import MatchContext, Selector
from asyncinvoices.testing._store import PageCache as _PageCache


def test_public_names_are_exported_and_sorted() -> None:
    """`__all__` lists exactly the public API, sorted."""
    assert asyncinvoices.testing.__all__ == [
        "FakeCloudflare",
        "Fault",
        "InjectedFault",
        "Selector",
        "ServedRequest",
        "serve",
    ]
    for name in asyncinvoices.testing.__all__:
        assert getattr(asyncinvoices.testing, name).__doc__


# ------------------------------------------------------------------ limiter


def test_limiter_counts_down_then_blocks_for_block_seconds() -> None:
    """Q requests pass with r counting down; the next one starts a block of fixed length."""
    limiter = SlidingWindowLimiter(5, 1.0, 2.0)
    decisions = [limiter.admit(t) for t in (0.0, 0.1, 0.2, 0.3, 0.4)]
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0]
    assert all(d.allowed and d.reset == 1 and d.retry_after is None for d in decisions)
    assert limiter.admit(0.5) == RateDecision(allowed=False, remaining=0, reset=2, retry_after=2)
    # Blocked requests neither count nor extend the block (it ends at 0.5 + 2.0).
    assert limiter.admit(1.0) == RateDecision(allowed=False, remaining=0, reset=2, retry_after=2)
    assert limiter.admit(2.49).retry_after == 1
    assert limiter.admit(2.5) == RateDecision(allowed=True, remaining=4, reset=1, retry_after=None)


def test_limiter_is_a_true_sliding_window() -> None:
    """A request is over the limit when Q counted requests lie in the last W seconds."""
    limiter = SlidingWindowLimiter(3, 10.0, 0.0)
    assert [limiter.admit(t).allowed for t in (0.0, 5.0, 9.0)] == [True, True, True]
    assert limiter.admit(10.0).allowed  # the request at 0.0 left the window at 10.0
    # A fixed window starting at 10 would admit this; 5, 9 and 10 are within 10 seconds.
    assert not limiter.admit(14.0).allowed
    assert limiter.admit(15.0) == RateDecision(allowed=True, remaining=0, reset=4, retry_after=None)


def test_limiter_rejects_what_a_token_bucket_would_admit() -> None:
    """At 8/s for 300 s (2400 requests) only 1200 pass: a bucket refilling 4/s admits all."""
    limiter = SlidingWindowLimiter(1200, 300.0, 300.0)
    allowed = sum(limiter.admit(i * 0.125).allowed for i in range(2400))
    assert allowed == 1200


def test_limiter_peek_and_policy() -> None:
    """`peek` does not count; the policy header renders whole and fractional windows."""
    limiter = SlidingWindowLimiter(2, 0.5, 1.0)
    assert limiter.peek(0.0) == RateDecision(allowed=True, remaining=2, reset=0, retry_after=None)
    assert limiter.admit(0.0).remaining == 1
    assert limiter.peek(0.1).remaining == 1
    assert limiter.policy == '"default";q=2;w=0.5'
    assert SlidingWindowLimiter(1200, 300.0, 300.0).policy == '"default";q=1200;w=300'


@pytest.mark.parametrize(("quota", "window", "block"), [(0, 1.0, 1.0), (1, 0.0, 1.0), (1, 1, -1)])
def test_limiter_rejects_bad_settings(quota: int, window: float, block: float) -> None:
    """A quota below 1, an empty window or a negative block is a ValueError."""
    with pytest.raises(ValueError, match="rate-limit"):
        SlidingWindowLimiter(quota, window, block)


# --------------------------------------------------------------------- data


def test_invoices_are_deterministic_and_well_formed() -> None:
    """Same seed, same invoices; ids, amounts, statuses and times follow the documented rules."""
    first = AccountData("a" * 32, 7, 1000, 0.3)
    again = AccountData("b" * 32, 7, 1000, 0.3)
    text = first.render_array(first.server_order())
    assert text == again.render_array(again.server_order())
    assert text != AccountData("c" * 32, 8, 1000, 0.3).render_array(range(999, -1, -1))

    # Amounts are exact JSON numbers: whole cents or two decimals, never float noise.
    amounts = re.findall(rb'"amount_due":([^,]+),', text)
    assert len(amounts) == 1000
    assert all(re.fullmatch(rb"[1-9][0-9]*(\.[0-9][0-9])?", amount) for amount in amounts)
    assert any(b"." in amount for amount in amounts)

    invoices = json.loads(text, parse_float=Decimal)
    created = [invoice["created"] for invoice in invoices]
    assert created == sorted(created, reverse=True)
    assert len(set(created)) == 1000
    assert len({invoice["id"] for invoice in invoices}) == 1000
    for invoice in invoices:
        assert re.fullmatch(r"in_[0-9A-Za-z]{24}", invoice["id"])
        assert invoice["id"] in invoice["invoice_pdf"]
        assert invoice["invoice_pdf"].startswith("https://")
        assert invoice["currency"] in ("usd", "eur")
        status = invoice["status"]
        assert status in ("paid", "open", "void", "uncollectible", "draft")
        if status == "paid":
            assert invoice["amount_paid"] == invoice["amount_due"]
            assert invoice["amount_remaining"] == 0
        if status == "open":
            assert invoice["amount_remaining"] == invoice["amount_due"]
        auto = invoice["invoice_origin"] == "auto_top_up"
        assert invoice["invoice_origin"] == ("auto_top_up" if auto else "manual_top_up")
        if auto:
            assert invoice["created_by"] == "system"
        else:
            assert re.fullmatch(r"user-[0-9]+@example\.com", invoice["created_by"])
        assert invoice["attempted"] is (invoice["attempt_count"] > 0)
    statuses = {invoice["status"] for invoice in invoices}
    assert statuses == {"paid", "open", "void", "uncollectible", "draft"}
    assert 250 <= sum(i["invoice_origin"] == "auto_top_up" for i in invoices) <= 350


def test_auto_fraction_decides_the_type_split() -> None:
    """auto_fraction=0 makes only manual invoices, 1 only auto ones."""
    assert AccountData("a" * 32, 1, 50, 0.0).count("auto") == 0
    assert AccountData("a" * 32, 1, 50, 1.0).count("manual") == 0
    with pytest.raises(ValueError, match="auto_fraction"):
        AccountData("a" * 32, 1, 50, 1.5)
    with pytest.raises(ValueError, match="invoices"):
        AccountData("a" * 32, 1, -1, 0.3)


def test_ids_map_back_to_serials_only_while_current() -> None:
    """An id finds its invoice until it is deleted; foreign or garbled ids find nothing."""
    account = AccountData("a" * 32, 3, 100, 0.3)
    other = AccountData("b" * 32, 4, 100, 0.3)
    ids = [account.invoice_id(serial) for serial in account.server_order()]
    assert [account.serial_of(invoice_id) for invoice_id in ids] == list(range(99, -1, -1))
    assert other.serial_of(ids[0]) is None
    assert account.serial_of("in_" + "!" * 24) is None
    assert account.serial_of("ch_" + ids[0][3:]) is None
    assert account.serial_of(ids[0][:-1] + ("A" if ids[0][-1] != "A" else "B")) is None
    account.delete_serials([99])
    assert account.serial_of(ids[0]) is None


def test_mutations_keep_filtered_views_in_step() -> None:
    """create/delete update the type-filtered orders incrementally, exactly as a rebuild."""
    account = AccountData("a" * 32, 5, 300, 0.3)
    assert account.count("auto") + account.count("manual") == 300
    created = account.create(40)
    account.delete_at(10, 5)
    account.delete_serials(range(0, 300, 3))
    fresh = AccountData("a" * 32, 5, 0, 0.3)
    fresh.create(340)
    fresh.delete_serials(set(range(340)) - set(account.server_order()))
    for type in ("all", "auto", "manual"):
        assert list(account.server_order(type)) == list(fresh.server_order(type))
    assert created == [account.invoice_id(serial) for serial in range(339, 299, -1)]
    assert account.delete_serials([]) == 0
    assert account.create(0) == []
    with pytest.raises(ValueError, match="n must be"):
        account.create(-1)


def test_bulk_delete_uses_the_linear_path() -> None:
    """Deleting more than a handful of serials at once gives the same result."""
    account = AccountData("a" * 32, 5, 1000, 0.3)
    assert account.delete_serials(range(0, 1000, 2)) == 500
    assert list(account.server_order()) == list(range(999, 0, -2))


def test_render_with_keeps_other_numbers_exact() -> None:
    """Replacing one field re-renders the invoice without touching the other numbers."""
    account = AccountData("a" * 32, 11, 200, 0.3)
    serial = next(s for s in range(200) if "." in account.render(s).split(",")[1])
    original = json.loads(account.render(serial))
    changed = account.render_with(serial, "amount_paid", [1])
    assert json.loads(changed) == {**original, "amount_paid": [1]}
    assert account.render(serial).split(",")[1] in changed


# ------------------------------------------------------------------- bodies


def test_success_body_reports_where_the_array_is() -> None:
    """The body wraps the array exactly; the offsets give the array back."""
    pagination = Pagination(has_more=True, page=2, per_page=1, total_count=3)
    body, start, end = success_body(b'[{"id":"x"}]', pagination)
    assert body[start:end] == b'[{"id":"x"}]'
    assert json.loads(body) == {
        "success": True,
        "errors": [],
        "messages": [],
        "result": {
            "invoices": [{"id": "x"}],
            "pagination": {"has_more": True, "page": 2, "per_page": 1, "total_count": 3},
        },
        "result_info": {"has_more": True, "page": 2, "per_page": 1, "total_count": 3},
    }


def test_html_error_page_names_status_and_ray() -> None:
    """The edge's HTML page shows the status, its title and the Ray ID."""
    page = html_error_page(522, "0123456789abcdef-SJC").decode()
    assert "522: Connection timed out" in page
    assert "<strong>0123456789abcdef</strong>" in page


# ------------------------------------------------------------------- faults


def test_fault_repr_shows_only_what_was_set() -> None:
    """A fault's repr names its kind, parameters and the selectors given."""
    fault = Fault.status(503, page=3, attempt=1)
    assert repr(fault) == "Fault('status', code=503, retry_after=None, page=3, attempt=1)"
    assert fault.param("code") == 503
    with pytest.raises(KeyError):
        fault.param("delay")
    assert repr(Fault.reset()) == "Fault('reset')"


@pytest.mark.parametrize(
    "build",
    [
        lambda: Fault.status(200),
        lambda: Fault.status(429, retry_after=-1),
        lambda: Fault.reset(probability=1.5),
        lambda: Fault.reset(times=0),
        lambda: Fault.reset(request=0),
        lambda: Fault.reset(page=0),
        lambda: Fault.reset(attempt=0),
        lambda: Fault.slow(-1),
        lambda: Fault.clamp_per_page(0),
        lambda: Fault.create(-1),
        lambda: Fault.delete(1, position=-1),
        lambda: Fault.error_envelope(status=100),
    ],
)
def test_fault_constructors_validate(build: object) -> None:
    """Out-of-range parameters and selectors are rejected when the fault is built."""
    with pytest.raises(ValueError):  # noqa: PT011  (each constructor words it differently)
        build()  # type: ignore[operator]


def test_faults_and_records_are_frozen_values() -> None:
    """Faults and InjectedFault records compare by value and cannot be changed."""
    assert Fault.create(3, request=2) == Fault.create(3, request=2)
    record = InjectedFault(request=1, page=2, attempt=3, kind="reset")
    with pytest.raises(AttributeError):
        record.kind = "status"  # type: ignore[misc]


def test_html_error_page_for_other_statuses() -> None:
    """Statuses outside the edge's list still get a titled page."""
    assert "503: Service Unavailable" in html_error_page(503, "ab-SJC").decode()
    assert "599: </title>" in html_error_page(599, "ab-SJC").decode()


def test_short_ids_are_not_found() -> None:
    """Ids too short to carry a serial find nothing."""
    assert AccountData("a" * 32, 1, 5, 0.3).serial_of("in_abc") is None


def test_page_cache_evicts_least_recently_used_first() -> None:
    """The page cache stays within its byte budget, dropping the oldest entries."""
    cache = _PageCache(10)
    cache.put(("a", 1), (b"1234", 0, 0))
    cache.put(("b", 1), (b"1234", 0, 0))
    assert cache.get(("a", 1)) is not None  # now the most recently used
    cache.put(("a", 2), (b"1234", 0, 0))
    assert cache.get(("b", 1)) is None
    assert cache.get(("a", 1)) == (b"1234", 0, 0)
    cache.drop_account("a")
    assert cache.get(("a", 1)) is None
    assert cache.get(("a", 2)) is None


_SELECTORS = (
    "request: 'int | None' = None, page: 'int | None' = None, attempt: 'int | None' = None, "
    "probability: 'float | None' = None, times: 'int | None' = None, "
    "account_id: 'str | None' = None"
)


@pytest.mark.parametrize(
    ("name", "own", "args"),
    [
        ("clamp_per_page", "n: 'int', *, ", (1,)),
        ("create", "n: 'int', *, ", (1,)),
        ("delete", "n: 'int', position: 'int' = 0, *, ", (1,)),
        (
            "error_envelope",
            "code: 'int' = 10000, message: 'str' = 'Authentication error', "
            "status: 'int' = 200, *, ",
            (),
        ),
        ("disconnect", "*, ", ()),
        ("float_numbers", "*, ", ()),
        ("has_more", "value: 'bool', *, ", (True,)),
        ("ignore_page", "echo: 'bool' = False, *, ", ()),
        ("malformed_json", "*, ", ()),
        ("missing_pagination", "*, ", ()),
        ("reset", "*, ", ()),
        ("result_info_only", "*, ", ()),
        ("slow", "delay: 'float', *, ", (0.5,)),
        ("status", "code: 'int', *, retry_after: 'float | None' = None, ", (503,)),
        ("total_count", "value: 'int | None', *, ", (3,)),
        ("truncate", "*, ", ()),
        ("wrong_type", "field: 'str' = 'amount_due', value: 'Any' = 'not-a-number', *, ", ()),
    ],
)
def test_fault_constructors_keep_their_signatures(
    name: str, own: str, args: tuple[object, ...]
) -> None:
    """Each kind class is the Fault constructor named after it, with the signature of the
    first release: its own parameters, then the six selector keywords."""
    constructor = getattr(Fault, name)
    assert inspect.ismethod(constructor)
    assert constructor.__self__ is Fault
    assert str(inspect.signature(constructor)) == f"({own}{_SELECTORS}) -> 'Fault'"
    fault = constructor(*args)
    assert isinstance(fault, Fault)
    assert fault.kind == name
    assert constructor.__doc__ == type(fault).__doc__


def test_every_kind_is_a_constructor() -> None:
    """The constructors are exactly the kinds, so a new kind is a new constructor."""
    kinds = {cls.kind for cls in Fault.__subclasses__() if cls.kind} | {
        cls.kind for base in Fault.__subclasses__() for cls in base.__subclasses__()
    }
    constructors = {
        name
        for name, member in inspect.getmembers(Fault)
        if inspect.ismethod(member) and member.__self__ is Fault
    }
    assert kinds == constructors
    assert len(constructors) == 17


def test_selector_matches_all_that_are_given() -> None:
    """A Selector accepts a request only when every selector given matches it."""
    context = MatchContext(request=4, page=2, attempt=1, account_id="a" * 32, draw=0.25)
    assert Selector().matches(context)
    assert Selector(page=2, attempt=1, account_id="a" * 32, probability=0.5).matches(context)
    assert not Selector(page=2, attempt=2).matches(context)
    assert not Selector(probability=0.25).matches(context)
    assert not Selector(request=5).matches(context)
    assert list(Selector(page=2, times=3).given()) == [("page", 2), ("times", 3)]
    assert Fault.reset(page=2, times=3).selector == Selector(page=2, times=3)
    assert (Fault.reset(page=2).page, Fault.reset(page=2).request) == (2, None)


def test_data_faults_change_the_account_and_serve_the_page() -> None:
    """create and delete change the data; the others shape the reply."""
    account = AccountData("a" * 32, 1, 5, 0.3)
    Fault.create(2).change(account)
    assert account.count() == 7
    Fault.delete(3, position=1).change(account)
    assert account.count() == 4
    assert [f.changes_data for f in (Fault.create(1), Fault.delete(1), Fault.reset())] == [
        True,
        True,
        False,
    ]


def test_credentials_repr_hides_the_secrets() -> None:
    """The server's credentials show only the email in a repr."""
    fake = FakeCloudflare(1)
    assert repr(fake._credentials) == "Credentials(api_email='owner@example.com')"
    assert (fake.api_token, fake.api_key) == (
        fake._credentials.api_token,
        fake._credentials.api_key,
    )


def test_authenticate_prefers_the_token_over_legacy_headers() -> None:
    """A valid Bearer token passes even with wrong legacy headers; a wrong one is 403."""
    credentials = Credentials(api_token="t0k", api_email="a@b", api_key="k")
    legacy = {"X-Auth-Email": "x@y", "X-Auth-Key": "nope"}
    assert authenticate({"Authorization": "bearer t0k", **legacy}, credentials) is None
    refused = authenticate({"Authorization": "Bearer t0x"}, credentials)
    assert refused is not None
    assert (refused.status, json.loads(refused.body)["errors"]) == (
        403,
        [{"code": 10000, "message": "Authentication error"}],
    )
