"""What a walk's machine asks its driver to do: start a request, wait for one, deliver a page,
re-anchor, restart or stop. Plain values, so a test can drive a machine without I/O."""

from __future__ import annotations

from typing import TypeAlias

import attrs

from asyncinvoices._models import InvoicePage

__all__ = ["Action", "AlignAt", "Await", "Deliver", "Done", "Request", "Restart", "Seek"]


@attrs.frozen
class Request:
    """Start fetching page ``page`` of ``per_page`` invoices."""

    page: int
    per_page: int


@attrs.frozen
class Await:
    """Start nothing more: wait for page ``page`` and feed it to the machine."""

    page: int


@attrs.frozen
class Deliver:
    """Hand ``page`` to the consumer; it holds only the invoices delivered from it."""

    page: InvoicePage


@attrs.frozen
class Done:
    """The walk is complete."""


@attrs.frozen
class AlignAt:
    """Walk aligned pages of ``per_page`` from page ``start`` on, planned by ``total``.

    ``follow`` says that the page before ``start`` said ``has_more``: page ``start`` is
    asked for even when ``total`` plans no more pages.
    """

    start: int
    per_page: int
    total: int | None
    follow: bool = False


@attrs.frozen
class Seek:
    """Search for what follows the last delivered invoice, last seen at ``position``."""

    position: int
    per_page: int
    total: int | None


@attrs.frozen
class Restart:
    """Nothing was delivered that a search could anchor to: begin again with page 1."""


Action: TypeAlias = Request | Await | Done | AlignAt | Seek | Restart
"""Everything ``next_request()`` of a machine may answer."""
