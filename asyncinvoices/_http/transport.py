"""The one I/O boundary: sends a GET with aiohttp and returns status, headers and body.

This is the only module of the client that imports aiohttp. Everything aiohttp can raise is
translated here into :class:`TransportError` (or :class:`ResponseFormatError` for a body over
the size cap), chained to the original, so that no backend exception escapes the package.

Every attempt that goes on the wire passes a gate (the rate governor's slot), through a
per-request aiohttp middleware. aiohttp sends an idempotent request again by itself when a
reused keep-alive connection turns out to be closed (RFC 9112, section 9.3.1.1); the server
may well have counted the first attempt, so the second one needs a place in the quota too.
The middleware runs once per attempt, so each is admitted and counted, and none is silent.

The timeout starts when an attempt is admitted, not when :meth:`Transport.get` is called: a
request held by the governor (a full quota, a server-ordered pause of minutes) has not been
sent, and waiting is not failing. aiohttp's own ``total`` timeout would start before the
middleware runs, so the transport keeps its own deadline, set by the middleware once the gate
lets the attempt through. The middleware is also where a telemetry probe
(``_telemetry.Probe``) sees each attempt start and end.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import anyio
import attrs

from asyncinvoices._errors import ConfigurationError, ResponseFormatError, TransportError
from asyncinvoices._http.counts import WireTally
from asyncinvoices._version import __version__

from .telemetry import Probe

__all__ = [
    "DEFAULT_MAX_BODY",
    "ClientSession",
    "Gate",
    "RawResponse",
    "Transport",
]

logger = logging.getLogger("asyncinvoices")

Gate = Callable[[], AbstractAsyncContextManager[float]]
"""Admits one attempt onto the wire; yields the seconds it waited (the governor's slot)."""

ClientSession = aiohttp.ClientSession
"""The session type a caller may lend to :class:`InvoiceClient`."""

DEFAULT_MAX_BODY = 32 * 1024 * 1024
"""Bodies larger than this are refused: a page of 1,000 invoices is well under 1 MiB."""

USER_AGENT = f"asyncinvoices/{__version__} aiohttp/{aiohttp.__version__}"

_CHUNK = 256 * 1024

# The transport's own deadline (see the module's docstring) replaces aiohttp's.
_NO_AIOHTTP_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=None, sock_read=None)


@attrs.frozen(kw_only=True)
class RawResponse:
    """A response as it came off the wire.

    Attributes:
        status: The HTTP status.
        headers: The headers, looked up case-insensitively.
        body: The whole body.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes


class Transport:
    """Sends requests through an aiohttp session, owned or borrowed.

    Args:
        session: A session the caller owns and closes; ``None`` to create (and close) one.
        timeout: Seconds one attempt may take, connection to last byte.
        max_body: The largest body accepted, in bytes.
        connections: The most connections the owned session opens at once.
    """

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession | None,
        timeout: float,
        max_body: int = DEFAULT_MAX_BODY,
        connections: int = 100,
    ) -> None:
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise ConfigurationError("session must be an aiohttp.ClientSession")
        self._borrowed = session
        self._session: aiohttp.ClientSession | None = session
        self._timeout = timeout
        self._max_body = max_body
        self._connections = connections
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether there is no open session to send with."""
        return self._session is None or self._session.closed

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._closed:
            # A request that was on its way when the client closed must not open a new
            # session (and pool) that nothing would close.
            raise TransportError("the client was closed before the request was sent")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections),
                headers={"User-Agent": USER_AGENT},
                # Proxies and .netrc from the environment are not consulted: credentials go
                # only where the caller's base URL says.
                trust_env=False,
            )
        return self._session

    async def aclose(self) -> None:
        """Close the session if this transport created it; a borrowed one is left open."""
        self._closed = True
        session, self._session = self._session, self._borrowed
        if session is not None and session is not self._borrowed:
            await session.close()

    async def get(
        self,
        url: str,
        *,
        params: Mapping[str, str],
        headers: Mapping[str, str],
        page: int | None = None,
        gate: Gate | None = None,
        tally: WireTally | None = None,
        probe: Probe | None = None,
    ) -> RawResponse:
        """Send one GET and read the whole response.

        Redirects are never followed: the credentials must not travel to another host, and
        the endpoint does not redirect.

        Args:
            url: The URL, without the query.
            params: The query.
            headers: The request headers.
            page: The page asked for, named in errors and logs.
            gate: Admits each attempt onto the wire (the rate governor's slot).
            tally: Where to count the attempts and the time the gate held them.
            probe: Told when each attempt starts, responds and ends (telemetry), or None.

        Raises:
            TransportError: On connection failure, timeout, or a body cut off mid-way.
            ResponseFormatError: If the body is larger than the cap.
        """
        session = self._ensure_session()
        tally = WireTally() if tally is None else tally
        # No deadline while the gate holds the attempt back; the middleware sets it on sending.
        deadline = anyio.CancelScope()
        middlewares = (
            *_session_middlewares(session),
            _gated(gate, tally, page, probe, deadline, self._timeout),
        )
        try:
            with deadline:
                async with session.get(
                    url,
                    params=params,
                    headers=headers,
                    allow_redirects=False,
                    timeout=_NO_AIOHTTP_TIMEOUT,
                    middlewares=middlewares,
                ) as response:
                    body = await self._read_body(response, page)
                    if probe is not None:
                        probe.finished()
                    return RawResponse(status=response.status, headers=response.headers, body=body)
            timed_out: BaseException | None = None
        except (asyncio.TimeoutError, TimeoutError) as exc:
            timed_out = exc
        except aiohttp.ClientError as exc:
            _failed(probe, exc)
            raise TransportError(
                f"{type(exc).__name__}: {_describe(exc)}"
                + (f" (page {page})" if page is not None else ""),
                page=page,
            ) from exc
        except BaseException as exc:  # a body over the cap, a cancellation
            _failed(probe, exc)
            raise
        # Reached only when the deadline's scope cancelled the attempt, or aiohttp timed out.
        error = TransportError(
            f"no complete response within {self._timeout:g} s"
            + (f" (page {page})" if page is not None else ""),
            page=page,
        )
        _failed(probe, timed_out or TimeoutError(str(error)))
        raise error from timed_out

    async def _read_body(self, response: aiohttp.ClientResponse, page: int | None) -> bytes:
        length = response.content_length
        if length is not None and length > self._max_body:
            raise self._too_large(page, length)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > self._max_body:
                raise self._too_large(page, size)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, page: int | None, size: int) -> ResponseFormatError:
        return ResponseFormatError(
            f"response body of {size} bytes or more exceeds the {self._max_body}-byte limit"
            + (f" (page {page})" if page is not None else ""),
            page=page,
        )


