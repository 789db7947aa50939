"""Greenhouse's assessment-partner calls, made over HTTP as Greenhouse makes them: Basic auth with the key as username."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from websockets.asyncio.client import connect

from hrms_bridge.writeback_sender import WriteBackSender
from loadtests.whip_client import give_consent
from server.storage.ats_writebacks import RESULT, WriteBackStore
from server.storage.sealed import Sealer
from tests.conftest import LiveServer, free_port, make_settings, serving
from tests.helpers.mail_server import mail_server
from tests.helpers.waiting import sender_settled, wait_until
from tests.helpers.webhook_receiver import receiving

ACME, GLOBEX = "acme-key-0123456789abcdef", "globex-key-0123456789abcdef"
ACME_2 = "acme-second-key-0123456789abcdef"  # a tenant may hand Greenhouse any of its keys
GREENHOUSE = "/adapters/greenhouse"
CANDIDATE = {
    "first_name": "Harry",
    "last_name": "Potter",
    "resume_url": "https://hogwarts.example/resume",
    "phone_number": "123-456-7890",
    "email": "hpotter@hogwarts.example",
    "greenhouse_profile_url": "https://app.greenhouse.io/people/17681532?application_id=26234709",
}
# Greenhouse's callback path on a public address literal: checking it needs no DNS lookup (tests stay off the
# network), and these tests never complete an interview with it, so nothing is ever sent there.
CALLBACK = "https://8.8.8.8/integrations/testing_partners/take_home_tests/12345"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    async with serving(make_settings(tmp_path / "data", api_keys=[], tenants={"acme": [ACME], "globex": [GLOBEX]})) as live:
        yield live


def callback_settings(data_dir: Path, retry_schedule_s: list[float], store: dict[str, object] | None = None) -> Any:
    """Settings under which a loopback http receiver may stand in for Greenhouse's callback URL (on `store`: conftest's
    store_settings)."""
    return make_settings(
        data_dir,
        api_keys=[],
        tenants={"acme": [ACME, ACME_2], "globex": [GLOBEX]},
        webhook_allow_http=True,
        webhook_allow_private_addresses=True,
        webhook_retry_schedule_s=retry_schedule_s,
        **(store or {}),
    )


@dataclass
class Patched:
    at: float
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class GreenhouseCallbacks:
    """Greenhouse's end of "Mark Test as Completed" on loopback: keeps every request, answers `responses` in order, then `then`."""

    port: int = field(default_factory=free_port)
    responses: list[int] = field(default_factory=list)
    then: int = 200
    requests: list[Patched] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/integrations/testing_partners/take_home_tests/12345"

    def app(self) -> Starlette:
        async def take_home_test(request: Request) -> Response:
            self.requests.append(Patched(time.monotonic(), request.method, request.url.path, dict(request.headers), await request.body()))
            return Response(status_code=self.responses.pop(0) if self.responses else self.then)

        return Starlette(
            routes=[
                Route(
                    "/integrations/testing_partners/take_home_tests/{test_id}",
                    take_home_test,
                    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                )
            ]
        )

    async def wait_for(self, count: int, timeout: float = 15.0) -> list[Patched]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"Greenhouse got {len(self.requests)} requests, waited for {count}")
            await asyncio.sleep(0.05)
        return self.requests


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def notifier_of(server: LiveServer) -> WriteBackSender:
    return server.services.writebacks


async def greenhouse(server: LiveServer, method: str, call: str, key: str | None = ACME, **kwargs: Any) -> httpx.Response:
    """One request as Greenhouse sends it: `Authorization: Basic base64("<key>:")`."""
    if key is not None:
        kwargs["auth"] = (key, "")
    return await server.http.request(method, f"{server.url}{GREENHOUSE}/{call}", **kwargs)


