"""Webhook endpoints, events, deliveries and attempts in Redis, beside the Redis interview store, so any node lists, sends and replays them.

    change + event:{id} + XADD webhooks {event_id}        one MULTI/EXEC (server/storage/redis_store.py, `queue_event`)
        ─XREADGROUP─▶ the node that holds the entry fans it out: delivery:{id} per enabled endpoint that wants it
                      (the id is derived from event and endpoint, so two nodes holding one event make one delivery),
                      each in deliveries:due by when it is due, in the same script ─▶ XACK + XDEL
        deliveries:due ─claim (script: the first due ones, each pushed a lease ahead)─▶ POST ─▶ record attempts (script:
                      pending again at its next attempt, or out of the index)
    replay: the delivery pending again and due now, in one script

Any node claims any due delivery: the index is ordered by when each is due, so a claim reads only what it takes, however
many deliveries are waiting (before it, each pass read every held event's deliveries to find the due ones: 6.5 events/s
with 10 endpoints on 2 cores). A claimed delivery's score is the end of its lease, so a node that dies mid-attempt leaves
it due again then, for any other. The claim script reads the delivery and endpoint keys it is handed ids of: a
standalone Redis (or one with replicas and Sentinel) runs it, a Redis Cluster would not.

The stream, its consumer group and the hand-over of a dead node's entries are hrms_bridge/stream.py's.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

import redis.asyncio as redis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError
from redis.typing import EncodableT, FieldT

from server.storage.outbox import OutboxEvent
from server.storage.redis_client import Keys, begin, reseal_field, text, text_hash, texts, watched_transaction
from server.storage.rows import AttemptRow, DeliveryRow
from server.storage.sealed import Sealer
from server.storage.webhook_deliveries import (
    DEAD,
    DELIVERED,
    DISABLED_ERROR,
    MAX_SECRETS,
    PENDING,
    AttemptResult,
    Delivery,
    Endpoint,
    delivery_id_for,
    new_secret,
)

T = TypeVar("T")
STATUSES = (PENDING, DELIVERED, DEAD)
TIES = 100  # deliveries created at the very same instant that a page boundary may fall among
# Deliveries one fan-out script makes at most (more when one event alone has more endpoints): a script holds Redis while
# it runs, and a node that takes over two thousand events at once would otherwise fan them all out in one.
FAN_OUT_SCRIPT_DELIVERIES = 500

# KEYS: the due index, the endpoints' version; ARGV: why a disabled endpoint's delivery is dead, the endpoints' version
# the deliveries were chosen by ('' before any; '*': whatever it is now), the key names (JSON: the parts before and
# after the id of an event, its deliveries, an endpoint, its deliveries, a delivery), then the events (JSON): [tenant,
# event id, when it is fanned out, [the tenant's deliveries: pending, dead], [[endpoint id, delivery id, status:
# pending, or dead for a disabled endpoint] per endpoint]] each. Each event has a time of its own, later in the order
# given, so that a claim takes one event's deliveries together and events are first attempted in the order they were
# written. One script for many events (FAN_OUT_SCRIPT_DELIVERIES at most), its arguments in a few strings: redis-py
# packing an event's 70 arguments in Python took as long as the rest of the fan-out, and full key names made most of
# the JSON. Each event's deliveries are made once: an event already fanned out is skipped (and its id returned), an
# erased one skipped; each endpoint is looked up once a script. An event's deliveries are written in the script that
# marks it fanned out, so that mark alone says whether they exist (no delivery is looked up); a tenant's deliveries in
# all statuses are the union of its status indexes (no index of all of them is written: 2 of the 7 commands a delivery
# took here). When the endpoints changed since the caller chose them,
# nothing is written: returns -1 and the version now. Else how many deliveries were made, the version, then the ids of
# the events fanned out before.
FAN_OUT = """
local version = redis.call('GET', KEYS[2]) or ''
if ARGV[2] ~= '*' and ARGV[2] ~= version then return {-1, version} end
local k = cjson.decode(ARGV[3])
local function key(parts, id) return parts[1] .. id .. parts[2] end
local disabled, created, before, endpoints = ARGV[1], 0, {}, {}
for _, e in ipairs(cjson.decode(ARGV[4])) do
  local tenant, event_id, now, pending, dead = e[1], e[2], e[3], e[4][1], e[4][2]
  local event = key(k[1], event_id)
  if redis.call('EXISTS', event) == 1 then
    if redis.call('HEXISTS', event, 'fanned_out') == 1 then
      table.insert(before, event_id)
    else
      local by_event = key(k[2], event_id)
      for _, d in ipairs(e[5]) do
        local endpoint_id, delivery_id, status = d[1], d[2], d[3]
        local delivery = key(k[5], delivery_id)
        if endpoints[endpoint_id] == nil then endpoints[endpoint_id] = redis.call('EXISTS', key(k[3], endpoint_id)) == 1 end
        if endpoints[endpoint_id] then
          if status == 'pending' then
            redis.call('HSET', delivery, 'event_id', event_id, 'endpoint_id', endpoint_id, 'tenant', tenant, 'status', status,
                       'attempts', 0, 'created_at', now, 'next_attempt_at', now)
            redis.call('ZADD', pending, now, delivery_id)
            redis.call('ZADD', KEYS[1], now, delivery_id)
          else
            redis.call('HSET', delivery, 'event_id', event_id, 'endpoint_id', endpoint_id, 'tenant', tenant, 'status', status,
                       'attempts', 0, 'created_at', now, 'last_error', disabled)
            redis.call('ZADD', dead, now, delivery_id)
          end
          redis.call('SADD', by_event, delivery_id)
          redis.call('SADD', key(k[4], endpoint_id), delivery_id)
          created = created + 1
        end
      end
      redis.call('HSET', event, 'fanned_out', now)
    end
  end
