"""When a job interviews: its availability, the slots a candidate may book from it, and a booking.

Times are explicit everywhere. HR declare availability in the job's time zone, as wall-clock hours ("Mondays 09:00 to
12:00 in Asia/Shanghai"); every slot is turned into an instant (epoch seconds) with the zone's rules of that day, so a
daylight-saving change moves nothing: a wall-clock time that does not exist that day (clocks jump forward) offers no
slot, and one that exists twice (clocks fall back) offers its first. Bookings and reminders keep instants only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

MAX_LISTED_SLOTS = 500  # a candidate's page lists at most this many (a fortnight of half-hour slots, 10 hours a day, is 280)
CAPACITY_BUCKET_S = 300  # concurrency is counted per five minutes of wall time: every booking covers whole buckets
EARLY_JOIN_S = 15 * 60  # a candidate may open the interview this long before the slot (camera checks, nerves)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; ValueError for one that does not exist (or a path, which zoneinfo would read)."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        raise ValueError(f"not an IANA time zone: {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"not an IANA time zone: {name!r} (for example Asia/Shanghai, Europe/London)") from exc


class WeeklyHours(_Strict):
    """Hours on given weekdays, every week: e.g. Monday to Friday, 09:00 to 12:00."""

    days: list[Weekday] = Field(min_length=1, max_length=7)
    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> WeeklyHours:
        if self.end <= self.start:
            raise ValueError("end must be after start (hours past midnight belong to the next day's entry)")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("hours are wall-clock times in the availability's time zone: give no offset")
        return self


class DatedWindow(_Strict):
    """One stretch of wall-clock time in the availability's zone, e.g. 2026-12-10T14:00 to 2026-12-10T18:00."""

    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> DatedWindow:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("windows are wall-clock times in the availability's time zone: give no offset")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end - self.start > timedelta(days=14):
            raise ValueError("a window is at most 14 days long")
        return self


class Attendee(_Strict):
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s<>]+@[^@\s<>]+$")
    name: str = Field(min_length=1, max_length=200)


class Availability(_Strict):
    """When a job's candidates may interview, and what they may do with their booking."""

    timezone: str = Field(description="IANA time zone of the hours below, e.g. Asia/Shanghai")
    mode: Literal["slots", "before_deadline"] = Field(
        "slots", description="slots: the candidate books one; before_deadline: any time before `deadline`, no booking"
    )
    weekly: list[WeeklyHours] = Field(default_factory=list, max_length=21)
    windows: list[DatedWindow] = Field(default_factory=list, max_length=100)
    closed_dates: list[date] = Field(default_factory=list, max_length=366, description="no slots on these days (holidays)")
    deadline: datetime | None = Field(None, description="wall-clock time in `timezone`: the last moment to start or book")
    slot_minutes: int = Field(30, ge=10, le=240)
    min_notice_hours: float = Field(2, ge=0, le=24 * 14, description="no slot starting sooner than this can be booked")
    days_ahead: int = Field(14, ge=1, le=90, description="how far ahead slots are offered")
    max_concurrent: int | None = Field(None, ge=1, le=10_000, description="interviews of this job at once (the node's limit applies too)")
    change_until_hours: float = Field(2, ge=0, le=24 * 7, description="a booking may be changed or cancelled until this long before")
    max_changes: int = Field(3, ge=0, le=20)
    reminder_hours: list[float] = Field(default_factory=lambda: [24.0, 1.0], max_length=5)
    reinvite_no_show: bool = Field(False, description="a candidate who missed the slot is invited once more, automatically")
    calendar_attendees: list[Attendee] = Field(
        default_factory=list, max_length=10, description="HR users who get each booking's calendar invitation"
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)
        return value

    @field_validator("reminder_hours")
    @classmethod
    def _sensible_leads(cls, value: list[float]) -> list[float]:
        if any(not (0 < lead <= 24 * 14) for lead in value):
            raise ValueError("reminders are sent between a few minutes and 14 days before (hours > 0, at most 336)")
        return sorted(set(value), reverse=True)

    @model_validator(mode="after")
    def _complete(self) -> Availability:
        if self.deadline is not None and self.deadline.tzinfo is not None:
            raise ValueError("deadline: a wall-clock time in `timezone`, without offset")
        if self.mode == "before_deadline" and self.deadline is None:
            raise ValueError("before_deadline needs a deadline")
        if self.mode == "slots" and not (self.weekly or self.windows):
            raise ValueError("slots need weekly hours or dated windows")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.timezone)

    def deadline_at(self) -> float | None:
        return None if self.deadline is None else instant(self.deadline, self.zone)


