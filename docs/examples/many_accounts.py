"""Count the invoices of several accounts at once, under one shared rate limit.

Cloudflare counts requests per user or token, not per account: one client (and so one
rate governor) must carry every request made with the same token.

Run: python many_accounts.py ACCOUNT_ID [ACCOUNT_ID ...]  (with CLOUDFLARE_API_TOKEN set)
"""

import sys

import anyio

from asyncinvoices import InvoiceClient


async def main(*account_ids: str) -> None:
    totals: dict[str, int] = {}

    async with InvoiceClient(max_concurrency=8) as client:

        async def fetch(account_id: str) -> None:
            # max_concurrency per walk keeps one large account from taking every slot.
            async with client.invoices(account_id, max_concurrency=4) as stream:
                totals[account_id] = sum([1 async for _ in stream])

        async with anyio.create_task_group() as tg:
            for account_id in account_ids:
                tg.start_soon(fetch, account_id)

    for account_id in account_ids:
        print(f"{account_id}  {totals[account_id]:>6,} invoices")


if __name__ == "__main__":
    anyio.run(main, *sys.argv[1:])
