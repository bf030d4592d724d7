"""Shared test configuration: aiohttp runs on asyncio only, so anyio tests use that backend."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

from asyncinvoices import set_testing

from .postgres import PostgresServer, running_server
from .redis_server import RedisServer, running_redis


@pytest.fixture
def anyio_backend() -> str:
    """Run every anyio test on asyncio, the only event loop aiohttp supports."""
    return "asyncio"


@pytest.fixture(autouse=True)
def own_cache_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Each test has a home of its own: the command line keeps its shared quota in the user's
    cache directory, and a test must not share a window with another, nor with the user's."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("ASYNCINVOICES_SHARED_QUOTA", raising=False)


@pytest.fixture
def instant_backoff() -> Iterator[None]:
    """Backoff waits are zero while the test runs (a server's Retry-After is still honoured)."""
    set_testing(True)
    yield
    set_testing(False)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server for the whole test run; skipped locally without one.

    In CI (``CI=true``) a server that cannot start fails the tests instead: CI installs
    PostgreSQL (.ci/run), so a skip there would hide a broken backend.
    """
    stack = contextlib.ExitStack()
    try:
        server = stack.enter_context(running_server())
    except RuntimeError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"no PostgreSQL server: {exc}")
        pytest.skip(f"no PostgreSQL server: {exc}")
    with stack:
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A throwaway Redis server for the whole test run; skipped locally without one.

    In CI (``CI=true``) a server that cannot start fails the tests instead: CI installs
    ``redis-server`` (.ci/run), so a skip there would hide a broken store.
    """
    stack = contextlib.ExitStack()
    try:
        server = stack.enter_context(running_redis())
    except RuntimeError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"no Redis server: {exc}")
        pytest.skip(f"no Redis server: {exc}")
    with stack:
        yield server
