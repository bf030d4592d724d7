"""The refusals a request can meet before it is served: credentials, parameters, quota.

Pure functions over headers and query parameters, each returning the error `Reply`
Cloudflare would send, or None when the request passes (docs/cloudflare-api.md, "Errors" and
"Authentication"). The server calls them in the order the checks sit in Cloudflare's stack.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any, Final, Literal

import attrs

from ._data import TYPES
from ._reply import Reply, error_reply

__all__ = [
    "PER_PAGE_LIMITS",
    "UNNAMED_PER_PAGE",
    "Credentials",
    "PerPageLimit",
    "authenticate",
    "bad_query",
    "parse_int",
    "per_page_refusal",
    "rate_limited",
    "validate_invoice_query",
]

#: Characters Cloudflare API tokens are made of; anything else is a malformed header.
_TOKEN: Final = re.compile(r"[A-Za-z0-9_-]+")
_INTEGER: Final = re.compile(r"-?[0-9]{1,18}")
_RATE_LIMITED: Final = "Please wait and consider throttling your request speed"
_MISSING_CREDENTIALS: Final = "Missing X-Auth-Key, X-Auth-Email or Authorization headers"
_AUTHENTICATION_ERROR: Final = [{"code": 10000, "message": "Authentication error"}]


@attrs.frozen(kw_only=True)
class Credentials:
    """The credentials a server accepts; the secrets never show in a repr.

    Attributes:
        api_token: The token for ``Authorization: Bearer``.
        api_email: The email for the legacy ``X-Auth-Email`` header.
        api_key: The global API key for the legacy ``X-Auth-Key`` header.
    """

    api_token: str = attrs.field(repr=False)
    api_email: str
    api_key: str = attrs.field(repr=False)


def authenticate(headers: Mapping[str, str], credentials: Credentials) -> Reply | None:
    """Return the error reply for missing, malformed or wrong credentials, else None.

    A Bearer token takes precedence over legacy headers sent alongside it.

    Args:
        headers: The request headers (case-insensitive lookup).
        credentials: What the server accepts.
    """
    authorization = headers.get("Authorization")
    email = headers.get("X-Auth-Email")
    key = headers.get("X-Auth-Key")
    if authorization is None and email is None and key is None:
        return error_reply(400, [{"code": 9106, "message": _MISSING_CREDENTIALS}])
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        # RFC 9110 section 11.1: the auth-scheme is case-insensitive.
        if scheme.lower() != "bearer" or not _TOKEN.fullmatch(token):
            return error_reply(400, _malformed(6111, "Invalid format for Authorization header"))
        if not secrets.compare_digest(token, credentials.api_token):
            return error_reply(403, _AUTHENTICATION_ERROR)
        return None
    if email is None or "@" not in email:
        return error_reply(400, _malformed(6102, "Invalid format for X-Auth-Email header"))
    if key is None or not _TOKEN.fullmatch(key):
        return error_reply(400, _malformed(6103, "Invalid format for X-Auth-Key header"))
    if email != credentials.api_email or not secrets.compare_digest(key, credentials.api_key):
        return error_reply(403, _AUTHENTICATION_ERROR)
    return None


PerPageLimit = Literal["named", "unnamed", "clamp", "clamp-asked"]
"""What a server does with a ``per_page`` above its maximum (see `FakeCloudflare`)."""

PER_PAGE_LIMITS: Final = ("named", "unnamed", "clamp", "clamp-asked")

#: The refusal of a server that does not say what it accepts: no number in it.
UNNAMED_PER_PAGE: Final = "per_page variable is out of range"


def per_page_refusal(least: int, most: int, limit: PerPageLimit) -> str:
    """The message of the 6008 refusal of a ``per_page`` outside ``least``..``most``.

    ``"named"`` names the range, as Cloudflare does (docs/cloudflare-api.md, "The endpoint");
    ``"unnamed"`` names no number, so a client cannot read the maximum from it. The clamping
    behaviours refuse only what is below ``least``, and name the range for it.
    """
    if limit == "unnamed":
        return UNNAMED_PER_PAGE
    return f"per_page variable must be a number between {least} and {most}"


def validate_invoice_query(
    query: Mapping[str, str], max_per_page: int, limit: PerPageLimit = "named"
) -> Reply | None:
    """Check ``type``, ``page`` and ``per_page`` of an invoice-history request.

    Out of range is rejected, not clamped (docs/cloudflare-api.md, "The endpoint" [O]), unless
    ``limit`` is one of the clamping behaviours: a larger ``per_page`` is then accepted and
    served as ``max_per_page``.

    Args:
        query: The query parameters.
        max_per_page: The largest ``per_page`` accepted (served, when clamping).
        limit: What a ``per_page`` above ``max_per_page`` gets.
    """
    if query.get("type", "all") not in TYPES:
        return bad_query("type must be one of: auto, manual, all")
    if "page" in query:
        page = parse_int(query["page"])
        if page is None or page < 1:
            return bad_query("page variable must be a number greater than or equal to 1")
    if "per_page" in query:
        per_page = parse_int(query["per_page"])
        clamps = limit in ("clamp", "clamp-asked")
        if per_page is None or per_page < 1 or (per_page > max_per_page and not clamps):
            return bad_query(per_page_refusal(1, max_per_page, limit))
    return None


def rate_limited() -> Reply:
    """Return the 429 / 971 reply of a request over the limit (headers added by the server)."""
    return error_reply(429, [{"code": 971, "message": _RATE_LIMITED}])


def bad_query(message: str) -> Reply:
    """Return the 400 / 6008 reply with ``message`` in an 11000 chain entry.

    Args:
        message: What is wrong with the parameters.
    """
    return error_reply(
        400,
        [
            {
                "code": 6008,
                "message": "Invalid request parameters",
                "error_chain": [{"code": 11000, "message": message}],
            }
        ],
    )


def parse_int(text: str | None) -> int | None:
    """Parse a query integer strictly: digits only (``2.0``, `` 2`` and ``+2`` are not).

    Args:
        text: The parameter's value, or None when absent.
    """
    if text is None or not _INTEGER.fullmatch(text):
        return None
    return int(text)


def _malformed(code: int, message: str) -> list[dict[str, Any]]:
    return [
        {
            "code": 6003,
            "message": "Invalid request headers",
            "error_chain": [{"code": code, "message": message}],
        }
    ]
