"""Rate limits shared by every portal process (through the cache: Redis in production).

The one rate limiter: the sign-up guards, requests for a new code and admin logins all count here.
Windows are fixed (aligned to the epoch), so when a caller is over its limit `window_end` says when it
may try again."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: int

    @classmethod
    def parse(cls, value: str) -> Limit:
        count, _, seconds = value.partition("/")
        limit = cls(int(count), int(seconds))
        if limit.count < 1 or limit.seconds < 1:
            raise ValueError(value)
        return limit


def window_end(limit: Limit) -> datetime:
    """When the current window of `limit` closes: the time a caller over it may try again."""
    return datetime.fromtimestamp((int(time.time() // limit.seconds) + 1) * limit.seconds, tz=UTC)


def configured(name: str) -> Limit:
    return Limit.parse(settings.SIGNUP_RATE_LIMITS[name])


def hit(scope: str, key: str, limit: Limit) -> bool:
    """Count one request against `limit` for `key`; False once the window's allowance is used up.

    A fixed window per key, counted atomically (in Redis across processes). Keys are hashed so no
    personal data lands in the cache's key space.
    """
    return first_exceeded([(scope, key, limit)]) is None


# Counts each key in turn, stopping at the first over its limit (later ones are then not counted).
COUNT_UNTIL_OVER = """
for i = 1, #KEYS do
  local n = redis.call('INCR', KEYS[i])
  if n == 1 then redis.call('EXPIRE', KEYS[i], ARGV[2 * i - 1]) end
  if n > tonumber(ARGV[2 * i]) then return i end
end
return 0
"""


_count_until_over: Any = None


def first_exceeded(checks: list[tuple[str, str, Limit]]) -> int | None:
    """Count one request against each (scope, key, limit) in order; the index of the first whose
    allowance is used up (the ones after it are not counted), or None. On Redis one round trip; Django's
    Redis backend stores integers unpickled, so cache.get() still reads these counters."""
    backend = caches[DEFAULT_CACHE_ALIAS]  # `cache` is a proxy, not the backend itself
    if not isinstance(backend, RedisCache):
        for index, (scope, key, limit) in enumerate(checks):
            if count(_cache_key(scope, key, limit), limit.seconds + 1) > limit.count:
                return index
        return None
    keys = [backend.make_and_validate_key(_cache_key(scope, key, limit)) for scope, key, limit in checks]
    args = [value for _, _, limit in checks for value in (limit.seconds + 1, limit.count)]
    global _count_until_over
    client = backend._cache.get_client(keys[0], write=True)
    if _count_until_over is None:
        _count_until_over = client.register_script(COUNT_UNTIL_OVER)  # EVALSHA from then on
    over = int(_count_until_over(keys=keys, args=args, client=client))
    return over - 1 if over else None


def _cache_key(scope: str, key: str, limit: Limit) -> str:
    window = int(time.time() // limit.seconds)
    digest = hashlib.sha256(f"{scope}:{key}".encode()).hexdigest()[:32]
    return f"signup:rate:{scope}:{digest}:{window}"


def count(cache_key: str, seconds: int) -> int:
    """Add one to a counter that lives `seconds` from its first count, and return the new count, with
    Django's cache API (Redis counts through first_exceeded's script instead)."""
    if cache.add(cache_key, 1, seconds):
        return 1
    try:
        return int(cache.incr(cache_key))
    except ValueError:  # the window expired between add and incr: this request starts the next one
        cache.add(cache_key, 1, seconds)
        return 1
