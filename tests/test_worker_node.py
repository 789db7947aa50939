"""A node of several worker processes behind one port (`serve --workers 2`), without Redis: the supervisor hands each
connection to the right worker, the workers share one bus and report as one node, a killed worker comes back, and
SIGTERM drains them all."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from websockets.asyncio.client import ClientConnection, connect

from loadtests.whip_client import WhipPublisher
from realtime_scoring.shared_recogniser.client import RecogniserUnavailable, RemoteTranscriber
from server.cluster.node_registry import NodeRegistry
from server.ops.connection_limits import ConnectionGuard
from server.rtc.ice import advertise_host_addresses
from server.settings import Settings
from server.storage.redis_client import Keys
from server.workers.recogniser import shares_recogniser
from server.workers.routing import (
    HANDED_RECENTLY_S,
    ClientCounts,
    RequestTarget,
    WorkerTable,
    affinity_key,
    following_key,
    metrics_worker,
    request_target,
)
from tests.conftest import API_KEY, MODEL_DIR, free_port
from tests.helpers.interviews import assert_refuses_new_interviews, finish_text_interview, next_of, receive_json, ws_url
from tests.helpers.processes import schedule_one_question, start_server, wait_healthy
from tests.helpers.redis_server import RedisServer, client_for, until_subscribed
from tests.helpers.waiting import eventually

HR = {"X-API-Key": API_KEY}
REDIS_PREFIX = "workers:"


# -- routing, in the supervisor's own process ----------------------------------------------------------------------


def test_the_request_line_names_the_interview_whose_worker_must_serve_it() -> None:
    whip = request_target(b"POST /api/v1/interviews/abc123/whip HTTP/1.1\r\nHost: x\r\n")
    patch = request_target(b"PATCH /api/v1/interviews/abc123/whip/s-9?x=1 HTTP/1.1\r\n")
    socket_ = request_target(b"GET /ws/interviews/abc123?token=t HTTP/1.1\r\n")
    report = request_target(b"GET /api/v1/interviews/abc123/report HTTP/1.1\r\n")
    assert whip is not None and patch is not None and socket_ is not None and report is not None
    assert affinity_key(whip) == affinity_key(patch) == affinity_key(socket_) == "abc123"
    assert affinity_key(report) is None  # the store answers it on any worker
    interview = request_target(b"GET /api/v1/interviews/abc123 HTTP/1.1\r\n")
    assert interview is not None and affinity_key(interview) is None and following_key(interview) == "abc123"
    assert request_target(b"POST /api/v1/interviews/abc123/whip HTTP/1.1") is None  # the line has not ended yet
    assert request_target(b"\x16\x03\x01\x02\x00\x01\x00") is None  # TLS belongs in front of the node
    assert metrics_worker(RequestTarget("GET", "/metrics", "worker=1")) == 1
    assert metrics_worker(RequestTarget("GET", "/metrics", "")) == 0
    assert metrics_worker(RequestTarget("GET", "/healthz", "")) is None


def test_new_interviews_go_to_the_least_loaded_accepting_worker_and_stay_there() -> None:
    table = WorkerTable()
    assert table.choose("a") is None  # no worker ready yet
    table.reported(0, sessions=4, accepting=True, held=frozenset())
    table.reported(1, sessions=1, accepting=True, held=frozenset())
    table.reported(2, sessions=0, accepting=False, held=frozenset())  # strained: refuses new interviews
    assert table.choose("a") == 1
    assert table.choose("b") == 1  # 1 + 1 sent and not yet running there is still below 4
    assert table.choose("c") == 1
    assert table.choose("d") in (0, 1)
    assert table.choose("a") == 1  # an interview stays on its worker
    table.reported(0, sessions=4, accepting=True, held=frozenset({"z"}))
    assert table.choose("z") == 0  # where a worker says it runs an interview, it runs there
    assert table.choose(None, follow="a") == 1  # HR reading the interview reads its live media's counters there
    assert table.choose(None, follow="never-placed") in (0, 1) and table.placements == 5  # reading places nothing
    table.gone(1)
    assert table.choose("a") == 0  # its worker died: the interview starts again elsewhere
    table.reported(0, sessions=4, accepting=False, held=frozenset())
    table.loads.pop(2)
    assert table.choose("e") == 0  # every worker strained: the worker itself answers 503 node_busy


def test_an_interview_sent_to_a_worker_counts_there_until_the_worker_runs_it() -> None:
    table = WorkerTable()
    table.reported(0, sessions=0, accepting=True, held=frozenset())
    table.reported(1, sessions=0, accepting=True, held=frozenset())
    assert table.choose("a") == 0
    table.reported(0, sessions=0, accepting=True, held=frozenset())  # read before "a" reached worker 0
    assert table.choose("b") == 1  # "a" still counts on worker 0
    table.reported(0, sessions=1, accepting=True, held=frozenset({"a"}))
    table.reported(1, sessions=1, accepting=True, held=frozenset({"b"}))
    assert table.choose("c") == 0
    never = WorkerTable(arriving_s=0.0)
    never.reported(0, sessions=0, accepting=True, held=frozenset())
    never.reported(1, sessions=0, accepting=True, held=frozenset())
    assert never.choose("refused") == 0
    never.reported(0, sessions=0, accepting=True, held=frozenset())  # it never arrived (its offer was refused)
    assert never.choose("next") == 0


def test_an_interview_held_before_its_media_session_opens_still_counts() -> None:
    table = WorkerTable()
    table.reported(0, sessions=1, accepting=True, held=frozenset({"a"}))
    table.reported(1, sessions=1, accepting=True, held=frozenset({"b"}))
    assert table.choose("c", now=0.0) == 0
    # Worker 0's report from while it answered c's offer: c held, its session not open yet.
    table.reported(0, sessions=1, accepting=True, held=frozenset({"a", "c"}))
    assert table.choose("d", now=0.1) == 1, "c counts on worker 0 either way"


def test_requests_without_an_interview_take_the_ready_workers_in_turn() -> None:
    table = WorkerTable()
    table.reported(0, sessions=0, accepting=True, held=frozenset())
    table.reported(1, sessions=0, accepting=True, held=frozenset())
    chosen = [table.choose(None) for _ in range(4)]
    assert sorted(chosen) == [0, 0, 1, 1] and chosen[0] != chosen[1]


def test_the_workers_share_a_recogniser_where_whisper_runs_on_a_gpu_or_when_asked() -> None:
    def shared(workers: int = 2, **fields: object) -> bool:
        return shares_recogniser(Settings.model_validate({"scoring": True, "device": "cpu", **fields}), workers)

    assert not shared(), "on a CPU node each worker's own recogniser scales with the cores"
    assert shared(shared_recogniser="on")
    assert not shared(1, shared_recogniser="on"), "one worker is its own node's recogniser"
    assert not shared(shared_recogniser="on", scoring=False)
    assert not shared(shared_recogniser="off", device="cuda")


def test_placements_are_bounded() -> None:
    table = WorkerTable(max_placements=10)
    table.reported(0, sessions=0, accepting=True, held=frozenset())
    for n in range(50):
        table.choose(f"i{n}")
    assert table.placements == 10


def test_one_address_is_counted_across_the_workers_and_in_the_supervisors_waiting_room() -> None:
    counts = ClientCounts(max_per_client=10, max_waiting=2)
    assert counts.begin_waiting("198.51.100.7") and counts.begin_waiting("198.51.100.7")
    assert not counts.begin_waiting("198.51.100.7"), "a third connection still sending nothing is refused"
    assert counts.begin_waiting("198.51.100.8"), "another address is not"
    counts.end_waiting("198.51.100.7")
    assert counts.begin_waiting("198.51.100.7")

    counts.reported(0, {"198.51.100.7": 5}, taken=5, now=0.0)
    counts.reported(1, {"198.51.100.7": 4}, taken=4, now=0.0)
    assert counts.admits("198.51.100.7", now=0.0), "nine held across two workers: a tenth may open"
    counts.handed("198.51.100.7", 1, now=0.0)  # worker 1's first connection as the supervisor numbers them
    assert not counts.admits("198.51.100.7", now=0.05), "the one just handed over counts before its worker reports it"
    counts.reported(0, {"198.51.100.7": 5}, taken=5, now=0.5)
    counts.reported(1, {"198.51.100.7": 4}, taken=0, now=0.5)  # a report from before the worker took it
    assert not counts.admits("198.51.100.7", now=0.5), "a report that does not include it leaves it counted"
    counts.reported(1, {"198.51.100.7": 5}, taken=1, now=0.6)
    assert not counts.admits("198.51.100.7", now=0.6), "its worker's report does, and it counts once"
    counts.reported(1, {"198.51.100.7": 4}, taken=1, now=1.0)  # it closed
    assert counts.admits("198.51.100.7", now=1.0)
    counts.handed("198.51.100.7", 0, now=1.0)
    assert counts.admits("198.51.100.7", now=1.0 + HANDED_RECENTLY_S), "a hand-over no report showed counts a second"
    counts.gone(0)
    assert counts.admits("198.51.100.7", now=1.1)


def test_a_worker_reports_only_its_busiest_addresses() -> None:
    guard = ConnectionGuard(100, 50, 10.0, [])
    transports = [object() for _ in range(12)]
    for n, transport in enumerate(transports):
        guard.open(transport, "203.0.113.1" if n < 9 else f"203.0.113.{n}")  # type: ignore[arg-type]
    assert guard.busy_clients(8, 64) == {"203.0.113.1": 9}
    guard.close(transports[0])  # type: ignore[arg-type]
    assert guard.busy_clients(8, 64) == {"203.0.113.1": 8}


async def test_a_node_of_workers_counts_them_together_and_knows_what_each_runs() -> None:
    siblings = [
        {
            "live_interviews": 2,
            "media_sessions": 2,
            "session_limit": 8,
            "accepting_interviews": True,
            "load_level": "ok",
            "cpu_session_capacity": 5,
        }
    ]
    node = NodeRegistry(
        "node-1",
        "http://node-1",
        None,
        Keys("t:"),
        1.0,
        load=lambda: {
            "live_interviews": 1,
            "media_sessions": 1,
            "session_limit": 8,
            "accepting_interviews": False,
            "load_level": "behind",
            "cpu_session_capacity": 3,
        },
        siblings=lambda: siblings,
        sibling_holding=lambda interview_id: interview_id == "on-the-other-worker",
    )
    info = node.info()
    assert (info["live_interviews"], info["media_sessions"], info["session_limit"]) == (3, 3, 16)
    assert info["accepting_interviews"] is True and info["load_level"] == "ok"  # the supervisor places new ones on the other
    assert info["cpu_session_capacity"] == 5, "both workers count the same cores: 3 sessions and the room for 2 the fuller sees"
    assert len(info["workers"]) == 2
    # The abandoned-interview sweep asks this: an interview live on another worker is not abandoned by this one.
    assert await node.holder("on-the-other-worker") == "node-1"
    assert await node.holder("nowhere") is None


# -- a real node of two workers -------------------------------------------------------------------------------------


class WorkerNode:
    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # Media over loopback, as the test's own candidates offer it (the test namespace has no other interface).
        loopback_ice = {"INTERVIEW_ICE_HOST_ADDRESSES": "127.0.0.1", "INTERVIEW_ICE_ALLOWED_NETWORKS": "127.0.0.0/8"}
        advertise_host_addresses(["127.0.0.1"])
        self.process = start_server(tmp_path / "data", self.port, extra_env={"INTERVIEW_WORKERS": "2", **loopback_ice, **env})

    async def nodes(self, http: httpx.AsyncClient) -> dict[str, object]:
        response = await http.get(f"{self.base}/api/v1/nodes", headers=HR)
        assert response.status_code == 200, response.text
        listed: list[dict[str, object]] = response.json()["nodes"]
        assert len(listed) == 1  # one node, whichever worker answered
        return listed[0]

    async def both_workers_ready(self, http: httpx.AsyncClient) -> None:
        async def two_workers_report() -> bool:
            workers = (await self.nodes(http)).get("workers")
            return isinstance(workers, list) and len(workers) == 2

        await eventually(two_workers_report, timeout=60)


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[WorkerNode]:
    async for started in running(WorkerNode(tmp_path)):
        yield started


@pytest.fixture
async def redis_node(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[WorkerNode]:
    """The workers' events go through Redis, as a cluster's nodes' do; the interviews too."""
    async for started in running(WorkerNode(tmp_path, INTERVIEW_REDIS_URL=redis_server.url, INTERVIEW_REDIS_PREFIX=REDIS_PREFIX)):
        yield started


