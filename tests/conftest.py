"""Shared test configuration: aiohttp runs on asyncio only, so anyio tests use that backend."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TypeVar

import pytest

from asyncinvoices import set_testing

from .postgres import PostgresServer, running_server
from .redis_server import RedisServer, running_redis

T = TypeVar("T")


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


def _throwaway(start: Callable[[], AbstractContextManager[T]], name: str) -> Iterator[T]:
    """Run the server ``start`` makes for as long as the fixture lives.

    Without one, skipped locally; in CI (``CI=true``) the tests fail instead: CI installs
    the server (.ci/run), so a skip there would hide a broken backend.
    """
    stack = contextlib.ExitStack()
    try:
        server = stack.enter_context(start())
    except RuntimeError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"no {name} server: {exc}")
        pytest.skip(f"no {name} server: {exc}")
    with stack:
        yield server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server for the whole test run (see ``_throwaway``)."""
    yield from _throwaway(running_server, "PostgreSQL")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A throwaway Redis server for the whole test run (see ``_throwaway``)."""
    yield from _throwaway(running_redis, "Redis")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each backend: an SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/mirror.db"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex[:16]}"
    yield server.create_database(name)
    server.drop_database(name)
