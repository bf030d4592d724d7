"""A background worker that keeps a local copy of the invoice history up to date.

Every `interval` seconds it walks the newest invoices: new ones are added to the store, and
known ones whose fields changed (an open invoice that has been paid) are updated. Invoices
come newest first and the ones that still change are recent, so an incremental round stops
at the first invoice created more than `recheck` (45 days) before the newest one the store
had: a page or a few. Every `full_every` rounds (once a day) it walks the whole account
instead, which also catches a change to an older invoice.

Run: python worker.py ACCOUNT_ID [--once]  (with CLOUDFLARE_API_TOKEN set)
"""

import datetime as dt
import itertools
import logging
import sys

import anyio

from asyncinvoices import AsyncInvoicesError, Invoice, InvoiceClient, RateLimitError

log = logging.getLogger("worker")

# How far back from the newest invoice an incremental round re-reads. Stripe-backed invoices
# are mostly settled (paid, void) within a month of being issued; pick yours from your data.
RECHECK = dt.timedelta(days=45)


class Store:
    """Stands in for your database: invoices by id, and when the newest one was created."""

    def __init__(self) -> None:
        self.invoices: dict[str, Invoice] = {}
        self.newest_created: dt.datetime | None = None

    def upsert(self, invoice: Invoice) -> str:
        """Insert or update one invoice; return "new", "changed" or "same"."""
        if invoice.id is None:  # cannot be recognised again; every real invoice has an id
            return "same"
        old = self.invoices.get(invoice.id)
        if old == invoice:  # Invoice is a frozen attrs class: == compares every field
            return "same"
        self.invoices[invoice.id] = invoice
        created = invoice.created
        if created is not None and (self.newest_created is None or created > self.newest_created):
            self.newest_created = created
        return "new" if old is None else "changed"


async def sync(
    client: InvoiceClient,
    account_id: str,
    store: Store,
    *,
    recheck: dt.timedelta = RECHECK,
    full: bool = False,
) -> tuple[int, int]:
    """Add new invoices and update changed ones; return how many were (new, changed).

    Reads back to `recheck` before the store's newest invoice, or everything if `full` or
    the store is empty.
    """
    newest = store.newest_created
    horizon = None if full or newest is None else newest - recheck
    counts = {"new": 0, "changed": 0, "same": 0}
    # An incremental round needs a few pages: small ones, little concurrency. A full walk
    # takes the client's defaults.
    per_page, concurrency = (20, 2) if horizon is not None else (None, None)
    async with client.invoices(
        account_id, per_page=per_page, max_concurrency=concurrency
    ) as stream:
        async for invoice in stream:
            if horizon is not None and invoice.created is not None and invoice.created < horizon:
                break
            counts[store.upsert(invoice)] += 1
    return counts["new"], counts["changed"]


async def run(
    account_id: str, *, interval: float = 600.0, full_every: int = 144, once: bool = False
) -> Store:
    store = Store()
    async with InvoiceClient() as client:
        for number in itertools.count():
            try:
                full = number % full_every == 0
                new, changed = await sync(client, account_id, store, full=full)
                print(
                    f"synced {new:,} new and {changed:,} changed invoices; "
                    f"{len(store.invoices):,} in the store"
                )
            except RateLimitError as exc:
                # Blocked for longer than max_retry_wait: skip this round, keep running.
                log.warning("rate limited, retry in %s s: %s", exc.retry_after, exc)
            except AsyncInvoicesError:
                log.exception("sync failed; trying again next round")
            if once:
                break
            await anyio.sleep(interval)
    return store


async def main(account_id: str, once: bool = False) -> None:
    await run(account_id, once=once)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    anyio.run(main, sys.argv[1], "--once" in sys.argv[2:])
