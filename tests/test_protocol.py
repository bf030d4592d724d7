"""Sans-I/O tests of the wire protocol: plain values in, a page or a typed error out."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncinvoices import (
    APIError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
)
from asyncinvoices._wire.protocol import (
    RateLimitHeader,
    Received,
    ResponseDecoder,
    decode_json,
    decoded,
    get_header,
    invoice_history_path,
    is_retryable_status,
    parse_ratelimit,
    parse_retry_after,
    query_params,
)

SAMPLES = Path(__file__).parent / "samples"
JSON = {"Content-Type": "application/json; charset=utf-8", "cf-ray": "8f1c2d3e4f5a6b7c-SJC"}
NOW = dt.datetime(2026, 11, 28, 12, 0, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def decoder() -> ResponseDecoder:
    """One decoder for the module: it is stateless."""
    return ResponseDecoder()


def envelope(invoices: list[Any], **pagination: Any) -> bytes:
    """A success envelope with the given invoices and pagination block."""
    return json.dumps(
        {
            "success": True,
            "errors": [],
            "messages": [],
            "result": {"invoices": invoices, "pagination": pagination},
        }
    ).encode()


def failure(status_codes: list[dict[str, Any]]) -> bytes:
    """A failure envelope with the given error entries."""
    return json.dumps(
        {"success": False, "errors": status_codes, "messages": [], "result": None}
    ).encode()


INVOICE = {
    "id": "in_1",
    "amount_due": 1,
    "amount_paid": 1,
    "amount_remaining": 0,
    "currency": "usd",
}


def test_request_path_and_query() -> None:
    """The path and query follow Cloudflare's V4 convention."""
    assert invoice_history_path("abc") == "/accounts/abc/ai-gateway/billing/invoice-history"
    assert query_params(page=3, per_page=50, type="auto") == {
        "type": "auto",
        "page": "3",
        "per_page": "50",
    }


def test_decodes_recorded_page(decoder: ResponseDecoder) -> None:
    """A recorded success page decodes into exact values, unknown fields kept in extra."""
    body = (SAMPLES / "page_ok.json").read_bytes()
    page = decoder.decode(200, JSON, body, page=2)
    assert page.number == 2
    assert page.ray_id == "8f1c2d3e4f5a6b7c-SJC"
    assert [i.id for i in page.invoices] == ["in_1", "in_2"]
    first, second = page.invoices
    assert first.amount_due == Decimal("640.19")
    assert str(first.amount_due) == "640.19"
    assert first.amount_remaining == Decimal(0)
    assert first.created == dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    assert first.attempt_count == 1
    assert first.attempted is True
    assert first.auto_advance is False
    assert first.extra == {"tax_rate": Decimal("0.2"), "lines": [{"a": 1}]}
    assert second.amount_due + second.amount_paid == Decimal("0.3")
    assert second.created is None
    assert second.status is None
    assert second.invoice_pdf is None
    assert second.extra == {}
    assert page.pagination.page == 2
    assert page.pagination.per_page == 2
    assert page.pagination.total_count == 5
    assert page.pagination.has_more is True


def test_float_pagination_numbers(decoder: ResponseDecoder) -> None:
    """Pagination numbers typed as floats (2.0) are accepted as integers."""
    body = (
        b'{"success":true,"result":{"invoices":[],"pagination":'
        b'{"page":2.0,"per_page":50.0,"total_count":120.0,"has_more":true}}}'
    )
    page = decoder.decode(200, JSON, body, page=2)
    assert (page.pagination.page, page.pagination.per_page, page.pagination.total_count) == (
        2,
        50,
        120,
    )


def test_result_info_fallback(decoder: ResponseDecoder) -> None:
    """Pagination is read from result_info when result.pagination is missing."""
    body = json.dumps(
        {
            "success": True,
            "result": {"invoices": [INVOICE]},
            "result_info": {"page": 1, "per_page": 1, "total_count": 9, "has_more": True},
        }
    ).encode()
    page = decoder.decode(200, JSON, body, page=1)
    assert page.pagination.total_count == 9
    assert page.pagination.has_more is True


