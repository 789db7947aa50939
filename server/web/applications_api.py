"""A job's applicants (from its poster or an import) and HR's approval queue:

    GET  /api/v1/jobs/{job_id}/applications[?status=queued]      oldest first, each with the screening's reasons
    POST /api/v1/jobs/{job_id}/applications/{candidate_id}/invite  schedule the interview (201), once
    POST /api/v1/jobs/{job_id}/applications/{candidate_id}/decline not this time (the HRMS hears candidate.declined)

HR may invite a candidate the rules did not select (their call, kept with their name in the application); a candidate
already invited or declined answers 409.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from typing import Any, cast, get_args

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

from realtime_scoring.profiles import CandidateProfile, JobProfile
from realtime_scoring.screening import Screening, screen
from server.domain.applications import Applicant, Application, ApplicationSource, ApplicationStatus
from server.domain.interview import InterviewSpec, InterviewStatus
from server.storage.outbox import EventType
from server.web.audit import audit, hr_actor
from server.web.auth import require_api_key
from server.web.context import Services, services_of
from server.web.problems import Problem
from server.web.request_bodies import path_id

MAX_LISTED = 500
FINAL: tuple[ApplicationStatus, ...] = ("invited", "declined")


async def record_applications(
    services: Services, tenant: str, job_id: str, source: ApplicationSource, outcomes: list[dict[str, Any]]
) -> None:
    """Keep each screened candidate's application (`outcomes`: candidate_id, name, outcome, rules, interview_id); one
    HR already invited or declined keeps that decision."""
    now = time.time()
    kept = []
    for entry in outcomes:
        status = entry["outcome"]
        if status not in get_args(ApplicationStatus):
            continue  # already_invited: the earlier application stands
        earlier = await services.bookings.application(tenant, job_id, entry["candidate_id"])
        if earlier is not None and earlier.status in FINAL:
            continue
        kept.append(
            Application(
                tenant=tenant,
                job_id=job_id,
                candidate_id=entry["candidate_id"],
                name=entry["name"],
                source=source,
                status=status,
                rules=entry["rules"],
                interview_id=entry.get("interview_id"),
                wechat=entry.get("wechat"),
                created_at=earlier.created_at if earlier is not None else now,
                updated_at=now,
            )
        )
    if kept:
        await services.bookings.put_applications(kept)


async def save_wechat_profile(services: Services, interview_id: str, wechat: dict[str, str]) -> None:
    """The WeChat profile the candidate shared when registering, as the interview's (reminders, HR's page)."""
    await services.store.save_wechat_profile(interview_id, wechat["openid"], wechat["nickname"], wechat["avatar_url"])


async def screen_and_admit(
    services: Services,
    tenant: str,
    job_id: str,
    job: JobProfile,
    applicants: list[Applicant],
    source: ApplicationSource,
    answers: dict[str, dict[str, bool]] | None = None,
) -> list[dict[str, Any]]:
    """Each stored applicant screened by the job's rules; those who pass invited (`on_pass: invite`, once per job) or
    queued for HR; every one kept as an application. What each got, with every rule's outcome."""
    rules = job.screening
    assert rules is not None
    given = answers or {}
    outcomes: list[Screening] = await asyncio.to_thread(lambda: [screen(rules, job, a.profile, given.get(a.id)) for a in applicants])
    job_interviews = {
        ref.id for ref in await services.store.interview_ids(tenant, job_id=job_id) if ref.status != InterviewStatus.CANCELLED
    }
    results = []
    for applicant, outcome in zip(applicants, outcomes, strict=True):
        entry: dict[str, Any] = {
            "row": applicant.row,
            "candidate_id": applicant.id,
            "name": applicant.profile.name,
            "outcome": {"failed": "not_selected", "waiting": "waiting_for_answers", "passed": "queued"}[outcome.outcome],
            "rules": [asdict(r) for r in outcome.rules],
        }
        if outcome.outcome == "passed" and rules.on_pass == "invite":
            earlier = {ref.id for ref in await services.store.interview_ids(tenant, candidate_id=applicant.id)} & job_interviews
            if earlier:
                entry |= {"outcome": "already_invited", "interview_id": sorted(earlier)[0]}
            else:
                try:
                    spec = InterviewSpec(job=job, candidate=applicant.profile)
                except ValidationError:
                    pass  # the job has no questions yet: queued for HR, who add them and invite
                else:
                    interview, invite = await services.schedule(spec, tenant, job_id=job_id, candidate_id=applicant.id)
                    entry |= {"outcome": "invited", "interview_id": interview.id, "invite_url": invite.invite_url}
        results.append(entry)
    await record_applications(services, tenant, job_id, source, results)
    return results


