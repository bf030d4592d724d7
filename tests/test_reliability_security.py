"""Security: credentials never leak, and unsafe input is refused before anything is sent.

The token and the legacy key must not appear in any log record, exception message or chain,
``repr``, CLI output or ``--verbose`` output, on any error path. A non-loopback ``http://``
base URL, path-traversal account ids, header injection through credentials and oversized
bodies are refused with a clear ``ConfigurationError`` or ``ResponseFormatError``. Redirects
are not followed, so another host never receives the credentials.
"""

from __future__ import annotations

import asyncio
import io
import logging
import traceback
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from aiohttp import web

from asyncinvoices import (
    AsyncInvoicesError,
    ConfigurationError,
    InvoiceClient,
    ResponseFormatError,
)
from asyncinvoices._cli import run_async
from asyncinvoices._config import SecretHeaders
from asyncinvoices.testing import FakeCloudflare, Fault

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("instant_backoff")]

ENDPOINT = "/client/v4/accounts/{account}/ai-gateway/billing/invoice-history"
ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"

# One fault per error path of the client: every typed error it can raise from a response.
ERROR_PATHS = {
    "400": Fault.status(400),
    "401": Fault.status(401),
    "403": Fault.status(403, page=2),
    "404": Fault.status(404),
    "429-long": Fault.status(429, retry_after=3600),
    "500": Fault.status(500, page=2),
    "502-html": Fault.status(502),
    "reset": Fault.reset(page=2),
    "truncate": Fault.truncate(),
    "malformed": Fault.malformed_json(page=2),
    "wrong-type": Fault.wrong_type("amount_due", "NaN", page=2),
    "envelope-9106": Fault.error_envelope(9106, "Missing X-Auth-Key", 400),
    "ignore-page": Fault.ignore_page(page=2),
    "slow": Fault.slow(5.0, page=2),
}


def exception_texts(exc: BaseException) -> str:
    """Everything an exception can show: message, repr, traceback, and every chained cause
    with its arguments."""
    parts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), *map(repr, current.args)]
        parts += [repr(v) for v in vars(current).values()]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


def log_texts(records: list[logging.LogRecord]) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(r) + repr(r.args) for r in records)


def credentials(fake: FakeCloudflare, kind: str) -> tuple[dict[str, str], list[str]]:
    if kind == "token":
        return {"api_token": fake.api_token}, [fake.api_token]
    return {"api_email": fake.api_email, "api_key": fake.api_key}, [fake.api_key]


