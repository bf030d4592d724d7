"""Writing an output file atomically: a temporary file in the same directory, then a rename.

Readers of the target path see either the previous file or the complete new one, never a
truncated mix: if the run fails, is cancelled or is interrupted with Ctrl-C, the temporary
file is removed and the previous content stays untouched. ``os.replace`` is atomic on POSIX
and on Windows when both names are on the same file system, which the same directory
guarantees.

A ``compress=True`` file is gzip (RFC 1952) under the text layer: what a reader of the
target sees is still either the previous file or a complete, valid gzip stream.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_text_file"]


def _mode_for(target: Path) -> int:
    try:
        return os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        # What open() would have created: 0o666 less the umask, read without changing it
        # for longer than this call.
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def atomic_text_file(
    path: str | os.PathLike[str],
    *,
    newline: str | None = None,
    compress: bool = False,
    keep: Callable[[], bool] | None = None,
) -> Iterator[IO[str]]:
    """Open a text file that replaces ``path`` only when the ``with`` block succeeds.

    The file is UTF-8. On success it is flushed, synced to disk, given the permissions of the
    file it replaces (or the usual ones for a new file) and renamed over ``path``. On any
    exception, ``KeyboardInterrupt`` and cancellation included, it is deleted.

    Args:
        path: The file to create or replace.
        newline: Passed to :func:`open`; ``""`` for CSV.
        compress: Write gzip: the text is compressed on its way to the file.
        keep: Asked when the block fails: if it says True, what was written is a valid file
            (the caller made sure) and replaces ``path`` all the same before the exception
            goes on (``fetch --resume``).

    Raises:
        OSError: If the directory is not writable or the disk is full.
    """
    target = Path(path)
    directory = target.parent
    try:
        fd, temp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".partial", dir=directory if str(directory) else "."
        )
    except OSError as exc:
        # Name the file the user asked for, not the temporary one nobody has heard of.
        raise OSError(exc.errno, exc.strerror, str(target)) from exc
    temp = Path(temp_name)
    failure: BaseException | None = None
    try:
        with os.fdopen(fd, "wb") as raw:
            try:
                with _text_layer(raw, target, newline=newline, compress=compress) as file:
                    yield file
            except BaseException as exc:
                if keep is None or not keep():
                    raise
                failure = exc
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(temp, _mode_for(target))
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    if failure is not None:
        raise failure


@contextlib.contextmanager
def _text_layer(
    raw: IO[bytes], target: Path, *, newline: str | None, compress: bool
) -> Iterator[IO[str]]:
    """UTF-8 text over ``raw`` (through gzip if ``compress``); closing it leaves ``raw`` open."""
    binary: IO[bytes] | gzip.GzipFile = raw
    if compress:
        # The header records the name the file will have, without .gz, as gzip(1) does;
        # GzipFile does not close a file object it was given.
        binary = gzip.GzipFile(filename=target.name, mode="wb", fileobj=raw)
    text = io.TextIOWrapper(binary, encoding="utf-8", newline=newline)
    try:
        yield text
    except BaseException:
        # The file is deleted anyway: a second error while closing (a full disk) must not
        # hide the first, and an unclosed GzipFile would complain when collected.
        with contextlib.suppress(Exception):
            _close(text, binary, compress=compress)
        raise
    _close(text, binary, compress=compress)


def _close(text: io.TextIOWrapper, binary: IO[bytes] | gzip.GzipFile, *, compress: bool) -> None:
    # detach() flushes the text layer and leaves ``raw`` open, for the caller to sync.
    text.detach()
    if compress:
        binary.close()  # writes the gzip trailer
