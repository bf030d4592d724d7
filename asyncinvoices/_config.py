"""Validation of everything a caller passes in, before any request leaves the process.

Credentials, base URL, account id and numeric settings are checked here and turned into
values the rest of the library can trust. Every failure is a :class:`ConfigurationError`
whose message never repeats a secret.
"""

from __future__ import annotations

import ipaddress
import os
import re
import urllib.parse
from collections.abc import Mapping

from ._errors import ConfigurationError
from ._models import INVOICE_TYPES, InvoiceType, is_number, number_at_least, whole_at_least

__all__ = [
    "DEFAULT_BASE_URL",
    "Credentials",
    "SecretHeaders",
    "resolve_base_url",
    "resolve_credentials",
    "validate_account_id",
    "validate_type",
]

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"

# The environment variables the official SDKs read (docs/cloudflare-api.md, "Authentication").
ENV_TOKEN = "CLOUDFLARE_API_TOKEN"
ENV_EMAIL = "CLOUDFLARE_EMAIL"
ENV_KEY = "CLOUDFLARE_API_KEY"
ENV_BASE_URL = "CLOUDFLARE_BASE_URL"

# Cloudflare's API schema gives an account id as 32 hexadecimal characters (e.g.
# 023e105f4ecef8ad9ca31a8372d0c353, the form in the dashboard's URLs). Anything else would
# only earn a 400 / 7003 "Could not route" after a request, and nothing of this shape can
# escape the URL path segment. Upper case is the same id: the API knows only lower case.
_ACCOUNT_ID = re.compile(r"[0-9a-fA-F]{32}")
#: An example id, for messages.
_EXAMPLE_ID = "023e105f4ecef8ad9ca31a8372d0c353"
# Whitespace and control characters (C0, DEL, C1) have no place in a URL (RFC 3986 section 2).
_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f]")
# Header values must not carry control characters: a newline would let a credential inject
# another header (RFC 9110 section 5.5).
_HEADER_SAFE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")


class SecretHeaders(dict[str, str]):
    """Request headers whose ``repr`` hides the values, so that a traceback showing local
    variables, a debugger or a log of the headers never reveals the credentials."""

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: '***'" for k in self) + "}"

    __str__ = __repr__


class Credentials:
    """An API token, or an email and global API key, that never shows itself.

    ``repr()`` and ``str()`` name the kind of credential only; the secret is reachable only
    through :meth:`headers`.
    """

    __slots__ = ("_email", "_key", "_token")

    def __init__(
        self, *, token: str | None = None, email: str | None = None, key: str | None = None
    ) -> None:
        if token is not None:
            _check_header_value(token, "api_token")
        else:
            if email is None or key is None:
                raise ConfigurationError("both api_email and api_key are needed")
            _check_header_value(email, "api_email")
            _check_header_value(key, "api_key")
        self._token = token
        self._email = email
        self._key = key

    @property
    def kind(self) -> str:
        """``"token"`` for an API token, ``"key"`` for email + global API key."""
        return "token" if self._token is not None else "key"

    def headers(self) -> SecretHeaders:
        """Return the authentication headers: ``Authorization: Bearer`` or the legacy pair."""
        if self._token is not None:
            return SecretHeaders({"Authorization": f"Bearer {self._token}"})
        assert self._email is not None
        assert self._key is not None
        return SecretHeaders({"X-Auth-Email": self._email, "X-Auth-Key": self._key})

    def secrets(self) -> tuple[str, ...]:
        """Return the secret strings, so that output can be checked or scrubbed for them."""
        return tuple(s for s in (self._token, self._key) if s)

    def __repr__(self) -> str:
        return f"<Credentials {self.kind} ***>"

    __str__ = __repr__


def _check_header_value(value: object, name: str) -> None:
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a string, not {type(value).__name__}")
    if not value:
        raise ConfigurationError(f"{name} is empty")
    if not _HEADER_SAFE.fullmatch(value):
        raise ConfigurationError(
            f"{name} contains a control character, a newline or a non-ASCII character; "
            "it cannot be sent as an HTTP header"
        )


