"""Shared test configuration: aiohttp runs on asyncio only, so anyio tests use that backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from asyncinvoices import set_testing


@pytest.fixture
def anyio_backend() -> str:
    """Run every anyio test on asyncio, the only event loop aiohttp supports."""
    return "asyncio"


@pytest.fixture
def instant_backoff() -> Iterator[None]:
    """Backoff waits are zero while the test runs (a server's Retry-After is still honoured)."""
    set_testing(True)
    yield
    set_testing(False)
