"""When to retry a failed request and how long to wait first, without any I/O.

Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
Jitter"): the n-th retry waits a uniform random time in ``[0, min(maximum, initial * 2**n)]``,
which spreads the retries of many concurrent requests instead of synchronising them. A
``Retry-After`` from the server is a floor under that wait.

Like stamina, the library has a testing switch, :func:`set_testing`, that makes every backoff
wait zero so that tests of retry paths are fast without patching ``sleep``. It does not
shorten a server's ``Retry-After``: that is the server's instruction, not the client's guess.
"""

from __future__ import annotations

import random

import attrs

__all__ = ["Backoff", "is_testing", "set_testing"]

_testing = False


def set_testing(enabled: bool) -> None:
    """Turn the testing mode on or off: every backoff wait becomes zero while it is on.

    Args:
        enabled: ``True`` to skip backoff waits, ``False`` for normal behaviour.

    Example:
        >>> import asyncinvoices
        >>> asyncinvoices.set_testing(True)
        >>> asyncinvoices.Backoff().delay(3)
        0.0
        >>> asyncinvoices.set_testing(False)
    """
    global _testing
    _testing = bool(enabled)


def is_testing() -> bool:
    """Whether :func:`set_testing` has turned the testing mode on."""
    return _testing


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{attribute.name} must be a number >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class Backoff:
    """How long to wait before each retry: exponential, capped, with full jitter.

    Attributes:
        initial: The cap of the first retry's wait, in seconds.
        maximum: The cap of any single wait, in seconds.
        jitter: Draw the wait uniformly below the cap (``True``) or wait the cap itself.
    """

    initial: float = attrs.field(default=0.5, validator=_non_negative)
    maximum: float = attrs.field(default=30.0, validator=_non_negative)
    jitter: bool = True

    def delay(self, retry: int, *, rng: random.Random | None = None) -> float:
        """Return the seconds to wait before retry number ``retry`` (1 for the first).

        Args:
            retry: Which retry this is, counting from one.
            rng: The random source, for reproducible tests.
        """
        if _testing:
            return 0.0
        cap = min(self.maximum, self.initial * 2.0 ** max(0, retry - 1))
        if not self.jitter:
            return cap
        return (rng or random).uniform(0.0, cap)
