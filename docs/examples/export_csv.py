"""Export every invoice of an account to invoices.csv, one row per invoice.

Run: python export_csv.py ACCOUNT_ID [FILE]  (with CLOUDFLARE_API_TOKEN set)
"""

import csv
import sys
from typing import TextIO

import anyio

from asyncinvoices import InvoiceClient

COLUMNS = [
    "id",
    "created",
    "status",
    "currency",
    "amount_due",
    "amount_paid",
    "amount_remaining",
    "invoice_origin",
    "description",
]


async def write_rows(account_id: str, file: TextIO) -> int:
    writer = csv.DictWriter(file, fieldnames=COLUMNS)
    writer.writeheader()
    count = 0
    async with InvoiceClient() as client:
        # Rows are written as pages arrive: memory stays flat however large the account.
        async for invoice in client.invoices(account_id):
            writer.writerow(
                {
                    "id": invoice.id,
                    "created": invoice.created.isoformat() if invoice.created else "",
                    "status": invoice.status,
                    "currency": invoice.currency,
                    # str() of a Decimal is exact: 640.19 stays 640.19.
                    "amount_due": str(invoice.amount_due),
                    "amount_paid": str(invoice.amount_paid),
                    "amount_remaining": str(invoice.amount_remaining),
                    "invoice_origin": invoice.invoice_origin,
                    "description": invoice.description,
                }
            )
            count += 1
    return count


def main(account_id: str, path: str = "invoices.csv") -> None:
    with open(path, "w", newline="", encoding="utf-8") as file:
        count = anyio.run(write_rows, account_id, file)
    print(f"wrote {count:,} invoices to {path}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
