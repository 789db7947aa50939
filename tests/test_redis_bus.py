"""The Redis event bus: live events cross nodes, outages and overload drop and count events, nothing blocks or raises."""

from __future__ import annotations

import asyncio
import inspect as inspect_module
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis

from server.cluster.event_bus import Message
from server.cluster.redis_bus import RedisEventBus
from tests.helpers.redis_server import KEYS, RedisServer, client_for, subscribers, until_subscribed
from tests.helpers.waiting import wait_until


@pytest.fixture
async def nodes(redis_server: RedisServer) -> AsyncIterator[tuple[RedisEventBus, RedisEventBus, redis.Redis]]:
    """Two buses as two nodes would have them (each its own client), and a client for looking at Redis."""
    clients = [client_for(redis_server) for _ in range(3)]
    buses = [RedisEventBus(client, KEYS, queue_size=100) for client in clients[:2]]
    for bus in buses:
        await bus.start()
    try:
        yield buses[0], buses[1], clients[2]
    finally:
        for bus in buses:
            await bus.close()
        for client in clients:
            await client.aclose()


async def test_an_event_published_on_one_node_reaches_the_handlers_of_its_topic_on_another(nodes) -> None:  # type: ignore[no-untyped-def]
    a, b, inspect = nodes
    on_acme: list[Message] = []
    on_globex: list[Message] = []
    stop_acme = a.subscribe("hr:acme", on_acme.append)
    a.subscribe("hr:globex", on_globex.append)
    await until_subscribed(inspect, "hr:acme")
    b.publish("hr:acme", {"type": "caption", "text": "我喜欢数据", "n": 1})
    await wait_until(lambda: on_acme)
    assert on_acme == [{"type": "caption", "text": "我喜欢数据", "n": 1}] and on_globex == []
    assert b.published == 1 and a.received == 1 and a.dropped == b.dropped == 0
    stop_acme()
    await until_subscribed(inspect, "hr:acme", 0)
    assert await subscribers(inspect, "hr:globex") == 1


async def test_while_redis_is_down_events_are_dropped_and_counted_and_flow_again_when_it_is_back(nodes, redis_server: RedisServer) -> None:  # type: ignore[no-untyped-def]
    a, b, inspect = nodes
    got: list[Message] = []
    a.subscribe("interview:42", got.append)
    await until_subscribed(inspect, "interview:42")
    redis_server.stop()
    # publish is a plain function that only enqueues: an interview cannot be made to wait for Redis.
    assert not inspect_module.iscoroutinefunction(b.publish)
    for n in range(20):
        b.publish("interview:42", {"n": n})
    await wait_until(lambda: b.dropped == 20)
    assert got == [] and b.published == 0

    redis_server.start()  # an empty Redis on the same port: the reader must subscribe again by itself
    await until_subscribed(inspect, "interview:42")
    while not got:
        b.publish("interview:42", {"n": "after"})
        await asyncio.sleep(0.2)
    assert got[0] == {"n": "after"} and b.dropped >= 20


async def test_a_full_queue_drops_and_counts_the_overflow_and_delivers_the_rest(redis_server: RedisServer) -> None:
    client, inspect = client_for(redis_server), client_for(redis_server)
    bus = RedisEventBus(client, KEYS, queue_size=3)
    await bus.start()
    try:
        got: list[Message] = []
        bus.subscribe("hr:acme", got.append)
        await until_subscribed(inspect, "hr:acme")
        for n in range(10):  # no await in between: the sender cannot drain the queue
            bus.publish("hr:acme", {"n": n})
        assert bus.dropped == 7
        await wait_until(lambda: len(got) == 3)
        assert got == [{"n": 0}, {"n": 1}, {"n": 2}]
    finally:
        await bus.close()
        await client.aclose()
        await inspect.aclose()


async def test_a_message_that_is_not_a_json_object_is_counted_and_the_next_one_still_arrives(nodes) -> None:  # type: ignore[no-untyped-def]
    a, b, inspect = nodes
    got: list[Message] = []
    a.subscribe("hr:acme", got.append)
    await until_subscribed(inspect, "hr:acme")
    await inspect.publish(KEYS.channel("hr:acme"), b"\xff not json")
    await inspect.publish(KEYS.channel("hr:acme"), b"[1, 2]")
    b.publish("hr:acme", {"ok": True})
    await wait_until(lambda: got)
    assert got == [{"ok": True}] and a.malformed == 2 and a.received == 1


async def test_an_event_that_cannot_be_serialised_is_dropped_without_raising(nodes) -> None:  # type: ignore[no-untyped-def]
    _a, b, _inspect = nodes
    b.publish("hr:acme", {"when": object()})
    assert b.dropped == 1


async def test_a_node_with_a_redis_url_runs_the_redis_bus_and_exports_its_counters(tmp_path: Path, redis_server: RedisServer) -> None:
    from tests.conftest import API_KEY, make_settings, serving

    settings = make_settings(tmp_path / "data", redis_url=redis_server.url, redis_prefix=KEYS.prefix)
    inspect = client_for(redis_server)
    watcher = RedisEventBus(client_for(redis_server), KEYS)
    await watcher.start()
    try:
        got: list[Message] = []
        watcher.subscribe("hr:default", got.append)
        await until_subscribed(inspect, "hr:default")
        async with serving(settings) as node:
            assert isinstance(node.services.bus, RedisEventBus)
            node.services.bus.publish("hr:default", {"type": "progress"})
            await wait_until(lambda: got)
            text = (await node.http.get(f"{node.url}/metrics", headers={"X-API-Key": API_KEY})).text
        assert got == [{"type": "progress"}]
        assert "interview_bus_events_published_total 1.0" in text and "interview_bus_events_dropped_total 0.0" in text
    finally:
        await watcher.close()
        await inspect.aclose()
