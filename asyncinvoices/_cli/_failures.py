"""Turning an exception into one line for a person and an exit code for a script. Pure.

Every message says what went wrong and what to do about it; the exit code says which kind of
failure it was, so a script can tell "fix the token" from "try again later".
"""

from __future__ import annotations

import datetime as dt
import enum
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

import asyncinvoices as ai

from ._options import ENV_EMAIL, ENV_KEY, ENV_TOKEN

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


def network_text(exc: ai.TransportError) -> str:
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


def _ray(exc: ai.APIError | ai.ResponseFormatError) -> str:
    return f" (cf-ray {exc.ray_id})" if exc.ray_id else ""


def _codes(exc: ai.APIError) -> str:
    first = exc.errors[0] if exc.errors else None
    return f"HTTP {exc.status}" + (f", code {first.code} {first.message}" if first else "")


#: What each kind of failure says and its exit code, the first class that matches deciding
#: (subclasses before their bases). Each message says what to do about it.
_KINDS: Final[tuple[tuple[type[BaseException], ExitCode, Callable[[Any], str]], ...]] = (
    (KeyboardInterrupt, ExitCode.INTERRUPTED, lambda exc: "interrupted"),
    (ai.ConfigurationError, ExitCode.USAGE, lambda exc: f"configuration error: {exc}"),
    (
        ai.TransportError,
        ExitCode.SERVER,
        lambda exc: (
            f"network error: {network_text(exc)}: check the connection (and "
            "--base-url), then try again"
        ),
    ),
    (
        ai.QuotaStoreError,
        ExitCode.SERVER,
        lambda exc: (
            f"shared quota unavailable: {exc}; nothing was sent, since without it the "
            "quota cannot be known to have room. Check the store (--shared-quota, "
            "$ASYNCINVOICES_SHARED_QUOTA), or count this run alone with --shared-quota local"
        ),
    ),
    (
        ai.ResponseFormatError,
        ExitCode.BAD_RESPONSE,
        lambda exc: (
            f"unexpected response from Cloudflare: {exc}{_ray(exc)}; please report it "
            "with the cf-ray id"
        ),
    ),
    (
        ai.PaginationError,
        ExitCode.BAD_RESPONSE,
        lambda exc: (
            f"Cloudflare's paging cannot be trusted: {exc}; stopped so as not to "
            "return missing or repeated invoices. Try again, or with another --per-page"
        ),
    ),
    (
        ai.MirrorBusyError,
        ExitCode.ERROR,
        lambda exc: f"the mirror is busy: {exc}; run again once the other sync has finished",
    ),
    (ai.MirrorError, ExitCode.ERROR, lambda exc: f"database error: {exc}"),
    (ai.AsyncInvoicesError, ExitCode.ERROR, lambda exc: f"error: {exc}"),
    (
        OSError,
        ExitCode.ERROR,
        lambda exc: (
            f"I/O error: {f'{exc.filename}: ' if exc.filename else ''}{exc.strerror or exc}"
        ),
    ),
)


def describe(exc: BaseException, *, now: dt.datetime | None = None) -> tuple[str, ExitCode]:
    """Return ``(one-line message, exit code)`` for a failure of a command.

    Args:
        exc: What was raised.
        now: The current time, to say when a rate-limit block lifts (default: now, UTC).
    """
    if isinstance(exc, ai.APIError):
        return _describe_api(exc, now or dt.datetime.now(dt.timezone.utc))
    for kind, code, message in _KINDS:
        if isinstance(exc, kind):
            return message(exc), code
    return f"unexpected error: {exc!r}; run with --verbose for the traceback", ExitCode.ERROR


#: What an error response of each kind says after "what failed (HTTP 403, code ...)": what
#: to do about it.
_API_KINDS: Final[tuple[tuple[type[ai.APIError], ExitCode, str, str], ...]] = (
    (
        ai.AuthenticationError,
        ExitCode.AUTHENTICATION,
        "authentication failed",
        f': set {ENV_TOKEN} to an API token with the "AI Gateway Read" (or "AI Gateway Write") '
        f"permission on this account (or {ENV_EMAIL} and {ENV_KEY}), and check the account id",
    ),
    (
        ai.NotFoundError,
        ExitCode.NOT_FOUND,
        "account not found",
        ": check the account id, 32 hexadecimal characters from the Cloudflare dashboard URL",
    ),
    # Cloudflare's quota is the user's, across every token, process and machine: the run
    # that meets a block is often not the one that caused it.
    (
        ai.RateLimitError,
        ExitCode.RATE_LIMITED,
        "rate limited by Cloudflare",
        ": {lifts}; another process or tool using the same Cloudflare user may have spent the "
        "quota. Run again then; --shared-quota lets processes share one quota, and a lower "
        "--rate-limit leaves room for other tools",
    ),
    (
        ai.BadRequestError,
        ExitCode.USAGE,
        "Cloudflare rejected the request",
        ": check --per-page and --type",
    ),
    (
        ai.ServerError,
        ExitCode.SERVER,
        "Cloudflare failed",
        " after every retry: try again later; https://www.cloudflarestatus.com/ shows incidents",
    ),
)


def _describe_api(exc: ai.APIError, now: dt.datetime) -> tuple[str, ExitCode]:
    """The message and exit code of an error response from Cloudflare."""
    for kind, code, failed, advice in _API_KINDS:
        if isinstance(exc, kind):
            lifts = _block_lifts(exc, now) if isinstance(exc, ai.RateLimitError) else ""
            return f"{failed} ({_codes(exc)}){_ray(exc)}{advice.format(lifts=lifts)}", code
    # Any other status the library may add later.
    return f"Cloudflare answered with an error: {exc}{_ray(exc)}", ExitCode.SERVER


def _block_lifts(exc: ai.RateLimitError, now: dt.datetime) -> str:
    """When Cloudflare's block of the token lifts, as far as the response says."""
    if exc.retry_after is None:
        return "Cloudflare's blocks last five minutes"
    when = now + dt.timedelta(seconds=exc.retry_after)
    return (
        f"the block lifts in {exc.retry_after:.0f} s, at "
        f"{when.astimezone(dt.timezone.utc):%H:%M:%S} UTC"
    )
