"""Draining: a node that is shutting down refuses new interviews (503, readyz 503) and lets its live ones finish."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from loadtests.whip_client import give_consent
from tests.conftest import API_KEY, free_port, make_settings, serving
from tests.helpers.interviews import assert_refuses_new_interviews, finish_text_interview, receive_json, ws_url
from tests.helpers.processes import start_server, wait_healthy

HR = {"X-API-Key": API_KEY}
TEXT = {"mode": "text", "questions": 1}


async def test_a_drained_node_refuses_new_interviews_and_its_live_one_completes(tmp_path: Path) -> None:
    async with serving(make_settings(tmp_path / "data", node_id="node-a")) as node:
        live, live_token = await node.schedule(**TEXT)  # type: ignore[arg-type]
        new, new_token = await node.schedule(**TEXT)  # type: ignore[arg-type]
        async with connect(ws_url(node.url, live.id, live_token)) as ws:
            assert (await receive_json(ws))["type"] == "hello"
            drained = await node.http.post(f"{node.url}/api/v1/nodes/node-a/drain", headers=HR)
            assert drained.status_code == 200 and drained.json()["draining"] is True
            await assert_refuses_new_interviews(node.url, node.http, new.id, new_token)
            await finish_text_interview(ws)
        assert (await node.interview_state(live.id))["interview"]["status"] == "completed"
        assert (await node.interview_state(new.id))["interview"]["status"] == "scheduled"
        missing = await node.http.post(f"{node.url}/api/v1/nodes/node-zz/drain", headers=HR)
        assert missing.status_code == 404 and missing.json()["code"] == "node_not_found"


async def test_sigterm_drains_the_node_and_it_exits_once_its_live_interview_is_done(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(tmp_path / "data", port)
    try:
        await wait_healthy(base, server)
        async with httpx.AsyncClient(timeout=20) as http:
            created = []
            for _ in range(2):
                body = {
                    "job": {"title": "Backend engineer", "language": "en"},
                    "candidate": {"name": "Drain Test"},
                    "mode": "text",
                    "max_questions": 1,
                    "question_bank": [{"id": "q1", "competency": "skills", "difficulty": "standard", "text": {"en": "Why?"}}],
                }
                response = await http.post(f"{base}/api/v1/interviews", json=body, headers=HR)
                created.append((response.json()["interview"]["id"], response.json()["invite_token"]))
                await give_consent(http, f"{base}/api/v1/interviews/{created[-1][0]}", created[-1][1])
            (live_id, live_token), (new_id, new_token) = created
            async with connect(ws_url(base, live_id, live_token)) as ws:
                assert (await receive_json(ws))["type"] == "hello"
                server.send_signal(signal.SIGTERM)
                while (await http.get(f"{base}/readyz")).status_code != 503:
                    assert server.poll() is None
                    await asyncio.sleep(0.05)
                await assert_refuses_new_interviews(base, http, new_id, new_token)
                assert server.poll() is None, "the node exited with an interview still live"
                await finish_text_interview(ws)
        assert server.wait(30) == 0
    finally:
        server.kill()
        server.wait(10)
