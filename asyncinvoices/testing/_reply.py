"""What the server does with one request, and what a fault is given to decide it.

The server decides every reply synchronously when a request arrives (see ``_endpoints.py``);
a fault builds its reply from an `Exchange` in one call, and the server then only waits and
writes. Keeping the reply a plain value is what lets faults stay free of aiohttp.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, Literal

import attrs

from ._data import AccountData, InvoiceType
from ._responses import error_body

__all__ = ["HTML", "JSON", "Exchange", "Reply", "error_reply"]

JSON: Final = "application/json"
HTML: Final = "text/html; charset=UTF-8"


@attrs.define(kw_only=True)
class Reply:
    """What to do with one request, decided at arrival.

    Attributes:
        status: The HTTP status to send (0 for a reset: nothing is sent).
        body: The body; an HTML error page is rendered by the server, which knows the ray.
        content_type: The ``Content-Type`` header.
        headers: Extra headers (``Retry-After``, then ``cf-ray`` and rate-limit headers).
        action: ``respond`` normally, ``reset`` the connection with no response, ``close``
            it cleanly with no response, or ``truncate`` the body half way.
        delay: Seconds to wait before writing, on top of the server's latency.
        fault: The kinds of the faults applied, joined with ``+``; None when none was.
    """

    status: int
    body: bytes = b""
    content_type: str = JSON
    headers: dict[str, str] = attrs.Factory(dict)
    action: Literal["respond", "reset", "close", "truncate"] = "respond"
    delay: float = 0.0
    fault: str | None = None


@attrs.frozen(kw_only=True)
class Exchange:
    """One valid request, as a fault sees it when building its reply.

    Attributes:
        path: The request path after ``/client/v4`` (for routing error messages).
        page: The page asked for (1 when the query has none).
        per_page: The page size asked for (the server's default when the query has none).
        render: ``render(page, per_page)`` returns the normal body of that page and where
            its list sits in it, as ``(body, start, end)``.
        account: For the invoice endpoint, the account's data, already changed by this
            request's data faults; None for the account listing.
        type: The ``type`` filter asked for (invoice endpoint).
    """

    path: str
    page: int
    per_page: int
    render: Callable[[int, int], tuple[bytes, int, int]]
    account: AccountData | None = None
    type: InvoiceType = "all"

    def invoice_account(self) -> AccountData:
        """Return the account of an invoice-history request.

        Raises:
            RuntimeError: For the account listing, which no invoice-shaping fault is
                offered (see ``Fault.any_endpoint``).
        """
        if self.account is None:
            raise RuntimeError(f"{self.path} is not an invoice-history request")
        return self.account

    def normal(self) -> Reply:
        """Return the reply the real API would send: 200 with the requested page."""
        return Reply(status=200, body=self.render(self.page, self.per_page)[0])


def error_reply(status: int, errors: Sequence[dict[str, Any]]) -> Reply:
    """Return a failure envelope reply.

    Args:
        status: The HTTP status.
        errors: The entries of the envelope's ``errors``.
    """
    return Reply(status=status, body=error_body(errors))
