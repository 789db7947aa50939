"""Greenhouse's assessment-partner calls, made over HTTP as Greenhouse makes them: Basic auth with the key as username."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.conftest import LiveServer, make_settings, serving

ACME, GLOBEX = "acme-key-0123456789abcdef", "globex-key-0123456789abcdef"
GREENHOUSE = "/adapters/greenhouse"
CANDIDATE = {
    "first_name": "Harry",
    "last_name": "Potter",
    "resume_url": "https://hogwarts.example/resume",
    "phone_number": "123-456-7890",
    "email": "hpotter@hogwarts.example",
    "greenhouse_profile_url": "https://app.greenhouse.io/people/17681532?application_id=26234709",
}
CALLBACK = "https://app.greenhouse.io/integrations/testing_partners/take_home_tests/12345"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    async with serving(make_settings(tmp_path / "data", api_keys=[], tenants={"acme": [ACME], "globex": [GLOBEX]})) as live:
        yield live


async def greenhouse(server: LiveServer, method: str, call: str, key: str | None = ACME, **kwargs: Any) -> httpx.Response:
    """One request as Greenhouse sends it: `Authorization: Basic base64("<key>:")`."""
    if key is not None:
        kwargs["auth"] = (key, "")
    return await server.http.request(method, f"{server.url}{GREENHOUSE}/{call}", **kwargs)


async def send_test(server: LiveServer, test_id: str, key: str = ACME) -> str:
    response = await greenhouse(server, "POST", "send_test", key, json={"partner_test_id": test_id, "candidate": CANDIDATE, "url": CALLBACK})
    assert response.status_code == 200, response.text
    assert list(response.json()) == ["partner_interview_id"], "the documented reply is that one key"
    return response.json()["partner_interview_id"]


async def poll_status(server: LiveServer, interview_id: str, key: str = ACME) -> dict[str, Any]:
    response = await greenhouse(server, "GET", "test_status", key, params={"partner_interview_id": interview_id})
    assert response.status_code == 200, response.text
    return response.json()


async def hr(server: LiveServer, method: str, path: str, key: str = ACME) -> httpx.Response:
    return await server.http.request(method, f"{server.url}{path}", headers={"X-API-Key": key})


async def take_text_interview(server: LiveServer, interview_id: str) -> list[str]:
    """Be the candidate: get an invite through the HR API, then answer every question pushed until the end."""
    token = (await hr(server, "POST", f"/api/v1/interviews/{interview_id}/reschedule")).json()["invite_token"]
    asked = []
    async with connect(server.url.replace("http://", "ws://") + f"/ws/interviews/{interview_id}?token={token}") as ws:
        await ws.send(json.dumps({"v": 1, "type": "ready"}))
        while (message := json.loads(await asyncio.wait_for(ws.recv(), 10)))["type"] != "completed":
            if message["type"] == "question":
                qid = message["question"]["id"]
                if not asked:
                    assert (await poll_status(server, interview_id)) == {"partner_status": "in_progress"}
                asked.append(qid)
                answer = ("Idempotent requests with a retry, a 409 status code, resource versioning and pagination, a cache "
                          "in Redis, a B+ tree index instead of a full table scan, code review with tests; I keep learning.")
                await ws.send(json.dumps({"v": 1, "type": "answer.text", "question_id": qid, "text": answer}))
                await ws.send(json.dumps({"v": 1, "type": "answer.done", "question_id": qid}))
    return asked


async def test_list_tests_offers_every_shipped_role_in_english_and_mandarin(server: LiveServer) -> None:
    response = await greenhouse(server, "GET", "list_tests")
    assert response.status_code == 200
    tests = response.json()
    assert all(set(t) == {"partner_test_id", "partner_test_name"} for t in tests)
    assert all(isinstance(t["partner_test_id"], str) and t["partner_test_name"] for t in tests)
    ids = [t["partner_test_id"] for t in tests]
    assert len(ids) == len(set(ids))
    for role in ("backend_engineer", "data_analyst", "sales"):
        for test_id in (f"{role}:en", f"{role}:zh", f"{role}:en:text", f"{role}:zh:text"):
            assert test_id in ids
    names = {t["partner_test_id"]: t["partner_test_name"] for t in tests}
    assert "video" in names["backend_engineer:en"] and "English" in names["backend_engineer:en"]
    assert "written" in names["backend_engineer:zh:text"] and "Mandarin" in names["backend_engineer:zh:text"]


async def test_a_sent_test_is_polled_from_sent_to_complete_with_the_reports_score(server: LiveServer) -> None:
    interview_id = await send_test(server, "backend_engineer:en:text")
    assert await poll_status(server, interview_id) == {"partner_status": "sent"}
    interview = (await hr(server, "GET", f"/api/v1/interviews/{interview_id}")).json()["interview"]
    assert interview["mode"] == "text" and interview["status"] == "scheduled"
    assert interview["job"]["role"] == "backend_engineer" and interview["job"]["language"] == "en"
    assert interview["job"]["title"] == "Backend engineer" and interview["job"]["required_skills"] == []
    assert interview["candidate"]["name"] == "Harry Potter" and interview["candidate"]["email"] == CANDIDATE["email"]

    asked = await take_text_interview(server, interview_id)
    assert asked
    report_url = f"{server.url}/api/v1/interviews/{interview_id}/report"
    for _ in range(50):  # the report is written just after the page hears "completed"
        status = await poll_status(server, interview_id)
        if status["partner_status"] == "complete":
            break
        await asyncio.sleep(0.1)
    report = (await hr(server, "GET", f"/api/v1/interviews/{interview_id}/report")).json()["report"]
    overall = report["recommendation"]["overall"]
    assert overall is not None and overall > 0
    assert status["partner_status"] == "complete" and status["partner_score"] == overall
    assert status["partner_profile_url"] == report_url
    assert (await server.http.get(report_url, headers={"X-API-Key": ACME})).status_code == 200
    metadata = status["metadata"]
    assert all(isinstance(v, (str, int, float, bool)) for v in metadata.values()), "a flat object of primitives"
    assert metadata["Recommendation"] == report["recommendation"]["decision"].replace("_", " ").capitalize()
    assert metadata["Questions answered"] == f"{len(asked)} of {len(report['questions'])}"
    assert metadata["Skills score"] == report["competencies"]["skills"]["score"]
    assert set(status) == {"partner_status", "partner_profile_url", "partner_score", "metadata"}


async def test_the_video_test_is_a_video_interview_in_the_tests_language(server: LiveServer) -> None:
    interview_id = await send_test(server, "sales:zh")
    interview = (await hr(server, "GET", f"/api/v1/interviews/{interview_id}")).json()["interview"]
    assert interview["mode"] == "video" and interview["job"]["language"] == "zh" and interview["job"]["title"] == "销售"
    assert await poll_status(server, interview_id) == {"partner_status": "sent"}
    assert (await hr(server, "POST", f"/api/v1/interviews/{interview_id}/cancel")).status_code == 200
    assert await poll_status(server, interview_id) == {"partner_status": "cancelled"}


async def test_greenhouse_must_present_a_valid_api_key_as_the_basic_username(server: LiveServer) -> None:
    interview_id = await send_test(server, "backend_engineer:en")
    wrong = [
        {},
        {"auth": ("not-a-key", "")},
        {"auth": ("", ACME)},  # the key belongs in the username
        {"headers": {"Authorization": "Basic %%%not-base64"}},
        {"headers": {"Authorization": f"Bearer {ACME}"}},  # Greenhouse only speaks Basic
    ]
    for kwargs in wrong:
        for method, call, extra in [
            ("GET", "list_tests", {}),
            ("POST", "send_test", {"json": {"partner_test_id": "backend_engineer:en", "candidate": CANDIDATE}}),
            ("GET", "test_status", {"params": {"partner_interview_id": interview_id}}),
            ("POST", "response_error", {"json": {"api_call": "list_tests", "errors": ["x"]}}),
        ]:
            response = await greenhouse(server, method, call, None, **kwargs, **extra)
            assert response.status_code == 401, (kwargs, call, response.text)
            assert response.headers["www-authenticate"].startswith("Basic")
            assert response.json()["code"] in ("missing_api_key", "invalid_api_key")
    assert (await hr(server, "GET", f"/api/v1/interviews/{interview_id}")).json()["interview"]["status"] == "scheduled"


async def test_an_unknown_or_another_tenants_test_instance_is_not_found(server: LiveServer) -> None:
    interview_id = await send_test(server, "backend_engineer:en")
    for key, instance in [(ACME, "no-such-interview"), (GLOBEX, interview_id)]:
        response = await greenhouse(server, "GET", "test_status", key, params={"partner_interview_id": instance})
        assert response.status_code == 404 and response.json()["code"] == "interview_not_found"
    assert (await poll_status(server, interview_id))["partner_status"] == "sent"
    assert (await poll_status(server, await send_test(server, "sales:en", GLOBEX), GLOBEX))["partner_status"] == "sent"


async def test_malformed_calls_get_a_4xx_that_says_what_is_wrong(server: LiveServer) -> None:
    async def send(**kwargs: Any) -> httpx.Response:
        return await greenhouse(server, "POST", "send_test", **kwargs)

    not_json = await send(content=b"{nope", headers={"content-type": "application/json"})
    assert not_json.status_code == 422 and not_json.json()["code"] == "invalid_send_test"
    assert (await send(json=["backend_engineer:en"])).status_code == 422
    missing = await send(json={"partner_test_id": "backend_engineer:en"})
    assert missing.status_code == 422 and missing.json()["errors"][0]["loc"] == ["candidate"]
    no_email = await send(json={"partner_test_id": "backend_engineer:en", "candidate": {**CANDIDATE, "email": "not an email"}})
    assert no_email.status_code == 422 and no_email.json()["errors"][0]["loc"] == ["candidate", "email"]
    numeric = await send(json={"partner_test_id": 12345, "candidate": CANDIDATE})
    assert numeric.status_code == 422 and numeric.json()["errors"][0]["loc"] == ["partner_test_id"]
    unknown = await send(json={"partner_test_id": "astronaut:en", "candidate": CANDIDATE})
    assert unknown.status_code == 404 and "list_tests" in unknown.json()["detail"]
    # Properties Greenhouse may add later are ignored, not refused.
    extra = await send(json={"partner_test_id": "sales:en", "candidate": {**CANDIDATE, "pronouns": "he/him"}, "application_id": 7})
    assert extra.status_code == 200

    for params in ({}, {"partner_interview_id": " "}):
        response = await greenhouse(server, "GET", "test_status", params=params)
        assert response.status_code == 422 and "partner_interview_id" in response.json()["detail"]

    bad_report = await greenhouse(server, "POST", "response_error", json={"api_call": "test_status"})
    assert bad_report.status_code == 422 and bad_report.json()["errors"][0]["loc"] == ["errors"]
    reported = await greenhouse(server, "POST", "response_error", json={
        "api_call": "test_status", "errors": ["partner_status is 'complete' but partner_profile url is missing"],
        "partner_test_id": "backend_engineer:en", "partner_interview_id": "299506", "candidate_email": CANDIDATE["email"],
    })
    assert reported.status_code == 200 and reported.json() == {"status": 200}
