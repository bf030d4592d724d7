"""Pytest fixtures for testing code against FakeCloudflare.

Registered through the ``pytest11`` entry point ``asyncinvoices``, so installing the package
is enough. The fixtures are async and run under anyio's pytest plugin; aiohttp needs
asyncio, so this plugin also provides ``anyio_backend = "asyncio"``, which any
``anyio_backend`` fixture of your own (conftest or module) overrides::

    import pytest

    pytestmark = pytest.mark.anyio

    async def test_fetch(fake_cloudflare):
        ...  # fake_cloudflare.base_url, .account_id, .api_token

    async def test_outage(fake_cloudflare_factory):
        async with fake_cloudflare_factory(invoices=500, faults=[Fault.reset(page=2)]) as fake:
            ...
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from ._server import FakeCloudflare

__all__ = ["anyio_backend", "fake_cloudflare", "fake_cloudflare_factory"]

FakeCloudflareFactory = Callable[..., contextlib.AbstractAsyncContextManager[FakeCloudflare]]


@pytest.fixture
def anyio_backend() -> str:
    """Run anyio tests on asyncio, the only event loop aiohttp supports."""
    return "asyncio"


@pytest.fixture
async def fake_cloudflare() -> AsyncIterator[FakeCloudflare]:
    """Yield a running FakeCloudflare with default settings, closed after the test."""
    async with FakeCloudflare() as fake:
        yield fake


@pytest.fixture
async def fake_cloudflare_factory() -> AsyncIterator[FakeCloudflareFactory]:
    """Yield ``factory(**kwargs)``: an async context manager running a FakeCloudflare.

    The keyword arguments are FakeCloudflare's. Servers still open when the test ends are
    closed then.
    """
    async with contextlib.AsyncExitStack() as stack:

        @contextlib.asynccontextmanager
        async def factory(*args: Any, **kwargs: Any) -> AsyncIterator[FakeCloudflare]:
            fake = FakeCloudflare(*args, **kwargs)
            await stack.enter_async_context(fake)
            try:
                yield fake
            finally:
                await fake.close()

        yield factory
