"""The wire protocol of the invoice-history endpoint, without any I/O.

Pure functions over plain values, in the manner of gidgethub's ``sansio`` module: build a
request's URL, query and headers; turn ``(status, headers, body)`` into an
:class:`InvoicePage` or a typed exception; read the rate-limit headers. Nothing here touches
the network or the clock (``now`` is passed in), so the tests drive it synchronously with
recorded responses.

The facts enforced here come from docs/cloudflare-api.md, cited by section next to each rule.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs
import msgspec

from asyncinvoices._errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    CloudflareErrorDetail,
    NotFoundError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
)
from asyncinvoices._models import InvoicePage, InvoiceType, Pagination

from .converter import InvoiceStructurer, OutOfRange, whole_number

__all__ = [
    "DECODE_ERRORS",
    "RateLimitHeader",
    "Received",
    "ResponseDecoder",
    "decode_envelope",
    "decode_json",
    "decoded",
    "error_for_status",
    "get_header",
    "invoice_history_path",
    "is_retryable_status",
    "non_negative_int",
    "parse_errors",
    "parse_ratelimit",
    "parse_retry_after",
    "query_params",
    "raise_for_error",
    "snippet",
]

# docs/cloudflare-api.md, "Errors": classify by Cloudflare code first, HTTP status second.
_AUTH_CODES = frozenset({6003, 6102, 6103, 6111, 9106, 9109, 10000})
_NOT_FOUND_CODES = frozenset({7000, 7003})
_RATE_LIMIT_CODES = frozenset({971})

# How much of a non-JSON body (an edge HTML page) to quote in an error message.
_SNIPPET = 200


def invoice_history_path(account_id: str) -> str:
    """Return the endpoint's path below the API base URL for ``account_id``.

    The account id must already be validated (see ``_config.validate_account_id``): it is
    inserted verbatim.
    """
    return f"/accounts/{account_id}/ai-gateway/billing/invoice-history"


def query_params(*, page: int, per_page: int, type: InvoiceType) -> dict[str, str]:
    """Return the query string of one page request.

    ``page`` is 1-based and ``per_page`` is Cloudflare's V4 convention; the endpoint's docs
    list only ``type`` (docs/cloudflare-api.md, "The endpoint"). ``type=all`` is the default and
    is still sent, so that every request says what it asks for.
    """
    return {"type": type, "page": str(page), "per_page": str(per_page)}


def get_header(headers: Mapping[str, str], name: str) -> str | None:
    """Return the header ``name`` from ``headers``, case-insensitively, or ``None``."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


@attrs.frozen(kw_only=True)
class RateLimitHeader:
    """What Cloudflare's ``Ratelimit`` and ``Ratelimit-Policy`` headers say.

    docs/cloudflare-api.md, "Rate limits": ``Ratelimit: "default";r=<remaining>;t=<seconds>`` and
    ``Ratelimit-Policy: "<name>";q=<quota>;w=<window>``.

    Attributes:
        remaining: Requests left in the current window.
        reset: Seconds until the window frees up.
        quota: The policy's request quota, when the policy header is present.
        window: The policy's window in seconds, when the policy header is present.
    """

    remaining: int
    reset: float
    quota: int | None = None
    window: float | None = None


_PARAM = re.compile(r";\s*([a-z]+)\s*=\s*([0-9]+(?:\.[0-9]+)?)", re.IGNORECASE)


def _params(value: str) -> dict[str, str]:
    # A structured-field item: `"name";key=value;key=value`. Only the first list member is
    # read; Cloudflare sends one.
    first = value.split(",", 1)[0]
    return {k.lower(): v for k, v in _PARAM.findall(first)}


def parse_ratelimit(headers: Mapping[str, str]) -> RateLimitHeader | None:
    """Read the ``Ratelimit`` headers, or return ``None`` when absent or unreadable."""
    value = get_header(headers, "Ratelimit")
    if value is None:
        return None
    params = _params(value)
    if "r" not in params or "t" not in params:
        return None
    remaining, reset = _header_number(params["r"]), _header_number(params["t"])
    if remaining is None or reset is None:
        return None
    quota: int | None = None
    window: float | None = None
    policy = get_header(headers, "Ratelimit-Policy")
    if policy is not None:
        policy_params = _params(policy)
        q = _header_number(policy_params.get("q"))
        quota = None if q is None else int(q)
        window = _header_number(policy_params.get("w"))
    return RateLimitHeader(remaining=int(remaining), reset=reset, quota=quota, window=window)


