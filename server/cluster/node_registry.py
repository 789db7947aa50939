"""This node as the cluster sees it: its heartbeat, its draining flag, and which live interviews it holds.

With Redis, every `node_heartbeat_s` the node writes `nodes:{node_id}` (base URL, load, draining,
started_at) and renews `live:{interview_id}` for each interview it runs, all with a TTL of three beats,
so a node that dies disappears from both on its own. Without Redis the same facts stay local and the
node lists only itself. Redis being down never stops an interview: a failed beat is counted and the
next one writes everything again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from server.storage.redis_client import Keys

logger = logging.getLogger(__name__)

BEATS_TO_EXPIRE = 3


def node_topic(node_id: str) -> str:
    """The bus topic on which a node takes requests meant for it (a drain asked on another node)."""
    return f"node:{node_id}"


# Deletes live:{id} only while it still names this node (another node may have taken the interview over).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


SUMMED = ("live_interviews", "media_sessions", "session_limit", "sessions_refused")
WORST = ("loop_lag_s", "final_wait_s", "recogniser_busy", "cpu_busy_cores", "cpu_cores_per_session")
LEVEL_ORDER = ["ok", "strained", "behind"]  # the node-load levels' names (server/ops/node_load.py), least loaded first


def node_of_workers(own: dict[str, Any], others: list[dict[str, Any]]) -> dict[str, Any]:
    """One node made of worker processes: counts add up; it accepts an interview while any worker does (the
    supervisor places it there), its level is its least loaded worker's, and its readings are the worst worker's."""
    workers = [own, *others]
    node = dict(own)
    for name in SUMMED:
        if all(isinstance(w.get(name), int) for w in workers):
            node[name] = sum(int(w[name]) for w in workers)
    for name in WORST:
        values = [float(w[name]) for w in workers if isinstance(w.get(name), int | float)]
        if values:
            node[name] = max(values)
    # Every worker counts the same cores: the node carries its sessions and the room its fullest worker sees.
    with_cpu = [w for w in workers if isinstance(w.get("cpu_session_capacity"), int) and isinstance(w.get("media_sessions"), int)]
    if with_cpu:
        room = min(int(w["cpu_session_capacity"]) - int(w["media_sessions"]) for w in with_cpu)
        node["cpu_session_capacity"] = sum(int(w["media_sessions"]) for w in with_cpu) + max(0, room)
    if any("accepting_interviews" in w for w in workers):
        node["accepting_interviews"] = any(bool(w.get("accepting_interviews")) for w in workers)
    levels = [w["load_level"] for w in workers if isinstance(w.get("load_level"), str)]
    if levels:
        node["load_level"] = min(levels, key=lambda level: LEVEL_ORDER.index(level) if level in LEVEL_ORDER else len(LEVEL_ORDER))
    node["draining"] = all(bool(w.get("draining")) for w in workers)
    node["workers"] = [
        {k: w.get(k) for k in ("live_interviews", "media_sessions", "accepting_interviews", "load_level", "draining")} for w in workers
    ]
    return node


class NodeRegistry:
    """`start()` and `close()` in the lifespan; `hold`/`release` from the session registry; `drain()` from a signal or the API."""

    def __init__(
        self,
        node_id: str,
        base_url: str,
        client: redis.Redis | None,
        keys: Keys,
        heartbeat_s: float,
        load: Callable[[], Mapping[str, object]],
        siblings: Callable[[], list[dict[str, Any]]] | None = None,
        sibling_holding: Callable[[str], bool] = lambda interview_id: False,
    ) -> None:
        self.node_id = node_id
        self.base_url = base_url
        self.started_at = time.time()
        self.draining_since: float | None = None
        self.heartbeat_failures = 0
        self._client = client
        self._keys = keys
        self._heartbeat_s = heartbeat_s
        self._load = load
        self._siblings = siblings
        self._sibling_holding = sibling_holding
        self._held: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._beat_now = asyncio.Event()
        self._closing = False
        self._writes: set[asyncio.Task[None]] = set()
        self._last_write: asyncio.Task[None] | None = None
        self._release = client.register_script(_RELEASE) if client is not None else None

    @property
    def clustered(self) -> bool:
        return self._client is not None

    @property
    def draining(self) -> bool:
        return self.draining_since is not None

    def drain(self) -> None:
        """Take no new interviews from now on; live ones go on. Safe to call from a signal handler (it only sets state)."""
        if self.draining_since is None:
            self.draining_since = time.time()

    @property
    def held(self) -> set[str]:
        return set(self._held)

    def process_info(self) -> dict[str, Any]:
        """This process alone (a worker's report to its supervisor)."""
        return {
            "node_id": self.node_id,
            "base_url": self.base_url,
            "started_at": self.started_at,
            "draining": self.draining,
            "draining_since": self.draining_since,
            **self._load(),
            "heartbeat_at": time.time(),
        }

    def info(self) -> dict[str, Any]:
        """The node: this process, or, in a node of several workers, all of them as one (`workers` lists each)."""
        own = self.process_info()
        if self._siblings is None:
            return own
        return node_of_workers(own, self._siblings())

    async def start(self) -> None:
        if self._client is not None:
            self._task = asyncio.create_task(self._beat_forever(), name="node-heartbeat")

    async def close(self) -> None:
        """Stop beating and take this node (and the interviews it held) out of Redis, best effort."""
        # The flag ends the loop even where a cancellation gets lost: a redis-py pipeline cancelled mid-call can
        # return as if nothing happened, and the loop would beat on while this waited for it.
        self._closing = True
        self._beat_now.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, *self._writes, return_exceptions=True)
        if self._client is not None:
            try:
                await self._client.delete(self._keys.node(self.node_id))
                for interview_id in list(self._held):
                    await self._release_key(interview_id)
            except (RedisError, OSError) as exc:
                logger.warning("node %s: could not remove itself from Redis (%s); its keys expire on their own", self.node_id, exc)

    def hold(self, interview_id: str) -> None:
        """This node now runs `interview_id` live."""
        self._held.add(interview_id)
        if self._client is not None:
            self._spawn(self._client.set(self._keys.live(interview_id), self.node_id, ex=self._ttl_s))

    def release(self, interview_id: str) -> None:
        """This node no longer runs `interview_id`."""
        self._held.discard(interview_id)
        if self._client is not None:
            self._spawn(self._release_key(interview_id))

    async def holder(self, interview_id: str) -> str | None:
        """The node running `interview_id` live, if any (this one only, without Redis)."""
        if self._client is None:
            return self.node_id if interview_id in self._held or self._sibling_holding(interview_id) else None
        value = await self._client.get(self._keys.live(interview_id))
        return value.decode() if isinstance(value, bytes) else value

    async def nodes(self) -> list[dict[str, Any]]:
        """Every node whose heartbeat has not expired, this one first; raises RedisError when Redis is unreachable."""
        if self._client is None:
            return [self.info()]
        names = [name async for name in self._client.scan_iter(match=self._keys.nodes_pattern(), count=200)]
        values = await self._client.mget(names) if names else []
        others = [json.loads(v) for v in values if v is not None]
        return [self.info(), *sorted((n for n in others if n.get("node_id") != self.node_id), key=lambda n: n["node_id"])]

    @property
    def _ttl_s(self) -> int:
        return max(1, round(self._heartbeat_s * BEATS_TO_EXPIRE))

    def beat_soon(self) -> None:
        self._beat_now.set()

    async def _beat_forever(self) -> None:
        assert self._client is not None
        down = False
        while not self._closing:
            self._beat_now.clear()
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    pipe.set(self._keys.node(self.node_id), json.dumps(self.info()), ex=self._ttl_s)
                    for interview_id in self._held:
                        pipe.set(self._keys.live(interview_id), self.node_id, ex=self._ttl_s)
                    await pipe.execute()
                if down:
                    logger.warning("node %s: heartbeat reaches Redis again", self.node_id)
                    down = False
            except (RedisError, OSError) as exc:
                self.heartbeat_failures += 1
                if not down:
                    logger.warning("node %s: heartbeat failed (%s); retrying every beat", self.node_id, exc)
                    down = True
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation that arrives as the event is set.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._heartbeat_s):
                    await self._beat_now.wait()

    async def _release_key(self, interview_id: str) -> None:
        assert self._release is not None
        await self._release(keys=[self._keys.live(interview_id)], args=[self.node_id])

    def _spawn(self, write: Any) -> None:
        previous = self._last_write

        async def guarded() -> None:
            if previous is not None:  # in order: a hold and its release must not cross on two connections
                await asyncio.wait({previous})
            try:
                await write
            except (RedisError, OSError) as exc:
                # The next heartbeat writes (or the TTL removes) what this one could not.
                logger.info("node %s: live-interview key not updated (%s)", self.node_id, exc)

        task = self._last_write = asyncio.create_task(guarded())
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