end
local reply = {created, version}
for _, id in ipairs(before) do table.insert(reply, id) end
return reply
"""
FAN_OUT_TRIES = 5  # fan-outs chosen afresh when the endpoints changed meanwhile; the last takes the endpoints as they are

# KEYS: the due index; ARGV: now, lease until, how many at most, the delivery, endpoint and event key prefixes, the
# endpoints' version. Returns the endpoints' version ('' before any), how many were claimed, (delivery id, attempts,
# event id, endpoint id) of each delivery claimed, then (event id, type, payload) of each of their events (once each; an
# event erased meanwhile is left out, and its deliveries with it): one round trip for a claim, where reading the events
# after it took one command each. One that is no longer pending, or whose endpoint is disabled or gone, leaves the
# index (enabling an endpoint puts its pending deliveries back); each endpoint is looked at once a claim.
CLAIM_DUE = """
local claimed, events, seen, enabled = {}, {}, {}, {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))) do
  local key = ARGV[4] .. id
  local d = redis.call('HMGET', key, 'status', 'attempts', 'event_id', 'endpoint_id')
  if d[1] == 'pending' and enabled[d[4]] == nil then enabled[d[4]] = redis.call('HGET', ARGV[5] .. d[4], 'enabled') == '1' end
  if d[1] ~= 'pending' or not enabled[d[4]] then
    redis.call('ZREM', KEYS[1], id)
  else
    redis.call('HSET', key, 'next_attempt_at', ARGV[2])
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    table.insert(claimed, id)
    table.insert(claimed, d[2])
    table.insert(claimed, d[3])
    table.insert(claimed, d[4])
    if not seen[d[3]] then
      seen[d[3]] = true
      local e = redis.call('HMGET', ARGV[6] .. d[3], 'type', 'payload')
      if e[1] and e[2] then
        table.insert(events, d[3])
        table.insert(events, e[1])
        table.insert(events, e[2])
      end
    end
  end
end
local reply = {redis.call('GET', ARGV[7]) or '', #claimed / 4}
for _, v in ipairs(claimed) do table.insert(reply, v) end
for _, v in ipairs(events) do table.insert(reply, v) end
return reply
"""

# KEYS: the due index; ARGV: the delivery key prefix, the attempts key suffix, {tenant: [its pending, delivered and dead
# deliveries]} (JSON), then the results (JSON): [delivery id, tenant, outcome, attempt, next attempt at, last status, last
# error, delivered at, duration in ms] each ('' where there is none: stored so, and read as none), then when they were
# recorded. One script for a batch, its arguments in a few strings: packing ten arguments a result took most of the
# dispatcher's time on Redis (redis-py packs each in Python), and encoding each attempt's record as JSON inside the
# batch's JSON a tenth of it; the script writes the record, as json.dumps would ({"attempt": 1, "at": ..., "status_code":
# 200, "error": null, "duration_ms": 3.2}). A delivery's fields are set in one HSET whatever the outcome (removing the
# ones a success leaves without a value took an HDEL and two tables a result). A delivery erased meanwhile is skipped.
# Returns how many were recorded.
RECORD_ATTEMPTS = """
local prefix, suffix, now = ARGV[1], ARGV[2], ARGV[5]
local indexes = {}
for tenant, l in pairs(cjson.decode(ARGV[3])) do indexes[tenant] = {pending = l[1], delivered = l[2], dead = l[3]} end
local recorded = 0
for _, r in ipairs(cjson.decode(ARGV[4])) do
  local id, outcome, key = r[1], r[3], prefix .. r[1]
  local d = redis.call('HMGET', key, 'status', 'created_at')
  if d[2] then
    local error = r[7] == '' and 'null' or cjson.encode(r[7])
    redis.call('RPUSH', key .. suffix, '{"attempt": ' .. r[4] .. ', "at": ' .. now .. ', "status_code": ' ..
               (r[6] == '' and 'null' or r[6]) .. ', "error": ' .. error .. ', "duration_ms": ' .. r[9] .. '}')
    redis.call('HSET', key, 'status', outcome, 'attempts', r[4], 'next_attempt_at', r[5], 'last_status', r[6],
               'last_error', r[7], 'delivered_at', r[8])
    if d[1] ~= outcome then
      local by_status = indexes[r[2]]
      if by_status[d[1]] then redis.call('ZREM', by_status[d[1]], id) end
      redis.call('ZADD', by_status[outcome], d[2], id)
    end
    if outcome == 'pending' and r[5] ~= '' then redis.call('ZADD', KEYS[1], r[5], id) else redis.call('ZREM', KEYS[1], id) end
    recorded = recorded + 1
  end
end
return recorded
"""

# KEYS: delivery, the tenant's pending, delivered and dead deliveries, the due index; ARGV: tenant, now, delivery id.
REPLAY = """
local d = redis.call('HMGET', KEYS[1], 'tenant', 'created_at')
if d[1] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'status', 'pending', 'next_attempt_at', ARGV[2], 'attempts', 0)
redis.call('ZREM', KEYS[3], ARGV[3])
redis.call('ZREM', KEYS[4], ARGV[3])
redis.call('ZADD', KEYS[2], d[2], ARGV[3])
redis.call('ZADD', KEYS[5], ARGV[2], ARGV[3])
return 1
"""

# KEYS: an endpoint, the endpoints' version; ARGV: the new version, then field/value pairs. Changes an endpoint that
# exists (never makes a partial one of a deleted endpoint), and sets a new version in the same step, so that no node
# keeps the endpoint as it was.
SET_ENDPOINT_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('SET', KEYS[2], ARGV[1])
return 1
"""