# No quota, count or number of seconds Cloudflare sends comes near this; a value beyond it is
# garbage, and turning 400 digits into an int would raise OverflowError via float('inf').
_HEADER_NUMBER_MAX = 1e15


def _header_number(text: str | None) -> float | None:
    if text is None:
        return None
    value = float(text)  # _PARAM only matches digits with an optional fraction
    return value if value <= _HEADER_NUMBER_MAX else None


def parse_retry_after(headers: Mapping[str, str], *, now: dt.datetime) -> float | None:
    """Return the seconds a ``Retry-After`` header asks to wait, or ``None``.

    Cloudflare sends whole seconds (docs/cloudflare-api.md, "Rate limits"); an HTTP date is
    accepted too, as RFC 9110 section 10.2.3 allows (https://www.rfc-editor.org/rfc/rfc9110).

    Args:
        headers: The response headers.
        now: The current time, timezone-aware, to turn a date into seconds.
    """
    value = get_header(headers, "Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        return max(0.0, (when - now).total_seconds())
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        return None
    return seconds


def is_retryable_status(status: int) -> bool:
    """Whether a response with this status may succeed if sent again.

    408, 429 and every 5xx; never another 4xx, which would fail the same way again.
    """
    return status in (408, 429) or 500 <= status <= 599


def _detail(raw: object) -> CloudflareErrorDetail | None:
    if not isinstance(raw, dict):
        return None
    code = raw.get("code")
    if isinstance(code, bool) or not isinstance(code, (int, Decimal)):
        return None
    try:
        code = int(code)
    except (ValueError, ArithmeticError):
        return None
    message = raw.get("message")
    url = raw.get("documentation_url")
    chain_raw = raw.get("error_chain")
    chain = tuple(
        d for d in (_detail(c) for c in (chain_raw if isinstance(chain_raw, list) else [])) if d
    )
    return CloudflareErrorDetail(
        code=code,
        message=message if isinstance(message, str) else "",
        documentation_url=url if isinstance(url, str) else None,
        chain=chain,
    )


def parse_errors(payload: object) -> tuple[CloudflareErrorDetail, ...]:
    """Return the ``errors`` of a decoded envelope, skipping entries that are not well-formed."""
    if not isinstance(payload, dict):
        return ()
    raw = payload.get("errors")
    if not isinstance(raw, list):
        return ()
    return tuple(d for d in (_detail(e) for e in raw) if d is not None)


def error_for_status(
    status: int,
    errors: tuple[CloudflareErrorDetail, ...],
    *,
    ray_id: str | None,
    page: int | None,
    retry_after: float | None = None,
    snippet: str | None = None,
) -> APIError:
    """Build the typed exception for an error response.

    Classified by Cloudflare error code first and HTTP status second (docs/cloudflare-api.md,
    "Errors"): a 400 carrying 9106 is an authentication problem, a 400 carrying 7003 means
    the account does not exist.

    Args:
        status: The HTTP status.
        errors: The envelope's ``errors``, possibly empty.
        ray_id: The ``cf-ray`` header.
        page: The page requested.
        retry_after: Seconds from ``Retry-After``, for rate-limit errors.
        snippet: The start of a non-JSON body, quoted in the message.
    """
    codes: set[int] = set()
    for error in errors:
        codes.update(error.codes())
    cls: type[APIError]
    if codes & _RATE_LIMIT_CODES or status == 429:
        cls = RateLimitError
    elif codes & _AUTH_CODES:
        cls = AuthenticationError
    elif codes & _NOT_FOUND_CODES:
        cls = NotFoundError
    elif status >= 500 or status == 408:
        cls = ServerError
    elif status in (401, 403):
        cls = AuthenticationError
    elif status == 404:
        cls = NotFoundError
    elif 400 <= status < 500:
        cls = BadRequestError
    else:
        cls = APIError
    described = "; ".join(_describe_detail(e) for e in errors) or snippet or "no details"
    where = f" (page {page})" if page is not None else ""
    ray = f" [cf-ray {ray_id}]" if ray_id else ""
    message = f"HTTP {status}{where}: {described}{ray}"
    if cls is RateLimitError:
        if retry_after is not None:
            message += f"; Retry-After {retry_after:g} s"
        return RateLimitError(
            message, status=status, errors=errors, ray_id=ray_id, page=page, retry_after=retry_after
        )
    return cls(message, status=status, errors=errors, ray_id=ray_id, page=page)


def _describe_detail(detail: CloudflareErrorDetail) -> str:
    text = str(detail)
    if detail.chain:
        text += " (" + ", ".join(_describe_detail(c) for c in detail.chain) + ")"
    return text


def _reject_constant(name: str) -> Any:
    # JSON has no NaN or Infinity; Python's decoder accepts them unless told otherwise.
    raise ValueError(f"{name} is not valid JSON")


# msgspec hands every JSON number with a fraction or an exponent to `float_hook` as its text,
# so amounts such as 640.19 become exact Decimals and never pass through a binary float
# (docs/cloudflare-api.md, "Response envelope"); integers come as int. It decodes a page of 1,000
# invoices in about half the time of `json.loads(parse_float=Decimal)` (docs/benchmarks.md).
_MSGSPEC_DECODER = msgspec.json.Decoder(float_hook=Decimal)

# What decoding a body may raise: malformed JSON, nesting deeper than the decoder's limit, and
# decimal's InvalidOperation (an ArithmeticError) for an exponent beyond Decimal's range.
DECODE_ERRORS = (ValueError, RecursionError, ArithmeticError)


def decode_json(body: bytes) -> Any:
    """Decode a JSON body, numbers with a fraction or exponent as exact Decimals.

    Raises:
        ValueError: The body is not JSON (a ``json.JSONDecodeError`` or ``UnicodeDecodeError``).
        RecursionError: The body nests too deeply.
        ArithmeticError: A number's exponent is beyond what Decimal can hold.
    """
    try:
        return _MSGSPEC_DECODER.decode(body)
    except msgspec.DecodeError:
        # msgspec reads only UTF-8 without a byte order mark and refuses lone surrogate
        # escapes and integers of more than 4300 digits: the standard library decides those,
        # so the bodies accepted and the values read are exactly what they always were, and
        # no msgspec exception leaves the package.
        pass
    return json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)


