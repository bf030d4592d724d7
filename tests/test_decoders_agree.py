"""The invoice endpoint and the account listing decode a bad response the same way.

Both decoders take one path up to the envelope (redirect, status and errors, content type,
JSON, ``success``); only what is inside ``result`` is their own. Each bad response below is
given to both, and both must raise the same exception class with the same message, status,
codes, field and ray id.
"""

from __future__ import annotations

import datetime as dt

import pytest

from asyncinvoices import (
    APIError,
    AsyncInvoicesError,
    InvoiceClient,
    NotFoundError,
    ResponseFormatError,
    ServerError,
)
from asyncinvoices._wire.accounts import AccountDecoder
from asyncinvoices._wire.protocol import ResponseDecoder
from asyncinvoices.testing import FakeCloudflare, Fault

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
JSON = "application/json"
RAY = "8f1e2d3c4b5a6978-AMS"

# (name, status, headers, body, exception class, exact message, field)
BAD: list[tuple[str, int, dict[str, str], bytes, type[AsyncInvoicesError], str, str | None]] = [
    (
        "html 200",
        200,
        {"Content-Type": "text/html; charset=utf-8"},
        b"<html><body><h1>Just a moment...</h1></body></html>",
        ResponseFormatError,
        "page 4: HTTP 200 body is not JSON: 'Just a moment...'",
        None,
    ),
    (
        "html 502",
        502,
        {"Content-Type": "text/html"},
        b"<html><h1>502 Bad Gateway</h1></html>",
        ServerError,
        f"HTTP 502 (page 4): '502 Bad Gateway' [cf-ray {RAY}]",
        None,
    ),
    (
        "3xx redirect",
        302,
        {"Location": "https://elsewhere.example/login", "Content-Type": "text/html"},
        b"<a href='https://elsewhere.example/login'>moved</a>",
        ResponseFormatError,
        "page 4: HTTP 302 redirect to https://elsewhere.example/login was not followed",
        None,
    ),
    (
        "wrong content type",
        200,
        {"Content-Type": "text/plain"},
        b'{"success": true, "result": []}',
        ResponseFormatError,
        """page 4: HTTP 200 body is not JSON: '{"success": true, "result": []}'""",
        None,
    ),
    (
        "success false",
        200,
        {"Content-Type": JSON},
        b'{"success": false, "errors": [{"code": 7003, "message": "Could not route"}]}',
        NotFoundError,
        f"HTTP 200 (page 4): 7003 Could not route [cf-ray {RAY}]",
        None,
    ),
    (
        "not json",
        200,
        {"Content-Type": JSON},
        b"<html>oops</html>",
        ResponseFormatError,
        "page 4: HTTP 200 body is not valid JSON: 'oops'",
        None,
    ),
    (
        "truncated json",
        200,
        {"Content-Type": JSON},
        b'{"success": true, "result": [{"id": "a"',
        ResponseFormatError,
        """page 4: HTTP 200 body is not valid JSON: '{"success": true, "result": [{"id": "a"'""",
        None,
    ),
    (
        "no success",
        200,
        {"Content-Type": JSON},
        b'{"result": []}',
        ResponseFormatError,
        "page 4: the envelope has no 'success': true",
        "success",
    ),
    (
        "a json list",
        200,
        {"Content-Type": JSON},
        b"[]",
        ResponseFormatError,
        "page 4: the body is a JSON list, not an object",
        None,
    ),
]


def _invoices(status: int, headers: dict[str, str], body: bytes) -> AsyncInvoicesError:
    with pytest.raises(AsyncInvoicesError) as caught:
        ResponseDecoder().decode(status, headers, body, page=4, now=NOW)
    return caught.value


def _accounts(status: int, headers: dict[str, str], body: bytes) -> AsyncInvoicesError:
    with pytest.raises(AsyncInvoicesError) as caught:
        AccountDecoder()(status, headers, body, 4, NOW)
    return caught.value


