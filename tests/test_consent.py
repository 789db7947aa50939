"""The candidate's consent: item by item, with the version of the text shown, stored before anything is taken."""

from __future__ import annotations

import json
from pathlib import Path

from websockets.asyncio.client import connect

from server.domain.consent import CONSENT_TEXT_VERSION
from tests.conftest import LiveServer, make_settings, serving
from tests.helpers.interviews import receive_json, ws_url

ITEMS = {"recording": True, "ai_scoring": True, "emotion_analysis": True}


async def post_consent(server: LiveServer, interview_id: str, token: str | None, body: object) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await server.http.post(f"{server.url}/api/v1/interviews/{interview_id}/consent", json=body, headers=headers)
    return response.status_code, response.json()


async def test_each_item_is_stored_with_its_time_and_the_version_of_the_text(live_server: LiveServer) -> None:
    interview, token = await live_server.schedule(consent=False)
    status, stored = await post_consent(
        live_server, interview.id, token, {"items": ITEMS, "text_version": CONSENT_TEXT_VERSION, "language": "zh"}
    )
    assert status == 201 and stored["items"] == ITEMS and stored["language"] == "zh" and stored["given_at"] > 0
    state = await live_server.interview_state(interview.id)
    assert state["consents"] == [stored] and state["answers"] == []  # kept apart from what the candidate wrote


async def test_a_consent_that_is_missing_malformed_or_for_an_old_text_is_refused(live_server: LiveServer) -> None:
    interview, token = await live_server.schedule(consent=False)
    other, other_token = await live_server.schedule(consent=False)
    good = {"items": ITEMS, "text_version": CONSENT_TEXT_VERSION}
    assert (await post_consent(live_server, interview.id, None, good))[0] == 401
    assert (await post_consent(live_server, interview.id, other_token, good))[0] == 403
    status, problem = await post_consent(
        live_server, interview.id, token, {"items": {"recording": True}, "text_version": CONSENT_TEXT_VERSION}
    )
    assert status == 422 and problem["code"] == "invalid_consent"
    status, problem = await post_consent(live_server, interview.id, token, {**good, "items": {**ITEMS, "sell_my_data": True}})
    assert status == 422
    status, problem = await post_consent(live_server, interview.id, token, {**good, "text_version": "2020-01-01"})
    assert status == 409 and problem["code"] == "consent_text_changed"
    assert (await live_server.interview_state(interview.id))["consents"] == []
    assert (await live_server.interview_state(other.id))["consents"] == []


async def test_a_text_interview_does_not_start_before_the_candidate_agrees(live_server: LiveServer) -> None:
    interview, token = await live_server.schedule(mode="text", consent=False)
    async with connect(ws_url(live_server.url, interview.id, token)) as ws:
        assert (await receive_json(ws))["type"] == "hello"
        await ws.send(json.dumps({"v": 1, "type": "ready"}))
        error = await receive_json(ws)
        assert error["type"] == "error" and error["code"] == "consent_required"
        declined = {"items": {**ITEMS, "ai_scoring": False}, "text_version": CONSENT_TEXT_VERSION}
        assert (await post_consent(live_server, interview.id, token, declined))[0] == 201  # stored: it is what they chose
        await ws.send(json.dumps({"v": 1, "type": "ready"}))
        assert (await receive_json(ws))["code"] == "consent_required"
        agreed = {"items": ITEMS, "text_version": CONSENT_TEXT_VERSION}
        assert (await post_consent(live_server, interview.id, token, agreed))[0] == 201
        await ws.send(json.dumps({"v": 1, "type": "ready"}))
        assert (await receive_json(ws))["type"] == "question"


async def test_emotion_analysis_cannot_be_agreed_to_where_the_node_does_not_analyse_it(tmp_path: Path) -> None:
    async with serving(make_settings(tmp_path / "data", emotion_analysis=False)) as server:
        interview, token = await server.schedule(consent=False)
        status, stored = await post_consent(server, interview.id, token, {"items": ITEMS, "text_version": CONSENT_TEXT_VERSION})
        assert status == 201 and stored["items"]["emotion_analysis"] is False
