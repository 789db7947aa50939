"""Offered slots come from wall-clock hours in the job's time zone and stay right across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from server.domain.scheduling import Availability, Booking, CapacityLimit, SlotTaken, check_room, job_scope, offered_slots, plan_reminders


def at(text: str, zone: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def local(epoch: float, zone: str) -> str:
    return datetime.fromtimestamp(epoch, UTC).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %z")


def test_weekly_hours_become_slots_in_the_jobs_time_zone() -> None:
    availability = Availability(timezone="Asia/Shanghai", weekly=[{"days": ["mon"], "start": "09:00", "end": "10:30"}], min_notice_hours=0)
    now = at("2026-12-06T12:00", "Asia/Shanghai")  # a Sunday
    slots = offered_slots(availability, now)
    assert [local(s.starts_at, "Asia/Shanghai") for s in slots[:3]] == [
        "2026-12-07 09:00 +0800",
        "2026-12-07 09:30 +0800",
        "2026-12-07 10:00 +0800",
    ]
    assert all(s.ends_at - s.starts_at == 1800 for s in slots)
    assert datetime.fromtimestamp(slots[0].starts_at, UTC).hour == 1  # 09:00 in Shanghai is 01:00 UTC


def test_a_wall_clock_time_skipped_by_daylight_saving_offers_no_slot() -> None:
    # Europe/Berlin jumps from 02:00 to 03:00 on 2027-03-28: 02:00 and 02:30 do not exist that night.
    availability = Availability(
        timezone="Europe/Berlin",
        windows=[{"start": "2027-03-28T01:00", "end": "2027-03-28T04:00"}],
        min_notice_hours=0,
        days_ahead=30,
    )
    slots = offered_slots(availability, at("2027-03-20T12:00", "Europe/Berlin"))
    assert [local(s.starts_at, "Europe/Berlin") for s in slots] == [
        "2027-03-28 01:00 +0100",
        "2027-03-28 01:30 +0100",
        "2027-03-28 03:00 +0200",
        "2027-03-28 03:30 +0200",
    ]
    # Each lasts its half hour of real time, even the one that ends across the jump.
    assert {s.ends_at - s.starts_at for s in slots} == {1800}


def test_a_wall_clock_time_repeated_by_daylight_saving_is_offered_once() -> None:
    # America/New_York falls back from 02:00 to 01:00 on 2026-11-01: 01:00-02:00 happens twice.
    availability = Availability(
        timezone="America/New_York", windows=[{"start": "2026-11-01T00:00", "end": "2026-11-01T03:00"}], min_notice_hours=0
    )
    slots = offered_slots(availability, at("2026-10-30T12:00", "America/New_York"))
    starts = [s.starts_at for s in slots]
    assert len(starts) == len(set(starts)) == 6
    assert local(starts[2], "America/New_York") == "2026-11-01 01:00 -0400"  # the first 01:00


def test_notice_horizon_deadline_and_closed_days_limit_the_offer() -> None:
    availability = Availability(
        timezone="Asia/Shanghai",
        weekly=[{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "10:00"}],
        closed_dates=[date(2026, 12, 8)],
        deadline="2026-12-10T09:30",
        min_notice_hours=2,
    )
    now = at("2026-12-07T07:15", "Asia/Shanghai")  # Monday 07:15: 09:00 is within the two hours' notice, 09:30 not
    days = {local(s.starts_at, "Asia/Shanghai") for s in offered_slots(availability, now)}
    assert days == {
        "2026-12-07 09:30 +0800",
        "2026-12-09 09:00 +0800",
        "2026-12-09 09:30 +0800",
        "2026-12-10 09:00 +0800",
        "2026-12-10 09:30 +0800",
    }


def test_an_unknown_time_zone_or_backwards_hours_are_refused() -> None:
    with pytest.raises(ValidationError, match="IANA"):
        Availability(timezone="Mars/Olympus", weekly=[{"days": ["mon"], "start": "09:00", "end": "10:00"}])
    with pytest.raises(ValidationError, match="IANA"):
        Availability(timezone="../../etc/passwd", weekly=[{"days": ["mon"], "start": "09:00", "end": "10:00"}])
    with pytest.raises(ValidationError, match="after start"):
        Availability(timezone="UTC", weekly=[{"days": ["mon"], "start": "10:00", "end": "09:00"}])
    with pytest.raises(ValidationError, match="deadline"):
        Availability(timezone="UTC", mode="before_deadline")


def booking(interview: str, start: float, minutes: int = 30, job: str = "j1") -> Booking:
    return Booking(
        interview_id=interview,
        tenant="t",
        job_id=job,
        starts_at=start,
        ends_at=start + minutes * 60,
        timezone="UTC",
        join_url="https://x.test/s/abc",
        created_at=0,
        updated_at=0,
    )


def test_capacity_counts_overlaps_per_scope_and_not_the_interviews_own_booking() -> None:
    start = at("2026-12-07T09:00", "UTC")
    booked = [booking("a", start), booking("b", start + 900, job="j2")]
    limit_two = [CapacityLimit("all", 2)]
    with pytest.raises(SlotTaken):
        check_room(booked, booking("c", start + 600), limit_two)  # 09:10-09:40 overlaps both
    check_room(booked, booking("c", start + 1800), limit_two)  # 09:30: only b is still running
    check_room(booked, booking("a", start + 600), limit_two)  # a moving its own booking
    with pytest.raises(SlotTaken) as taken:
        check_room(booked, booking("c", start + 1200), [CapacityLimit("all", 5), CapacityLimit(job_scope("t", "j1"), 1)])
    assert taken.value.scope == "job:t:j1"


def test_reminders_already_past_at_booking_time_are_not_planned() -> None:
    start = at("2026-12-07T09:00", "UTC")
    planned = plan_reminders(booking("a", start), [24, 1], ["email", "webhook"], now=start - 3 * 3600)
    assert sorted((r.lead_s, r.channel) for r in planned) == [(3600, "email"), (3600, "webhook")]
    assert {r.due_at for r in planned} == {start - 3600}