# KEYS: the event, the events by time, the webhook stream, then the subject's events when the event has a subject; ARGV:
# event id, tenant, type, payload, created at, then its subject. The outbox on Redis in one command: the event, its
# stream entry (with tenant and type, so that fan-out need not read the event to pick its endpoints) and its subject's
# index (for erasure). The index first: a script is not rolled back, and that key (named after a subject) is the one
# whose refusal could otherwise leave an event half-written. Written as four commands in a MULTI, an event cost its
# writer about 400 µs of CPU in redis-py on the 2-core machine (each command packed, queued and answered in Python).
ADD_EVENT = """
if KEYS[4] then
  redis.call('SADD', KEYS[4], ARGV[1])
  redis.call('HSET', KEYS[1], 'subject', ARGV[6])
end
redis.call('HSET', KEYS[1], 'tenant', ARGV[2], 'type', ARGV[3], 'payload', ARGV[4], 'created_at', ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
redis.call('XADD', KEYS[3], '*', 'event_id', ARGV[1], 'tenant', ARGV[2], 'type', ARGV[3])
return 1
"""


def event_write(keys: Keys, event: OutboxEvent) -> tuple[list[str], list[str]]:
    """ADD_EVENT's keys and arguments for `event`."""
    script_keys = [keys.event(event.id), keys.events_by_time(), keys.webhook_stream()]
    args = [event.id, event.tenant, event.type, event.payload, repr(event.created_at)]
    if event.subject is not None:
        script_keys.append(keys.subject_events(event.tenant, event.subject))
        args.append(event.subject)
    return script_keys, args


