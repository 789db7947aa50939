"""The one Redis client a node shares between its bus, node registry, rate limit, webhook stream and store, and its key names."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TypeVar

import redis.asyncio as redis
from redis.asyncio.client import Pipeline
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError, WatchError

from server.settings import Settings
from server.storage.sealed import Sealer

logger = logging.getLogger(__name__)

T = TypeVar("T")


def open_redis(settings: Settings) -> redis.Redis:
    """A client for INTERVIEW_REDIS_URL; it connects on first use, so a node starts even while Redis is down.

    No retries inside the client: each user decides what an outage means for it (drop a live event,
    fall back to the local bucket, keep a webhook in SQLite), and a call fails within the timeout.
    """
    assert settings.redis_url is not None
    return redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_timeout_s,
        retry=Retry(NoBackoff(), 0),
        decode_responses=False,
    )


async def store_durability_warnings(client: redis.Redis) -> list[str]:
    """What makes this Redis unsafe as the store of record: an eviction policy that may drop the store's keys under
    memory pressure, and no append-only file (a restart then loses what was written since the last snapshot, or
    everything). Read from INFO; `CONFIG GET save` only where the server allows CONFIG (managed ones often do not)."""
    warnings = []
    memory = await client.info("memory")
    if (policy := str(memory.get("maxmemory_policy", "noeviction"))) != "noeviction":
        warnings.append(
            f"Redis evicts keys under memory pressure (maxmemory-policy {policy}): interviews and webhooks would "
            "vanish; set maxmemory-policy noeviction"
        )
    persistence = await client.info("persistence")
    if not int(persistence.get("aof_enabled", 0)):
        try:
            save = (await client.config_get("save")).get("save", "")
        except ResponseError:
            save = None  # CONFIG is not allowed: snapshots unknown
        kept = "nothing: a restart loses every interview" if save == "" else "only periodic snapshots: a restart loses the latest writes"
        warnings.append(
            f"Redis has no append-only file and keeps {kept}; run it with appendonly yes (appendfsync everysec or always) and a replica"
        )
    return warnings


class PersistenceRewriter:
    """After an erasure, Redis's append-only file still holds every write that ever carried the erased data, and its
    last snapshot holds them too, until each is rewritten. `request()` has both rewritten in the background where
    Redis keeps them, once any rewrite already running has finished (one that started before the erasure would keep
    the data); requests that come meanwhile are covered by one more rewrite. A server that refuses the commands (some
    managed ones) is logged: its operator must rely on its own retention."""

    POLL_S = 0.2
    MAX_WAIT_S = 600.0

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._task: asyncio.Task[None] | None = None
        self._again = False

    @property
    def idle(self) -> bool:
        return self._task is None or self._task.done()

    def request(self) -> None:
        if not self.idle:
            self._again = True
            return
        self._task = asyncio.create_task(self._run(), name="redis-persistence-rewrite")

    async def close(self, grace_s: float = 10.0) -> None:
        """Give a rewrite under way `grace_s` to be asked for (a shutdown right after an erasure), then stop waiting."""
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=grace_s)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        try:
            while True:
                self._again = False
                await self._rewrite_once()
                if not self._again:
                    return
        except (RedisError, OSError) as exc:
            logger.warning("Redis persistence not rewritten after an erasure: %s", exc)

    async def _rewrite_once(self) -> None:
        info = await self._busy_until_free()
        if int(str(info.get("aof_enabled", 0))):
            try:
                await self._client.bgrewriteaof()
            except ResponseError as exc:
                logger.warning("Redis's append-only file not rewritten after an erasure: %s", exc)
        try:
            snapshots = (await self._client.config_get("save")).get("save", "")
        except ResponseError:
            snapshots = ""  # CONFIG refused: a managed server, whose snapshots are its operator's
        if snapshots:
            try:
                await self._client.bgsave(schedule=True)  # after the rewrite just started
            except ResponseError as exc:
                logger.warning("Redis snapshot not rewritten after an erasure: %s", exc)
        await self._busy_until_free()

    async def _busy_until_free(self) -> dict[str, object]:
        deadline = time.monotonic() + self.MAX_WAIT_S
        while True:
            info: dict[str, object] = await self._client.info("persistence")
            busy = any(int(str(info.get(k, 0))) for k in ("aof_rewrite_in_progress", "aof_rewrite_scheduled", "rdb_bgsave_in_progress"))
            if not busy or time.monotonic() > deadline:
                return info
            await asyncio.sleep(self.POLL_S)


async def reseal_field(client: redis.Redis, prefix: str, field: str, sealer: Sealer, owns: Callable[[str], bool]) -> int:
    """`field` of every hash named `prefix` + a suffix that `owns` accepts, sealed again with `sealer`'s newest key
    (after a key rotation); how many. `owns` tells the hashes from other keys under the same prefix."""
    resealed = 0
    async for raw in client.scan_iter(match=glob_escape(prefix) + "*", count=500):
        name = text(raw)
        if not owns(name[len(prefix) :]):
            continue
        stored = await client.hget(name, field)
        if stored is not None:
            await client.hset(name, field, sealer.reseal(text(stored)))
            resealed += 1
    return resealed


def glob_escape(literal: str) -> str:
    """`literal` as a SCAN/KEYS pattern that matches only itself."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in literal)


