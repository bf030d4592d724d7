"""A dlt source of the invoice history: load it into any warehouse dlt can write to.

Needs the ``dlt`` extra (``pip install "asyncinvoices[dlt]"``, plus dlt's own extra for the
destination, e.g. ``"dlt[duckdb]"``)::

    import dlt
    from asyncinvoices.dlt import cloudflare_invoices

    dlt.pipeline("invoices", destination="duckdb").run(cloudflare_invoices())

Two resources:

- ``invoices``: one row per invoice, ``account_id`` and every field of
  :class:`~asyncinvoices.Invoice` under its own name, unknown fields in the ``extra`` JSON
  column, and ``removed_at``; primary key ``(account_id, id)``, merged. Amounts are
  ``DECIMAL(38, 9)`` (or the destination's exact decimal type), never floats.
- ``accounts``: the accounts the credentials can read, merged on ``id``.

Each run walks each account by the mirror's rule (:func:`~asyncinvoices.plan_sync`): the
first run of an account walks its whole history; later runs walk newest first and stop once
past both the lookback window and the oldest invoice held as not final; every
``full_every_days``, or with
``full=True``, a full walk marks the invoices no longer listed with ``removed_at`` (the row is
kept). What the rule remembers per account lives in dlt's resource state, so it is stored
with the data, in the destination, and a run that fails changes neither.

The walk runs on :class:`~asyncinvoices.SyncInvoiceClient`, the async client on an event loop
of its own: dlt drives an async resource one step per task, which a walk's task group cannot
span, and a blocking resource lets dlt's extract overlap with the walk's read-ahead.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any, Final

import dlt
from dlt.common.data_types import TDataType
from dlt.common.schema.typing import TColumnSchema
from dlt.common.typing import TSecretStrValue
from dlt.extract.resource import DltResource

from ._blocking import SyncInvoiceClient
from ._config import positive_float, validate_account_id
from ._errors import ConfigurationError, ResponseFormatError
from ._mirror.plan import (
    DEFAULT_FULL_EVERY,
    DEFAULT_LOOKBACK,
    MAX_LOOKBACK,
    SyncPlan,
    check_sync_options,
)
from ._mirror.records import AMOUNT_FIELDS, BOOL_FIELDS, FIELDS, KeyAssigner
from ._mirror.walk_rule import AccountWalkState, OpenInvoices, plan_walk
from ._models import Account, Invoice, RateLimit

__all__ = [
    "AMOUNT_SCALE",
    "DEFAULT_FULL_EVERY_DAYS",
    "DEFAULT_LOOKBACK_DAYS",
    "cloudflare_invoices",
    "invoice_rows",
]

logger = logging.getLogger("asyncinvoices")

#: Digits after the point of the amount columns. Amounts are cents, at times with a fraction
#: (``640.19``); nine digits is the most BigQuery's ``NUMERIC`` keeps and dlt's default.
AMOUNT_SCALE: Final = 9


def _column(data_type: TDataType, *, key: bool = False) -> TColumnSchema:
    # A new dict per column: dlt writes the column's name into the dict it is given.
    if data_type == "decimal":
        return {"data_type": "decimal", "precision": 38, "scale": AMOUNT_SCALE}
    return {"data_type": data_type, "nullable": False} if key else {"data_type": data_type}


def _invoice_type(name: str) -> TDataType:
    # The mirror's own sets of amounts and booleans (``_mirror/records.py``), so that a field
    # added there is typed here too; what is neither, nor below, is text.
    if name in AMOUNT_FIELDS:
        return "decimal"
    if name in BOOL_FIELDS:
        return "bool"
    types: dict[str, TDataType] = {
        "attempt_count": "bigint",
        "created": "timestamp",
        "removed_at": "timestamp",
        "extra": "json",
    }
    return types.get(name, "text")


#: The mirror's defaults (``asyncinvoices sync``), so that both follow one rule: a partial walk
#: reads at least the last 7 days, and a full walk comes at least every 30.
DEFAULT_LOOKBACK_DAYS: Final = float(DEFAULT_LOOKBACK.days)
DEFAULT_FULL_EVERY_DAYS: Final = float(DEFAULT_FULL_EVERY.days)

#: The ``invoices`` table's columns, in order: the key, the mirror's columns (``FIELDS``), and
#: ``removed_at``. Their types are declared, not inferred, so that an account whose first
#: page has no fractional amount or no ``created`` still gets them.
INVOICE_COLUMNS: Final[dict[str, TColumnSchema]] = {
    name: _column(_invoice_type(name), key=name in ("account_id", "id"))
    for name in ("account_id", "id", *FIELDS, "removed_at")
}
_FIELDS: Final = tuple(INVOICE_COLUMNS)
_ACCOUNT_COLUMNS: Final[dict[str, TColumnSchema]] = {
    "id": _column("text", key=True),
    "name": _column("text"),
    "type": _column("text"),
    "created_on": _column("timestamp"),
    "settings": _column("json"),
    "extra": _column("json"),
}
_LARGEST_EXPONENT: Final = -AMOUNT_SCALE
_DEFAULT_RATE_LIMIT: Final = RateLimit()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0  # NaN and infinities have none


def _amount(invoice: Invoice, field: str, value: Decimal) -> Decimal:
    # A digit beyond the column's scale would be rounded away by the destination: refuse.
    # (Trailing zeros beyond it, as in ``640.1900000000``, lose nothing.)
    if _exponent(value) < _LARGEST_EXPONENT and _exponent(value.normalize()) < _LARGEST_EXPONENT:
        raise ResponseFormatError(
            f"invoice {invoice.id}: {field} {value} has more than {AMOUNT_SCALE} digits after "
            "the point, more than the warehouse column keeps",
            field=field,
        )
    return value


def invoice_rows(
    account_id: str, invoices: Iterable[Invoice], keys: KeyAssigner
) -> list[dict[str, Any]]:
    """Return the ``invoices`` rows of one page: one dict per invoice, in order.

    Args:
        account_id: The account the invoices belong to.
        invoices: The invoices of the page.
        keys: Gives each invoice its key (its ``id``, or a derived one when it has none), one
            assigner per walk.

    Raises:
        ResponseFormatError: If an amount has more digits after the point than
            :data:`AMOUNT_SCALE`.
    """
    return [
        {
            "account_id": account_id,
            "id": keys.key(invoice),
            "amount_due": _amount(invoice, "amount_due", invoice.amount_due),
            "amount_paid": _amount(invoice, "amount_paid", invoice.amount_paid),
            "amount_remaining": _amount(invoice, "amount_remaining", invoice.amount_remaining),
            "currency": invoice.currency,
            "attempt_count": invoice.attempt_count,
            "attempted": invoice.attempted,
            "auto_advance": invoice.auto_advance,
            "created": invoice.created,
            "created_by": invoice.created_by,
            "description": invoice.description,
            "invoice_origin": invoice.invoice_origin,
            "invoice_pdf": invoice.invoice_pdf,
            "status": invoice.status,
            "extra": dict(invoice.extra) if invoice.extra else None,
            "removed_at": None,
        }
        for invoice in invoices
    ]


@dlt.source(name="cloudflare_invoices", section="cloudflare_invoices")
def cloudflare_invoices(
    account_ids: Sequence[str] | None = None,
    *,
    api_token: TSecretStrValue | None = dlt.secrets.value,
    base_url: str | None = None,
    full: bool = False,
    lookback_days: float = DEFAULT_LOOKBACK_DAYS,
    full_every_days: float = DEFAULT_FULL_EVERY_DAYS,
    per_page: int | None = None,
    max_concurrency: int = 8,
    read_ahead: int | None = None,
    rate_limit: RateLimit | None = _DEFAULT_RATE_LIMIT,
    clock: Callable[[], dt.datetime] | None = None,
) -> Sequence[DltResource]:
    """The Cloudflare AI Gateway invoice history, as a dlt source of two resources.

    Credentials come from dlt's secrets (``sources.cloudflare_invoices.api_token`` in
    ``.dlt/secrets.toml``, or the environment variable
    ``SOURCES__CLOUDFLARE_INVOICES__API_TOKEN``), else from ``CLOUDFLARE_API_TOKEN``; keep
    them out of code.

    Args:
        account_ids: The accounts, or ``None`` for every account the credentials can read.
        api_token: Injected by dlt from its secrets; do not pass it in code.
        base_url: The API root; default ``CLOUDFLARE_BASE_URL``, else Cloudflare's.
        full: Walk every account's whole history this run, marking removed invoices.
        lookback_days: A partial walk reads at least the invoices created in these last days.
        full_every_days: A walk is full when the account's last full walk is this old.
        per_page: Invoices per request; by default the largest the server accepts.
        max_concurrency: The most requests in flight at once.
        read_ahead: Pages a walk fetches beyond the one it delivers; see
            :class:`~asyncinvoices.InvoiceClient`. A partial walk may cost up to this many
            requests beyond the pages it needs.
        rate_limit: The client-side quota (Cloudflare's 1,200 per five minutes by default),
            shared by every walk of the run; ``None`` to send without counting.
        clock: Returns the current time, timezone-aware; default: the system's, in UTC
            (tests pass their own).

    Raises:
        ConfigurationError: For an invalid account id or setting (``lookback_days`` outside
            0 to 60, ``full_every_days`` not above 0), or no credentials.
    """
    ids = None if account_ids is None else [validate_account_id(a) for a in account_ids]
    now = _utcnow if clock is None else clock
    # The mirror's rules for both (sync_account's), in days: checked here, before any walk,
    # and named as the caller named them.
    lookback_days = positive_float(lookback_days, "lookback_days", allow_zero=True)
    if lookback_days > MAX_LOOKBACK.days:
        raise ConfigurationError(
            f"lookback_days must be between 0 and {MAX_LOOKBACK.days}, not {lookback_days:g}"
        )
    full_every_days = positive_float(full_every_days, "full_every_days")
    try:
        full_every = dt.timedelta(days=full_every_days)
    except OverflowError:  # beyond what a timedelta holds: about 2.7 million years
        raise ConfigurationError(f"full_every_days is too large: {full_every_days:g}") from None
    lookback = dt.timedelta(days=lookback_days)
    check_sync_options(lookback, full_every)

    def client() -> SyncInvoiceClient:
        return SyncInvoiceClient(
            api_token=api_token,
            base_url=base_url,
            per_page=per_page,
            max_concurrency=max_concurrency,
            read_ahead=read_ahead,
            rate_limit=rate_limit,
        )

    client()  # a bad setting or missing credentials fail here, before any request
    listed: list[Account] = []

    def listing(sync_client: SyncInvoiceClient) -> list[Account]:
        # Both resources need the listing when no accounts are given: it is fetched once a run.
        if not listed:
            with sync_client.accounts() as stream:
                listed.extend(stream)
        return listed

    @dlt.resource(
        name="accounts",
        primary_key="id",
        write_disposition="merge",
        columns={name: hints.copy() for name, hints in _ACCOUNT_COLUMNS.items()},
    )
    def accounts() -> Iterator[list[dict[str, Any]]]:
        with client() as sync_client:
            yield [_account_row(account) for account in listing(sync_client)]

    @dlt.resource(
        name="invoices",
        primary_key=("account_id", "id"),
        write_disposition="merge",
        columns={name: hints.copy() for name, hints in INVOICE_COLUMNS.items()},
    )
    def invoices() -> Iterator[list[dict[str, Any]]]:
        state: dict[str, Any] = dlt.current.resource_state().setdefault("accounts", {})
        with client() as sync_client:
            walked = ids if ids is not None else [a.id for a in listing(sync_client)]
            for account_id in walked:
                started = now()
                previous = AccountWalkState.from_state(state.get(account_id))
                plan = plan_walk(
                    previous,
                    now=started,
                    lookback=lookback,
                    full_every=full_every,
                    full_requested=full,
                )
                tracker = OpenInvoices()
                yield from _walk(sync_client, account_id, plan, tracker, started)
                state[account_id] = tracker.state_after(plan, previous, started).to_state()

    return accounts, invoices


def _walk(
    client: SyncInvoiceClient,
    account_id: str,
    plan: SyncPlan,
    tracker: OpenInvoices,
    now: dt.datetime,
) -> Iterator[list[dict[str, Any]]]:
    """Yield the rows of one account's walk, page by page, then those it marks removed."""
    held = _held_keys(account_id) if plan.mode == "full" else set()
    keys = KeyAssigner()
    with client.pages(account_id, since=plan.since) as pages:
        for page in pages:
            tracker.add(page.invoices)
            rows = invoice_rows(account_id, page.invoices, keys)
            if held:
                held.difference_update(row["id"] for row in rows)
            if rows:
                yield rows
        stats = pages.stats
    if stats.unordered:
        logger.warning(
            "%s: the server's invoices are not newest first: the walk read every page", account_id
        )
    if held:
        yield _removed_rows(account_id, held, now)
    logger.info(
        "%s: %s walk (%s) since %s: %d invoices in %d requests",
        account_id,
        plan.mode,
        plan.reason,
        "the start" if plan.since is None else plan.since.isoformat(),
        stats.invoices,
        stats.requests,
    )


def _invoices_table() -> Any:
    """The destination's ``invoices`` table as a dlt relation, or ``None`` before the first load."""
    dataset = dlt.current.pipeline().dataset()
    if "invoices" not in dataset.tables:
        return None
    return dataset.table("invoices")


def _held_keys(account_id: str) -> set[str]:
    """The keys of the account's invoices the destination holds as not removed."""
    table = _invoices_table()
    if table is None:
        return set()
    rows = table.where("account_id", "eq", account_id).where("removed_at IS NULL").select("id")
    return {row[0] for row in rows.fetchall()}


def _removed_rows(account_id: str, keys: set[str], now: dt.datetime) -> list[dict[str, Any]]:
    """The held rows of ``keys`` as they are, with ``removed_at`` set: merged, they mark the
    invoices removed and keep every other value."""
    table = _invoices_table()
    relation = table.where("account_id", "eq", account_id).where("id", "in", sorted(keys))
    rows = []
    for values in relation.select(*_FIELDS).fetchall():
        row = dict(zip(_FIELDS, values, strict=True))
        if isinstance(row["extra"], str):  # JSON columns come back as text from some databases
            row["extra"] = json.loads(row["extra"], parse_float=Decimal)
        row["removed_at"] = now
        rows.append(row)
    logger.info("%s: %d invoices no longer listed, marked removed", account_id, len(rows))
    return rows


def _account_row(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "type": account.type,
        "created_on": account.created_on,
        "settings": dict(account.settings) if account.settings is not None else None,
        "extra": dict(account.extra) if account.extra else None,
    }
