"""Fetch invoices without async: in a script, a notebook cell, or worker threads.

Run: python scripts_notebooks.py ACCOUNT_ID [ACCOUNT_ID ...]  (with CLOUDFLARE_API_TOKEN set)
"""

import sys
from concurrent.futures import ThreadPoolExecutor

from asyncinvoices import SyncInvoiceClient


def main(*account_ids: str) -> None:
    # The token comes from CLOUDFLARE_API_TOKEN, the API root from CLOUDFLARE_BASE_URL
    # (Cloudflare's own when it is not set).
    with SyncInvoiceClient() as client:
        first = account_ids[0]
        print(f"{client.count(first):,} invoices")

        with client.invoices(first) as stream:
            for invoice in stream:
                print(invoice.id, f"{invoice.status:<13}", f"{invoice.amount_due:>8}")
                if stream.stats.invoices == 3:
                    break  # leaving the `with` cancels the pages still in flight

        # Threads share the client: one connection pool, one rate limit for the token.
        with ThreadPoolExecutor(max_workers=4) as pool:
            lists = pool.map(client.list_invoices, account_ids)
            for account_id, invoices in zip(account_ids, lists, strict=True):
                due = sum(invoice.amount_due for invoice in invoices)
                print(f"{account_id}  {len(invoices):>5,} invoices  {due:>12} due")


if __name__ == "__main__":
    main(*sys.argv[1:])
