"""Tests of an application's own code against FakeCloudflare, with the pytest fixtures.

`fake_cloudflare` and `fake_cloudflare_factory` come with asyncinvoices (a pytest plugin,
registered on install); the tests run on anyio's pytest plugin.

Run: pytest test_my_app.py
"""

from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager

import pytest

from asyncinvoices import InvoiceClient, ServerError, set_testing
from asyncinvoices.testing import FakeCloudflare, Fault

pytestmark = pytest.mark.anyio

# The type of the `fake_cloudflare_factory` fixture: FakeCloudflare's arguments in, a
# running server out.
Factory = Callable[..., AbstractAsyncContextManager[FakeCloudflare]]


# The code under test: in your project it is imported from your application.
async def newest_invoice_ids(client: InvoiceClient, account_id: str, n: int) -> list[str | None]:
    ids: list[str | None] = []
    async with client.invoices(account_id) as stream:
        async for invoice in stream:
            ids.append(invoice.id)
            if len(ids) == n:
                break
    return ids


def client_for(fake: FakeCloudflare, **settings: object) -> InvoiceClient:
    """A client pointed at the fake server, with its credentials."""
    return InvoiceClient(api_token=fake.api_token, base_url=fake.base_url, **settings)


@pytest.fixture(autouse=True)
def _no_backoff() -> Iterator[None]:
    """Retry at once: tests of failure paths should not wait out backoff delays."""
    set_testing(True)
    yield
    set_testing(False)


async def test_newest_first(fake_cloudflare: FakeCloudflare) -> None:
    """The newest invoices come first, in the server's order."""
    async with client_for(fake_cloudflare) as client:
        ids = await newest_invoice_ids(client, fake_cloudflare.account_id, 3)

    assert fake_cloudflare.ids()[:3] == ids


async def test_every_invoice_once(fake_cloudflare_factory: Factory) -> None:
    """A 1,000-invoice account arrives complete, in order, each invoice once."""
    async with fake_cloudflare_factory(invoices=1_000) as fake, client_for(fake) as client:
        invoices = await client.list_invoices(fake.account_id, per_page=100)

    assert fake.ids() == [invoice.id for invoice in invoices]


async def test_survives_a_flaky_server(fake_cloudflare_factory: Factory) -> None:
    """A 503 and a dropped connection are retried; nothing is lost or repeated."""
    faults = [Fault.status(503, page=2, attempt=1), Fault.reset(page=3, attempt=1)]
    async with fake_cloudflare_factory(invoices=500, faults=faults) as fake:
        async with client_for(fake) as client:
            invoices = await client.list_invoices(fake.account_id)

        assert fake.ids() == [invoice.id for invoice in invoices]
        assert {"status", "reset"} == {fault.kind for fault in fake.injected}


async def test_gives_up_on_a_lasting_outage(fake_cloudflare_factory: Factory) -> None:
    """A page that always fails raises ServerError after the allowed retries."""
    faults = [Fault.status(503, page=2)]
    async with fake_cloudflare_factory(faults=faults) as fake, client_for(fake, max_retries=2) as c:
        with pytest.raises(ServerError) as caught:
            await c.list_invoices(fake.account_id)

    assert caught.value.status == 503
