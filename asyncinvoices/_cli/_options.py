"""The options several commands share, and the one parser of each kind of value. Pure.

Each kind of value (a whole number, an account id, a date, a rate limit, ...) has one parser
here, which turns bad text into a usage error that says what was expected; the options that
more than one command takes (which accounts, how to reach the API, ``--metrics-file``) are
added by one function each, so that they read the same on every command.
"""

from __future__ import annotations

import argparse
import datetime as dt
import typing
from collections.abc import Callable
from typing import Final

import asyncinvoices as ai

__all__ = [
    "CLOUDFLARE_API",
    "ENV_BASE_URL",
    "ENV_EMAIL",
    "ENV_KEY",
    "ENV_SHARED_QUOTA",
    "ENV_TOKEN",
    "INVOICE_TYPES",
    "MAX_CONCURRENCY",
    "account_id",
    "add_account_selection",
    "add_connection_options",
    "add_metrics_file_argument",
    "client_rate_limit",
    "concurrency",
    "date",
    "days",
    "milliseconds",
    "non_negative_int",
    "positive",
    "rate_limit",
]

#: The most requests ``--concurrency`` allows in flight. Cloudflare allows at most 200
#: requests per second per IP (docs/cloudflare-api.md, "Rate limits"): 64 in flight reach that
#: already at a 320 ms round trip, and the quota of 1,200 per five minutes is spent in a few
#: seconds by far fewer, so more only risks the per-IP limit.
MAX_CONCURRENCY: Final = 64

#: Cloudflare's API root, where the command line goes without ``--base-url`` or
#: ``$CLOUDFLARE_BASE_URL``.
CLOUDFLARE_API: Final = "https://api.cloudflare.com/client/v4"

# The environment the command line reads, as `asyncinvoices --help` documents it.
ENV_TOKEN: Final = "CLOUDFLARE_API_TOKEN"
ENV_EMAIL: Final = "CLOUDFLARE_EMAIL"
ENV_KEY: Final = "CLOUDFLARE_API_KEY"
ENV_BASE_URL: Final = "CLOUDFLARE_BASE_URL"
ENV_SHARED_QUOTA: Final = "ASYNCINVOICES_SHARED_QUOTA"

#: The values ``--type`` accepts, the library's own.
INVOICE_TYPES: Final = typing.get_args(ai.InvoiceType)


def positive(text: str) -> int:
    """A whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """A whole number >= 0."""
    if text == "0":
        return 0
    return positive(text)


def concurrency(text: str) -> int:
    """Requests in flight: a whole number from 1 to :data:`MAX_CONCURRENCY`."""
    value = positive(text)
    if value > MAX_CONCURRENCY:
        raise argparse.ArgumentTypeError(
            f"at most {MAX_CONCURRENCY} requests in flight, got {value}: Cloudflare allows "
            "200 requests per second per IP, and more in flight fetch no faster"
        )
    return value


def account_id(text: str) -> str:
    """An ACCOUNT_ID argument, by the library's one rule: lower-cased, or a usage error."""
    try:
        return ai.validate_account_id(text)
    except ai.ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def date(text: str) -> dt.datetime:
    """A bound on ``created``: a date (midnight UTC) or an ISO-8601 time (UTC if no zone)."""
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date such as 2025-01-31 or a time such as 2025-01-31T12:00:00Z, "
            f"got {text!r}"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.timezone.utc)


def milliseconds(text: str) -> float:
    """A latency in milliseconds, from 0 to ten minutes."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected milliseconds, got {text!r}") from None
    if not 0 <= value < 600_000:
        raise argparse.ArgumentTypeError(f"expected 0 to 600000 ms, got {text}")
    return value


def days(*, maximum: int | None, zero: bool) -> Callable[[str], float]:
    """The parser of a number of days, fractions allowed, within the bounds."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number of days, got {text!r}") from None
        low = "0" if zero else "above 0"
        if not (value >= 0 if zero else value > 0) or (maximum is not None and value > maximum):
            bounds = f"{low} and at most {maximum}" if maximum is not None else low
            raise argparse.ArgumentTypeError(f"expected {bounds} days, got {text}")
        return value

    return parse


def rate_limit(text: str) -> tuple[int, float] | None:
    """``Q/W`` (e.g. ``1200/300``, W 300 if left out) as ``(requests, seconds)``; ``off``:
    ``None``."""
    if text.lower() in ("off", "none", "0"):
        return None
    quota, _, window = text.partition("/")
    try:
        requests, seconds = int(quota), float(window or "300")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected REQUESTS/SECONDS, got {text!r}") from None
    if requests < 1 or seconds <= 0:
        raise argparse.ArgumentTypeError(f"expected REQUESTS >= 1 and SECONDS > 0, got {text!r}")
    return requests, seconds


def client_rate_limit(text: str) -> ai.RateLimit:
    """``Q/W`` as the client's :class:`~asyncinvoices.RateLimit`; never ``off``."""
    parsed = rate_limit(text)
    if parsed is None:
        # Cloudflare blocks the token for five minutes past its quota (docs/cloudflare-api.md,
        # "Rate limits"): the client's own count is never switched off from here.
        raise argparse.ArgumentTypeError("the rate limit cannot be switched off; give Q/W")
    return ai.RateLimit(requests=parsed[0], window=parsed[1])


def add_account_selection(
    parser: argparse.ArgumentParser, *, ids_help: str, skip_failed_help: str
) -> None:
    """Add ACCOUNT_IDs, ``--all-accounts`` and ``--skip-failed``: which accounts to walk."""
    parser.add_argument(
        "account_ids", metavar="ACCOUNT_ID", nargs="*", type=account_id, help=ids_help
    )
    parser.add_argument(
        "--all-accounts",
        action="store_true",
        help="every account the credentials can read (GET /accounts), instead of ACCOUNT_IDs",
    )
    parser.add_argument("--skip-failed", action="store_true", help=skip_failed_help)


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """Add how the API is reached: ``--rate-limit``, ``--base-url`` and the shared quota."""
    parser.add_argument(
        "--rate-limit",
        type=client_rate_limit,
        metavar="Q/W",
        help="send at most Q requests in any W seconds (default: 1200/300, Cloudflare's "
        "quota); lower it to leave room for other tools using the same token",
    )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help=f"API root (default: $CLOUDFLARE_BASE_URL or {CLOUDFLARE_API}); "
        "https, or http to loopback only",
    )
    parser.add_argument(
        "--shared-quota",
        metavar="URL",
        help="where the quota's window is kept, shared by every process using it: "
        "redis://host:6379/0 for processes on any machine (pip install "
        "'asyncinvoices[redis]'), file:///directory for one machine, or local for this run "
        "alone (default: $ASYNCINVOICES_SHARED_QUOTA, else a file in the user's cache "
        "directory)",
    )
    parser.add_argument(
        "--quota-key",
        metavar="KEY",
        help="names the budget in the shared store (default: a hash of the credentials); "
        "give several tokens of one Cloudflare user the same key",
    )


def add_metrics_file_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--metrics-file PATH``, for the commands that report to Prometheus."""
    parser.add_argument(
        "--metrics-file",
        metavar="PATH",
        help="write the run's figures (requests by status, invoices, seconds waited, outcome) "
        "to PATH in Prometheus's text format, atomically, even when the run fails; for "
        "node_exporter's textfile collector",
    )
