"""Calendar invitations for booked interviews: iCalendar (RFC 5545) with iTIP methods (RFC 5546), made by `icalendar`.

One interview is one event with a stable UID; every change and the cancellation carry a higher SEQUENCE, so a calendar
app moves or removes the event it already has instead of adding another. Times are UTC instants (`Z`): no VTIMEZONE is
needed, and every calendar shows them in its owner's zone, daylight saving included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Literal
from urllib.parse import urlsplit

from icalendar import Calendar, Event, vCalAddress, vText

from server.domain.interview import Interview
from server.domain.reminders import ReminderMessage
from server.domain.scheduling import Booking

PRODID = "-//Interview server//Booked interviews//EN"
Method = Literal["REQUEST", "CANCEL"]


@dataclass(frozen=True)
class Person:
    email: str
    name: str


@dataclass(frozen=True)
class InvitationText:
    summary: str
    description: str
    url: str | None  # the candidate's link goes only in the candidate's copy


def calendar_domain(base_url: str) -> str:
    """The host part of events' UIDs: the server's public host name."""
    return urlsplit(base_url).hostname or "localhost"


def organizer(mail_from: str, domain: str, name: str | None = None) -> Person:
    """Who the invitations come from: the server's sender address (`INTERVIEW_MAIL_FROM`), under `name` if given."""
    sender_name, address = parseaddr(mail_from)
    return Person(address or f"interviews@{domain}", name or sender_name or "Interviews")


def event_uid(interview_id: str, domain: str) -> str:
    return f"interview-{interview_id}@{domain}"


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC).replace(microsecond=0)


def _address(person: Person, role: str | None = None) -> vCalAddress:
    address = vCalAddress(f"mailto:{person.email}")
    address.params["CN"] = vText(person.name)
    if role is not None:
        address.params["ROLE"] = vText(role)
        address.params["PARTSTAT"] = vText("NEEDS-ACTION")
        address.params["RSVP"] = vText("FALSE")
    return address


def booking_event(booking: Booking, domain: str, organizer: Person, attendees: list[Person], text: InvitationText, now: float) -> Event:
    event = Event()
    event.add("uid", event_uid(booking.interview_id, domain))
    event.add("dtstamp", _utc(now))
    event.add("dtstart", _utc(booking.starts_at))
    event.add("dtend", _utc(booking.ends_at))
    event.add("sequence", booking.sequence)
    event.add("summary", text.summary)
    event.add("description", text.description)
    if text.url is not None:
        event.add("url", text.url)
        event.add("location", text.url)
    event.add("organizer", _address(organizer))
    for person in attendees:
        event.add("attendee", _address(person, "REQ-PARTICIPANT"))
    cancelled = booking.status == "cancelled"
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("transp", "OPAQUE")
    return event


def invitation(
    booking: Booking, domain: str, organizer: Person, attendees: list[Person], text: InvitationText, now: float
) -> tuple[Method, bytes]:
    """The iTIP message for the booking as it now is: REQUEST while booked, CANCEL once cancelled."""
    method: Method = "CANCEL" if booking.status == "cancelled" else "REQUEST"
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", method)
    calendar.add_component(booking_event(booking, domain, organizer, attendees, text, now))
    ics: bytes = calendar.to_ical()
    return method, ics


def hr_text(interview: Interview, booking: Booking, words: ReminderMessage, hr_link: str) -> InvitationText:
    """HR's words for the booking (in the interview's language): who, for which job, when, and where to watch."""
    when, job, name = words.when_text(), words.job_title, words.candidate_name
    zh, en = {"cancelled": ("已取消：", "Cancelled: "), "missed": ("未到场：", "Did not come: ")}.get(booking.status, ("", ""))
    if interview.language == "zh":
        title = f"{zh}视频面试 · {name} · {job}"
        return InvitationText(title, f"候选人：{name}\n职位：{job}\n时间：{when}\n实时观看与回看：{hr_link}", None)
    title = f"{en}Video interview: {name}, {job}"
    return InvitationText(title, f"Candidate: {name}\nJob: {job}\nWhen: {when}\nWatch live and review: {hr_link}", None)