def test_missing_pagination_is_all_none(decoder: ResponseDecoder) -> None:
    """Without any pagination block every pagination field is None."""
    body = b'{"success": true, "result": {"invoices": []}}'
    page = decoder.decode(200, {}, body, page=1)
    assert page.pagination.page is None
    assert page.pagination.total_count is None
    assert page.pagination.has_more is None
    assert page.ray_id is None


@pytest.mark.parametrize(
    ("status", "errors", "expected", "codes"),
    [
        (400, [{"code": 9106, "message": "Missing X-Auth-Key"}], AuthenticationError, (9106,)),
        (
            400,
            [{"code": 6003, "message": "Invalid", "error_chain": [{"code": 6111, "message": "f"}]}],
            AuthenticationError,
            (6003, 6111),
        ),
        (403, [{"code": 10000, "message": "Authentication error"}], AuthenticationError, (10000,)),
        (403, [{"code": 9109, "message": "IP"}], AuthenticationError, (9109,)),
        (
            400,
            [{"code": 7003, "message": "Could not route"}, {"code": 7000, "message": "No route"}],
            NotFoundError,
            (7003, 7000),
        ),
        (
            400,
            [
                {
                    "code": 6008,
                    "message": "Invalid",
                    "error_chain": [{"code": 11000, "message": "x"}],
                }
            ],
            BadRequestError,
            (6008, 11000),
        ),
        (429, [{"code": 971, "message": "Please wait"}], RateLimitError, (971,)),
        (500, [{"code": 10001, "message": "Internal"}], ServerError, (10001,)),
        (404, [], NotFoundError, ()),
        (401, [], AuthenticationError, ()),
        (409, [], BadRequestError, ()),
        (408, [], ServerError, ()),
        (200, [{"code": 10000, "message": "Authentication error"}], AuthenticationError, (10000,)),
        (200, [{"code": 1234, "message": "Odd"}], APIError, (1234,)),
    ],
)
def test_errors_classified_by_code_then_status(
    decoder: ResponseDecoder,
    status: int,
    errors: list[dict[str, Any]],
    expected: type[APIError],
    codes: tuple[int, ...],
) -> None:
    """Each error envelope maps to the exception its Cloudflare code names."""
    with pytest.raises(APIError) as info:
        decoder.decode(status, JSON, failure(errors), page=4)
    assert type(info.value) is expected
    assert info.value.status == status
    assert info.value.codes == codes
    assert info.value.ray_id == "8f1c2d3e4f5a6b7c-SJC"
    assert info.value.page == 4
    assert "8f1c2d3e4f5a6b7c-SJC" in str(info.value)


def test_rate_limit_carries_retry_after(decoder: ResponseDecoder) -> None:
    """A 429 exposes its Retry-After in seconds."""
    headers = {**JSON, "Retry-After": "300"}
    with pytest.raises(RateLimitError) as info:
        decoder.decode(429, headers, failure([{"code": 971, "message": "w"}]), page=1, now=NOW)
    assert info.value.retry_after == 300.0
    assert str(info.value) == (
        "HTTP 429 (page 1): 971 w [cf-ray 8f1c2d3e4f5a6b7c-SJC]; Retry-After 300 s"
    )


def test_html_502_is_server_error_with_snippet(decoder: ResponseDecoder) -> None:
    """An edge HTML page is a ServerError quoting its text, never a JSON error."""
    body = (SAMPLES / "html_502.html").read_bytes()
    with pytest.raises(ServerError) as info:
        decoder.decode(502, {"Content-Type": "text/html", "cf-ray": "r1"}, body, page=7)
    assert info.value.status == 502
    assert info.value.errors == ()
    assert "Bad gateway" in str(info.value)
    assert "<" not in str(info.value)


