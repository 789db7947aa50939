"""Two real `interview-server serve` processes and one redis-server: a cluster, end to end.

With the Redis store (the default with INTERVIEW_REDIS_URL) each node has its own data directory, as on separate
hosts; with INTERVIEW_STORE=sqlite they share one (a volume).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as redis
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from server.storage.redis_client import Keys
from tests.conftest import API_KEY, free_port
from tests.helpers.interviews import assert_refuses_new_interviews, finish_text_interview, next_of, receive_json, ws_url
from tests.helpers.processes import complete_text_interview, schedule_one_question, start_server, wait_healthy
from tests.helpers.redis_server import RedisServer, client_for, until_subscribed
from tests.helpers.waiting import eventually, node_sender_settled
from tests.helpers.webhook_receiver import Received, Receiver, receiving

HR = {"X-API-Key": API_KEY}
PREFIX = "two-nodes:"
KEYS = Keys(PREFIX)
LEASE_S = 3
BURST = 6


class Node:
    def __init__(self, node_id: str, data_dir: Path, redis_url: str, **env: str) -> None:
        self.node_id = node_id
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = start_server(
            data_dir,
            self.port,
            extra_env={
                "INTERVIEW_REDIS_URL": redis_url,
                "INTERVIEW_REDIS_PREFIX": PREFIX,
                "INTERVIEW_NODE_ID": node_id,
                "INTERVIEW_SECRETS_KEY_FILE": str(data_dir.parent / "cluster-secrets.key"),  # one key file, as on a volume
                "INTERVIEW_NODE_HEARTBEAT_S": "0.5",
                "INTERVIEW_WEBHOOK_STREAM_LEASE_S": str(LEASE_S),
                "INTERVIEW_WEBHOOK_TIMEOUT_S": "2",
                "INTERVIEW_WEBHOOK_RETRY_SCHEDULE_S": ",".join(["0.5"] * 200),
                **env,
            },
        )

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)


@pytest.fixture
def cluster(tmp_path: Path, redis_server: RedisServer) -> Iterator[list[Node]]:
    """Nodes started by the test, killed at its end; they share the redis_server."""
    nodes: list[Node] = []
    try:
        yield nodes
    finally:
        for node in nodes:
            node.kill()


async def start(nodes: list[Node], node_id: str, tmp_path: Path, redis_server: RedisServer, store: str = "redis", **env: str) -> Node:
    """A node on the Redis store with a data directory of its own, or on the SQLite store in the data directory all share."""
    data_dir = tmp_path / node_id if store == "redis" else tmp_path / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    node = Node(node_id, data_dir, redis_server.url, INTERVIEW_STORE=store, **env)
    nodes.append(node)
    await wait_healthy(node.base, node.process)
    return node


@pytest.fixture
async def inspect(redis_server: RedisServer) -> AsyncIterator[redis.Redis]:
    client = client_for(redis_server)
    try:
        yield client
    finally:
        await client.aclose()


async def schedule_text(http: httpx.AsyncClient, base: str) -> tuple[str, str]:
    return await schedule_one_question(http, base, "Two Nodes")


@pytest.mark.parametrize("store", ["sqlite", "redis"])
async def test_webhooks_held_by_a_node_that_is_sigkilled_arrive_once_each_through_the_other(
    tmp_path: Path, redis_server: RedisServer, cluster: list[Node], inspect: redis.Redis, store: str
) -> None:
    receiver = Receiver(free_port())  # down until the end
    b = await start(cluster, "node-b", tmp_path, redis_server, store)
    async with httpx.AsyncClient(timeout=20) as http:
        registered = await http.post(
            f"{b.base}/api/v1/webhooks/endpoints", json={"url": receiver.url, "event_types": ["report.ready"]}, headers=HR
        )
        assert registered.status_code == 201, registered.text
        completed = {await complete_text_interview(http, b.base) for _ in range(3)}

        async def failing_on_b() -> bool:
            pending = (await http.get(f"{b.base}/api/v1/webhooks/deliveries", params={"status": "pending"}, headers=HR)).json()
            return len(pending["deliveries"]) == 3 and all(d["attempts"] >= 1 for d in pending["deliveries"])

        await eventually(failing_on_b)

        async def only_the_failing_held_by_b() -> bool:  # the others are acknowledged within ACK_EVERY_S
            held = await inspect.xpending(KEYS.webhook_stream(), "dispatchers")
            if store == "redis":  # every event is acknowledged once fanned out: its deliveries wait in the due index
                return held["pending"] == 0 and await inspect.zcard(KEYS.deliveries_due()) == 3
            return held["pending"] == 3 and [c["name"] for c in held["consumers"]] == [b"node-b"]

        await eventually(only_the_failing_held_by_b)

        a = await start(cluster, "node-a", tmp_path, redis_server, store)
        b.kill()
        async with receiving(receiver):
            await receiver.wait_for(lambda r: len({x.event["data"]["interview_id"] for x in r}) == 3, timeout=90)

            async def all_acknowledged() -> bool:
                return (await inspect.xpending(KEYS.webhook_stream(), "dispatchers"))["pending"] == 0

            await eventually(all_acknowledged)
        ids = [r.id for r in receiver.requests]
        assert len(ids) == len(set(ids)) == 3, ids
        assert {r.event["data"]["interview_id"] for r in receiver.requests} == completed
        consumers = {c["name"]: c for c in await inspect.xinfo_consumers(KEYS.webhook_stream(), "dispatchers")}
        assert b"node-a" in consumers
        delivered = (await http.get(f"{a.base}/api/v1/webhooks/deliveries", params={"status": "delivered"}, headers=HR)).json()
        assert sorted(d["event_id"] for d in delivered["deliveries"]) == sorted(ids)
        metrics = (await http.get(f"{a.base}/metrics")).text
        taken_over = next(
            line for line in metrics.splitlines() if line.startswith('interview_webhook_stream_entries_total{action="taken_over"}')
        )
        if store == "sqlite":  # with the Redis store, node A claims B's deliveries from the due index: no entry to take over
            assert float(taken_over.split()[-1]) >= 3, taken_over  # node B's pending entries, by XAUTOCLAIM


async def test_a_dashboard_on_one_node_follows_and_answers_an_interview_running_on_another(
    tmp_path: Path, redis_server: RedisServer, cluster: list[Node], inspect: redis.Redis
) -> None:
    a = await start(cluster, "node-a", tmp_path, redis_server)
    b = await start(cluster, "node-b", tmp_path, redis_server)
    async with httpx.AsyncClient(timeout=20) as http:
        interview_id, token = await schedule_text(http, b.base)
        hr_token = (await http.post(f"{a.base}/api/v1/hr/sessions", headers=HR)).json()["token"]
    async with connect(a.base.replace("http://", "ws://") + f"/ws/hr?token={hr_token}") as dashboard:
        await next_of(dashboard, "interviews")
        await until_subscribed(inspect, "hr:default", keys=KEYS)  # node A listens for the tenant in Redis now
        async with connect(ws_url(b.base, interview_id, token)) as candidate:
            assert json.loads(await candidate.recv())["type"] == "hello"
            await candidate.send(json.dumps({"v": 1, "type": "ready"}))
            asked = await next_of(dashboard, "question", interview_id=interview_id)  # published on B, seen on A
            assert asked["question"]["id"] == "q1"  # type: ignore[index]
            await candidate.send(json.dumps({"v": 1, "type": "chat", "text": "What is the salary for this role?"}))
            escalated = await next_of(dashboard, "chat", sender="candidate")
            assert escalated["text"] == "What is the salary for this role?"
            # HR answers on A; the candidate's node B receives it over interview:{id}
            await until_subscribed(inspect, f"interview:{interview_id}", keys=KEYS)
            await dashboard.send(json.dumps({"v": 1, "type": "chat.reply", "interview_id": interview_id, "text": "At the offer stage."}))
            reply = await next_of(candidate, "chat", sender="hr")
            assert reply["text"] == "At the offer stage."


async def test_requests_spread_over_two_nodes_are_limited_by_one_tenant_budget(
    tmp_path: Path, redis_server: RedisServer, cluster: list[Node]
) -> None:
    limits = {"INTERVIEW_HR_RATE_LIMIT_PER_S": "0.001", "INTERVIEW_HR_RATE_LIMIT_BURST": str(BURST)}
    a = await start(cluster, "node-a", tmp_path, redis_server, **limits)
    b = await start(cluster, "node-b", tmp_path, redis_server, **limits)
    async with httpx.AsyncClient(timeout=20) as http:
        statuses = [
            (node.node_id, (await http.get(f"{node.base}/api/v1/stats", headers=HR)).status_code) for _ in range(BURST) for node in (a, b)
        ]
    allowed = [node_id for node_id, status in statuses if status == 200]
    assert len(allowed) == BURST and set(allowed) == {"node-a", "node-b"}, statuses
    assert [status for _, status in statuses].count(429) == BURST


async def test_a_node_drained_through_another_refuses_new_interviews_and_finishes_its_live_one(
    tmp_path: Path, redis_server: RedisServer, cluster: list[Node]
) -> None:
    a = await start(cluster, "node-a", tmp_path, redis_server)
    b = await start(cluster, "node-b", tmp_path, redis_server)
    async with httpx.AsyncClient(timeout=20) as http:
        live_id, live_token = await schedule_text(http, a.base)
        new_id, new_token = await schedule_text(http, a.base)

        async def both_listed() -> bool:
            listed = (await http.get(f"{a.base}/api/v1/nodes", headers=HR)).json()["nodes"]
            return {n["node_id"] for n in listed} == {"node-a", "node-b"}

        await eventually(both_listed)
        async with connect(ws_url(b.base, live_id, live_token)) as ws:
            assert (await receive_json(ws))["type"] == "hello"
            asked = await http.post(f"{a.base}/api/v1/nodes/node-b/drain", headers=HR)
            assert asked.status_code == 202, asked.text

            async def b_not_ready() -> bool:
                return (await http.get(f"{b.base}/readyz")).status_code == 503

            await eventually(b_not_ready)
            await assert_refuses_new_interviews(b.base, http, new_id, new_token)
            async with connect(ws_url(a.base, new_id, new_token)) as elsewhere:  # the other node takes it
                assert json.loads(await elsewhere.recv())["type"] == "hello"
            await finish_text_interview(ws)

            async def b_shown_draining() -> bool:
                listed = (await http.get(f"{a.base}/api/v1/nodes", headers=HR)).json()["nodes"]
                return any(n["node_id"] == "node-b" and n["draining"] for n in listed)

            await eventually(b_shown_draining)
        state = (await http.get(f"{a.base}/api/v1/interviews/{live_id}", headers=HR)).json()
        assert state["interview"]["status"] == "completed"
        assert (await http.get(f"{a.base}/readyz")).status_code == 200


EVENTS = {"interview.scheduled", "interview.started", "interview.completed", "report.ready"}


async def test_an_interview_live_on_one_node_is_refused_by_the_other_until_it_ends_there(
    tmp_path: Path, redis_server: RedisServer, cluster: list[Node]
) -> None:
    a = await start(cluster, "node-a", tmp_path, redis_server)
    b = await start(cluster, "node-b", tmp_path, redis_server)
    async with httpx.AsyncClient(timeout=20) as http:
        interview_id, token = await schedule_text(http, a.base)
        async with connect(ws_url(a.base, interview_id, token)) as ws:
            assert (await receive_json(ws))["type"] == "hello"

            async def b_refuses() -> bool:  # A names itself in Redis a moment after it takes the interview
                try:
                    async with connect(ws_url(b.base, interview_id, token)):
                        return False
                except InvalidStatus as refused:
                    assert refused.response.status_code == 409
                    assert b"interview_live_on_another_node" in refused.response.body and b"node-a" in refused.response.body
                    return True

            await eventually(b_refuses)
            await finish_text_interview(ws)

        async def b_takes_it() -> bool:  # A let go when the interview ended
            try:
                async with connect(ws_url(b.base, interview_id, token)) as elsewhere:
                    return json.loads(await elsewhere.recv())["type"] == "hello"
            except InvalidStatus:
                return False

        await eventually(b_takes_it)


async def test_an_interview_cancelled_through_one_node_ends_on_the_node_that_runs_it(
    tmp_path: Path, redis_server: RedisServer, cluster: list[Node], inspect: redis.Redis
) -> None:
    a = await start(cluster, "node-a", tmp_path, redis_server)
    b = await start(cluster, "node-b", tmp_path, redis_server)
    async with httpx.AsyncClient(timeout=20) as http:
        interview_id, token = await schedule_text(http, a.base)
        async with connect(ws_url(a.base, interview_id, token)) as ws:
            assert (await receive_json(ws))["type"] == "hello"
            await ws.send(json.dumps({"v": 1, "type": "ready"}))
            await next_of(ws, "question")
            await until_subscribed(inspect, f"interview:{interview_id}", keys=KEYS)  # A listens for its interview
            cancelled = await http.post(f"{b.base}/api/v1/interviews/{interview_id}/cancel", headers=HR)
            assert cancelled.status_code == 200, cancelled.text
            assert (await next_of(ws, "completed"))["reason"] == "cancelled"
            await ws.wait_closed()
            assert ws.close_code == 1000, "node A closed the candidate's socket"


async def test_an_interview_scheduled_on_one_node_is_answered_on_another_and_read_back_on_the_first_without_a_shared_disk(
    tmp_path: Path, redis_server: RedisServer, cluster: list[Node]
) -> None:
    a = await start(cluster, "node-a", tmp_path, redis_server)
    b = await start(cluster, "node-b", tmp_path, redis_server)
    async with receiving(Receiver(free_port())) as receiver, httpx.AsyncClient(timeout=20) as http:
        registered = await http.post(f"{b.base}/api/v1/webhooks/endpoints", json={"url": receiver.url}, headers=HR)
        assert registered.status_code == 201, registered.text
        interview_id, token = await schedule_text(http, a.base)
        async with connect(ws_url(b.base, interview_id, token)) as ws:
            hello = await receive_json(ws)
            assert hello["type"] == "hello" and hello["interview"]["id"] == interview_id
            await finish_text_interview(ws)
        report = await http.get(f"{a.base}/api/v1/interviews/{interview_id}/report", headers=HR)
        assert report.status_code == 200, report.text
        assert report.json()["report"]["questions"][0]["typed"] == ["Because."]
        state = (await http.get(f"{a.base}/api/v1/interviews/{interview_id}", headers=HR)).json()
        assert state["interview"]["status"] == "completed" and [x["text"] for x in state["answers"]] == ["Because."]

        def ours(requests: list[Received]) -> list[Received]:  # only this test's interview's events
            return [r for r in requests if r.event["data"]["interview_id"] == interview_id]

        await receiver.wait_for(lambda r: {x.event["type"] for x in ours(r)} == EVENTS, timeout=30)
        for node in (a, b):  # both have looked again since: a second send of any of them would have gone out
            await node_sender_settled(http, node.base)
        assert sorted(r.event["type"] for r in ours(receiver.requests)) == sorted(EVENTS), "each event once"
        assert len({r.id for r in ours(receiver.requests)}) == len(EVENTS)
        listed = [(await http.get(f"{node.base}/api/v1/webhooks/deliveries", headers=HR)).json()["deliveries"] for node in (a, b)]
        assert listed[0] == listed[1], "every node lists the same deliveries"
        mine = [d for d in listed[0] if d["event_id"] in {r.id for r in ours(receiver.requests)}]
        assert len(mine) == len(EVENTS) and {d["status"] for d in mine} == {"delivered"}
        assert all(len(d["history"]) == 1 and d["history"][0]["status_code"] == 204 for d in mine)
    for node_id in ("node-a", "node-b"):  # nothing of the interview on either disk
        assert not (tmp_path / node_id / "interviews.sqlite3").exists()


async def test_a_dead_letter_made_on_one_node_is_listed_and_replayed_from_the_other(
    tmp_path: Path, redis_server: RedisServer, cluster: list[Node]
) -> None:
    retry_once = {"INTERVIEW_WEBHOOK_RETRY_SCHEDULE_S": "0.2"}
    a = await start(cluster, "node-a", tmp_path, redis_server, **retry_once)
    async with receiving(Receiver(free_port(), then=500)) as receiver, httpx.AsyncClient(timeout=20) as http:
        registered = await http.post(
            f"{a.base}/api/v1/webhooks/endpoints", json={"url": receiver.url, "event_types": ["interview.scheduled"]}, headers=HR
        )
        assert registered.status_code == 201, registered.text
        interview_id, _ = await schedule_text(http, a.base)

        def ours(requests: list[Received]) -> list[Received]:  # only this test's interview's events
            return [r for r in requests if r.event["data"]["interview_id"] == interview_id]

        await receiver.wait_for(lambda r: len(ours(r)) == 2)
        event_id = ours(receiver.requests)[0].id
        b = await start(cluster, "node-b", tmp_path, redis_server, **retry_once)

        async def on_b() -> dict:
            rows = (await http.get(f"{b.base}/api/v1/webhooks/deliveries", params={"event_id": event_id}, headers=HR)).json()
            return rows["deliveries"][0]

        async def dead() -> bool:
            return (await on_b())["status"] == "dead"

        await eventually(dead)
        assert [h["status_code"] for h in (await on_b())["history"]] == [500, 500] and (await on_b())["last_error"] == "HTTP 500"
        receiver.then = 204
        a.kill()  # the replay goes out although the node that gave up on it is gone
        replayed = await http.post(f"{b.base}/api/v1/webhooks/deliveries/{(await on_b())['id']}/replay", headers=HR)
        assert replayed.status_code == 202, replayed.text
        await receiver.wait_for(lambda r: len(ours(r)) == 3)

        async def delivered() -> bool:
            return (await on_b())["status"] == "delivered"

        await eventually(delivered)
        await node_sender_settled(http, b.base)  # the one node left has looked again since
        assert len(ours(receiver.requests)) == 3 and {r.id for r in ours(receiver.requests)} == {event_id}
        assert (await http.post(f"{b.base}/api/v1/webhooks/deliveries/dlv_nope/replay", headers=HR)).status_code == 404


async def test_a_node_whose_redis_store_does_not_answer_refuses_to_start_and_says_why(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    data_dir.mkdir()
    process = start_server(data_dir, free_port(), extra_env={"INTERVIEW_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    assert process.wait(30) != 0
    log = (tmp_path / "server.log").read_text()
    assert "the interview store is in Redis (INTERVIEW_REDIS_URL), which does not answer" in log, log


@pytest.mark.parametrize("store", ["sqlite", "redis"])
async def test_one_idempotency_key_sent_to_two_nodes_at_once_makes_one_interview(
    tmp_path: Path, redis_server: RedisServer, cluster: list[Node], store: str
) -> None:
    a = await start(cluster, "node-a", tmp_path, redis_server, store=store)
    b = await start(cluster, "node-b", tmp_path, redis_server, store=store)
    body = {
        "job": {"title": "Backend engineer", "language": "en"},
        "candidate": {"name": "Two Nodes"},
        "mode": "text",
        "max_questions": 1,
        "question_bank": [{"id": "q1", "competency": "skills", "difficulty": "standard", "text": {"en": "Why?"}}],
    }
    async with httpx.AsyncClient(timeout=20) as http:

        async def create(node: Node, key: str) -> httpx.Response:
            return await http.post(f"{node.base}/api/v1/interviews", json=body, headers={**HR, "Idempotency-Key": key})

        made: set[str] = set()
        for trial in range(5):
            key = f"create-{store}-{trial}"
            answers = await asyncio.gather(create(a, key), create(b, key))
            assert sorted(r.status_code for r in answers) in ([201, 201], [201, 409]), [r.text for r in answers]
            for refused in (r for r in answers if r.status_code == 409):
                assert refused.json()["code"] == "idempotency_key_in_use" and refused.headers["Retry-After"] == "1"
            ids = {r.json()["interview"]["id"] for r in answers if r.status_code == 201}
            assert len(ids) == 1, f"trial {trial}: two interviews for one key"
            retried = await create(b, key)  # whoever lost the race: a retry gets the first answer
            assert retried.status_code == 201 and retried.headers["Idempotent-Replayed"] == "true"
            assert retried.json()["interview"]["id"] in ids
            made |= ids
        listed = (await http.get(f"{a.base}/api/v1/interviews", params={"q": "Two Nodes"}, headers=HR)).json()["interviews"]
        assert {row["id"] for row in listed} == made and len(made) == 5