@pytest.mark.parametrize("kind", ["token", "key"])
@pytest.mark.parametrize("path", sorted(ERROR_PATHS))
async def test_secrets_absent_from_errors_logs_and_reprs(
    path: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every error path, with a token or a legacy key: the secret shows up nowhere."""
    caplog.set_level(logging.DEBUG)
    async with FakeCloudflare(invoices=60, faults=[ERROR_PATHS[path]]) as fake:
        given, secrets = credentials(fake, kind)
        client = InvoiceClient(
            base_url=fake.base_url, per_page=10, max_retries=1, timeout=0.3, **given
        )
        texts = [repr(client), str(client), repr(client._credentials)]
        async with client:
            stream = client.invoices(fake.account_id)

            async def drain() -> None:
                async with stream:
                    async for _ in stream:
                        pass

            with anyio.fail_after(10):
                with pytest.raises(AsyncInvoicesError) as info:
                    await drain()
            texts += [repr(stream), repr(stream.stats), repr(stream.checkpoint())]
            texts.append(repr(client._credentials.headers()))
    texts += [exception_texts(info.value), log_texts(caplog.records)]
    assert caplog.records  # the failure was logged (a retry or a debug line at least)
    for secret in secrets:
        for text in texts:
            assert secret not in text


@pytest.mark.parametrize("path", sorted(set(ERROR_PATHS) - {"slow"}))
async def test_cli_verbose_output_never_shows_secrets(path: str) -> None:
    """asyncinvoices fetch -vv on every error path: neither stdout nor stderr has the key."""
    async with FakeCloudflare(invoices=60, faults=[ERROR_PATHS[path]]) as fake:
        env = {"CLOUDFLARE_EMAIL": fake.api_email, "CLOUDFLARE_API_KEY": fake.api_key}
        for environ, secret in [
            (env, fake.api_key),
            ({"CLOUDFLARE_API_TOKEN": fake.api_token}, fake.api_token),
        ]:
            out, err = io.StringIO(), io.StringIO()
            argv = [
                "fetch",
                fake.account_id,
                "--base-url",
                fake.base_url,
                "--per-page",
                "10",
                "-vv",
            ]
            with anyio.fail_after(20):
                code = await run_async(argv, stdout=out, stderr=err, environ=environ)
            assert code != 0
            assert "Traceback" in err.getvalue()
            assert secret not in out.getvalue() + err.getvalue()


def test_secret_headers_and_credentials_hide_values() -> None:
    """The header mapping and the credentials object never print a secret."""
    headers = SecretHeaders({"Authorization": "Bearer s3cr3t-token-value"})
    client = InvoiceClient(api_token="s3cr3t-token-value", base_url="http://127.0.0.1:9/v4")
    for text in (repr(headers), str(headers), repr(client), repr(client._credentials)):
        assert "s3cr3t" not in text


# -- refused before anything is sent -------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    [
        "http://api.cloudflare.com/client/v4",
        "http://10.0.0.1/client/v4",
        "http://127.0.0.1.attacker.example/v4",
        "http://localhost.attacker.example/v4",
        "http://[::ffff:127.0.0.1]/v4",
        "http://127.1/v4",
        "ftp://127.0.0.1/v4",
        "file:///etc/passwd",
        "//api.cloudflare.com/client/v4",
        "https://user:password@api.cloudflare.com/client/v4",
        "https://api.cloudflare.com/client/v4?x=1",
        "https://api.cloudflare.com/client/v4#frag",
        "https://api.cloudflare.com/client/v4\r\nX-Injected: 1",
        "https://api.cloudflare.com/client/v4 x",
        "https://api.cloudflare\x00.com/client/v4",
        "https://api.cloudflare.com/client/v4/../..",
        "https://api.cloudflare.com:99999/client/v4",
        "",
    ],
)
def test_unsafe_base_url_is_refused(base_url: str) -> None:
    """Clear text to a remote host, user info, injection, traversal: ConfigurationError."""
    with pytest.raises(ConfigurationError, match="base_url") as info:
        InvoiceClient(api_token="secret-token-1234", base_url=base_url)
    assert "password" not in str(info.value).replace("user name or password", "")
    assert "secret-token-1234" not in str(info.value)


@pytest.mark.parametrize(
    "account_id",
    [
        "../..",
        "..",
        "a/b",
        "%2e%2e",
        "%2F",
        "",
        "x" * 65,
        "x" * 10_000,
        "a\nb",
        "a\r\nX-Injected: 1",
        "a b",
        "a?page=9",
        "a#b",
        "ａｂｃ",
        "abc\n",
        "\x00",
    ],
)
async def test_unsafe_account_id_sends_nothing(account_id: str) -> None:
    """Traversal, separators, encodings, control characters, length: refused, nothing sent."""
    async with FakeCloudflare(invoices=5) as fake:
        async with InvoiceClient(api_token=fake.api_token, base_url=fake.base_url) as client:
            with pytest.raises(ConfigurationError, match="is not an account id") as info:
                client.invoices(account_id)
            with pytest.raises(ConfigurationError, match="is not an account id"):
                await client.get_page(account_id)
            with pytest.raises(ConfigurationError, match="is not an account id"):
                await client.count(account_id)
        assert fake.requests == []
    assert len(str(info.value)) < 300


@pytest.mark.parametrize("bad", [None, 42, b"abc", ["a"]])
def test_account_id_of_wrong_type_is_refused(bad: Any) -> None:
    """A non-string account id is a ConfigurationError, not a TypeError."""
    client = InvoiceClient(api_token="t" * 40, base_url="http://127.0.0.1:9/v4")
    with pytest.raises(ConfigurationError, match="account_id must be a string"):
        client.invoices(bad)


@pytest.mark.parametrize(
    "value",
    [
        "tok\nX-Injected: 1",
        "tok\r\n",
        "tok\rX: y",
        "\ntok",
        "tok\x00",
        "tok\x7f",
        "tök",
        " ",
        "",
    ],
)
@pytest.mark.parametrize("field", ["api_token", "api_email", "api_key"])
def test_header_injection_through_credentials_is_refused(field: str, value: str) -> None:
    """Newlines, control or non-ASCII characters in any credential: ConfigurationError,
    whose message does not repeat the value."""
    given = (
        {"api_token": value}
        if field == "api_token"
        else {"api_email": "me@example.com", "api_key": "k" * 37, field: value}
    )
    with pytest.raises(ConfigurationError, match=field) as info:
        InvoiceClient(base_url="http://127.0.0.1:9/v4", **given)
    if value.strip():
        assert value not in str(info.value)


def test_header_injection_through_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A newline in CLOUDFLARE_API_TOKEN is refused just the same."""
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "tok\r\nX-Injected: 1")
    with pytest.raises(ConfigurationError, match="api_token"):
        InvoiceClient(base_url="http://127.0.0.1:9/v4")


