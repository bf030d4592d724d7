"""The account listing's walk, decided without I/O: the query of a page, the size the server
serves, and the last page that ``result_info`` promises (docs/cloudflare-api.md, "Listing
accounts": ``per_page`` is at most 50, and at least 5 in some copies of the schema)."""

from __future__ import annotations

from typing import Final, Literal

from asyncinvoices._wire.accounts import (
    AccountPage,
    ListingInfo,
)

__all__ = [
    "LISTING_MAX_PER_PAGE",
    "LISTING_MIN_PER_PAGE",
    "LISTING_SIZES",
    "Direction",
    "last_page",
    "listing_params",
    "listing_served",
]

# docs/cloudflare-api.md, "Listing accounts": per_page is at most 50 [D]; some copies of the
# schema accept no fewer than 5 [I].
LISTING_MAX_PER_PAGE: Final = 50


LISTING_MIN_PER_PAGE: Final = 5


# Where a listing that was given no per_page starts, and the step down after a refusal that
# names no maximum (a size Cloudflare endpoints are known to use; `_walk/page_size.py`).
LISTING_SIZES: Final = (LISTING_MAX_PER_PAGE, 20)


Direction = Literal["asc", "desc"]


def listing_params(
    *, page: int, per_page: int, name: str | None, direction: Direction | None
) -> dict[str, str]:
    """Return the query of one listing request (docs/cloudflare-api.md, "Listing accounts")."""
    params = {"page": str(page), "per_page": str(per_page)}
    if name is not None:
        params["name"] = name
    if direction is not None:
        params["direction"] = direction
    return params


def last_page(info: ListingInfo | None, per_page: int, served: int | None = None) -> int | None:
    """Return the listing's last page from the first page's ``result_info``, or ``None``.

    ``total_pages`` decides; without it ``total_count`` over the page size the server used
    does. ``None`` means neither was sent: the walk then goes page by page until a short or
    empty one (docs/cloudflare-api.md, "Listing accounts": there is no ``has_more``). When the
    first page showed the server serving fewer than asked (``served``), ``total_count`` over
    that size decides: a server that echoes the size asked may count its pages by it.
    """
    if info is None:
        return None
    if served is not None and served < per_page and info.total_count is not None:
        return max(1, -(-info.total_count // served))
    if info.total_pages is not None:
        return max(1, info.total_pages)
    if info.total_count is not None:
        size = info.per_page or per_page
        return max(1, -(-info.total_count // size))
    return None


def listing_served(page: AccountPage, asked: int) -> int:
    """The page size a listing page shows the server serves, which may be less than asked.

    Its ``result_info.per_page`` below ``asked``, or fewer accounts than asked while the
    listing says it has more (``total_count`` or ``total_pages``): a silent clamp.
    """
    info, count = page.info, len(page.accounts)
    if info is None:
        return asked  # nothing tells a clamp from the end of the listing
    if info.per_page is not None and count <= info.per_page < asked:
        return info.per_page
    more = (info.total_count is not None and info.total_count > count) or (
        info.total_pages is not None and info.total_pages > 1
    )
    if 0 < count < asked and more:
        return count
    return asked
