"""The shared quota in Redis: processes on any machine spend one window.

Imported only when a ``redis://`` (``rediss://``, ``unix://``) shared quota is asked for, so
that without it the ``redis`` package is never imported.

Each admission is one Lua script, atomic on the server, over a sorted set of the places in
flight (scored by their start) and one of the ended ones (scored by their end), timed by
Redis's own clock (``TIME``), never by the machines' clocks, which drift. It is
:meth:`.QuotaState.admit` written for Redis; the tests run both on the same cases.
The release is a second script. The keys of one quota share the hash tag ``{<quota key>}``, so
that on Redis Cluster they live in one slot and one script may touch them all. Nothing but
tokens (random), times and the server's policy is written: no credential.
"""

from __future__ import annotations

import os
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from asyncinvoices._errors import ConfigurationError, QuotaStoreError

from .quota import MICROS, POLICY_TTL, Admission, Verdict, _micros, _reason, redact_url

__all__ = ["ADMIT_SCRIPT", "RELEASE_SCRIPT", "RedisQuotaStore"]

# Seconds to connect and to wait for an answer: a store that does not answer in this time
# fails the request closed rather than stalling the walk.
_SOCKET_TIMEOUT = 5.0

# KEYS: flying, ended, pause, policy.
# ARGV: token, quota, window, lease, pause, pause reason, pause age, policy quota, policy
# window, policy TTL (seconds); times in whole microseconds, 0 for "none".
# Returns {1, "0", ""} when admitted, else {0, wait, reason} with wait "-1" when a request in
# flight must end first. Numbers are formatted with %.0f: Lua's own tostring would print
# 1.7e+15 and lose the microseconds.
ADMIT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function n(x) return string.format('%.0f', x) end
local quota, window, lease = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local pause, reason, age = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local policy_quota = tonumber(ARGV[8])
if policy_quota > 0 then
  redis.call('SET', KEYS[4], n(policy_quota) .. ':' .. ARGV[9], 'EX', ARGV[10])
end
local limits = {{quota, window}}
local longest = window
local policy = redis.call('GET', KEYS[4])
if policy then
  local q, w = string.match(policy, '^(%d+):(%d+)$')
  q, w = tonumber(q), tonumber(w)
  table.insert(limits, {q, w})
  if w > longest then longest = w end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', n(now - lease))
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', n(now - longest))
if pause > 0 then
  -- A 429 is always shared. A header with nothing remaining, when the window had room as the
  -- header was read, says someone outside it spends the quota too; when the window was full,
  -- the processes sharing it explain the server's count.
  local share = reason == 'retry-after'
  if not share then
    local moment = now - age
    local flying = redis.call('ZCOUNT', KEYS[1], '-inf', n(moment))
    share = true
    for _, limit in ipairs(limits) do
      local ended = redis.call('ZCOUNT', KEYS[2], '(' .. n(moment - limit[2]), n(moment))
      if flying + ended >= limit[1] then share = false end
    end
  end
  if share then
    local current = redis.call('GET', KEYS[3])
    local current_until = 0
    if current then current_until = tonumber(string.match(current, '^(%d+):')) end
    if now + pause > current_until then
      local expiry = n(math.ceil(pause / 1000) + 1)
      redis.call('SET', KEYS[3], n(now + pause) .. ':' .. reason, 'PX', expiry)
    end
  end
end
local paused = redis.call('GET', KEYS[3])
if paused then
  local paused_until, why = string.match(paused, '^(%d+):(.*)$')
  paused_until = tonumber(paused_until)
  if now < paused_until then return {0, n(paused_until - now), why} end
end
local flying = redis.call('ZCARD', KEYS[1])
local wait = 0
for _, limit in ipairs(limits) do
  local q, w = limit[1], limit[2]
  local recent = redis.call('ZCOUNT', KEYS[2], '(' .. n(now - w), '+inf')
  local taken = flying + recent
  if taken >= q then
    local need = taken - q + 1
    if need > recent then return {0, '-1', 'quota'} end
    local ended = redis.call(
      'ZRANGEBYSCORE', KEYS[2], '(' .. n(now - w), '+inf', 'WITHSCORES', 'LIMIT', need - 1, 1)
    local free = tonumber(ended[2]) + w - now
    if free > wait then wait = free end
  end
