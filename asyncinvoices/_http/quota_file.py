"""The shared quota in a file: every process of one user on one machine spends one window.

The window is a small JSON file, ``<directory>/<quota key>.json``, read and rewritten in
place under an exclusive ``flock`` on it, in one ``write()``, so that a process killed
mid-step leaves a whole window behind. Times are the machine's wall clock
(``time.time``): the only clock every process on the machine shares across runs; a clock set
back makes places look younger, which holds requests back longer; one set forward frees
places early, so keep the clock synchronised, as NTP does.

The command line keeps it in the user's cache directory (:func:`cache_directory`), so that a
run remembers the requests of the run before it. It needs POSIX ``fcntl``; elsewhere the
store refuses to open, with a :class:`~asyncinvoices.ConfigurationError`.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import anyio.to_thread

from asyncinvoices._errors import ConfigurationError, QuotaStoreError

from .quota import Admission, QuotaState, Verdict

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
    """A :class:`.QuotaStore` in a locked file of ``directory``.

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
        # The file stays open between steps. flock() excludes other open files, not other
        # threads of this process, so those take turns on a thread lock first.
        self._fd: int | None = None
        self._threads = threading.Lock()
        self.name = self._path.as_uri() if self._path.is_absolute() else str(self._path)

    @property
    def path(self) -> Path:
        """The file the window is kept in."""
        return self._path

    def _locked(self, change: Callable[[QuotaState, int], T]) -> T:
        import fcntl

        with self._threads:
            if self._fd is None:
                self._directory.mkdir(parents=True, exist_ok=True, mode=0o700)
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fd = self._fd
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                state = self._read(fd)
                result = change(state, _now())
                # One write() of the whole window, then the length: a process killed between
                # the two leaves the new window followed by the old one's tail, which
                # _read ignores. (Writing a new file and renaming it over the old one would
                # cost a millisecond a step on ext4; this, tens of microseconds.)
                data = json.dumps(state.to_json(), separators=(",", ":")).encode() + b"\n"
                os.pwrite(fd, data, 0)
                os.ftruncate(fd, len(data))
                return result
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _read(self, fd: int) -> QuotaState:
        chunks = []
        offset = 0
        while chunk := os.pread(fd, 1 << 16, offset):
            chunks.append(chunk)
            offset += len(chunk)
        text = b"".join(chunks).decode("utf-8", "replace")
        if not text.strip():
            return QuotaState()
        try:
            data, _ = json.JSONDecoder().raw_decode(text)
            return QuotaState.from_json(data)
        except ValueError as exc:
            # Not a window this store wrote: guessing could overspend the quota.
            raise QuotaStoreError(
                f"{self.name} is not a quota window ({exc}); remove it to start afresh",
                store=self.name,
            ) from None

    async def _run(self, change: Callable[[QuotaState, int], T]) -> T:
        try:
            return await anyio.to_thread.run_sync(self._locked, change)
        except OSError as exc:
            raise QuotaStoreError(
                f"cannot use the shared quota file {self.name}: {exc.strerror or exc}",
                store=self.name,
            ) from exc

    async def admit(self, ask: Admission) -> Verdict:
        """Take a place in the file's window if it has room (see :class:`.QuotaStore`)."""
        return await self._run(lambda state, now: state.admit(now, ask))

    async def release(self, token: str) -> None:
        """End the request of ``token`` now."""
        await self._run(lambda state, now: state.release(now, token))

    async def aclose(self) -> None:
        """Close the file."""
        with self._threads:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
