"""Greenhouse's assessment-partner endpoints: our shipped interviews offered, sent and reported as Greenhouse "tests".

Follows Greenhouse's "Assessment API" (https://developers.greenhouse.io/assessment.html, source in
github.com/grnhse/greenhouse-api-docs): sections Authentication (HTTP Basic, the API key as the username,
empty password), List Tests, Send Test, Test Status, Response Error and Errors (401, 404).

- A test is a shipped question bank in one language: `backend_engineer:en` is the video interview,
  `backend_engineer:en:text` the written one (the candidate types the answers); or one of the tenant's own jobs,
  `job:{job id}` and `job:{job id}:text`, with the questions and language HR set up for it.
- `send_test` schedules an interview for the candidate; its id is the `partner_interview_id`.
- `test_status` says `complete` once the interview's report exists, with the report's overall score,
  its URL and a summary as `metadata`.
- "Mark Test as Completed": `send_test` keeps Greenhouse's callback `url` (checked like a webhook URL: https,
  public addresses, unless the webhook_allow_* settings say otherwise) with the API key Greenhouse authenticated
  with, as a result write-back; once the report exists, the write-back sender (hrms_bridge/writeback_sender.py, in
  the server's lifespan) has hrms_bridge/connectors/greenhouse.py PATCH that URL with the key as Basic username,
  retrying on the webhook schedule, and Greenhouse then calls `test_status`.

The documented `send_test` reply is the id alone; the partner invites the candidate, so the server e-mails them the
link (`INTERVIEW_SMTP_*`), and the tenant's HRMS gets the links in the signed interview.scheduled webhook as well.
`partner_profile_url` is the candidate's page in HR's workspace.
"""

from __future__ import annotations

import base64
import binascii
import logging
import socket
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from hrms_bridge.connectors.greenhouse import NAME as GREENHOUSE
from hrms_bridge.destinations import DestinationPolicy, DestinationRefused
from realtime_scoring.profiles import CandidateProfile
from realtime_scoring.report import InterviewReport
from server.domain.interview import Interview, InterviewStatus
from server.storage.ats_writebacks import RESULT
from server.web.ats_tests import offered_tests, ordered_interview
from server.web.auth import require_api_key
from server.web.context import Services, services_of
from server.web.invitation_mail import email_invitation
from server.web.problems import Problem
from server.web.request_bodies import parse

logger = logging.getLogger(__name__)

PREFIX = "/adapters/greenhouse"
COMPLETE = "complete"  # the partner_status Greenhouse waits for ("results are available")
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="greenhouse"'}


class _Lenient(BaseModel):
    # Greenhouse "reserves the right to add more properties": unknown keys are ignored, not refused.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class GreenhouseCandidate(_Lenient):
    first_name: str = Field(min_length=1, max_length=99)
    last_name: str = Field(max_length=99)
    email: str = Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    phone_number: str | None = None
    resume_url: str | None = None
    greenhouse_profile_url: str | None = None


class SendTest(_Lenient):
    partner_test_id: str = Field(min_length=1, max_length=128)
    candidate: GreenhouseCandidate
    url: str | None = Field(None, max_length=2000)  # PATCHed when the test is complete ("Mark Test as Completed")

    @model_validator(mode="before")
    @classmethod
    def _flat_candidate(cls, value: Any) -> Any:
        """Greenhouse's example nests the candidate under `candidate`, its property table lists first_name, email and
        the rest at the top level: both are taken."""
        if isinstance(value, dict) and "candidate" not in value and "email" in value:
            fields = set(GreenhouseCandidate.model_fields)
            return {**{k: v for k, v in value.items() if k not in fields}, "candidate": {k: v for k, v in value.items() if k in fields}}
        return value


class ResponseError(_Lenient):
    api_call: str
    errors: list[str]
    partner_test_id: str | None = None
    partner_test_name: str | None = None
    partner_interview_id: str | None = None
    candidate_email: str | None = None


def _caller(request: Request) -> tuple[Services, str]:
    """The tenant whose API key is the Basic-auth username; 401 with a Basic challenge otherwise."""
    services, tenant, _ = _authenticated(request)
    return services, tenant


def _authenticated(request: Request) -> tuple[Services, str, str]:
    """`_caller`, with the API key itself (the one to PATCH Greenhouse's callback URL with)."""
    services = services_of(request)
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    key = ""
    if scheme.lower() == "basic":
        try:
            key = base64.b64decode(credentials.strip(), validate=True).decode("utf-8").partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            key = ""
    try:
        return services, require_api_key({"x-api-key": key} if key else {}, services.api_keys), key
    except Problem as exc:
        detail = exc.detail if key else "send the API key as the username of HTTP Basic authentication (empty password)"
        raise Problem(401, exc.code, detail, headers=BASIC_CHALLENGE) from None


async def list_tests(request: Request) -> JSONResponse:
    """The shipped roles, and the tenant's own jobs (what HR set up, with its questions and rules)."""
    services, tenant = _caller(request)
    offered = await offered_tests(services, tenant)
    return JSONResponse([{"partner_test_id": test_id, "partner_test_name": name} for test_id, name in offered.items()])


