"""Leaving the interview page during the questions (another tab or app) is kept as an integrity fact for the review:
counted while questions are asked, repeats and a page that flips forever bounded."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from websockets.asyncio.client import connect

from loadtests.whip_client import give_consent
from tests.conftest import API_KEY, make_settings, serving
from tests.helpers.interviews import receive_json

HR = {"X-API-Key": API_KEY}
BANK = [{"id": "q1", "competency": "skills", "difficulty": "standard", "text": {"en": "Why?"}}]


async def test_leaving_the_page_during_the_questions_shows_in_the_review(tmp_path: Path) -> None:
    async with serving(make_settings(tmp_path / "data")) as server:
        body = {
            "job": {"title": "Backend engineer"},
            "candidate": {"name": "Lin"},
            "mode": "text",
            "question_bank": BANK,
            "max_questions": 1,
        }
        created = (await server.http.post(f"{server.url}/api/v1/interviews", json=body, headers=HR)).json()
        interview_id, token = created["interview"]["id"], created["invite_token"]
        await give_consent(server.http, f"{server.url}/api/v1/interviews/{interview_id}", token)
        async with connect(server.url.replace("http://", "ws://") + f"/ws/interviews/{interview_id}?token={token}") as ws:

            async def say(**message: object) -> None:
                await ws.send(json.dumps({"v": 1, **message}))

            await say(type="page.visibility", hidden=True)  # before the questions: not counted
            await say(type="page.visibility", hidden=False)
            await say(type="ready")
            while (await receive_json(ws))["type"] != "question":
                pass
            await say(type="page.visibility", hidden=True)
            await say(type="page.visibility", hidden=True)  # the same state again: one departure
            await asyncio.sleep(1.1)
            await say(type="page.visibility", hidden=False)
            await say(type="page.visibility", hidden="maybe")
            while (reply := await receive_json(ws))["type"] != "error":
                pass
            assert reply["code"] == "invalid_message"
            await say(type="answer.text", question_id="q1", text="Because.")
            await say(type="answer.done", question_id="q1")
            while (await receive_json(ws))["type"] != "completed":
                pass
        review = (await server.http.get(f"{server.url}/api/v1/interviews/{interview_id}/review", headers=HR)).json()
        assert review["integrity"]["tab_switches"] == 1
        assert 1 <= review["integrity"]["away_s"] <= 2
