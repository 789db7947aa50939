"""Driving an interview from a test: invites, socket URLs, finishing a text interview, waiting for a message."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from loadtests.whip_client import give_consent
from server.domain.invites import Invite, InviteSigner, make_invite


async def receive_json(ws: ClientConnection, timeout: float = 10.0) -> dict[str, Any]:
    """The socket's next message; a server that never sends it fails the test in `timeout` instead of hanging it."""
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return message


def ws_url(base: str, interview_id: str, token: str) -> str:
    return base.replace("http://", "ws://") + f"/ws/interviews/{interview_id}?token={token}"


async def finish_text_interview(ws: ClientConnection) -> None:
    """Answer the one question of a text interview whose socket is open and greeted."""
    await ws.send(json.dumps({"v": 1, "type": "ready"}))
    await ws.send(json.dumps({"v": 1, "type": "answer.text", "question_id": "q1", "text": "Because."}))
    await ws.send(json.dumps({"v": 1, "type": "answer.done", "question_id": "q1"}))
    while json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "completed":
        pass


async def assert_refuses_new_interviews(base: str, http: httpx.AsyncClient, new_id: str, new_token: str) -> None:
    ready = await http.get(f"{base}/readyz")
    assert ready.status_code == 503 and ready.json()["status"] == "draining"
    offer = await http.post(
        f"{base}/api/v1/interviews/{new_id}/whip",
        content=b"v=0\r\n",
        headers={"Authorization": f"Bearer {new_token}", "Content-Type": "application/sdp"},
    )
    assert offer.status_code == 503 and offer.json()["code"] == "node_draining", offer.text
    assert int(offer.headers["Retry-After"]) > 0
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url(base, new_id, new_token)):
            pass
    assert refused.value.response.status_code == 503


async def next_of(ws: ClientConnection, kind: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message["type"] == kind and all(message.get(k) == v for k, v in fields.items()):
            return message


SIGNER = InviteSigner("store-test-secret-0123456789abcdef")


def invite(interview_id: str, ttl_s: float = 3600) -> Invite:
    return make_invite(SIGNER, "http://interviews.test", interview_id, int(time.time() + ttl_s))


def numbered_questions(
    count: int, language: str = "en", think_seconds: int = 10, answer_seconds: int = 120, end_silence_seconds: int | None = None
) -> list[dict[str, Any]]:
    """A question bank of "Question number N?", each with one key point (an index) and the timings given."""
    text = {"en": "Question number {n}?", "zh": "第{n}个问题是什么？"}[language]
    keywords = {"en": ["index", "query plan"], "zh": ["索引"]}[language]
    silence = {} if end_silence_seconds is None else {"end_silence_seconds": end_silence_seconds}
    return [
        {
            "id": f"q{n}",
            "competency": "skills",
            "difficulty": "standard",
            "think_seconds": think_seconds,
            "answer_seconds": answer_seconds,
            **silence,
            "text": {language: text.format(n=n)},
            "key_points": [
                {"id": "p", "text": {language: "Use an index" if language == "en" else "使用索引"}, "keywords": {language: keywords}}
            ],
        }
        for n in range(1, count + 1)
    ]


ANSWER = (
    "Idempotent requests with a retry, a 409 status code, resource versioning and pagination, a cache in Redis, "
    "a B+ tree index instead of a full table scan, code review with tests; I keep learning."
)


async def answer_every_question(http: httpx.AsyncClient, base: str, interview_id: str, token: str) -> list[str]:
    """Be the candidate of a written interview: consent, then answer every question pushed until the end."""
    await give_consent(http, f"{base}/api/v1/interviews/{interview_id}", token)
    asked = []
    async with connect(ws_url(base, interview_id, token)) as ws:
        await ws.send(json.dumps({"v": 1, "type": "ready"}))
        while (message := await receive_json(ws))["type"] != "completed":
            if message["type"] == "question":
                qid = message["question"]["id"]
                asked.append(qid)
                await ws.send(json.dumps({"v": 1, "type": "answer.text", "question_id": qid, "text": ANSWER}))
                await ws.send(json.dumps({"v": 1, "type": "answer.done", "question_id": qid}))
    return asked