def _view(application: Application) -> dict[str, Any]:
    view = application.model_dump(mode="json", exclude={"tenant", "wechat"})
    view["wechat_nickname"] = application.wechat["nickname"] if application.wechat else None
    return view


async def list_applications(request: Request) -> JSONResponse:
    services = services_of(request)
    tenant = require_api_key(request.headers, services.api_keys)
    job_id = path_id(request, "job_id")
    status = request.query_params.get("status")
    if status is not None and status not in get_args(ApplicationStatus):
        raise Problem(422, "invalid_status", f"status is one of {', '.join(get_args(ApplicationStatus))}")
    found = await services.bookings.applications(tenant, job_id, cast("ApplicationStatus | None", status), MAX_LISTED)
    return JSONResponse({"job_id": job_id, "applications": [_view(a) for a in found]}, headers={"Cache-Control": "private, no-store"})


async def _pending(request: Request) -> tuple[Services, str, Application]:
    services = services_of(request)
    tenant = require_api_key(request.headers, services.api_keys)
    job_id, candidate_id = path_id(request, "job_id"), path_id(request, "candidate_id")
    application = await services.bookings.application(tenant, job_id, candidate_id)
    if application is None:
        raise Problem(404, "application_not_found", f"{candidate_id!r} has not applied to job {job_id!r}")
    if application.status in FINAL:
        raise Problem(409, f"already_{application.status}", f"the candidate is already {application.status}")
    return services, tenant, application


async def invite_applicant(request: Request) -> JSONResponse:
    services, tenant, application = await _pending(request)
    job = await services.store.profile("jobs", tenant, application.job_id)
    candidate = await services.store.profile("candidates", tenant, application.candidate_id)
    if job is None or candidate is None:
        raise Problem(404, "profile_not_found", "the job or the candidate's profile no longer exists")
    try:
        spec = InterviewSpec(job=JobProfile.model_validate(job), candidate=CandidateProfile.model_validate(candidate))
    except ValidationError as exc:
        raise Problem(409, "job_has_no_questions", "the job has no questions to ask yet: give it a role or a question bank") from exc
    interview, invite = await services.schedule(spec, tenant, job_id=application.job_id, candidate_id=application.candidate_id)
    if application.wechat is not None:
        await save_wechat_profile(services, interview.id, application.wechat)
    actor = hr_actor(request)
    await services.bookings.put_applications(
        [application.model_copy(update={"status": "invited", "interview_id": interview.id, "decided_by": actor, "updated_at": time.time()})]
    )
    await audit(services, tenant, interview.id, actor, "invited_applicant", screening=application.status)
    return JSONResponse({"interview_id": interview.id, "invite_url": invite.invite_url, "short_url": invite.short_url}, status_code=201)


async def decline_applicant(request: Request) -> JSONResponse:
    services, tenant, application = await _pending(request)
    declined = application.model_copy(update={"status": "declined", "decided_by": hr_actor(request), "updated_at": time.time()})
    await services.bookings.put_applications([declined])
    await services.store.record_tenant_event(
        tenant, EventType.CANDIDATE_DECLINED, {"candidate_id": application.candidate_id, "job_id": application.job_id}
    )
    return JSONResponse(_view(declined))
