"""``--verbose`` logging to stderr, with every credential replaced by ``***``.

``--log-format json`` writes one JSON object per line instead of text, for log pipelines
(Loki, Elasticsearch, Cloud Logging): the time, the level, the message and the fields the
library attaches to its records (``page``, ``status``, ``wait``, ``ray_id``).

The redaction is a :class:`logging.Filter` on the handler, so it sees every record the
handler writes, including those propagated from the library's ``asyncinvoices`` logger and
the traceback text of ``logger.exception``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
from collections.abc import Iterable, Iterator
from typing import IO, Protocol

__all__ = [
    "REDACTED",
    "JsonFormatter",
    "JsonLines",
    "RedactingFilter",
    "StreamSwitch",
    "logging_to",
    "redact",
]

REDACTED = "***"
_LOGGER = "asyncinvoices"


def redact(text: str, secrets: Iterable[str]) -> str:
    """Return ``text`` with every occurrence of every secret replaced by ``***``.

    Example:
        >>> redact("Bearer abc123 failed", ["abc123"])
        'Bearer *** failed'
    """
    # Longest first, so that a secret containing another is replaced whole.
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Replaces every secret in a record's message and traceback with ``***``.

    Args:
        secrets: The strings never to write.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; always let it through."""
        if not self.secrets:
            return True
        record.msg = redact(record.getMessage(), self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


# The fields the library attaches to its records (`extra=`), in the order they are written.
_FIELDS = ("page", "status", "wait", "ray_id")


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON: time, level, logger, message and its fields.

    Args:
        redactor: Its secrets are replaced by ``***`` in the whole line, fields included.
    """

    def __init__(self, redactor: RedactingFilter) -> None:
        super().__init__()
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        """Return ``record`` as a JSON object on one line."""
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in _FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        line = json.dumps(entry, ensure_ascii=False, default=str)
        return redact(line, self._redactor.secrets)


class JsonLines(io.TextIOBase):
    """A text stream that writes each line it is given as a JSON log record.

    Under ``--log-format json`` the commands' own lines on stderr (``wrote N invoices to
    FILE``, a note about a long wait, an account skipped) go through it, so that every line
    on stderr is JSON. A line starting with ``asyncinvoices:`` reports a failure (level
    ERROR); the others are INFO.

    Args:
        target: Where the JSON lines go.
        redactor: Its secrets never reach ``target``.
    """

    def __init__(self, target: IO[str], redactor: RedactingFilter) -> None:
        super().__init__()
        self._target = target
        self._formatter = JsonFormatter(redactor)
        self._pending = ""

    def write(self, text: str) -> int:
        """Write every complete line of ``text`` as a record; keep the rest for later."""
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            if line:
                failure = line.startswith("asyncinvoices: ")
                record = logging.LogRecord(
                    name=f"{_LOGGER}.cli",
                    level=logging.ERROR if failure else logging.INFO,
                    pathname=__file__,
                    lineno=0,
                    msg=line.removeprefix("asyncinvoices: "),
                    args=None,
                    exc_info=None,
                )
                self._target.write(self._formatter.format(record) + "\n")
        return len(text)

    def flush(self) -> None:
        """Flush the target (a partial line waits for its end)."""
        self._target.flush()


# Commands can run at the same time in one process (run_async in an application, or in
# tests): each block restoring the level it found would leave the level of a block that
# ended earlier. So the logger's level is the lowest of the blocks open now, and the level
# from before the first of them comes back when the last one ends.
_OPEN_LEVELS: list[int] = []
_OUTER_LEVEL: list[int] = [logging.NOTSET]


def _level(verbosity: int) -> int:
    if verbosity >= 2:
        return logging.DEBUG
    if verbosity == 1:
        return logging.INFO
    return logging.WARNING


@contextlib.contextmanager
def logging_to(
    stream: IO[str], *, verbosity: int, secrets: Iterable[str] = (), json_lines: bool = False
) -> Iterator[tuple[RedactingFilter, StreamSwitch]]:
    """Send the ``asyncinvoices`` logger to ``stream`` for the duration of the block.

    Warnings (e.g. a retried request) are shown by default, ``-v`` adds progress
    information and ``-vv`` every request. The logger's previous level is restored on exit.
    With ``json_lines``, each record is one JSON object on a line (:class:`JsonFormatter`).

    Yields:
        The filter, whose ``secrets`` can be extended once the credentials are known, and
        the handler's stream, which the progress bar redirects while it runs.
    """
    logger = logging.getLogger(_LOGGER)
    switch = StreamSwitch(stream)
    handler = logging.StreamHandler(switch)
    redactor = RedactingFilter(secrets)
    handler.setFormatter(
        JsonFormatter(redactor)
        if json_lines
        else logging.Formatter(
            "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
            if verbosity
            else "%(levelname)s: %(message)s"
        )
    )
    handler.addFilter(redactor)
    level = _level(verbosity)
    handler.setLevel(level)
    if not _OPEN_LEVELS:
        _OUTER_LEVEL[0] = logger.level
    _OPEN_LEVELS.append(level)
    logger.addHandler(handler)
    logger.setLevel(min(_OPEN_LEVELS))
    try:
        yield redactor, switch
    finally:
        logger.removeHandler(handler)
        _OPEN_LEVELS.remove(level)
        logger.setLevel(min(_OPEN_LEVELS) if _OPEN_LEVELS else _OUTER_LEVEL[0])


class _Writable(Protocol):
    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


class StreamSwitch:
    """A text stream that writes to whatever :attr:`target` currently is.

    The log handler writes here; while the progress bar runs, the target is rich's proxy,
    which prints each line above the bar instead of through it.

    Args:
        target: The stream to write to at first.
    """

    def __init__(self, target: IO[str]) -> None:
        self.target: _Writable = target

    def write(self, text: str) -> int:
        """Write ``text`` to the current target."""
        return self.target.write(text)

    def flush(self) -> None:
        """Flush the current target."""
        self.target.flush()
