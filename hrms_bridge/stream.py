"""Webhook delivery across a cluster: a Redis Stream shares the work out and hands a dead node's over.

With the Redis store (the default with Redis) the stream is the outbox: each event is XADDed in the MULTI of its
change, so there is nothing to relay (`StreamWebhookDispatcher` without a relay). The node that reads an entry fans its
event out and acknowledges it; server/storage/redis_webhook_deliveries.py keeps the deliveries in an index by when each
is due, which every node claims from, and their replay. With
INTERVIEW_STORE=sqlite the SQLite outbox stays the write-ahead log (the dispatcher gets it as its `OutboxRelay`), and
the rest of this docstring describes that design:

    change + outbox_events (one SQLite commit) ─fan_out─▶ webhook_deliveries
        ─relay: XADD {event_id}, then the relay cursor─▶ stream ─XREADGROUP (one group, a consumer per node)─▶ held events
        held events' due deliveries ─claim (SQLite lease)─▶ POST ─▶ record attempt ─all final─▶ XACK + XDEL
        a dead node's entries ─XAUTOCLAIM after webhook_stream_lease_s─▶ another node

What this is, honestly: the nodes share one SQLite database (one data_dir, on one host or a volume that
supports SQLite's locking; server/storage/sqlite_connection.py makes writes wait for each other with BEGIN IMMEDIATE
and a busy timeout). Every delivery, attempt and dead letter stays in that database, and the claim there
(a conditional UPDATE that pushes the next attempt a lease ahead) is what makes exactly one node send
each attempt. The stream decides which node works on which event, so the nodes do not all poll for the
same deliveries, and it hands a dead node's events to a live one. It is not a second source of truth:

- Duplicates are harmless. Two nodes may relay the same event (the relay cursor only moves forward after
  an XADD succeeds), and an autoclaimed entry may still be in its old consumer's hands; both then hold the
  event, the SQLite claim lets one of them send each attempt, and the receiver sees one webhook-id.
- A node renews its entries (XCLAIM to itself, which resets their idle time) every third of a lease, so
  only the entries of a node that stopped renewing them go idle long enough to be taken over.
- Nothing is lost to Redis. While Redis is down, events stay unrelayed in SQLite and events already held
  keep being delivered; if Redis comes back empty (no persistence), deliveries that nobody sends for a
  lease are found in SQLite and relayed again. A replayed dead letter goes out the same way.
- Without Redis none of this runs: the plain WebhookDispatcher delivers every due delivery, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

import redis.asyncio as redis
from redis.exceptions import RedisError, ResponseError

from hrms_bridge.destinations import DestinationPolicy
from hrms_bridge.dispatcher import WebhookDispatcher
from hrms_bridge.retrying import POLL_S
from server.storage.webhook_deliveries import Deliveries, Delivery, OutboxRelay

logger = logging.getLogger(__name__)

GROUP = "dispatchers"
READ_COUNT = 100
MAX_HELD = 2000  # events one node works on at once; beyond that it leaves new entries to other nodes
ACK_EVERY_S = 0.5  # how often held events are checked for being finished (every delivery read), to acknowledge them
DEPARTED_AFTER_LEASES = 10  # a consumer idle this many leases with nothing pending belongs to a node that is gone


class WebhookStream:
    """The stream and its consumer group, as one node's consumer sees them."""

    def __init__(self, client: redis.Redis, key: str, consumer: str, lease_s: float) -> None:
        self.client = client
        self.key = key
        self.consumer = consumer
        self.lease_ms = max(1, int(lease_s * 1000))
        self._autoclaim_from = "0-0"

    async def ensure_group(self) -> None:
        try:
            await self.client.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def add(self, event_ids: Sequence[str]) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            for event_id in event_ids:
                pipe.xadd(self.key, {"event_id": event_id})
            await pipe.execute()

    async def read(self, new: bool) -> list[StreamEntry]:
        """New entries for this consumer (`new`, READ_COUNT at most), or all the ones it already holds (after a restart
        under the same node id: a page at a time, else all but the first page would wait a lease to be taken over)."""
        if new:
            reply = await self.client.xreadgroup(GROUP, self.consumer, {self.key: ">"}, count=READ_COUNT)
            return [entry for stream in reply or [] for entry in _entries(stream[1])]
        held: list[StreamEntry] = []
        after = "0"
        while True:
            pending: Any = await self.client.xreadgroup(GROUP, self.consumer, {self.key: after}, count=READ_COUNT)
            page = [raw for stream in pending or [] for raw in stream[1]]
            held += _entries(page)
            if len(page) < READ_COUNT:
                return held
            last = page[-1][0]
            after = last.decode() if isinstance(last, bytes) else str(last)

    async def take_over(self) -> list[StreamEntry]:
        """Entries idle longer than a lease (their consumer stopped renewing them), now this consumer's."""
        reply = await self.client.xautoclaim(self.key, GROUP, self.consumer, self.lease_ms, start_id=self._autoclaim_from, count=READ_COUNT)
        next_from, entries = reply[0], reply[1]
        self._autoclaim_from = next_from.decode() if isinstance(next_from, bytes) else str(next_from)
        return _entries(entries)

    async def renew(self, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            await self.client.xclaim(self.key, GROUP, self.consumer, 0, list(entry_ids), justid=True)

    async def forget_departed(self, idle_s: float) -> list[str]:
        """Remove consumers that hold nothing and have not read for `idle_s` (nodes that stopped; node ids carry a pid,
        so every restart leaves one behind). Should one come back, its next read creates it again."""
        gone = []
        for consumer in await self.client.xinfo_consumers(self.key, GROUP):
            name = consumer["name"].decode() if isinstance(consumer["name"], bytes) else consumer["name"]
            if name != self.consumer and consumer["pending"] == 0 and consumer["idle"] > idle_s * 1000:
                await self.client.xgroup_delconsumer(self.key, GROUP, name)
                gone.append(name)
        return gone

    async def ack(self, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.xack(self.key, GROUP, *entry_ids)
                pipe.xdel(self.key, *entry_ids)  # one group: an acknowledged entry is of no more use
                await pipe.execute()


class StreamEntry(NamedTuple):
    entry_id: str
    event_id: str
    kind: tuple[str, str] | None  # the event's tenant and type, where the entry says (written by ADD_EVENT)


def _entries(raw: Any) -> list[StreamEntry]:
    out = []
    for entry_id, fields in raw or []:
        if fields is None:  # deleted from the stream meanwhile
            continue
        event_id, tenant, event_type = fields.get(b"event_id"), fields.get(b"tenant"), fields.get(b"type")
        if event_id is not None:
            kind = (tenant.decode(), event_type.decode()) if tenant is not None and event_type is not None else None
            out.append(StreamEntry(entry_id.decode(), event_id.decode(), kind))
    return out


class StreamWebhookDispatcher(WebhookDispatcher):
    """WebhookDispatcher that delivers only the events its node holds in the stream; the rest of the loop is unchanged.

    `relay`: the SQLite outbox, whose events it puts in the stream (and again when their entry was lost). None with the
    Redis store, whose outbox is the stream itself: each event is XADDed in the MULTI of its change, and the node that
    holds an entry fans its event out (once). A pending delivery there is always in the due index (fan-out and replay put it
    there in the same script), so there is no orphan sweep: what Redis loses it loses with the interviews themselves, which is
    why it must persist (README: Scale-out).
    """

    name = "webhook-stream-dispatcher"

    def __init__(
        self,
        store: Deliveries,
        policy: DestinationPolicy,
        retry_schedule_s: Sequence[float],
        timeout_s: float,
        stream: WebhookStream,
        lease_s: float,
        relay: OutboxRelay | None,
    ) -> None:
        super().__init__(store, policy, retry_schedule_s, timeout_s)
        self.stream = stream
        self.relay = relay
        self.while_down = (
            "new events wait in the SQLite outbox"
            if relay is not None
            else "no change can be written either (the store is in Redis), so no event is lost"
        )
        self.lease_s = lease_s
        self._held: dict[str, set[str]] = {}  # event id -> its entries this node holds
        self._fanned: set[str] = set()  # held events whose deliveries exist (this node made them, or found them made)
        self._kinds: dict[str, tuple[str, str]] = {}  # held events' tenant and type, where their entries said
        self._took_over_at = 0.0
        self._ready = False
        self._renewed_at = 0.0
        self._swept_at = 0.0
        self._acked_at = 0.0
        self._down_since: float | None = None
        self.counts = {"relayed": 0, "read": 0, "taken_over": 0, "acked": 0, "requeued": 0, "redis_errors": 0}

    @property
    def held(self) -> int:
        return len(self._held)

    async def due(self, now: float) -> list[Delivery]:
        await self.fan_out(now)
        try:
            await self._sync(now)
        except (RedisError, OSError) as exc:
            self.counts["redis_errors"] += 1
            if self._down_since is None:
                self._down_since = now
                logger.warning("webhooks: Redis unreachable (%s); %s", exc, self.while_down)
            self._ready = False  # after an outage: make sure the group exists (Redis may have restarted empty)
        else:
            if self._down_since is not None:
                logger.warning("webhooks: Redis reachable again after %.0f s", now - self._down_since)
                self._down_since = None
        if self.relay is None:  # the Redis store: any node claims any due delivery from its index
            return [] if self._down_since is not None else await self._claim(now, None)
        if not self._held:
            return []
        return await self._claim(now, self._held.keys())

    async def next_due_at(self) -> float | None:
        if self.relay is None:
            return await self.store.next_due_at()
        if not self._held:
            return None
        return await self.store.next_due_at(event_ids=self._held.keys())

    async def _sync(self, now: float) -> None:
        if not self._ready:
            await self._start_relay()
            await self.stream.ensure_group()
            self._hold(await self.stream.read(new=False), "read")
            self._ready = True
        await self._relay()
        if len(self._held) < MAX_HELD:
            read = await self.stream.read(new=True)
            self._hold(read, "read")
            if len(read) >= READ_COUNT:
                self.wake()  # more may be waiting in the stream: the next pass reads on at once
            if now - self._took_over_at >= POLL_S:  # an entry is taken over a lease after its node stopped: no hurry
                self._took_over_at = now
                self._hold(await self.stream.take_over(), "taken_over")
        await self._fan_out_held()
        if now - self._renewed_at > self.lease_s / 3:
            await self.stream.renew([entry for entries in self._held.values() for entry in entries])
            self._renewed_at = now
        if self._held and now - self._acked_at >= ACK_EVERY_S:
            self._acked_at = now
            unfinished = await self.store.unfinished(self._held.keys())
            await self._finished([event_id for event_id in self._held if event_id not in unfinished])
        if now - self._swept_at > self.lease_s / 2:
            self._swept_at = now
            lost = [e for e in await self._orphaned(now) if e not in self._held]
            if lost:
                logger.warning("webhooks: %d event(s) with overdue deliveries were in no node's hands; relaying them again", len(lost))
                await self.stream.add(lost)
                self.counts["requeued"] += len(lost)
            if departed := await self.stream.forget_departed(self.lease_s * DEPARTED_AFTER_LEASES):
                logger.info("webhooks: removed departed consumers %s from the stream group", ", ".join(departed))

    # What differs with the interview store: SQLite's outbox is relayed to the stream; Redis's is the stream

    async def _fan_out_held(self) -> None:
        """SQLite fans out every new event before it is relayed, so held events have their deliveries; Redis does it here,
        for the events held since the last pass (a pass used to read every held event back: O(held) each time)."""
        if self.relay is None and (new := [event_id for event_id in self._held if event_id not in self._fanned]):
            await self.store.fan_out(new, {event_id: self._kinds[event_id] for event_id in new if event_id in self._kinds})
            self._fanned.update(new)
            # Fanned out, an event's deliveries are in the due index, which any node claims from: its entries are done.
            # Acknowledged now rather than by the periodic check (a read of every held event), which stays for entries
            # whose acknowledgement failed here.
            await self._finished(new)

    async def _finished(self, event_ids: list[str]) -> None:
        """Held events that need their stream entries no more: acknowledged (and deleted from the stream), let go."""
        entries = [entry for event_id in event_ids for entry in self._held[event_id]]
        await self.stream.ack(entries)
        for event_id in event_ids:
            del self._held[event_id]
            self._fanned.discard(event_id)
            self._kinds.pop(event_id, None)
        self.counts["acked"] += len(entries)

    async def _start_relay(self) -> None:
        if self.relay is not None:
            await self.relay.start_relay()

    async def _orphaned(self, now: float) -> list[str]:
        return await self.relay.orphaned(now, self.lease_s) if self.relay is not None else []

    async def _relay(self) -> None:
        if self.relay is None:
            return
        while entries := await self.relay.unrelayed():
            await self.stream.add([entry.event_id for entry in entries])
            await self.relay.mark_relayed(entries[-1].seq)
            self.counts["relayed"] += len(entries)

    def _hold(self, entries: list[StreamEntry], how: str) -> None:
        for entry_id, event_id, kind in entries:
            self._held.setdefault(event_id, set()).add(entry_id)
            if kind is not None:
                self._kinds[event_id] = kind
        self.counts[how] += len(entries)