class Keys:
    """Every Redis name this server uses, under one prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def channel(self, topic: str) -> str:
        return f"{self.prefix}bus:{topic}"

    def topic(self, channel: bytes | str) -> str:
        name = channel.decode() if isinstance(channel, bytes) else channel
        return name.removeprefix(f"{self.prefix}bus:")

    def node(self, node_id: str) -> str:
        return f"{self.prefix}nodes:{node_id}"

    def nodes_pattern(self) -> str:
        return f"{self.prefix}nodes:*"

    def live(self, interview_id: str) -> str:
        return f"{self.prefix}live:{interview_id}"

    def rate(self, tenant: str) -> str:
        return f"{self.prefix}rate:{tenant}"

    def webhook_stream(self) -> str:
        return f"{self.prefix}webhooks"

    # The interview store on Redis (server/storage/redis_store.py): one hash an interview, its records beside it

    def interview(self, interview_id: str) -> str:
        return f"{self.prefix}interview:{interview_id}"

    def interview_part(self, interview_id: str, part: str) -> str:
        """answers, transcripts, observations:{kind}, observation_kinds, scored, decisions, recordings, report, wechat,
        short_links: what SQLite keeps in tables that cascade from `interviews`."""
        return f"{self.prefix}interview:{interview_id}:{part}"

    def in_progress(self) -> str:
        return f"{self.prefix}interviews:in_progress"

    def tenant_interviews(self, tenant: str) -> str:
        return f"{self.prefix}tenant:{tenant}:interviews"

    def profile_interviews(self, tenant: str, kind: str, profile_id: str) -> str:
        return f"{self.prefix}tenant:{tenant}:{kind}:{profile_id}:interviews"

    def profiles(self, tenant: str, kind: str) -> str:
        return f"{self.prefix}tenant:{tenant}:{kind}"

    def audit(self, tenant: str, interview_id: str) -> str:
        return f"{self.prefix}audit:{tenant}:{interview_id}"

    def share(self, share_id: str) -> str:
        return f"{self.prefix}share:{share_id}"

    def short_link(self, code: str) -> str:
        return f"{self.prefix}short:{code}"

    def idempotent(self, tenant: str, key: str) -> str:
        return f"{self.prefix}idempotency:{tenant}:{key}"

    def idempotency_hold(self, tenant: str, key: str) -> str:
        """Which request of the cluster is handling an Idempotency-Key right now (a token, with a lease)."""
        return f"{self.prefix}idempotency-hold:{tenant}:{key}"

    # Webhooks with the Redis store (redis_webhook_deliveries.py)

    def event(self, event_id: str) -> str:
        return f"{self.prefix}event:{event_id}"

    def events_by_time(self) -> str:
        """Every event by creation time, for pruning the webhook history."""
        return f"{self.prefix}events"

    def events_by_time_complete(self) -> str:
        """Set once the events written before `events_by_time` existed have been added to it."""
        return f"{self.prefix}events:complete"

    def event_deliveries(self, event_id: str) -> str:
        return f"{self.prefix}event:{event_id}:deliveries"

    def subject_events(self, tenant: str, subject: str) -> str:
        return f"{self.prefix}tenant:{tenant}:subject:{subject}:events"

    def endpoint(self, endpoint_id: str) -> str:
        return f"{self.prefix}endpoint:{endpoint_id}"

    def endpoint_deliveries(self, endpoint_id: str) -> str:
        return f"{self.prefix}endpoint:{endpoint_id}:deliveries"

    def tenant_endpoints(self, tenant: str) -> str:
        return f"{self.prefix}tenant:{tenant}:endpoints"

    def endpoints_version(self) -> str:
        """A fresh random value with every change to any endpoint: a node keeps the endpoints it read until it changes.
        Random, not a counter: a Redis that came back empty would count the same versions again for other endpoints."""
        return f"{self.prefix}endpoints:version"

    def deliveries_due(self) -> str:
        """Every pending delivery by when its next attempt is due (a claimed one: when its lease ends)."""
        return f"{self.prefix}deliveries:due"

    def deliveries_due_complete(self) -> str:
        """Set once the pending deliveries written before `deliveries_due` existed have been added to it."""
        return f"{self.prefix}deliveries:due:complete"

    def delivery(self, delivery_id: str) -> str:
        return f"{self.prefix}delivery:{delivery_id}"

    def delivery_attempts(self, delivery_id: str) -> str:
        return f"{self.prefix}delivery:{delivery_id}:attempts"

    def tenant_deliveries(self, tenant: str, status: str | None = None) -> str:
        """The tenant's deliveries in one status by creation time. Without a status: the index of all of them that
        versions before 2026-12-07 wrote (now the union of the three is read); only removals still touch it."""
        return f"{self.prefix}tenant:{tenant}:deliveries" + (f":{status}" if status else "")

    # Availability, bookings and reminders (redis_bookings.py)

    def job_availability(self, tenant: str) -> str:
        return f"{self.prefix}tenant:{tenant}:availability"

    def booking(self, interview_id: str) -> str:
        return f"{self.prefix}booking:{interview_id}"

    def tenant_bookings(self, tenant: str) -> str:
        """The tenant's bookings of any status by start: what HR's calendar feeds list."""
        return f"{self.prefix}tenant:{tenant}:bookings"

    def job_applications(self, tenant: str, job_id: str) -> str:
        """Hash: candidate id -> Application JSON."""
        return f"{self.prefix}tenant:{tenant}:job:{job_id}:applications"

    def candidate_applications(self, tenant: str, candidate_id: str) -> str:
        """Set: the jobs the candidate applied to (what an erasure removes)."""
        return f"{self.prefix}tenant:{tenant}:candidate:{candidate_id}:applications"

    def calendar_feed(self, token_hash: str) -> str:
        return f"{self.prefix}calendar-feed:{token_hash}"

    def calendar_feed_of(self, tenant: str, email: str) -> str:
        return f"{self.prefix}tenant:{tenant}:calendar-feed:{email}"

    def bookings_by_start(self) -> str:
        """Every tenant's live bookings by start: what capacity counts."""
        return f"{self.prefix}bookings:live"

    def reminder(self, reminder_id: str) -> str:
        return f"{self.prefix}reminder:{reminder_id}"

    def reminders_due(self) -> str:
        """Pending and claimed reminders by when they are next due (a claim's lapse, for a claimed one)."""
        return f"{self.prefix}reminders:due"

    def interview_reminders(self, interview_id: str) -> str:
        return f"{self.prefix}booking:{interview_id}:reminders"

    def writeback(self, subject: str, action: str) -> str:
        """What is owed an ATS about an interview, or an account (`subject` is its id)."""
        return f"{self.prefix}writeback:{subject}:{action}"

    def writebacks_pending(self) -> str:
        """Write-backs not yet done nor given up, by next attempt; members `{subject}:{action}` (an interview's or an
        ATS account's)."""
        return f"{self.prefix}writebacks:pending"

    def greenhouse_callback(self, interview_id: str) -> str:
        """Earlier versions' Greenhouse callbacks (adopted as write-backs at start)."""
        return f"{self.prefix}greenhouse:{interview_id}"

    def greenhouse_pending(self) -> str:
        return f"{self.prefix}greenhouse:pending"


