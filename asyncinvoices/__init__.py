"""asyncinvoices: the complete Cloudflare AI Gateway invoice history, fast and correctly.

An async client that fetches every page of
``GET /accounts/{account_id}/ai-gateway/billing/invoice-history`` concurrently, yields the
invoices in order and exactly once, stays inside Cloudflare's rate limit, and retries what can
be retried::

    from asyncinvoices import InvoiceClient

    async with InvoiceClient() as client:           # CLOUDFLARE_API_TOKEN from the environment
        async for invoice in client.invoices(account_id):
            print(invoice.id, invoice.amount_due, invoice.status)

Every exception is an :class:`AsyncInvoicesError`. ``asyncinvoices.testing`` holds a fake
Cloudflare server for tests.
"""

from ._client import InvoiceClient
from ._errors import (
    APIError,
    AsyncInvoicesError,
    AuthenticationError,
    BadRequestError,
    CloudflareErrorDetail,
    ConfigurationError,
    NotFoundError,
    PaginationError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    TransportError,
)
from ._frames import to_pandas, to_polars
from ._models import FetchStats, Invoice, InvoicePage, InvoiceType, Pagination, RateLimit
from ._retry import Backoff, set_testing
from ._stream import InvoiceStream, PageStream
from ._version import __version__

__all__ = [
    "APIError",
    "AsyncInvoicesError",
    "AuthenticationError",
    "Backoff",
    "BadRequestError",
    "CloudflareErrorDetail",
    "ConfigurationError",
    "FetchStats",
    "Invoice",
    "InvoiceClient",
    "InvoicePage",
    "InvoiceStream",
    "InvoiceType",
    "NotFoundError",
    "PageStream",
    "Pagination",
    "PaginationError",
    "RateLimit",
    "RateLimitError",
    "ResponseFormatError",
    "ServerError",
    "TransportError",
    "__version__",
    "set_testing",
    "to_pandas",
    "to_polars",
]
