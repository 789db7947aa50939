"""ATS write-backs in Redis, beside the Redis interview store: `WriteBackStore`'s interface, shared by every node.

    writeback:{subject}:{action}   hash: connector, target (sealed), attempts, next_attempt_at, done_at,
                                   last_status, last_error, created_at
    writebacks:pending             sorted set by next attempt, of `{subject}:{action}` not yet done nor given up

The subject is the interview's id, or for an account action the ATS account's. A write-back goes with its interview
(server/storage/redis_store.py deletes them), so an erased candidate is never reported. `adopt_greenhouse_callbacks()`
moves the `greenhouse:*` callbacks of earlier versions here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import redis.asyncio as redis
from redis.asyncio.client import Pipeline
from redis.typing import EncodableT, FieldT

from server.storage.ats_writebacks import ACCOUNT_ACTIONS, RESULT, Action, WriteBack, as_action, open_target, seal_target
from server.storage.redis_client import Keys, begin, reseal_field, scored_members, text, text_hash, watched_transaction
from server.storage.rows import WriteBackRow
from server.storage.sealed import Sealer

# KEYS: write-back, pending; ARGV: member, now, lease until, attempts the caller saw.
CLAIM = """
local c = redis.call('HMGET', KEYS[1], 'done_at', 'next_attempt_at', 'attempts')
if c[1] or not c[2] or tonumber(c[2]) > tonumber(ARGV[2]) or tonumber(c[3]) ~= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', KEYS[1], 'next_attempt_at', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
"""

# KEYS: write-back, pending; ARGV: member, attempts, now if done else '', next attempt or '', last status or '', last error or ''.
RECORD = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'attempts', ARGV[2])
local fields = {'done_at', 'next_attempt_at', 'last_status', 'last_error'}
for i, field in ipairs(fields) do
  if ARGV[i + 2] == '' then redis.call('HDEL', KEYS[1], field) else redis.call('HSET', KEYS[1], field, ARGV[i + 2]) end
end
if ARGV[4] == '' then redis.call('ZREM', KEYS[2], ARGV[1]) else redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1]) end
return 1
"""


def member(subject: str, action: Action) -> str:
    return f"{subject}:{action}"


