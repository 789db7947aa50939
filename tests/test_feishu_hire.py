"""Feishu Hire as an assessment provider, against a loopback double of Feishu's documented Open Platform
(tests/helpers/feishu_api.py): signed, encrypted events; the interview created once per exam; the entry link and the
result written back with a cached, refreshed tenant token; retries on rate limits and failures."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from hrms_bridge.connectors.feishu_hire import FeishuHireConnector
from server.storage.ats_writebacks import LINK, PAPERS, RESULT
from server.web.ats_tests import ordered_interview_id
from tests.conftest import LiveServer, free_port, make_settings, serving
from tests.helpers.feishu_api import FeishuOpenPlatform, encrypt, feishu_open_platform
from tests.helpers.interviews import answer_every_question
from tests.helpers.waiting import eventually, sender_settled, wait_until

TENANT = "acme"
EXAM_CREATED = "hire.eco_exam.created_v1"


@pytest.fixture
async def feishu() -> AsyncIterator[FeishuOpenPlatform]:
    async with feishu_open_platform(FeishuOpenPlatform(free_port())) as platform:
        yield platform


def feishu_settings(data_dir: Path, feishu: FeishuOpenPlatform, retry_schedule_s: list[float], store: dict[str, object]) -> Any:
    data_dir.mkdir(parents=True, exist_ok=True)
    apps = data_dir / "feishu-apps.json"
    apps.write_text(json.dumps([feishu.app_config(TENANT)]))
    apps.chmod(0o600)
    return make_settings(
        data_dir,
        tenants={TENANT: ["acme-key-0123456789"]},
        feishu_hire_apps_file=apps,
        webhook_allow_http=True,  # the double is on loopback http
        webhook_allow_private_addresses=True,
        webhook_retry_schedule_s=retry_schedule_s,
        **store,
    )


def events_url(server: LiveServer, feishu: FeishuOpenPlatform) -> str:
    return f"{server.url}/adapters/feishu-hire/{feishu.app_id}/events"


async def deliver(server: LiveServer, feishu: FeishuOpenPlatform, sealed: tuple[bytes, dict[str, str]]) -> httpx.Response:
    body, headers = sealed
    return await server.http.post(events_url(server, feishu), content=body, headers=headers)


def exam_event(exam_id: str, paper_id: str = "backend_engineer:en:text") -> dict[str, Any]:
    return {
        "exam_id": exam_id,
        "account_id": "6995553337652832555",
        "paper_id": paper_id,
        "candidate_info": {"name": "王小明", "mobile": {"code": "86", "number": "13800138000"}, "email": "xiaoming@example.com"},
    }


def connector_of(server: LiveServer) -> FeishuHireConnector:
    connector = server.services.writebacks.connectors["feishu_hire"]
    assert isinstance(connector, FeishuHireConnector)
    return connector


async def interview_of_exam(server: LiveServer, feishu: FeishuOpenPlatform, exam_id: str) -> str:
    interview_id = await ordered_interview_id(server.services, TENANT, f"feishu-exam:{feishu.app_id}:{exam_id}")
    assert interview_id is not None, "the exam made an interview"
    return interview_id


async def test_url_verification_is_answered_with_the_challenge_and_events_not_from_feishu_are_refused(
    tmp_path: Path, feishu: FeishuOpenPlatform
) -> None:
    async with serving(feishu_settings(tmp_path / "data", feishu, [0.2], {})) as server:
        # Saving the request URL: the challenge comes encrypted (this app has an Encrypt Key) and unsigned.
        challenge = {"challenge": "ajls384kdjx98XX", "token": feishu.verification_token, "type": "url_verification"}
        body = json.dumps({"encrypt": encrypt(feishu.encrypt_key, json.dumps(challenge).encode())}).encode()
        answer = await server.http.post(events_url(server, feishu), content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 200 and answer.json() == {"challenge": "ajls384kdjx98XX"}

        refusals = []
        raw, headers = feishu.event(EXAM_CREATED, exam_event("7001"))
        refusals.append(await server.http.post(events_url(server, feishu), content=raw, headers={**headers, "x-lark-signature": "0" * 64}))
        tampered = raw.replace(b'"encrypt": "', b'"encrypt": "A')
        refusals.append(await server.http.post(events_url(server, feishu), content=tampered, headers=headers))
        unsigned = {k: v for k, v in headers.items() if not k.startswith("x-lark")}
        refusals.append(await server.http.post(events_url(server, feishu), content=raw, headers=unsigned))
        stranger = FeishuOpenPlatform(feishu.port, app_id=feishu.app_id)  # another Encrypt Key and token
        refusals.append(await deliver(server, feishu, stranger.event(EXAM_CREATED, exam_event("7002"))))
        plain = json.dumps({"schema": "2.0", "header": {"event_type": EXAM_CREATED, "token": feishu.verification_token}})
        refusals.append(await server.http.post(events_url(server, feishu), content=plain, headers={"content-type": "application/json"}))
        for refused in refusals:
            assert refused.status_code == 401 and refused.json()["code"] == "feishu_event_refused", refused.text
        unknown_app = await server.http.post(f"{server.url}/adapters/feishu-hire/cli_nobody/events", content=raw, headers=headers)
        assert unknown_app.status_code == 404 and unknown_app.json()["code"] == "unknown_feishu_app"
        await sender_settled(server.services.writebacks)
        assert feishu.calls == [] and feishu.token_requests == 0, "nothing refused reached Feishu's API"


async def test_an_exam_becomes_one_interview_whose_link_and_result_go_back_to_feishu(
    tmp_path: Path, feishu: FeishuOpenPlatform, store_settings: dict[str, object]
) -> None:
    async with serving(feishu_settings(tmp_path / "data", feishu, [0.2, 0.2], store_settings)) as server:
        event = feishu.event(EXAM_CREATED, exam_event("7100"), event_id="ev-7100")
        for _ in range(2):  # Feishu redelivers an event it thinks went unanswered: still one interview
            answer = await deliver(server, feishu, event)
            assert answer.status_code == 200 and answer.json() == {"msg": "success"}
        interview_id = await interview_of_exam(server, feishu, "7100")
        interview = await server.services.store.get_interview(interview_id)
        assert interview is not None and interview.tenant == TENANT
        assert interview.candidate.name == "王小明" and interview.candidate.phone == "+8613800138000"
        assert interview.mode == "text" and interview.job.role == "backend_engineer"

        await wait_until(lambda: feishu.calls_to("/login_info"), what="login_info")
        [link] = feishu.calls_to("/login_info")
        assert link.path == "/open-apis/hire/v1/eco_exams/7100/login_info" and link.authorization.startswith("Bearer t-")
        assert link.body["result"] == 0
        exam_url = link.body["exam_login_info"]["exam_url"]
        assert (await server.http.get(exam_url)).status_code == 200, "the link Feishu shows the candidate opens the interview"
        await sender_settled(server.services.writebacks)
        assert feishu.calls_to("/update_result") == [], "no result before the report"

        token = urlsplit(exam_url).path.rsplit("/", 1)[-1]
        assert await answer_every_question(server.http, server.url, interview_id, token)
        await wait_until(lambda: feishu.calls_to("/update_result"), what="update_result")
        [result] = feishu.calls_to("/update_result")
        assert result.path == "/open-apis/hire/v1/eco_exams/7100/update_result"
        assert 0 <= float(result.body["result"]) <= 100 and result.body["result_time"].isdigit()
        [report] = result.body["report_list"]
        assert report["url"] == f"{server.settings.base_url}/hr#/interview/{interview_id}" and "王小明" in report["name"]
        assert any(d["id"] == "recommendation" for d in result.body["detail_list"])
        assert feishu.token_requests == 1, "one tenant token, cached for both calls"

        await sender_settled(server.services.writebacks)
        assert len(feishu.calls) == 2, "each sent once"
        for action in (LINK, RESULT):
            row = await server.services.writebacks.store.get(interview_id, action)
            assert row is not None and row.done_at is not None and row.attempts == 1


async def test_a_revoked_or_expiring_token_is_fetched_again_and_failures_are_retried(tmp_path: Path, feishu: FeishuOpenPlatform) -> None:
    async with serving(feishu_settings(tmp_path / "data", feishu, [0.2, 0.2, 0.2, 0.2], {})) as server:
        assert (await deliver(server, feishu, feishu.event(EXAM_CREATED, exam_event("7200")))).status_code == 200
        await wait_until(lambda: feishu.calls_to("/login_info"), what="the first login_info")
        assert feishu.token_requests == 1

        feishu.revoke_tokens()  # Feishu answers the next call 99991663: the server drops its token and fetches one
        assert (await deliver(server, feishu, feishu.event(EXAM_CREATED, exam_event("7201")))).status_code == 200
        await wait_until(lambda: len(feishu.calls_to("/login_info")) == 2, what="login_info with a fresh token")
        assert feishu.token_requests == 2
        first, second = feishu.calls_to("/login_info")
        assert first.authorization != second.authorization

        # A rate limit (429, code 99991400, reset in 1 s) and a server error: retried on the schedule, then taken.
        feishu.fail_next(1, 429, 99991400, {"x-ogw-ratelimit-reset": "1"})
        feishu.fail_next(1, 500, 1254000)
        assert (await deliver(server, feishu, feishu.event(EXAM_CREATED, exam_event("7202")))).status_code == 200
        interview_id = await interview_of_exam(server, feishu, "7202")
        await wait_until(lambda: len(feishu.calls_to("/login_info")) == 3, timeout=20, what="login_info after the failures")

        async def recorded() -> bool:  # the double counts the call before it answers; the sender records after
            row = await server.services.writebacks.store.get(interview_id, LINK)
            return row is not None and row.done_at is not None

        await eventually(recorded, what="the third attempt recorded")
        row = await server.services.writebacks.store.get(interview_id, LINK)
        assert row is not None and row.attempts == 3
        assert feishu.token_requests == 2, "the token was still good"

        # A token in its last minutes is replaced before it runs out, not after Feishu refuses it.
        feishu.token_ttl_s = 302  # the server fetches again 300 s before expiry: this one is stale in 2 s
        feishu.revoke_tokens()
        assert (await deliver(server, feishu, feishu.event(EXAM_CREATED, exam_event("7203")))).status_code == 200
        await wait_until(lambda: len(feishu.calls_to("/login_info")) == 4, what="login_info after a revocation")
        assert (feishu.token_requests, feishu.tokens_refused) == (3, 2)
        connector_of(server).tokens.clock = lambda: time.time() + 3  # three seconds on
        assert (await deliver(server, feishu, feishu.event(EXAM_CREATED, exam_event("7204")))).status_code == 200
        await wait_until(lambda: len(feishu.calls_to("/login_info")) == 5, what="login_info with a token near its expiry")
        assert (feishu.token_requests, feishu.tokens_refused) == (4, 2), "fetched ahead of expiry, never refused"


async def test_a_bound_exam_account_gets_the_tests_offered_as_papers(tmp_path: Path, feishu: FeishuOpenPlatform) -> None:
    async with serving(feishu_settings(tmp_path / "data", feishu, [0.2], {})) as server:
        bound = {"scope": 2, "account_id": "6995553337652832555", "account_name": "AI 面试", "usage_list": [1, 2]}
        answer = await deliver(server, feishu, feishu.event("hire.eco_account.created_v1", bound))
        assert answer.status_code == 200
        await wait_until(lambda: feishu.calls_to("/eco_exam_papers"), what="papers published")
        [papers] = feishu.calls_to("/eco_exam_papers")
        assert papers.body["account_id"] == "6995553337652832555"
        ids = {paper["id"] for paper in papers.body["paper_list"]}
        assert {"backend_engineer:en", "backend_engineer:en:text", "backend_engineer:zh"} <= ids

        # An exam on a paper this server does not offer makes no interview, and is taken (not redelivered for hours).
        unknown = await deliver(server, feishu, feishu.event(EXAM_CREATED, exam_event("7300", paper_id="no-such-paper")))
        assert unknown.status_code == 200
        assert (await server.services.store.recent_interviews(TENANT)) == []


async def test_papers_owed_an_account_are_kept_across_a_restart_and_published_once_feishu_takes_them(
    tmp_path: Path, feishu: FeishuOpenPlatform, store_settings: dict[str, object]
) -> None:
    data = tmp_path / "data"
    account = "7000000000000000001"
    bound = {"scope": 2, "account_id": account, "account_name": "AI 面试", "usage_list": [1]}
    feishu.fail_next(1, 500, 1254000)
    async with serving(feishu_settings(data, feishu, [1.0], store_settings)) as server:
        assert (await deliver(server, feishu, feishu.event("hire.eco_account.created_v1", bound))).status_code == 200

        async def failed_once() -> bool:
            row = await server.services.writebacks.store.get(f"{feishu.app_id}:{account}", PAPERS)
            return row is not None and row.attempts == 1 and row.done_at is None

        await eventually(failed_once, what="the first publication recorded as failed")
        assert feishu.calls_to("/eco_exam_papers") == []
    # Stopped before the retry was due (as a crash would): the next start publishes from what the store kept.
    async with serving(feishu_settings(data, feishu, [1.0], store_settings)) as server:
        await wait_until(lambda: feishu.calls_to("/eco_exam_papers"), what="papers published after the restart")
        [papers] = feishu.calls_to("/eco_exam_papers")
        assert papers.body["account_id"] == account and papers.body["paper_list"]
        await sender_settled(server.services.writebacks)
        row = await server.services.writebacks.store.get(f"{feishu.app_id}:{account}", PAPERS)
        assert row is not None and row.done_at is not None and row.attempts == 2
        assert len(feishu.calls_to("/eco_exam_papers")) == 1, "published once"


async def test_an_event_without_what_an_exam_needs_is_a_clear_4xx(tmp_path: Path, feishu: FeishuOpenPlatform) -> None:
    async with serving(feishu_settings(tmp_path / "data", feishu, [0.2], {})) as server:
        answer = await deliver(server, feishu, feishu.event(EXAM_CREATED, {"exam_id": secrets.token_hex(4), "paper_id": "x"}))
        assert answer.status_code == 422 and answer.json()["code"] == "invalid_feishu_event"
        assert any(error["loc"] == ["candidate_info"] for error in answer.json()["errors"])