def resolve_credentials(
    *,
    api_token: str | None,
    api_email: str | None,
    api_key: str | None,
    environ: Mapping[str, str] | None = None,
) -> Credentials:
    """Choose credentials: arguments first, then ``CLOUDFLARE_API_TOKEN``, then the legacy pair.

    Args:
        api_token: An API token with the "AI Gateway Read" permission.
        api_email: The account email, for the legacy global API key.
        api_key: The legacy global API key.
        environ: The environment to read (``os.environ`` by default).

    Raises:
        ConfigurationError: If nothing usable is given, naming the variables to set.
    """
    env = os.environ if environ is None else environ
    if api_token is not None:
        return Credentials(token=api_token)
    if api_email is not None or api_key is not None:
        if api_email is None or api_key is None:
            raise ConfigurationError("api_email and api_key must be given together")
        return Credentials(email=api_email, key=api_key)
    token = env.get(ENV_TOKEN)
    if token:
        return Credentials(token=token)
    email, key = env.get(ENV_EMAIL), env.get(ENV_KEY)
    if email and key:
        return Credentials(email=email, key=key)
    raise ConfigurationError(
        f"no Cloudflare credentials: set {ENV_TOKEN} to an API token with the "
        f'"AI Gateway Read" permission (or {ENV_EMAIL} and {ENV_KEY}), '
        "or pass api_token= to InvoiceClient"
    )


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_base_url(base_url: str | None, *, environ: Mapping[str, str] | None = None) -> str:
    """Return the validated API base URL, without a trailing slash.

    ``base_url`` wins, then ``CLOUDFLARE_BASE_URL``, then Cloudflare's own. Plain ``http``
    is allowed only to a loopback host (a test server): anywhere else the token would cross
    the network in clear text.

    Raises:
        ConfigurationError: If the URL is not absolute https (or http to loopback), or
            carries a user, password, query or fragment.
    """
    env = os.environ if environ is None else environ
    raw = base_url if base_url is not None else env.get(ENV_BASE_URL) or DEFAULT_BASE_URL
    if not isinstance(raw, str):
        raise ConfigurationError(f"base_url must be a string, not {type(raw).__name__}")
    raw = raw.strip()
    if _URL_UNSAFE.search(raw):
        # urlsplit() silently drops tabs and newlines (bpo-43882), which would turn
        # "https://host/v4\r\nX-Injected: 1" into another URL: refuse rather than guess.
        raise ConfigurationError(
            "base_url contains a space, a newline or another control character"
        )
    try:
        parts = urllib.parse.urlsplit(raw)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise ConfigurationError(f"base_url is not a valid URL: {exc}") from None
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigurationError("base_url must be an absolute https:// URL")
    if parts.username is not None or parts.password is not None:
        # Never echo the URL here: its user-info part may be a secret.
        raise ConfigurationError("base_url must not contain a user name or password")
    if parts.query or parts.fragment:
        raise ConfigurationError("base_url must not contain a query or a fragment")
    if any(segment in (".", "..") for segment in parts.path.split("/")):
        raise ConfigurationError("base_url must not contain '.' or '..' path segments")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ConfigurationError(
            f"base_url must use https unless its host is loopback, got http://{host}"
        )
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def validate_account_id(account_id: object) -> str:
    """Return ``account_id`` in the form Cloudflare knows: 32 lower-case hexadecimal characters.

    The one rule for an account id, used by the library and the command line alike.
    Upper-case hexadecimal is the same id and is returned in lower case.

    Args:
        account_id: The id as the caller gave it.

    Raises:
        ConfigurationError: Unless it is 32 hexadecimal characters; so ``../x``, ``a/b``
            and a typo never reach the network.
    """
    if not isinstance(account_id, str):
        raise ConfigurationError(f"account_id must be a string, not {type(account_id).__name__}")
    if not _ACCOUNT_ID.fullmatch(account_id):
        shown = account_id if len(account_id) <= 40 else account_id[:40] + "..."
        raise ConfigurationError(
            f"{shown!r} is not an account id: expected 32 hexadecimal characters, as in the "
            f"Cloudflare dashboard's URL, e.g. {_EXAMPLE_ID}"
        )
    return account_id.lower()


def validate_type(type: object) -> InvoiceType:
    """Return ``type`` if it is one of ``"all"``, ``"auto"``, ``"manual"``.

    Raises:
        ConfigurationError: Otherwise.
    """
    for known in INVOICE_TYPES:
        if type == known:
            return known
    raise ConfigurationError(f"type must be one of 'all', 'auto', 'manual', not {type!r}")


def positive_int(value: object, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` if it is an int of at least ``minimum``.

    Raises:
        ConfigurationError: Otherwise.
    """
    if not whole_at_least(value, minimum):
        raise ConfigurationError(f"{name} must be an integer >= {minimum}, not {value!r}")
    return value


def positive_float(value: object, name: str, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a float if it is a finite number above zero (or zero if allowed).

    Raises:
        ConfigurationError: Otherwise.
    """
    if not is_number(value):
        raise ConfigurationError(f"{name} must be a number, not {value!r}")
    number = float(value)
    if not number_at_least(number, 0, inclusive=allow_zero) or number == float("inf"):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigurationError(f"{name} must be a finite number {bound}, not {value!r}")
    return number