async def send_test(server: LiveServer, test_id: str, key: str = ACME, url: str | None = CALLBACK) -> str:
    """Greenhouse's Send Test; `url` is its callback (only interviews never completed keep the real one: no test reaches it)."""
    body: dict[str, Any] = {"partner_test_id": test_id, "candidate": CANDIDATE}
    if url is not None:
        body["url"] = url
    response = await greenhouse(server, "POST", "send_test", key, json=body)
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
    await give_consent(server.http, f"{server.url}/api/v1/interviews/{interview_id}", token)
    asked = []
    async with connect(server.url.replace("http://", "ws://") + f"/ws/interviews/{interview_id}?token={token}") as ws:
        await ws.send(json.dumps({"v": 1, "type": "ready"}))
        while (message := json.loads(await asyncio.wait_for(ws.recv(), 10)))["type"] != "completed":
            if message["type"] == "question":
                qid = message["question"]["id"]
                if not asked:
                    assert (await poll_status(server, interview_id)) == {"partner_status": "in_progress"}
                asked.append(qid)
                answer = (
                    "Idempotent requests with a retry, a 409 status code, resource versioning and pagination, a cache "
                    "in Redis, a B+ tree index instead of a full table scan, code review with tests; I keep learning."
                )
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
    interview_id = await send_test(server, "backend_engineer:en:text", url=None)  # no callback: Greenhouse polls
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
    assert status["partner_profile_url"] == f"{server.url}/hr#/interview/{interview_id}"  # HR's page, no key in it
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
    reported = await greenhouse(
        server,
        "POST",
        "response_error",
        json={
            "api_call": "test_status",
            "errors": ["partner_status is 'complete' but partner_profile url is missing"],
            "partner_test_id": "backend_engineer:en",
            "partner_interview_id": "299506",
            "candidate_email": CANDIDATE["email"],
        },
    )
    assert reported.status_code == 200 and reported.json() == {"status": 200}


async def wait_complete(server: LiveServer, interview_id: str, key: str = ACME) -> dict[str, Any]:
    for _ in range(100):
        status = await poll_status(server, interview_id, key)
        if status["partner_status"] == "complete":
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"never complete: {status}")


async def test_a_completed_test_is_marked_completed_with_one_patch_to_greenhouses_url(
    tmp_path: Path, store_settings: dict[str, object]
) -> None:
    callbacks = GreenhouseCallbacks()
    async with receiving(callbacks), serving(callback_settings(tmp_path / "data", [0.2, 0.2], store_settings)) as server:
        notifier = notifier_of(server)
        interview_id = await send_test(server, "backend_engineer:en:text", ACME_2, url=callbacks.url)
        stored = await notifier.store.get(interview_id, RESULT)
        assert stored is not None and stored.target == {"url": callbacks.url, "api_key": ACME_2} and stored.connector == "greenhouse"
        assert stored.done_at is None
        await sender_settled(notifier)  # nothing is sent before the report exists
        assert callbacks.requests == []

        assert await take_text_interview(server, interview_id)
        [patch] = await callbacks.wait_for(1)
        assert patch.method == "PATCH" and patch.path == "/integrations/testing_partners/take_home_tests/12345"
        assert patch.headers["authorization"] == basic(ACME_2), "the key Greenhouse sent the test with, as Basic username"
        assert patch.body == b"", "no parameters are necessary"
        # Greenhouse then calls Test Status, which has the results.
        status = await wait_complete(server, interview_id, ACME_2)
        assert status["partner_score"] is not None and status["partner_profile_url"].endswith(f"/hr#/interview/{interview_id}")

        await sender_settled(notifier)  # passes after the success send nothing more
        assert len(callbacks.requests) == 1
        stored = await notifier.store.get(interview_id, RESULT)
        assert stored is not None and stored.done_at is not None
        assert stored.attempts == 1 and stored.last_status == 200 and stored.last_error is None