async def running(started: WorkerNode) -> AsyncIterator[WorkerNode]:
    try:
        await wait_healthy(started.base, started.process)
        async with httpx.AsyncClient(timeout=20) as http:
            await started.both_workers_ready(http)
        yield started
    finally:
        started.process.kill()
        started.process.wait(10)
        # Workers of a supervisor killed outright notice their line is gone and drain; none is left holding a port.


async def schedule(http: httpx.AsyncClient, base: str, mode: str = "text") -> tuple[str, str]:
    return await schedule_one_question(http, base, "Worker Node", mode)


async def dashboard(http: httpx.AsyncClient, base: str) -> ClientConnection:
    token = (await http.post(f"{base}/api/v1/hr/sessions", headers=HR)).json()["token"]
    ws = await connect(base.replace("http://", "ws://") + f"/ws/hr?token={token}")
    await next_of(ws, "interviews")
    return ws


async def test_dashboards_on_both_workers_follow_and_answer_an_interview_that_runs_on_one(node: WorkerNode) -> None:
    await dashboards_follow_an_interview_on_either_worker(node)


async def test_with_redis_dashboards_on_both_workers_follow_and_answer_an_interview_that_runs_on_one(
    redis_node: WorkerNode, redis_server: RedisServer
) -> None:
    client = client_for(redis_server)

    async def candidates_worker_listens(interview_id: str) -> None:
        # Redis takes the running worker's subscription a moment after the interview starts (as between nodes).
        await until_subscribed(client, f"interview:{interview_id}", keys=Keys(REDIS_PREFIX))

    try:
        await dashboards_follow_an_interview_on_either_worker(redis_node, candidates_worker_listens)
    finally:
        await client.aclose()


