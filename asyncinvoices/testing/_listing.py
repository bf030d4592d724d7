"""``GET /accounts``: the account listing as Cloudflare renders it. Pure functions and values.

docs/cloudflare-api.md, "Listing accounts": ``page`` (1-based) and ``per_page`` (default 20, at
most 50 [D]; the least accepted is 5 in some copies of the schema [I], which the fake
enforces, so that a client relying on smaller pages finds out here), ``direction`` =
``asc`` | ``desc`` and a ``name`` filter [D]. ``result`` is a LIST of accounts and the paging
lives in ``result_info`` only (``page``, ``per_page``, ``count``, ``total_count``,
``total_pages``); there is no ``has_more`` [D].
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import attrs

from ._checks import PerPageLimit, per_page_refusal

__all__ = [
    "LISTING_DEFAULT_PER_PAGE",
    "LISTING_MAX_PER_PAGE",
    "LISTING_MIN_PER_PAGE",
    "AccountInfo",
    "ListingQuery",
    "listing_body",
    "parse_listing_query",
]

LISTING_DEFAULT_PER_PAGE: Final = 20
LISTING_MAX_PER_PAGE: Final = 50
LISTING_MIN_PER_PAGE: Final = 5


@attrs.frozen(kw_only=True)
class AccountInfo:
    """One account as the listing shows it.

    Attributes:
        id: The 32-hexadecimal-character account id.
        name: The account's name (what ``name=`` filters on).
        type: ``"standard"`` or ``"enterprise"``.
        created_on: When it was created, as Unix seconds.
        readable: Whether the server's token may read it; an unreadable account is left out
            of the listing and its invoice history answers 403 / 10000.
    """

    id: str
    name: str
    type: Literal["standard", "enterprise"]
    created_on: int
    readable: bool = True

    def to_json(self) -> dict[str, Any]:
        """Return the account object of the listing (docs/cloudflare-api.md, "Listing accounts")."""
        created = dt.datetime.fromtimestamp(self.created_on, tz=dt.timezone.utc)
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "settings": {
                "enforce_twofactor": False,
                "api_access_enabled": None,
                "use_account_custom_ns_by_default": False,
                "abuse_contact_email": None,
            },
            # Cloudflare's own example writes four fractional digits: 2014-03-01T12:21:02.0000Z.
            "created_on": created.strftime("%Y-%m-%dT%H:%M:%S.0000Z"),
        }


@attrs.frozen(kw_only=True)
class ListingQuery:
    """The valid query of one listing request.

    Attributes:
        page: The page asked for (1 when absent).
        per_page: The page size served (20 when absent).
        claimed_per_page: The page size ``result_info`` reports when not ``per_page``: the
            size asked for, by a server that clamps while echoing it.
        name: The name filter, or None.
        direction: ``"asc"`` or ``"desc"`` by name.
    """

    page: int = 1
    per_page: int = LISTING_DEFAULT_PER_PAGE
    claimed_per_page: int | None = None
    name: str | None = None
    direction: Literal["asc", "desc"] = "asc"


def parse_listing_query(
    query: Mapping[str, str],
    max_per_page: int = LISTING_MAX_PER_PAGE,
    limit: PerPageLimit = "named",
) -> ListingQuery | str:
    """Return the parsed query, or the message of the 6008 / 11000 error it deserves.

    Args:
        query: The request's query parameters.
        max_per_page: The largest ``per_page`` accepted (served, when ``limit`` clamps).
        limit: What a ``per_page`` above ``max_per_page`` gets (see `FakeCloudflare`).
    """
    direction = query.get("direction", "asc")
    if direction not in ("asc", "desc"):
        return "direction must be one of: asc, desc"
    page = _integer(query.get("page", "1"))
    if page is None or page < 1:
        return "page variable must be a number greater than or equal to 1"
    per_page = _integer(query.get("per_page", str(min(LISTING_DEFAULT_PER_PAGE, max_per_page))))
    if per_page is None or per_page < LISTING_MIN_PER_PAGE:
        return per_page_refusal(LISTING_MIN_PER_PAGE, max_per_page, limit)
    asked = per_page
    if per_page > max_per_page:
        if limit not in ("clamp", "clamp-asked"):
            return per_page_refusal(LISTING_MIN_PER_PAGE, max_per_page, limit)
        per_page = max_per_page
    return ListingQuery(
        page=page,
        per_page=per_page,
        claimed_per_page=asked if limit == "clamp-asked" else None,
        name=query.get("name"),
        direction="asc" if direction == "asc" else "desc",
    )


def listing_body(accounts: Sequence[AccountInfo], query: ListingQuery) -> bytes:
    """Return the success envelope of one listing page.

    Args:
        accounts: Every account of the server, readable or not.
        query: The page, page size, filter and order asked for.
    """
    shown = sorted(
        (a for a in accounts if a.readable and (query.name is None or a.name == query.name)),
        key=lambda account: (account.name, account.id),
        reverse=query.direction == "desc",
    )
    start = (query.page - 1) * query.per_page
    result = [account.to_json() for account in shown[start : start + query.per_page]]
    envelope = {
        "success": True,
        "errors": [],
        "messages": [],
        "result": result,
        "result_info": {
            "page": query.page,
            "per_page": query.per_page
            if query.claimed_per_page is None
            else query.claimed_per_page,
            "count": len(result),
            "total_count": len(shown),
            "total_pages": -(-len(shown) // query.per_page),
        },
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def _integer(text: str) -> int | None:
    """Parse a query integer strictly: ASCII digits only, at most 18 of them."""
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        return None
    return int(text)
