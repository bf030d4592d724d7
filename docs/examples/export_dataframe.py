"""Load every invoice of an account into a pandas or polars DataFrame, and sum it exactly.

Run: python export_dataframe.py ACCOUNT_ID [pandas|polars]  (with CLOUDFLARE_API_TOKEN set,
and pip install "asyncinvoices[pandas]" or "asyncinvoices[polars]")
"""

import sys

import anyio

from asyncinvoices import Invoice, InvoiceClient, to_pandas, to_polars


async def fetch(account_id: str) -> list[Invoice]:
    async with InvoiceClient() as client:
        return await client.list_invoices(account_id)


def with_pandas(invoices: list[Invoice]) -> None:
    frame = to_pandas(invoices)
    print(f"{len(frame):,} rows")
    print(f"amount_due {frame['amount_due'].dtype}, created {frame['created'].dtype}")
    eur = frame[frame["currency"] == "eur"]
    # An object column of Decimals sums with Decimal arithmetic: exact.
    print(f"EUR due, exact:     {eur['amount_due'].sum()}")
    print(f"EUR due, as floats: {eur['amount_due'].astype(float).sum()}")
    # Spend per month and currency; the month of `created`, which is in UTC.
    month = frame["created"].dt.strftime("%Y-%m").rename("month")
    spend = frame.groupby([month, "currency"])["amount_paid"].agg(["count", "sum"])
    print(spend.tail(4).to_string())


def with_polars(invoices: list[Invoice]) -> None:
    import polars as pl

    frame = to_polars(invoices)
    print(f"{frame.height:,} rows")
    print(f"amount_due {frame['amount_due'].dtype}, created {frame['created'].dtype}")
    eur = frame.filter(pl.col("currency") == "eur")
    # A Decimal column sums as a 128-bit integer at its scale: exact.
    print(f"EUR due, exact:     {eur['amount_due'].sum()}")
    print(f"EUR due, as floats: {eur['amount_due'].cast(pl.Float64).sum()}")
    month = pl.col("created").dt.strftime("%Y-%m").alias("month")
    spend = (
        frame.group_by(month, "currency")
        .agg(pl.len().alias("count"), pl.col("amount_paid").sum().alias("sum"))
        .sort("month", "currency")
    )
    print(spend.tail(4))


def main(account_id: str, library: str = "pandas") -> None:
    invoices = anyio.run(fetch, account_id)
    if library == "polars":
        with_polars(invoices)
    else:
        with_pandas(invoices)


if __name__ == "__main__":
    main(*sys.argv[1:3])