def _session_middlewares(session: aiohttp.ClientSession) -> tuple[Any, ...]:
    # Per-request middlewares replace the session's own: keep those of a lent session, which
    # aiohttp does not expose publicly.
    return tuple(getattr(session, "_middlewares", ()) or ())


def _gated(
    gate: Gate | None,
    tally: WireTally,
    page: int | None,
    probe: Probe | None,
    deadline: anyio.CancelScope,
    timeout: float,
) -> Any:
    async def middleware(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        if tally.attempts:
            logger.warning(
                "%sthe connection closed before the response; the request is sent again",
                f"page {page}: " if page is not None else "",
                extra={"page": page},
            )
        # A re-send waits for the gate again, and that wait is not the attempt's time either.
        deadline.deadline = math.inf
        if gate is None:
            tally.attempts += 1
            deadline.deadline = anyio.current_time() + timeout
            return await _observed(request, handler, probe, 0.0, deadline)
        async with gate() as waited:
            tally.attempts += 1
            tally.throttled += waited
            deadline.deadline = anyio.current_time() + timeout
            return await _observed(request, handler, probe, waited, deadline)

    return middleware


def _failed(probe: Probe | None, exc: BaseException) -> None:
    # An attempt that failed inside the middleware has ended there already; this ends one
    # whose body failed, and does nothing more for the other.
    if probe is not None:
        probe.failed(exc)


async def _observed(
    request: aiohttp.ClientRequest,
    handler: aiohttp.ClientHandlerType,
    probe: Probe | None,
    waited: float,
    deadline: anyio.CancelScope,
) -> aiohttp.ClientResponse:
    """Send one attempt, telling ``probe`` when it starts, and when it responds or fails."""
    if probe is None:
        return await handler(request)
    probe.sent(request.url, waited)
    try:
        response = await handler(request)
    except BaseException as exc:
        # The transport's deadline ends an attempt by cancelling it: that is a timeout.
        probe.failed(
            TimeoutError("no complete response in time") if deadline.cancel_called else exc
        )
        raise
    probe.responded(response.status, response.headers)
    return response


def _describe(exc: aiohttp.ClientError) -> str:
    # aiohttp's messages can include the request URL with its query, never the headers, so
    # they are safe to repeat; an empty message is replaced by something readable.
    if isinstance(exc, aiohttp.ClientConnectorError):
        # aiohttp says "Cannot connect to host h:443 ssl:default [Connect call failed ...]",
        # naming its TLS setting even for http; the host, port and the system's reason say it.
        reason = exc.os_error
        errno = reason.errno
        why = os.strerror(errno) if isinstance(errno, int) and errno > 0 else reason.strerror
        return f"cannot connect to {exc.host}:{exc.port}: {why or reason}"
    text = str(exc).strip()
    return text or "the connection failed"
