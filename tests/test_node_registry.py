"""Node registry: every node sees the cluster's live nodes and which one holds a live interview; Redis outages stop nothing."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import redis.asyncio as redis
from websockets.asyncio.client import connect

from server.storage.redis_client import Keys
from tests.conftest import API_KEY, LiveServer, make_settings, serving
from tests.helpers.interviews import receive_json
from tests.helpers.redis_server import RedisServer, client_for
from tests.helpers.waiting import eventually, wait_until

HR = {"X-API-Key": API_KEY}
KEYS = Keys("nodes-test:")


def node_settings(data_dir: Path, redis_server: RedisServer | None, node_id: str, **overrides: object):  # type: ignore[no-untyped-def]
    """On the SQLite store: what these pin (a Redis outage stops no interview) holds only while interviews are not in Redis."""
    clustered = {"redis_url": redis_server.url, "redis_prefix": KEYS.prefix, "store": "sqlite"} if redis_server is not None else {}
    return make_settings(data_dir, node_id=node_id, node_heartbeat_s=0.2, **clustered, **overrides)


async def node_ids(node: LiveServer) -> list[str]:
    response = await node.http.get(f"{node.url}/api/v1/nodes", headers=HR)
    assert response.status_code == 200, response.text
    return [n["node_id"] for n in response.json()["nodes"]]


async def ids_are(node: LiveServer, expected: list[str]) -> bool:
    return await node_ids(node) == expected


async def live_count_is(node: LiveServer, count: int, index: int) -> bool:
    return (await node.services.node.nodes())[index]["live_interviews"] == count


async def gone(client: redis.Redis, key: str) -> bool:
    return not await client.exists(key)


async def holds(client: redis.Redis, interview_id: str, node_id: bytes) -> bool:
    return await client.get(KEYS.live(interview_id)) == node_id


@contextlib.asynccontextmanager
async def candidate_connected(node: LiveServer):  # type: ignore[no-untyped-def]
    interview, token = await node.schedule(questions=1, mode="text")
    async with connect(node.url.replace("http://", "ws://") + f"/ws/interviews/{interview.id}?token={token}") as ws:
        assert (await receive_json(ws))["type"] == "hello"
        yield interview.id


async def test_every_node_lists_the_live_nodes_and_redis_says_which_holds_a_live_interview(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    inspect = client_for(redis_server)
    try:
        async with serving(node_settings(tmp_path / "data", redis_server, "node-b")) as b:
            async with serving(node_settings(tmp_path / "data", redis_server, "node-a")) as a:
                await eventually(lambda: ids_are(b, ["node-b", "node-a"]))
                nodes = (await b.http.get(f"{b.url}/api/v1/nodes", headers=HR)).json()["nodes"]
                assert nodes[1]["base_url"] == a.url and nodes[1]["draining"] is False and nodes[1]["live_interviews"] == 0

                async with candidate_connected(a) as interview_id:
                    assert await a.services.node.holder(interview_id) == "node-a"
                    assert await b.services.node.holder(interview_id) == "node-a"  # b learns it from Redis
                    await eventually(lambda: live_count_is(b, 1, index=1))
                await wait_until(lambda: a.services.registry.live_interviews == 0)
                await eventually(lambda: gone(inspect, KEYS.live(interview_id)))
            # a stopped: it takes itself out at once rather than waiting for its heartbeat to expire
            assert await node_ids(b) == ["node-b"]
    finally:
        await inspect.aclose()


async def test_without_redis_a_node_lists_only_itself(tmp_path: Path) -> None:
    async with serving(node_settings(tmp_path / "data", None, "solo")) as node:
        assert await node_ids(node) == ["solo"]
        async with candidate_connected(node) as interview_id:
            assert await node.services.node.holder(interview_id) == "solo"
            nodes = (await node.http.get(f"{node.url}/api/v1/nodes", headers=HR)).json()["nodes"]
            assert nodes[0]["live_interviews"] == 1


async def test_only_operators_list_and_drain_nodes_not_tenants(tmp_path: Path) -> None:
    tenants = {"default": [API_KEY], "acme": ["acme-key-0123456789"]}
    async with serving(node_settings(tmp_path / "one", None, "solo", api_keys=[], tenants=tenants)) as node:
        # A one-company install: the default tenant's key operates the node; another tenant's does not.
        assert await node_ids(node) == ["solo"]
        acme = {"X-API-Key": "acme-key-0123456789"}
        listed = await node.http.get(f"{node.url}/api/v1/nodes", headers=acme)
        assert listed.status_code == 403 and listed.json()["code"] == "operator_only"
        assert (await node.http.post(f"{node.url}/api/v1/nodes/solo/drain", headers=acme)).status_code == 403
        assert (await node.http.get(f"{node.url}/api/v1/nodes", headers={"X-API-Key": "nope"})).status_code == 401
        assert not node.services.node.draining
    operator = "operator-key-0123456789"
    async with serving(node_settings(tmp_path / "two", None, "solo", operator_keys=[operator])) as node:
        assert (await node.http.get(f"{node.url}/api/v1/nodes", headers=HR)).status_code == 403
        assert (await node.http.get(f"{node.url}/api/v1/nodes", headers={"Authorization": f"Bearer {operator}"})).status_code == 200


async def test_with_redis_down_interviews_go_on_the_list_says_503_and_the_node_comes_back_with_redis(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with serving(node_settings(tmp_path / "data", redis_server, "node-a")) as node:
        redis_server.stop()
        async with candidate_connected(node) as interview_id:
            response = await node.http.get(f"{node.url}/api/v1/nodes", headers=HR)
            assert response.status_code == 503 and response.json()["code"] == "cluster_unavailable"
            assert "Retry-After" in response.headers
            await wait_until(lambda: node.services.node.heartbeat_failures >= 2)
            redis_server.start()  # empty: the next beat writes the node and its live interview again
            inspect = client_for(redis_server)
            try:
                await eventually(lambda: holds(inspect, interview_id, b"node-a"))
                assert await node_ids(node) == ["node-a"]
            finally:
                await inspect.aclose()


async def test_a_node_starts_and_completes_an_interview_while_redis_is_unreachable(tmp_path: Path) -> None:
    down = RedisServer(tmp_path / "redis")  # never started: nothing listens on its port
    async with serving(node_settings(tmp_path / "data", down, "node-a")) as node:
        async with candidate_connected(node) as interview_id:
            assert node.services.registry.find_live(interview_id) is not None
        interview, token = await node.schedule(questions=1, mode="text")
        async with connect(node.url.replace("http://", "ws://") + f"/ws/interviews/{interview.id}?token={token}") as ws:
            assert (await receive_json(ws))["type"] == "hello"
            await ws.send(json.dumps({"v": 1, "type": "ready"}))
            await ws.send(json.dumps({"v": 1, "type": "answer.text", "question_id": "q1", "text": "Because."}))
            await ws.send(json.dumps({"v": 1, "type": "answer.done", "question_id": "q1"}))
            while (await receive_json(ws))["type"] != "completed":
                pass
        assert (await node.interview_state(interview.id))["interview"]["status"] == "completed"
        assert node.services.node.heartbeat_failures >= 1
        assert (await node.http.get(f"{node.url}/readyz")).status_code == 200
