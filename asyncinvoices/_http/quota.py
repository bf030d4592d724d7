"""The shared quota: where the governor's window lives when several processes spend one budget.

Cloudflare's quota belongs to the user, across every token, process and machine: 1,200
requests in any five minutes, and one too many blocks all of them for five minutes
(docs/cloudflare-api.md, "Rate limits"). A :class:`.governor.RateGovernor` counts its own
requests in memory, which is right for one process. With a :class:`QuotaStore` it also asks
the store before each request, and every process configured with the same store and quota
key shares one sliding window:

* a file, locked while it is read and written (``_http/quota_file.py``): every process of one
  user on one machine, and each run remembers the requests of the run before it;
* Redis (``_http/quota_redis.py``): processes on any machine.

The semantics are the governor's: a request holds a place from the moment it is admitted
until the window has passed after its response. A place whose process died is freed after a
lease (the request timeout plus the window: a live process has its response by then). A pause
the server ordered (a 429's ``Retry-After``, a ``Ratelimit`` header with nothing remaining) and
a stricter ``Ratelimit-Policy`` are kept in the store too, so that every process waits.

:class:`QuotaState` is the decision, pure and given the time in whole microseconds; the file
store runs it, and the Redis store's Lua script is the same decision written for Redis. The
store is the I/O boundary; the governor does the waiting.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any, Protocol

import attrs

from asyncinvoices._config import Credentials
from asyncinvoices._errors import ConfigurationError
from asyncinvoices._models import WaitReason

__all__ = [
    "ENV_SHARED_QUOTA",
    "Admission",
    "QuotaState",
    "QuotaStore",
    "Verdict",
    "check_quota_key",
    "default_quota_key",
    "redact_url",
]

ENV_SHARED_QUOTA = "ASYNCINVOICES_SHARED_QUOTA"

# A quota key is part of file names and Redis keys: letters, digits and a few marks only, and
# no braces, which would change a Redis Cluster hash tag.
_QUOTA_KEY = re.compile(r"[A-Za-z0-9._-]{1,100}")

# A policy learned from the server is kept this long after it was last seen.
POLICY_TTL = 24 * 3600.0

MICROS = 1_000_000


@attrs.frozen(kw_only=True)
class Admission:
    """What the governor asks the store for one request.

    Attributes:
        token: Names this request's place, unique across every process.
        quota: The process's configured quota.
        window: Its window, in seconds.
        lease: Seconds after which an unreleased place is freed (its process died).
        pause: Seconds of a pause the server ordered this process, to share; 0.0 for none.
        pause_reason: Why: ``"retry-after"`` (a 429) always applies; ``"server"`` (a
            ``Ratelimit`` header with nothing remaining) only if the shared window had room
            when the header was read: when it was full, the processes sharing it explain the
            server's empty count.
        pause_age: Seconds since the server said it.
        policy: A stricter ``(quota, window)`` the server's policy header gave, to share.
    """

    token: str
    quota: int
    window: float
    lease: float
    pause: float = 0.0
    pause_reason: WaitReason = "server"
    pause_age: float = 0.0
    policy: tuple[int, float] | None = None


@attrs.frozen(kw_only=True)
class Verdict:
    """The store's answer.

    Attributes:
        admitted: The request holds a place and may be sent.
        wait: Seconds until a place may free; ``None`` when a request in flight must end first
            (in any process: the governor asks again a little later).
        reason: What holds it back: ``"quota"``, or a shared pause's reason.
    """

    admitted: bool
    wait: float | None = 0.0
    reason: WaitReason = "quota"


class QuotaStore(Protocol):
    """Where a shared window is kept; every method is one atomic step on the store.

    Attributes:
        name: The store, e.g. ``redis://host:6379/0`` or ``file:///path``, no password.
    """

    name: str

    async def admit(self, ask: Admission) -> Verdict:
        """Take a place for ``ask.token`` if every limit in force has room.

        Raises:
            QuotaStoreError: If the store cannot be reached; nothing was taken.
        """
        ...

    async def release(self, token: str) -> None:
        """The request of ``token`` ended: it stays counted until a window after now.

        Raises:
            QuotaStoreError: If the store cannot be reached; the lease frees the place.
        """
        ...

    async def aclose(self) -> None:
        """Close the connection or file, if any."""
        ...


def _micros(seconds: float) -> int:
    return math.ceil(seconds * MICROS)


_REASONS: tuple[WaitReason, ...] = ("quota", "server", "retry-after")


def _reason(text: str) -> WaitReason:
    for reason in _REASONS:
        if reason == text:
            return reason
    return "server"


@attrs.define
class QuotaState:
    """The shared window, as stored: the pure decision of :meth:`admit` and :meth:`release`.

    Times are whole microseconds on the store's clock.

    Attributes:
        flying: The places of requests in flight: token to start time.
        ended: The end times of requests that ended within the longest window, sorted.
        paused_until: No request is admitted before this time.
        pause_reason: Why.
        policy: A stricter ``(quota, window)`` and when it expires, or ``None``.
    """

    flying: dict[str, int] = attrs.Factory(dict)
    ended: list[int] = attrs.Factory(list)
    paused_until: int = 0
    pause_reason: str = "server"
    policy: tuple[int, int, int] | None = None

    def _full_at(self, moment: int, limits: list[tuple[int, int]]) -> bool:
        """Whether some limit was surely full at ``moment``: the requests in flight that had
        started by then, and those that had ended within its window before it."""
        flying = sum(1 for start in self.flying.values() if start <= moment)
        last = bisect.bisect_right(self.ended, moment)
        return any(
            flying + last - bisect.bisect_right(self.ended, moment - span) >= quota
            for quota, span in limits
        )

    def admit(self, now: int, ask: Admission) -> Verdict:
        """Decide on ``ask`` at ``now``; take the place when admitted."""
        if ask.policy is not None:
            self.policy = (ask.policy[0], _micros(ask.policy[1]), now + _micros(POLICY_TTL))
        limits = [(ask.quota, _micros(ask.window))]
        if self.policy is not None:
            if self.policy[2] <= now:
                self.policy = None
            else:
                limits.append(self.policy[:2])
        longest = max(w for _, w in limits)
        lease = _micros(ask.lease)
        self.flying = {t: start for t, start in self.flying.items() if start > now - lease}
        del self.ended[: bisect.bisect_right(self.ended, now - longest)]
        if ask.pause > 0 and (
            ask.pause_reason == "retry-after"
            or not self._full_at(now - _micros(ask.pause_age), limits)
        ):
            # A 429 is always shared. A header with nothing remaining, when the window had
            # room as the header was read, says someone outside it spends the quota too;
            # when the window was full, the processes sharing it explain the server's count.
            until = now + _micros(ask.pause)
            if until > self.paused_until:
                self.paused_until, self.pause_reason = until, ask.pause_reason
        if now < self.paused_until:
            return Verdict(
                admitted=False,
                wait=(self.paused_until - now) / MICROS,
                reason=_reason(self.pause_reason),
            )
        wait = 0
        for quota, span in limits:
            first = bisect.bisect_right(self.ended, now - span)
            recent = len(self.ended) - first
            taken = len(self.flying) + recent
            if taken < quota:
                continue
            need = taken - quota + 1
            if need > recent:
                return Verdict(admitted=False, wait=None)
            wait = max(wait, self.ended[first + need - 1] + span - now)
        if wait > 0:
            return Verdict(admitted=False, wait=wait / MICROS)
        self.flying[ask.token] = now
        return Verdict(admitted=True)

    def release(self, now: int, token: str) -> None:
        """End the request of ``token`` at ``now``."""
        self.flying.pop(token, None)
        bisect.insort(self.ended, now)

    def to_json(self) -> dict[str, Any]:
        """The state as a JSON object."""
        return {
            "flying": self.flying,
            "ended": self.ended,
            "paused_until": self.paused_until,
            "pause_reason": self.pause_reason,
            "policy": None if self.policy is None else list(self.policy),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QuotaState:
        """Read a state written by :meth:`to_json`.

        Raises:
            ValueError: If ``data`` is not such a state.
        """
        try:
            flying = {str(k): int(v) for k, v in dict(data["flying"]).items()}
            ended = sorted(int(v) for v in data["ended"])
            policy = data["policy"]
            return cls(
                flying=flying,
                ended=ended,
                paused_until=int(data["paused_until"]),
                pause_reason=str(data["pause_reason"]),
                policy=None if policy is None else (int(policy[0]), int(policy[1]), int(policy[2])),
            )
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"not a quota state: {exc}") from None


def default_quota_key(credentials: Credentials) -> str:
    """Return the quota key derived from the credentials: a hash that names, never reveals, them.

    Args:
        credentials: The client's credentials.
    """
    digest = hashlib.sha256(b"asyncinvoices quota key\0")
    for name, value in sorted(credentials.headers().items()):
        digest.update(f"{name}\0{value}\0".encode())
    return "cred-" + digest.hexdigest()[:24]


def check_quota_key(key: object) -> str:
    """Return ``key`` if it can name a quota: 1 to 100 letters, digits, ``.``, ``_`` or ``-``.

    Raises:
        ConfigurationError: Otherwise.
    """
    if not isinstance(key, str) or not _QUOTA_KEY.fullmatch(key):
        raise ConfigurationError(
            f"quota_key must be 1 to 100 letters, digits, '.', '_' or '-', not {key!r}"
        )
    return key


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``."""
    try:
        parts = urllib.parse.urlsplit(url)
        password = parts.password
    except ValueError:
        return "<an invalid URL>"
    if not password:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urllib.parse.urlunsplit(parts._replace(netloc=user + netloc))