async def dashboards_follow_an_interview_on_either_worker(
    node: WorkerNode, before_replies: Callable[[str], Awaitable[None]] | None = None
) -> None:
    async with httpx.AsyncClient(timeout=20) as http:
        interview_id, token = await schedule(http, node.base)
        # Dashboards take the workers in turn: of two opened one after the other, one is not on the interview's worker.
        first, second = await dashboard(http, node.base), await dashboard(http, node.base)
        try:
            async with connect(ws_url(node.base, interview_id, token)) as candidate:
                assert (await receive_json(candidate))["type"] == "hello"
                await candidate.send(json.dumps({"v": 1, "type": "ready"}))
                for hr in (first, second):
                    asked = await next_of(hr, "question", interview_id=interview_id)
                    assert asked["question"]["id"] == "q1"
                await candidate.send(json.dumps({"v": 1, "type": "chat", "text": "What is the salary for this role?"}))
                for hr in (first, second):
                    assert (await next_of(hr, "chat", sender="candidate"))["text"] == "What is the salary for this role?"
                if before_replies is not None:
                    await before_replies(interview_id)
                for n, hr in enumerate((first, second)):
                    await hr.send(json.dumps({"v": 1, "type": "chat.reply", "interview_id": interview_id, "text": f"Reply {n}."}))
                    assert (await next_of(candidate, "chat", sender="hr"))["text"] == f"Reply {n}."

                async def one_live_on_one_worker() -> bool:  # workers hear each other's load within a second or so
                    listed = await node.nodes(http)
                    workers = sorted(w["live_interviews"] for w in listed["workers"])  # type: ignore[attr-defined]
                    return listed["live_interviews"] == 1 and workers == [0, 1]

                await eventually(one_live_on_one_worker, timeout=10)
                await candidate.send(json.dumps({"v": 1, "type": "answer.text", "question_id": "q1", "text": "Because."}))
                await candidate.send(json.dumps({"v": 1, "type": "answer.done", "question_id": "q1"}))
                await next_of(candidate, "completed")
        finally:
            await first.close()
            await second.close()
        report = await http.get(f"{node.base}/api/v1/interviews/{interview_id}/report", headers=HR)
        assert report.status_code == 200  # written by one worker, read through either