def test_html_with_200_is_format_error(decoder: ResponseDecoder) -> None:
    """A 200 that is not JSON is a ResponseFormatError naming the page."""
    with pytest.raises(ResponseFormatError) as info:
        decoder.decode(200, {"Content-Type": "text/html"}, b"<html>hi</html>", page=3)
    assert info.value.page == 3
    assert str(info.value) == "page 3: HTTP 200 body is not JSON: 'hi'"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"success": true, "result": {"invoices": [', None),
        (b"[1, 2]", None),
        (b'{"success": "yes", "result": {"invoices": []}}', "success"),
        (b'{"success": true, "result": null}', "result"),
        (b'{"success": true, "result": {"invoices": {}}}', "result.invoices"),
        (b'{"success": true, "result": {"invoices": [], "pagination": []}}', "result.pagination"),
        (
            b'{"success": true, "result": {"invoices": [], "pagination": {"page": "2"}}}',
            "result.pagination.page",
        ),
        (
            b'{"success": true, "result": {"invoices": [], "pagination": {"page": 2.5}}}',
            "result.pagination.page",
        ),
        (
            b'{"success": true, "result": {"invoices": [], "pagination": {"total_count": -1}}}',
            "result.pagination.total_count",
        ),
        (
            b'{"success": true, "result": {"invoices": [], "pagination": {"has_more": 1}}}',
            "result.pagination.has_more",
        ),
        (b'{"success": true, "result": {"invoices": [NaN]}}', None),
        (b'{"success": true, "result": {"invoices": [7]}}', "invoices[0]"),
    ],
)
def test_malformed_bodies(decoder: ResponseDecoder, body: bytes, field: str | None) -> None:
    """Every malformed body is a ResponseFormatError that names the offending field."""
    with pytest.raises(ResponseFormatError) as info:
        decoder.decode(200, JSON, body, page=5)
    assert info.value.field == field
    assert info.value.page == 5
    assert info.value.ray_id == "8f1c2d3e4f5a6b7c-SJC"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount_due": "12"}, "invoices[1].amount_due"),
        ({"amount_paid": None}, "invoices[1].amount_paid"),
        ({"currency": 5}, "invoices[1].currency"),
        ({"attempt_count": 1.5}, "invoices[1].attempt_count"),
        ({"attempted": "true"}, "invoices[1].attempted"),
        ({"created": "yesterday"}, "invoices[1].created"),
        ({"created": 10**30}, "invoices[1].created"),
        ({"amount_due": True}, "invoices[1].amount_due"),
    ],
)
def test_wrong_field_type_names_field(
    decoder: ResponseDecoder, change: dict[str, Any], field: str
) -> None:
    """An invoice field of the wrong type is reported with its path."""
    body = envelope([INVOICE, {**INVOICE, "id": "in_2", **change}], page=1)
    with pytest.raises(ResponseFormatError) as info:
        decoder.decode(200, JSON, body, page=1)
    assert info.value.field == field
    assert str(info.value).startswith(f"page 1: {field}: ")


def test_missing_required_field(decoder: ResponseDecoder) -> None:
    """A missing required field is named."""
    record = {k: v for k, v in INVOICE.items() if k != "currency"}
    with pytest.raises(ResponseFormatError) as info:
        decoder.decode(200, JSON, envelope([record]), page=1)
    assert info.value.field == "invoices[0].currency"


def test_created_iso_string_is_accepted(decoder: ResponseDecoder) -> None:
    """An ISO-8601 created timestamp is read as UTC too."""
    body = envelope([{**INVOICE, "created": "2025-01-01T00:00:00Z"}])
    page = decoder.decode(200, JSON, body, page=1)
    assert page.invoices[0].created == dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


def test_redirect_is_not_followed(decoder: ResponseDecoder) -> None:
    """A redirect is an error, never followed."""
    with pytest.raises(ResponseFormatError) as info:
        decoder.decode(302, {"Location": "https://elsewhere.example/x"}, b"", page=1)
    assert str(info.value) == (
        "page 1: HTTP 302 redirect to https://elsewhere.example/x was not followed"
    )


