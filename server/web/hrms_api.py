"""The HRMS's resources: job and candidate profiles, interview cancel / reschedule / decisions, and erasure."""

from __future__ import annotations

import asyncio
import shutil
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from realtime_scoring.profiles import CandidateProfile, JobProfile
from server.cluster.event_bus import hr_topic
from server.domain.interview import CLOSED_STATUSES, FINAL_DECISIONS, Interview, InterviewStatus, may_follow
from server.live.hr_messages import DecisionRecorded
from server.live.sessions import recordings_dir
from server.web.audit import audit, hr_actor
from server.web.auth import require_api_key
from server.web.booking_api import cancel_interview_booking
from server.web.context import Services, services_of
from server.web.problems import Problem
from server.web.request_bodies import parse, path_id

PROFILE_MODELS: dict[str, type[BaseModel]] = {"jobs": JobProfile, "candidates": CandidateProfile}


class Reschedule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invite_ttl_hours: float = Field(72.0, gt=0, le=24 * 60)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["advance", "reject", "hold", "send_to_business_owner"]
    note: str = Field(min_length=1, max_length=4000, description="Why: kept with the decision, for whoever must defend it")
    decided_by: str | None = Field(None, max_length=200)


def _caller(request: Request) -> tuple[Services, str]:
    services = services_of(request)
    return services, require_api_key(request.headers, services.api_keys)


async def put_profile(request: Request) -> JSONResponse:
    """Create or replace a job or candidate (the path says which); 201 when new, 200 when replaced."""
    services, tenant = _caller(request)
    kind = request.url.path.split("/")[3]
    profile_id = path_id(request, "profile_id")
    profile = parse(PROFILE_MODELS[kind], await request.body(), f"invalid_{kind[:-1]}")
    created = await services.store.put_profile(kind, tenant, profile_id, profile.model_dump_json())
    return JSONResponse({"id": profile_id, **profile.model_dump(mode="json")}, status_code=201 if created else 200)


async def get_profile(request: Request) -> JSONResponse:
    services, tenant = _caller(request)
    kind = request.url.path.split("/")[3]
    profile_id = path_id(request, "profile_id")
    profile = await services.store.profile(kind, tenant, profile_id)
    if profile is None:
        raise Problem(404, f"{kind[:-1]}_not_found", f"no {kind[:-1]} {profile_id!r}")
    interviews = await services.store.interview_ids(tenant, **{f"{kind[:-1]}_id": profile_id})
    return JSONResponse({"id": profile_id, **profile, "interviews": [ref.model_dump() for ref in interviews]})


async def delete_candidate(request: Request) -> Response:
    """Erase a candidate: profile, interviews, transcripts, observations, reports, decisions and undelivered events."""
    services, tenant = _caller(request)
    candidate_id = path_id(request, "profile_id")
    interviews = [ref.id for ref in await services.store.interview_ids(tenant, candidate_id=candidate_id)]
    if await services.store.profile("candidates", tenant, candidate_id) is None and not interviews:
        raise Problem(404, "candidate_not_found", f"no candidate {candidate_id!r}")
    await erase_interviews(services, tenant, interviews, hr_actor(request), candidate_id)
    return Response(status_code=204)


async def delete_interview(request: Request) -> Response:
    """Erase one interview, however it was created; a stored candidate profile stays (erase it as a candidate)."""
    services, interview = await _interview(request)
    await erase_interviews(services, interview.tenant, [interview.id], hr_actor(request))
    return Response(status_code=204)


