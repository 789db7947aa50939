"""Kill test: reports of interviews completed while the HRMS is down survive a SIGKILL of the server and arrive once each."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from tests.conftest import API_KEY, free_port
from tests.helpers.processes import complete_text_interview, start_server, wait_healthy
from tests.helpers.waiting import eventually, node_sender_settled
from tests.helpers.webhook_receiver import Receiver, receiving

HR = {"X-API-Key": API_KEY}
INTERVIEWS = 3


async def test_reports_written_while_the_receiver_is_down_arrive_once_each_after_a_sigkill(tmp_path: Path) -> None:
    port, receiver = free_port(), Receiver(free_port())
    base = f"http://127.0.0.1:{port}"
    server = start_server(tmp_path / "data", port)
    try:
        await wait_healthy(base, server)
        async with httpx.AsyncClient(timeout=20) as http:
            registered = await http.post(
                f"{base}/api/v1/webhooks/endpoints", json={"url": receiver.url, "event_types": ["report.ready"]}, headers=HR
            )
            assert registered.status_code == 201, registered.text
            completed = {await complete_text_interview(http, base) for _ in range(INTERVIEWS)}

            async def each_tried_against_the_closed_port() -> bool:
                pending = (await http.get(f"{base}/api/v1/webhooks/deliveries", params={"status": "pending"}, headers=HR)).json()
                return len(pending["deliveries"]) == INTERVIEWS and all(d["attempts"] >= 1 for d in pending["deliveries"])

            await eventually(each_tried_against_the_closed_port, what="a failed attempt of each delivery")
        server.send_signal(signal.SIGKILL)
        server.wait(10)

        server = start_server(tmp_path / "data", port)
        await wait_healthy(base, server)
        async with receiving(receiver):
            await receiver.wait_for(lambda r: len({x.event["data"]["interview_id"] for x in r}) == INTERVIEWS, timeout=60)
            async with httpx.AsyncClient(timeout=20) as http:
                await node_sender_settled(http, base)  # it has looked again since: anything sent twice has gone out
        ids = [r.id for r in receiver.requests]
        assert len(ids) == len(set(ids)) == INTERVIEWS, ids
        assert {r.event["data"]["interview_id"] for r in receiver.requests} == completed
        assert all(r.event["data"]["report"]["questions"][0]["typed"] == ["Because."] for r in receiver.requests)
    finally:
        server.kill()
        server.wait(10)
