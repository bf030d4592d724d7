"""Tests of configuration: credentials, base URL, account ids, settings; and the exports."""

from __future__ import annotations

import random
import types

import pytest

import asyncinvoices
from asyncinvoices import Backoff, ConfigurationError, InvoiceClient, RateLimit, set_testing
from asyncinvoices._config import (
    DEFAULT_BASE_URL,
    Credentials,
    resolve_base_url,
    resolve_credentials,
    validate_account_id,
    validate_type,
)
from asyncinvoices._http.retry import is_testing

TOKEN = "tok_SECRET_abcdefghijklmnopqrstuvwxyz0123"
KEY = "key_SECRET_0123456789abcdef"


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted and names exactly the public, importable names."""
    assert asyncinvoices.__all__ == sorted(asyncinvoices.__all__)
    for name in asyncinvoices.__all__:
        assert hasattr(asyncinvoices, name)
    # "@"-names are pytest's assertion-rewriting helpers: the package holds a pytest plugin.
    # Submodules such as `testing` become attributes once imported; they are not exports.
    public = {
        n
        for n, v in vars(asyncinvoices).items()
        if not n.startswith(("_", "@")) and not isinstance(v, types.ModuleType)
    }
    assert public == set(asyncinvoices.__all__) - {"__version__"}


def test_token_argument_wins() -> None:
    """An explicit token is used over the environment."""
    creds = resolve_credentials(
        api_token=TOKEN, api_email=None, api_key=None, environ={"CLOUDFLARE_API_TOKEN": "other"}
    )
    assert creds.headers() == {"Authorization": f"Bearer {TOKEN}"}
    assert creds.kind == "token"


def test_environment_token_then_legacy_pair() -> None:
    """CLOUDFLARE_API_TOKEN comes first, then CLOUDFLARE_EMAIL with CLOUDFLARE_API_KEY."""
    env = {"CLOUDFLARE_API_TOKEN": TOKEN, "CLOUDFLARE_EMAIL": "a@b.c", "CLOUDFLARE_API_KEY": KEY}
    assert resolve_credentials(
        api_token=None, api_email=None, api_key=None, environ=env
    ).headers() == {"Authorization": f"Bearer {TOKEN}"}
    del env["CLOUDFLARE_API_TOKEN"]
    creds = resolve_credentials(api_token=None, api_email=None, api_key=None, environ=env)
    assert creds.headers() == {"X-Auth-Email": "a@b.c", "X-Auth-Key": KEY}
    assert creds.kind == "key"
    assert creds.secrets() == (KEY,)


def test_missing_credentials_name_the_variables() -> None:
    """With nothing configured, the error says which variables to set."""
    with pytest.raises(ConfigurationError) as info:
        resolve_credentials(api_token=None, api_email=None, api_key=None, environ={})
    message = str(info.value)
    assert "CLOUDFLARE_API_TOKEN" in message
    assert "CLOUDFLARE_EMAIL" in message
    assert "CLOUDFLARE_API_KEY" in message
    with pytest.raises(ConfigurationError, match="together"):
        resolve_credentials(api_token=None, api_email="a@b.c", api_key=None, environ={})


@pytest.mark.parametrize("bad", [f"{TOKEN}\r\nX-Evil: 1", f"{TOKEN}\n", "", " x", "tök"])
def test_header_injection_refused_without_echo(bad: str) -> None:
    """Credentials that cannot be a header value are refused, and never repeated."""
    with pytest.raises(ConfigurationError) as info:
        Credentials(token=bad)
    assert TOKEN not in str(info.value)
    if bad:
        assert bad not in str(info.value)


def test_credentials_never_show() -> None:
    """repr and str name only the kind of credential."""
    creds = Credentials(email="a@b.c", key=KEY)
    assert repr(creds) == "<Credentials key ***>"
    assert str(Credentials(token=TOKEN)) == "<Credentials token ***>"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, DEFAULT_BASE_URL),
        ("https://api.example.com/client/v4/", "https://api.example.com/client/v4"),
        ("http://127.0.0.1:8080/client/v4", "http://127.0.0.1:8080/client/v4"),
        ("http://127.5.6.7/client/v4", "http://127.5.6.7/client/v4"),
        ("http://localhost:1/x", "http://localhost:1/x"),
        ("http://[::1]:9/client/v4", "http://[::1]:9/client/v4"),
    ],
)
def test_base_url_accepted(given: str | None, expected: str) -> None:
    """https anywhere, http only on loopback; a trailing slash is dropped."""
    assert resolve_base_url(given, environ={}) == expected


def test_base_url_from_environment() -> None:
    """CLOUDFLARE_BASE_URL is used when no argument is given."""
    env = {"CLOUDFLARE_BASE_URL": "https://proxy.example/cf"}
    assert resolve_base_url(None, environ=env) == "https://proxy.example/cf"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("http://api.cloudflare.com/client/v4", "must use https unless its host is loopback"),
        ("http://10.0.0.1/x", "must use https"),
        ("ftp://x.example/", "absolute https"),
        ("api.cloudflare.com/client/v4", "absolute https"),
        ("https://user:hunter2@api.example.com/", "user name or password"),
        ("https://api.example.com/?a=1", "query or a fragment"),
        ("https://api.example.com:99999/", "not a valid URL"),
    ],
)
def test_base_url_refused(given: str, message: str) -> None:
    """Anything but https (or http on loopback) is refused, without echoing secrets."""
    with pytest.raises(ConfigurationError, match=message) as info:
        resolve_base_url(given, environ={})
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "../..",
        "a/b",
        "%2e%2e",
        "a b",
        "x" * 65,
        "abc\n",
        "ä",
        "a?b",
        "a#b",
        "not-an-id",
        "0" * 31,
        "0" * 33,
        "g" * 32,
        "023e105f4ecef8ad9ca31a8372d0c35_",
        "023e105f4ecef8ad9ca31a8372d0c353\n",
    ],
)
def test_account_id_refused(bad: str) -> None:
    """Anything but 32 hexadecimal characters is refused, with the rule and an example."""
    with pytest.raises(ConfigurationError) as info:
        validate_account_id(bad)

    shown = bad if len(bad) <= 40 else bad[:40] + "..."
    assert str(info.value) == (
        f"{shown!r} is not an account id: expected 32 hexadecimal characters, as in the "
        "Cloudflare dashboard's URL, e.g. 023e105f4ecef8ad9ca31a8372d0c353"
    )


def test_account_id_in_upper_case_is_the_lower_case_id() -> None:
    """Hexadecimal is case-insensitive; Cloudflare knows the lower-case form only."""
    assert validate_account_id("023E105F4ECEF8AD9CA31A8372D0C353") == (
        "023e105f4ecef8ad9ca31a8372d0c353"
    )


def test_account_id_accepted_and_non_string_refused() -> None:
    """A real account id passes; a non-string does not."""
    assert validate_account_id("023e105f4ecef8ad9ca31a8372d0c353") == (
        "023e105f4ecef8ad9ca31a8372d0c353"
    )
    with pytest.raises(ConfigurationError, match="must be a string"):
        validate_account_id(42)


def test_type_validated() -> None:
    """Only the three documented types are accepted."""
    assert [validate_type(t) for t in ("all", "auto", "manual")] == ["all", "auto", "manual"]
    with pytest.raises(ConfigurationError, match="one of 'all', 'auto', 'manual'"):
        validate_type("everything")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_concurrency": 0}, "max_concurrency must be an integer >= 1"),
        ({"per_page": 0}, "per_page must be an integer >= 1"),
        ({"max_retries": -1}, "max_retries must be an integer >= 0"),
        ({"timeout": 0}, "timeout must be a finite number > 0"),
        ({"timeout": float("nan")}, "timeout must be a finite number > 0"),
        ({"max_retry_wait": -1}, "max_retry_wait must be a finite number >= 0"),
        ({"rate_limit": (1200, 300)}, "rate_limit must be a RateLimit or None"),
        ({"session": object()}, "session must be an aiohttp.ClientSession"),
        ({"max_body": True}, "max_body must be an integer"),
    ],
)
def test_client_settings_validated(kwargs: dict[str, object], message: str) -> None:
    """Invalid settings raise ConfigurationError at construction."""
    with pytest.raises(ConfigurationError, match=message):
        InvoiceClient(api_token=TOKEN, **kwargs)  # type: ignore[arg-type]


def test_client_repr_hides_token() -> None:
    """The client's repr shows its settings but not its credentials."""
    client = InvoiceClient(api_token=TOKEN, base_url="https://api.example.com/v4")
    assert repr(client) == (
        "<InvoiceClient base_url='https://api.example.com/v4' credentials=token "
        "max_concurrency=8 per_page=None>"
    )
    assert TOKEN not in repr(client)
    assert TOKEN not in str(vars(client))
    assert TOKEN not in repr(client._credentials.headers())


