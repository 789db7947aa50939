"""A node's background loops stop when asked, even when work arrives at the moment they are stopped.

Two ways a cancellation got lost, each leaving a loop running while its owner's `close()` (the node's shutdown)
waited for it forever: on Python 3.11 `asyncio.wait_for` drops one that arrives in the same turn as the event it
waits for, and redis-py's pipelines return normally from one that lands mid-call (45 of 50 tries here). The loops
now also stop on a flag their `close()` sets. (This was the Redis test that hung CI for its whole timeout.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import redis.asyncio as redis

from hrms_bridge.destinations import DestinationPolicy
from hrms_bridge.retrying import RetryingSender
from server.cluster.node_registry import NodeRegistry
from tests.helpers.redis_server import KEYS
from tests.helpers.waiting import eventually, wait_until


async def test_the_heartbeat_stops_when_the_node_closes_as_a_beat_is_asked_for(redis_client: redis.Redis) -> None:
    for attempt in range(20):
        node = NodeRegistry(f"node-{attempt}", "http://node.test", redis_client, KEYS, heartbeat_s=5.0, load=dict)
        await node.start()

        async def beaten(node: NodeRegistry = node) -> bool:
            return bool(await redis_client.exists(KEYS.node(node.node_id)))

        await eventually(beaten, what="the first heartbeat")  # the loop now waits for the next beat
        node.beat_soon()  # a drain, say, asks for a beat in the same turn as the shutdown
        await asyncio.wait_for(node.close(), 5.0)


class _Idle(RetryingSender[str]):
    """Nothing is ever due; counts its passes."""

    name = "idle-sender"

    def __init__(self, policy: DestinationPolicy, retry_schedule_s: Sequence[float]) -> None:
        super().__init__(policy, retry_schedule_s, 1.0)
        self.passes = 0

    async def due(self, now: float) -> list[str]:
        self.passes += 1
        return []

    async def next_due_at(self) -> float | None:
        return None


async def test_a_webhook_sender_stops_when_closed_as_it_is_woken() -> None:
    for _ in range(20):
        sender = _Idle(DestinationPolicy(), [1.0])
        sender.start()
        await wait_until(lambda sender=sender: sender.passes >= 1, what="the first pass")  # then it waits to be woken
        sender.wake()  # a report was saved in the same turn as the shutdown
        await asyncio.wait_for(sender.close(), 5.0)
