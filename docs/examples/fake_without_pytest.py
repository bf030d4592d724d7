"""Run a client against FakeCloudflare in a plain asyncio program, with a fault injected.

Run: python fake_without_pytest.py  (no credentials needed: the fake server has its own)
"""

import anyio

from asyncinvoices import InvoiceClient
from asyncinvoices.testing import FakeCloudflare, Fault


async def main() -> None:
    faults = [Fault.create(5, request=3, times=1)]  # five new invoices appear mid-walk
    async with FakeCloudflare(invoices=1_000, faults=faults) as fake:
        async with InvoiceClient(api_token=fake.api_token, base_url=fake.base_url) as client:
            invoices = await client.list_invoices(fake.account_id)

        print(f"{len(invoices):,} invoices, faults injected: {[f.kind for f in fake.injected]}")
        # The five new invoices are at the head of the list, before where the walk was.
        print("every original invoice once, in order:", fake.ids()[5:] == [i.id for i in invoices])


if __name__ == "__main__":
    anyio.run(main)
