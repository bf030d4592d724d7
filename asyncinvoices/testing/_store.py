"""What FakeCloudflare stores: its accounts, their invoices, and the pages rendered of them.

The store is plain data and has no I/O: it knows nothing of requests, faults or the rate
limit. Every change of an account's invoices goes through `InvoiceStore.change`, which
drops the account's rendered pages, so a page is never served from before a change.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, TypeVar, cast

from ._data import (
    TYPES,
    AccountData,
    History,
    InvoiceType,
    Order,
    Shapes,
    derive_seed,
    hex_digest,
)
from ._listing import AccountInfo, ListingQuery, listing_body
from ._responses import Pagination, success_body

__all__ = ["InvoiceStore", "PageCache", "invoice_type"]

_T = TypeVar("_T")

#: A rendered page: its body, and where its list sits in it (see `success_body`).
Rendered = tuple[bytes, int, int]


class PageCache:
    """Rendered page bodies, least recently used first out, bounded by total size."""

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._size = 0
        self._entries: OrderedDict[tuple[Any, ...], Rendered] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> Rendered | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: tuple[Any, ...], entry: Rendered) -> None:
        self._entries[key] = entry
        self._size += len(entry[0])
        while self._size > self._budget and self._entries:
            _, (old, _, _) = self._entries.popitem(last=False)
            self._size -= len(old)

    def drop_account(self, account_id: str) -> None:
        for key in [key for key in self._entries if key[0] == account_id]:
            self._size -= len(self._entries.pop(key)[0])


class InvoiceStore:
    """The accounts of one server and their invoices, seeded, mutable, rendered on demand.

    Args:
        invoices: Invoices of each account, or one count per account.
        accounts: How many accounts to start with; the first is the default account.
        seed: Every id, amount and choice derives from it.
        auto_fraction: Share of auto top-ups.
        shapes: ``"plain"`` or ``"mixed"`` invoice shapes.
        history: ``"uniform"`` or ``"realistic"``.
        order: ``"newest"`` or ``"oldest"`` first.
        cache_bytes: How many bytes of rendered pages to keep.

    Raises:
        ValueError: If an argument is out of range (see `AccountData`).
    """

    def __init__(
        self,
        invoices: int | Sequence[int],
        *,
        accounts: int,
        seed: int,
        auto_fraction: float,
        shapes: Shapes,
        history: History,
        order: Order,
        cache_bytes: int,
    ) -> None:
        self.seed: Final = seed
        self._auto_fraction = auto_fraction
        self._shapes: Shapes = shapes
        self._history: History = history
        self._order: Order = order
        self._accounts: dict[str, AccountData] = {}
        self._infos: dict[str, AccountInfo] = {}
        self._cache = PageCache(cache_bytes)
        counts = _invoice_counts(invoices, accounts)
        #: The id of the first account, which methods given no account id use.
        self.default_id: Final = self._new_account(counts[0], seed)
        for count in counts[1:]:
            self.add_account(count, None, None, True)

    # ---------------------------------------------------------------- accounts

    def add_account(self, invoices: int, seed: int | None, name: str | None, readable: bool) -> str:
        """Add an account and return its id (see `FakeCloudflare.add_account`).

        Raises:
            ValueError: If an account with this seed exists, or ``invoices`` < 0.
        """
        if seed is None:
            seed = derive_seed("account", self.seed, len(self._accounts))
        if any(account.seed == seed for account in self._accounts.values()):
            raise ValueError(f"an account with seed {seed} already exists")
        return self._new_account(invoices, seed, name=name, readable=readable)

    @property
    def account_ids(self) -> list[str]:
        """Every account id, in creation order, readable or not."""
        return list(self._accounts)

    def account(self, account_id: str | None = None) -> AccountData:
        """Return the data of an account; the default account when None.

        Raises:
            KeyError: If there is no such account.
        """
        key = self.default_id if account_id is None else account_id
        try:
            return self._accounts[key]
        except KeyError:
            raise KeyError(f"no account {key!r} on this FakeCloudflare") from None

    def readable(self, account_id: str) -> bool:
        """Return whether the server's token may read this account (False if unknown)."""
        info = self._infos.get(account_id)
        return info is not None and info.readable

    # ---------------------------------------------------------------- invoices

    def listed(
        self,
        account_id: str | None,
        type: str,
        view: Callable[[AccountData, int], _T],
    ) -> list[_T]:
        """Return ``view(account, serial)`` of every current invoice, in server order.

        Raises:
            KeyError: If there is no such account.
            ValueError: If ``type`` is not ``"all"``, ``"auto"`` or ``"manual"``.
        """
        account = self.account(account_id)
        return [view(account, serial) for serial in account.server_order(invoice_type(type))]

    def change(self, account: AccountData, change: Callable[[AccountData], _T]) -> _T:
        """Apply ``change`` to the account's invoices and forget its rendered pages."""
        try:
            return change(account)
        finally:
            self._cache.drop_account(account.account_id)

    def create_invoices(self, n: int, account_id: str | None = None) -> list[str]:
        """Create ``n`` invoices at the head of the list; return their ids, newest first."""
        return self.change(self.account(account_id), lambda account: account.create(n))

    def delete_invoices(self, ids: Iterable[str], account_id: str | None = None) -> None:
        """Delete invoices by id; nothing is deleted unless every id is current.

        Raises:
            KeyError: If there is no such account, or an id is not a current invoice of it.
        """
        account = self.account(account_id)
        serials = [self._serial(account, invoice_id) for invoice_id in ids]
        self.change(account, lambda account: account.delete_serials(serials))

    def update_invoice(
        self, invoice_id: str, account_id: str | None, fields: dict[str, Any]
    ) -> None:
        """Change fields of a current invoice (see `FakeCloudflare.update_invoice`).

        Raises:
            KeyError: If there is no such account, or no such current invoice in it.
            ValueError: If a field cannot be set.
        """
        account = self.account(account_id)
        serial = self._serial(account, invoice_id)
        self.change(account, lambda account: account.update(serial, fields))

    # ------------------------------------------------------------------- pages

    def page(
        self,
        account: AccountData,
        type: InvoiceType,
        page: int,
        per_page: int,
        *,
        claimed: int | None = None,
    ) -> Rendered:
        """Return the normal body of a page (cached) and where its invoice array sits.

        ``claimed``: the ``per_page`` to report, when not the size served.
        """
        key = (account.account_id, account.version, type, page, per_page, claimed)
        entry = self._cache.get(key)
        if entry is None:
            total = account.count(type)
            serials = account.page_serials(type, (page - 1) * per_page, per_page)
            pagination = Pagination(
                has_more=page * per_page < total,
                page=page,
                per_page=per_page if claimed is None else claimed,
                total_count=total,
            )
            entry = success_body(account.render_array(serials), pagination)
            self._cache.put(key, entry)
        return entry

    def listing(self, query: ListingQuery) -> bytes:
        """Return the body of one page of ``GET /accounts``."""
        return listing_body(list(self._infos.values()), query)

    # --------------------------------------------------------------- internals

    def _new_account(
        self, invoices: int, seed: int, *, name: str | None = None, readable: bool = True
    ) -> str:
        account_id = hex_digest("account", seed, size=16)
        self._accounts[account_id] = AccountData(
            account_id,
            seed,
            invoices,
            self._auto_fraction,
            self._shapes,
            history=self._history,
            order=self._order,
        )
        self._infos[account_id] = AccountInfo(
            id=account_id,
            name=f"Account {len(self._infos)}" if name is None else name,
            # One account in eight on an enterprise plan, and a creation time in 2014-2022.
            type="enterprise" if derive_seed("plan", seed) % 8 == 0 else "standard",
            created_on=1_393_632_000 + derive_seed("created", seed) % (8 * 365 * 86_400),
            readable=readable,
        )
        return account_id

    def _serial(self, account: AccountData, invoice_id: str) -> int:
        serial = account.serial_of(invoice_id)
        if serial is None:
            raise KeyError(f"no invoice {invoice_id!r} in account {account.account_id}")
        return serial


def invoice_type(type: str) -> InvoiceType:
    """Return ``type`` as an invoice type.

    Raises:
        ValueError: If it is not ``"all"``, ``"auto"`` or ``"manual"``.
    """
    if type not in TYPES:
        raise ValueError(f"type must be one of {TYPES}, got {type!r}")
    return cast(InvoiceType, type)


def _invoice_counts(invoices: int | Sequence[int], accounts: int) -> list[int]:
    """Return the invoice count of each account the server starts with."""
    if accounts < 1:
        raise ValueError(f"accounts must be >= 1, got {accounts}")
    if isinstance(invoices, int):
        return [invoices] * accounts
    counts = list(invoices)
    if len(counts) != accounts:
        raise ValueError(f"expected {accounts} invoice counts, one per account, got {len(counts)}")
    return counts
