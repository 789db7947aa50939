"""Token buckets for the per-tenant rate limit on the HR API (the middleware is `server/web/rate_limit.py`).

One node keeps its buckets in memory. A cluster keeps them in Redis, so a tenant has one budget however
its requests are spread over nodes: one Lua script refills and takes atomically, on Redis's clock. When
Redis cannot answer, the node falls back to its own bucket (counted), which limits each node separately
rather than not at all, and tries Redis again a second later.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import redis.asyncio as redis
from redis.exceptions import RedisError

from server.storage.redis_client import Keys

logger = logging.getLogger(__name__)

# KEYS[1] the bucket; ARGV rate per second, burst. Returns the seconds to wait, as a string ("0" = allowed).
_TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1]) or burst
local updated = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - updated) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""
RETRY_REDIS_AFTER_S = 1.0


@dataclass
class TokenBucket:
    rate_per_s: float
    burst: float
    tokens: float = field(init=False)
    updated: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def take(self, now: float) -> float:
        """Spend one token; 0.0 when allowed, else the seconds until one is available."""
        wait = self.wait(now)
        if wait == 0.0:
            self.tokens -= 1.0
        return wait

    def wait(self, now: float) -> float:
        """Seconds until a token is available (0.0: one is now); spends none."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate_per_s)
        self.updated = now
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate_per_s


class RedisTokenBuckets:
    """Every node's buckets in one Redis: `take(tenant)` spends a token of the tenant's shared budget."""

    def __init__(self, client: redis.Redis, keys: Keys, rate_per_s: float, burst: int) -> None:
        self._keys = keys
        self._rate_per_s = rate_per_s
        self._burst = burst
        self._take = client.register_script(_TAKE)
        self._skip_until = 0.0
        self.fallbacks = 0  # requests limited by this node's own bucket because Redis could not answer

    async def take(self, tenant: str) -> float | None:
        """Seconds to wait (0.0: allowed), or None when Redis cannot answer and the caller must use its own bucket."""
        now = time.monotonic()
        if now < self._skip_until:
            self.fallbacks += 1
            return None
        try:
            wait = await self._take(keys=[self._keys.rate(tenant)], args=[repr(self._rate_per_s), self._burst])
        except (RedisError, OSError) as exc:
            self.fallbacks += 1
            if self._skip_until == 0.0:
                logger.warning("rate limit: Redis unreachable (%s); each node limits with its own buckets until it is back", exc)
            # Do not make every request wait for a timeout while Redis is down.
            self._skip_until = now + RETRY_REDIS_AFTER_S
            return None
        if self._skip_until:
            logger.warning("rate limit: shared buckets in Redis again")
            self._skip_until = 0.0
        return float(wait)
