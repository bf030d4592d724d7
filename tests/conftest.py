"""Shared test configuration: aiohttp runs on asyncio only, so anyio tests use that backend."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Run every anyio test on asyncio, the only event loop aiohttp supports."""
    return "asyncio"
