"""HR shares candidates with a business owner: a signed, expiring, revocable link e-mailed through a real SMTP server;
the owner sees only what was shared, recommends with a comment; HR hears it live and the HRMS gets the event."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.conftest import API_KEY, LiveServer, free_port, make_settings, serving
from tests.helpers.interviews import receive_json
from tests.helpers.mail_server import Mailbox, mail_server
from tests.helpers.processes import complete_text_interview
from tests.helpers.waiting import wait_until
from tests.helpers.webhook_receiver import Receiver, receiving

HR = {"X-API-Key": API_KEY}


@pytest.fixture
async def mailed(tmp_path: Path, store_settings: dict[str, object]) -> AsyncIterator[tuple[LiveServer, Mailbox, Receiver]]:
    with mail_server() as (mailbox, smtp):
        settings = make_settings(
            tmp_path / "data", webhook_allow_http=True, webhook_allow_private_addresses=True, company_name="Acme", **smtp, **store_settings
        )
        async with serving(settings) as server, receiving(Receiver(free_port())) as receiver:
            await server.http.post(f"{server.url}/api/v1/webhooks/endpoints", json={"url": receiver.url}, headers=HR)
            yield server, mailbox, receiver


async def share(server: LiveServer, interview_ids: list[str], **extra: Any) -> dict[str, Any]:
    body = {"interview_ids": interview_ids, "owner_name": "Wang Qiang", "owner_email": "wang@example.test", "language": "en", **extra}
    response = await server.http.post(f"{server.url}/api/v1/shares", json=body, headers=HR)
    assert response.status_code == 201, response.text
    return response.json()


async def test_an_owner_reviews_what_was_shared_and_hr_hears_the_recommendation(mailed: tuple[LiveServer, Mailbox, Receiver]) -> None:
    server, mailbox, receiver = mailed
    shared_id = await complete_text_interview(server.http, server.url)
    other_id = await complete_text_interview(server.http, server.url)  # not shared
    created = await share(server, [shared_id], message="Please look before Friday.", shared_by="Li Na")
    assert created["mail"] == "sent"
    token = created["link"].rsplit("/r/", 1)[1]

    # The owner's mail: the link and HR's note, but no candidate's name (mail is forwarded and read anywhere).
    await wait_until(lambda: len(mailbox.messages) == 1, what="the owner's e-mail")
    recipients, message = mailbox.messages[0]
    assert recipients == ["wang@example.test"] and "Acme" in str(message["Subject"])
    body = mailbox.body(0)
    assert created["link"] in body and "Please look before Friday." in body and "Kill Test" not in body

    # The page and its data: only what was shared, no contact details, no HR decisions or scoring internals.
    page = await server.http.get(created["link"])
    assert page.status_code == 200 and page.headers["cache-control"] == "private, no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    data = (await server.http.get(f"{server.url}/api/v1/reviews/{token}")).json()
    assert data["share"]["owner_name"] == "Wang Qiang" and data["share"]["message"] == "Please look before Friday."
    (candidate,) = data["candidates"]
    assert candidate["interview"]["id"] == shared_id and candidate["candidate"]["name"] == "Kill Test"
    assert candidate["candidate"]["email"] is None
    assert not {"decisions", "how_scored", "emotion"} & set(candidate)
    assert candidate["questions"][0]["typed"] == ["Because."]

    # HR watches the dashboard while the owner recommends.
    session = (await server.http.post(f"{server.url}/api/v1/hr/sessions", headers=HR)).json()
    async with connect(server.url.replace("http://", "ws://") + f"/ws/hr?token={session['token']}") as hr:
        await receive_json(hr)  # the interview list: from here on the dashboard hears every change, on any node
        recommend = f"{server.url}/api/v1/reviews/{token}/interviews/{shared_id}/recommendation"
        empty = await server.http.post(recommend, json={"recommendation": "recommend", "comment": "  "})
        assert empty.status_code == 422 and empty.json()["code"] == "invalid_recommendation"
        outside = await server.http.post(recommend.replace(shared_id, other_id), json={"recommendation": "recommend", "comment": "yes"})
        assert outside.status_code == 404 and outside.json()["code"] == "interview_not_shared"
        recorded = await server.http.post(recommend, json={"recommendation": "recommend", "comment": "Strong on caching; hire."})
        assert recorded.status_code == 201
        while (heard := await receive_json(hr))["type"] != "owner_review":
            pass
        assert heard["interview_id"] == shared_id
        assert heard["review"]["recommendation"] == "recommend" and heard["review"]["owner_name"] == "Wang Qiang"

    events = await receiver.wait_for(lambda r: any(x.event["type"] == "owner_review.recorded" for x in r))
    event = next(x.event for x in events if x.event["type"] == "owner_review.recorded")
    assert event["data"]["interview_id"] == shared_id and event["data"]["comment"] == "Strong on caching; hire."
    listed = (await server.http.get(f"{server.url}/api/v1/interviews/{shared_id}/shares", headers=HR)).json()["shares"]
    assert [(s["owner_name"], s["usable"], [r["recommendation"] for r in s["reviews"]]) for s in listed] == [
        ("Wang Qiang", True, ["recommend"])
    ]
    review = (await server.http.get(f"{server.url}/api/v1/interviews/{shared_id}/review", headers=HR)).json()
    assert [r["comment"] for r in review["owner_reviews"]] == ["Strong on caching; hire."]
    assert "how_scored" in review and review["candidate"]["email"] is None  # the profile had none


async def test_hr_reminds_owners_who_have_not_reviewed_at_most_once_an_hour(mailed: tuple[LiveServer, Mailbox, Receiver]) -> None:
    server, mailbox, _ = mailed
    first = await complete_text_interview(server.http, server.url)
    second = await complete_text_interview(server.http, server.url)
    created = await share(server, [first, second], language="zh")
    share_id, token = created["share"]["id"], created["link"].rsplit("/r/", 1)[1]
    await server.http.post(
        f"{server.url}/api/v1/reviews/{token}/interviews/{first}/recommendation",
        json={"recommendation": "do_not_recommend", "comment": "不合适"},
    )
    remind = f"{server.url}/api/v1/shares/{share_id}/reminders"
    reminded = await server.http.post(remind, headers=HR)
    assert reminded.status_code == 202, reminded.text
    await wait_until(lambda: len(mailbox.messages) == 2, what="the reminder")
    assert "1 位候选人" in str(mailbox.messages[1][1]["Subject"])  # only the one not yet reviewed
    again = await server.http.post(remind, headers=HR)
    assert again.status_code == 429 and int(again.headers["retry-after"]) > 3500


async def test_a_link_stops_working_when_revoked_expired_forged_or_its_interview_erased(
    mailed: tuple[LiveServer, Mailbox, Receiver],
) -> None:
    server, _, _ = mailed
    interview_id = await complete_text_interview(server.http, server.url)
    created = await share(server, [interview_id], expires_in_hours=1)
    token = created["link"].rsplit("/r/", 1)[1]
    data = f"{server.url}/api/v1/reviews/{token}"
    assert (await server.http.get(data)).status_code == 200
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert (await server.http.get(f"{server.url}/api/v1/reviews/{forged}")).json()["code"] == "invalid_link"
    assert (await server.http.get(f"{server.url}/api/v1/reviews/{'x' * 5000}")).status_code in (401, 414)
    # A review link is not an invite, nor the other way round: the two are signed for different audiences.
    scheduled = (
        await server.http.post(
            f"{server.url}/api/v1/interviews",
            json={
                "job": {"title": "X"},
                "candidate": {"name": "Y"},
                "mode": "text",
                "max_questions": 1,
                "question_bank": [{"id": "q1", "competency": "skills", "difficulty": "standard", "text": {"en": "Why?"}}],
            },
            headers=HR,
        )
    ).json()
    as_link = await server.http.get(f"{server.url}/api/v1/reviews/{scheduled['invite_token']}")
    assert as_link.status_code == 401 and as_link.json()["code"] == "invalid_link"
    as_invite = await server.http.get(f"{server.url}/api/v1/interviews/{interview_id}/result", headers={"Authorization": f"Bearer {token}"})
    assert as_invite.status_code == 401 and as_invite.json()["code"] == "invalid_token"

    # The video links inside a review are short-lived and name one file.
    bad_access = await server.http.get(f"{server.url}/api/v1/interviews/{interview_id}/recordings/q01-1-deadbeef-0.webm?access=x")
    assert bad_access.status_code == 401

    # Erasing the interview takes it out of the share and its reviews with it.
    other = await complete_text_interview(server.http, server.url)
    both = await share(server, [interview_id, other])
    both_token = both["link"].rsplit("/r/", 1)[1]
    await server.http.post(
        f"{server.url}/api/v1/reviews/{both_token}/interviews/{interview_id}/recommendation",
        json={"recommendation": "recommend", "comment": "ok"},
    )
    assert (await server.http.delete(f"{server.url}/api/v1/interviews/{interview_id}", headers=HR)).status_code == 204
    remaining = (await server.http.get(f"{server.url}/api/v1/reviews/{both_token}")).json()["candidates"]
    assert [c["interview"]["id"] for c in remaining] == [other]
    assert not re.search(interview_id, json.dumps(remaining))

    revoked = await server.http.delete(f"{server.url}/api/v1/shares/{both['share']['id']}", headers=HR)
    assert revoked.status_code == 204
    gone = await server.http.get(f"{server.url}/api/v1/reviews/{both_token}")
    assert gone.status_code == 410 and gone.json()["code"] == "share_revoked"
    assert (await server.http.get(f"{server.url}/api/v1/interviews/{other}/shares", headers=HR)).json()["shares"][-1]["usable"] is False
    assert time.time() < created["share"]["expires_at"] <= time.time() + 3601
