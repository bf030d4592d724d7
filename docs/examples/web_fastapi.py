"""A FastAPI service that reports an account's invoice totals.

One InvoiceClient lives as long as the application (the lifespan), shared by every request.

Run: uvicorn web_fastapi:app  (with CLOUDFLARE_API_TOKEN set; FastAPI and uvicorn installed)
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

from fastapi import FastAPI, HTTPException, Request

from asyncinvoices import (
    AsyncInvoicesError,
    AuthenticationError,
    ConfigurationError,
    InvoiceClient,
    NotFoundError,
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with InvoiceClient() as client:
        app.state.invoices = client
        yield


app = FastAPI(lifespan=lifespan)


@app.get("/accounts/{account_id}/summary")
async def summary(account_id: str, request: Request) -> dict[str, object]:
    client: InvoiceClient = request.app.state.invoices
    due: dict[str, Decimal] = {}
    try:
        async with client.invoices(account_id) as stream:
            async for invoice in stream:
                due[invoice.currency] = due.get(invoice.currency, Decimal(0)) + invoice.amount_due
    except (ConfigurationError, NotFoundError):
        # ConfigurationError: an id that cannot be an account id, rejected before sending.
        raise HTTPException(404, f"no account {account_id}") from None
    except AuthenticationError:
        # Cloudflare answers 403 for an account the token may not read, existing or not.
        raise HTTPException(403, f"this service cannot read account {account_id}") from None
    except AsyncInvoicesError as exc:
        # Throttled beyond max_retry_wait, Cloudflare down, a response that makes no sense.
        raise HTTPException(502, str(exc)) from None
    return {
        "invoices": stream.stats.invoices,
        "amount_due": {currency: str(amount) for currency, amount in sorted(due.items())},
    }
