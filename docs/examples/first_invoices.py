"""Print how many invoices an account has, and its five newest.

Run: python first_invoices.py ACCOUNT_ID  (with CLOUDFLARE_API_TOKEN set)
"""

import sys

import anyio

from asyncinvoices import InvoiceClient


async def main(account_id: str) -> None:
    # The token comes from CLOUDFLARE_API_TOKEN, the API root from CLOUDFLARE_BASE_URL
    # (Cloudflare's own when it is not set).
    async with InvoiceClient() as client:
        total = await client.count(account_id)
        print(f"{total:,} invoices")

        async with client.invoices(account_id) as stream:
            async for invoice in stream:
                print(
                    invoice.created.date() if invoice.created else "-",
                    invoice.id,
                    f"{invoice.status:<13}",
                    f"{invoice.amount_due:>8}",
                    invoice.currency,
                )
                if stream.stats.invoices == 5:
                    break  # leaving the `async with` cancels the pages still in flight


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