async def send_test(request: Request) -> JSONResponse:
    """Schedule the test's interview for Greenhouse's candidate; the interview id is the partner_interview_id."""
    services, tenant, key = _authenticated(request)
    body = parse(SendTest, await request.body(), "invalid_send_test")
    candidate = body.candidate
    profile = CandidateProfile(name=f"{candidate.first_name} {candidate.last_name}".strip(), email=candidate.email)
    spec, job_id = await ordered_interview(services, tenant, body.partner_test_id, profile, listed_by="list_tests")
    if body.url:  # before scheduling: a refused URL schedules nothing
        await _check_callback_url(services.destinations, body.url)
    interview, invite = await services.schedule(spec, tenant, job_id=job_id)
    if body.url:
        await services.writebacks.owe(interview.id, RESULT, GREENHOUSE, {"url": body.url, "api_key": key})
    # Greenhouse leaves the invitation to the partner: the candidate gets it by e-mail (and the tenant's HRMS the
    # links in the interview.scheduled webhook, as for every interview).
    await email_invitation(services, interview, invite, "greenhouse")
    return JSONResponse({"partner_interview_id": interview.id})


async def _check_callback_url(policy: DestinationPolicy, url: str) -> None:
    """Greenhouse's callback URL goes through the webhook destination policy (no SSRF by way of Greenhouse's
    payload); 422 naming `url` when refused. A host that does not resolve now is let through: the policy is
    applied again, with a fresh lookup, before every PATCH."""
    try:
        await policy.check(url)
    except DestinationRefused as exc:
        if isinstance(exc.__cause__, socket.gaierror):
            return
        detail = f"url: Greenhouse's completion callback URL is refused: {exc}"
        raise Problem(422, "refused_callback_url", detail, errors=[{"loc": ["url"], "msg": str(exc)}]) from exc


async def get_test_status(request: Request) -> JSONResponse:
    services, tenant = _caller(request)
    interview_id = request.query_params.get("partner_interview_id", "").strip()
    if not interview_id:
        raise Problem(422, "invalid_test_status", "the partner_interview_id query parameter is required")
    # Another tenant's interview is as absent as one that never existed.
    interview = await services.store.get_interview(interview_id, tenant)
    if interview is None:
        raise Problem(404, "interview_not_found", f"no test instance with partner_interview_id {interview_id!r}")
    stored = await services.store.report(interview.id) if interview.status in (InterviewStatus.COMPLETED, InterviewStatus.DECIDED) else None
    if stored is None:
        return JSONResponse({"partner_status": _pending_status(interview)})
    report = InterviewReport.model_validate(stored.report)
    body: dict[str, object] = {
        "partner_status": COMPLETE,
        # The candidate's page in HR's workspace (signed in there), not an API URL that wants the key.
        "partner_profile_url": f"{services.settings.base_url}/hr#/interview/{interview.id}",
    }
    if report.recommendation.overall is not None:
        body["partner_score"] = report.recommendation.overall
    body["metadata"] = _metadata(interview, report, stored.created_at)
    return JSONResponse(body)


async def report_response_error(request: Request) -> JSONResponse:
    """Greenhouse found one of our responses malformed: log what it says, for whoever operates the integration."""
    _caller(request)
    body = parse(ResponseError, await request.body(), "invalid_response_error")
    logger.warning(
        "Greenhouse refused our %s response (partner_test_id=%s, partner_interview_id=%s): %s",
        body.api_call,
        body.partner_test_id,
        body.partner_interview_id,
        "; ".join(body.errors),
    )
    return JSONResponse({"status": 200})


def _pending_status(interview: Interview) -> str:
    """partner_status before results exist (free text for Greenhouse, which only acts on `complete`)."""
    if interview.status == InterviewStatus.CANCELLED:
        return "cancelled"
    if interview.status == InterviewStatus.ABANDONED:
        return "abandoned"
    if interview.status == InterviewStatus.SCHEDULED:
        return "expired" if interview.invite_expires_at <= time.time() else "sent"
    return "in_progress"  # answering, or finished and being scored


def _metadata(interview: Interview, report: InterviewReport, completed_at: float) -> dict[str, str | float]:
    """The report's summary as Greenhouse shows `metadata`: one flat object of primitive values."""
    answered = sum(q.answered for q in report.questions)
    data: dict[str, str | float] = {
        "Recommendation": report.recommendation.decision.replace("_", " ").capitalize(),
        "Questions answered": f"{answered} of {len(report.questions)}",
    }
    for competency, score in report.competencies.items():
        if score.score is not None:
            data[f"{competency.value.replace('_', ' ').capitalize()} score"] = score.score
    data["Sent At"] = _when(interview.created_at)
    data["Completed At"] = _when(completed_at)
    if report.flags:
        data["Flags"] = ", ".join(report.flags)
    if report.recommendation.reasons:
        data["Notes"] = "; ".join(report.recommendation.reasons)
    return data


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


ROUTES: list[BaseRoute] = [
    Route(f"{PREFIX}/list_tests", list_tests, methods=["GET"]),
    Route(f"{PREFIX}/send_test", send_test, methods=["POST"]),
    Route(f"{PREFIX}/test_status", get_test_status, methods=["GET"]),
    Route(f"{PREFIX}/response_error", report_response_error, methods=["POST"]),
]
