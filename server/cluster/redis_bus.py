"""The event bus of a cluster: live events cross nodes over Redis pub/sub.

    publish ─▶ bounded queue ─▶ sender task ─PUBLISH─▶ Redis ─▶ reader task (one PubSub connection) ─▶ local handlers

`publish` only enqueues, so an interview never waits for Redis; a full queue or an outage drops the
event and counts it (live events are worth nothing late; what must not be lost goes through the
SQLite outbox instead). The reader subscribes to a channel while this node has a handler for its
topic and unsubscribes when the last one goes; after an outage it reconnects with backoff and
subscribes to every topic again. A message published on this node reaches its own handlers through
Redis too, so every handler sees one order of events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import redis.asyncio as redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from server.cluster.event_bus import Handler, Message, Subscriptions, decode_message, encode_message
from server.storage.redis_client import Keys

logger = logging.getLogger(__name__)

BACKOFF_S = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
SEND_BATCH = 256
READ_SLICE_S = 0.1  # how long the reader waits for a message before it looks at subscription changes


class RedisEventBus:
    """`start()` before use, `close()` after; counters `published`, `dropped` and `received` are for metrics."""

    def __init__(self, client: redis.Redis, keys: Keys, queue_size: int = 10_000) -> None:
        self._client = client
        self._keys = keys
        self._subscriptions = Subscriptions()
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue(queue_size)
        self._changed = asyncio.Event()
        self._active: set[str] = set()  # the channels Redis has this node subscribed to
        self._active_changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.published = 0  # accepted by Redis
        self.dropped = 0  # queue full, Redis down, or not JSON-serialisable
        self.received = 0  # messages handed to this node's handlers
        self.malformed = 0  # messages on our channels that are not JSON objects
        self._reading = False
        # Ends the loops even where a cancellation gets lost: redis-py's pipelines swallow one that lands mid-call.
        self._closing = False

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._send_forever(), name="redis-bus-sender"),
            asyncio.create_task(self._read_forever(), name="redis-bus-reader"),
        ]

    def publish(self, topic: str, message: Message) -> None:
        data = encode_message(topic, message)
        if data is None:
            self.dropped += 1
            return
        try:
            self._queue.put_nowait((topic, data))
        except asyncio.QueueFull:
            self.dropped += 1

    def subscribe(self, topic: str, handler: Handler) -> Callable[[], None]:
        if self._subscriptions.add(topic, handler):
            self._changed.set()

        def unsubscribe() -> None:
            if self._subscriptions.remove(topic, handler):
                self._changed.set()

        return unsubscribe

    async def listening(self, topic: str, timeout_s: float = 2.0) -> bool:
        """A dashboard subscribes, then reads the state it shows: it must hear every change after that read, so it
        waits until Redis has the subscription (a round trip, and at most one read slice of the reader)."""
        channel = self._keys.channel(topic)
        deadline = asyncio.get_running_loop().time() + timeout_s
        while channel not in self._active:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return False
            self._active_changed.clear()
            try:
                await asyncio.wait_for(self._active_changed.wait(), remaining)
            except TimeoutError:
                return False
        return True

    async def close(self) -> None:
        self._closing = True
        self._changed.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _send_forever(self) -> None:
        failures = 0
        while not self._closing:
            batch = [await self._queue.get()]
            # Whatever queued up meanwhile goes in the same round trip: a busy node is not held to one event per RTT.
            while len(batch) < SEND_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    for topic, data in batch:
                        pipe.publish(self._keys.channel(topic), data)
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                # Whatever waited during the outage is stale by the time Redis is back: drop it with this batch.
                self.dropped += len(batch) + self._queue.qsize()
                while not self._queue.empty():
                    self._queue.get_nowait()
                if failures == 0:
                    logger.warning("event bus: Redis unreachable (%s); live events are dropped until it is back", exc)
                await asyncio.sleep(BACKOFF_S[min(failures, len(BACKOFF_S) - 1)])
                failures += 1
                continue
            self.published += len(batch)
            if failures:
                logger.warning("event bus: Redis is back after %d failed sends", failures)
                failures = 0

    async def _read_forever(self) -> None:
        failures = 0
        while not self._closing:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await self._read(pubsub)
            except (RedisError, OSError) as exc:
                if self._reading:  # it worked until now: a new outage
                    failures = 0
                if failures == 0:
                    logger.warning("event bus: lost the Redis subscription (%s); reconnecting", exc)
                self._reading = False
                self._active = set()
                await asyncio.sleep(BACKOFF_S[min(failures, len(BACKOFF_S) - 1)])
                failures += 1
            finally:
                await asyncio.shield(pubsub.aclose())

    async def _read(self, pubsub: PubSub) -> None:
        subscribed: set[str] = set()
        while not self._closing:
            self._changed.clear()
            wanted = {self._keys.channel(topic) for topic in self._subscriptions.topics()}
            if added := wanted - subscribed:
                await pubsub.subscribe(*added)
            if removed := subscribed - wanted:
                await pubsub.unsubscribe(*removed)
            subscribed = wanted
            self._active = set(wanted)
            self._active_changed.set()
            if not subscribed:
                # PubSub has no connection until the first subscribe: nothing to read until a handler comes.
                await self._changed.wait()
                continue
            self._reading = True
            while not self._changed.is_set():
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=READ_SLICE_S)
                if message is not None and message.get("type") == "message":
                    self._dispatch(self._keys.topic(message["channel"]), message["data"])

    def _dispatch(self, topic: str, data: bytes) -> None:
        message = decode_message(data)
        if message is None:
            self.malformed += 1
            logger.warning("event bus: a message on %s is not a JSON object; ignored", topic)
            return
        self.received += 1
        self._subscriptions.dispatch(topic, message)
