"""Rate limits shared by every portal process (through the cache: Redis in production)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

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


def configured(name: str) -> Limit:
    return Limit.parse(settings.SIGNUP_RATE_LIMITS[name])


def hit(scope: str, key: str, limit: Limit) -> bool:
    """Count one request against `limit` for `key`; False once the window's allowance is used up.

    A fixed window per key, counted atomically (in Redis across processes). Keys are hashed so no
    personal data lands in the cache's key space.
    """
    window = int(time.time() // limit.seconds)
    digest = hashlib.sha256(f"{scope}:{key}".encode()).hexdigest()[:32]
    return count(f"signup:rate:{scope}:{digest}:{window}", limit.seconds + 1) <= limit.count


def count(cache_key: str, seconds: int) -> int:
    """Add one to a counter that lives `seconds` from its first count, and return the new count."""
    backend = caches[DEFAULT_CACHE_ALIAS]  # `cache` is a proxy, not the backend itself
    if isinstance(backend, RedisCache):
        # One round trip: Django's add() and incr() take three (incr checks that the key exists first).
        # Django's Redis backend stores integers unpickled, so cache.get() still reads this counter.
        key = backend.make_and_validate_key(cache_key)
        pipe = backend._cache.get_client(key, write=True).pipeline(transaction=False)
        pipe.set(key, 0, ex=seconds, nx=True)
        pipe.incr(key)
        return int(pipe.execute()[1])
    if cache.add(cache_key, 1, seconds):
        return 1
    try:
        return int(cache.incr(cache_key))
    except ValueError:  # the window expired between add and incr: this request starts the next one
        cache.add(cache_key, 1, seconds)
        return 1
