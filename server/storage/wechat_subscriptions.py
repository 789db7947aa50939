"""Candidates' consents to one WeChat subscription message each (一次性订阅消息): the contract, its SQLite and Redis stores.

WeChat lets an Official Account send one subscription message per consent: the candidate confirms on WeChat's page,
WeChat sends them back with their openid and the scene, and one message to that openid, template and scene spends it
(a second consent in the same scene does not add up; another scene is another consent). So a consent is kept until
exactly one send takes it: `take` removes it atomically, and of two nodes taking at once one gets it, the other None.
A send that fails without spending it at WeChat (busy, timed out) `grant`s it again. Consents are personal data (an
openid): `erase` removes them with the interview.

    SQLite: table wechat_subscription_consents in the interview database, primary key (interview, template, scene)
    Redis:  {prefix}wechat_consents:{interview}   hash: "{template_id}:{scene}" -> {"openid", "tenant", "granted_at"}
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Protocol

import redis.asyncio as redis

from server.storage.redis_client import Keys, text
from server.storage.sqlite_connection import SerialConnection, Synchronous, connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS wechat_subscription_consents (
    interview_id TEXT NOT NULL,
    template_id TEXT NOT NULL,
    scene INTEGER NOT NULL,
    tenant TEXT NOT NULL,
    openid TEXT NOT NULL,
    granted_at REAL NOT NULL,
    PRIMARY KEY (interview_id, template_id, scene)
);
"""

Consent = tuple[str, int]  # (openid, scene)


class SubscriptionConsents(Protocol):
    """What the WeChat subscription channel and its confirm flow use: `SubscriptionConsentStore` (SQLite, beside the
    SQLite interview store) or `RedisSubscriptionConsentStore` (beside the Redis one)."""

    async def close(self) -> None: ...

    async def grant(self, tenant: str, interview_id: str, openid: str, template_id: str, scene: int) -> None:
        """Keep the candidate's consent to one message of `template_id` in `scene`; a second one in the same scene
        replaces the first, as WeChat does not add them up."""
        ...

    async def take(self, interview_id: str, template_id: str) -> Consent | None:
        """Remove and return one consent to a message of `template_id` (the oldest), or None when there is none.
        Atomic: however many nodes take at once, each consent is returned once."""
        ...

    async def erase(self, interview_ids: list[str]) -> None: ...


class SubscriptionConsentStore(SerialConnection):
    """Create with `open(path)` on the interview database; release with `close()`."""

    @classmethod
    async def open(cls, path: Path, synchronous: Synchronous = "full") -> SubscriptionConsentStore:
        return cls(await connect(path, SCHEMA, synchronous))

    async def grant(self, tenant: str, interview_id: str, openid: str, template_id: str, scene: int) -> None:
        await self._write_one(
            "INSERT INTO wechat_subscription_consents (interview_id, template_id, scene, tenant, openid, granted_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (interview_id, template_id, scene)"
            " DO UPDATE SET tenant = excluded.tenant, openid = excluded.openid, granted_at = excluded.granted_at",
            (interview_id, template_id, scene, tenant, openid, time.time()),
        )

    async def take(self, interview_id: str, template_id: str) -> Consent | None:
        # One DELETE ... RETURNING under BEGIN IMMEDIATE: another connection to the file waits for the write lock,
        # then finds the row gone.
        async with self._transaction() as db:
            cursor = await db.execute(
                "DELETE FROM wechat_subscription_consents WHERE rowid = (SELECT rowid FROM wechat_subscription_consents"
                " WHERE interview_id = ? AND template_id = ? ORDER BY granted_at, scene LIMIT 1) RETURNING openid, scene",
                (interview_id, template_id),
            )
            row = await cursor.fetchone()
            await cursor.close()
        return None if row is None else (str(row["openid"]), int(row["scene"]))

    async def erase(self, interview_ids: list[str]) -> None:
        if not interview_ids:
            return
        marks = ",".join("?" * len(interview_ids))
        await self._write_one(f"DELETE FROM wechat_subscription_consents WHERE interview_id IN ({marks})", interview_ids)


class ConsentKeys:
    """The Redis names of the consents, under the node's prefix (redis_client.py's `Keys`)."""

    def __init__(self, keys: Keys) -> None:
        self._prefix = keys.prefix

    def consents(self, interview_id: str) -> str:
        return f"{self._prefix}wechat_consents:{interview_id}"


# KEYS: the interview's consents; ARGV: "{template_id}:". Removes and returns the oldest consent to that template.
TAKE = """
local fields = redis.call('HGETALL', KEYS[1])
local chosen, chosen_at, chosen_value = nil, nil, nil
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, #ARGV[1]) == ARGV[1] then
    local at = tonumber(cjson.decode(fields[i + 1])['granted_at'])
    if chosen == nil or at < chosen_at or (at == chosen_at and fields[i] < chosen) then
      chosen, chosen_at, chosen_value = fields[i], at, fields[i + 1]
    end
  end
end
if chosen == nil then return nil end
redis.call('HDEL', KEYS[1], chosen)
return {chosen, chosen_value}
"""


class RedisSubscriptionConsentStore:
    """The same interface as `SubscriptionConsentStore` on the node's Redis client; `close()` leaves it open."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._redis = client
        self._keys = ConsentKeys(keys)
        self._take = client.register_script(TAKE)

    async def close(self) -> None:
        """Nothing of its own: the client is the node's."""

    async def grant(self, tenant: str, interview_id: str, openid: str, template_id: str, scene: int) -> None:
        value = json.dumps({"openid": openid, "tenant": tenant, "granted_at": time.time()})
        await self._redis.hset(self._keys.consents(interview_id), f"{template_id}:{scene}", value)

    async def take(self, interview_id: str, template_id: str) -> Consent | None:
        reply = await self._take(keys=[self._keys.consents(interview_id)], args=[f"{template_id}:"])
        if reply is None:
            return None
        field, value = text(reply[0]), json.loads(text(reply[1]))
        return str(value["openid"]), int(field.rsplit(":", 1)[1])

    async def erase(self, interview_ids: list[str]) -> None:
        if interview_ids:
            await self._redis.delete(*(self._keys.consents(i) for i in interview_ids))
