"""When to retry a failed request and how long to wait first, without any I/O.

The whole retry policy is stated here, in the manner of stamina: :class:`RetryPolicy` says
what is retried (a lost connection or timeout, a 408, a 429 and every 5xx; never another
4xx, which would fail the same way again), how often (``max_retries``), how long to wait
(:class:`Backoff`) and what a 429 does (every request of the client pauses, for
``Retry-After`` when the server gave one; a ``Retry-After`` beyond ``max_retry_wait`` fails at
once, since Cloudflare blocks the token until then). The fetcher only carries decisions out.

Waits follow exponential backoff with full jitter (AWS Architecture Blog, "Exponential
Backoff And Jitter"), after a quick first retry: a reset connection or a passing 502 usually
succeeds at once, and a page that waits seconds for it holds back every page behind it.

Like stamina, the library has a testing switch, :func:`set_testing`, that makes every backoff
wait zero so that tests of retry paths are fast without patching ``sleep``. It does not
shorten a server's ``Retry-After``: that is the server's instruction, not the client's guess.
"""

from __future__ import annotations

import functools
import random

import attrs

from asyncinvoices._errors import APIError, AsyncInvoicesError, RateLimitError, TransportError
from asyncinvoices._models import number_at_least, validated
from asyncinvoices._wire.protocol import is_retryable_status

__all__ = ["Backoff", "Pause", "Retry", "RetryPolicy", "is_testing", "set_testing"]

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


_non_negative = validated(functools.partial(number_at_least, minimum=0), "a number >= 0")


@attrs.frozen(kw_only=True)
class Backoff:
    """How long to wait before each retry: a quick first retry, then exponential with jitter.

    The first retry waits about ``first`` seconds (drawn between half and one and a half
    times it). Each later retry ``n`` waits up to ``initial * 2**(n - 2)`` seconds, capped at
    ``maximum``. With ``first=None`` every retry backs off, the first waiting up to
    ``initial``.

    Attributes:
        first: The wait before the first retry, or ``None`` for no quick first retry.
        initial: The cap of the first backed-off retry's wait, in seconds.
        maximum: The cap of any single wait, in seconds.
        jitter: Draw the wait at random below the cap (``True``) or wait the cap itself.
    """

    first: float | None = 0.1
    initial: float = attrs.field(default=0.5, validator=_non_negative)
    maximum: float = attrs.field(default=30.0, validator=_non_negative)
    jitter: bool = True

    def __attrs_post_init__(self) -> None:
        if self.first is not None:
            _non_negative(self, attrs.fields(Backoff).first, self.first)

    def delay(self, retry: int, *, rng: random.Random | None = None) -> float:
        """Return the seconds to wait before retry number ``retry`` (1 for the first).

        Args:
            retry: Which retry this is, counting from one.
            rng: The random source, for reproducible tests.
        """
        if _testing:
            return 0.0
        source = rng or random
        if self.first is not None:
            if retry <= 1:
                quick = min(self.first, self.maximum)
                return source.uniform(0.5 * quick, 1.5 * quick) if self.jitter else quick
            retry -= 1
        cap = min(self.maximum, self.initial * 2.0 ** max(0, retry - 1))
        if not self.jitter:
            return cap
        return source.uniform(0.0, cap)


@attrs.frozen
class Retry:
    """Send the request again after ``delay`` seconds."""

    delay: float


@attrs.frozen
class Pause:
    """A 429: hold every request of the client for ``seconds``, then send this one again."""

    seconds: float


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """What is retried, how many times, and how long to wait: the one place that decides.

    Attributes:
        max_retries: Retries of one request before its error is raised.
        max_retry_wait: The longest ``Retry-After`` waited out.
        backoff: The waits between retries.
    """

    max_retries: int
    max_retry_wait: float
    backoff: Backoff

    def decide(self, error: AsyncInvoicesError, retry: int) -> Retry | Pause:
        """Decide what follows ``error`` on the request's attempt after ``retry`` retries.

        Args:
            error: What the attempt failed with.
            retry: How many retries were already made (0 after the first attempt).

        Returns:
            :class:`Pause` for a 429 to ride out, :class:`Retry` for another failure that
            may succeed when sent again.

        Raises:
            AsyncInvoicesError: ``error`` itself when it is final or the retries are used
                up, or a :class:`RateLimitError` when ``Retry-After`` exceeds
                ``max_retry_wait``.
        """
        if isinstance(error, RateLimitError):
            wait = error.retry_after
            if wait is not None and wait > self.max_retry_wait:
                raise self._too_long(error, wait)
            if retry >= self.max_retries:
                raise error
            # docs/cloudflare-api.md, "Rate limits": going over blocks every call of the token, so
            # a 429 holds the whole client, not just this request.
            return Pause(wait if wait is not None else self.backoff.delay(retry + 1))
        retryable = isinstance(error, TransportError) or (
            isinstance(error, APIError) and is_retryable_status(error.status)
        )
        if not retryable or retry >= self.max_retries:
            raise error
        return Retry(self.backoff.delay(retry + 1))

    def _too_long(self, error: RateLimitError, wait: float) -> RateLimitError:
        return RateLimitError(
            f"{error} exceeds max_retry_wait={self.max_retry_wait:g} s; "
            "Cloudflare blocks the token until then",
            status=error.status,
            errors=error.errors,
            ray_id=error.ray_id,
            page=error.page,
            retry_after=wait,
        )
