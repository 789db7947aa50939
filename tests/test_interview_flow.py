"""Whole interviews over the candidate websocket (text mode), with the real answer scorer: questions, scores, report."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from loadtests.whip_client import give_consent
from realtime_scoring.question_bank import shipped_bank
from tests.conftest import API_KEY, LiveServer, make_settings, serving

JOB = {
    "title": "Backend engineer",
    "role": "backend_engineer",
    "language": "en",
    "required_skills": [{"name": "Python", "weight": 2}, {"name": "PostgreSQL"}, {"name": "Redis"}],
    "min_years_experience": 3,
}
CANDIDATE = {"name": "Li Wei", "years_experience": 5, "skills": ["Python", "Postgres", "Redis"]}


async def schedule(server: LiveServer, **spec: Any) -> tuple[str, str]:
    body = {"job": JOB, "candidate": CANDIDATE, "mode": "text", **spec}
    response = await server.http.post(f"{server.url}/api/v1/interviews", json=body, headers={"X-API-Key": API_KEY})
    assert response.status_code == 201, response.text
    data = response.json()
    await give_consent(server.http, f"{server.url}/api/v1/interviews/{data['interview']['id']}", data["invite_token"])
    return data["interview"]["id"], data["invite_token"]


async def next_of(ws: Any, kinds: set[str], timeout: float = 30.0) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message["type"] in kinds:
            return message


async def report_of(server: LiveServer, interview_id: str) -> dict[str, Any]:
    response = await server.http.get(f"{server.url}/api/v1/interviews/{interview_id}/report", headers={"X-API-Key": API_KEY})
    assert response.status_code == 200, response.text
    return response.json()["report"]


async def test_a_text_interview_runs_end_to_end_over_the_websocket(tmp_path: Path, scoring_engine, store_settings) -> None:
    bank = {q.id: q for q in shipped_bank("backend_engineer").questions}
    async with serving(make_settings(tmp_path / "data", **store_settings), consumer=None, engine=scoring_engine) as server:
        interview_id, token = await schedule(server, max_questions=4)
        early = await server.http.get(f"{server.url}/api/v1/interviews/{interview_id}/report", headers={"X-API-Key": API_KEY})
        assert early.status_code == 409 and early.json()["code"] == "report_not_ready"
        url = server.url.replace("http://", "ws://") + f"/ws/interviews/{interview_id}?token={token}"
        asked: list[dict[str, Any]] = []
        async with connect(url) as ws:
            hello = await next_of(ws, {"hello"})
            assert hello["interview"]["mode"] == "text"
            await ws.send(json.dumps({"v": 1, "type": "ready"}))
            message = await next_of(ws, {"question", "completed"})
            while message["type"] == "question":
                question = message["question"]
                asked.append(question)
                # Answer the first question well (every key point's words), the others with nothing relevant.
                if len(asked) == 1:
                    source = bank[question["id"]]
                    text = ". ".join(f"On {p.text['en'].rstrip('.').lower()}: {', '.join(p.keywords['en'][:2])}" for p in source.key_points)
                else:
                    text = "I am not sure, I would probably ask a colleague what to do there."
                await ws.send(json.dumps({"v": 1, "type": "answer.text", "question_id": question["id"], "text": text}))
                await ws.send(json.dumps({"v": 1, "type": "answer.done", "question_id": question["id"]}))
                message = await next_of(ws, {"question", "completed"})

        report = await report_of(server, interview_id)
        # The strong match opens with a deep question; the poor answers then bring the level down.
        assert asked[0]["difficulty"] == "deep"
        assert 2 <= len(asked) <= 4 and [q["question_id"] for q in report["questions"]] == [q["id"] for q in asked]
        first, *rest = report["questions"]
        assert first["coverage"] == 1.0 and not first["key_points_missed"] and first["score"] >= 80
        assert all(q["score"] < first["score"] - 30 for q in rest)
        assert all(k["how"] == "keyword" and k["snippet"] for k in first["key_points_hit"])
        assert report["schema_version"] == "1.0" and report["mode"] == "text" and report["match"]["score"] >= 75
        assert report["recommendation"]["decision"] in {"consider", "do_not_advance", "advance"}
        assert report["suggestions"] and report["competencies"]["skills"]["evidence"]
        state = (await server.http.get(f"{server.url}/api/v1/interviews/{interview_id}", headers={"X-API-Key": API_KEY})).json()
        assert state["interview"]["status"] == "completed" and len(state["scored_answers"]) == len(asked)
        schema = (await server.http.get(f"{server.url}/api/v1/schemas/report", headers={"X-API-Key": API_KEY})).json()
        assert schema["properties"]["schema_version"]["const"] == report["schema_version"]
        assert set(schema["required"]) <= set(report) and "QuestionReport" in schema["$defs"]


async def test_a_candidate_who_never_answers_gets_a_report_that_says_so(tmp_path: Path, scoring_engine) -> None:
    silent_bank = [
        {
            "id": f"q{i}",
            "competency": "skills",
            "difficulty": "standard",
            "think_seconds": 0,
            "answer_seconds": 5,
            "text": {"en": f"Question {i}?"},
            "key_points": [{"id": "p", "text": {"en": "A point."}, "keywords": {"en": ["point"]}}],
        }
        for i in (1, 2)
    ]
    async with serving(make_settings(tmp_path / "data"), consumer=None, engine=scoring_engine) as server:
        interview_id, token = await schedule(server, question_bank=silent_bank, max_questions=2)
        url = server.url.replace("http://", "ws://") + f"/ws/interviews/{interview_id}?token={token}"
        async with connect(url) as ws:
            await next_of(ws, {"hello"})
            await ws.send(json.dumps({"v": 1, "type": "ready"}))
            assert (await next_of(ws, {"question"}))["question"]["id"] == "q1"
            # Nothing is sent: each question runs out its time limit.
            assert (await next_of(ws, {"question"}, timeout=15))["question"]["id"] == "q2"
            await next_of(ws, {"completed"}, timeout=15)
        report = await report_of(server, interview_id)
        assert [(q["end_reason"], q["answered"], q["score"]) for q in report["questions"]] == [("time_limit", False, 0.0)] * 2
        assert "never_answered" in report["flags"]
        assert report["recommendation"]["decision"] == "insufficient_evidence"


async def test_an_interview_resumes_at_the_same_question_after_the_node_restarts(tmp_path: Path, scoring_engine, store_settings) -> None:
    settings = make_settings(tmp_path / "data", **store_settings)
    async with serving(settings, consumer=None, engine=scoring_engine) as server:
        interview_id, token = await schedule(server, max_questions=3)
        url = server.url.replace("http://", "ws://") + f"/ws/interviews/{interview_id}?token={token}"
        async with connect(url) as ws:
            await next_of(ws, {"hello"})
            await ws.send(json.dumps({"v": 1, "type": "ready"}))
            first = (await next_of(ws, {"question"}))["question"]
            await ws.send(json.dumps({"v": 1, "type": "answer.text", "question_id": first["id"], "text": "I would add an index."}))
            await ws.send(json.dumps({"v": 1, "type": "answer.done", "question_id": first["id"]}))
            second = (await next_of(ws, {"question"}))["question"]
    # Same store, new process state: the flow is rebuilt from the stored answers (with Redis, on another node's disk).
    if store_settings:
        settings = settings.model_copy(update={"data_dir": tmp_path / "another-node"})
    async with serving(settings, consumer=None, engine=scoring_engine) as server:
        async with connect(url.replace(str(settings.port), str(server.settings.port))) as ws:
            await next_of(ws, {"hello"})
            await ws.send(json.dumps({"v": 1, "type": "ready"}))
            assert (await next_of(ws, {"question"}))["question"]["id"] == second["id"]
            for _ in range(2):
                await ws.send(json.dumps({"v": 1, "type": "answer.done", "question_id": second["id"]}))
                message = await next_of(ws, {"question", "completed"})
                if message["type"] == "completed":
                    break
                second = message["question"]
        report = await report_of(server, interview_id)
        assert report["questions"][0]["question_id"] == first["id"] and report["questions"][0]["typed"] == ["I would add an index."]
        assert [q["index"] for q in report["questions"]] == list(range(len(report["questions"])))
