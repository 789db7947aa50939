"""Moka's interview pushes, received: `POST /adapters/moka/{account}/webhooks?sign=…`, the URL given to Moka's CSM.

    createInterviewsInfo / updateInterviewsInfo, video ─▶ an AI interview per interviewee (once per arrangement and
                                                        person), its link e-mailed to the candidate
    deleteInterviewsInfo ─▶ those interviews cancelled

The protocol (signature, optional encryption, payload) is in hrms_bridge/connectors/moka.py. HR sees a refused push
in Moka as a failed import with our answer's words, so every refusal says what to fix, in Chinese and English.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from hrms_bridge.connectors.moka import (
    CREATE_INTERVIEWS,
    DELETE_INTERVIEWS,
    UPDATE_INTERVIEWS,
    VIDEO_INTERVIEW,
    MokaAccount,
    PushRefused,
    open_push,
)
from realtime_scoring.profiles import CandidateProfile
from server.web.ats_tests import ordered_interview, ordered_interview_id, ordered_once
from server.web.context import Services, services_of
from server.web.hrms_api import cancel_everywhere
from server.web.invitation_mail import email_invitation
from server.web.problems import Problem
from server.web.request_bodies import field_errors

logger = logging.getLogger(__name__)

PREFIX = "/adapters/moka"
TAKEN = {"code": 0, "msg": "success"}  # Moka takes any 2xx; its interview push documents this body
MAX_INTERVIEWEES = 200  # Moka arranges at most 200 applications at once
MAINLAND_MOBILE = re.compile(r"1[3-9][0-9]{9}")


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class Interviewee(_Lenient):
    id: int | str
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=32)
    jobId: int | str | None = None
    jobTitle: str | None = Field(None, max_length=200)

    @field_validator("email")
    @classmethod
    def _email_or_none(cls, value: str | None) -> str | None:
        return value if value and re.fullmatch(r"[^@\s]+@[^@\s]+", value) else None


class Arrangement(_Lenient):
    event_id: int | str
    interviewee: list[Interviewee] = Field(default_factory=list, max_length=MAX_INTERVIEWEES)


class InterviewsPush(_Lenient):
    interviewType: int
    interviews: list[Arrangement] = Field(default_factory=list, max_length=MAX_INTERVIEWEES)


def _account(services: Services, name: str) -> MokaAccount:
    account = services.moka_accounts.get(name)
    if account is None:
        raise Problem(404, "unknown_moka_account", "no Moka account with this name is set up here · 此服务未配置该 Moka 账号")
    return account


def _phone(raw: str | None) -> str | None:
    """Moka's phone as E.164 where it reads as one: +… kept, an 11-digit mainland mobile given +86; else None."""
    digits = re.sub(r"[\s-]", "", raw or "")
    if re.fullmatch(r"\+[1-9][0-9]{7,14}", digits):
        return digits
    return f"+86{digits}" if MAINLAND_MOBILE.fullmatch(digits) else None


def order_key(account: MokaAccount, arrangement: Arrangement, person: Interviewee) -> str:
    return f"moka:{account.account}:{arrangement.event_id}:{person.id}"


async def receive_push(request: Request) -> JSONResponse:
    services = services_of(request)
    account = _account(services, request.path_params["account"])
    try:
        push = open_push(account, request.query_params.get("sign"), await request.body())
    except PushRefused as exc:
        raise Problem(401, "moka_push_refused", f"{exc} · 签名或加密校验失败") from exc
    event = push.get("event")
    if event not in (CREATE_INTERVIEWS, UPDATE_INTERVIEWS, DELETE_INTERVIEWS):
        return JSONResponse({**TAKEN, "msg": f"{event} is not acted on here"})
    data = push.get("data")
    try:
        arranged = InterviewsPush.model_validate(data if isinstance(data, dict) else {})
    except ValidationError as exc:
        detail = "the interview push lacks what this server needs · 面试推送缺少必要信息"
        raise Problem(422, "invalid_moka_push", detail, errors=field_errors(exc, "data")) from exc
    if arranged.interviewType != VIDEO_INTERVIEW:
        return JSONResponse({**TAKEN, "msg": "not a video interview: nothing to do · 非视频面试，无需处理"})
    if sum(len(a.interviewee) for a in arranged.interviews) > MAX_INTERVIEWEES:
        raise Problem(
            422, "too_many_interviewees", f"at most {MAX_INTERVIEWEES} interviewees in one push · 单次推送最多 {MAX_INTERVIEWEES} 人"
        )
    if event == DELETE_INTERVIEWS:
        await _cancel(services, account, arranged)
    else:
        await _arrange(services, account, arranged)
    return JSONResponse(TAKEN)


async def _arrange(services: Services, account: MokaAccount, arranged: InterviewsPush) -> None:
    for arrangement in arranged.interviews:
        for person in arrangement.interviewee:
            await ordered_once(services, account.tenant, order_key(account, arrangement, person), _creator(services, account, person))


def _creator(services: Services, account: MokaAccount, person: Interviewee) -> Callable[[], Awaitable[str | None]]:
    async def create() -> str | None:
        test_id = account.default_test.replace("{jobId}", str(person.jobId or ""))
        candidate = CandidateProfile(name=person.name, email=person.email, phone=_phone(person.phone))
        try:
            spec, job_id = await ordered_interview(services, account.tenant, test_id, candidate, listed_by="list_tests")
        except Problem as exc:
            job = person.jobTitle or person.jobId
            detail = f"{exc.detail} · 职位「{job}」在面试服务中没有对应的面试（请先同步该职位及其题目）"
            raise Problem(exc.status, exc.code, detail) from exc
        interview, invite = await services.schedule(spec, account.tenant, job_id=job_id)
        await email_invitation(services, interview, invite, "moka")
        return interview.id

    return create


async def _cancel(services: Services, account: MokaAccount, arranged: InterviewsPush) -> None:
    for arrangement in arranged.interviews:
        for person in arrangement.interviewee:
            interview_id = await ordered_interview_id(services, account.tenant, order_key(account, arrangement, person))
            interview = await services.store.get_interview(interview_id, account.tenant) if interview_id else None
            if interview is not None:
                try:
                    await cancel_everywhere(services, interview)
                except Problem:  # already over: nothing to cancel
                    logger.info("moka: interview %s has ended; Moka's deletion leaves it as it is", interview.id)


ROUTES: list[BaseRoute] = [Route(PREFIX + "/{account}/webhooks", receive_push, methods=["POST"])]