# -- oversized bodies ----------------------------------------------------------------------------


async def endless_chunks(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b" " * 65536
    try:
        for _ in range(10_000):  # 640 MiB if nobody stops reading
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def test_endless_chunked_body_is_refused_at_the_cap() -> None:
    """A body without Content-Length that never ends is cut off at max_body."""
    server = await asyncio.start_server(endless_chunks, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with InvoiceClient(
            api_token="t" * 40, base_url=f"http://127.0.0.1:{port}/v4", max_body=1_000_000
        ) as client:
            with anyio.fail_after(5):
                with pytest.raises(ResponseFormatError, match="exceeds the 1000000-byte limit"):
                    await client.get_page(ACCOUNT)
    finally:
        server.close()
        await server.wait_closed()


async def test_declared_oversized_body_is_refused_unread() -> None:
    """A Content-Length over max_body is refused before the body is read."""
    async with FakeCloudflare(invoices=100) as fake:
        async with InvoiceClient(
            api_token=fake.api_token, base_url=fake.base_url, max_body=1000, per_page=50
        ) as client:
            with pytest.raises(ResponseFormatError, match="exceeds the 1000-byte limit"):
                await client.list_invoices(fake.account_id)
        assert len(fake.requests) == 1  # not retried: the answer would be as large again


# -- redirects -----------------------------------------------------------------------------------


@pytest.fixture
async def other_host() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A second loopback server that records every request it gets, with its headers."""
    seen: list[dict[str, str]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"success": True, "result": {"invoices": []}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_to_another_host_is_not_followed(
    status: int, other_host: tuple[str, list[dict[str, str]]]
) -> None:
    """A redirect is a ResponseFormatError; the other host never hears from the client."""
    target, seen = other_host

    class Redirect(web.HTTPException):
        status_code = status

    async def handler(request: web.Request) -> web.Response:
        raise Redirect(headers={"Location": target + request.path_qs})

    app = web.Application()
    app.router.add_get(ENDPOINT, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        base = f"http://127.0.0.1:{runner.addresses[0][1]}/client/v4"
        for given in ({"api_token": "t" * 40}, {"api_email": "a@b.c", "api_key": "k" * 37}):
            async with InvoiceClient(base_url=base, max_retries=2, **given) as client:
                with pytest.raises(ResponseFormatError, match=f"HTTP {status} redirect"):
                    await client.list_invoices(ACCOUNT)
                with pytest.raises(ResponseFormatError, match="was not followed"):
                    await client.get_page(ACCOUNT)
    finally:
        await runner.cleanup()
    assert seen == []
