"""An interview the candidate started and left becomes `abandoned` after the node's abandon time: HR sees it, the
HRMS gets interview.abandoned, the invite opens nothing; an interview someone is still in is left alone."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests.conftest import API_KEY, LiveServer, free_port, make_settings, serving
from tests.helpers.interviews import receive_json, ws_url
from tests.helpers.waiting import eventually, wait_until
from tests.helpers.webhook_receiver import Receiver, receiving

HR = {"X-API-Key": API_KEY}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving(Receiver(free_port())) as running:
        yield running


@pytest.fixture
async def node(tmp_path: Path, store_settings: dict[str, object]) -> AsyncIterator[LiveServer]:
    """On each interview store (SQLite, Redis), abandoning after 2 s."""
    settings = make_settings(
        tmp_path / "data",
        abandon_after_s=2,
        webhook_allow_http=True,
        webhook_allow_private_addresses=True,
        webhook_retry_schedule_s=[0.2] * 5,
        **store_settings,
    )
    async with serving(settings) as server:
        yield server


async def status_of(node: LiveServer, interview_id: str) -> str:
    return str((await node.interview_state(interview_id))["interview"]["status"])


async def test_a_started_interview_left_alone_is_abandoned_and_the_hrms_hears_it(node: LiveServer, receiver: Receiver) -> None:
    await node.http.post(f"{node.url}/api/v1/webhooks/endpoints", json={"url": receiver.url}, headers=HR)
    left, left_token = await node.schedule(questions=2, mode="text")
    stays, stays_token = await node.schedule(questions=2, mode="text")
    async with connect(ws_url(node.url, left.id, left_token)) as ws:
        await receive_json(ws)
        await ws.send(json.dumps({"v": 1, "type": "ready"}))
        assert (await receive_json(ws))["type"] == "question"
    async with connect(ws_url(node.url, stays.id, stays_token)) as staying:
        await receive_json(staying)
        await staying.send(json.dumps({"v": 1, "type": "ready"}))
        assert (await receive_json(staying))["type"] == "question"

        # The candidate who closed the page is gone past the abandon time; the one whose page is open is not.
        await wait_until(lambda: node.services.registry.find_live(left.id) is None, what="the left interview released")

        async def left_is_abandoned() -> bool:
            return await status_of(node, left.id) == "abandoned"

        await eventually(left_is_abandoned, timeout=10, what="the left interview abandoned")
        assert await status_of(node, stays.id) == "in_progress"
        await receiver.wait_for(lambda r: any(x.event["type"] == "interview.abandoned" for x in r))
        staying_closed_at = time.monotonic()

    # Once its page closes, the other interview may be abandoned in turn (2 s later), and its event may arrive with
    # the first: what matters is that the left one was reported once and the open one not while it was open.
    abandoned = [r for r in receiver.requests if r.event["type"] == "interview.abandoned"]
    assert [r.event["data"]["interview_id"] for r in abandoned].count(left.id) == 1
    assert all(r.at >= staying_closed_at for r in abandoned if r.event["data"]["interview_id"] == stays.id)

    # The invite now opens nothing: the page is told why and the socket closes.
    async with connect(ws_url(node.url, left.id, left_token)) as ws:
        hello, completed = await receive_json(ws), await receive_json(ws)
        assert hello["interview"]["status"] == "abandoned" and completed == {"v": 1, "type": "completed", "reason": "abandoned"}
    refused = await node.http.post(f"{node.url}/api/v1/interviews/{left.id}/reschedule", headers=HR)
    assert refused.status_code == 409 and refused.json()["code"] == "interview_closed"