end
if wait > 0 then return {0, n(wait), 'quota'} end
redis.call('ZADD', KEYS[1], n(now), ARGV[1])
redis.call('PEXPIRE', KEYS[1], n(math.ceil((lease + longest) / 1000)))
return {1, '0', ''}
"""

# KEYS: flying, ended. ARGV: token, how long ended places are kept (microseconds).
RELEASE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], string.format('%.0f', now), ARGV[1])
redis.call('PEXPIRE', KEYS[2], string.format('%.0f', math.ceil(tonumber(ARGV[2]) / 1000) + 1000))
return 1
"""

# The longest an ended place is kept: the longest window a policy may have (the governor
# clamps a policy's window to its longest wait, at most this in practice).
_KEEP_ENDED = 3600.0


class RedisQuotaStore:
    """A :class:`.QuotaStore` in Redis.

    Args:
        url: ``redis://[user:password@]host:port/db``, ``rediss://...`` or
            ``unix:///path?db=0``.
        key: The quota key; the keys are ``asyncinvoices:{<key>}:flying`` and so on.

    Raises:
        ConfigurationError: If the URL cannot be parsed.
    """

    def __init__(self, url: str, key: str) -> None:
        self.name = redact_url(url)
        try:
            self._redis: Any = aioredis.Redis.from_url(
                url,
                socket_connect_timeout=_SOCKET_TIMEOUT,
                socket_timeout=_SOCKET_TIMEOUT,
                # One immediate reconnect, for a connection the server closed while idle;
                # not redis-py's default backoff, which would hold a failing walk for seconds.
                retry=Retry(NoBackoff(), 1),
            )
        except ValueError as exc:
            raise ConfigurationError(
                f"shared_quota {self.name!r} is not a valid Redis URL: {exc}"
            ) from None
        prefix = f"asyncinvoices:{{{key}}}:"
        self.keys = tuple(prefix + part for part in ("flying", "ended", "pause", "policy"))
        self._admit = self._redis.register_script(ADMIT_SCRIPT)
        self._release = self._redis.register_script(RELEASE_SCRIPT)

    def _failed(self, exc: RedisError) -> QuotaStoreError:
        text = str(exc).strip() or type(exc).__name__
        # redis-py says "Error 111 connecting to h:p. Connect call failed (...)", raised while
        # handling the OSError: the store's name already says where, the system's reason why.
        cause: BaseException | None = exc
        for _ in range(4):
            cause = cause.__cause__ or cause.__context__ if cause is not None else None
            if isinstance(cause, OSError) and isinstance(cause.errno, int) and cause.errno > 0:
                text = os.strerror(cause.errno)
                break
        return QuotaStoreError(
            f"the shared quota in {self.name} cannot be reached: {redact_url(text)}",
            store=self.name,
        )

    async def admit(self, ask: Admission) -> Verdict:
        """Take a place in the window if it has room (see :class:`.QuotaStore`)."""
        policy = ask.policy or (0, 0.0)
        args = (
            ask.token,
            ask.quota,
            _micros(ask.window),
            _micros(ask.lease),
            _micros(ask.pause),
            ask.pause_reason,
            _micros(ask.pause_age),
            policy[0],
            _micros(policy[1]),
            int(POLICY_TTL),
        )
        try:
            admitted, wait, reason = await self._admit(keys=self.keys, args=args)
        except RedisError as exc:
            raise self._failed(exc) from exc
        if int(admitted):
            return Verdict(admitted=True)
        micros = int(wait)
        return Verdict(
            admitted=False,
            wait=None if micros < 0 else micros / MICROS,
            reason=_reason(reason.decode() if isinstance(reason, bytes) else str(reason)),
        )

    async def release(self, token: str) -> None:
        """End the request of ``token`` now, on Redis's clock."""
        try:
            await self._release(keys=self.keys[:2], args=(token, _micros(_KEEP_ENDED)))
        except RedisError as exc:
            raise self._failed(exc) from exc

    async def aclose(self) -> None:
        """Close the connections."""
        await self._redis.aclose()
