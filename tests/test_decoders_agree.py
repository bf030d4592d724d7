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
    NotFoundError,
    ResponseFormatError,
    ServerError,
)
from asyncinvoices._wire.accounts import AccountDecoder
from asyncinvoices._wire.protocol import ResponseDecoder

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
