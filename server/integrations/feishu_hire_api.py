"""Feishu Hire's events, received: `POST /adapters/feishu-hire/{app_id}/events`, the request URL of each company's app.

    url_verification ─▶ {"challenge"}
    hire.eco_account.created_v1 (exams) ─▶ owed: the tests offered, published as the account's papers
    hire.eco_exam.created_v1 ─▶ interview (once per exam) ─▶ owed: login_info (the entry link) now, update_result after
                                                             the report (hrms_bridge/connectors/feishu_hire.py sends both)

The protocol is in hrms_bridge/connectors/feishu_hire.py. Feishu wants its answer within a second and redelivers an
event it did not get 200 for: an exam is created once (the exam id is its idempotency key, held across nodes), and
the calls back to Feishu go out after the answer, from the durable write-back queue.
"""

from __future__ import annotations

import json
import logging
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from hrms_bridge.connectors.feishu_hire import (
    ACCOUNT_CREATED,
    EXAM_CREATED,
    EXAM_SCOPE,
    NAME,
    EventRefused,
    FeishuHireApp,
    FeishuHireConnector,
    open_event,
)
from realtime_scoring.profiles import CandidateProfile
from server.storage.ats_writebacks import LINK, PAPERS, RESULT
from server.web.ats_tests import offered_tests, ordered_interview, ordered_once
from server.web.context import Services, services_of
from server.web.problems import Problem
from server.web.request_bodies import field_errors

logger = logging.getLogger(__name__)

PREFIX = "/adapters/feishu-hire"
SUCCESS = {"msg": "success"}
M = TypeVar("M", bound=BaseModel)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class Mobile(_Lenient):
    code: str = Field("", max_length=8)
    number: str = Field("", max_length=32)


class CandidateInfo(_Lenient):
    name: str = Field(min_length=1, max_length=200)
    mobile: Mobile | None = None
    email: str | None = Field(None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")


class ExamCreated(_Lenient):
    exam_id: str = Field(min_length=1, max_length=128)
    account_id: str = Field("", max_length=128)
    paper_id: str = Field(min_length=1, max_length=200)
    candidate_info: CandidateInfo


class AccountCreated(_Lenient):
    scope: int
    account_id: str = Field(min_length=1, max_length=128)


def _connector(services: Services) -> FeishuHireConnector:
    connector = services.writebacks.connectors.get(NAME)
    if not isinstance(connector, FeishuHireConnector):
        raise Problem(404, "feishu_hire_not_set_up", "this server has no Feishu Hire app set up (INTERVIEW_FEISHU_HIRE_APPS_FILE)")
    return connector


def _phone(mobile: Mobile | None) -> str | None:
    """Feishu's {code, number} as E.164 where it is a plausible one (what SMS reminders need), else None."""
    if mobile is None or not mobile.number:
        return None
    digits = "".join(ch for ch in mobile.code + mobile.number if ch.isdigit())
    return f"+{digits}" if 8 <= len(digits) <= 15 and not digits.startswith("0") else None


async def receive_event(request: Request) -> JSONResponse:
    services = services_of(request)
    connector = _connector(services)
    app = connector.apps.get(request.path_params["app_id"])
    if app is None:
        raise Problem(404, "unknown_feishu_app", "no Feishu app with this id is set up here")
    try:
        event = open_event(app, request.headers, await request.body())
    except EventRefused as exc:
        raise Problem(401, "feishu_event_refused", str(exc)) from exc
    if event.get("type") == "url_verification":
        return JSONResponse({"challenge": str(event.get("challenge", ""))})
    header = event.get("header") or {}
    event_type = header.get("event_type")
    inner = event.get("event")
    body: dict[str, Any] = inner if isinstance(inner, dict) else {}
    if event_type == EXAM_CREATED:
        await _exam_created(services, app, _parsed(ExamCreated, body))
    elif event_type == ACCOUNT_CREATED:
        account = _parsed(AccountCreated, body)
        if account.scope == EXAM_SCOPE:
            await _owe_papers(services, app, account.account_id)
    else:
        logger.info("feishu hire: app %s: event %s is not one this server acts on", app.app_id, event_type)
    return JSONResponse(SUCCESS)


def _parsed(model: type[M], body: dict[str, Any]) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise Problem(422, "invalid_feishu_event", "the event lacks what this server needs", errors=field_errors(exc)) from exc


async def _exam_created(services: Services, app: FeishuHireApp, exam: ExamCreated) -> None:
    """The exam's interview, created once however often Feishu delivers the event; its link and result owed to Feishu."""

    async def create() -> str | None:
        info = exam.candidate_info
        candidate = CandidateProfile(name=info.name, email=info.email, phone=_phone(info.mobile))
        try:
            spec, job_id = await ordered_interview(services, app.tenant, exam.paper_id, candidate, listed_by="the papers published")
        except Problem as exc:
            # Nothing to arrange: take the event (so it is not redelivered for hours) and say why in the log.
            logger.warning("feishu hire: exam %s: %s", exam.exam_id, exc.detail)
            return None
        interview, invite = await services.schedule(spec, app.tenant, job_id=job_id)
        target = {"app_id": app.app_id, "exam_id": exam.exam_id}
        await services.writebacks.owe(interview.id, LINK, NAME, {**target, "exam_url": invite.invite_url})
        await services.writebacks.owe(interview.id, RESULT, NAME, target)
        logger.info("feishu hire: exam %s is interview %s", exam.exam_id, interview.id)
        return interview.id

    await ordered_once(services, app.tenant, exam_key(app, exam.exam_id), create)


def exam_key(app: FeishuHireApp, exam_id: str) -> str:
    return f"feishu-exam:{app.app_id}:{exam_id}"


async def _owe_papers(services: Services, app: FeishuHireApp, account_id: str) -> None:
    """The tests offered, owed the new account as the papers HR picks from (sent, and retried, by the write-back
    sender: a restart neither forgets nor repeats it; Feishu replaces the list it had, so a redelivered event is harmless)."""
    tests = await offered_tests(services, app.tenant)
    papers: list[dict[str, Any]] = [{"id": test_id, "name": name[:100]} for test_id, name in tests.items()]
    target = {"app_id": app.app_id, "account_id": account_id, "papers": json.dumps(papers, ensure_ascii=False)}
    await services.writebacks.owe(f"{app.app_id}:{account_id}", PAPERS, NAME, target)
    logger.info("feishu hire: %d papers owed account %s of app %s", len(papers), account_id, app.app_id)


ROUTES: list[BaseRoute] = [Route(PREFIX + "/{app_id}/events", receive_event, methods=["POST"])]
