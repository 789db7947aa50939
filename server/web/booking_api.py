"""Self-booked interview slots: a job's availability (HR), and the candidate's booking from the invite link.

HR (API key): `PUT/GET /api/v1/jobs/{job_id}/availability`; an interview's booking and the delivery of each of its
reminders, `GET /api/v1/interviews/{id}/booking`. The candidate (the invite token, as for everything else they do):
`GET /api/v1/interviews/{id}/slots`, `PUT` and `DELETE /api/v1/interviews/{id}/booking`, and the booking as a calendar
file, `GET /api/v1/interviews/{id}/booking.ics`. Every change is an `interview.booked` or
`interview.booking_cancelled` event, and a calendar invitation (or its cancellation) by e-mail.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server.domain.calendar_invites import InvitationText, calendar_domain, invitation, organizer
from server.domain.interview import Interview, InterviewStatus
from server.domain.scheduling import (
    ATTENDANCE_CHANNEL,
    EARLY_JOIN_S,
    Availability,
    Booking,
    CapacityLimit,
    Slot,
    SlotTaken,
    attendance_check,
    busiest,
    calendar_message,
    check_room,
    is_offered,
    job_scope,
    offered_slots,
    plan_reminders,
    zone,
)
from server.storage.outbox import EventType
from server.web.auth import bearer_token, require_api_key, require_invite
from server.web.context import Services, services_of
from server.web.problems import Problem
from server.web.request_bodies import parse, path_id

INVITE_GRACE_S = 24 * 3600  # the invite stays valid a day past the slot: the result page, a late start HR allows
PRIVATE = {"Cache-Control": "private, no-store"}


class BookingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: datetime = Field(description="the slot's start as offered (ISO 8601 with offset)")
    timezone: str | None = Field(None, max_length=64, description="the candidate's own time zone, to show times in")


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _limits(services: Services, booking_tenant: str, job_id: str, availability: Availability) -> list[CapacityLimit]:
    limits = [CapacityLimit("all", services.settings.booking_max_concurrent)]
    if availability.max_concurrent is not None:
        limits.append(CapacityLimit(job_scope(booking_tenant, job_id), availability.max_concurrent))
    return limits


# HR: a job's availability


async def put_availability(request: Request) -> JSONResponse:
    services = services_of(request)
    tenant = require_api_key(request.headers, services.api_keys)
    job_id = path_id(request, "job_id")
    if await services.store.profile("jobs", tenant, job_id) is None:
        raise Problem(404, "job_not_found", f"no job {job_id!r}: PUT /api/v1/jobs/{job_id} first")
    availability = parse(Availability, await request.body(), "invalid_availability")
    created = await services.bookings.put_availability(tenant, job_id, availability, time.time())
    return JSONResponse(_availability_view(availability, time.time()), status_code=201 if created else 200)


async def get_availability(request: Request) -> JSONResponse:
    services = services_of(request)
    tenant = require_api_key(request.headers, services.api_keys)
    job_id = path_id(request, "job_id")
    availability = await services.bookings.availability(tenant, job_id)
    if availability is None:
        raise Problem(404, "availability_not_found", f"job {job_id!r} has no availability: candidates cannot book a time")
    now = time.time()
    view = _availability_view(availability, now)
    view["slots"] = await _slots_view(services, tenant, job_id, availability, now, None)
    return JSONResponse(view)


def _availability_view(availability: Availability, now: float) -> dict[str, Any]:
    deadline = availability.deadline_at()
    return {
        **availability.model_dump(mode="json"),
        "deadline_at": iso(deadline) if deadline is not None else None,
        "offered_slots": len(offered_slots(availability, now)),
    }


async def _slots_view(
    services: Services, tenant: str, job_id: str, availability: Availability, now: float, own: Booking | None
) -> list[dict[str, Any]]:
    """Offered slots with whether each still has room (the candidate's own booking does not count against them)."""
    slots = offered_slots(availability, now)
    if not slots:
        return []
    booked = [
        b
        for b in await services.bookings.overlapping(slots[0].starts_at, slots[-1].ends_at)
        if own is None or b.interview_id != own.interview_id
    ]
    limits = _limits(services, tenant, job_id, availability)

    def has_room(slot: Slot) -> bool:
        overlapping = [b for b in booked if b.starts_at < slot.ends_at and b.ends_at > slot.starts_at]
        return all(busiest(overlapping, slot.starts_at, slot.ends_at, limit.scope) < limit.limit for limit in limits)

    return [{"starts_at": iso(s.starts_at), "ends_at": iso(s.ends_at), "available": has_room(s)} for s in slots]


# HR: an interview's booking and its reminders


async def hr_booking(request: Request) -> JSONResponse:
    services = services_of(request)
    tenant = require_api_key(request.headers, services.api_keys)
    interview = await services.store.get_interview(request.path_params["interview_id"], tenant)
    if interview is None:
        raise Problem(404, "interview_not_found", f"no interview {request.path_params['interview_id']!r}")
    return JSONResponse(await booking_status(services, interview.id), headers=PRIVATE)


JOB_BOOKINGS_PAST_S = 7 * 86400
JOB_BOOKINGS_AHEAD_S = 90 * 86400
MAX_JOB_BOOKINGS = 500


async def job_bookings(request: Request) -> JSONResponse:
    """The job's bookings from a week ago to three months ahead, earliest first, with the candidate's name."""
    services = services_of(request)
    tenant = require_api_key(request.headers, services.api_keys)
    job_id = path_id(request, "job_id")
    if await services.store.profile("jobs", tenant, job_id) is None:
        raise Problem(404, "job_not_found", f"no job {job_id!r}")
    now = time.time()
    listed = []
    for booking in await services.bookings.bookings_of(tenant, now - JOB_BOOKINGS_PAST_S, now + JOB_BOOKINGS_AHEAD_S, MAX_JOB_BOOKINGS * 4):
        if booking.job_id != job_id:
            continue
        interview = await services.store.get_interview(booking.interview_id, tenant)
        if interview is None:
            continue
        listed.append(
            {
                "interview_id": interview.id,
                "candidate_name": interview.candidate.name,
                "interview_status": interview.status.value,
                **_booking_view(booking),
            }
        )
        if len(listed) >= MAX_JOB_BOOKINGS:
            break
    return JSONResponse({"job_id": job_id, "bookings": listed}, headers=PRIVATE)


async def booking_status(services: Services, interview_id: str) -> dict[str, Any]:
    """The booking and the delivery of each reminder and calendar invitation, as HR see them."""
    booking = await services.bookings.booking(interview_id)
    reminders = await services.bookings.reminders_of(interview_id)
    return {
        "booking": _booking_view(booking) if booking is not None else None,
        "reminders": [
            {
                "channel": r.channel,
                "hours_before": round(r.lead_s / 3600, 2),
                "due_at": iso(r.due_at),
                "status": r.status,
                "attempts": r.attempts,
                "sent_at": iso(r.sent_at) if r.sent_at else None,
                "error": r.last_error,
                "for_booking_version": r.sequence,
            }
            for r in reminders
            if r.channel != ATTENDANCE_CHANNEL  # not a message: its outcome is the booking's status and `no_shows`
        ],
    }


def _booking_view(booking: Booking) -> dict[str, Any]:
    opens, closes = booking.window()
    return {
        "starts_at": iso(booking.starts_at),
        "ends_at": iso(booking.ends_at),
        "timezone": booking.timezone,
        "status": booking.status,
        "version": booking.sequence,
        "changes": booking.changes,
        "no_shows": booking.no_shows,
        "join_opens_at": iso(opens),
        "join_closes_at": iso(closes),
    }


# The candidate: slots, booking, calendar file


async def _candidate_interview(request: Request) -> tuple[Services, Interview, Availability | None]:
    services = services_of(request)
    interview_id = request.path_params["interview_id"]
    token = bearer_token(request.headers) or request.query_params.get("token")
    require_invite(services.signer, token, interview_id)
    interview = await services.store.get_interview(interview_id)
    if interview is None:
        raise Problem(404, "interview_not_found", "this interview no longer exists")
    availability = await services.bookings.availability(interview.tenant, interview.job_id) if interview.job_id else None
    return services, interview, availability


async def candidate_slots(request: Request) -> JSONResponse:
    """What the booking page shows: the policy, the candidate's booking, and the slots with room."""
    services, interview, availability = await _candidate_interview(request)
    booking = await services.bookings.booking(interview.id)
    return JSONResponse(await _candidate_view(services, interview, availability, booking, time.time()), headers=PRIVATE)


async def _candidate_view(
    services: Services, interview: Interview, availability: Availability | None, booking: Booking | None, now: float
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "language": interview.language,
        "job_title": interview.job.title,
        "status": interview.status.value,
        "mode": availability.mode if availability is not None else None,
        "booking": _booking_view(booking) if booking is not None else None,
        "wechat_reminder_url": services.wechat_reminder_link(interview.id)
        if services.wechat_reminder_link is not None and booking is not None and booking.status == "booked"
        else None,
    }
    if availability is None:
        return view
    assert interview.job_id is not None
    deadline = availability.deadline_at()
    own = booking if booking is not None and booking.status == "booked" else None
    changes_left = availability.max_changes - (own.changes if own is not None else 0)
    view |= {
        "timezone": availability.timezone,
        "slot_minutes": availability.slot_minutes,
        "deadline_at": iso(deadline) if deadline is not None else None,
        "change_until_hours": availability.change_until_hours,
        "changes_left": max(0, changes_left),
        "may_change": own is None or (own.changeable(availability, now) and changes_left > 0),
        "may_cancel": own is not None and own.changeable(availability, now),
        "slots": await _slots_view(services, interview.tenant, interview.job_id, availability, now, own)
        if interview.status == InterviewStatus.SCHEDULED
        else [],
    }
    return view


def _bookable(interview: Interview, availability: Availability | None) -> Availability:
    if interview.status != InterviewStatus.SCHEDULED:
        raise Problem(409, "interview_not_bookable", f"the interview is {interview.status.value}: there is no time to book")
    if availability is None or availability.mode != "slots" or interview.job_id is None:
        raise Problem(409, "no_slots", "this interview has no slots to book: open the link any time before it expires")
    return availability


async def book_slot(request: Request) -> JSONResponse:
    services, interview, maybe_availability = await _candidate_interview(request)
    availability = _bookable(interview, maybe_availability)
    assert interview.job_id is not None
    body = parse(BookingRequest, await request.body(), "invalid_booking")
    if body.timezone is not None:
        try:
            zone(body.timezone)
        except ValueError as exc:
            raise Problem(422, "invalid_booking", str(exc)) from exc
    if body.starts_at.tzinfo is None:
        raise Problem(422, "invalid_booking", "starts_at needs its offset (e.g. 2026-12-10T01:30:00Z)")
    now = time.time()
    existing = await services.bookings.booking(interview.id)
    live = existing if existing is not None and existing.status == "booked" else None
    if live is not None:
        if not live.changeable(availability, now):
            raise Problem(409, "too_late_to_change", f"a booking can be changed until {availability.change_until_hours:g} hours before it")
        if live.changes >= availability.max_changes:
            raise Problem(409, "no_changes_left", "this booking has been changed as often as the company allows")
    starts_at = body.starts_at.timestamp()
    slot = is_offered(availability, starts_at, now)
    if slot is None:
        raise Problem(
            422,
            "slot_not_offered",
            "that time is not offered (any more); choose one of the times listed",
            slots=await _slots_view(services, interview.tenant, interview.job_id, availability, now, live),
        )
    if live is not None and live.starts_at == slot.starts_at:
        return JSONResponse(await _candidate_view(services, interview, availability, live, now), headers=PRIVATE)
    # The link in the invitation and reminders (filled in once the slot is known to have room): valid through the
    # slot, however long the first invite was for.
    booking = Booking(
        interview_id=interview.id,
        tenant=interview.tenant,
        job_id=interview.job_id,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        timezone=availability.timezone,
        sequence=existing.sequence + 1 if existing is not None else 0,
        changes=live.changes + 1 if live is not None else 0,
        no_shows=existing.no_shows if existing is not None else 0,
        join_url="",
        created_at=existing.created_at if existing is not None else now,
        updated_at=now,
    )
    limits = _limits(services, interview.tenant, interview.job_id, availability)
    # A slot already full is answered before anything is written (the booking's own transaction decides the rest).
    try:
        check_room(await services.bookings.overlapping(slot.starts_at, slot.ends_at), booking, limits)
    except SlotTaken as exc:
        raise _slot_taken(await _slots_view(services, interview.tenant, interview.job_id, availability, now, live)) from exc
    ttl_hours = max(interview.invite_expires_at, slot.ends_at + INVITE_GRACE_S) - now
    invite = services.new_invite(interview.id, ttl_hours / 3600)
    await services.store.renew_invite(interview, invite)
    booking = booking.model_copy(update={"join_url": invite.short_url})
    reminders = [*plan_reminders(booking, availability.reminder_hours, services.reminder_channels, now), attendance_check(booking)]
    if services.sends_invitations:
        reminders.append(calendar_message(booking, now))
    event = (EventType.INTERVIEW_BOOKED, _event_data(interview, booking, moved=live is not None))
    try:
        await services.bookings.book(booking, limits, reminders, event)
    except SlotTaken as exc:
        raise _slot_taken(await _slots_view(services, interview.tenant, interview.job_id, availability, time.time(), live)) from exc
    return JSONResponse(await _candidate_view(services, interview, availability, booking, now), status_code=201, headers=PRIVATE)


def _slot_taken(slots: list[dict[str, Any]]) -> Problem:
    return Problem(409, "slot_taken", "someone has just taken the last place at that time; here are the times still free", slots=slots)


async def cancel_booking(request: Request) -> JSONResponse:
    services, interview, maybe_availability = await _candidate_interview(request)
    availability = _bookable(interview, maybe_availability)
    booking = await services.bookings.booking(interview.id)
    if booking is None or booking.status != "booked":
        raise Problem(404, "booking_not_found", "there is no booked time to cancel")
    now = time.time()
    if not booking.changeable(availability, now):
        raise Problem(409, "too_late_to_change", f"a booking can be cancelled until {availability.change_until_hours:g} hours before it")
    cancelled = await cancel_interview_booking(services, interview, booking, now)
    return JSONResponse(await _candidate_view(services, interview, availability, cancelled, now), headers=PRIVATE)


async def cancel_interview_booking(services: Services, interview: Interview, booking: Booking, now: float) -> Booking:
    """Cancel a live booking (the candidate did, or HR cancelled the interview): its place freed, its reminders
    stopped, a calendar cancellation sent."""
    cancelled = booking.model_copy(update={"status": "cancelled", "sequence": booking.sequence + 1, "updated_at": now})
    reminders = [calendar_message(cancelled, now)] if services.sends_invitations else []
    await services.bookings.cancel(
        cancelled, reminders, (EventType.INTERVIEW_BOOKING_CANCELLED, _event_data(interview, cancelled, moved=False))
    )
    return cancelled


def _event_data(interview: Interview, booking: Booking, moved: bool) -> dict[str, Any]:
    return {
        "interview_id": interview.id,
        "job_id": interview.job_id,
        "candidate_id": interview.candidate_id,
        "starts_at": iso(booking.starts_at),
        "ends_at": iso(booking.ends_at),
        "timezone": booking.timezone,
        "version": booking.sequence,
        "moved": moved,
    }


async def booking_calendar_file(request: Request) -> Response:
    """The booking as an .ics file the candidate's phone adds to its calendar (the same event the e-mail carries)."""
    services, interview, _ = await _candidate_interview(request)
    booking = await services.bookings.booking(interview.id)
    if booking is None:
        raise Problem(404, "booking_not_found", "there is no booked time yet")
    domain = calendar_domain(services.settings.base_url)
    sender = organizer(services.settings.mail_from, domain, services.settings.company_policy(interview.tenant).company_name)
    summary = f"视频面试 · {interview.job.title}" if interview.language == "zh" else f"Video interview for {interview.job.title}"
    text = InvitationText(summary, booking.join_url, booking.join_url)
    _, ics = invitation(booking, domain, sender, [], text, time.time())
    return Response(
        ics,
        media_type="text/calendar; charset=utf-8",
        headers={**PRIVATE, "Content-Disposition": 'attachment; filename="interview.ics"'},
    )


def join_window_problem(booking: Booking | None, now: float) -> Problem | None:
    """Why the candidate may not start now given the booking, or None: a booked interview opens a quarter of an hour
    before its slot and closes when the slot ends."""
    if booking is None or booking.status != "booked":
        return None
    opens, closes = booking.window()
    if now < opens:
        return Problem(
            409,
            "before_booked_time",
            f"the interview opens {EARLY_JOIN_S // 60} minutes before its booked time",
            opens_at=iso(opens),
            starts_at=iso(booking.starts_at),
        )
    if now > closes:
        return Problem(
            409, "after_booked_time", "the booked time has passed; book a new time or ask the company", starts_at=iso(booking.starts_at)
        )
    return None


async def start_refusal(services: Services, interview: Interview) -> Problem | None:
    """Why the candidate may not start the interview now, or None: it starts only within its booked slot's window,
    or before its job's deadline. A rescheduled interview keeps its invite link, so this is what holds the candidate
    to the new time; once started, reconnecting is always allowed."""
    if interview.status == InterviewStatus.NO_SHOW:
        return Problem(409, "missed_booked_time", "the booked time passed without you; ask the company for a new time")
    if interview.status != InterviewStatus.SCHEDULED or interview.job_id is None:
        return None
    availability = await services.bookings.availability(interview.tenant, interview.job_id)
    if availability is None:
        return None
    now = time.time()
    if availability.mode == "before_deadline":
        deadline = availability.deadline_at()
        if deadline is not None and now > deadline:
            return Problem(409, "after_deadline", "the time to take this interview has passed; ask the company for a new one")
        return None
    booking = await services.bookings.booking(interview.id)
    if booking is None or booking.status != "booked":
        return Problem(409, "no_booked_time", "book a time for the interview first, with the same link")
    return join_window_problem(booking, now)


async def refuse_outside_booked_time(services: Services, interview: Interview) -> None:
    if (problem := await start_refusal(services, interview)) is not None:
        raise problem