def test_ratelimit_headers() -> None:
    """Cloudflare's structured rate-limit headers are read."""
    headers = {"ratelimit": '"default";r=50;t=30', "Ratelimit-Policy": '"default";q=1200;w=300'}
    assert parse_ratelimit(headers) == RateLimitHeader(
        remaining=50, reset=30.0, quota=1200, window=300.0
    )
    assert parse_ratelimit({"Ratelimit": '"default";r=0;t=7'}) == RateLimitHeader(
        remaining=0, reset=7.0
    )
    assert parse_ratelimit({"Ratelimit": "garbage"}) is None
    assert parse_ratelimit({}) is None


def test_retry_after_forms() -> None:
    """Retry-After is read as seconds or as an HTTP date; junk is ignored."""
    assert parse_retry_after({"Retry-After": "120"}, now=NOW) == 120.0
    assert parse_retry_after({"retry-after": "Sat, 28 Nov 2026 12:00:30 GMT"}, now=NOW) == 30.0
    assert parse_retry_after({"Retry-After": "Sat, 28 Nov 2026 11:00:00 GMT"}, now=NOW) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}, now=NOW) is None
    assert parse_retry_after({"Retry-After": "-5"}, now=NOW) is None
    assert parse_retry_after({"Retry-After": "nan"}, now=NOW) is None
    assert parse_retry_after({}, now=NOW) is None


def test_get_header_is_case_insensitive() -> None:
    """Header lookup ignores case."""
    assert get_header({"CF-RAY": "x"}, "cf-ray") == "x"
    assert get_header({"a": "b"}, "cf-ray") is None


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        *[(s, True) for s in (408, 429, 500, 502, 524, 599)],
        *[(s, False) for s in (400, 401, 403, 404, 409, 200)],
    ],
)
def test_retryable_statuses(status: int, retryable: bool) -> None:
    """Only 408, 429 and 5xx are retried."""
    assert is_retryable_status(status) is retryable


# -- JSON decoding: exact numbers, the same bodies accepted as the standard library ---------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
)
json_documents = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=20,
)


def _json_text(value: Any) -> str:
    # json.dumps cannot write a Decimal: write its own text, which is valid JSON when finite.
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list):
        return "[" + ",".join(map(_json_text, value)) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_json_text(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


@settings(max_examples=300, deadline=None)
@given(json_documents, st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
def test_decoding_reads_what_the_standard_library_reads(value: Any, encoding: str) -> None:
    """Any JSON text decodes to exactly what json.loads(parse_float=Decimal) gives."""
    body = _json_text(value).encode(encoding)
    decoded = decode_json(body)
    assert decoded == json.loads(body, parse_float=Decimal)
    assert repr(decoded) == repr(json.loads(body, parse_float=Decimal))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b"[640.19, 1.0, 1E+5, -0.0, 7]",
            [Decimal("640.19"), Decimal("1.0"), Decimal("1E+5"), Decimal("-0.0"), 7],
        ),
        (b"123456789012345678901234567890", 123456789012345678901234567890),
        (b"1e400", Decimal("1E+400")),
        ('\ufeff{"a": 0.1}'.encode(), {"a": Decimal("0.1")}),
        ('{"a": 0.1}'.encode("utf-16"), {"a": Decimal("0.1")}),
        ('{"a": 0.1}'.encode("utf-32"), {"a": Decimal("0.1")}),
        (b'"\\ud800"', "\ud800"),
        (b'{"a": 1, "a": 2}', {"a": 2}),
    ],
)
def test_decoding_is_exact(body: bytes, expected: Any) -> None:
    """Fractions and exponents are exact Decimals, integers are int, whatever the encoding."""
    decoded = decode_json(body)
    assert decoded == expected
    assert repr(decoded) == repr(expected)


