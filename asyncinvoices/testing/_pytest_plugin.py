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

__all__ = ["fake_cloudflare", "fake_cloudflare_factory", "pytest_configure"]

FakeCloudflareFactory = Callable[..., contextlib.AbstractAsyncContextManager[FakeCloudflare]]


class _AsyncioBackend:
    """Holds the default ``anyio_backend`` fixture (see `pytest_configure`)."""

    @pytest.fixture
    def anyio_backend(self) -> str:
        """Run anyio tests on asyncio, the only event loop aiohttp supports."""
        return "asyncio"


def pytest_configure(config: pytest.Config) -> None:
    """Register the default ``anyio_backend`` after every plugin, anyio's included.

    Among plugins the one registered last wins a fixture name, and entry points load in no
    fixed order, so defining the fixture in this module would only sometimes override
    anyio's (which runs every test on every installed backend). Registering here, once all
    plugins are loaded, always does; a conftest or test module fixture still overrides it.

    Args:
        config: The pytest configuration.
    """
    config.pluginmanager.register(_AsyncioBackend(), "asyncinvoices-anyio-backend")


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
