"""A booked time that passed without the candidate: the interview becomes `no_show`, or, where the job allows it and
this is the first time, stays scheduled with a fresh invite so the candidate can book again.

The reminder scheduler runs this once the booking's join window has closed (`attendance_check`), at least once: the
interview's status is written first, then the booking (missed, with the `interview.no_show` event), so a node that
dies between the two leaves a check that the next node finishes. HR see both steps: the status on the board, the
missed booking and its count in the booking view, and the event in the HRMS.
"""

from __future__ import annotations

import time

from server.domain.interview import Interview, InterviewStatus
from server.domain.scheduling import Booking
from server.storage.outbox import EventType
from server.web.booking_api import iso
from server.web.context import Services

REINVITED_TTL_HOURS_MIN = 72.0  # a re-invited candidate has at least this long to book again


async def check_attendance(services: Services, interview: Interview, booking: Booking) -> str:
    """Record that the candidate missed `booking` (still booked, its window closed, the interview not started);
    what happened, for the reminder's record: "no_show" or "reinvited"."""
    now = time.time()
    availability = await services.bookings.availability(booking.tenant, booking.job_id)
    reinvite = availability is not None and availability.reinvite_no_show and availability.mode == "slots" and booking.no_shows == 0
    if interview.status == InterviewStatus.SCHEDULED:
        if reinvite:
            ttl_hours = max(REINVITED_TTL_HOURS_MIN, services.settings.invite_ttl_hours)
            changed = await services.store.renew_invite(interview, services.new_invite(interview.id, ttl_hours), reopen=True)
        else:
            changed = await services.store.mark_no_show(interview)
        services.announce(changed)
    missed = booking.model_copy(
        update={"status": "missed", "sequence": booking.sequence + 1, "no_shows": booking.no_shows + 1, "updated_at": now}
    )
    data = {
        "interview_id": interview.id,
        "job_id": interview.job_id,
        "candidate_id": interview.candidate_id,
        "starts_at": iso(booking.starts_at),
        "ends_at": iso(booking.ends_at),
        "timezone": booking.timezone,
        "no_shows": missed.no_shows,
        "reinvited": reinvite,
    }
    await services.bookings.cancel(missed, [], (EventType.INTERVIEW_NO_SHOW, data))
    return "reinvited" if reinvite else "no_show"
