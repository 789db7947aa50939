"""A private calendar feed per HR person: the booked interviews of every job that names them among its
`calendar_attendees`, as one iCalendar file their calendar app subscribes to (RFC 5545; no iTIP method: a feed is
published, not sent).

`POST /api/v1/calendar-feeds {email}` (HR's API key) gives the person a secret URL, `/calendar/{secret}.ics`; asking
again gives a new one and the old stops working, `DELETE /api/v1/calendar-feeds/{email}` stops it. Only the secret's
SHA-256 is stored. The feed holds the last 30 days and the next 180: booked times as confirmed events, cancelled ones
as cancelled (so a subscribed calendar removes them), each with the same UID and SEQUENCE as the e-mailed invitations.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from datetime import timedelta
from urllib.parse import quote

from icalendar import Calendar
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server.domain.calendar_invites import PRODID, Person, booking_event, calendar_domain, hr_text, organizer
from server.domain.reminders import reminder_message
from server.domain.scheduling import Availability
from server.web.auth import require_api_key
from server.web.context import services_of
from server.web.problems import Problem
from server.web.rate_limit import ClientBuckets, client_group
from server.web.request_bodies import parse

PAST_S = 30 * 86400
AHEAD_S = 180 * 86400
MAX_EVENTS = 2000
SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
EMAIL = r"^[^@\s]{1,64}@[^@\s]{1,255}$"
FEED_READS = (1 / 30, 10)  # per address: ten, then one every half minute (calendar apps poll every few hours)


class FeedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(pattern=EMAIL, max_length=320, description="the HR person, as the jobs' calendar_attendees name them")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_feed(request: Request) -> JSONResponse:
    services = services_of(request)
    tenant = require_api_key(request.headers, services.api_keys)
    body = parse(FeedRequest, await request.body(), "invalid_calendar_feed")
    email = body.email.casefold()
    secret = secrets.token_urlsafe(32)
    await services.bookings.put_calendar_feed(tenant, email, _hash(secret), time.time())
    url = f"{services.settings.base_url}/calendar/{secret}.ics"
    webcal = re.sub(r"^https?://", "webcal://", url)
    return JSONResponse({"email": email, "url": url, "webcal_url": webcal}, status_code=201, headers={"Cache-Control": "no-store"})


async def delete_feed(request: Request) -> Response:
    services = services_of(request)
    tenant = require_api_key(request.headers, services.api_keys)
    email = str(request.path_params["email"]).casefold()
    if not re.fullmatch(EMAIL, email) or not await services.bookings.drop_calendar_feed(tenant, email):
        raise Problem(404, "calendar_feed_not_found", f"no calendar feed for {email!r}")
    return Response(status_code=204)


def _buckets(request: Request) -> ClientBuckets:
    state = request.app.state
    if not hasattr(state, "calendar_feed_buckets"):
        state.calendar_feed_buckets = ClientBuckets(*FEED_READS)
    buckets: ClientBuckets = state.calendar_feed_buckets
    return buckets


async def calendar_feed(request: Request) -> Response:
    services = services_of(request)
    now = time.time()
    if (wait := _buckets(request).take(client_group(request.client.host if request.client else None), now)) > 0:
        raise Problem(429, "too_many_requests", "the feed is read too often", headers={"Retry-After": str(int(wait) + 1)})
    secret = str(request.path_params["secret"])
    owner = await services.bookings.calendar_feed(_hash(secret)) if SECRET.fullmatch(secret) else None
    if owner is None:
        raise Problem(404, "calendar_feed_not_found", "this calendar link is not valid (any more): ask for a new one")
    tenant, email = owner
    settings = services.settings
    domain = calendar_domain(settings.base_url)
    sender = organizer(settings.mail_from, domain)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", f"面试 · Interviews ({email})")
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    availabilities: dict[str, Availability | None] = {}
    for booking in await services.bookings.bookings_of(tenant, now - PAST_S, now + AHEAD_S, MAX_EVENTS):
        if booking.job_id not in availabilities:
            availabilities[booking.job_id] = await services.bookings.availability(tenant, booking.job_id)
        availability = availabilities[booking.job_id]
        if availability is None or email not in {a.email.casefold() for a in availability.calendar_attendees}:
            continue
        interview = await services.store.get_interview(booking.interview_id, tenant)
        if interview is None:
            continue
        link = f"{settings.base_url}/hr#/interview/{quote(interview.id)}"
        text = hr_text(interview, booking, reminder_message(interview, booking), link)
        attendees = [Person(interview.candidate.email, interview.candidate.name)] if interview.candidate.email else []
        event = booking_event(booking, domain, sender, attendees, text, now)
        event.add("url", link)
        calendar.add_component(event)
    return Response(
        calendar.to_ical(),
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"},
    )
