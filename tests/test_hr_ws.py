"""The HR dashboard's websocket: sign-in, the tenant's interview list, live changes, watching one, chat with the candidate."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.conftest import API_KEY, LiveServer, make_settings, serving
from tests.helpers.interviews import next_of

OTHER_KEY = "other-tenant-key-0123456789"


async def hr_token(server: LiveServer, key: str = API_KEY) -> str:
    response = await server.http.post(f"{server.url}/api/v1/hr/sessions", headers={"X-API-Key": key})
    assert response.status_code == 201, response.text
    return response.json()["token"]


async def open_hr(server: LiveServer, key: str = API_KEY) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await connect(server.url.replace("http://", "ws://") + f"/ws/hr?token={await hr_token(server, key)}")
    first = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert first["type"] == "interviews"
    return ws, first


@pytest.fixture
async def two_tenants(tmp_path: Path) -> Any:
    settings = make_settings(tmp_path / "data", api_keys=[], tenants={"default": [API_KEY], "acme": [OTHER_KEY]})
    async with serving(settings) as server:
        yield server


async def test_the_socket_refuses_a_missing_or_invite_token_with_401(live_server: LiveServer) -> None:
    base = live_server.url.replace("http://", "ws://") + "/ws/hr"
    _, invite = await live_server.schedule()
    for url in (base, f"{base}?token={invite}", f"{base}?token={API_KEY}"):
        with pytest.raises(InvalidStatus) as refused:
            await connect(url)
        assert refused.value.response.status_code == 401


async def test_a_session_needs_a_valid_api_key(live_server: LiveServer) -> None:
    response = await live_server.http.post(f"{live_server.url}/api/v1/hr/sessions", headers={"X-API-Key": "wrong"})
    assert response.status_code == 401 and response.json()["code"] == "invalid_api_key"


async def test_the_list_holds_only_the_tenants_interviews_and_a_new_one_arrives_live(two_tenants: LiveServer) -> None:
    server = two_tenants
    mine, _ = await server.schedule(job_title="Backend engineer")
    ws, first = await open_hr(server)
    other_ws, other_first = await open_hr(server, OTHER_KEY)
    async with ws, other_ws:
        assert [i["id"] for i in first["interviews"]] == [mine.id] and other_first["interviews"] == []
        assert first["interviews"][0]["status"] == "scheduled" and first["interviews"][0]["candidate_name"] == "Alex Chen"
        newer, _ = await server.schedule(job_title="Data analyst")
        changed = await next_of(ws, "interview")
        assert changed["interview"]["id"] == newer.id and changed["interview"]["job_title"] == "Data analyst"
        # The other tenant hears nothing of it.
        await other_ws.send(json.dumps({"v": 1, "type": "ping"}))
        assert json.loads(await asyncio.wait_for(other_ws.recv(), 5))["type"] == "pong"


async def test_watching_another_tenants_interview_is_not_found(two_tenants: LiveServer) -> None:
    interview, _ = await two_tenants.schedule()
    ws, _ = await open_hr(two_tenants, OTHER_KEY)
    async with ws:
        await ws.send(json.dumps({"v": 1, "type": "watch", "interview_id": interview.id}))
        error = await next_of(ws, "error")
        assert error["code"] == "interview_not_found"


async def test_a_text_interview_shows_its_questions_progress_and_escalated_chat_live(live_server: LiveServer) -> None:
    interview, token = await live_server.schedule(mode="text", questions=2)
    ws, _ = await open_hr(live_server)
    candidate_url = live_server.url.replace("http://", "ws://") + f"/ws/interviews/{interview.id}?token={token}"
    async with ws, connect(candidate_url) as candidate:
        await ws.send(json.dumps({"v": 1, "type": "watch", "interview_id": interview.id}))
        detail = await next_of(ws, "detail", interview_id=interview.id)
        assert detail["interview"]["status"] == "scheduled" and detail["answers"] == [] and detail["report"] is None
        assert detail["match"]["score"] is not None

        await candidate.send(json.dumps({"v": 1, "type": "ready"}))
        started = await next_of(ws, "interview")
        assert started["interview"]["status"] == "in_progress"
        asked = await next_of(ws, "question", interview_id=interview.id)
        assert asked["question"]["id"] == "q1" and asked["next_planned"]["id"] == "q2" and asked["reason"]

        await candidate.send(json.dumps({"v": 1, "type": "chat", "text": "What is the salary for this role?"}))
        escalated = await next_of(ws, "chat", sender="candidate")
        assert escalated["escalated"] and escalated["text"] == "What is the salary for this role?"
        await ws.send(
            json.dumps({"v": 1, "type": "chat.reply", "interview_id": interview.id, "text": "We will tell you at the offer stage."})
        )
        reply = await next_of(candidate, "chat", sender="hr")
        assert reply["text"] == "We will tell you at the offer stage."

        await candidate.send(json.dumps({"v": 1, "type": "answer.text", "question_id": "q1", "text": "I would use a queue."}))
        await candidate.send(json.dumps({"v": 1, "type": "answer.done", "question_id": "q1"}))
        scored = await next_of(ws, "answer", interview_id=interview.id)
        assert scored["answer"]["question_id"] == "q1" and 0 <= scored["answer"]["score"] <= 100
        progressed = await next_of(ws, "interview")
        assert progressed["interview"]["answered"] == 1
        assert (await next_of(ws, "question", interview_id=interview.id))["question"]["id"] == "q2"

    # A dashboard opened later reads the same story from the store.
    late, _ = await open_hr(live_server)
    async with late:
        await late.send(json.dumps({"v": 1, "type": "watch", "interview_id": interview.id}))
        detail = await next_of(late, "detail", interview_id=interview.id)
        assert [a["question_id"] for a in detail["answers"]] == ["q1"]
        assert [(c["sender"], c["text"][:8]) for c in detail["chat"]] == [
            ("candidate", "What is "),
            ("system", "I have p"),
            ("hr", "We will "),
        ]


async def test_bad_messages_get_errors_and_unknown_types_close_1003(live_server: LiveServer) -> None:
    ws, _ = await open_hr(live_server)
    async with ws:
        await ws.send(json.dumps({"v": 1, "type": "watch"}))
        assert (await next_of(ws, "error"))["code"] == "invalid_message"
        await ws.send(json.dumps({"v": 1, "type": "chat.reply", "interview_id": "nope", "text": "hi"}))
        assert (await next_of(ws, "error"))["code"] == "interview_not_found"
        await ws.send(json.dumps({"v": 1, "type": "shutdown"}))
        assert (await next_of(ws, "error"))["code"] == "unknown_type"
        await asyncio.wait_for(ws.wait_closed(), 5)
        assert ws.close_code == 1003


async def test_the_dashboard_page_and_its_chart_library_are_served(live_server: LiveServer) -> None:
    page = await live_server.http.get(f"{live_server.url}/hr")
    assert page.status_code == 200 and "/static/hr/dashboard.js" in page.text and "/vendor/chart.umd.min.js" in page.text
    script = await live_server.http.get(f"{live_server.url}/static/hr/dashboard.js")
    assert script.status_code == 200 and "ws/hr" in script.text
    # Chart.js as prepared from the npm registry (scripts/test.sh runs `assets prepare`).
    chart = await live_server.http.get(f"{live_server.url}/vendor/chart.umd.min.js")
    assert chart.status_code == 200 and "Chart.js v4.6.1" in chart.text[:300]


@pytest.mark.parametrize(
    "after",
    [
        {"api_keys": [], "tenants": {"default": ["rotated-key-0123456789abcdef"], "acme": [OTHER_KEY]}},  # key rotated out
        {"api_keys": [], "tenants": {"acme": [OTHER_KEY, API_KEY]}},  # its tenant removed (the key now opens another)
    ],
    ids=["key-rotated", "tenant-removed"],
)
async def test_an_hr_session_ends_with_the_key_or_tenant_that_opened_it(tmp_path: Path, after: dict[str, Any]) -> None:
    before = make_settings(tmp_path / "data", api_keys=[], tenants={"default": [API_KEY], "acme": [OTHER_KEY]})
    async with serving(before) as server:
        token = await hr_token(server)
        url = server.url.replace("http://", "ws://") + f"/ws/hr?token={token}"
        async with connect(url) as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "interviews"
    async with serving(make_settings(tmp_path / "data", port=before.port, **after)) as server:
        with pytest.raises(InvalidStatus) as refused:
            await connect(url)
        assert refused.value.response.status_code == 401 and b"session_revoked" in (refused.value.response.body or b"")
        other = await hr_token(server, OTHER_KEY)  # sessions of keys still valid open as before
        async with connect(server.url.replace("http://", "ws://") + f"/ws/hr?token={other}") as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "interviews"
