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

from ._blocking import (
    SyncAccountStream,
    SyncInvoiceClient,
    SyncInvoiceStream,
    SyncManyStream,
    SyncPageStream,
)
from ._client import InvoiceClient
from ._config import validate_account_id
from ._errors import (
    APIError,
    AsyncInvoicesError,
    AuthenticationError,
    BadRequestError,
    CloudflareErrorDetail,
    ConfigurationError,
    NotFoundError,
    PaginationError,
    QuotaStoreError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    TransportError,
)
from ._frames import to_pandas, to_polars
from ._http.governor import RateGovernor
from ._http.quota_file import cache_directory
from ._http.retry import Backoff, set_testing
from ._http.telemetry import RequestEvent
from ._mirror.plan import (
    DEFAULT_FULL_EVERY,
    DEFAULT_LOOKBACK,
    MAX_LOOKBACK,
    SyncPlan,
    is_final,
    plan_sync,
    walk_cutoff,
)
from ._mirror.sync import InvoiceMirror
from ._mirror.types import (
    AccountSync,
    DatabaseURL,
    MirrorBusyError,
    MirrorError,
    SyncReport,
    parse_database_url,
)
from ._models import (
    Account,
    AccountStats,
    FetchStats,
    Invoice,
    InvoicePage,
    InvoiceType,
    ManyStats,
    Pagination,
    RateLimit,
    RateWait,
    WaitReason,
)
from ._streams.accounts import AccountStream
from ._streams.invoices import InvoiceStream, PageStream
from ._streams.many import ManyStream
from ._version import __version__

__all__ = [  # noqa: RUF022 - sorted as sorted() sorts, which a test checks
    "APIError",
    "Account",
    "AccountStats",
    "AccountStream",
    "AccountSync",
    "AsyncInvoicesError",
    "AuthenticationError",
    "Backoff",
    "BadRequestError",
    "CloudflareErrorDetail",
    "ConfigurationError",
    "DEFAULT_FULL_EVERY",
    "DEFAULT_LOOKBACK",
    "DatabaseURL",
    "FetchStats",
    "Invoice",
    "InvoiceClient",
    "InvoiceMirror",
    "InvoicePage",
    "InvoiceStream",
    "InvoiceType",
    "MAX_LOOKBACK",
    "ManyStats",
    "ManyStream",
    "MirrorBusyError",
    "MirrorError",
    "NotFoundError",
    "PageStream",
    "Pagination",
    "PaginationError",
    "QuotaStoreError",
    "RateGovernor",
    "RateLimit",
    "RateLimitError",
    "RateWait",
    "RequestEvent",
    "ResponseFormatError",
    "ServerError",
    "SyncAccountStream",
    "SyncInvoiceClient",
    "SyncInvoiceStream",
    "SyncManyStream",
    "SyncPageStream",
    "SyncPlan",
    "SyncReport",
    "TransportError",
    "WaitReason",
    "__version__",
    "cache_directory",
    "is_final",
    "parse_database_url",
    "plan_sync",
    "set_testing",
    "to_pandas",
    "to_polars",
    "validate_account_id",
    "walk_cutoff",
]

# The exceptions live in a private module; they say where to import them from, so that a
# traceback reads `asyncinvoices.AuthenticationError`, not `asyncinvoices._errors...`.
# Only exceptions: other classes keep their module, where typing.get_type_hints (and so
# attrs and cattrs) resolves their postponed annotations.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) and issubclass(_value, BaseException):
        _value.__module__ = __name__
del _name, _value
