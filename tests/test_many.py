"""InvoiceClient.invoices_many(): many accounts on one quota, against FakeCloudflare."""

from __future__ import annotations

import json
from typing import Any

import pytest

from asyncinvoices import (
    AuthenticationError,
    ConfigurationError,
    InvoiceClient,
    ManyStats,
    ManyStream,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
)
from asyncinvoices.testing import FakeCloudflare, Fault

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("instant_backoff")]

COUNTS = [0, 3, 17, 1, 0, 40, 5, 2, 9, 0, 1, 23]


def client_for(fake: FakeCloudflare, **kwargs: Any) -> InvoiceClient:
    """A client pointed at the fake server."""
    return InvoiceClient(api_token=fake.api_token, base_url=fake.base_url, **kwargs)


def expected(fake: FakeCloudflare, account_ids: list[str]) -> list[tuple[str, str]]:
    """Every (account, invoice id) in output order: accounts as given, invoices as served."""
    return [(a, i) for a in account_ids for i in fake.ids(a)]


async def collect(stream: ManyStream, into: list[tuple[str, str | None]]) -> None:
    """Append each (account, invoice id) of ``stream`` to ``into`` until it ends or fails."""
    async with stream:
        async for account_id, invoice in stream:
            into.append((account_id, invoice.id))


async def walk(client: InvoiceClient, *args: Any, **kwargs: Any) -> list[tuple[str, str | None]]:
    """Every (account, invoice id) invoices_many yields."""
    async with client.invoices_many(*args, **kwargs) as stream:
        return [(a, invoice.id) async for a, invoice in stream]


