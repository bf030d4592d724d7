"""Load every invoice of an account into a polars or pandas DataFrame.

Run: python export_dataframe.py ACCOUNT_ID  (with CLOUDFLARE_API_TOKEN set, and polars or
pandas installed; neither is a dependency of asyncinvoices)
"""

import sys
from typing import Any

import anyio

from asyncinvoices import Invoice, InvoiceClient


def to_records(invoices: list[Invoice]) -> list[dict[str, Any]]:
    """One plain dict per invoice; amounts stay exact Decimals, `created` a UTC datetime."""
    return [
        {
            "id": invoice.id,
            "created": invoice.created,
            "status": invoice.status,
            "currency": invoice.currency,
            "amount_due": invoice.amount_due,
            "amount_paid": invoice.amount_paid,
            "amount_remaining": invoice.amount_remaining,
            "invoice_origin": invoice.invoice_origin,
        }
        for invoice in invoices
    ]


def to_polars(records: list[dict[str, Any]]) -> Any:
    import polars as pl

    # polars keeps Decimal columns exact (pl.Decimal).
    return pl.DataFrame(records, infer_schema_length=None)


def to_pandas(records: list[dict[str, Any]]) -> Any:
    import pandas as pd

    # pandas stores Decimals as objects: exact, but slow to compute on. Convert to
    # integers of minor units, or to float, only when exactness does not matter.
    return pd.DataFrame.from_records(records)


async def main(account_id: str) -> None:
    async with InvoiceClient() as client:
        invoices = await client.list_invoices(account_id)
    records = to_records(invoices)
    print(f"{len(records):,} records")
    try:
        frame = to_polars(records)
    except ImportError:
        try:
            frame = to_pandas(records)
        except ImportError:
            print("install polars or pandas to build a DataFrame")
            return
    print(frame.head())


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