async def test_a_failed_patch_is_retried_until_greenhouse_takes_it(tmp_path: Path, store_settings: dict[str, object]) -> None:
    callbacks = GreenhouseCallbacks(responses=[503, 500])
    async with receiving(callbacks), serving(callback_settings(tmp_path / "data", [0.3, 0.3, 0.3], store_settings)) as server:
        notifier = notifier_of(server)
        interview_id = await send_test(server, "sales:en:text", url=callbacks.url)
        await take_text_interview(server, interview_id)
        patches = await callbacks.wait_for(3)
        assert all(p.method == "PATCH" and p.headers["authorization"] == basic(ACME) for p in patches)
        assert patches[1].at - patches[0].at >= 0.2 and patches[2].at - patches[1].at >= 0.2, "retried on the schedule"
        await sender_settled(notifier)
        assert len(callbacks.requests) == 3, "nothing more once Greenhouse answered 200"
        stored = await notifier.store.get(interview_id, RESULT)
        assert stored is not None and stored.done_at is not None and stored.attempts == 3


async def test_the_patch_gives_up_after_the_schedule_and_survives_a_restart(tmp_path: Path, store_settings: dict[str, object]) -> None:
    data = tmp_path / "data"
    callbacks = GreenhouseCallbacks(then=503)
    async with receiving(callbacks):
        async with serving(callback_settings(data, [1.0], store_settings)) as server:
            notifier = notifier_of(server)
            interview_id = await send_test(server, "backend_engineer:en:text", url=callbacks.url)
            await take_text_interview(server, interview_id)
            await callbacks.wait_for(1)
            for _ in range(100):  # the answer recorded (a PATCH cut short by the stop would wait out its lease)
                stored = await notifier.store.get(interview_id, RESULT)
                if stored is not None and stored.attempts == 1:
                    break
                await asyncio.sleep(0.05)
            assert stored is not None and stored.attempts == 1 and stored.last_status == 503
        # Stopped before the retry was due: the next start sends it, from what the database kept.
        assert len(callbacks.requests) == 1
        async with serving(callback_settings(data, [1.0], store_settings)) as server:
            await callbacks.wait_for(2)
            await sender_settled(notifier_of(server))
            assert len(callbacks.requests) == 2, "given up after the schedule"
            stored = await notifier_of(server).store.get(interview_id, RESULT)
            assert stored is not None and stored.done_at is None and stored.next_attempt_at is None
            assert stored.attempts == 2 and stored.last_status == 503 and stored.last_error == "HTTP 503"
            assert (await poll_status(server, interview_id))["partner_status"] == "complete", "Greenhouse can still poll"


async def test_a_callback_url_into_private_networks_or_without_https_is_refused(server: LiveServer) -> None:
    for url in (
        "http://127.0.0.1:9/integrations/testing_partners/take_home_tests/1",
        "https://127.0.0.1/integrations/testing_partners/take_home_tests/1",
        "https://10.1.2.3/take_home_tests/1",
        "https://localhost/take_home_tests/1",
        "http://app.greenhouse.io/integrations/testing_partners/take_home_tests/1",
        "file:///etc/passwd",
    ):
        response = await greenhouse(server, "POST", "send_test", json={"partner_test_id": "sales:en", "candidate": CANDIDATE, "url": url})
        assert response.status_code == 422, (url, response.text)
        problem = response.json()
        assert problem["code"] == "refused_callback_url" and problem["detail"].startswith("url: ")
        assert problem["errors"][0]["loc"] == ["url"]
    assert await server.services.store.interview_ids("acme") == [], "a refused test schedules nothing"

    # Greenhouse's own https URL is kept, with the key it authenticated with, until the interview completes.
    interview_id = await send_test(server, "sales:en")
    store = await WriteBackStore.open(server.settings.database_path, Sealer.from_file(server.settings.secrets_key_path))
    try:
        stored = await store.get(interview_id, RESULT)
        assert stored is not None and stored.target == {"url": CALLBACK, "api_key": ACME}
        assert stored.done_at is None and stored.attempts == 0
        assert not await store.add("no-such-interview", RESULT, "greenhouse", {"url": CALLBACK, "api_key": ACME})
    finally:
        await store.close()


