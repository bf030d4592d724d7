"""Turning an exception into one line for a person and an exit code for a script. Pure.

Every message says what went wrong and what to do about it; the exit code says which kind of
failure it was, so a script can tell "fix the token" from "try again later".
"""

from __future__ import annotations

import datetime as dt
import enum
import os
import re
from collections.abc import Mapping

from asyncinvoices._config import ENV_EMAIL, ENV_KEY, ENV_TOKEN
from asyncinvoices._errors import (
    APIError,
    AsyncInvoicesError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    NotFoundError,
    PaginationError,
    QuotaStoreError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    TransportError,
)
from asyncinvoices._mirror.types import MirrorBusyError, MirrorError

__all__ = ["EXIT_CODES_HELP", "ExitCode", "describe", "exit_codes_help", "network_text"]


class ExitCode(enum.IntEnum):
    """The exit status of ``asyncinvoices``, one per kind of failure."""

    OK = 0
    ERROR = 1
    USAGE = 2
    AUTHENTICATION = 3
    NOT_FOUND = 4
    RATE_LIMITED = 5
    SERVER = 6
    BAD_RESPONSE = 7
    PARTIAL = 8
    INTERRUPTED = 130
    BROKEN_PIPE = 141


#: What each exit code means, as the ``--help`` epilogs list them.
_EXIT_CODE_LINES: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.ERROR: "unexpected error (e.g. the output file cannot be written)",
    ExitCode.USAGE: "usage or configuration: bad arguments, no credentials, request rejected "
    "as invalid",
    ExitCode.AUTHENTICATION: 'authentication: token missing, wrong, or without the "AI Gateway '
    'Read" permission',
    ExitCode.NOT_FOUND: "not found: no such account",
    ExitCode.RATE_LIMITED: "rate limited: Cloudflare blocks the token for now; the message says "
    "until when",
    ExitCode.SERVER: "server or transport: Cloudflare failed (5xx) or the connection did, after "
    "retries",
    ExitCode.BAD_RESPONSE: "bad response: Cloudflare's answer or its paging could not be trusted",
    ExitCode.PARTIAL: "partial success: with --skip-failed, some accounts failed (each named on "
    "stderr with its reason); the others were written",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C); no output file is left half-written",
    ExitCode.BROKEN_PIPE: "standard output was closed early, e.g. by `| head`",
}


def exit_codes_help(meanings: Mapping[ExitCode, str] | None = None) -> str:
    """Return the ``exit codes:`` block of a ``--help`` epilog.

    Args:
        meanings: The codes a command can end with, each with what it means for that
            command (an empty text: the general meaning); every code by default.
    """
    chosen = dict.fromkeys(ExitCode, "") if meanings is None else meanings
    lines = [f"  {code.value:<4} {text or _EXIT_CODE_LINES[code]}" for code, text in chosen.items()]
    return "exit codes:\n" + "\n".join(lines) + "\n"


#: Every exit code, as the epilog of ``asyncinvoices --help`` lists them.
EXIT_CODES_HELP = exit_codes_help()


# aiohttp's connection errors read "Cannot connect to host h:443 ssl:default [...]": the TLS
# setting is noise to a reader, and plainly wrong for an http:// URL.
_SSL_NOISE = re.compile(r" ssl:\S+")


def network_text(exc: TransportError) -> str:
    """Return a readable text for a network failure: ``cannot connect to h:443: Connection
    refused (page 1)``.

    The library's message quotes aiohttp's; when the failure is a refused or unresolvable
    connection, the host, port and the operating system's reason are enough.

    Args:
        exc: The failure, with the transport's exception as its ``__cause__``.
    """
    cause = exc.__cause__
    reason = getattr(cause, "os_error", None)
    host, port = getattr(cause, "host", None), getattr(cause, "port", None)
    page = f" (page {exc.page})" if exc.page is not None else ""
    if isinstance(reason, OSError) and host:
        # asyncio's text for a refused connection is "Connect call failed (addr)"; the errno
        # says it better. A resolver error (socket.gaierror) has a negative errno of its own.
        errno = reason.errno
        why = os.strerror(errno) if isinstance(errno, int) and errno > 0 else reason.strerror
        return f"cannot connect to {host}:{port}: {why or reason}{page}"
    return _SSL_NOISE.sub("", str(exc))


def _ray(exc: APIError | ResponseFormatError) -> str:
    return f" (cf-ray {exc.ray_id})" if exc.ray_id else ""


def _codes(exc: APIError) -> str:
    first = exc.errors[0] if exc.errors else None
    return f"HTTP {exc.status}" + (f", code {first.code} {first.message}" if first else "")


