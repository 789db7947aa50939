"""HR's list over thousands of interviews: search, filters, sorts and cursor pages that stay right while interviews are
added, and the board's counts per job and state; the same on SQLite and Redis."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from loadtests.whip_client import give_consent
from server.domain.interview import InterviewSpec
from tests.conftest import API_KEY, LiveServer, make_settings, serving
from tests.helpers.interviews import receive_json
from tests.helpers.processes import complete_text_interview

HR = {"X-API-Key": API_KEY}
BANK = [{"id": "q1", "competency": "skills", "difficulty": "standard", "text": {"en": "Why?"}}]


@pytest.fixture
async def server(tmp_path: Path, store_settings: dict[str, object]) -> AsyncIterator[LiveServer]:
    async with serving(make_settings(tmp_path / "data", **store_settings)) as live:
        yield live


async def add(server: LiveServer, count: int, job: str, name: str) -> list[str]:
    """`count` interviews straight into the store (as thousands scheduled over months would be)."""
    ids = []
    for n in range(count):
        spec = InterviewSpec.model_validate(
            {"job": {"title": job}, "candidate": {"name": f"{name} {n:04d}", "email": f"c{n}@example.test"}, "question_bank": BANK}
        )
        interview_id = uuid.uuid4().hex
        invite = server.services.new_invite(interview_id)
        await server.services.store.create_interview(spec, invite, interview_id, job_id=job.lower().replace(" ", "-"))
        ids.append(interview_id)
    return ids


async def listing(server: LiveServer, **params: Any) -> dict[str, Any]:
    response = await server.http.get(f"{server.url}/api/v1/interviews", params=params, headers=HR)
    assert response.status_code == 200, response.text
    return response.json()


async def test_paging_through_thousands_with_a_cursor_misses_nothing_while_interviews_are_added(server: LiveServer) -> None:
    backend = await add(server, 1500, "Backend engineer", "Backend")
    await add(server, 300, "Designer", "Design")
    seen: list[str] = []
    page = await listing(server, job_id="backend-engineer", limit=200)
    assert page["matched"] == 1500
    while True:
        seen += [row["id"] for row in page["interviews"]]
        if len(seen) == 400:
            await add(server, 5, "Backend engineer", "Late")  # newer: they go in front of the first page, not into ours
        if page["next_cursor"] is None:
            break
        page = await listing(server, job_id="backend-engineer", limit=200, cursor=page["next_cursor"])
    assert len(seen) == len(set(seen)) == 1500 and set(seen) == set(backend)


async def test_search_filters_and_sorts(server: LiveServer) -> None:
    await add(server, 30, "Backend engineer", "Backend")
    done = [await complete_text_interview(server.http, server.url) for _ in range(2)]
    assert (
        await server.http.post(f"{server.url}/api/v1/interviews/{done[0]}/decisions", json={"decision": "reject", "note": "n"}, headers=HR)
    ).status_code == 201

    found = await listing(server, q="backend 0007")
    assert [r["candidate_name"] for r in found["interviews"]] == ["Backend 0007"]
    assert (await listing(server, q="C7@EXAMPLE"))["interviews"][0]["candidate_name"] == "Backend 0007"  # e-mail, any case
    assert {r["id"] for r in (await listing(server, status="completed,decided"))["interviews"]} == set(done)
    decided = await listing(server, status="decided")
    assert [(r["id"], r["decision"]) for r in decided["interviews"]] == [(done[0], "reject")]
    assert [r["id"] for r in (await listing(server, decided="false", status="completed"))["interviews"]] == [done[1]]
    scored = await listing(server, score_min=0, score_max=100)
    assert {r["id"] for r in scored["interviews"]} == set(done) and all(r["overall"] is not None for r in scored["interviews"])
    high_first = await listing(server, sort="score_high", limit=3)
    assert [r["overall"] is not None for r in high_first["interviews"]] == [True, True, False]  # unscored last
    by_name = (await listing(server, sort="name", job_id="backend-engineer", limit=3))["interviews"]
    assert [r["candidate_name"] for r in by_name] == ["Backend 0000", "Backend 0001", "Backend 0002"]
    today = datetime.now(UTC).date().isoformat()
    assert (await listing(server, created_from=today, created_to=today))["matched"] == 32
    assert (await listing(server, created_to="2020-01-01"))["matched"] == 0

    for bad in (
        {"status": "maybe"},
        {"limit": 1000},
        {"score_min": -1},
        {"cursor": "%%%"},
        {"sort": "random"},
        {"created_from": "yesterday"},
    ):
        response = await server.http.get(f"{server.url}/api/v1/interviews", params=bad, headers=HR)
        assert response.status_code == 422, (bad, response.text)
    assert (await server.http.get(f"{server.url}/api/v1/interviews")).status_code == 401


async def test_the_board_counts_each_jobs_interviews_in_every_state(server: LiveServer) -> None:
    await add(server, 4, "Designer", "Design")
    done = await complete_text_interview(server.http, server.url)  # a "Backend engineer" job sent inline
    await server.http.post(f"{server.url}/api/v1/interviews/{done}/decisions", json={"decision": "advance", "note": "good"}, headers=HR)
    board = (await server.http.get(f"{server.url}/api/v1/board", headers=HR)).json()
    counts = {job["job_title"]: job["counts"] for job in board["jobs"]}
    assert counts["Designer"]["scheduled"] == 4 and counts["Designer"]["decided"] == 0
    assert counts["Backend engineer"]["decided"] == 1 and sum(counts["Backend engineer"].values()) == 1
    assert set(board["states"]) == {"scheduled", "in_progress", "completed", "cancelled", "abandoned", "decided", "no_show"}


async def test_the_inbox_lists_candidates_who_wrote_and_which_wait_for_a_reply(server: LiveServer) -> None:
    await add(server, 3, "Designer", "Quiet")
    created = (
        await server.http.post(
            f"{server.url}/api/v1/interviews",
            json={"job": {"title": "Backend engineer"}, "candidate": {"name": "Chatty"}, "mode": "text", "question_bank": BANK},
            headers=HR,
        )
    ).json()
    interview_id, token = created["interview"]["id"], created["invite_token"]
    await give_consent(server.http, f"{server.url}/api/v1/interviews/{interview_id}", token)
    async with connect(server.url.replace("http://", "ws://") + f"/ws/interviews/{interview_id}?token={token}") as ws:
        await ws.send(json.dumps({"v": 1, "type": "ready"}))
        await ws.send(json.dumps({"v": 1, "type": "chat", "text": "May I use a whiteboard?"}))
        while not ((m := await receive_json(ws))["type"] == "chat" and m["sender"] == "system"):
            pass
    (row,) = (await listing(server, inbox="true", sort="last_message"))["interviews"]
    assert (row["id"], row["chat_count"], row["last_chat"], row["needs_reply"]) == (interview_id, 1, "May I use a whiteboard?", True)
    assert (await listing(server, needs_reply="true"))["matched"] == 1

    session = (await server.http.post(f"{server.url}/api/v1/hr/sessions", headers=HR)).json()
    async with connect(server.url.replace("http://", "ws://") + f"/ws/hr?token={session['token']}") as hr:
        await receive_json(hr)
        await hr.send(json.dumps({"v": 1, "type": "chat.reply", "interview_id": interview_id, "text": "Yes, a virtual one."}))
        while (await receive_json(hr))["type"] != "chat":
            pass
    assert (await listing(server, needs_reply="true"))["matched"] == 0
    assert (await listing(server, inbox="true"))["interviews"][0]["needs_reply"] is False
