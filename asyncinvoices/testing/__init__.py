"""A faithful, in-process fake of Cloudflare's AI Gateway invoice-history endpoint.

`FakeCloudflare` is an aiohttp application that answers
``GET /client/v4/accounts/{account_id}/ai-gateway/billing/invoice-history`` on loopback the
way the real API does, with deterministic data, and injects the failures a robust client
must survive::

    from asyncinvoices.testing import FakeCloudflare, Fault

    async with FakeCloudflare(invoices=120, faults=[Fault.status(503, page=2, attempt=1)]) as fake:
        ...  # point your client at fake.base_url, fake.account_id, fake.api_token
        assert fake.injected[0].kind == "status"

It is also a standalone server (``python -m asyncinvoices.testing --help``) and a pytest
plugin with the fixtures ``fake_cloudflare`` and ``fake_cloudflare_factory``.
"""

from ._faults import Fault, InjectedFault
from ._server import FakeCloudflare, ServedRequest

__all__ = ["FakeCloudflare", "Fault", "InjectedFault", "ServedRequest"]