@pytest.mark.webrtc
async def test_each_candidates_offer_trickle_and_hang_up_reach_the_worker_that_holds_the_media(node: WorkerNode) -> None:
    async with httpx.AsyncClient(timeout=20) as http:
        publishers = []
        try:
            for _ in range(4):
                interview_id, token = await schedule(http, node.base, mode="video")
                publisher = WhipPublisher(node.base, interview_id, token, http)
                await publisher.publish([AudioStreamTrack(), VideoStreamTrack()])
                publishers.append(publisher)

            async def spread_two_and_two() -> bool:
                workers = (await node.nodes(http))["workers"]
                return sorted(w["media_sessions"] for w in workers) == [2, 2]  # type: ignore[attr-defined,union-attr]

            await eventually(spread_two_and_two, timeout=10)
            for publisher in publishers:  # HR reading an interview gets its live media counters from the worker holding it
                interview_url = publisher.endpoint.removesuffix("/whip")

                async def media_arrives(url: str = interview_url) -> bool:
                    state = (await http.get(url, headers=HR)).json()
                    return int(((state.get("media") or {}).get("stats") or {}).get("video_frames", 0)) > 0

                await eventually(media_arrives, timeout=20, what="the candidate's video decoded on the worker holding it")
            for publisher in publishers:
                assert publisher.resource is not None
                # A PATCH that reached a worker without the session would be 404; this one knows the ETag.
                trickle = await http.patch(
                    publisher.resource,
                    content=b"a=end-of-candidates\r\n",
                    headers={**publisher.auth, "Content-Type": "application/trickle-ice-sdpfrag", "If-Match": publisher.etag or ""},
                )
                assert trickle.status_code in (204, 200), trickle.text
                hang_up = await http.delete(publisher.resource, headers=publisher.auth)
                assert hang_up.status_code == 200, hang_up.text
                publisher.resource = None

            async def none_left() -> bool:
                return (await node.nodes(http))["media_sessions"] == 0

            await eventually(none_left, timeout=10)
        finally:
            for publisher in publishers:
                await publisher.close()


