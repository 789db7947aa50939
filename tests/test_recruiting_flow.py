"""The whole path before the interview: a job's poster, its QR code scanned back to the registration page, the
application screened by the job's rules, the invitation's booking page, the calendar invitation, both reminders on a
controllable clock, and the candidate joining in the booked window; HR's HRMS hears each step."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from fpdf import FPDF
from PIL import Image
from websockets.asyncio.client import connect

from server.domain.poster import find_cjk_font
from server.integrations.reminder_channels import EmailReminders, WebhookReminders
from server.integrations.reminder_scheduler import ReminderScheduler
from server.integrations.smtp_mail import SmtpSender
from tests.conftest import LiveServer
from tests.helpers.mail_server import Mailbox
from tests.helpers.qr_codes import qr_codes
from tests.helpers.waiting import wait_until
from tests.helpers.webhook_receiver import Receiver
from tests.test_booking import HR, ZONE, as_candidate, booking_server, calendar_of, event_of, invitations_recorded

__all__ = ["booking_server"]  # the fixture, shared with the booking tests

JOB = {
    "title": "Backend engineer",
    "role": "backend_engineer",
    "language": "en",
    "screening": {
        "knockout_questions": [{"id": "shanghai", "text": {"en": "Can you work in Shanghai?"}, "required_answer": True}],
        "on_pass": "invite",
    },
}


async def test_a_candidate_goes_from_the_poster_to_the_interview_and_hr_hears_each_step(
    booking_server: tuple[LiveServer, Mailbox, Receiver],
) -> None:
    server, mailbox, receiver = booking_server
    assert (await server.http.put(f"{server.url}/api/v1/jobs/backend", json=JOB, headers=HR)).status_code == 201
    soon = datetime.now(ZoneInfo(ZONE)).replace(second=0, microsecond=0, tzinfo=None) + timedelta(minutes=10)
    later = (soon + timedelta(days=3)).replace(hour=9, minute=0)
    availability = {
        "timezone": ZONE,
        "windows": [
            {"start": soon.isoformat(), "end": (soon + timedelta(minutes=30)).isoformat()},
            {"start": later.isoformat(), "end": (later + timedelta(minutes=30)).isoformat()},
        ],
        "min_notice_hours": 0,
        "change_until_hours": 0,
        "calendar_attendees": [{"email": "lina@example.test", "name": "Li Na"}],
    }
    assert (await server.http.put(f"{server.url}/api/v1/jobs/backend/availability", json=availability, headers=HR)).status_code == 201

    # The poster's QR code, read as a phone reads it, opens the job's registration page.
    poster = await server.http.get(f"{server.url}/api/v1/jobs/backend/poster", params={"format": "png"}, headers=HR)
    assert poster.status_code == 200 and poster.headers["content-type"] == "image/png"
    [code] = qr_codes(Image.open(io.BytesIO(poster.content)))
    assert code.startswith(f"{server.url}/apply/")
    page = await server.http.get(code)
    assert page.status_code == 200 and "/static/apply/apply.js" in page.text
    api = code.replace("/apply/", "/api/v1/applications/")
    job = (await server.http.get(api)).json()
    assert job["job_title"] == "Backend engineer" and job["questions"] == [
        {"id": "shanghai", "text": "Can you work in Shanghai?", "texts": {"en": "Can you work in Shanghai?"}}
    ]

    # One who cannot work in Shanghai is thanked; one who can is invited.
    declined = await server.http.post(
        api, json={"name": "Sam Lee", "email": "sam@example.test", "answers": {"shanghai": False}, "consent": True}
    )
    assert declined.status_code == 201 and declined.json() == {"outcome": "not_selected"}
    applied = await server.http.post(
        api,
        json={
            "name": "Alex Chen",
            "email": "alex@example.test",
            "resume_text": "Five years of Python.",
            "answers": {"shanghai": True},
            "consent": True,
        },
    )
    assert applied.status_code == 201, applied.text
    assert applied.json()["outcome"] == "invited"
    invite_url = applied.json()["invite_url"]
    heard = await receiver.wait_for(lambda r: len([x for x in r if x.event["type"] == "candidate.applied"]) == 2)
    outcomes = {x.event["data"]["outcome"]: x.event["data"] for x in heard if x.event["type"] == "candidate.applied"}
    assert set(outcomes) == {"not_selected", "invited"}
    assert [r["outcome"] for r in outcomes["not_selected"]["screening"]["rules"]] == ["failed"]

    # The invitation opens the booking page; the candidate books the slot in three days.
    token = invite_url.rsplit("/i/", 1)[1]
    assert "/static/booking/booking.js" in (await server.http.get(invite_url)).text
    interview_id = next(x.event["data"]["interview_id"] for x in receiver.requests if x.event["type"] == "interview.scheduled")
    slots = (await server.http.get(f"{server.url}/api/v1/interviews/{interview_id}/slots", headers=as_candidate(token))).json()["slots"]
    first, last = slots[0]["starts_at"], slots[-1]["starts_at"]
    booked = await server.http.put(
        f"{server.url}/api/v1/interviews/{interview_id}/booking", json={"starts_at": last}, headers=as_candidate(token)
    )
    assert booked.status_code == 201, booked.text
    await wait_until(lambda: len(mailbox.messages) == 2, what="the calendar invitations")
    await invitations_recorded(server, interview_id)
    recipients = sorted(rcpts[0] for rcpts, _ in mailbox.messages)
    assert recipients == ["alex@example.test", "lina@example.test"]
    assert all(event_of(calendar_of(m)).decoded("DTSTART") == datetime.fromisoformat(last) for _, m in mailbox.messages)

    # Both reminders, on a clock the test moves.
    start = datetime.fromisoformat(last).timestamp()
    now = [start - 24 * 3600 + 1]
    scheduler = ReminderScheduler(
        server.services.bookings,
        server.services.store,
        {"email": EmailReminders(SmtpSender(server.settings)), "webhook": WebhookReminders(server.services.store)},
        claim_s=60,
        clock=lambda: now[0],
    )
    assert await scheduler.run_due() == 2  # e-mail, and the HRMS's own reminder event
    now[0] = start - 3600 + 1
    assert await scheduler.run_due() == 2
    reminders = [mailbox.body(i) for i in (2, 3)]
    assert "in 24 hours" in reminders[0] and "in 1 hour" in reminders[1]

    # Plans change: the candidate moves to the slot in ten minutes, and joins.
    moved = await server.http.put(
        f"{server.url}/api/v1/interviews/{interview_id}/booking", json={"starts_at": first}, headers=as_candidate(token)
    )
    assert moved.status_code == 201, moved.text
    assert "/static/candidate/" in (await server.http.get(invite_url)).text
    socket_url = server.url.replace("http://", "ws://") + f"/ws/interviews/{interview_id}?token={token}"
    async with connect(socket_url) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "hello"
    wanted = ("interview.booked", "interview.reminder_due")
    heard = await receiver.wait_for(lambda r: len([x for x in r if x.event["type"] in wanted]) == 4)
    # Webhooks carry no delivery order (README): two written a moment apart may arrive either way; their timestamps say.
    steps = [
        (x.event["type"], x.event["data"].get("version", x.event["data"].get("hours_before")))
        for x in sorted(heard, key=lambda x: x.event["timestamp"])
        if x.event["type"] in wanted
    ]
    assert steps == [("interview.booked", 0), ("interview.reminder_due", 24), ("interview.reminder_due", 1), ("interview.booked", 1)]


async def test_an_applicant_is_screened_on_what_they_state_and_their_pdf_resume_is_read(
    booking_server: tuple[LiveServer, Mailbox, Receiver], tmp_path: Path
) -> None:
    server, _, _ = booking_server
    job = {
        "title": "Data engineer",
        "role": "backend_engineer",
        "language": "zh",
        "screening": {"min_education": "bachelor", "min_years_experience": 3, "required_skills": ["Python"], "on_pass": "invite"},
    }
    assert (await server.http.put(f"{server.url}/api/v1/jobs/data", json=job, headers=HR)).status_code == 201
    poster = await server.http.get(f"{server.url}/api/v1/jobs/data/poster", params={"format": "png"}, headers=HR)
    [code] = qr_codes(Image.open(io.BytesIO(poster.content)))
    api = code.replace("/apply/", "/api/v1/applications/")
    resume = base64.b64encode(resume_pdf(tmp_path, "陈亚历 · 数据工程师\n五年 Python 与 Spark 经验，熟悉 Kafka。")).decode()
    person = {"name": "陈亚历", "email": "alex@example.test", "consent": True, "resume_pdf": resume}
    stated = {
        "education": "bachelor",
        "education_field": "计算机科学",
        "years_experience": 5,
        "skills": ["Python", "Spark"],
        "location": "上海",
    }

    applied = await server.http.post(api, json=person | stated)
    assert applied.status_code == 201, applied.text
    assert applied.json()["outcome"] == "invited"
    [application] = (await server.http.get(f"{server.url}/api/v1/jobs/data/applications", headers=HR)).json()["applications"]
    assert {r["rule"]: r["found"] for r in application["rules"]}["min_education"] == "bachelor"
    stored = (await server.http.get(f"{server.url}/api/v1/candidates/{application['candidate_id']}", headers=HR)).json()
    assert "五年 Python 与 Spark 经验" in stored["summary"]  # the PDF's text, read by PDFium
    assert stored["years_experience"] == 5 and [s["name"] for s in stored["skills"]] == ["Python", "Spark"]

    short = await server.http.post(api, json=person | stated | {"email": "sam@example.test", "education": "associate"})
    assert short.json()["outcome"] == "not_selected"
    for bad, code_expected in (("bm90IGEgcGRm", "unreadable_resume"), ("%%%", "invalid_application")):
        refused = await server.http.post(api, json=person | {"email": "x@example.test", "resume_pdf": bad})
        assert refused.status_code == 422 and refused.json()["code"] == code_expected, refused.text


def resume_pdf(tmp_path: Path, text: str) -> bytes:
    """A one-page résumé as a word processor exports it: real text in an embedded Chinese font."""
    pdf = FPDF()
    pdf.add_page()
    pdf.add_font("sans", fname=str(find_cjk_font().path))
    pdf.set_font("sans", size=12)
    pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())
