"""The HRMS's side of the API: tenants, stored profiles, short links, cancel, reschedule, decisions, erasure."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from loadtests.whip_client import give_consent
from server.storage.redis_store import RedisInterviewStore
from server.web.rate_limit import FAILED_KEYS_BURST
from tests.conftest import LiveServer, free_port, make_settings, serving
from tests.helpers.interviews import receive_json
from tests.helpers.redis_server import RedisServer, client_for
from tests.helpers.waiting import eventually, sender_settled, wait_until
from tests.helpers.webhook_receiver import Receiver, receiving

ACME, GLOBEX = "acme-key-0123456789abcdef", "globex-key-0123456789abcdef"
JOB = {"title": "Data analyst", "role": "data_analyst", "required_skills": [{"name": "SQL"}, {"name": "Python"}], "min_years_experience": 2}
CANDIDATE = {"name": "Wang Fang", "email": "wang@example.com", "skills": ["SQL", "Excel"], "years_experience": 3}
TEXT_BANK = [{"id": "q1", "competency": "skills", "difficulty": "standard", "text": {"en": "Why?"}}]


@pytest.fixture
async def server(tmp_path: Path, store_settings: dict[str, object]) -> AsyncIterator[LiveServer]:
    """On each interview store (SQLite, Redis)."""
    settings = make_settings(
        tmp_path / "data",
        api_keys=[],
        tenants={"acme": [ACME], "globex": [GLOBEX]},
        webhook_allow_http=True,
        webhook_allow_private_addresses=True,
        webhook_retry_schedule_s=[0.2] * 5,
        **store_settings,
    )
    async with serving(settings) as live:
        yield live


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving(Receiver(free_port())) as running:
        yield running


async def call(server: LiveServer, method: str, path: str, key: str = ACME, **kwargs: Any):  # type: ignore[no-untyped-def]
    return await server.http.request(method, f"{server.url}{path}", headers={"X-API-Key": key}, **kwargs)


async def schedule(server: LiveServer, key: str = ACME, **body: Any) -> dict[str, Any]:
    response = await call(server, "POST", "/api/v1/interviews", key, json={"job": JOB, "candidate": CANDIDATE, **body})
    assert response.status_code == 201, response.text
    return response.json()


async def complete_text_interview(server: LiveServer, created: dict[str, Any]) -> None:
    interview_id, token = created["interview"]["id"], created["invite_token"]
    await give_consent(server.http, f"{server.url}/api/v1/interviews/{interview_id}", token)
    async with connect(server.url.replace("http://", "ws://") + f"/ws/interviews/{interview_id}?token={token}") as ws:
        await ws.send(json.dumps({"v": 1, "type": "ready"}))
        await ws.send(json.dumps({"v": 1, "type": "answer.text", "question_id": "q1", "text": "Because I like data."}))
        await ws.send(json.dumps({"v": 1, "type": "answer.done", "question_id": "q1"}))
        while json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "completed":
            pass


async def test_a_tenant_cannot_see_or_touch_another_tenants_interview_or_events(server: LiveServer, receiver: Receiver) -> None:
    await call(server, "POST", "/api/v1/webhooks/endpoints", GLOBEX, json={"url": receiver.url})
    interview_id = (await schedule(server, ACME))["interview"]["id"]
    for method, path in [
        ("GET", f"/api/v1/interviews/{interview_id}"),
        ("GET", f"/api/v1/interviews/{interview_id}/report"),
        ("POST", f"/api/v1/interviews/{interview_id}/cancel"),
        ("POST", f"/api/v1/interviews/{interview_id}/decisions"),
    ]:
        response = await call(server, method, path, GLOBEX, json={"decision": "reject"})
        assert response.status_code == 404 and response.json()["code"] == "interview_not_found", (method, path)
    assert (await call(server, "GET", f"/api/v1/interviews/{interview_id}", ACME)).status_code == 200
    await schedule(server, GLOBEX)
    (only,) = await receiver.wait_for(lambda r: len(r) >= 1)
    await sender_settled(server.services.dispatcher)
    assert len(receiver.requests) == 1 and only.event["data"]["interview_id"] != interview_id
    assert (await call(server, "GET", "/api/v1/webhooks/endpoints", ACME)).json()["endpoints"] == []


async def test_interviews_are_scheduled_from_stored_profiles_with_a_short_link(server: LiveServer) -> None:
    assert (await call(server, "PUT", "/api/v1/jobs/job-42", json=JOB)).status_code == 201
    assert (await call(server, "PUT", "/api/v1/jobs/job-42", json={**JOB, "min_years_experience": 3})).status_code == 200
    assert (await call(server, "PUT", "/api/v1/candidates/cand-7", json=CANDIDATE)).status_code == 201
    created = await schedule_from_ids(server, "job-42", "cand-7")
    interview = created["interview"]
    assert interview["job_id"] == "job-42" and interview["candidate_id"] == "cand-7" and interview["job"]["min_years_experience"] == 3
    assert created["match"]["score"] > 0
    job = (await call(server, "GET", "/api/v1/jobs/job-42")).json()
    assert [i["id"] for i in job["interviews"]] == [interview["id"]]

    short = created["short_url"]
    assert len(short.rsplit("/", 1)[1]) == 22, "128 random bits: as hard to guess as the token it stands for"
    redirect = await server.http.get(short, follow_redirects=False)
    assert redirect.status_code == 302 and redirect.headers["location"] == f"/i/{created['invite_token']}"
    assert (await server.http.get(f"{server.url}/s/nope")).status_code == 404

    unknown = await call(server, "POST", "/api/v1/interviews", json={"job_id": "nope", "candidate_id": "cand-7"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["loc"] == ["job_id"]
    both = await call(server, "POST", "/api/v1/interviews", json={"job_id": "job-42", "job": JOB, "candidate_id": "cand-7"})
    assert both.status_code == 422 and "not both" in both.json()["errors"][0]["msg"]
    assert (await call(server, "GET", "/api/v1/candidates/cand-7", GLOBEX)).status_code == 404


async def schedule_from_ids(server: LiveServer, job_id: str, candidate_id: str, **body: Any) -> dict[str, Any]:
    response = await call(server, "POST", "/api/v1/interviews", json={"job_id": job_id, "candidate_id": candidate_id, **body})
    assert response.status_code == 201, response.text
    return response.json()


async def test_cancel_reschedule_and_decisions_are_recorded_and_announced(server: LiveServer, receiver: Receiver) -> None:
    await call(server, "POST", "/api/v1/webhooks/endpoints", json={"url": receiver.url})
    created = await schedule(server)
    interview_id = created["interview"]["id"]
    rescheduled = (await call(server, "POST", f"/api/v1/interviews/{interview_id}/reschedule", json={"invite_ttl_hours": 1})).json()
    assert rescheduled["invite_token"] != created["invite_token"] and rescheduled["invite_expires_at"] < created["invite_expires_at"]
    decision = await call(server, "POST", f"/api/v1/interviews/{interview_id}/decisions", json={"decision": "hold", "note": "wait"})
    assert decision.status_code == 201
    bad = await call(server, "POST", f"/api/v1/interviews/{interview_id}/decisions", json={"decision": "maybe"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["decision"]
    cancelled = await call(server, "POST", f"/api/v1/interviews/{interview_id}/cancel")
    assert cancelled.json()["interview"]["status"] == "cancelled"
    url = server.url.replace("http://", "ws://") + f"/ws/interviews/{interview_id}?token={rescheduled['invite_token']}"
    async with connect(url) as ws:
        assert (await receive_json(ws))["interview"]["status"] == "cancelled"
    requests = await receiver.wait_for(lambda r: len(r) == 4)
    # Webhooks carry no order guarantee (each event is retried on its own); receivers order by timestamp.
    assert sorted(r.event["type"] for r in requests) == [
        "decision.recorded",
        "interview.cancelled",
        "interview.scheduled",
        "interview.scheduled",
    ]
    expiries = {r.event["data"]["invite_expires_at"] for r in requests if r.event["type"] == "interview.scheduled"}
    assert expiries == {created["invite_expires_at"], rescheduled["invite_expires_at"]}
    # The HRMS gets the candidate's links in the event, to send them on.
    links = {(r.event["data"]["invite_url"], r.event["data"]["short_url"]) for r in requests if r.event["type"] == "interview.scheduled"}
    assert links == {(created["invite_url"], created["short_url"]), (rescheduled["invite_url"], rescheduled["short_url"])}
    state = (await call(server, "GET", f"/api/v1/interviews/{interview_id}")).json()
    assert [d["decision"] for d in state["decisions"]] == ["hold"]


async def test_a_final_decision_needs_a_note_and_an_ended_interview_and_moves_it_to_decided(server: LiveServer) -> None:
    created = await schedule(server, mode="text", question_bank=TEXT_BANK, max_questions=1)
    interview_id = created["interview"]["id"]
    decide = f"/api/v1/interviews/{interview_id}/decisions"
    early = await call(server, "POST", decide, json={"decision": "reject", "note": "not yet seen"})
    assert early.status_code == 409 and early.json()["code"] == "interview_not_ended"
    await complete_text_interview(server, created)
    no_note = await call(server, "POST", decide, json={"decision": "advance", "note": ""})
    assert no_note.status_code == 422 and no_note.json()["errors"][0]["loc"] == ["note"]
    held = await call(server, "POST", decide, json={"decision": "hold", "note": "compare with the other finalists", "decided_by": "Li Na"})
    assert held.status_code == 201
    assert (await call(server, "GET", f"/api/v1/interviews/{interview_id}")).json()["interview"]["status"] == "completed"
    advanced = await call(server, "POST", decide, json={"decision": "advance", "note": "clear caching answer", "decided_by": "Li Na"})
    assert advanced.status_code == 201
    state = (await call(server, "GET", f"/api/v1/interviews/{interview_id}")).json()
    assert state["interview"]["status"] == "decided"
    # Every decision stays, with who made it, when and why.
    assert [(d["decision"], d["note"], d["decided_by"]) for d in state["decisions"]] == [
        ("hold", "compare with the other finalists", "Li Na"),
        ("advance", "clear caching answer", "Li Na"),
    ]
    # The report is still there; the candidate's page says only that the interview is over, never the decision.
    assert (await call(server, "GET", f"/api/v1/interviews/{interview_id}/report")).status_code == 200
    url = server.url.replace("http://", "ws://") + f"/ws/interviews/{interview_id}?token={created['invite_token']}"
    async with connect(url) as ws:
        assert (await receive_json(ws))["interview"]["status"] == "completed"


async def test_erasing_a_candidate_removes_everything_including_undelivered_events(server: LiveServer, receiver: Receiver) -> None:
    receiver.then = 503  # the HRMS is down: the report waits in the outbox
    await call(server, "PUT", "/api/v1/jobs/job-1", json=JOB)
    await call(server, "PUT", "/api/v1/candidates/cand-1", json=CANDIDATE)
    await call(server, "POST", "/api/v1/webhooks/endpoints", json={"url": receiver.url})
    created = await schedule_from_ids(server, "job-1", "cand-1", mode="text", question_bank=TEXT_BANK, max_questions=1)
    interview_id = created["interview"]["id"]
    await complete_text_interview(server, created)
    assert (await call(server, "GET", f"/api/v1/interviews/{interview_id}/report")).status_code == 200
    await receiver.wait_for(lambda r: any(x.event["type"] == "report.ready" for x in r))

    assert (await call(server, "DELETE", "/api/v1/candidates/cand-1")).status_code == 204
    for path in (f"/api/v1/interviews/{interview_id}", f"/api/v1/interviews/{interview_id}/report", "/api/v1/candidates/cand-1"):
        assert (await call(server, "GET", path)).status_code == 404, path
    assert (await server.http.get(created["short_url"])).status_code == 404
    receiver.then = 204
    receiver.requests.clear()
    await receiver.wait_for(lambda r: any(x.event["type"] == "candidate.deleted" for x in r))
    await sender_settled(server.services.dispatcher)
    assert [r.event["type"] for r in receiver.requests] == ["candidate.deleted"], "nothing carrying the candidate's data is sent"
    assert receiver.requests[0].event["data"] == {"candidate_id": "cand-1", "interviews_deleted": [interview_id]}
    remaining = (await call(server, "GET", "/api/v1/webhooks/deliveries")).json()["deliveries"]
    assert {d["event_type"] for d in remaining} == {"candidate.deleted"}
    assert (await call(server, "DELETE", "/api/v1/candidates/cand-1")).status_code == 404


async def test_a_retried_create_with_the_same_idempotency_key_gets_the_first_answer(server: LiveServer) -> None:
    body = {"job": JOB, "candidate": CANDIDATE}
    headers = {"X-API-Key": ACME, "Idempotency-Key": "req-123"}
    first = await server.http.post(f"{server.url}/api/v1/interviews", json=body, headers=headers)
    again = await server.http.post(f"{server.url}/api/v1/interviews", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["interview"]["id"] == first.json()["interview"]["id"] and again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    other = await server.http.post(f"{server.url}/api/v1/interviews", json={**body, "max_questions": 2}, headers=headers)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    # Keys are per tenant, and no key means no deduplication.
    globex = await server.http.post(f"{server.url}/api/v1/interviews", json=body, headers={**headers, "X-API-Key": GLOBEX})
    assert globex.status_code == 201 and globex.json()["interview"]["id"] != first.json()["interview"]["id"]
    assert (await schedule(server))["interview"]["id"] != first.json()["interview"]["id"]


async def test_the_rate_limit_counts_every_way_of_presenting_a_key_and_refuses_keys_that_disagree(tmp_path: Path) -> None:
    # The attacks: an empty X-API-Key beside the Bearer key, and a repeated X-API-Key whose last value is bogus, both
    # once passed authentication while the rate limit, reading the headers its own way, saw no tenant to count.
    settings = make_settings(tmp_path / "data", api_keys=[], tenants={"acme": [ACME]}, hr_rate_limit_per_s=0.5, hr_rate_limit_burst=3)
    async with serving(settings) as server:
        stats = f"{server.url}/api/v1/stats"
        empty_beside_bearer = [("X-API-Key", ""), ("Authorization", f"Bearer {ACME}")]
        codes = [(await server.http.get(stats, headers=empty_beside_bearer)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429], "the Bearer key is counted like any other"
        for headers in ([("X-API-Key", ACME), ("X-API-Key", "bogus")], [("X-API-Key", ACME), ("Authorization", "Bearer bogus")]):
            refused = await server.http.get(stats, headers=headers)
            assert refused.status_code == 401 and refused.json()["code"] == "ambiguous_api_key", headers
        same_twice = [("X-API-Key", ACME), ("Authorization", f"Bearer {ACME}")]
        assert (await server.http.get(stats, headers=same_twice)).status_code == 429, "one key, shown twice, is one key"


async def test_each_tenant_is_rate_limited_on_its_own(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "data", api_keys=[], tenants={"acme": [ACME], "globex": [GLOBEX]}, hr_rate_limit_per_s=0.5, hr_rate_limit_burst=3
    )
    async with serving(settings) as server:
        codes = [(await call(server, "GET", "/api/v1/stats", ACME)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = await call(server, "GET", "/api/v1/stats", ACME)
        assert limited.json()["code"] == "rate_limited" and int(limited.headers["retry-after"]) >= 1
        assert (await call(server, "GET", "/api/v1/stats", GLOBEX)).status_code == 200
        assert (await server.http.get(f"{server.url}/healthz")).status_code == 200


MARKERS = (b"Zhao Erasure-Marker", b"erase-me-7f3a@example.com")


def files_holding(directory: Path, needles: tuple[bytes, ...]) -> list[str]:
    """Every file under `directory` whose bytes contain one of `needles` (the way someone with the disk would look)."""
    return sorted(str(f.relative_to(directory)) for f in directory.rglob("*") if f.is_file() and any(n in f.read_bytes() for n in needles))


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_erasure_leaves_the_name_and_email_nowhere_on_disk_however_the_interview_was_created(tmp_path: Path, backend: str) -> None:
    redis_dir = tmp_path / "redis"
    redis_server = RedisServer(redis_dir, persistent=True) if backend == "redis" else None
    store = {} if redis_server is None else {"redis_url": redis_server.url, "store": "redis", "node_id": "node-test"}
    if redis_server is not None:
        redis_server.start()
    try:
        settings = make_settings(tmp_path / "data", api_keys=[], tenants={"acme": [ACME]}, **store)
        async with serving(settings) as server:
            person = {"name": MARKERS[0].decode(), "email": MARKERS[1].decode(), "skills": ["SQL"], "years_experience": 3}
            assert (await call(server, "PUT", "/api/v1/candidates/cand-x", json=person)).status_code in (200, 201)
            await call(server, "PUT", "/api/v1/jobs/job-x", json=JOB)
            retried = {"headers": {"X-API-Key": ACME, "Idempotency-Key": "create-cand-x"}}
            body = {"job_id": "job-x", "candidate_id": "cand-x", "mode": "text", "question_bank": TEXT_BANK, "max_questions": 1}
            from_profile = await server.http.post(f"{server.url}/api/v1/interviews", json=body, **retried)
            assert from_profile.status_code == 201
            await complete_text_interview(server, from_profile.json())
            inline_body = {"job": JOB, "candidate": person, "mode": "text", "question_bank": TEXT_BANK, "max_questions": 1}
            inline = await server.http.post(
                f"{server.url}/api/v1/interviews", json=inline_body, headers={"X-API-Key": ACME, "Idempotency-Key": "inline-x"}
            )
            assert inline.status_code == 201
            await complete_text_interview(server, inline.json())
            places = [tmp_path / "data"] + ([redis_dir] if redis_server else [])
            await settle(redis_server)
            assert any(files_holding(place, MARKERS) for place in places), "the search finds them before the erasure"

            erased_at = time.time()
            assert (await call(server, "DELETE", "/api/v1/candidates/cand-x")).status_code == 204
            inline_id = inline.json()["interview"]["id"]
            assert (await call(server, "DELETE", f"/api/v1/interviews/{inline_id}")).status_code == 204
            assert (await call(server, "DELETE", f"/api/v1/interviews/{inline_id}")).status_code == 404
            # The cached answer to the retried create named the erased interview: the same key now creates anew.
            other = {**inline_body, "candidate": {"name": "Someone Else"}}
            again = await server.http.post(
                f"{server.url}/api/v1/interviews", json=other, headers={"X-API-Key": ACME, "Idempotency-Key": "inline-x"}
            )
            assert again.status_code == 201 and again.json()["interview"]["id"] != inline_id
            await wait_until(lambda: rewriter_idle(server), what="the node to ask Redis for its rewrites")
            await settle(redis_server, snapshot_after=erased_at)
            for place in places:
                assert files_holding(place, MARKERS) == [], place
    finally:
        if redis_server is not None:
            redis_server.stop()


def rewriter_idle(server: LiveServer) -> bool:
    store = server.services.store
    return not isinstance(store, RedisInterviewStore) or store.persistence.idle


async def settle(redis_server: RedisServer | None, snapshot_after: float = 0.0) -> None:
    """Wait until Redis has finished rewriting its files (an erasure asks for both rewrites in the background), and
    has written a snapshot since `snapshot_after`."""
    if redis_server is None:
        return
    client = client_for(redis_server)
    try:

        async def quiet() -> bool:
            info = await client.info("persistence")
            busy = int(info["aof_rewrite_in_progress"]) or int(info["rdb_bgsave_in_progress"]) or int(info["aof_rewrite_scheduled"])
            return not busy and (not snapshot_after or int(info["rdb_last_save_time"]) >= int(snapshot_after))

        await eventually(quiet, what="Redis's rewrite")
    finally:
        await client.aclose()


async def test_guessing_keys_from_one_address_is_slowed_while_valid_keys_and_other_addresses_go_on(tmp_path: Path) -> None:
    async with serving(make_settings(tmp_path / "data", api_keys=[], tenants={"acme": [ACME]})) as server:
        statuses = []
        for i in range(FAILED_KEYS_BURST + 5):
            wrong = {"X-API-Key": f"guess-{i:04d}-0123456789abcdef"}
            statuses.append((await server.http.get(f"{server.url}/api/v1/webhooks/endpoints", headers=wrong)).status_code)
        assert statuses == [401] * FAILED_KEYS_BURST + [429] * 5
        refused = await server.http.get(f"{server.url}/api/v1/webhooks/endpoints", headers={"X-API-Key": "another-guess-0123456789"})
        assert refused.json()["code"] == "too_many_failed_keys" and int(refused.headers["retry-after"]) >= 1
        assert (await call(server, "GET", "/api/v1/webhooks/endpoints")).status_code == 200, "the tenant's own key still works"
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with httpx.AsyncClient(transport=transport) as elsewhere:
            other = await elsewhere.get(f"{server.url}/api/v1/webhooks/endpoints", headers={"X-API-Key": "a-wrong-key-0123456789"})
        assert other.status_code == 401, "another address is not held to this one's failures"