class EventWriter:
    """Events written on their own (no change with them), sent to Redis together: what callers ask while a write is on
    its way goes out with the next one, as one pipeline of ADD_EVENT scripts (a group commit). Written alone, an event
    cost its writer about 250 µs of CPU in redis-py on the 2-core machine, and each of many writers at once paid it;
    each script is atomic on its own, so a batch needs no transaction. `write` returns once its event is written, in
    the order the writes were asked.
    """

    max_batch = 256  # events one pipeline carries at most; more wait for the next

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._script = client.register_script(ADD_EVENT)  # sent by its sha, in a pipeline of many
        self._waiting: list[tuple[list[str], list[str], asyncio.Future[None]]] = []
        self._sending: asyncio.Task[None] | None = None

    async def write(self, keys: Keys, event: OutboxEvent) -> None:
        script_keys, args = event_write(keys, event)
        written = asyncio.get_running_loop().create_future()
        self._waiting.append((script_keys, args, written))
        if self._sending is None or self._sending.done():
            self._sending = asyncio.create_task(self._send(), name="redis-event-writer")
        await written  # cancelled, the event may still be written (as a command already sent)

    async def _send(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
            outcomes: list[BaseException | None]
            try:
                outcomes = await self._written(batch)
            except asyncio.CancelledError:
                for *_, written in batch:
                    if not written.done():
                        written.set_exception(ConnectionError("the event writer stopped before the event was written"))
                raise
            except Exception as exc:  # noqa: BLE001 - the connection, a timeout, anything: every caller of the batch hears of it
                outcomes = [exc] * len(batch)
            for (*_, written), outcome in zip(batch, outcomes, strict=True):
                if written.done():
                    continue
                if outcome is None:
                    written.set_result(None)
                else:
                    written.set_exception(outcome)

    async def _written(
        self, batch: list[tuple[list[str], list[str], asyncio.Future[None]]], again: bool = True
    ) -> list[BaseException | None]:
        """Each event's outcome: None when written, else the error Redis answered for it."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for script_keys, args, _ in batch:
                pipe.evalsha(self._script.sha, len(script_keys), *script_keys, *args)
            replies = await pipe.execute(raise_on_error=False)
        outcomes: list[BaseException | None] = [reply if isinstance(reply, BaseException) else None for reply in replies]
        lost = [n for n, outcome in enumerate(outcomes) if isinstance(outcome, NoScriptError)]
        if lost and again:  # Redis restarted or flushed its scripts: load it, write those again (once)
            await self._redis.script_load(ADD_EVENT)
            for n, outcome in zip(lost, await self._written([batch[n] for n in lost], again=False), strict=True):
                outcomes[n] = outcome
        return outcomes


def queue_event(pipe: Pipeline, keys: Keys, event: OutboxEvent) -> None:
    """The outbox on Redis, queued in the caller's MULTI: ADD_EVENT sent whole (EVAL), since a script Redis had lost
    (EVALSHA after a restart) would fail inside EXEC while the rest of the transaction was written."""
    script_keys, args = event_write(keys, event)
    pipe.eval(ADD_EVENT, len(script_keys), *script_keys, *args)


def queue_delivery_removal(pipe: Pipeline, keys: Keys, delivery_id: str, tenant: str, event_id: str, endpoint_id: str) -> None:
    """A delivery and its attempts gone from every index (SQLite's ON DELETE CASCADE), queued in the caller's MULTI."""
    pipe.delete(keys.delivery(delivery_id), keys.delivery_attempts(delivery_id))
    pipe.zrem(keys.deliveries_due(), delivery_id)
    pipe.srem(keys.event_deliveries(event_id), delivery_id)
    pipe.srem(keys.endpoint_deliveries(endpoint_id), delivery_id)
    for status in (None, *STATUSES):  # None: the index of all that earlier versions wrote
        pipe.zrem(keys.tenant_deliveries(tenant, status), delivery_id)


async def delivery_refs(pipe: Pipeline, keys: Keys, delivery_ids: Collection[str]) -> list[tuple[str, str, str, str]]:
    """(delivery id, tenant, event id, endpoint id) of the deliveries that exist, for `queue_delivery_removal`."""
    ids = sorted(delivery_ids)
    rows = [await pipe.hmget(keys.delivery(i), ["tenant", "event_id", "endpoint_id"]) for i in ids]
    return [
        (i, text(tenant), text(event), text(endpoint))
        for i, (tenant, event, endpoint) in zip(ids, rows, strict=True)
        if tenant is not None and event is not None and endpoint is not None
    ]


def _float(value: str | None) -> float | None:
    """A stored time; '' or missing: none."""
    return float(value) if value else None


def _endpoint(endpoint_id: str, f: dict[str, str], sealer: Sealer) -> Endpoint:
    return Endpoint(
        id=endpoint_id,
        tenant=f["tenant"],
        url=f["url"],
        description=f.get("description", ""),
        event_types=tuple(json.loads(f["event_types"])),
        secrets=tuple(json.loads(sealer.open_often(f["secrets"]))),
        enabled=f.get("enabled") == "1",
        disabled_reason=f.get("disabled_reason"),
        created_at=float(f["created_at"]),
    )


def _batches(items: Sequence[T], size: Callable[[T], int], most: int) -> list[list[T]]:
    """`items` in order, cut into runs whose sizes add up to at most `most` (an item larger than that alone)."""
    batches: list[list[T]] = []
    total = 0
    for item in items:
        if not batches or total + size(item) > most:
            batches.append([])
            total = 0
        batches[-1].append(item)
        total += size(item)
    return batches


def new_version() -> str:
    """A value for the endpoints' version (Keys.endpoints_version) that no earlier change has set."""
    return uuid.uuid4().hex


def key_parts(template: Callable[[str], str]) -> tuple[str, str]:
    """A key name as what comes before and after its id, for a script that names many keys of one kind itself."""
    before, mark, after = template("\x00").partition("\x00")
    if not mark:
        raise ValueError("a key template that does not contain its id")
    return before, after


class RedisDeliveryStore:
    """The same interface as `DeliveryStore` (webhook_deliveries.py) on the node's Redis client; `close()` leaves it open."""

    def __init__(self, client: redis.Redis, keys: Keys, sealer: Sealer) -> None:
        self._sealer = sealer
        self._redis = client
        self._keys = keys
        self._fan_out = client.register_script(FAN_OUT)
        self._fan_out_key_names = json.dumps(
            [
                key_parts(template)
                for template in (keys.event, keys.event_deliveries, keys.endpoint, keys.endpoint_deliveries, keys.delivery)
            ]
        )
        self._claim_due = client.register_script(CLAIM_DUE)
        self._record = client.register_script(RECORD_ATTEMPTS)
        self._replay = client.register_script(REPLAY)
        self._set_endpoint_if_exists = client.register_script(SET_ENDPOINT_IF_EXISTS)
        self._index_complete = False
        self._due_index_complete = False
        # what follows a delivery's key in its attempts list's (the record script builds both from the delivery id)
        self._attempts_suffix = keys.delivery_attempts("").removeprefix(keys.delivery(""))
        # The endpoints as last read, for fan-out and claims, which read them on every pass (eleven commands for ten
        # endpoints, about half a millisecond): kept while the endpoints' version (read with each pass's other reads)
        # stays where it was when they were read. Every change to an endpoint moves it.
        self._kept: dict[str, Endpoint] = {}
        self._kept_by_tenant: dict[str, list[str]] = {}
        self._kept_version: bytes | str | None = "never read"

    async def close(self) -> None:
        """Nothing of its own to release: the client is the node's (server/composition.py closes it)."""

    # Endpoints

    async def add_endpoint(
        self, tenant: str, url: str, event_types: list[str], description: str, secret: str | None
    ) -> tuple[Endpoint, str]:
        endpoint_id = f"ep_{uuid.uuid4().hex}"
        secret = secret or new_secret()
        now = time.time()
        fields = {
            "tenant": tenant,
            "url": url,
            "description": description,
            "event_types": json.dumps(event_types),
            "secrets": self._sealer.seal(json.dumps([secret])),
            "enabled": "1",
            "created_at": repr(now),
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            stored: dict[FieldT, EncodableT] = {k: v for k, v in fields.items()}  # noqa: C416 - redis-py's mapping type is invariant in its key
            pipe.hset(self._keys.endpoint(endpoint_id), mapping=stored)
            pipe.zadd(self._keys.tenant_endpoints(tenant), {endpoint_id: now})
            pipe.set(self._keys.endpoints_version(), new_version())
            await pipe.execute()
        return _endpoint(endpoint_id, fields, self._sealer), secret

    async def endpoint(self, tenant: str, endpoint_id: str) -> Endpoint | None:
        fields = text_hash(await self._redis.hgetall(self._keys.endpoint(endpoint_id)))
        return _endpoint(endpoint_id, fields, self._sealer) if fields and fields["tenant"] == tenant else None

    async def endpoints(self, tenant: str) -> list[Endpoint]:
        ids = texts(await self._redis.zrange(self._keys.tenant_endpoints(tenant), 0, -1))
        return [e for e in (await self._endpoints(ids)).values() if e.tenant == tenant]

    async def _endpoints(self, endpoint_ids: Sequence[str]) -> dict[str, Endpoint]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for endpoint_id in endpoint_ids:
                pipe.hgetall(self._keys.endpoint(endpoint_id))
            rows = await pipe.execute()
        return {i: _endpoint(i, text_hash(row), self._sealer) for i, row in zip(endpoint_ids, rows) if row}

    def _endpoints_at(self, version: bytes | None) -> None:
        """The endpoints' version as a pass just read it: what was kept from another version is forgotten."""
        if version != self._kept_version:
            self._kept.clear()
            self._kept_by_tenant.clear()
            self._kept_version = version

    async def _kept_endpoints(self, endpoint_ids: Sequence[str]) -> dict[str, Endpoint]:
        """`_endpoints`, from those kept where they are (call `_endpoints_at` first, in the same pass)."""
        missing = [i for i in endpoint_ids if i not in self._kept]
        if missing:
            if len(self._kept) > 4096:
                self._kept.clear()
            self._kept.update(await self._endpoints(missing))
        return {i: self._kept[i] for i in endpoint_ids if i in self._kept}

    async def _kept_tenant_endpoints(self, tenant: str) -> list[Endpoint]:
        """`endpoints(tenant)`, from those kept where they are (call `_endpoints_at` first, in the same pass)."""
        ids = self._kept_by_tenant.get(tenant)
        if ids is None:
            if len(self._kept_by_tenant) > 4096:
                self._kept_by_tenant.clear()
            ids = self._kept_by_tenant[tenant] = texts(await self._redis.zrange(self._keys.tenant_endpoints(tenant), 0, -1))
        return [e for e in (await self._kept_endpoints(ids)).values() if e.tenant == tenant]

    async def rotate_secret(self, endpoint: Endpoint) -> str:
        """A new signing secret; the previous ones keep signing too until they age out of MAX_SECRETS."""
        secret = new_secret()
        kept = [secret, *endpoint.secrets][:MAX_SECRETS]
        await self._set_endpoint_if_exists(
            keys=[self._keys.endpoint(endpoint.id), self._keys.endpoints_version()],
            args=[new_version(), "secrets", self._sealer.seal(json.dumps(kept))],
        )
        return secret

    async def retire_previous_secrets(self, endpoint: Endpoint) -> int:
        newest = list(endpoint.secrets[:1])
        await self._set_endpoint_if_exists(
            keys=[self._keys.endpoint(endpoint.id), self._keys.endpoints_version()],
            args=[new_version(), "secrets", self._sealer.seal(json.dumps(newest))],
        )
        return len(endpoint.secrets) - 1

    async def set_enabled(self, endpoint_id: str, enabled: bool, reason: str | None = None) -> None:
        await self._set_endpoint_if_exists(
            keys=[self._keys.endpoint(endpoint_id), self._keys.endpoints_version()],
            args=[new_version(), "enabled", "1" if enabled else "0", "disabled_reason", reason or ""],
        )
        if enabled:  # its pending deliveries left the due index when a claim found it disabled: they are due again
            await self._index_pending(texts(await self._redis.smembers(self._keys.endpoint_deliveries(endpoint_id))))

    async def _index_pending(self, delivery_ids: Sequence[str]) -> None:
        """Those of `delivery_ids` that are pending put in the due index at their next attempt (already there: unchanged)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for delivery_id in delivery_ids:
                pipe.hmget(self._keys.delivery(delivery_id), ["status", "next_attempt_at"])
            rows = await pipe.execute()
        due = {i: float(at) for i, (status, at) in zip(delivery_ids, rows, strict=True) if status == PENDING.encode() and at}
        if due:
            await self._redis.zadd(self._keys.deliveries_due(), due, nx=True)

    async def reseal_secrets(self) -> int:
        # endpoint:{id} is the endpoint; endpoint:{id}:deliveries its deliveries
        return await reseal_field(self._redis, self._keys.endpoint(""), "secrets", self._sealer, lambda rest: ":" not in rest)

    async def delete_endpoint(self, endpoint_id: str) -> None:
        """The endpoint and its deliveries with their attempts (as SQLite's ON DELETE CASCADE)."""
        by_endpoint = self._keys.endpoint_deliveries(endpoint_id)

        async def build(pipe: Pipeline) -> None:
            tenant = await pipe.hget(self._keys.endpoint(endpoint_id), "tenant")
            refs = await delivery_refs(pipe, self._keys, texts(await pipe.smembers(by_endpoint)))
            begin(pipe)
            for ref in refs:
                queue_delivery_removal(pipe, self._keys, *ref)
            pipe.delete(self._keys.endpoint(endpoint_id), by_endpoint)
            if tenant is not None:
                pipe.zrem(self._keys.tenant_endpoints(text(tenant)), endpoint_id)
            pipe.set(self._keys.endpoints_version(), new_version())

        await watched_transaction(self._redis, [by_endpoint, self._keys.endpoint(endpoint_id)], build)

    # Deliveries

    async def fan_out(self, event_ids: Collection[str] | None = None, kinds: Mapping[str, tuple[str, str]] | None = None) -> int:
        """One delivery per event of `event_ids` (those a node holds in the stream) not fanned out yet and endpoint that
        wants it (dead at once for a disabled endpoint, so it can be replayed once the endpoint is enabled); returns how
        many were created. Safe to repeat, from any node; the stream dispatcher passes each event it holds once. In the
        order given (the stream's), so events written together are first attempted in the order they were written.
        `kinds`: {event id: (tenant, type)} where the caller knows them (the stream entry says), so that those events
        need not be read. None: nothing (new events are found through the stream)."""
        ids = list(event_ids or ())
        if not ids:
            return 0
        known = dict(kinds or {})
        if unknown := [event_id for event_id in ids if event_id not in known]:  # entries from before they said
            async with self._redis.pipeline(transaction=False) as pipe:
                for event_id in unknown:
                    pipe.hmget(self._keys.event(event_id), ["tenant", "type"])
                rows = await pipe.execute()
            known.update({i: (t.decode(), k.decode()) for i, (t, k) in zip(unknown, rows, strict=True) if t is not None and k is not None})
        todo = [event_id for event_id in ids if event_id in known]  # the others were erased
        now = time.time()
        at = {event_id: repr(now + n * 1e-6) for n, event_id in enumerate(todo)}  # a microsecond apart, in the order given
        created, fanned_out_before = 0, []  # by another node or process, maybe of a version before the due index
        for attempt in range(1, FAN_OUT_TRIES + 1):
            version = "*" if attempt == FAN_OUT_TRIES else text(self._kept_version or b"")
            events = [await self._fan_out_event(event_id, *known[event_id], at[event_id]) for event_id in todo]
            stale: list[str] = []
            for batch, reply in await self._run_fan_out(version, events):
                if int(reply[0]) < 0:  # the endpoints changed since they were chosen: choose again
                    stale += [event[1] for event in batch]
                    self._endpoints_at(reply[1] or None)
                else:
                    created += int(reply[0])
                    fanned_out_before += texts(reply[2:])
            if not stale:
                break
            todo = stale
        if fanned_out_before:
            # An entry taken over from a node of the version before the due index (a rolling upgrade): that node fanned
            # the event out without indexing its deliveries, and nobody would claim them (already indexed: unchanged).
            async with self._redis.pipeline(transaction=False) as pipe:
                for event_id in fanned_out_before:
                    pipe.smembers(self._keys.event_deliveries(event_id))
                members = await pipe.execute()
            await self._index_pending(sorted(m.decode() for found in members for m in found))
        return created

    async def _fan_out_event(self, event_id: str, tenant: str, event_type: str, at: str) -> list[Any]:
        """One event as FAN_OUT takes it, its deliveries to the endpoints kept for `tenant`."""
        deliveries = [
            [endpoint.id, delivery_id_for(event_id, endpoint.id), PENDING if endpoint.enabled else DEAD]
            for endpoint in await self._kept_tenant_endpoints(tenant)  # a disabled endpoint's delivery is dead at once
            if endpoint.wants(event_type)
        ]
        lists = [self._keys.tenant_deliveries(tenant, status) for status in (PENDING, DEAD)]
        return [tenant, event_id, at, lists, deliveries]

    async def _run_fan_out(self, version: str, events: list[list[Any]]) -> list[tuple[list[list[Any]], list[Any]]]:
        """FAN_OUT over `events`, cut into scripts of FAN_OUT_SCRIPT_DELIVERIES at most: each batch with its reply."""
        batches = _batches(events, lambda e: len(e[-1]), FAN_OUT_SCRIPT_DELIVERIES)  # each script holds Redis while it runs
        keys = [self._keys.deliveries_due(), self._keys.endpoints_version()]
        names = self._fan_out_key_names
        if len(batches) == 1:  # as a pass usually has: a pipeline would ask Redis whether it has the script first
            return [(batches[0], await self._fan_out(keys=keys, args=[DISABLED_ERROR, version, names, json.dumps(batches[0])]))]
        async with self._redis.pipeline(transaction=False) as pipe:  # one round trip
            for batch in batches:
                await self._fan_out(keys=keys, args=[DISABLED_ERROR, version, names, json.dumps(batch)], client=pipe)
            return list(zip(batches, await pipe.execute(), strict=True))

    async def due(self, now: float, limit: int = 50, event_ids: Collection[str] | None = None) -> list[Delivery]:
        """Pending deliveries whose next attempt is due, to enabled endpoints, soonest due first, without claiming them
        (`event_ids`: only theirs)."""
        await self._complete_the_due_index()
        found: list[Delivery] = []
        offset, page = 0, max(limit, 100)
        while len(found) < limit:
            ids = texts(await self._redis.zrangebyscore(self._keys.deliveries_due(), "-inf", now, start=offset, num=page))
            rows = await self._deliveries(ids)
            wanted = [
                (d["id"], int(d["attempts"]), d["event_id"], d["endpoint_id"])
                for d in rows
                if d.get("status") == PENDING and (event_ids is None or d["event_id"] in event_ids)
            ]
            found += await self._loaded(wanted)
            if len(ids) < page:
                break
            offset += page
        return found[:limit]

    async def next_due_at(self, event_ids: Collection[str] | None = None) -> float | None:
        """When the soonest pending delivery is due (any node's: `event_ids` is not needed)."""
        await self._complete_the_due_index()
        first = await self._redis.zrange(self._keys.deliveries_due(), 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    async def claim_due(self, now: float, lease_s: float, limit: int, event_ids: Collection[str] | None = None) -> list[Delivery]:
        """Up to `limit` due deliveries, soonest due first, each claimed for this node's attempt in one script. Any node
        claims any delivery (`event_ids`, the events a node holds in the stream, is not needed: the index says)."""
        await self._complete_the_due_index()
        keys = self._keys
        reply = await self._claim_due(
            keys=[keys.deliveries_due()],
            args=[now, now + lease_s, limit, keys.delivery(""), keys.endpoint(""), keys.event(""), keys.endpoints_version()],
        )
        count = int(reply[1])
        fields, rest = texts(reply[2 : 2 + 4 * count]), texts(reply[2 + 4 * count :])
        claimed = [(fields[i], int(fields[i + 1]), fields[i + 2], fields[i + 3]) for i in range(0, len(fields), 4)]
        self._endpoints_at(reply[0] or None)
        return await self._assembled(claimed, {rest[i]: (rest[i + 1], rest[i + 2]) for i in range(0, len(rest), 3)})

    async def _loaded(self, deliveries: Sequence[tuple[str, int, str, str]]) -> list[Delivery]:
        """(delivery id, attempts, event id, endpoint id) as Deliveries with their event's type and payload and their
        endpoint, in the order given; one whose event or endpoint went meanwhile (erased) is left out."""
        event_ids = sorted({event_id for _, _, event_id, _ in deliveries})
        async with self._redis.pipeline(transaction=False) as pipe:
            for event_id in event_ids:
                pipe.hmget(self._keys.event(event_id), ["type", "payload"])
            pipe.get(self._keys.endpoints_version())
            *rows, version = await pipe.execute()
        events = {i: (t.decode(), p.decode()) for i, (t, p) in zip(event_ids, rows, strict=True) if t is not None and p is not None}
        self._endpoints_at(version)
        return await self._assembled(deliveries, events)

    async def _assembled(self, deliveries: Sequence[tuple[str, int, str, str]], events: dict[str, tuple[str, str]]) -> list[Delivery]:
        """The deliveries with their events ({id: (type, payload)}) and endpoints (call `_endpoints_at` first)."""
        endpoints = await self._kept_endpoints(sorted({endpoint_id for _, _, _, endpoint_id in deliveries}))
        return [
            Delivery(delivery_id, event_id, *events[event_id], endpoints[endpoint_id], attempts)
            for delivery_id, attempts, event_id, endpoint_id in deliveries
            if event_id in events and endpoint_id in endpoints and endpoints[endpoint_id].enabled
        ]

    async def _complete_the_due_index(self) -> None:
        """Once per cluster: add the pending deliveries written before the due index existed (a scan of their keys)."""
        if self._due_index_complete or await self._redis.exists(self._keys.deliveries_due_complete()):
            self._due_index_complete = True
            return
        prefix, found = self._keys.delivery(""), []
        async for key in self._redis.scan_iter(match=prefix + "*", count=1000):
            name = key.decode()
            if not name.endswith(":attempts"):
                found.append(name.removeprefix(prefix))
        for start in range(0, len(found), 1000):
            await self._index_pending(found[start : start + 1000])
        await self._redis.set(self._keys.deliveries_due_complete(), 1)
        self._due_index_complete = True

    async def _deliveries(self, delivery_ids: Sequence[str]) -> list[dict[str, str]]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for delivery_id in delivery_ids:
                pipe.hgetall(self._keys.delivery(delivery_id))
            return [{"id": i, **text_hash(row)} for i, row in zip(delivery_ids, await pipe.execute()) if row]

    async def unfinished(self, event_ids: Collection[str]) -> set[str]:
        """Those of `event_ids` whose stream entry is still needed: not fanned out yet (an erased event is finished).
        Once fanned out, an event's deliveries are in the due index, which any node claims from."""
        ids = list(event_ids)
        async with self._redis.pipeline(transaction=False) as pipe:
            for event_id in ids:
                pipe.hmget(self._keys.event(event_id), ["tenant", "fanned_out"])
            rows = await pipe.execute()
        return {i for i, (tenant, fanned_out) in zip(ids, rows, strict=True) if tenant is not None and fanned_out is None}

    async def record_attempt(
        self,
        delivery: Delivery,
        status_code: int | None,
        error: str | None,
        duration_ms: float,
        *,
        outcome: str,
        next_attempt_at: float | None,
    ) -> None:
        """One attempt's result and the delivery's new state, in one script (nothing when the delivery was erased meanwhile)."""
        await self.record_attempts([AttemptResult(delivery, status_code, error, duration_ms, outcome, next_attempt_at)])

    async def record_attempts(self, results: Sequence[AttemptResult]) -> None:
        """Attempts' results, in one script (each delivery's changes together; one erased meanwhile is skipped)."""
        if not results:
            return
        now = time.time()
        tenants = {r.delivery.endpoint.tenant for r in results}
        by_tenant = {t: [self._keys.tenant_deliveries(t, s) for s in STATUSES] for t in tenants}
        delivered_at = repr(now)
        rows = [
            [
                r.delivery.id,
                r.delivery.endpoint.tenant,
                r.outcome,
                str(r.delivery.attempts + 1),
                "" if r.next_attempt_at is None else repr(r.next_attempt_at),
                "" if r.status_code is None else str(r.status_code),
                r.error or "",
                delivered_at if r.outcome == DELIVERED else "",
                repr(round(r.duration_ms, 1)),
            ]
            for r in results
        ]
        await self._record(
            keys=[self._keys.deliveries_due()],
            args=[self._keys.delivery(""), self._attempts_suffix, json.dumps(by_tenant), json.dumps(rows), delivered_at],
        )

    async def deliveries(
        self, tenant: str, status: str | None = None, event_id: str | None = None, limit: int = 100, before: tuple[float, str] | None = None
    ) -> list[DeliveryRow]:
        if event_id is not None:
            ids = texts(await self._redis.smembers(self._keys.event_deliveries(event_id)))
        else:
            ids = await self._page(tenant, STATUSES if status is None else (status,), limit, before)
        async with self._redis.pipeline(transaction=False) as pipe:
            for delivery_id in ids:
                pipe.hgetall(self._keys.delivery(delivery_id))
                pipe.lrange(self._keys.delivery_attempts(delivery_id), 0, -1)
            rows = await pipe.execute()
        found = [({"id": i, **text_hash(raw)}, attempts) for i, raw, attempts in zip(ids, rows[::2], rows[1::2]) if raw]
        found = [(d, a) for d, a in found if d["tenant"] == tenant and (status is None or d["status"] == status)]
        async with self._redis.pipeline(transaction=False) as pipe:
            for d, _ in found:
                pipe.hget(self._keys.event(d["event_id"]), "type")
            types = await pipe.execute()
        out = [
            DeliveryRow(
                id=d["id"],
                event_id=d["event_id"],
                event_type=text(event_type) if event_type else None,
                endpoint_id=d["endpoint_id"],
                status=d["status"],
                attempts=int(d["attempts"]),
                next_attempt_at=_float(d.get("next_attempt_at")),
                last_status=int(d["last_status"]) if d.get("last_status") else None,
                last_error=d.get("last_error") or None,
                created_at=float(d["created_at"]),
                delivered_at=_float(d.get("delivered_at")),
                history=[AttemptRow.model_validate_json(a) for a in attempts],
            )
            for (d, attempts), event_type in zip(found, types, strict=True)
        ]
        out.sort(key=lambda d: (d.created_at, d.id), reverse=True)
        if before is not None:
            out = [d for d in out if (d.created_at, d.id) < before]
        return out[:limit]

    async def _page(self, tenant: str, statuses: Sequence[str], limit: int, before: tuple[float, str] | None) -> list[str]:
        """The ids of the tenant's `limit` newest deliveries in `statuses` (after `before`: the page that follows it),
        newest first, same-time ones by id as the SQLite store orders them: the first of each status's index, merged."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for status in statuses:
                index = self._keys.tenant_deliveries(tenant, status)
                if before is None:
                    pipe.zrevrange(index, 0, limit - 1, withscores=True)
                else:  # same-time deliveries may stand on either side of the page boundary
                    pipe.zrevrangebyscore(index, before[0], "-inf", start=0, num=limit + TIES, withscores=True)
            found: list[list[Any]] = await pipe.execute()
        scored = {text(member): float(score) for page in found for member, score in page}
        order = sorted(((score, i) for i, score in scored.items()), reverse=True)
        return [i for score, i in order if before is None or (score, i) < before][:limit]

    async def replay(self, tenant: str, delivery_id: str) -> bool:
        """Queue a dead (or delivered) delivery again, due now, with the same event id; False if there is none."""
        keys = [self._keys.delivery(delivery_id), *(self._keys.tenant_deliveries(tenant, s) for s in STATUSES), self._keys.deliveries_due()]
        return bool(await self._replay(keys=keys, args=[tenant, time.time(), delivery_id]))

    async def prune(self, before: float, limit: int = 500) -> int:
        """Remove up to `limit` events created before `before` whose deliveries are all final (delivered or dead), with
        those deliveries and their attempts; returns how many events went. One not fanned out yet, or with a delivery
        pending (a replay's included), stays."""
        await self._complete_the_index()
        index, offset, pruned = self._keys.events_by_time(), 0, 0
        while pruned < limit:
            page = texts(await self._redis.zrangebyscore(index, "-inf", f"({before!r}", start=offset, num=limit))
            if not page:
                break
            for event_id in page[: limit - pruned]:
                outcome = await self._prune_event(event_id)
                pruned += outcome == "pruned"
                offset += outcome == "kept"  # the others left the index: the next page starts as many places earlier
        return pruned

    async def _complete_the_index(self) -> None:
        """Once per cluster: add the events written before the time index existed (a scan of their keys)."""
        if self._index_complete or await self._redis.exists(self._keys.events_by_time_complete()):
            self._index_complete = True
            return
        prefix = self._keys.event("")
        async for key in self._redis.scan_iter(match=prefix + "*", count=1000):
            name = key.decode()
            if name.endswith(":deliveries"):
                continue
            created = await self._redis.hget(name, "created_at")
            if created is not None:  # else erased meanwhile
                await self._redis.zadd(self._keys.events_by_time(), {name.removeprefix(prefix): float(created)}, nx=True)
        await self._redis.set(self._keys.events_by_time_complete(), 1)
        self._index_complete = True

    async def _prune_event(self, event_id: str) -> str:
        """ "pruned"; "kept" (not finished); or "stale": the event was erased with its candidate, only its place in the
        index was left."""
        event_key, by_event = self._keys.event(event_id), self._keys.event_deliveries(event_id)

        async def build(pipe: Pipeline) -> str:
            tenant, subject, fanned_out = await pipe.hmget(event_key, ["tenant", "subject", "fanned_out"])
            if tenant is not None and fanned_out is None:
                return "kept"  # not fanned out yet
            delivery_ids = sorted(texts(await pipe.smembers(by_event)))
            if delivery_ids:
                await pipe.watch(*(self._keys.delivery(i) for i in delivery_ids))  # a replay meanwhile makes this run again
                if any([await pipe.hget(self._keys.delivery(i), "status") == PENDING.encode() for i in delivery_ids]):
                    return "kept"
            refs = await delivery_refs(pipe, self._keys, delivery_ids)
            begin(pipe)
            for ref in refs:
                queue_delivery_removal(pipe, self._keys, *ref)
            pipe.delete(event_key, by_event)
            pipe.zrem(self._keys.events_by_time(), event_id)
            if tenant is not None and subject is not None:
                pipe.srem(self._keys.subject_events(text(tenant), text(subject)), event_id)
            return "stale" if tenant is None else "pruned"

        return await watched_transaction(self._redis, [event_key, by_event], build)
