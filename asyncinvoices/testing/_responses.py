"""Response bodies exactly as Cloudflare renders them: success and failure envelopes, and
the edge's HTML error pages. Pure functions returning bytes.

The success envelope is assembled from byte pieces around an already rendered invoice array
(``_data.AccountData.render_array``), so that no invoice is ever re-encoded here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, Final, Literal

import attrs

__all__ = [
    "HTML_STATUSES",
    "Pagination",
    "error_body",
    "error_for_status",
    "html_error_page",
    "no_route",
    "success_body",
]

_SUCCESS_HEAD: Final = b'{"success":true,"errors":[],"messages":[],"result":{"invoices":'


@attrs.frozen(kw_only=True)
class Pagination:
    """The four pagination numbers, and how to render them.

    Attributes:
        has_more: Whether a later page has invoices.
        page: The page number claimed.
        per_page: The page size claimed.
        total_count: The count claimed; None omits the key.
        floats: Render the three numbers as floats (``2.0``): the schema types them as
            ``number`` and the official SDKs use float (docs/cloudflare-api.md, "Response
            envelope").
    """

    has_more: bool
    page: int
    per_page: int
    total_count: int | None
    floats: bool = False

    def render(self) -> bytes:
        """Return the JSON object text, keys in Cloudflare's order."""
        number = "{}.0" if self.floats else "{}"
        parts = [
            f'"has_more":{"true" if self.has_more else "false"}',
            f'"page":{number.format(self.page)}',
            f'"per_page":{number.format(self.per_page)}',
        ]
        if self.total_count is not None:
            parts.append(f'"total_count":{number.format(self.total_count)}')
        return ("{" + ",".join(parts) + "}").encode()


def success_body(
    invoices: bytes | memoryview,
    pagination: Pagination,
    where: Literal["both", "result", "result_info", "none"] = "both",
) -> tuple[bytes, int, int]:
    """Return the success envelope and where the invoice array sits in it.

    Args:
        invoices: The rendered JSON array of invoices.
        pagination: The numbers to report.
        where: ``"both"`` as the real API (``result.pagination`` and ``result_info``), or
            only one of them, or neither.

    Returns:
        ``(body, start, end)`` with ``body[start:end] == invoices``, so a cached body can
        give its array back without re-rendering.
    """
    rendered = pagination.render()
    in_result = where in ("both", "result")
    in_info = where in ("both", "result_info")
    body = b"".join(
        (
            _SUCCESS_HEAD,
            invoices,
            b',"pagination":' + rendered if in_result else b"",
            b"}",
            b',"result_info":' + rendered if in_info else b"",
            b"}",
        )
    )
    return body, len(_SUCCESS_HEAD), len(_SUCCESS_HEAD) + len(invoices)


def error_body(errors: Sequence[dict[str, Any]]) -> bytes:
    """Return the failure envelope (docs/cloudflare-api.md, "Errors" [D]).

    Args:
        errors: The entries of ``errors``: ``code``, ``message`` and optionally
            ``error_chain``.
    """
    envelope = {"success": False, "errors": list(errors), "messages": [], "result": None}
    return json.dumps(envelope, separators=(",", ":")).encode()


def no_route(path: str) -> list[dict[str, Any]]:
    """Return the errors Cloudflare sends when it cannot route ``path``.

    Args:
        path: The path after ``/client/v4``.
    """
    return [
        {
            "code": 7003,
            "message": f"Could not route to {path}, perhaps your object identifier is invalid?",
        },
        {"code": 7000, "message": "No route for that URI"},
    ]


#: Cloudflare error codes for statuses a `Fault.status` may send. Auth, routing, parameter
#: and rate-limit codes are from docs/cloudflare-api.md ("Errors"); 10405 and 10001 are what the
#: v4 API is commonly seen to send for a wrong method and an internal error [I].
_CODES: Final = {
    400: (6008, "Invalid request parameters"),
    401: (10000, "Authentication error"),
    403: (10000, "Authentication error"),
    405: (10405, "Method not allowed"),
    429: (971, "Please wait and consider throttling your request speed"),
    503: (10001, "Service unavailable"),
}


def error_for_status(status: int, path: str) -> list[dict[str, Any]]:
    """Return the ``errors`` a Cloudflare JSON error response of ``status`` carries.

    Args:
        status: A 4xx or 5xx HTTP status.
        path: The request path after ``/client/v4`` (for the 404 message).
    """
    if status == 404:
        return no_route(path)
    if status in _CODES:
        code, message = _CODES[status]
    elif status >= 500:
        code, message = 10001, "An internal error occurred"
    else:
        code, message = _CODES[400]
    return [{"code": code, "message": message}]


#: Statuses the Cloudflare edge answers with an HTML page instead of JSON
#: (docs/cloudflare-api.md, "Errors": "the edge returns HTML pages for 502 and 520-524" [O]).
HTML_STATUSES: Final = frozenset({502, 520, 521, 522, 523, 524})

_EDGE_TITLES: Final = {
    502: "Bad gateway",
    520: "Web server is returning an unknown error",
    521: "Web server is down",
    522: "Connection timed out",
    523: "Origin is unreachable",
    524: "A timeout occurred",
}


def html_error_page(status: int, ray: str) -> bytes:
    """Return an HTML error page like the Cloudflare edge's for 502 and 520-524.

    Args:
        status: The HTTP status.
        ray: The ``cf-ray`` value, which the real page shows as "Cloudflare Ray ID".
    """
    try:
        title = _EDGE_TITLES[status]
    except KeyError:
        title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
    ray_id = ray.split("-")[0]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en-US">\n<head>\n<meta charset="UTF-8" />\n'
        f"<title>api.cloudflare.com | {status}: {title}</title>\n"
        "</head>\n<body>\n"
        f'<div id="cf-error-details"><h1><span>{title}</span> '
        f"<span>Error code {status}</span></h1>\n"
        f"<p>Cloudflare Ray ID: <strong>{ray_id}</strong></p></div>\n"
        "</body>\n</html>\n"
    ).encode()