async def test_the_partner_invites_greenhouses_candidate_by_e_mail_in_the_tests_language(tmp_path: Path) -> None:
    with mail_server() as (mailbox, smtp):
        settings = make_settings(
            tmp_path / "data", api_keys=[], tenants={"acme": [ACME]}, tenant_policies={"acme": {"company_name": "Acme"}}, **smtp
        )
        async with serving(settings) as server:
            english = await send_test(server, "backend_engineer:en", url=None)
            chinese = await send_test(server, "backend_engineer:zh:text", url=None)
            await wait_until(lambda: len(mailbox.messages) == 2, what="both invitations")
    by_subject = {str(message["Subject"]): (to, mailbox.body(i)) for i, (to, message) in enumerate(mailbox.messages)}
    (to, body) = by_subject["Acme: your video interview for Backend engineer"]
    assert to == [CANDIDATE["email"]] and "Hello Harry Potter" in body and "/i/" in body
    assert server.services.signer.verify(body.split("/i/", 1)[1].split()[0]).interview_id == english
    zh_subject = next(s for s in by_subject if s.startswith("Acme："))
    assert "视频面试邀请" in zh_subject
    assert server.services.signer.verify(by_subject[zh_subject][1].split("/i/", 1)[1].split()[0]).interview_id == chinese


async def test_a_tenants_own_jobs_are_tests_too_with_their_own_settings(server: LiveServer) -> None:
    job = {"title": "Payments engineer", "language": "zh", "role": "backend_engineer", "required_skills": [{"name": "Go"}]}
    assert (await server.http.put(f"{server.url}/api/v1/jobs/pay-1", json=job, headers={"X-API-Key": ACME})).status_code == 201
    offered = {t["partner_test_id"]: t["partner_test_name"] for t in (await greenhouse(server, "GET", "list_tests")).json()}
    assert "video" in offered["job:pay-1"] and offered["job:pay-1:text"].startswith("Payments engineer")
    others = {t["partner_test_id"] for t in (await greenhouse(server, "GET", "list_tests", GLOBEX)).json()}
    assert "job:pay-1" not in others, "another tenant's jobs are not offered"

    interview_id = await send_test(server, "job:pay-1:text", url=None)
    interview = (await hr(server, "GET", f"/api/v1/interviews/{interview_id}")).json()["interview"]
    assert (interview["job_id"], interview["mode"], interview["job"]["language"]) == ("pay-1", "text", "zh")
    assert interview["job"]["title"] == "Payments engineer" and interview["job"]["required_skills"][0]["name"] == "Go"
    missing = await greenhouse(server, "POST", "send_test", json={"partner_test_id": "job:gone", "candidate": CANDIDATE})
    assert missing.status_code == 404
    assert (
        await greenhouse(server, "POST", "send_test", GLOBEX, json={"partner_test_id": "job:pay-1", "candidate": CANDIDATE})
    ).status_code == 404


async def test_send_test_takes_the_candidate_nested_as_in_greenhouses_example_or_flat_as_in_its_table(server: LiveServer) -> None:
    flat = {"partner_test_id": "backend_engineer:en:text", **CANDIDATE}
    response = await greenhouse(server, "POST", "send_test", json=flat)
    assert response.status_code == 200, response.text
    interview = (await hr(server, "GET", f"/api/v1/interviews/{response.json()['partner_interview_id']}")).json()["interview"]
    assert interview["candidate"]["name"] == "Harry Potter" and interview["candidate"]["email"] == CANDIDATE["email"]
    without_email = {k: v for k, v in flat.items() if k != "email"}
    assert (await greenhouse(server, "POST", "send_test", json=without_email)).status_code == 422