def instant(wall: datetime, tz: ZoneInfo) -> float:
    """The first instant showing wall-clock `wall` in `tz` (fold 0); a time skipped by a clock change maps forward."""
    return wall.replace(tzinfo=tz, fold=0).timestamp()


def exists(wall: datetime, tz: ZoneInfo) -> bool:
    """Whether `wall` is ever shown by a clock in `tz` (not inside a jump forward)."""
    aware = wall.replace(tzinfo=tz)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall


@dataclass(frozen=True, order=True)
class Slot:
    starts_at: float  # epoch seconds
    ends_at: float


def _stretches(availability: Availability, first: date, last: date) -> list[tuple[datetime, datetime]]:
    """Wall-clock stretches from weekly hours and dated windows between two days (inclusive)."""
    closed = set(availability.closed_dates)
    stretches: list[tuple[datetime, datetime]] = []
    day = first
    while day <= last:
        if day not in closed:
            weekday = WEEKDAYS[day.weekday()]
            stretches += [
                (datetime.combine(day, hours.start), datetime.combine(day, hours.end))
                for hours in availability.weekly
                if weekday in hours.days
            ]
        day += timedelta(days=1)
    for window in availability.windows:
        if window.end.date() >= first and window.start.date() <= last and window.start.date() not in closed:
            stretches.append((window.start, window.end))
    return stretches


def offered_slots(availability: Availability, now: float) -> list[Slot]:
    """Every slot a candidate could book now, earliest first, before anyone's bookings are counted."""
    if availability.mode != "slots":
        return []
    tz = availability.zone
    today = datetime.fromtimestamp(now, tz).date()
    earliest = now + availability.min_notice_hours * 3600
    latest_start = now + availability.days_ahead * 86400
    if (deadline := availability.deadline_at()) is not None:
        latest_start = min(latest_start, deadline)
    length = timedelta(minutes=availability.slot_minutes)
    found: set[Slot] = set()
    for begin, end in _stretches(availability, today, today + timedelta(days=availability.days_ahead)):
        wall = begin
        while wall + length <= end and len(found) < MAX_LISTED_SLOTS * 2:
            if exists(wall, tz):
                starts = instant(wall, tz)
                if earliest <= starts <= latest_start:
                    found.add(Slot(starts, starts + availability.slot_minutes * 60))
            wall += length
    return sorted(found)[:MAX_LISTED_SLOTS]


def is_offered(availability: Availability, starts_at: float, now: float) -> Slot | None:
    """The slot starting at `starts_at` (within a second: clients round-trip it as text) if the availability offers it now."""
    return next((slot for slot in offered_slots(availability, now) if abs(slot.starts_at - starts_at) < 1), None)


def buckets(starts_at: float, ends_at: float) -> list[int]:
    """The five-minute buckets of wall time a booking occupies (its end rounded up)."""
    first = math.floor(starts_at / CAPACITY_BUCKET_S)
    last = math.ceil(ends_at / CAPACITY_BUCKET_S)
    return list(range(first, max(last, first + 1)))


@dataclass(frozen=True)
class CapacityLimit:
    """At most `limit` bookings at once within `scope` ("all": the cluster; "job:{tenant}:{job}": one job)."""

    scope: str
    limit: int


def job_scope(tenant: str, job_id: str) -> str:
    return f"job:{tenant}:{job_id}"


BookingStatus = Literal["booked", "cancelled", "missed"]  # missed: its time passed without the candidate


class Booking(BaseModel):
    """A candidate's slot for one interview. `sequence` is the calendar invitation's SEQUENCE: it grows with every
    change and cancellation, so calendar apps apply them in order."""

    interview_id: str
    tenant: str
    job_id: str
    starts_at: float
    ends_at: float
    timezone: str  # the job's: what the invitation and reminders show, beside the candidate's own where known
    status: BookingStatus = "booked"
    sequence: int = 0
    changes: int = 0  # times the candidate moved it
    no_shows: int = 0  # booked times of this interview that passed without the candidate (kept across rebookings)
    join_url: str  # the candidate's short invite link, valid through the slot
    created_at: float
    updated_at: float

    def window(self) -> tuple[float, float]:
        """When the candidate may join: from a quarter of an hour before the slot to its end."""
        return self.starts_at - EARLY_JOIN_S, self.ends_at

    def changeable(self, availability: Availability, now: float) -> bool:
        """Whether the candidate may still change or cancel it (the job's `change_until_hours` before it)."""
        return self.status == "booked" and now <= self.starts_at - availability.change_until_hours * 3600