def raise_for_error(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    payload: object,
    *,
    page: int,
    ray_id: str | None,
    now: dt.datetime,
) -> None:
    """Raise the typed error of an error response; return for any other.

    An error response is a 4xx or 5xx, or an envelope with ``"success": false`` whatever the
    status (docs/cloudflare-api.md, "Errors"). Every endpoint classifies it the same way.

    Args:
        status: The HTTP status.
        headers: The response headers, for ``Retry-After``.
        body: The whole body, quoted when it names no Cloudflare error.
        payload: The decoded JSON body, or None when it is not JSON.
        page: The page asked for, for the error.
        ray_id: The ``cf-ray`` header, for the error.
        now: The current UTC time, to read a ``Retry-After`` given as a date.

    Raises:
        APIError: A subclass chosen by :func:`error_for_status`.
    """
    if status >= 400 or (isinstance(payload, dict) and payload.get("success") is False):
        errors = parse_errors(payload)
        raise error_for_status(
            status,
            errors,
            ray_id=ray_id,
            page=page,
            retry_after=parse_retry_after(headers, now=now),
            snippet=None if errors else snippet(body),
        )


def _is_json(content_type: str | None) -> bool:
    if content_type is None:
        # Some proxies drop the header; try the body rather than refuse it outright.
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def snippet(body: bytes) -> str:
    """Quote the start of a body that is not what was expected, tags dropped, for a message."""
    text = body[:_SNIPPET].decode("utf-8", "replace")
    text = re.sub(r"<[^>]*>", " ", text)
    text = " ".join(text.split())
    return repr(text[:_SNIPPET]) if text else "an empty body"