@pytest.mark.parametrize(
    ("per_page", "concurrency", "read_ahead"),
    [(1, 1, 0), (1, 8, None), (4, 3, 2), (7, 16, None), (50, 2, 1), (100, 64, None)],
)
async def test_exact_sequence_across_accounts(
    per_page: int, concurrency: int, read_ahead: int | None
) -> None:
    """Accounts in the order given, each account's invoices in server order, each once."""
    async with FakeCloudflare(COUNTS, accounts=len(COUNTS), seed=5) as fake:
        order = fake.account_ids[::-1]
        async with client_for(
            fake, per_page=per_page, max_concurrency=concurrency, read_ahead=read_ahead
        ) as client:
            got = await walk(client, order)
        assert got == expected(fake, order)
        # Each page of each account asked for exactly once; no listing was needed.
        pages = sorted(
            (r.account_id, r.page or 0) for r in fake.requests if r.endpoint != "accounts"
        )
        assert pages == sorted(
            (a, p)
            for a, n in zip(fake.account_ids, COUNTS, strict=True)
            for p in range(1, max(1, -(-n // per_page)) + 1)
        )
        assert [r.endpoint for r in fake.requests].count("accounts") == 0


async def test_every_account_from_the_listing() -> None:
    """account_ids=None walks every readable account in the listing's order."""
    async with FakeCloudflare([2, 0, 5], accounts=3, seed=1) as fake:
        fake.add_account(4, name="Hidden", readable=False)
        async with client_for(fake, per_page=2) as client:
            async with client.invoices_many() as stream:
                got = [(a, i.id) async for a, i in stream]
            stats = stream.stats
        listed = fake.account_ids[:3]  # "Account 0" < "Account 1" < "Account 2"
        assert got == expected(fake, listed)
        assert stats == ManyStats(
            accounts_done=3,
            accounts_total=3,
            failed=0,
            pages=1 + 1 + 3,
            invoices=7,
            requests=1 + 1 + 1 + 3,  # the listing, then each account's pages
            retries=0,
            throttled_seconds=stats.throttled_seconds,
            elapsed=stats.elapsed,
            fewest_requests=1 + 1 + 1 + 3,  # and no request more than needed
        )


async def test_peak_in_flight_is_the_concurrency_across_accounts() -> None:
    """Many one-page accounts are fetched side by side: the server sees max_concurrency
    requests at once, never more, and each account is asked for once."""
    async with FakeCloudflare([1] * 40, accounts=40, latency=0.05) as fake:
        async with client_for(fake, max_concurrency=6) as client:
            got = await walk(client, fake.account_ids)
        assert fake.peak_in_flight == 6
        fake.reset_counters()
        async with client_for(fake, max_concurrency=8) as client:
            assert await walk(client, fake.account_ids, max_concurrency=3) == got
        assert fake.peak_in_flight == 3
    assert len(got) == 40


async def test_ids_are_validated_and_repeats_walked_once() -> None:
    """A bad id fails before any request; a repeated id is walked once, at its first place."""
    async with FakeCloudflare([2, 3], accounts=2) as fake:
        a, b = fake.account_ids
        async with client_for(fake) as client:
            with pytest.raises(ConfigurationError, match=r"^'\.\./x' is not an account id"):
                client.invoices_many([a, "../x"])
            with pytest.raises(ConfigurationError, match="not one string"):
                client.invoices_many(a)
            with pytest.raises(ConfigurationError, match=r"^on_error must be 'raise' or 'skip'"):
                client.invoices_many([a], on_error="ignore")  # type: ignore[arg-type]
            assert fake.requests == []
            assert await walk(client, [b, a, b, a]) == expected(fake, [b, a])
        # The first walk pays for the fake's refusal of 1,000 a page; the second waited for
        # it, and asks for the maximum the refusal named.
        assert [(r.account_id, r.per_page, r.status) for r in fake.requests] == [
            (b, 1000, 400),
            (b, 100, 200),
            (a, 100, 200),
        ]


async def test_an_id_of_another_shape_is_refused_before_any_request() -> None:
    """One rule for an account id: 32 hexadecimal characters, or ConfigurationError at once."""
    async with FakeCloudflare(2) as fake:
        async with client_for(fake) as client:
            with pytest.raises(ConfigurationError) as caught:
                client.invoices_many(["not-an-id"])
        assert fake.received == 0

    assert str(caught.value) == (
        "'not-an-id' is not an account id: expected 32 hexadecimal characters, as in the "
        "Cloudflare dashboard's URL, e.g. 023e105f4ecef8ad9ca31a8372d0c353"
    )


async def test_an_upper_case_id_walks_the_lower_case_account() -> None:
    """An id in upper case is the same account: yielded and requested in lower case, once."""
    async with FakeCloudflare([2, 3], accounts=2) as fake:
        a, b = fake.account_ids
        async with client_for(fake) as client:
            got = await walk(client, [a.upper(), b, a])

        assert got == expected(fake, [a, b])
        # The first request is the probe of 1,000 a page, refused: the size is learnt once.
        assert [(r.account_id, r.status) for r in fake.requests] == [(a, 400), (a, 200), (b, 200)]


async def test_raise_stops_at_the_first_failure_in_output_order() -> None:
    """on_error='raise': what precedes the failing account is yielded, then its error."""
    async with FakeCloudflare([3, 2, 4], accounts=3) as fake:
        hidden = fake.add_account(5, name="Hidden", readable=False)
        a, b, c = fake.account_ids[:3]
        got: list[tuple[str, str | None]] = []
        async with client_for(fake) as client:
            stream = client.invoices_many([a, b, hidden, c])
            with pytest.raises(AuthenticationError) as caught:
                await collect(stream, got)
        assert got == expected(fake, [a, b])
        assert (caught.value.status, caught.value.codes) == (403, (10000,))


async def test_skip_records_failures_and_goes_on() -> None:
    """on_error='skip': failed accounts are recorded with their error; the rest is walked;
    what a failing account yielded before it failed stays yielded."""
    async with FakeCloudflare([3, 7, 4], accounts=3) as fake:
        hidden = fake.add_account(5, name="Hidden", readable=False)
        a, b, c = fake.account_ids[:3]
        fake.add_fault(Fault.status(500, page=2, account_id=b))
        async with client_for(fake, per_page=3, max_retries=1) as client:
            async with client.invoices_many([a, hidden, b, c], on_error="skip") as stream:
                got = [(x, i.id) async for x, i in stream]
        assert got == expected(fake, [a]) + [(b, i) for i in fake.ids(b)[:3]] + expected(fake, [c])
        assert list(stream.failures) == [hidden, b]
        assert type(stream.failures[hidden]) is AuthenticationError
        assert type(stream.failures[b]) is ServerError
        assert stream.failures[b].status == 500
        stats = stream.stats
        assert (stats.accounts_done, stats.accounts_total, stats.failed, stats.invoices) == (
            4,
            4,
            2,
            3 + 3 + 4,
        )


async def test_a_rate_limit_is_never_skipped() -> None:
    """The quota is shared: a RateLimitError ends the walk even with on_error='skip'."""
    async with FakeCloudflare([1, 1, 1, 1], accounts=4) as fake:
        fake.add_fault(Fault.status(429, retry_after=100, account_id=fake.account_ids[2]))
        async with client_for(fake, max_retry_wait=1) as c:
            got: list[tuple[str, str | None]] = []
            stream = c.invoices_many(fake.account_ids, on_error="skip")
            with pytest.raises(RateLimitError):
                await collect(stream, got)
        assert got == expected(fake, fake.account_ids[:2])
        assert stream.failures == {}


async def test_unknown_account_is_not_found() -> None:
    """An account id the server does not have fails with NotFoundError, skippable."""
    async with FakeCloudflare([2], accounts=1) as fake:
        ghost = "f" * 32
        async with client_for(fake) as client:
            async with client.invoices_many([ghost, fake.account_id], on_error="skip") as s:
                got = [(a, i.id) async for a, i in s]
        assert got == expected(fake, [fake.account_id])
        assert type(s.failures[ghost]) in (NotFoundError, AuthenticationError)


@pytest.mark.parametrize("stop", [0, 1, 3, 4, 20, 21, 44, 45, 46])
async def test_resume_across_accounts(stop: int) -> None:
    """A checkpoint taken after any invoice continues after it: finished accounts are not
    walked again, the account being read continues after its last invoice."""
    counts = [3, 0, 1, 17, 23, 2]
    async with FakeCloudflare(counts, accounts=len(counts), seed=9) as fake:
        order = fake.account_ids
        async with client_for(fake, per_page=5) as client:
            first: list[tuple[str, str | None]] = []
            async with client.invoices_many(order) as stream:
                saved = stream.checkpoint()
                async for account_id, invoice in stream:
                    if len(first) == stop:
                        break
                    first.append((account_id, invoice.id))
                    saved = stream.checkpoint()
            saved = json.loads(json.dumps(saved))
            fake.reset_counters()
            rest = await walk(client, order, resume=saved)
        assert first + rest == expected(fake, order)
        finished = set(saved["done"])
        assert not finished & {r.account_id for r in fake.requests}


async def test_resume_retries_a_skipped_account_after_what_it_yielded() -> None:
    """A skipped account is walked again on resume, continuing after what it yielded."""
    async with FakeCloudflare([4, 6], accounts=2) as fake:
        a, b = fake.account_ids
        fake.add_fault(Fault.status(500, page=2, account_id=a, times=2))
        async with client_for(fake, per_page=3, max_retries=1) as client:
            async with client.invoices_many([a, b], on_error="skip") as stream:
                got = [(x, i.id) async for x, i in stream]
            saved = stream.checkpoint()
            assert list(stream.failures) == [a]
            assert saved["done"] == [b]
            rest = await walk(client, [a, b], resume=saved)
        assert got + rest == expected(fake, [a])[:3] + expected(fake, [b]) + expected(fake, [a])[3:]


@pytest.mark.parametrize(
    ("resume", "message"),
    [
        ({"version": 1}, "resume= takes a value returned by stream.checkpoint()"),
        (
            {"version": 1, "kind": "invoices_many", "type": "auto", "since": None, "until": None},
            "the checkpoint was taken with type='auto'",
        ),
        (
            {
                "version": 1,
                "kind": "invoices_many",
                "type": "all",
                "since": None,
                "until": None,
                "done": "x",
                "partial": {},
            },
            "the checkpoint's done is not a list of account ids",
        ),
    ],
)
async def test_bad_checkpoints_fail_before_any_request(resume: Any, message: str) -> None:
    """A checkpoint that is not invoices_many's, or of another type, is refused at once."""
    async with FakeCloudflare(1) as fake:
        async with client_for(fake) as client:
            with pytest.raises(ConfigurationError, match=f"^{message}"):
                client.invoices_many([fake.account_id], resume=resume)
        assert fake.requests == []


async def test_progress_counts_accounts_and_invoices() -> None:
    """on_progress sees accounts done and in all, and the invoices so far."""
    seen: list[ManyStats] = []
    async with FakeCloudflare([2, 0, 3], accounts=3) as fake:
        async with client_for(fake, per_page=2) as client:
            await walk(client, fake.account_ids, on_progress=seen.append)
    assert [(s.accounts_done, s.accounts_total, s.pages, s.invoices) for s in seen] == [
        (0, 3, 1, 0),
        (1, 3, 1, 2),
        (1, 3, 2, 2),
        (2, 3, 2, 2),
        (2, 3, 3, 2),
        (2, 3, 4, 4),
        (3, 3, 4, 5),
    ]


async def test_break_cancels_and_client_close_ends_the_walk() -> None:
    """Leaving early cancels every request; a closed client ends the walk with TransportError."""
    async with FakeCloudflare([5] * 10, accounts=10, latency=0.01) as fake:
        async with client_for(fake, per_page=1) as client:
            async with client.invoices_many(fake.account_ids) as stream:
                async for _ in stream:
                    break
            await fake.wait_idle()
            assert repr(stream).startswith("<ManyStream closed")
            stream = client.invoices_many(fake.account_ids)

            async def close_on_first() -> None:
                async for _ in stream:
                    await client.aclose()

            with pytest.raises(TransportError, match="closed before the walk finished"):
                await close_on_first()


async def test_a_failed_listing_is_raised() -> None:
    """With account_ids=None, a listing that fails raises its error (never skipped)."""
    async with FakeCloudflare([2, 3], accounts=2) as fake:
        fake.add_fault(Fault.status(403, request=1))
        got: list[tuple[str, str | None]] = []
        async with client_for(fake) as client:
            stream = client.invoices_many(on_error="skip")
            with pytest.raises(AuthenticationError):
                await collect(stream, got)
        assert got == []
        assert [r.endpoint for r in fake.requests] == ["accounts"]


async def test_resume_needs_the_same_bounds() -> None:
    """A checkpoint taken with other since/until is refused before any request."""
    import datetime as dt

    async with FakeCloudflare([2], accounts=1) as fake:
        async with client_for(fake) as client:
            async with client.invoices_many([fake.account_id]) as stream:
                saved = stream.checkpoint()
            since = dt.datetime(2023, 1, 1, tzinfo=dt.timezone.utc)
            with pytest.raises(ConfigurationError, match="other since/until bounds"):
                client.invoices_many([fake.account_id], since=since, resume=saved)


async def test_after_a_rate_limit_no_further_account_is_started() -> None:
    """Once an account is refused for the rate limit, no further account is opened."""
    async with FakeCloudflare([1] * 5, accounts=5) as fake:
        a, b, c, d, e = fake.account_ids
        fake.add_fault(Fault.status(429, retry_after=1000, account_id=c))
        got: list[tuple[str, str | None]] = []
        async with client_for(
            fake, max_concurrency=1, read_ahead=1, max_retry_wait=1, per_page=50
        ) as cl:
            stream = cl.invoices_many([a, b, c, d, e])
            with pytest.raises(RateLimitError):
                await collect(stream, got)
        assert got == expected(fake, [a, b])
        assert stream.failed_account == c
        names = {a: "a", b: "b", c: "c", d: "d", e: "e"}
        served = [(names[r.account_id], r.status) for r in fake.requests]
        # d may have been opened (and queued) while c's request was on the wire; e, after
        # the refusal, never is.
        assert [x for x in served if x[0] != "d"] == [("a", 200), ("b", 200), ("c", 429)]
