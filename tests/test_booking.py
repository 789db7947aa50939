"""Candidates book, change and cancel their interview time from the invite link; every calendar follows (iTIP REQUEST
and CANCEL, one UID, a growing SEQUENCE, parsed back with `icalendar`); the last place goes to one candidate only;
the interview opens only within the booked time; reminders go out at their lead times on a controllable clock."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from server.composition import tencent_sms
from server.integrations.reminder_channels import EmailReminders, WebhookReminders
from server.integrations.reminder_scheduler import ReminderScheduler
from server.integrations.sms import SmsReminderChannel
from server.integrations.smtp_mail import SmtpSender
from server.web.no_shows import check_attendance
from tests.conftest import API_KEY, LiveServer, free_port, make_settings, serving
from tests.helpers.mail_server import Mailbox, mail_server
from tests.helpers.tencent_sms_api import FakeTencentSms, running
from tests.helpers.waiting import eventually, wait_until
from tests.helpers.webhook_receiver import Receiver, receiving

HR = {"X-API-Key": API_KEY}
ZONE = "Asia/Shanghai"


@pytest.fixture
async def booking_server(tmp_path: Path, store_settings: dict[str, object]) -> AsyncIterator[tuple[LiveServer, Mailbox, Receiver]]:
    with mail_server() as (mailbox, smtp):
        settings = make_settings(
            tmp_path / "data",
            webhook_allow_http=True,
            webhook_allow_private_addresses=True,
            **smtp,
            **store_settings,
        )
        async with serving(settings) as server, receiving(Receiver(free_port())) as receiver:
            await server.http.post(f"{server.url}/api/v1/webhooks/endpoints", json={"url": receiver.url}, headers=HR)
            yield server, mailbox, receiver


def wall(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%dT%H:%M")


async def open_job(server: LiveServer, job_id: str = "backend", days_away: int = 1, **availability: Any) -> None:
    job = {"title": "Backend engineer", "language": "en"}
    assert (await server.http.put(f"{server.url}/api/v1/jobs/{job_id}", json=job, headers=HR)).status_code in (200, 201)
    day = datetime.now(ZoneInfo(ZONE)).date() + timedelta(days=days_away)
    body = {
        "timezone": ZONE,
        "windows": [{"start": f"{day}T09:00", "end": f"{day}T11:00"}],
        "min_notice_hours": 0,
        "calendar_attendees": [{"email": "lina@example.test", "name": "Li Na"}],
        **availability,
    }
    response = await server.http.put(f"{server.url}/api/v1/jobs/{job_id}/availability", json=body, headers=HR)
    assert response.status_code in (200, 201), response.text


async def invite(server: LiveServer, job_id: str = "backend", email: str = "alex@example.test") -> tuple[str, str]:
    body = {
        "job_id": job_id,
        "candidate": {"name": "Alex Chen", "email": email},
        "mode": "text",
        "max_questions": 1,
        "question_bank": [{"id": "q1", "competency": "skills", "difficulty": "standard", "text": {"en": "Why?"}}],
    }
    created = await server.http.post(f"{server.url}/api/v1/interviews", json=body, headers=HR)
    assert created.status_code == 201, created.text
    return created.json()["interview"]["id"], created.json()["invite_token"]


def as_candidate(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def slots(server: LiveServer, interview_id: str, token: str) -> dict[str, Any]:
    response = await server.http.get(f"{server.url}/api/v1/interviews/{interview_id}/slots", headers=as_candidate(token))
    assert response.status_code == 200, response.text
    return response.json()


async def book(server: LiveServer, interview_id: str, token: str, starts_at: str) -> Any:
    return await server.http.put(
        f"{server.url}/api/v1/interviews/{interview_id}/booking",
        json={"starts_at": starts_at, "timezone": "Europe/London"},
        headers=as_candidate(token),
    )


async def invitations_recorded(server: LiveServer, interview_id: str) -> None:
    """The server's scheduler has marked its calendar invitations sent: a test's own scheduler, on a clock days ahead,
    would otherwise see their claims as lapsed and send them again."""

    async def recorded() -> bool:
        status = (await server.http.get(f"{server.url}/api/v1/interviews/{interview_id}/booking", headers=HR)).json()
        return all(r["status"] == "sent" for r in status["reminders"] if r["channel"] == "calendar")

    await eventually(recorded, what="the invitations recorded as sent")


def calendar_of(message: EmailMessage) -> icalendar.Calendar:
    parts = [part for part in message.walk() if part.get_content_type() == "text/calendar"]
    assert len(parts) == 1, [p.get_content_type() for p in message.walk()]
    assert parts[0].get_param("method") in ("REQUEST", "CANCEL")
    calendar = icalendar.Calendar.from_ical(parts[0].get_content())
    assert str(calendar["METHOD"]) == parts[0].get_param("method")
    return calendar


def event_of(calendar: icalendar.Calendar) -> icalendar.Event:
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1
    return events[0]


async def test_a_candidate_books_changes_and_cancels_and_every_calendar_follows(
    booking_server: tuple[LiveServer, Mailbox, Receiver],
) -> None:
    server, mailbox, receiver = booking_server
    await open_job(server)
    interview_id, token = await invite(server)

    page = await server.http.get(f"{server.url}/i/{token}")
    assert "/static/booking/booking.js" in page.text and f'content="{interview_id}"' in page.text

    offered = await slots(server, interview_id, token)
    assert offered["timezone"] == ZONE and offered["booking"] is None
    assert [wall(datetime.fromisoformat(s["starts_at"]).timestamp())[-5:] for s in offered["slots"]] == ["09:00", "09:30", "10:00", "10:30"]
    first, second = offered["slots"][0]["starts_at"], offered["slots"][2]["starts_at"]

    booked = await book(server, interview_id, token, first)
    assert booked.status_code == 201, booked.text
    assert booked.json()["booking"]["starts_at"] == first
    await wait_until(lambda: len(mailbox.messages) == 2, what="the invitation to the candidate and to HR")
    by_recipient = {rcpts[0]: message for rcpts, message in mailbox.messages}
    candidate_event = event_of(calendar_of(by_recipient["alex@example.test"]))
    hr_event = event_of(calendar_of(by_recipient["lina@example.test"]))
    uid = str(candidate_event["UID"])
    assert uid == str(hr_event["UID"]) and interview_id in uid
    assert candidate_event["SEQUENCE"] == 0
    assert candidate_event.decoded("DTSTART") == datetime.fromisoformat(first)
    assert candidate_event.decoded("DTEND") - candidate_event.decoded("DTSTART") == timedelta(minutes=30)
    join_url = str(candidate_event["URL"])
    assert join_url.startswith(f"{server.url}/s/")
    assert "URL" not in hr_event  # HR's copy links to HR's workspace instead
    assert f"/hr#/interview/{interview_id}" in str(hr_event["DESCRIPTION"])
    assert {str(a) for a in hr_event.get("ATTENDEE")} == {"mailto:alex@example.test", "mailto:lina@example.test"}
    # The short link in the invitation opens the same booking page.
    followed = await server.http.get(join_url, follow_redirects=True)
    assert "/static/booking/booking.js" in followed.text

    moved = await book(server, interview_id, token, second)
    assert moved.status_code == 201, moved.text
    await wait_until(lambda: len(mailbox.messages) == 4, what="the changed invitation")
    changed = [event_of(calendar_of(m)) for _, m in mailbox.messages[2:]]
    assert {str(e["UID"]) for e in changed} == {uid}
    assert {e["SEQUENCE"] for e in changed} == {1}
    assert {e.decoded("DTSTART") for e in changed} == {datetime.fromisoformat(second)}

    cancelled = await server.http.delete(f"{server.url}/api/v1/interviews/{interview_id}/booking", headers=as_candidate(token))
    assert cancelled.status_code == 200, cancelled.text
    await wait_until(lambda: len(mailbox.messages) == 6, what="the cancellation")
    for _, message in mailbox.messages[4:]:
        calendar = calendar_of(message)
        assert str(calendar["METHOD"]) == "CANCEL"
        assert str(event_of(calendar)["UID"]) == uid and event_of(calendar)["SEQUENCE"] == 2
        assert str(event_of(calendar)["STATUS"]) == "CANCELLED"

    await receiver.wait_for(lambda r: len([x for x in r if x.event["type"].startswith("interview.book")]) == 3)
    # Webhooks carry no delivery order (README): a receiver orders them by their version or timestamp.
    kinds = sorted((x.event["data"]["version"], x.event["type"]) for x in receiver.requests if x.event["type"].startswith("interview.book"))
    assert kinds == [(0, "interview.booked"), (1, "interview.booked"), (2, "interview.booking_cancelled")]

    # HR see each invitation's delivery, and that reminders of the times given up will never go out. The last mail
    # reaches the mailbox a moment before its sender records it sent.
    await invitations_recorded(server, interview_id)
    status = (await server.http.get(f"{server.url}/api/v1/interviews/{interview_id}/booking", headers=HR)).json()
    assert status["booking"]["status"] == "cancelled"
    calendar_rows = [r for r in status["reminders"] if r["channel"] == "calendar"]
    assert [r["status"] for r in calendar_rows] == ["sent"] * 3
    assert {r["status"] for r in status["reminders"] if r["channel"] != "calendar"} == {"cancelled"}


async def test_two_candidates_racing_for_the_last_place_one_gets_it_and_the_other_a_fresh_list(
    booking_server: tuple[LiveServer, Mailbox, Receiver],
) -> None:
    server, _, _ = booking_server
    await open_job(server, days_away=4, max_concurrent=1)  # past the invites' 72 hours: booking it renews the link
    (first_id, first_token), (second_id, second_token) = await invite(server), await invite(server, email="sam@example.test")
    wanted = (await slots(server, first_id, first_token))["slots"][1]["starts_at"]
    answers = await asyncio.gather(book(server, first_id, first_token, wanted), book(server, second_id, second_token, wanted))
    assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 409).json()
    assert refused["code"] == "slot_taken"
    fresh = {s["starts_at"]: s["available"] for s in refused["slots"]}
    assert fresh[wanted] is False and sum(fresh.values()) == len(fresh) - 1
    # The one who got it still sees it as theirs (their own booking does not count against them).
    winner_id, winner_token = (first_id, first_token) if answers[0].status_code == 201 else (second_id, second_token)
    mine = await slots(server, winner_id, winner_token)
    assert {s["starts_at"]: s["available"] for s in mine["slots"]}[wanted] is True

    # A third, asking for the time already full, is refused before anything is written: no new link goes out.
    third_id, third_token = await invite(server, email="kim@example.test")
    before = await server.services.store.get_interview(third_id)
    late = await book(server, third_id, third_token, wanted)
    assert late.status_code == 409 and late.json()["code"] == "slot_taken"
    after = await server.services.store.get_interview(third_id)
    assert before is not None and after is not None and after.invite_expires_at == before.invite_expires_at


async def test_a_booked_interview_opens_only_in_its_window_and_a_reschedule_holds_the_old_link_to_a_new_time(
    booking_server: tuple[LiveServer, Mailbox, Receiver],
) -> None:
    server, _, _ = booking_server
    soon = datetime.now(ZoneInfo(ZONE)).replace(second=0, microsecond=0, tzinfo=None) + timedelta(minutes=10)
    later = soon + timedelta(days=1)
    windows = [{"start": soon.isoformat(), "end": (soon + timedelta(minutes=30)).isoformat()}]
    windows.append({"start": later.isoformat(), "end": (later + timedelta(minutes=30)).isoformat()})
    await open_job(server, windows=windows, change_until_hours=0)
    interview_id, token = await invite(server)
    socket_url = server.url.replace("http://", "ws://") + f"/ws/interviews/{interview_id}?token={token}"

    async def refused_with() -> str:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(socket_url):
                pass
        assert refused.value.response.status_code == 409
        return str(json.loads(refused.value.response.body or b"{}").get("code"))

    assert await refused_with() == "no_booked_time"
    offered = [s["starts_at"] for s in (await slots(server, interview_id, token))["slots"]]
    assert len(offered) == 2
    assert (await book(server, interview_id, token, offered[1])).status_code == 201
    assert await refused_with() == "before_booked_time"  # tomorrow's slot: not yet

    assert (await book(server, interview_id, token, offered[0])).status_code == 201  # in ten minutes: open now
    page = await server.http.get(f"{server.url}/i/{token}")
    assert "/static/candidate/" in page.text and "booking.js" not in page.text
    async with connect(socket_url) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "hello"

    # HR reschedules: the booked time is given up, and the same link cannot start the interview until a new one is booked.
    rescheduled = await server.http.post(f"{server.url}/api/v1/interviews/{interview_id}/reschedule", json={}, headers=HR)
    assert rescheduled.status_code == 200, rescheduled.text
    assert await refused_with() == "no_booked_time"
    assert "/static/booking/booking.js" in (await server.http.get(f"{server.url}/i/{token}")).text


async def test_reminders_go_out_at_their_lead_times_on_every_channel_and_never_after_the_start(
    booking_server: tuple[LiveServer, Mailbox, Receiver],
) -> None:
    server, mailbox, receiver = booking_server
    await open_job(server, days_away=3, calendar_attendees=[])
    interview_id, token = await invite(server)
    first = (await slots(server, interview_id, token))["slots"][0]["starts_at"]
    assert (await book(server, interview_id, token, first)).status_code == 201
    await wait_until(lambda: len(mailbox.messages) == 1, what="the candidate's invitation")
    await invitations_recorded(server, interview_id)
    start = datetime.fromisoformat(first).timestamp()

    now = [start - 30 * 3600]
    settings = server.settings
    scheduler = ReminderScheduler(
        server.services.bookings,
        server.services.store,
        {"email": EmailReminders(SmtpSender(settings)), "webhook": WebhookReminders(server.services.store)},
        claim_s=60,
        clock=lambda: now[0],
    )
    assert await scheduler.run_due() == 0  # 30 hours before: nothing due yet

    now[0] = start - 24 * 3600 + 5
    assert await scheduler.run_due() == 2  # the day-before reminder, by e-mail and to the HRMS
    assert len(mailbox.messages) == 2
    day_before = mailbox.body(1)
    assert "in 24 hours" in day_before and "Backend engineer" in day_before and "Asia/Shanghai, UTC+08:00" in day_before
    assert mailbox.messages[1][0] == ["alex@example.test"]
    due = await receiver.wait_for(lambda r: len([x for x in r if x.event["type"] == "interview.reminder_due"]) == 1)
    event = next(x.event for x in due if x.event["type"] == "interview.reminder_due")
    assert event["data"]["interview_id"] == interview_id and event["data"]["hours_before"] == 24
    assert event["data"]["join_url"].startswith(f"{server.url}/s/")
    assert await scheduler.run_due() == 0  # sent is sent

    now[0] = start - 3600 + 1
    assert await scheduler.run_due() == 2
    assert "in 1 hour" in mailbox.body(2)
    now[0] = start + 60
    assert await scheduler.run_due() == 0

    status = (await server.http.get(f"{server.url}/api/v1/interviews/{interview_id}/booking", headers=HR)).json()
    reminders = sorted(
        (r["channel"], r["hours_before"], r["status"], r["attempts"]) for r in status["reminders"] if r["channel"] != "calendar"
    )
    assert reminders == [("email", 1, "sent", 1), ("email", 24, "sent", 1), ("webhook", 1, "sent", 1), ("webhook", 24, "sent", 1)]


async def test_a_missed_time_is_a_no_show_the_job_invites_once_more_and_hr_sees_both(
    booking_server: tuple[LiveServer, Mailbox, Receiver],
) -> None:
    server, _, receiver = booking_server
    await open_job(server, reinvite_no_show=True, calendar_attendees=[])
    interview_id, token = await invite(server)
    offered = [s["starts_at"] for s in (await slots(server, interview_id, token))["slots"]]
    assert (await book(server, interview_id, token, offered[0])).status_code == 201
    await invitations_recorded(server, interview_id)
    now = [datetime.fromisoformat(offered[0]).timestamp()]
    scheduler = ReminderScheduler(server.services.bookings, server.services.store, {}, claim_s=60, clock=lambda: now[0])
    scheduler.attendance = functools.partial(check_attendance, server.services)

    async def hr_view() -> tuple[str, dict[str, Any]]:
        interview = (await server.http.get(f"{server.url}/api/v1/interviews/{interview_id}", headers=HR)).json()
        booking = (await server.http.get(f"{server.url}/api/v1/interviews/{interview_id}/booking", headers=HR)).json()
        return interview["interview"]["status"], booking["booking"]

    # The interview has begun and the candidate is not there: nothing yet, until the window closes.
    await scheduler.run_due()
    assert (await hr_view())[0] == "scheduled"
    now[0] += 30 * 60 + 61
    await scheduler.run_due()
    status, booking = await hr_view()
    assert status == "scheduled" and (booking["status"], booking["no_shows"]) == ("missed", 1)  # invited once more
    no_show = await receiver.wait_for(lambda r: any(x.event["type"] == "interview.no_show" for x in r))
    event = next(x.event["data"] for x in no_show if x.event["type"] == "interview.no_show")
    assert (event["interview_id"], event["reinvited"]) == (interview_id, True)
    assert datetime.fromisoformat(event["starts_at"]) == datetime.fromisoformat(offered[0])

    # The same link books again; missing that time too is final: no_show, the link opens the booking page's
    # explanation, the interview cannot start, and HR can still reschedule it.
    view = await slots(server, interview_id, token)
    assert view["status"] == "scheduled" and view["booking"]["status"] == "missed"
    assert (await book(server, interview_id, token, offered[1])).status_code == 201
    now[0] = datetime.fromisoformat(offered[1]).timestamp() + 30 * 60 + 61
    await scheduler.run_due()
    status, booking = await hr_view()
    assert status == "no_show" and (booking["status"], booking["no_shows"]) == ("missed", 2)
    events = await receiver.wait_for(lambda r: len([x for x in r if x.event["type"] == "interview.no_show"]) == 2)
    assert [x.event["data"]["reinvited"] for x in events if x.event["type"] == "interview.no_show"] == [True, False]
    assert await scheduler.run_due() == 0  # done is done
    socket_url = server.url.replace("http://", "ws://") + f"/ws/interviews/{interview_id}?token={token}"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(socket_url):
            pass
    assert json.loads(refused.value.response.body or b"{}")["code"] == "missed_booked_time"
    assert "/static/booking/booking.js" in (await server.http.get(f"{server.url}/i/{token}")).text
    assert (await slots(server, interview_id, token))["status"] == "no_show"
    listed = (await server.http.get(f"{server.url}/api/v1/jobs/backend/bookings", headers=HR)).json()["bookings"]
    assert [(b["candidate_name"], b["status"], b["no_shows"], b["interview_status"]) for b in listed] == [
        ("Alex Chen", "missed", 2, "no_show")
    ]
    rescheduled = await server.http.post(f"{server.url}/api/v1/interviews/{interview_id}/reschedule", json={}, headers=HR)
    assert rescheduled.status_code == 200, rescheduled.text
    assert (await hr_view())[0] == "scheduled"
    assert (await book(server, interview_id, token, offered[2])).status_code == 201


async def test_each_hr_person_subscribes_to_a_private_feed_of_the_interviews_they_attend(
    booking_server: tuple[LiveServer, Mailbox, Receiver],
) -> None:
    server, mailbox, _ = booking_server
    await open_job(server)  # Li Na attends the backend job's interviews
    await open_job(server, "design", calendar_attendees=[{"email": "bob@example.test", "name": "Bob"}])
    booked_id, booked_token = await invite(server)
    moved_id, moved_token = await invite(server, email="sam@example.test")
    other_id, other_token = await invite(server, "design", email="kim@example.test")
    offered = [s["starts_at"] for s in (await slots(server, booked_id, booked_token))["slots"]]
    for interview_id, token, at in (
        (booked_id, booked_token, offered[0]),
        (moved_id, moved_token, offered[1]),
        (other_id, other_token, offered[0]),
    ):
        assert (await book(server, interview_id, token, at)).status_code == 201
    cancelled = await server.http.delete(f"{server.url}/api/v1/interviews/{moved_id}/booking", headers=as_candidate(moved_token))
    assert cancelled.status_code == 200, cancelled.text

    created = await server.http.post(f"{server.url}/api/v1/calendar-feeds", json={"email": "Lina@Example.test"}, headers=HR)
    assert created.status_code == 201, created.text
    url = created.json()["url"]
    assert url.startswith(f"{server.url}/calendar/") and created.json()["webcal_url"].startswith("webcal://")
    feed = await server.http.get(url)
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    assert "no-store" in feed.headers["cache-control"]
    events = {str(e["UID"]): e for e in icalendar.Calendar.from_ical(feed.content).walk("VEVENT")}
    await wait_until(lambda: len(mailbox.messages) >= 5, what="the e-mailed invitations")
    emailed = {str(event_of(calendar_of(m))["UID"]) for _, m in mailbox.messages}
    assert set(events) <= emailed and len(events) == 2  # the backend job's two, with the invitations' UIDs; not design's
    statuses = sorted((str(e["STATUS"]), int(e["SEQUENCE"])) for e in events.values())
    assert statuses == [("CANCELLED", 1), ("CONFIRMED", 0)]
    confirmed = next(e for e in events.values() if str(e["STATUS"]) == "CONFIRMED")
    assert "Alex Chen" in str(confirmed["SUMMARY"]) and confirmed.decoded("DTSTART") == datetime.fromisoformat(offered[0])

    # A new link replaces the old; a stopped one, a guessed one and an erased interview show nothing.
    renewed = (await server.http.post(f"{server.url}/api/v1/calendar-feeds", json={"email": "lina@example.test"}, headers=HR)).json()["url"]
    assert (await server.http.get(url)).status_code == 404
    assert (await server.http.delete(f"{server.url}/api/v1/interviews/{booked_id}", headers=HR)).status_code == 204
    left = icalendar.Calendar.from_ical((await server.http.get(renewed)).content).walk("VEVENT")
    assert [str(e["STATUS"]) for e in left] == ["CANCELLED"]
    assert (await server.http.delete(f"{server.url}/api/v1/calendar-feeds/lina@example.test", headers=HR)).status_code == 204
    assert (await server.http.get(renewed)).status_code == 404
    assert (await server.http.get(f"{server.url}/calendar/{'A' * 43}.ics")).status_code == 404
    assert (await server.http.get(f"{server.url}/calendar/..%2f.ics")).status_code == 404
    assert (await server.http.post(f"{server.url}/api/v1/calendar-feeds", json={"email": "not an address"}, headers=HR)).status_code == 422


async def test_erasing_an_interview_removes_its_booking_and_reminders(booking_server: tuple[LiveServer, Mailbox, Receiver]) -> None:
    server, _, _ = booking_server
    await open_job(server)
    interview_id, token = await invite(server)
    first = (await slots(server, interview_id, token))["slots"][0]["starts_at"]
    assert (await book(server, interview_id, token, first)).status_code == 201
    assert await server.services.bookings.reminders_of(interview_id)
    assert (await server.http.delete(f"{server.url}/api/v1/interviews/{interview_id}", headers=HR)).status_code == 204
    assert await server.services.bookings.booking(interview_id) is None
    assert await server.services.bookings.reminders_of(interview_id) == []
    start = datetime.fromisoformat(first).timestamp()
    assert await server.services.bookings.overlapping(start, start + 1800) == []
    assert await server.services.bookings.due_reminders(start + 86400) == []


async def test_a_candidate_with_a_phone_number_gets_the_reminder_by_sms_through_tencent_cloud(tmp_path: Path) -> None:
    key_file = tmp_path / "tencent.key"
    async with running(FakeTencentSms(free_port())) as fake:
        key_file.write_text(fake.secret_key)
        settings = make_settings(
            tmp_path / "data",
            tencent_sms_secret_id=fake.secret_id,
            tencent_sms_secret_key_file=key_file,
            tencent_sms_sdk_app_id=fake.sdk_app_id,
            tencent_sms_sign_name=fake.sign_name,
            tencent_sms_template_ids={"en": "2102", "zh": "2101"},
            tencent_sms_base_url=fake.url,
        )
        async with serving(settings) as server:
            assert "sms" in server.services.reminder_channels
            await open_job(server, days_away=3)
            body = {
                "job_id": "backend",
                "candidate": {"name": "Alex Chen", "phone": "+8613800138000"},
                "mode": "text",
                "question_bank": [{"id": "q1", "competency": "skills", "difficulty": "standard", "text": {"en": "Why?"}}],
            }
            created = (await server.http.post(f"{server.url}/api/v1/interviews", json=body, headers=HR)).json()
            interview_id, token = created["interview"]["id"], created["invite_token"]
            first = (await slots(server, interview_id, token))["slots"][0]["starts_at"]
            booked = await book(server, interview_id, token, first)
            assert booked.status_code == 201, booked.text
            start = datetime.fromisoformat(first).timestamp()
            sms = tencent_sms(settings)
            assert sms is not None
            channel = SmsReminderChannel(sms, settings.tencent_sms_template_ids, link_prefix=f"{settings.base_url}/s/")
            scheduler = ReminderScheduler(
                server.services.bookings, server.services.store, {"sms": channel}, claim_s=30, clock=lambda: start - 3600
            )
            try:
                assert await scheduler.run_due() >= 1
            finally:
                await sms.aclose()
            [sent] = [s for s in fake.sent if s.session_context.endswith(".3600.sms")]
            assert sent.phone_number == "+8613800138000" and sent.template_id == "2102"
            assert sent.params[0] == "Alex Chen" and sent.session_context.startswith(interview_id)
            status = (await server.http.get(f"{server.url}/api/v1/interviews/{interview_id}/booking", headers=HR)).json()
            assert {(r["hours_before"], r["status"]) for r in status["reminders"] if r["channel"] == "sms"} == {(1, "sent"), (24, "sent")}