@pytest.mark.parametrize(
    ("body", "cause"),
    [
        (
            b'{"success": true, "result": {"invoices": [1e99999999999999999999]}}',
            "InvalidOperation",
        ),
        (b'{"success": true, "result": {"invoices": [' + b"9" * 5000 + b"]}}", "ValueError"),
        (b'{"success": true, "result": {"invoices": [NaN]}}', "ValueError"),
        (b'{"success": true, "result": {"invoices": [Infinity]}}', "ValueError"),
        (b'{"success": true, "result": {"invoices": []}} x', "JSONDecodeError"),
        (b'{"success": true, "result": {"invoices": ["\xff"]}}', "UnicodeDecodeError"),
        (b"[" * 100_000, "RecursionError"),
        (b"", "JSONDecodeError"),
    ],
)
def test_bad_json_is_a_format_error_never_a_decoder_exception(
    decoder: ResponseDecoder, body: bytes, cause: str
) -> None:
    """A body that is not JSON is a ResponseFormatError; no decoder's exception escapes."""
    with pytest.raises(ResponseFormatError) as info:
        decoder.decode(200, JSON, body, page=2)
    assert str(info.value).startswith("page 2: HTTP 200 body is not valid JSON: ")
    assert info.value.field is None
    assert type(info.value.__cause__).__name__ == cause
    assert not isinstance(info.value.__cause__, msgspec.MsgspecError)


def test_a_mixed_shape_page_decodes_exactly(decoder: ResponseDecoder) -> None:
    """A page whose invoices take every valid shape gives the exact invoices."""
    body = (
        b'{"success": true, "errors": [], "messages": [], "result": {"invoices": ['
        b'{"amount_due": 640.19, "amount_paid": 0, "amount_remaining": 640.19, "currency": "usd",'
        b' "id": "in_1", "attempt_count": 1.0, "created": "2025-01-01T00:00:00Z", "tax": 0.2},'
        b'{"amount_due": 5, "amount_paid": 5.0, "amount_remaining": 0, "currency": "eur",'
        b' "created": 1735689600.5, "status": null}'
        b'], "pagination": {"page": 1, "per_page": 2.0, "total_count": 2, "has_more": false}}}'
    )
    page = decoder.decode(200, JSON, body, page=1)
    first, second = page.invoices
    assert (first.amount_due, first.amount_paid, first.amount_remaining) == (
        Decimal("640.19"), Decimal(0), Decimal("640.19"))  # fmt: skip
    assert (first.attempt_count, first.extra) == (1, {"tax": Decimal("0.2")})
    assert first.created == dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    assert (second.amount_paid, second.currency, second.status) == (Decimal("5.0"), "eur", None)
    assert second.created == dt.datetime(2025, 1, 1, 0, 0, 0, 500000, tzinfo=dt.timezone.utc)
    assert page.pagination.per_page == 2


def test_a_2xx_is_left_to_decode_and_decodes_as_decode_does(decoder: ResponseDecoder) -> None:
    """receive() defers a 2xx; its decode() gives what decode() gives for the same response."""
    body = envelope([INVOICE], page=3, per_page=1, total_count=3, has_more=False)
    got = decoder.receive(200, JSON, body, page=3, now=NOW)
    assert isinstance(got, Received)
    assert repr(got) == f"<Received page=3 status=200 bytes={len(body)}>"
    assert got.decode() == decoder.decode(200, JSON, body, page=3, now=NOW)
    assert decoded(got) == got.decode()
    assert len(got.decode().invoices) == 1


@pytest.mark.parametrize("status", [400, 429, 500, 503, 302])
def test_a_response_that_is_not_a_2xx_is_decoded_at_once(
    decoder: ResponseDecoder, status: int
) -> None:
    """An error (which may be retried) is raised by receive() itself, as by decode()."""
    with pytest.raises((APIError, ResponseFormatError)) as expected:
        decoder.decode(status, JSON, b"{}", page=1, now=NOW)
    with pytest.raises(type(expected.value)) as caught:
        decoder.receive(status, JSON, b"{}", page=1, now=NOW)
    assert str(caught.value) == str(expected.value)
