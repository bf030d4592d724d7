"""A faithful, in-process fake of Cloudflare's AI Gateway invoice-history endpoint.

`FakeCloudflare` is an aiohttp application that answers
``GET /client/v4/accounts/{account_id}/ai-gateway/billing/invoice-history`` on loopback the
way the real API does (envelope, error codes, ``cf-ray``, ``Ratelimit`` headers, an exact
sliding-window rate limit with a five-minute block), with data derived from a seed, and
injects the failures a robust client must survive::

    from asyncinvoices.testing import FakeCloudflare, Fault

    async with FakeCloudflare(
        invoices=500,
        faults=[Fault.status(503, page=2, attempt=1), Fault.create(3, request=4)],
    ) as fake:
        ...  # point your client at fake.base_url, fake.account_id and fake.api_token
        assert [f.kind for f in fake.injected] == ["status", "create"]
        assert fake.ids()[:3]  # the three invoices created before request 4

What the server saw is in `FakeCloudflare.requests` (one `ServedRequest` each), how many
requests reached it at all in `FakeCloudflare.received`, and what it injected in
`FakeCloudflare.injected` (one `InjectedFault` each); ``await fake.wait_idle()`` waits until
no request is in flight. Accounts of two million invoices start instantly: invoices are
generated on demand and rendered pages are cached. ``shapes="mixed"`` serves every invoice
shape the schema allows, and `FakeCloudflare.expected_invoices` says what a client must make
of them; ``accounts=N`` starts several accounts, listed by ``GET /accounts``.
``history="realistic"`` spreads the invoices over the three years before
`FakeCloudflare.history_end` (most paid within days, the open ones recent, the odd old one
still open, a few void), and ``order="oldest"`` lists them oldest first.

Also available:

- a standalone server for other processes and languages:
  ``python -m asyncinvoices.testing --invoices 50000 --latency 60 --json``, or `serve` from
  a program of your own;
- pytest fixtures, registered by installing the package: ``fake_cloudflare`` (a running
  server with default settings) and ``fake_cloudflare_factory`` (``async with
  fake_cloudflare_factory(invoices=..., faults=...) as fake``), for tests marked
  ``@pytest.mark.anyio``; the plugin runs them on asyncio unless you define
  ``anyio_backend`` yourself.
"""

from ._cli import serve
from ._faults import Fault, InjectedFault
from ._selector import Selector
from ._server import FakeCloudflare, ServedRequest

__all__ = ["FakeCloudflare", "Fault", "InjectedFault", "Selector", "ServedRequest", "serve"]
