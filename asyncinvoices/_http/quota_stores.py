"""Opening the shared quota's store that a setting names: a Redis URL, a ``file:///`` directory
or ``local``. Apart from ``quota.py``, so that the stores import the seam and the seam
never imports a store; the Redis module is imported only for a Redis URL."""

from __future__ import annotations

import urllib.parse

from asyncinvoices._errors import ConfigurationError

from .quota import QuotaStore, redact_url

__all__ = [
    "open_store",
]


def open_store(spec: str, key: str) -> QuotaStore | None:
    """Return the store that ``spec`` names, or ``None`` for ``"local"`` (this process only).

    Args:
        spec: ``redis://``, ``rediss://`` or ``unix://`` for Redis; ``file:///directory`` for
            a file in that directory; ``local`` for the governor's own count.
        key: The quota key: processes with the same store and key share one window.

    Raises:
        ConfigurationError: For anything else, or a Redis URL without the ``redis`` extra.
    """
    if not isinstance(spec, str):
        raise ConfigurationError(f"shared_quota must be a string, not {type(spec).__name__}")
    text = spec.strip()
    scheme = text.split(":", 1)[0].lower() if ":" in text else ""
    if text.lower() == "local":
        return None
    if scheme in ("redis", "rediss", "unix"):
        try:
            from .quota_redis import RedisQuotaStore
        except ImportError:
            raise ConfigurationError(
                "a Redis shared quota needs the redis package: pip install 'asyncinvoices[redis]'"
            ) from None
        return RedisQuotaStore(text, key)
    if scheme == "file":
        from .quota_file import FileQuotaStore

        parts = urllib.parse.urlsplit(text)
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise ConfigurationError(
                "a file shared quota is file:///absolute/directory, on this machine"
            )
        return FileQuotaStore(urllib.parse.unquote(parts.path), key)
    raise ConfigurationError(
        f"shared_quota must be a redis://, rediss://, unix:// or file:/// URL, or 'local', "
        f"not {redact_url(text)!r}"
    )
