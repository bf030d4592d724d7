"""Pure readings of one page and of a walk's extent: how many pages a total means, whether a
page is the one asked for and whether it ends the walk, the page size the server really uses,
and the request that re-finds an anchor after the data moved (docs/cloudflare-api.md, "The
endpoint")."""

from __future__ import annotations

import datetime as dt
import enum

import attrs

from asyncinvoices._errors import PaginationError
from asyncinvoices._models import InvoicePage
from asyncinvoices._walk.ledger import Ledger

__all__ = [
    "PAGE_CAP_SLACK",
    "Anchor",
    "Verdict",
    "anchored_request",
    "check_end",
    "check_extent",
    "check_page_number",
    "finished",
    "hard_page_cap",
    "judge_aligned",
    "page_count",
    "served_less",
    "server_page_size",
]


PAGE_CAP_SLACK = 2
"""Pages an aligned walk may follow ``has_more`` beyond the pages its ``total_count`` plans."""


def page_count(total_count: int, per_page: int) -> int:
    """How many pages of ``per_page`` hold ``total_count`` invoices (at least one)."""
    return max(1, -(-total_count // per_page))


def hard_page_cap(total_count: int, per_page: int) -> int:
    """The most pages an aligned walk may request before the server is deemed to loop.

    :data:`PAGE_CAP_SLACK` pages beyond the plan let a final page that still says
    ``has_more`` be followed, while a server that says ``has_more`` forever is stopped.
    """
    return page_count(total_count, per_page) + PAGE_CAP_SLACK


class Verdict(enum.Enum):
    """What to do with a page received during an aligned walk."""

    ACCEPT = "accept"
    """The page continues the previous one exactly: deliver all of it."""
    REALIGN = "realign"
    """The data moved or the page size changed: switch to anchored walking."""


def check_page_number(page: InvoicePage) -> None:
    """Raise if the server says it returned another page than the one asked for.

    Some list endpoints ignore ``page`` and return page 1 for ever (cloudflare-python #2584,
    docs/cloudflare-api.md "The endpoint").

    Raises:
        PaginationError: If the reported page number differs from the requested one.
    """
    reported = page.pagination.page
    if reported is not None and reported != page.number:
        raise PaginationError(
            f"asked for page {page.number} but the server returned page {reported}; "
            "it does not honour the page parameter",
            page=page.number,
        )


def judge_aligned(
    page: InvoicePage,
    *,
    expected_total: int | None,
    per_page: int,
    seen: Ledger,
) -> Verdict:
    """Decide whether an aligned page can be delivered as it is.

    Args:
        page: The page as received.
        expected_total: The ``total_count`` every page of this walk has reported so far.
        per_page: The page size the walk plans with.
        seen: What has been delivered.

    Raises:
        PaginationError: If the server returned another page than the one asked for, or
            repeated an earlier page while its ``total_count`` stayed the same (it ignores
            ``page``: cloudflare-python #2584, docs/cloudflare-api.md "The endpoint").
    """
    check_page_number(page)
    if page.pagination.total_count != expected_total:
        return Verdict.REALIGN
    if page.pagination.per_page is not None and page.pagination.per_page != per_page:
        return Verdict.REALIGN
    if seen.forgotten and page.invoices and seen.is_newer(page.invoices[0]):
        # Some delivered ids were forgotten: a page that starts newer than the last delivered
        # invoice repeats invoices the ledger can no longer recognise by id.
        return Verdict.REALIGN
    repeated = seen.count_seen(page.invoices)
    if repeated:
        with_ids = sum(1 for inv in page.invoices if inv.id is not None)
        if repeated == with_ids and page.number > 1:
            raise PaginationError(
                f"page {page.number} repeats invoices already received while total_count "
                "did not change; the server does not honour the page parameter",
                page=page.number,
            )
        return Verdict.REALIGN
    return Verdict.ACCEPT


@attrs.frozen(kw_only=True)
class Anchor:
    """Where the last delivered invoice was last seen.

    Attributes:
        position: Its 0-based index in the server's order when last seen.
        invoice_id: Its id.
        created: Its creation time, to place pages when the invoice itself was deleted.
    """

    position: int
    invoice_id: str | None
    created: dt.datetime | None


def anchored_request(position: int, per_page: int) -> tuple[int, int]:
    """Choose ``(page, per_page)`` so that the page holds ``position`` and what follows it.

    The page must contain the anchor (the invoice at ``position``) and at least one invoice
    after it. With the walk's own page size that fails only when the anchor is the last of
    its page; smaller sizes are tried then (down to half), keeping the one that reaches
    furthest past the anchor. A page size of one cannot overlap, so two is used.

    Args:
        position: The anchor's 0-based index.
        per_page: The walk's page size.

    Returns:
        The 1-based page number and the page size to ask for.
    """
    if position < 0:
        return 1, max(per_page, 2)
    best: tuple[int, int, int] | None = None  # (items after the anchor, page, size)
    smallest = max(2, per_page // 2)
    for size in range(max(per_page, 2), smallest - 1, -1):
        page = position // size + 1
        after = page * size - 1 - position
        if after > 0 and (best is None or after > best[0]):
            best = (after, page, size)
            if size == per_page:
                break  # the walk's own size reaches past the anchor: keep pages aligned
    if best is None:
        # Every size from per_page down to half of it puts the anchor last on its page;
        # one more than per_page never does (consecutive sizes cannot both divide
        # position + 1 ... unless position + 1 is a multiple of both, so keep looking up).
        size = per_page + 1
        while (position + 1) % size == 0:
            size += 1
        return position // size + 1, size
    return best[1], best[2]


def server_page_size(page: InvoicePage, asked: int) -> int:
    """The page size the server actually pages by, which may be less than ``asked``.

    A server may clamp ``per_page`` silently: it then echoes its own size, or echoes the
    size asked for while serving fewer invoices although it says more follow.
    """
    reported = page.pagination.per_page
    count = len(page.invoices)
    if reported is not None and reported >= max(count, 1):
        if 0 < count < min(reported, asked) and page.pagination.has_more is True:
            return count  # it echoes a size it did not serve, yet more follow: a clamp
        return reported
    total = page.pagination.total_count
    if 0 < count < asked and (page.pagination.has_more or (total is not None and total > count)):
        # Fewer invoices than asked although more exist: the server clamps silently.
        return count
    return max(asked, count)


def served_less(page: InvoicePage, asked: int) -> int | None:
    """The size a page shows the server to clamp to, when it served fewer than ``asked``.

    Unlike :func:`server_page_size`, for any page: only what the page itself says counts,
    its echoed ``per_page`` below ``asked``, or fewer invoices than asked while it says more
    follow (``total_count`` is no evidence here: a later page is short at the end).

    Returns:
        The size served, or ``None`` when the page shows no clamp.
    """
    reported = page.pagination.per_page
    count = len(page.invoices)
    if reported is not None and count <= reported < asked:
        return reported
    if 0 < count < asked and page.pagination.has_more is True:
        return count
    return None


def finished(page: InvoicePage, number: int, per_page: int, total: int | None) -> bool:
    """Whether page ``number`` ends the walk.

    While ``total`` plans more pages the walk goes on, whatever ``has_more`` says; past the
    plan, ``has_more`` decides, and without it a short page or a known total ends the walk.
    """
    count = len(page.invoices)
    has_more = page.pagination.has_more
    if total is not None and number < page_count(total, per_page):
        return False
    if has_more is None:
        return count < per_page or total is not None
    return not has_more or count == 0


def check_end(page: InvoicePage, offset: int) -> None:
    """Raise unless a page that ends the list ends it where its own ``total_count`` says.

    The page at ``offset`` holding ``count`` invoices and saying nothing follows puts the
    list's length at ``offset + count``; the same response's ``total_count`` must agree, or
    the page is not the one asked for (a server ignoring ``page``, or a lie).

    Raises:
        PaginationError: If the two lengths differ.
    """
    total = page.pagination.total_count
    end = offset + len(page.invoices)
    if total is not None and total != end and page.invoices:
        raise PaginationError(
            f"page {page.number} ends the list after {end} invoices but its total_count "
            f"is {total}; the server does not honour the page parameter",
            page=page.number,
        )


def check_extent(page: InvoicePage, offset: int) -> None:
    """Raise if a page starting at ``offset`` holds invoices beyond its own ``total_count``.

    ``total_count`` and the invoices come in one response, so they cannot disagree unless
    the page is not the one asked for: a server that ignores ``page`` and echoes the number
    asked (cloudflare-python #2584, docs/cloudflare-api.md "The endpoint").

    Raises:
        PaginationError: If the page reaches past ``total_count``.
    """
    total = page.pagination.total_count
    end = offset + len(page.invoices)
    if total is not None and end > total and page.invoices:
        raise PaginationError(
            f"page {page.number} holds invoices {offset + 1} to {end} but its total_count "
            f"is {total}; the server does not honour the page parameter",
            page=page.number,
        )


def _ends_short(page: InvoicePage, per_page: int) -> bool:
    # Fewer invoices than the page size, and the server does not say more follow: the list
    # ends on this page. A short page that says has_more is left to the plan (a server that
    # serves fewer than it reports would otherwise end the walk early, silently).
    return len(page.invoices) < per_page and page.pagination.has_more is not True
