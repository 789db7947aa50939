"""Greenhouse's completion callbacks in Redis, beside the Redis interview store: `CallbackStore`'s interface, shared by every node.

    greenhouse:{interview_id}   hash: url, api_key, attempts, next_attempt_at, notified_at, last_status, last_error
    greenhouse:pending          sorted set by next attempt, of callbacks not yet notified nor given up

A callback goes with its interview (server/storage/redis_store.py deletes both), so an erased candidate is never reported.
"""

from __future__ import annotations

import time

import redis.asyncio as redis
from redis.asyncio.client import Pipeline
from redis.typing import EncodableT

from server.storage.greenhouse_callbacks import Callback
from server.storage.redis_client import Keys, begin, reseal_field, scored_members, text, text_hash, watched_transaction
from server.storage.rows import CallbackRow
from server.storage.sealed import Sealer

# KEYS: callback, pending; ARGV: interview id, now, lease until, attempts the caller saw.
CLAIM = """
local c = redis.call('HMGET', KEYS[1], 'notified_at', 'next_attempt_at', 'attempts')
if c[1] or not c[2] or tonumber(c[2]) > tonumber(ARGV[2]) or tonumber(c[3]) ~= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', KEYS[1], 'next_attempt_at', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
"""

# KEYS: callback, pending; ARGV: interview id, attempts, now if notified else '', next attempt or '', last status or '', last error or ''.
RECORD = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'attempts', ARGV[2])
local fields = {'notified_at', 'next_attempt_at', 'last_status', 'last_error'}
for i, field in ipairs(fields) do
  if ARGV[i + 2] == '' then redis.call('HDEL', KEYS[1], field) else redis.call('HSET', KEYS[1], field, ARGV[i + 2]) end
end
if ARGV[4] == '' then redis.call('ZREM', KEYS[2], ARGV[1]) else redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1]) end
return 1
"""


class RedisCallbackStore:
    """`CallbackStore` on the node's Redis client; `close()` leaves the client to its owner."""

    def __init__(self, client: redis.Redis, keys: Keys, sealer: Sealer) -> None:
        self._sealer = sealer  # the ATS credential is stored sealed (`sealed.py`)
        self._redis = client
        self._keys = keys
        self._claim = client.register_script(CLAIM)
        self._record = client.register_script(RECORD)

    async def close(self) -> None:
        """Nothing of its own to release: the client is the node's (server/composition.py closes it)."""

    async def add(self, interview_id: str, url: str, api_key: str) -> bool:
        """Remember where to signal the interview's completion; False when the interview no longer exists."""
        key = self._keys.greenhouse_callback(interview_id)
        interview = self._keys.interview(interview_id)

        async def build(pipe: Pipeline) -> bool:
            if not await pipe.exists(interview):
                return False
            known = await pipe.exists(key)
            now = time.time()
            begin(pipe)
            pipe.hset(key, mapping={"url": url, "api_key": self._sealer.seal(api_key)})
            if not known:
                pipe.hset(key, mapping={"attempts": 0, "next_attempt_at": now, "created_at": now})
                pipe.zadd(self._keys.greenhouse_pending(), {interview_id: now})
            return True

        return await watched_transaction(self._redis, [interview, key], build)

    async def _pending(self) -> list[tuple[str, float]]:
        """Callbacks not yet notified whose interview has its report, with their next attempt: the report is what
        they wait for, and interviews still running are few, so every pending one is looked at."""
        pending = scored_members(await self._redis.zrange(self._keys.greenhouse_pending(), 0, -1, withscores=True))
        async with self._redis.pipeline(transaction=False) as pipe:
            for interview_id, _ in pending:
                pipe.exists(self._keys.interview_part(interview_id, "report"))
            reported = await pipe.execute()
        return [p for p, has_report in zip(pending, reported) if has_report]

    async def due(self, now: float, limit: int = 50) -> list[Callback]:
        """Callbacks whose interview has its report, not yet notified, whose next attempt is due; oldest first."""
        ids = [interview_id for interview_id, at in await self._pending() if at <= now][:limit]
        async with self._redis.pipeline(transaction=False) as pipe:
            for interview_id in ids:
                pipe.hmget(self._keys.greenhouse_callback(interview_id), ["url", "api_key", "attempts"])
            rows = await pipe.execute()
        return [
            Callback(i, text(url), self._sealer.open(text(key)), int(attempts))
            for i, (url, key, attempts) in zip(ids, rows, strict=True)
            if url is not None and key is not None
        ]

    async def next_due_at(self) -> float | None:
        times = [at for _, at in await self._pending()]
        return min(times) if times else None

    async def claim(self, callback: Callback, now: float, lease_s: float) -> bool:
        """Take a due callback for one attempt: its next attempt moves `lease_s` ahead (a crash mid-attempt retries
        it then); False when another pass or node took it, or it was notified or erased meanwhile."""
        keys = [self._keys.greenhouse_callback(callback.interview_id), self._keys.greenhouse_pending()]
        return bool(await self._claim(keys=keys, args=[callback.interview_id, now, now + lease_s, callback.attempts]))

    async def record(
        self, callback: Callback, status_code: int | None, error: str | None, *, notified: bool, next_attempt_at: float | None
    ) -> None:
        """One attempt's result. `next_attempt_at` None without `notified`: given up. A callback erased meanwhile stays gone."""
        keys = [self._keys.greenhouse_callback(callback.interview_id), self._keys.greenhouse_pending()]
        next_at = "" if notified or next_attempt_at is None else repr(next_attempt_at)
        args: list[EncodableT] = [
            callback.interview_id,
            callback.attempts + 1,
            repr(time.time()) if notified else "",
            next_at,
            "" if status_code is None else status_code,
            error or "",
        ]
        await self._record(keys=keys, args=args)

    async def reseal_secrets(self) -> int:
        prefix = self._keys.greenhouse_callback("")
        pending = self._keys.greenhouse_pending()[len(prefix) :]  # the sorted set of callbacks due, beside them
        return await reseal_field(self._redis, prefix, "api_key", self._sealer, lambda rest: rest != pending)

    async def get(self, interview_id: str) -> CallbackRow | None:
        raw = text_hash(await self._redis.hgetall(self._keys.greenhouse_callback(interview_id)))
        if not raw:
            return None

        def number(field: str) -> float | None:
            return float(raw[field]) if field in raw else None

        return CallbackRow(
            interview_id=interview_id,
            url=raw["url"],
            api_key=self._sealer.open(raw["api_key"]),
            attempts=int(raw["attempts"]),
            next_attempt_at=number("next_attempt_at"),
            notified_at=number("notified_at"),
            last_status=int(raw["last_status"]) if "last_status" in raw else None,
            last_error=raw.get("last_error"),
            created_at=number("created_at"),
        )