def describe(exc: BaseException, *, now: dt.datetime | None = None) -> tuple[str, ExitCode]:
    """Return ``(one-line message, exit code)`` for a failure of a command.

    Args:
        exc: What was raised.
        now: The current time, to say when a rate-limit block lifts (default: now, UTC).
    """
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", ExitCode.INTERRUPTED
    if isinstance(exc, ConfigurationError):
        return f"configuration error: {exc}", ExitCode.USAGE
    if isinstance(exc, APIError):
        return _describe_api(exc, now or dt.datetime.now(dt.timezone.utc))
    if isinstance(exc, TransportError):
        return (
            f"network error: {network_text(exc)}: check the connection (and --base-url), "
            "then try again",
            ExitCode.SERVER,
        )
    if isinstance(exc, QuotaStoreError):
        return (
            f"shared quota unavailable: {exc}; nothing was sent, since without it the quota "
            "cannot be known to have room. Check the store (--shared-quota, "
            "$ASYNCINVOICES_SHARED_QUOTA), or count this run alone with --shared-quota local",
            ExitCode.SERVER,
        )
    if isinstance(exc, ResponseFormatError):
        return (
            f"unexpected response from Cloudflare: {exc}{_ray(exc)}; "
            "please report it with the cf-ray id",
            ExitCode.BAD_RESPONSE,
        )
    if isinstance(exc, PaginationError):
        return (
            f"Cloudflare's paging cannot be trusted: {exc}; stopped so as not to return "
            "missing or repeated invoices. Try again, or with another --per-page",
            ExitCode.BAD_RESPONSE,
        )
    if isinstance(exc, MirrorBusyError):
        return (
            f"the mirror is busy: {exc}; run again once the other sync has finished",
            ExitCode.ERROR,
        )
    if isinstance(exc, MirrorError):
        return f"database error: {exc}", ExitCode.ERROR
    if isinstance(exc, AsyncInvoicesError):
        return f"error: {exc}", ExitCode.ERROR
    if isinstance(exc, OSError):
        name = f"{exc.filename}: " if exc.filename else ""
        return f"I/O error: {name}{exc.strerror or exc}", ExitCode.ERROR
    return f"unexpected error: {exc!r}; run with --verbose for the traceback", ExitCode.ERROR


def _describe_api(exc: APIError, now: dt.datetime) -> tuple[str, ExitCode]:
    """The message and exit code of an error response from Cloudflare."""
    if isinstance(exc, AuthenticationError):
        return (
            f"authentication failed ({_codes(exc)}){_ray(exc)}: set {ENV_TOKEN} to an API "
            'token with the "AI Gateway Read" (or "AI Gateway Write") permission on this '
            f"account (or {ENV_EMAIL} and {ENV_KEY}), and check the account id",
            ExitCode.AUTHENTICATION,
        )
    if isinstance(exc, NotFoundError):
        return (
            f"account not found ({_codes(exc)}){_ray(exc)}: check the account id, "
            "32 hexadecimal characters from the Cloudflare dashboard URL",
            ExitCode.NOT_FOUND,
        )
    if isinstance(exc, RateLimitError):
        if exc.retry_after is not None:
            when = now + dt.timedelta(seconds=exc.retry_after)
            lifts = (
                f"the block lifts in {exc.retry_after:.0f} s, at "
                f"{when.astimezone(dt.timezone.utc):%H:%M:%S} UTC"
            )
        else:
            lifts = "Cloudflare's blocks last five minutes"
        # Cloudflare's quota is the user's, across every token, process and machine: the run
        # that meets a block is often not the one that caused it.
        return (
            f"rate limited by Cloudflare ({_codes(exc)}){_ray(exc)}: {lifts}; another process "
            "or tool using the same Cloudflare user may have spent the quota. Run again then; "
            "--shared-quota lets processes share one quota, and a lower --rate-limit leaves "
            "room for other tools",
            ExitCode.RATE_LIMITED,
        )
    if isinstance(exc, BadRequestError):
        return (
            f"Cloudflare rejected the request ({_codes(exc)}){_ray(exc)}: "
            "check --per-page and --type",
            ExitCode.USAGE,
        )
    if isinstance(exc, ServerError):
        return (
            f"Cloudflare failed ({_codes(exc)}){_ray(exc)} after every retry: "
            "try again later; https://www.cloudflarestatus.com/ shows incidents",
            ExitCode.SERVER,
        )
    # Any other status the library may add later.
    return f"Cloudflare answered with an error: {exc}{_ray(exc)}", ExitCode.SERVER
