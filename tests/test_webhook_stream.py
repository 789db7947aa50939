"""Webhooks through the Redis stream on one node with the SQLite store: outages keep events in SQLite, nothing is lost or sent twice."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as redis
from websockets.asyncio.client import connect

from hrms_bridge.stream import GROUP, READ_COUNT, StreamWebhookDispatcher, WebhookStream
from server.storage.redis_client import Keys
from tests.conftest import API_KEY, LiveServer, free_port, make_settings, serving
from tests.helpers.interviews import finish_text_interview, ws_url
from tests.helpers.redis_server import RedisServer, client_for
from tests.helpers.waiting import eventually, sender_settled, wait_until
from tests.helpers.webhook_receiver import Receiver, receiving

HR = {"X-API-Key": API_KEY}
KEYS = Keys("stream-test:")


def clustered(data_dir: Path, redis_server: RedisServer, **overrides: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "redis_url": redis_server.url,
        "redis_prefix": KEYS.prefix,
        "store": "sqlite",
        "node_id": "node-a",
        "webhook_allow_http": True,
        "webhook_allow_private_addresses": True,
        "webhook_retry_schedule_s": [0.3] * 50,
        "webhook_stream_lease_s": 2.0,
    }
    return make_settings(data_dir, **{**values, **overrides})


def dispatcher_of(node: LiveServer) -> StreamWebhookDispatcher:
    dispatcher = node.services.dispatcher
    assert isinstance(dispatcher, StreamWebhookDispatcher)
    return dispatcher


async def complete(node: LiveServer) -> str:
    interview, token = await node.schedule(questions=1, mode="text")
    async with connect(ws_url(node.url, interview.id, token)) as ws:
        await finish_text_interview(ws)
    return interview.id


async def register(node: LiveServer, receiver: Receiver) -> None:
    response = await node.http.post(
        f"{node.url}/api/v1/webhooks/endpoints", json={"url": receiver.url, "event_types": ["report.ready"]}, headers=HR
    )
    assert response.status_code == 201, response.text


async def pending_entries(client: redis.Redis) -> int:
    return (await client.xpending(KEYS.webhook_stream(), GROUP))["pending"]


async def test_events_committed_while_redis_is_down_wait_in_sqlite_and_go_out_once_when_it_is_back(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with serving(clustered(tmp_path / "data", redis_server)) as node, receiving(Receiver(free_port())) as receiver:
        await register(node, receiver)
        redis_server.stop()
        interview_id = await complete(node)
        dispatcher = dispatcher_of(node)

        async def attempts() -> list[int]:
            pending = (await node.http.get(f"{node.url}/api/v1/webhooks/deliveries", params={"status": "pending"}, headers=HR)).json()
            return [d["attempts"] for d in pending["deliveries"]]

        await eventually(attempts)  # report.ready is committed and fanned out
        errors = dispatcher.counts["redis_errors"]
        await wait_until(lambda: dispatcher.counts["redis_errors"] >= errors + 2)  # two passes since, without Redis
        assert await attempts() == [0] and receiver.requests == []

        redis_server.start()
        await receiver.wait_for(lambda r: len(r) == 1)
        inspect = client_for(redis_server)
        try:

            async def acknowledged() -> bool:
                return await pending_entries(inspect) == 0

            await eventually(acknowledged)
        finally:
            await inspect.aclose()
        await sender_settled(dispatcher_of(node))  # it has looked again since: a second send would have gone out
        assert [r.event["data"]["interview_id"] for r in receiver.requests] == [interview_id]
        metrics = (await node.http.get(f"{node.url}/metrics")).text
        assert 'interview_webhook_stream_entries_total{action="acked"}' in metrics


async def test_a_replayed_dead_letter_goes_out_again_although_its_stream_entry_was_acknowledged(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    settings = clustered(tmp_path / "data", redis_server, webhook_retry_schedule_s=[0.1])
    async with serving(settings) as node, receiving(Receiver(free_port(), responses=[(500, {}), (500, {})])) as receiver:
        await register(node, receiver)
        await complete(node)

        async def dead() -> bool:
            rows = (await node.http.get(f"{node.url}/api/v1/webhooks/deliveries", params={"status": "dead"}, headers=HR)).json()
            return len(rows["deliveries"]) == 1

        await eventually(dead)
        inspect = client_for(redis_server)
        try:

            async def acknowledged() -> bool:
                return await pending_entries(inspect) == 0

            await eventually(acknowledged)  # final for its only endpoint: out of the stream
            delivery_id = (await node.http.get(f"{node.url}/api/v1/webhooks/deliveries", headers=HR)).json()["deliveries"][0]["id"]
            replayed = await node.http.post(f"{node.url}/api/v1/webhooks/deliveries/{delivery_id}/replay", headers=HR)
            assert replayed.status_code == 202
            await receiver.wait_for(lambda r: len(r) == 3, timeout=30)  # found overdue after a lease, relayed, sent
            assert len({r.id for r in receiver.requests}) == 1
            assert dispatcher_of(node).counts["requeued"] == 1
        finally:
            await inspect.aclose()


async def test_a_departed_nodes_consumer_that_holds_nothing_is_removed_from_the_group(tmp_path: Path, redis_server: RedisServer) -> None:
    inspect = client_for(redis_server)
    try:
        await inspect.xgroup_create(KEYS.webhook_stream(), GROUP, id="0", mkstream=True)
        await inspect.xreadgroup(GROUP, "node-gone-123", {KEYS.webhook_stream(): ">"}, count=1)  # a node that read, then stopped
        async with serving(clustered(tmp_path / "data", redis_server, webhook_stream_lease_s=0.1)):

            async def names() -> set[bytes]:
                return {c["name"] for c in await inspect.xinfo_consumers(KEYS.webhook_stream(), GROUP)}

            async def only_this_node() -> bool:
                return await names() == {b"node-a"}

            await eventually(only_this_node)  # 10 leases (1 s) after node-gone-123 last read
    finally:
        await inspect.aclose()


async def test_a_node_restarted_under_its_id_takes_back_every_entry_it_held_not_only_the_first_page(
    redis_server: RedisServer,
) -> None:
    """A node killed while it held more entries than one read returns: on restart it reads them all back at once,
    rather than leaving all but the first page to be taken over a lease later."""
    client = client_for(redis_server)
    try:
        before = WebhookStream(client, KEYS.webhook_stream(), "node-a", lease_s=60.0)
        await before.ensure_group()
        await before.add([f"evt-{n}" for n in range(READ_COUNT * 2 + 7)])
        read = [entry for _ in range(3) for entry in await before.read(new=True)]
        assert len(read) == READ_COUNT * 2 + 7  # held, never acknowledged: the node dies here

        after = WebhookStream(client, KEYS.webhook_stream(), "node-a", lease_s=60.0)
        assert sorted(await after.read(new=False)) == sorted(read)
    finally:
        await client.aclose()