def non_negative_int(value: object, *, field: str, page: int) -> int | None:
    """Read a count or page number of a paging block: ``None`` stays ``None``.

    Whole numbers as :func:`~.converter.whole_number` reads them, and never negative; the
    same rule for the invoice endpoint's pagination and the account listing's.

    Raises:
        ResponseFormatError: Naming ``field``, for anything else.
    """
    if value is None:
        return None
    try:
        number = whole_number(value)
    except TypeError:
        problem = f"{type(value).__name__}, not a number"
    except OutOfRange:
        problem = f"{value:.3E}, too large"
    except ValueError:
        problem = f"{value}, not a whole number"
    else:
        if number >= 0:
            return number
        problem = f"negative ({number})"
    raise ResponseFormatError(f"page {page}: {field} is {problem}", page=page, field=field)


def _pagination(block: object, *, where: str, page: int) -> Pagination | None:
    if block is None:
        return None
    if not isinstance(block, dict):
        raise ResponseFormatError(
            f"page {page}: {where} is {type(block).__name__}, not an object", page=page, field=where
        )
    has_more = block.get("has_more")
    if has_more is not None and not isinstance(has_more, bool):
        raise ResponseFormatError(
            f"page {page}: {where}.has_more is {type(has_more).__name__}, not a boolean",
            page=page,
            field=f"{where}.has_more",
        )
    return Pagination(
        page=non_negative_int(block.get("page"), field=f"{where}.page", page=page),
        per_page=non_negative_int(block.get("per_page"), field=f"{where}.per_page", page=page),
        total_count=non_negative_int(
            block.get("total_count"), field=f"{where}.total_count", page=page
        ),
        has_more=has_more,
    )


def decode_envelope(
    status: int, headers: Mapping[str, str], body: bytes, *, page: int, now: dt.datetime
) -> tuple[dict[str, Any], str | None]:
    """Decode a response of any endpoint up to its envelope: the one path every decoder takes.

    A redirect, an error status or ``"success": false`` (classified by
    :func:`raise_for_error`), a body that is not JSON or not valid JSON (quoted), a JSON
    value that is not an object and an envelope without ``"success": true`` fail here, the
    same way for every endpoint; each decoder reads only its own ``result`` from what this
    returns.

    Args:
        status: The HTTP status.
        headers: The response headers (any case).
        body: The whole response body.
        page: The page number that was requested.
        now: The current UTC time, to read a ``Retry-After`` given as a date.

    Returns:
        The decoded envelope, a successful one, and the ``cf-ray`` header.

    Raises:
        APIError: A subclass chosen by :func:`error_for_status` for error responses.
        ResponseFormatError: If the body is not a successful JSON envelope.
    """
    ray_id = get_header(headers, "cf-ray")
    is_json = _is_json(get_header(headers, "Content-Type"))
    if 300 <= status < 400:
        location = get_header(headers, "Location") or "nowhere"
        raise ResponseFormatError(
            f"page {page}: HTTP {status} redirect to {location} was not followed",
            page=page,
            ray_id=ray_id,
        )
    payload: Any = None
    decode_error: Exception | None = None
    if is_json:
        try:
            payload = decode_json(body)
        except DECODE_ERRORS as exc:
            decode_error = exc
    raise_for_error(status, headers, body, payload, page=page, ray_id=ray_id, now=now)
    if not is_json or decode_error is not None:
        what = "is not valid JSON" if is_json else "is not JSON"
        raise ResponseFormatError(
            f"page {page}: HTTP {status} body {what}: {snippet(body)}",
            page=page,
            ray_id=ray_id,
        ) from decode_error
    if not isinstance(payload, dict):
        raise ResponseFormatError(
            f"page {page}: the body is a JSON {type(payload).__name__}, not an object",
            page=page,
            ray_id=ray_id,
        )
    if payload.get("success") is not True:
        raise ResponseFormatError(
            f"page {page}: the envelope has no 'success': true",
            page=page,
            field="success",
            ray_id=ray_id,
        )
    return payload, ray_id