class SlotTaken(Exception):
    """The slot has no room left (someone booked the last place meanwhile)."""

    def __init__(self, scope: str) -> None:
        super().__init__(f"no room left in {scope}")
        self.scope = scope


ReminderStatus = Literal["pending", "sending", "sent", "failed", "skipped", "cancelled"]


class Reminder(BaseModel):
    """One reminder of one booking on one channel, as the scheduler keeps it and HR see it."""

    id: str
    tenant: str
    interview_id: str
    channel: str
    sequence: int  # of the booking it reminds of
    lead_s: float
    due_at: float
    status: ReminderStatus = "pending"
    attempts: int = 0
    next_attempt_at: float  # when due, or retried; while sending, when the claim lapses
    last_error: str | None = None
    provider_id: str | None = None
    sent_at: float | None = None


def reminder_id(interview_id: str, sequence: int, lead_s: float, channel: str) -> str:
    return f"{interview_id}.{sequence}.{int(lead_s)}.{channel}"


CALENDAR_CHANNEL = "calendar"  # the invitation (or cancellation) itself, e-mailed at once: sent durably like a reminder


def calendar_message(booking: Booking, now: float) -> Reminder:
    """The calendar e-mail of the booking as it now is (REQUEST, or CANCEL once cancelled), due at once."""
    return Reminder(
        id=f"{booking.interview_id}.{booking.sequence}.{booking.status}.{CALENDAR_CHANNEL}",
        tenant=booking.tenant,
        interview_id=booking.interview_id,
        channel=CALENDAR_CHANNEL,
        sequence=booking.sequence,
        lead_s=max(0.0, booking.starts_at - now),
        due_at=now,
        next_attempt_at=now,
    )


ATTENDANCE_CHANNEL = "attendance"  # not a message: the check, once the join window has closed, that the candidate came
ATTENDANCE_GRACE_S = 60.0  # after the window closes: a start already under way by then has recorded itself


def attendance_check(booking: Booking) -> Reminder:
    """The scheduler's job that marks the interview `no_show` if it has not started when the booking's window has
    closed (and invites the candidate once more where the job allows it)."""
    due = booking.window()[1] + ATTENDANCE_GRACE_S
    return Reminder(
        id=reminder_id(booking.interview_id, booking.sequence, 0, ATTENDANCE_CHANNEL),
        tenant=booking.tenant,
        interview_id=booking.interview_id,
        channel=ATTENDANCE_CHANNEL,
        sequence=booking.sequence,
        lead_s=booking.starts_at - due,
        due_at=due,
        next_attempt_at=due,
    )


def plan_reminders(booking: Booking, lead_hours: list[float], channels: list[str], now: float) -> list[Reminder]:
    """The reminders of a booking that are still ahead: one per lead time and channel."""
    planned = []
    for hours in lead_hours:
        due = booking.starts_at - hours * 3600
        if due <= now:
            continue  # booked later than that: the confirmation just sent says the same
        planned += [
            Reminder(
                id=reminder_id(booking.interview_id, booking.sequence, hours * 3600, channel),
                tenant=booking.tenant,
                interview_id=booking.interview_id,
                channel=channel,
                sequence=booking.sequence,
                lead_s=hours * 3600,
                due_at=due,
                next_attempt_at=due,
            )
            for channel in channels
        ]
    return planned


def _in_scope(booking: Booking, scope: str) -> bool:
    return scope == "all" or scope == job_scope(booking.tenant, booking.job_id)


def busiest(bookings: list[Booking], starts_at: float, ends_at: float, scope: str) -> int:
    """The most bookings of `scope` at any one moment between the two instants (counted per capacity bucket)."""
    wanted = buckets(starts_at, ends_at)
    counts = dict.fromkeys(wanted, 0)
    for other in bookings:
        if other.status != "booked" or not _in_scope(other, scope):
            continue
        for bucket in buckets(other.starts_at, other.ends_at):
            if bucket in counts:
                counts[bucket] += 1
    return max(counts.values(), default=0)


def check_room(booked: list[Booking], wanted: Booking, limits: list[CapacityLimit]) -> None:
    """Raise `SlotTaken` unless `wanted` fits beside `booked` (the interview's own earlier booking is not counted)."""
    others = [b for b in booked if b.interview_id != wanted.interview_id]
    for limit in limits:
        if _in_scope(wanted, limit.scope) and busiest(others, wanted.starts_at, wanted.ends_at, limit.scope) >= limit.limit:
            raise SlotTaken(limit.scope)
