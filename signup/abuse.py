"""Rate limits shared by every portal process (through the cache: Redis in production)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache


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

    A fixed window per key: cache.add starts it atomically and cache.incr counts atomically, in
    Redis across processes. Keys are hashed so no personal data lands in the cache's key space.
    """
    window = int(time.time() // limit.seconds)
    digest = hashlib.sha256(f"{scope}:{key}".encode()).hexdigest()[:32]
    cache_key = f"signup:rate:{scope}:{digest}:{window}"
    if cache.add(cache_key, 1, limit.seconds + 1):
        return True
    try:
        return cache.incr(cache_key) <= limit.count
    except ValueError:  # the window expired between add and incr: this request starts the next one
        cache.add(cache_key, 1, limit.seconds + 1)
        return True
