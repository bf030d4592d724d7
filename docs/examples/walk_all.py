"""Walk every invoice of a large account and total the amounts due per currency and status.

Run: python walk_all.py ACCOUNT_ID  (with CLOUDFLARE_API_TOKEN set)
"""

import collections
import sys

import anyio

from asyncinvoices import FetchStats, InvoiceClient


def show_progress(stats: FetchStats) -> None:
    # Called after every page; stats.planned_pages is known after the first one.
    if stats.planned_pages and stats.pages % 25 == 0:
        done = stats.pages / stats.planned_pages
        print(f"  {done:4.0%}  page {stats.pages} of {stats.planned_pages}")


async def main(account_id: str) -> None:
    due: collections.Counter[tuple[str, str]] = collections.Counter()
    async with InvoiceClient(per_page=50, max_concurrency=8) as client:
        async with client.invoices(account_id, on_progress=show_progress) as stream:
            async for invoice in stream:
                # Amounts are exact Decimals, so these sums are exact too.
                due[invoice.currency, invoice.status or "-"] += invoice.amount_due
        stats = stream.stats

    print(f"{stats.invoices:,} invoices in {stats.pages} pages, {stats.requests} requests")
    print(f"{stats.elapsed:.2f} s, {stats.retries} retries")
    for (currency, status), amount in sorted(due.items()):
        # Exactly as Cloudflare sends them: their unit (currency units or cents) is not
        # documented, so nothing is divided or rounded.
        print(f"  {currency} {status:<13} {amount:>16,}")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