class RedisWriteBackStore:
    """`WriteBackStore` on the node's Redis client; `close()` leaves the client to its owner."""

    def __init__(self, client: redis.Redis, keys: Keys, sealer: Sealer) -> None:
        self._sealer = sealer
        self._redis = client
        self._keys = keys
        self._claim = client.register_script(CLAIM)
        self._record = client.register_script(RECORD)

    async def close(self) -> None:
        """Nothing of its own to release: the client is the node's (server/composition.py closes it)."""

    async def add(self, subject: str, action: Action, connector: str, target: Mapping[str, str]) -> bool:
        """Owe the ATS `action` for the interview, or the account, `subject` (a second add replaces the target; an
        account's is due again at once); False when the interview is gone."""
        key = self._keys.writeback(subject, action)
        for_account = action in ACCOUNT_ACTIONS
        interview = self._keys.interview(subject)

        async def build(pipe: Pipeline) -> bool:
            if not for_account and not await pipe.exists(interview):
                return False
            known = await pipe.exists(key)
            now = time.time()
            begin(pipe)
            pipe.hset(key, mapping={"connector": connector, "target": seal_target(self._sealer, target)})
            if not known or for_account:
                pipe.hset(key, mapping={"attempts": 0, "next_attempt_at": now, "created_at": now})
                pipe.hdel(key, "done_at")
                pipe.zadd(self._keys.writebacks_pending(), {member(subject, action): now})
            return True

        return await watched_transaction(self._redis, [key] if for_account else [interview, key], build)

    async def adopt_greenhouse_callbacks(self) -> int:
        """Earlier versions kept Greenhouse's callbacks as `greenhouse:{interview_id}`: move them here; how many."""
        pending = self._keys.greenhouse_pending()
        moved = 0
        async for raw_key in self._redis.scan_iter(match=self._keys.greenhouse_callback("*"), count=500):
            old = text(raw_key)
            if old == pending:
                continue
            interview_id = old[len(self._keys.greenhouse_callback("")) :]
            fields = text_hash(await self._redis.hgetall(old))
            if "url" not in fields or "api_key" not in fields:
                continue
            target = {"url": fields["url"], "api_key": self._sealer.open(fields["api_key"])}
            kept: dict[FieldT, EncodableT] = {
                k: v for k, v in fields.items() if k in ("attempts", "next_attempt_at", "last_status", "last_error", "created_at")
            }
            if "notified_at" in fields:
                kept["done_at"] = fields["notified_at"]
            async with self._redis.pipeline(transaction=True) as pipe:
                new = self._keys.writeback(interview_id, RESULT)
                pipe.hset(new, mapping={**kept, "connector": "greenhouse", "target": seal_target(self._sealer, target)})
                if "notified_at" not in fields and "next_attempt_at" in fields:
                    pipe.zadd(self._keys.writebacks_pending(), {member(interview_id, RESULT): float(fields["next_attempt_at"])})
                pipe.delete(old)
                pipe.zrem(pending, interview_id)
                await pipe.execute()
            moved += 1
        return moved

    async def _pending(self) -> list[tuple[str, Action, float]]:
        """Write-backs not yet done, with their next attempt; a result only once its interview's report exists
        (interviews still running are few, so every pending one is looked at)."""
        pending: list[tuple[str, Action, float]] = []
        for name, at in scored_members(await self._redis.zrange(self._keys.writebacks_pending(), 0, -1, withscores=True)):
            subject, _, action = name.rpartition(":")
            known = as_action(action)
            if known is not None:
                pending.append((subject, known, at))
        awaiting_report = [s for s, a, _ in pending if a == RESULT]
        async with self._redis.pipeline(transaction=False) as pipe:
            for subject in awaiting_report:
                pipe.exists(self._keys.interview_part(subject, "report"))
            reported = {s for s, has_report in zip(awaiting_report, await pipe.execute(), strict=True) if has_report}
        return [(s, a, at) for s, a, at in pending if a != RESULT or s in reported]

    async def due(self, now: float, limit: int = 50) -> list[WriteBack]:
        """Write-backs not yet done whose next attempt is due (a result's only once the report exists); oldest first."""
        ids = sorted((at, s, a) for s, a, at in await self._pending() if at <= now)[:limit]
        async with self._redis.pipeline(transaction=False) as pipe:
            for _, subject, action in ids:
                pipe.hmget(self._keys.writeback(subject, action), ["connector", "target", "attempts"])
            rows = await pipe.execute()
        return [
            WriteBack(s, a, text(connector), open_target(self._sealer, text(target)), int(attempts))
            for (_, s, a), (connector, target, attempts) in zip(ids, rows, strict=True)
            if connector is not None and target is not None
        ]

    async def next_due_at(self) -> float | None:
        times = [at for _, _, at in await self._pending()]
        return min(times) if times else None

    async def claim(self, item: WriteBack, now: float, lease_s: float) -> bool:
        """Take a due write-back for one attempt: its next attempt moves `lease_s` ahead (a crash mid-attempt retries
        it then); False when another pass or node took it, or it was done or erased meanwhile."""
        keys = [self._keys.writeback(item.subject, item.action), self._keys.writebacks_pending()]
        return bool(await self._claim(keys=keys, args=[member(item.subject, item.action), now, now + lease_s, item.attempts]))

    async def record(
        self, item: WriteBack, status_code: int | None, error: str | None, *, done: bool, next_attempt_at: float | None
    ) -> None:
        """One attempt's result. `next_attempt_at` None without `done`: given up. A write-back erased meanwhile stays gone."""
        keys = [self._keys.writeback(item.subject, item.action), self._keys.writebacks_pending()]
        next_at = "" if done or next_attempt_at is None else repr(next_attempt_at)
        args: list[EncodableT] = [
            member(item.subject, item.action),
            item.attempts + 1,
            repr(time.time()) if done else "",
            next_at,
            "" if status_code is None else status_code,
            error or "",
        ]
        await self._record(keys=keys, args=args)

    async def reseal_secrets(self) -> int:
        prefix = self._keys.writeback("", "")[: -len(":")]  # `writeback:` and what follows
        return await reseal_field(self._redis, prefix, "target", self._sealer, lambda rest: as_action(rest.rpartition(":")[2]) is not None)

    async def get(self, subject: str, action: Action) -> WriteBackRow | None:
        raw = text_hash(await self._redis.hgetall(self._keys.writeback(subject, action)))
        if not raw:
            return None

        def number(field: str) -> float | None:
            return float(raw[field]) if field in raw else None

        return WriteBackRow(
            subject=subject,
            action=action,
            connector=raw["connector"],
            target=open_target(self._sealer, raw["target"]),
            attempts=int(raw["attempts"]),
            next_attempt_at=number("next_attempt_at"),
            done_at=number("done_at"),
            last_status=int(raw["last_status"]) if "last_status" in raw else None,
            last_error=raw.get("last_error"),
            created_at=number("created_at"),
        )