MAX_WATCH_RETRIES = 100


async def watched_transaction(client: redis.Redis, watch: Sequence[str], build: Callable[[Pipeline], Awaitable[T]]) -> T:
    """An optimistic transaction: WATCH `watch`, let `build` read (immediate mode), call `pipe.multi()` and queue its
    writes; EXEC. When a watched key changed meanwhile EXEC writes nothing and `build` runs again on fresh reads.
    A `build` that returns without calling `multi()` writes nothing."""
    async with client.pipeline(transaction=True) as pipe:
        for _ in range(MAX_WATCH_RETRIES):
            try:
                if watch:
                    await pipe.watch(*watch)
                result = await build(pipe)
                if pipe.explicit_transaction:
                    await pipe.execute()
                else:
                    await pipe.reset()  # type: ignore[no-untyped-call]  # redis-py leaves Pipeline.reset unannotated
                return result
            except WatchError:
                continue
    raise WatchError(f"gave up after {MAX_WATCH_RETRIES} conflicting writes on {list(watch)[:3]}")


# redis-py's stubs give replies as `bytes | str` (the client may decode) and some Pipeline methods no annotations.
# Our clients never decode (`open_redis`), so a reply is bytes; these helpers say so once, with types.


def text(reply: bytes | str) -> str:
    """A reply of a client that does not decode, as text."""
    return reply.decode() if isinstance(reply, bytes) else reply


def texts(replies: Iterable[object]) -> list[str]:
    """Members of a set, list or sorted set (asked without scores), as text."""
    members = []
    for reply in replies:
        if type(reply) is bytes:  # as our clients answer: first, since a claim decodes thousands a second
            members.append(reply.decode())
        elif isinstance(reply, str):
            members.append(reply)
        else:
            raise TypeError(f"expected a member, got {type(reply).__name__}")
    return members


def text_hash(reply: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    """An HGETALL reply as text keys and values."""
    return {text(k): text(v) for k, v in reply.items()}


def begin(pipe: Pipeline) -> None:
    """Start queueing a transaction's writes (after its reads under WATCH)."""
    pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves Pipeline.multi unannotated


def scored_members(replies: Iterable[object]) -> list[tuple[str, float]]:
    """A sorted set asked `withscores=True`: (member, score) pairs."""
    pairs = []
    for reply in replies:
        match reply:
            case (bytes() | str() as member, int() | float() as score):
                pairs.append((text(member), float(score)))
            case _:
                raise TypeError(f"expected a (member, score) pair, got {type(reply).__name__}")
    return pairs
