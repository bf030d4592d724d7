"""The shared quota in a file: every process of one user on one machine spends one window.

The window is a small JSON file, ``<directory>/<quota key>.json``, read and written under an
exclusive ``flock`` on ``<quota key>.lock`` beside it, and replaced atomically, so that a
process killed mid-write leaves the previous window whole. Times are the machine's wall clock
(``time.time``): the only clock every process on the machine shares across runs; a clock set
back makes places look younger, which holds requests back longer, never less.

The command line keeps it in the user's cache directory (:func:`cache_directory`), so that a
run remembers the requests of the run before it. It needs POSIX ``fcntl``; elsewhere the
store refuses to open, with a :class:`~asyncinvoices.ConfigurationError`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import anyio.to_thread

from ._errors import ConfigurationError, QuotaStoreError
from ._quota import Admission, QuotaState, Verdict

__all__ = ["FileQuotaStore", "cache_directory"]

T = TypeVar("T")


def cache_directory(environ: Mapping[str, str] | None = None) -> Path:
    """Return where the command line keeps its quota files: the user's cache directory.

    ``$XDG_CACHE_HOME/asyncinvoices/quota``; without it, the platform's usual place:
    ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows, ``~/.cache`` elsewhere.

    Args:
        environ: The environment (``os.environ`` by default).
    """
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME")
    if base and os.path.isabs(base):
        root = Path(base)
    elif sys.platform == "darwin":
        root = Path.home() / "Library" / "Caches"
    elif sys.platform == "win32" and env.get("LOCALAPPDATA"):
        root = Path(env["LOCALAPPDATA"])
    else:
        root = Path.home() / ".cache"
    return root / "asyncinvoices" / "quota"


def _now() -> int:
    return time.time_ns() // 1000


class FileQuotaStore:
    """A :class:`~._quota.QuotaStore` in a locked file of ``directory``.

    Args:
        directory: Where the window's file is kept; created if missing.
        key: The quota key, the file's name.

    Raises:
        ConfigurationError: Without POSIX file locks.
    """

    def __init__(self, directory: str | os.PathLike[str], key: str) -> None:
        try:
            import fcntl  # noqa: F401 - POSIX only: checked here, used in _locked
        except ImportError:
            raise ConfigurationError(
                "a file shared quota needs POSIX file locks; use a redis:// URL instead"
            ) from None
        self._directory = Path(directory)
        self._path = self._directory / f"{key}.json"
        self.name = self._path.as_uri() if self._path.is_absolute() else str(self._path)

    @property
    def path(self) -> Path:
        """The file the window is kept in."""
        return self._path

    def _locked(self, change: Callable[[QuotaState, int], T]) -> T:
        import fcntl

        self._directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_path = self._path.with_suffix(".lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                state = self._read()
                result = change(state, _now())
                self._write(state)
                return result
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _read(self) -> QuotaState:
        try:
            text = self._path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return QuotaState()
        try:
            return QuotaState.from_json(json.loads(text))
        except ValueError as exc:
            # Written only by replace(), so never half-written; a file that is not a window
            # was put there by something else, and guessing could overspend the quota.
            raise QuotaStoreError(
                f"{self.name} is not a quota window ({exc}); remove it to start afresh",
                store=self.name,
            ) from None

    def _write(self, state: QuotaState) -> None:
        handle, temporary = tempfile.mkstemp(dir=self._directory, prefix=".quota-")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(state.to_json(), file, separators=(",", ":"))
            os.replace(temporary, self._path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    async def _run(self, change: Callable[[QuotaState, int], T]) -> T:
        try:
            return await anyio.to_thread.run_sync(self._locked, change)
        except OSError as exc:
            raise QuotaStoreError(
                f"cannot use the shared quota file {self.name}: {exc.strerror or exc}",
                store=self.name,
            ) from exc

    async def admit(self, ask: Admission) -> Verdict:
        """Take a place in the file's window if it has room (see :class:`~._quota.QuotaStore`)."""
        return await self._run(lambda state, now: state.admit(now, ask))

    async def release(self, token: str) -> None:
        """End the request of ``token`` now."""
        await self._run(lambda state, now: state.release(now, token))

    async def aclose(self) -> None:
        """Nothing stays open between two steps."""