def test_rate_limit_validation() -> None:
    """RateLimit refuses non-positive values."""
    assert RateLimit() == RateLimit(requests=1200, window=300.0)
    with pytest.raises(ValueError, match="requests must be a positive integer"):
        RateLimit(requests=0)
    with pytest.raises(ValueError, match="window must be a positive number"):
        RateLimit(window=0)


def test_backoff_full_jitter_and_testing_switch() -> None:
    """Backoff grows exponentially under a cap, jittered below it; testing mode zeroes it."""
    plain = Backoff(first=None, initial=0.5, maximum=4.0, jitter=False)
    assert [plain.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    quick = Backoff(initial=0.5, maximum=4.0, jitter=False)
    assert [quick.delay(n) for n in range(1, 7)] == [0.1, 0.5, 1.0, 2.0, 4.0, 4.0]
    rng = random.Random(3)
    firsts = [Backoff().delay(1, rng=rng) for _ in range(200)]
    assert all(0.05 <= d <= 0.15 for d in firsts)
    assert min(firsts) < 0.06
    assert max(firsts) > 0.14
    jittered = Backoff(first=None, initial=1.0, maximum=8.0)
    rng = random.Random(7)
    draws = [jittered.delay(3, rng=rng) for _ in range(200)]
    assert all(0.0 <= d <= 4.0 for d in draws)
    assert max(draws) > 3.0
    assert min(draws) < 1.0
    set_testing(True)
    try:
        assert is_testing()
        assert plain.delay(5) == 0.0
    finally:
        set_testing(False)
    assert not is_testing()
    with pytest.raises(ValueError, match="initial must be a number >= 0"):
        Backoff(initial=-1)
    with pytest.raises(ValueError, match="first must be a number >= 0"):
        Backoff(first=-0.1)
