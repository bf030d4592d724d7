"""A background worker that keeps a local copy of the invoice history up to date.

Every `interval` seconds it fetches the invoices newer than the newest one it already has:
the stream is newest first, so it stops at the first known id, after a page or two.

Run: python worker.py ACCOUNT_ID [--once]  (with CLOUDFLARE_API_TOKEN set)
"""

import logging
import sys

import anyio

from asyncinvoices import AsyncInvoicesError, Invoice, InvoiceClient, RateLimitError

log = logging.getLogger("worker")


class Store:
    """Stands in for your database: invoices by id, and the newest known id."""

    def __init__(self) -> None:
        self.invoices: dict[str, Invoice] = {}
        self.newest_id: str | None = None

    def save(self, new: list[Invoice]) -> None:
        for invoice in new:
            if invoice.id is not None:
                self.invoices[invoice.id] = invoice
        if new:
            self.newest_id = new[0].id


async def sync(client: InvoiceClient, account_id: str, store: Store) -> int:
    """Fetch what is newer than the store's newest invoice; return how many were new."""
    new: list[Invoice] = []
    # Small pages and little concurrency: an incremental sync needs only the first page.
    async with client.invoices(account_id, per_page=20, max_concurrency=2) as stream:
        async for invoice in stream:
            if invoice.id is not None and invoice.id == store.newest_id:
                break
            new.append(invoice)
    store.save(new)
    return len(new)


async def run(account_id: str, *, interval: float = 600.0, once: bool = False) -> Store:
    store = Store()
    async with InvoiceClient() as client:
        while True:
            try:
                count = await sync(client, account_id, store)
                print(f"synced {count:,} new invoices; {len(store.invoices):,} in the store")
            except RateLimitError as exc:
                # Blocked for longer than max_retry_wait: skip this round, keep running.
                log.warning("rate limited, retry in %s s: %s", exc.retry_after, exc)
            except AsyncInvoicesError:
                log.exception("sync failed; trying again next round")
            if once:
                return store
            await anyio.sleep(interval)


async def main(account_id: str, once: bool = False) -> None:
    await run(account_id, once=once)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    anyio.run(main, sys.argv[1], "--once" in sys.argv[2:])
