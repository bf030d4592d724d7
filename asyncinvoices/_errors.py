"""The exceptions asyncinvoices raises, all under one root.

::

    AsyncInvoicesError
    ├── ConfigurationError        bad arguments or environment, raised before any request
    ├── TransportError            the connection failed, timed out or was cut off
    ├── ResponseFormatError       the response is not the JSON envelope Cloudflare documents
    ├── PaginationError           the server's paging cannot be trusted (ignored page, loops)
    ├── QuotaStoreError           the shared quota's store (a file, Redis) cannot be used
    └── APIError                  Cloudflare answered with an error envelope or status
        ├── BadRequestError       400 (and any other 4xx not named below)
        ├── AuthenticationError   401, 403, and 400 with codes 9106 / 6003 / 6111 / 6102 / 6103
        ├── NotFoundError         404, and 400 with codes 7003 / 7000 (no such account)
        ├── RateLimitError        429, code 971, or a Retry-After longer than allowed
        └── ServerError           5xx, including the edge's HTML error pages

aiohttp, cattrs and json exceptions are translated into these at the one place they can
arise and chained (``raise ... from exc``); none escapes the package.
"""

from __future__ import annotations

import attrs

__all__ = [
    "APIError",
    "AsyncInvoicesError",
    "AuthenticationError",
    "BadRequestError",
    "CloudflareErrorDetail",
    "ConfigurationError",
    "NotFoundError",
    "PaginationError",
    "QuotaStoreError",
    "RateLimitError",
    "ResponseFormatError",
    "ServerError",
    "TransportError",
]


@attrs.frozen(kw_only=True)
class CloudflareErrorDetail:
    """One entry of the ``errors`` array of a Cloudflare error envelope.

    Attributes:
        code: Cloudflare's numeric error code, e.g. ``10000`` or ``971``.
        message: The human-readable message Cloudflare sent with it.
        documentation_url: A link to Cloudflare's explanation, when one is given.
        chain: The nested ``error_chain`` entries, outermost first.
    """

    code: int
    message: str
    documentation_url: str | None = None
    chain: tuple[CloudflareErrorDetail, ...] = ()

    def codes(self) -> tuple[int, ...]:
        """Return this entry's code followed by every code in its chain, depth first."""
        out = [self.code]
        for inner in self.chain:
            out.extend(inner.codes())
        return tuple(out)

    def __str__(self) -> str:
        return f"{self.code} {self.message}"


class AsyncInvoicesError(Exception):
    """The root of every exception asyncinvoices raises.

    Catch this to handle any failure of the library in one place.
    """


class ConfigurationError(AsyncInvoicesError, ValueError):
    """An argument, credential or environment variable is missing or invalid.

    Raised before any request is sent, so nothing has reached the network.
    """


class TransportError(AsyncInvoicesError):
    """The request could not be completed: connection refused or reset, timeout, cut-off body.

    Attributes:
        page: The page being fetched when it happened, when known.
    """

    def __init__(self, message: str, *, page: int | None = None) -> None:
        super().__init__(message)
        self.page = page


class ResponseFormatError(AsyncInvoicesError):
    """The response is not what Cloudflare documents: not JSON, wrong envelope, wrong types.

    Attributes:
        page: The page whose response was malformed, when known.
        field: The dotted path of the offending field, e.g. ``invoices[3].amount_due``.
        ray_id: The ``cf-ray`` header of the response, to quote to Cloudflare support.
    """

    def __init__(
        self,
        message: str,
        *,
        page: int | None = None,
        field: str | None = None,
        ray_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.page = page
        self.field = field
        self.ray_id = ray_id


class PaginationError(AsyncInvoicesError):
    """The server's pagination cannot be trusted to return every invoice exactly once.

    Raised when the server answers with a page other than the one asked for, repeats a
    page's content, or keeps saying ``has_more`` past every page its ``total_count`` allows.

    Attributes:
        page: The page at which the inconsistency was detected.
    """

    def __init__(self, message: str, *, page: int | None = None) -> None:
        super().__init__(message)
        self.page = page


class QuotaStoreError(AsyncInvoicesError):
    """The store of the shared quota (a file, Redis) could not be read or written.

    The request it was to admit was not sent: without the shared count no process can know
    the quota is not spent, and one request too many blocks every tool of the user for five
    minutes, so the client fails closed. A stream's checkpoint is still valid for resuming.

    Attributes:
        store: The store, as ``redis://host:6379/0`` or ``file:///path``, without a password.
    """

    def __init__(self, message: str, *, store: str) -> None:
        super().__init__(message)
        self.store = store


class APIError(AsyncInvoicesError):
    """Cloudflare answered with an error.

    Attributes:
        status: The HTTP status code.
        errors: The ``errors`` array of the envelope, empty when the body was not JSON.
        ray_id: The ``cf-ray`` response header: quote it to Cloudflare support.
        page: The page being fetched, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        errors: tuple[CloudflareErrorDetail, ...] = (),
        ray_id: str | None = None,
        page: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.errors = errors
        self.ray_id = ray_id
        self.page = page

    @property
    def codes(self) -> tuple[int, ...]:
        """Every Cloudflare error code in the envelope, chains included, in order."""
        out: list[int] = []
        for error in self.errors:
            out.extend(error.codes())
        return tuple(out)


class BadRequestError(APIError):
    """The request was rejected as malformed, e.g. code 6008 for an out-of-range ``per_page``."""


class AuthenticationError(APIError):
    """Credentials are missing, malformed, wrong, or lack the "AI Gateway Read" permission."""


class NotFoundError(APIError):
    """The account does not exist or the URL does not route (codes 7003 / 7000)."""


class RateLimitError(APIError):
    """Cloudflare's rate limit blocked the request and retrying was not allowed to wait it out.

    Attributes:
        retry_after: Seconds until Cloudflare lifts the block, when it said so.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        errors: tuple[CloudflareErrorDetail, ...] = (),
        ray_id: str | None = None,
        page: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, errors=errors, ray_id=ray_id, page=page)
        self.retry_after = retry_after


class ServerError(APIError):
    """Cloudflare or its edge failed (5xx), after every allowed retry."""