def _shape(error: AsyncInvoicesError) -> tuple[object, ...]:
    """Everything a caller can read of the error."""
    if isinstance(error, APIError):
        return (type(error), str(error), error.status, error.codes, error.ray_id, error.page)
    assert isinstance(error, ResponseFormatError)
    return (type(error), str(error), error.field, error.ray_id, error.page)


@pytest.mark.parametrize(
    ("status", "headers", "body", "cls", "message", "field"),
    [case[1:] for case in BAD],
    ids=[case[0] for case in BAD],
)
def test_both_endpoints_refuse_a_bad_response_alike(
    status: int,
    headers: dict[str, str],
    body: bytes,
    cls: type[AsyncInvoicesError],
    message: str,
    field: str | None,
) -> None:
    """The same class, message, status, codes, field and ray id from either decoder."""
    headers = {**headers, "cf-ray": RAY}
    invoices, accounts = _invoices(status, headers, body), _accounts(status, headers, body)
    assert type(invoices) is cls
    assert str(invoices) == message
    assert _shape(accounts) == _shape(invoices)
    if isinstance(invoices, APIError):
        assert invoices.status == status
    else:
        assert isinstance(invoices, ResponseFormatError)
        assert (invoices.field, invoices.ray_id, invoices.page) == (field, RAY, 4)


# ------------------------------------------------------------------ over HTTP, from the fake


def _client(fake: FakeCloudflare) -> InvoiceClient:
    return InvoiceClient(
        api_token=fake.api_token, base_url=fake.base_url, max_retries=0, rate_limit=None
    )


async def _first_page(client: InvoiceClient, fake: FakeCloudflare, endpoint: str) -> None:
    if endpoint == "invoices":
        await client.get_page(fake.account_id, page=1, per_page=20)
        return
    async with client.accounts(per_page=20) as accounts:
        [account async for account in accounts]


async def _over_http(fault: Fault, endpoint: str) -> tuple[AsyncInvoicesError, int]:
    """The error one request to ``endpoint`` ends with, and the requests the fake received."""
    async with FakeCloudflare(3, faults=[fault]) as fake:
        async with _client(fake) as client:
            with pytest.raises(AsyncInvoicesError) as caught:
                await _first_page(client, fake, endpoint)
        return caught.value, fake.received


def _without_ray(error: AsyncInvoicesError) -> tuple[object, ...]:
    """What a caller reads of the error, its ray id (one per response) left out."""
    ray = getattr(error, "ray_id", None)
    text = str(error) if ray is None else str(error).replace(ray, "RAY")
    codes = error.codes if isinstance(error, APIError) else ()
    status = error.status if isinstance(error, APIError) else None
    return (type(error), text, status, codes, getattr(error, "page", None))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fault", "cls", "message"),
    [
        (Fault.status(502), ServerError, "HTTP 502 (page 1): "),
        (Fault.malformed_json(), ResponseFormatError, "page 1: HTTP 200 body is not valid JSON: "),
        (
            Fault.error_envelope(7003, "Could not route", status=200),
            NotFoundError,
            "HTTP 200 (page 1): 7003 Could not route [cf-ray RAY]",
        ),
    ],
    ids=["html 502", "truncated json", "success false"],
)
async def test_the_fake_s_faults_end_both_endpoints_alike(
    fault: Fault, cls: type[AsyncInvoicesError], message: str
) -> None:
    """The same fault from the fake ends an invoice request and a listing request with the
    same error, after exactly one request each (no retries asked for)."""
    invoices, sent_invoices = await _over_http(fault, "invoices")
    accounts, sent_accounts = await _over_http(fault, "accounts")
    assert type(invoices) is cls
    ray = getattr(invoices, "ray_id", None) or "RAY"
    assert str(invoices).replace(ray, "RAY").startswith(message)
    assert (sent_invoices, sent_accounts) == (1, 1)
    if isinstance(invoices, ResponseFormatError):
        # The quoted start of the body is each endpoint's own; the rest is the same.
        assert type(accounts) is cls
        assert str(accounts).startswith(message)
    else:
        assert _without_ray(accounts) == _without_ray(invoices)
