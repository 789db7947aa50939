"""What an invite still opens after its interview was cancelled or has ended: a cancelled interview's media and
sockets are closed and its invite opens nothing; an ended interview takes no more chat."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiortc.mediastreams import AudioStreamTrack
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedOK

from loadtests.whip_client import WhipPublisher, WhipRejected
from tests.conftest import API_KEY, LiveServer, make_settings, serving
from tests.helpers.interviews import finish_text_interview, next_of, receive_json, ws_url
from tests.helpers.waiting import wait_until
from tests.helpers.webrtc import CandidateSocket

HR = {"X-API-Key": API_KEY}


@pytest.mark.webrtc
async def test_cancelling_a_live_interview_closes_its_media_and_socket_and_the_invite_opens_nothing(tmp_path: Path) -> None:
    async with serving(make_settings(tmp_path / "data")) as server:
        interview, token = await server.schedule()
        socket = await CandidateSocket.open(server.url, interview.id, token)
        publisher = WhipPublisher(server.url, interview.id, token, server.http)
        await publisher.publish([AudioStreamTrack()])
        try:
            await socket.wait_for(lambda m: m["type"] == "media" and m["state"] == "connected")
            response = await server.http.post(f"{server.url}/api/v1/interviews/{interview.id}/cancel", headers=HR)
            assert response.status_code == 200, response.text
            await socket.wait_for(lambda m: m["type"] == "completed" and m["reason"] == "cancelled")
            await asyncio.wait_for(socket.ws.wait_closed(), 5)
            assert socket.ws.close_code == 1000, "the server closed the candidate's socket"
            await wait_until(lambda: server.services.registry.media_of(interview.id) is None, what="media closed")
            assert server.services.registry.media_sessions == 0
            await assert_invite_opens_nothing(server, interview.id, token)
        finally:
            await publisher.close()
            await socket.close()


async def assert_invite_opens_nothing(server: LiveServer, interview_id: str, token: str) -> None:
    """The page is told the interview was cancelled and the socket closes; no interview runs for it; no media."""
    async with connect(ws_url(server.url, interview_id, token)) as ws:
        hello, completed = await receive_json(ws), await receive_json(ws)
        assert hello["interview"]["status"] == "cancelled" and completed == {"v": 1, "type": "completed", "reason": "cancelled"}
        with pytest.raises(ConnectionClosedOK):
            await ws.send(json.dumps({"v": 1, "type": "chat", "text": "Hello?"}))
            await receive_json(ws)
    assert server.services.registry.find_live(interview_id) is None
    with pytest.raises(WhipRejected) as whip:
        await WhipPublisher(server.url, interview_id, token, server.http).publish([AudioStreamTrack()])
    assert whip.value.status == 409


async def test_an_interview_cancelled_before_it_started_refuses_its_invite(tmp_path: Path) -> None:
    async with serving(make_settings(tmp_path / "data")) as server:
        interview, token = await server.schedule()
        response = await server.http.post(f"{server.url}/api/v1/interviews/{interview.id}/cancel", headers=HR)
        assert response.status_code == 200
        await assert_invite_opens_nothing(server, interview.id, token)


async def test_an_ended_interview_takes_no_more_chat(tmp_path: Path) -> None:
    async with serving(make_settings(tmp_path / "data")) as server:
        interview, token = await server.schedule(questions=1, mode="text")
        async with connect(ws_url(server.url, interview.id, token)) as ws:
            assert (await receive_json(ws))["type"] == "hello"
            await finish_text_interview(ws)
            await ws.send(json.dumps({"v": 1, "type": "chat", "text": "Can I still add something?"}))
            error = await next_of(ws, "error")
            assert error["code"] == "interview_closed"