@attrs.frozen(kw_only=True, repr=False)
class Received:
    """A successful response to a page request, decoded when the walk reaches its page.

    The walk reads pages ahead of the one it delivers. Held as the body's bytes, a page ahead
    costs a fraction of the memory of its invoices, and the invoices come to life just before
    the consumer reads them: still in the processor's cache, and usually freed before the
    garbage collector has promoted them to an older generation (see ``docs/benchmarks.md``).
    A response that could be retried is never deferred: only a 2xx is, and nothing in a 2xx
    is worth sending the request again for.

    Attributes:
        status: The HTTP status, 2xx.
        headers: The response headers.
        body: The whole body.
        page: The page number that was requested.
        now: When it was received, for :meth:`ResponseDecoder.decode`.
        decoder: The decoder that decodes it.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes
    page: int
    now: dt.datetime
    decoder: ResponseDecoder

    def decode(self) -> InvoicePage:
        """Decode the response, as :meth:`ResponseDecoder.decode` does."""
        return self.decoder.decode(
            self.status, self.headers, self.body, page=self.page, now=self.now
        )

    def __repr__(self) -> str:
        return f"<Received page={self.page} status={self.status} bytes={len(self.body)}>"


def decoded(got: InvoicePage | Received) -> InvoicePage:
    """The page itself: ``got``, or what it decodes to."""
    return got if isinstance(got, InvoicePage) else got.decode()


class ResponseDecoder:
    """Turns one HTTP response of the endpoint into an :class:`InvoicePage` or an exception.

    Holds the (reusable, stateless) cattrs structurer, so build one and reuse it.
    """

    def __init__(self) -> None:
        self._structurer = InvoiceStructurer()

    def decode(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        page: int,
        now: dt.datetime | None = None,
    ) -> InvoicePage:
        """Decode a response to the request for ``page``: its envelope as every endpoint's
        (:func:`decode_envelope`, whose arguments these are; ``now`` defaults to the current
        time), then ``result.invoices`` and the pagination.

        Raises:
            APIError: A subclass chosen by :func:`error_for_status` for error responses.
            ResponseFormatError: If the body is not the documented envelope.
        """
        when = now or dt.datetime.now(dt.timezone.utc)
        payload, ray_id = decode_envelope(status, headers, body, page=page, now=when)
        return self._page(payload, page=page, ray_id=ray_id)

    def receive(
        self, status: int, headers: Mapping[str, str], body: bytes, *, page: int, now: dt.datetime
    ) -> InvoicePage | Received:
        """Defer the decoding of a 2xx response to :meth:`Received.decode`; decode any other.

        Raises:
            APIError: As :meth:`decode`, for an error response.
            ResponseFormatError: As :meth:`decode`, for a response that is not a 2xx.
        """
        if 200 <= status < 300:
            return Received(
                status=status, headers=headers, body=body, page=page, now=now, decoder=self
            )
        return self.decode(status, headers, body, page=page, now=now)

    def _page(self, payload: dict[str, Any], *, page: int, ray_id: str | None) -> InvoicePage:
        def bad(message: str, field: str | None) -> ResponseFormatError:
            return ResponseFormatError(
                f"page {page}: {message}", page=page, field=field, ray_id=ray_id
            )

        result = payload.get("result")
        if not isinstance(result, dict):
            raise bad("'result' is missing or not an object", "result")
        raw_invoices = result.get("invoices")
        if not isinstance(raw_invoices, list):
            raise bad("'result.invoices' is missing or not a list", "result.invoices")
        try:
            pagination = _pagination(
                result.get("pagination"), where="result.pagination", page=page
            ) or _pagination(payload.get("result_info"), where="result_info", page=page)
        except ResponseFormatError as exc:
            exc.ray_id = ray_id
            raise
        try:
            invoices = self._structurer.structure_all(raw_invoices, page=page)
        except ResponseFormatError as exc:
            exc.ray_id = ray_id
            raise
        return InvoicePage(
            number=page,
            invoices=invoices,
            pagination=pagination or Pagination(),
            ray_id=ray_id,
        )