async def erase_interviews(services: Services, tenant: str, interviews: list[str], actor: str, candidate_id: str | None = None) -> None:
    """Everything of these interviews, wherever they run, and their recordings on this node's disk (each other node
    sweeps its own: `remove_erased_recordings`); the audit trail keeps that `actor` erased them."""
    for interview_id in interviews:
        await services.end_everywhere(interview_id)
        await audit(services, tenant, interview_id, actor, "erased")
    await services.store.erase(tenant, interviews, candidate_id)
    await services.bookings.erase(interviews)
    if candidate_id is not None:
        await services.bookings.erase_applications(tenant, candidate_id)
    if services.wechat_consents is not None:
        await services.wechat_consents.erase(interviews)
    # Their recordings too: files outside the database, removed once the rows that named them are gone.
    for interview_id in interviews:
        await asyncio.to_thread(shutil.rmtree, recordings_dir(services.settings, interview_id), ignore_errors=True)


async def _interview(request: Request) -> tuple[Services, Interview]:
    services, tenant = _caller(request)
    interview = await services.store.get_interview(request.path_params["interview_id"], tenant)
    if interview is None:
        raise Problem(404, "interview_not_found", f"no interview {request.path_params['interview_id']!r}")
    return services, interview


async def cancel_interview(request: Request) -> JSONResponse:
    services, interview = await _interview(request)
    cancelled = await cancel_everywhere(services, interview)
    return JSONResponse({"interview": cancelled.model_dump(mode="json")})


async def cancel_everywhere(services: Services, interview: Interview) -> Interview:
    """Cancel an interview (stored, live on any node, with a booked time freed); the interview as it is now. 409 when it
    has ended otherwise."""
    if interview.status != InterviewStatus.CANCELLED and not may_follow(interview.status, InterviewStatus.CANCELLED):
        raise Problem(409, "interview_closed", f"an interview that is {interview.status.value} cannot be cancelled")
    if interview.status != InterviewStatus.CANCELLED:
        await services.store.cancel_interview(interview)
        await services.end_everywhere(interview.id)  # after the store: a page that reconnects now is refused
        await _free_booked_time(services, interview)
    cancelled = await services.store.get_interview(interview.id)
    assert cancelled is not None
    services.announce(cancelled)
    return cancelled


async def reschedule_interview(request: Request) -> JSONResponse:
    """A fresh invite (link, short link, expiry) for an interview that has not ended, or that the candidate missed. A
    booked time is given up (the calendars get a cancellation): the candidate books a new one with the same link, and
    may start only then."""
    services, interview = await _interview(request)
    missed = interview.status == InterviewStatus.NO_SHOW
    if interview.status in CLOSED_STATUSES and not missed:
        raise Problem(409, "interview_closed", f"the interview is {interview.status.value}")
    body = parse(Reschedule, await request.body() or b"{}", "invalid_reschedule")
    invite = services.new_invite(interview.id, body.invite_ttl_hours)
    reopened = await services.store.renew_invite(interview, invite, reopen=missed)
    await _free_booked_time(services, interview)
    if missed:
        services.announce(reopened)
    return JSONResponse(invite.as_dict())


async def _free_booked_time(services: Services, interview: Interview) -> None:
    booking = await services.bookings.booking(interview.id)
    if booking is not None and booking.status == "booked":
        await cancel_interview_booking(services, interview, booking, time.time())


async def record_decision(request: Request) -> JSONResponse:
    services, interview = await _interview(request)
    decision = parse(DecisionIn, await request.body(), "invalid_decision")
    status = None
    if decision.decision in FINAL_DECISIONS:
        if not may_follow(interview.status, InterviewStatus.DECIDED):
            raise Problem(409, "interview_not_ended", f"the interview is {interview.status.value}: decide once it has ended")
        status = InterviewStatus.DECIDED
    data = await services.store.record_decision(interview, decision.decision, decision.note.strip(), decision.decided_by, status)
    await audit(services, interview.tenant, interview.id, hr_actor(request), "decided", decision=decision.decision)
    if status is not None:
        decided = await services.store.get_interview(interview.id)
        if decided is not None:
            services.announce(decided)  # the board moves the interview to its decided column
    recorded = DecisionRecorded(interview_id=interview.id, decision=data)
    services.bus.publish(hr_topic(interview.tenant), recorded.model_dump(mode="json"))
    return JSONResponse(data, status_code=201)
