"""Load the invoice history into DuckDB with dlt, then ask the warehouse a question.

Run: python warehouse.py ACCOUNT_ID  (with CLOUDFLARE_API_TOKEN set; needs
pip install "asyncinvoices[dlt]" "dlt[duckdb]")
"""

import sys

import dlt

from asyncinvoices.dlt import cloudflare_invoices

pipeline = dlt.pipeline("cloudflare", destination="duckdb", dataset_name="billing")
pipeline.run(cloudflare_invoices(sys.argv[1:]))

with pipeline.sql_client() as sql:
    rows = sql.execute_sql(
        "SELECT status, count(*), sum(amount_due) FROM invoices"
        " WHERE removed_at IS NULL GROUP BY status ORDER BY status"
    )
for status, count, due in rows:
    print(f"{status:<14} {count:>6,} invoices  {due:>16,.2f} due")