@pytest.mark.webrtc
async def test_the_workers_decode_on_the_nodes_one_shared_recogniser_which_ends_with_the_node(tmp_path: Path, speech_wav: Path) -> None:
    recogniser = tmp_path / "recogniser.sock"
    env = {
        "INTERVIEW_SCORING": "true",
        "INTERVIEW_MODEL_DIR": str(MODEL_DIR),
        "INTERVIEW_RECOGNISER_SOCKET": str(recogniser),
        "INTERVIEW_SHARED_RECOGNISER": "on",  # auto shares it only where Whisper runs on a GPU
    }
    shared = RemoteTranscriber(recogniser)
    try:
        async for node in running(WorkerNode(tmp_path, **env)):
            await speak_on_both_workers(node, speech_wav, shared)

        # The supervisor was killed outright: its lifeline gone, the recogniser exits too.
        async def recogniser_gone() -> bool:
            shared.close()
            try:
                await asyncio.to_thread(shared.server_stats)
            except RecogniserUnavailable:
                return True
            return False

        await eventually(recogniser_gone, timeout=20, what="the recogniser exits with its node")
    finally:
        shared.close()


async def speak_on_both_workers(node: WorkerNode, speech_wav: Path, shared: RemoteTranscriber) -> None:
    """Two candidates speaking, one on each worker with its page open, until both workers' speech reached the recogniser."""
    async with httpx.AsyncClient(timeout=20) as http:
        publishers, players, sockets = [], [], []
        try:
            for count in (1, 2):
                interview_id, token = await schedule(http, node.base, mode="video")
                sockets.append(await connect(ws_url(node.base, interview_id, token)))
                players.append(player := MediaPlayer(str(speech_wav), loop=True))
                assert player.audio is not None
                publishers.append(publisher := WhipPublisher(node.base, interview_id, token, http))
                await publisher.publish([player.audio, VideoStreamTrack()])

                async def placed(count: int = count) -> bool:
                    return (await node.nodes(http))["media_sessions"] == count

                await eventually(placed, timeout=20, what="the interview placed")
            workers = (await node.nodes(http))["workers"]
            assert isinstance(workers, list) and sorted(w["media_sessions"] for w in workers) == [1, 1]
            seen: dict[str, object] = {}

            async def both_workers_decoded() -> bool:
                seen.update(await asyncio.to_thread(shared.server_stats))
                return seen["client_processes"] == 2 and seen["failed"] == 0

            try:
                await eventually(both_workers_decoded, timeout=90, what="both workers' speech decoded by the one recogniser")
            except TimeoutError as exc:
                raise AssertionError(f"the recogniser served {seen}") from exc
        finally:
            for ws in sockets:
                await ws.close()
            for publisher in publishers:
                await publisher.close()
            for player in players:
                if player.audio is not None:
                    player.audio.stop()


