"""An aiohttp.web service that reports an account's invoice totals.

One InvoiceClient lives as long as the application: its connection pool and its rate
governor are shared by every request the service handles.

Run: python web_aiohttp.py  (with CLOUDFLARE_API_TOKEN set), then
     curl localhost:8080/accounts/ACCOUNT_ID/summary
"""

from collections.abc import AsyncIterator
from decimal import Decimal

from aiohttp import web

from asyncinvoices import (
    AsyncInvoicesError,
    AuthenticationError,
    ConfigurationError,
    InvoiceClient,
    NotFoundError,
)

CLIENT = web.AppKey("client", InvoiceClient)


async def invoice_client(app: web.Application) -> AsyncIterator[None]:
    async with InvoiceClient() as client:
        app[CLIENT] = client
        yield


async def summary(request: web.Request) -> web.Response:
    client = request.app[CLIENT]
    account_id = request.match_info["account_id"]
    due: dict[str, Decimal] = {}
    try:
        async with client.invoices(account_id) as stream:
            async for invoice in stream:
                due[invoice.currency] = due.get(invoice.currency, Decimal(0)) + invoice.amount_due
    except (ConfigurationError, NotFoundError):
        # ConfigurationError: an id that cannot be an account id, rejected before sending.
        raise web.HTTPNotFound(text=f"no account {account_id}") from None
    except AuthenticationError:
        # Cloudflare answers 403 for an account the token may not read, existing or not.
        raise web.HTTPForbidden(text=f"this service cannot read account {account_id}") from None
    except AsyncInvoicesError as exc:
        # Throttled beyond max_retry_wait, Cloudflare down, a response that makes no sense.
        raise web.HTTPBadGateway(text=str(exc)) from None
    return web.json_response(
        {
            "invoices": stream.stats.invoices,
            # Decimals as strings: JSON numbers would go through float.
            "amount_due": {currency: str(amount) for currency, amount in sorted(due.items())},
        }
    )


def make_app() -> web.Application:
    app = web.Application()
    app.cleanup_ctx.append(invoice_client)
    app.router.add_get("/accounts/{account_id}/summary", summary)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), port=8080)