async def status_from(port: int, address: str, request: bytes = b"GET /healthz HTTP/1.1\r\nHost: node\r\n\r\n") -> int:
    """The status a connection from `address` (a loopback address other than the trusted proxy's) is answered with."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0))
    try:
        writer.write(request)
        status_line = await asyncio.wait_for(reader.readline(), 10)
        return int(status_line.split()[1])
    finally:
        writer.close()


async def test_one_address_is_capped_across_the_workers_and_cannot_fill_the_supervisors_waiting_room(tmp_path: Path) -> None:
    cap = 16
    held: list[asyncio.StreamWriter] = []
    readers: dict[str, list[asyncio.StreamReader]] = {}

    async def refused(address: str, sent: bytes, within_s: float = 0.2) -> bool:
        """Opens a connection that sends `sent` and holds it; True if the node answered it with 429 within `within_s`
        (a connection held open waiting for the rest of its request is never answered before its header timeout)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", started.port, local_addr=(address, 0))
        writer.write(sent)
        held.append(writer)
        readers.setdefault(address, []).append(reader)
        return await answered_429(reader, within_s)

    async def answered_429(reader: asyncio.StreamReader, within_s: float) -> bool:
        try:
            first = await asyncio.wait_for(reader.readline(), within_s)
        except TimeoutError:
            return False
        return first.startswith(b"HTTP/1.1 429")

    env = {"INTERVIEW_MAX_CONNECTIONS_PER_CLIENT": str(cap), "INTERVIEW_HTTP_HEADER_TIMEOUT_S": "60"}
    async for started in running(WorkerNode(tmp_path, **env)):
        try:
            # Connections that never send a request line wait in the supervisor: one address has `cap` places there.
            assert not any([await refused("127.0.0.2", b"") for _ in range(cap)])
            assert await refused("127.0.0.2", b"", within_s=10)
            assert await status_from(started.port, "127.0.0.3") == 200, "another address is served meanwhile"

            # Connections whose request line came are handed to the workers in turn, each counting its own share (a
            # worker alone would let one address hold `cap` on each): the node refuses the address at `cap` in all.
            opened = 0
            while not await refused("127.0.0.4", b"GET /healthz HTTP/1.1\r\n"):
                opened += 1
                assert opened <= 2 * cap, "the cap holds across the workers"
            # A refusal slower than `refused` waits (a busy machine) was counted as held: count the refusals now.
            refused_late = await asyncio.gather(*(answered_429(reader, 2.0) for reader in readers["127.0.0.4"][:-1]))
            assert opened - sum(refused_late) == cap, "the cap holds across the workers"
            await asyncio.sleep(HANDED_RECENTLY_S + 0.5)  # now only the workers' reports count them
            assert await status_from(started.port, "127.0.0.4") == 429
            assert await status_from(started.port, "127.0.0.3") == 200
        finally:
            for writer in held:
                writer.close()


async def test_a_killed_worker_is_started_again_and_the_node_answers_meanwhile(node: WorkerNode) -> None:
    async with httpx.AsyncClient(timeout=20) as http:
        workers = _children(node.process.pid)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)

        async def reaped() -> bool:  # a connection handed to a worker as it dies dies with it, as in any crash
            return workers[0] not in _children(node.process.pid)

        await eventually(reaped, timeout=10)
        for _ in range(6):  # the other worker answers every request while the first one starts again
            assert (await http.get(f"{node.base}/api/v1/interviews", headers=HR)).status_code == 200

        async def replaced() -> bool:
            now = _children(node.process.pid)
            return len(now) == 2 and workers[0] not in now

        await eventually(replaced, timeout=30)
        await node.both_workers_ready(http)
        interview_id, token = await schedule(http, node.base)
        async with connect(ws_url(node.base, interview_id, token)) as ws:
            assert (await receive_json(ws))["type"] == "hello"
            await finish_text_interview(ws)


async def test_sigterm_drains_every_worker_and_the_node_exits_once_its_live_interview_is_done(node: WorkerNode) -> None:
    async with httpx.AsyncClient(timeout=20) as http:
        live_id, live_token = await schedule(http, node.base)
        new_id, new_token = await schedule(http, node.base)
        async with connect(ws_url(node.base, live_id, live_token)) as ws:
            assert (await receive_json(ws))["type"] == "hello"
            node.process.send_signal(signal.SIGTERM)

            async def both_draining() -> bool:
                answers = [(await http.get(f"{node.base}/readyz")).status_code for _ in range(2)]  # each worker in turn
                return answers == [503, 503]

            await eventually(both_draining, timeout=10)
            await assert_refuses_new_interviews(node.base, http, new_id, new_token)
            assert node.process.poll() is None, "the node exited with an interview still live"
            await finish_text_interview(ws)
    assert await asyncio.to_thread(node.process.wait, 30) == 0


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


async def test_workers_whose_supervisor_dies_drain_and_exit(node: WorkerNode) -> None:
    workers = _children(node.process.pid)
    assert len(workers) == 2
    node.process.kill()  # nothing new can reach them: they finish what they hold (nothing here) and go
    node.process.wait(10)

    async def all_gone() -> bool:
        return not any(Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid) for pid in workers)

    await eventually(all_gone, timeout=30)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"
