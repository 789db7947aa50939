"""Kill test: reminders that fell due while every node was down are caught up, survive a kill -9 of the node sending
them, and reach the candidate at least once each; a reminder arrives twice only if its send was in flight at the kill.
And a reminder in flight when the candidate moves the slot is recorded as what became of it, not as cancelled. On the
SQLite store and on the Redis store."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from aiosmtpd.smtp import SMTP, Envelope, Session

from server.domain.scheduling import Booking, Reminder, calendar_message
from server.storage.bookings import Bookings, BookingStore
from server.storage.outbox import EventType
from server.storage.redis_bookings import RedisBookingStore
from server.storage.redis_client import Keys
from tests.conftest import API_KEY, free_port
from tests.helpers.mail_server import Mailbox, mail_server
from tests.helpers.processes import start_server, wait_healthy
from tests.helpers.redis_server import RedisServer
from tests.helpers.waiting import wait_until

HR = {"X-API-Key": API_KEY}
REMINDERS = 16
SMTP_DELAY_S = 0.8  # each message takes this long to be accepted: sends are in flight when the kill comes


class SlowMailbox(Mailbox):
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(SMTP_DELAY_S)
        return await super().handle_DATA(server, session, envelope)

    def reminder_ids(self) -> list[str]:
        ids = []
        for _, message in list(self.messages):
            local = str(message["Message-ID"]).strip().strip("<>").split("@")[0]
            assert local.startswith("reminder."), local
            ids.append(local.removeprefix("reminder."))
        return ids


@asynccontextmanager
async def booking_store(backend: str, data_dir: Path, redis_url: str | None) -> AsyncIterator[Bookings]:
    if backend == "sqlite":
        store = await BookingStore.open(data_dir / "interviews.sqlite3")
        try:
            yield store
        finally:
            await store.close()
        return
    client = redis.Redis.from_url(redis_url or "")
    try:
        yield RedisBookingStore(client, Keys("kill-test:"))
    finally:
        await client.aclose()


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_reminders_due_while_down_survive_a_kill_9_and_arrive_at_least_once_duplicates_only_from_sends_in_flight(
    tmp_path: Path, backend: str
) -> None:
    redis_server = RedisServer(tmp_path / "redis") if backend == "redis" else None
    env: dict[str, str] = {"INTERVIEW_REMINDER_CLAIM_S": "3", "INTERVIEW_REMINDER_CONCURRENCY": "4"}
    if redis_server is not None:
        redis_server.start()
        env |= {"INTERVIEW_REDIS_URL": redis_server.url, "INTERVIEW_STORE": "redis", "INTERVIEW_REDIS_PREFIX": "kill-test:"}
    mailbox = SlowMailbox()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "data"
    with mail_server(mailbox) as (_, smtp):
        env |= {
            "INTERVIEW_SMTP_HOST": smtp["smtp_host"],
            "INTERVIEW_SMTP_PORT": str(smtp["smtp_port"]),
            "INTERVIEW_SMTP_SECURITY": "none",
            "INTERVIEW_MAIL_FROM": smtp["mail_from"],
        }
        server = start_server(data_dir, port, env)
        try:
            # Interviews exist; then every node goes away.
            await wait_healthy(base, server)
            async with httpx.AsyncClient(timeout=20) as http:
                interviews = [await _interview(http, base, i) for i in range(REMINDERS)]
            server.send_signal(signal.SIGKILL)
            server.wait(10)

            # While nothing runs, their reminders fall due (written as a booking writes them).
            now = time.time()
            expected = set()
            async with booking_store(backend, data_dir, redis_server.url if redis_server else None) as bookings:
                for interview_id in interviews:
                    booking, reminder = _booked(interview_id, now)
                    await bookings.book(booking, [], [reminder], (EventType.INTERVIEW_BOOKED, {"interview_id": interview_id}))
                    expected.add(reminder.id)

            # A node starts, catches up, and is killed with sends in flight.
            server = start_server(data_dir, port, env)
            await wait_until(lambda: len(mailbox.messages) >= 4, timeout=30, what="the first reminders caught up")
            server.send_signal(signal.SIGKILL)
            server.wait(10)
            before_kill = mailbox.reminder_ids()
            async with booking_store(backend, data_dir, redis_server.url if redis_server else None) as bookings:
                states = {r.id: r.status for i in interviews for r in await bookings.reminders_of(i)}
            in_flight = {rid for rid, status in states.items() if status == "sending"}
            assert in_flight, f"the kill found no send in flight ({states})"
            assert set(before_kill) <= {rid for rid, s in states.items() if s in ("sent", "sending")}
            await asyncio.sleep(SMTP_DELAY_S * 2)  # what the mail server was accepting at the kill lands (or not)

            # Restarted, the node sends the rest, and again the ones whose claims lapsed.
            server = start_server(data_dir, port, env)
            await wait_until(lambda: set(mailbox.reminder_ids()) >= expected, timeout=60, what="every reminder delivered")
            async with booking_store(backend, data_dir, redis_server.url if redis_server else None) as bookings:

                async def all_recorded() -> bool:
                    statuses = [r.status for i in interviews for r in await bookings.reminders_of(i)]
                    return statuses == ["sent"] * REMINDERS

                deadline = time.monotonic() + 30
                while not await all_recorded():
                    assert time.monotonic() < deadline, "reminders not all recorded as sent"
                    await asyncio.sleep(0.1)
        finally:
            server.kill()
            server.wait(10)
            if redis_server is not None:
                redis_server.stop()
    received = mailbox.reminder_ids()
    assert set(received) == expected
    twice = {rid for rid in received if received.count(rid) > 1}
    assert twice <= in_flight, f"duplicates of reminders that were not in flight: {twice - in_flight}"
    assert all(received.count(rid) <= 2 for rid in received)


async def _interview(http: Any, base: str, index: int) -> str:
    body = {
        "job": {"title": "Backend engineer", "language": "en"},
        "candidate": {"name": f"Candidate {index}", "email": f"c{index}@example.test"},
        "mode": "text",
        "max_questions": 1,
        "question_bank": [{"id": "q1", "competency": "skills", "difficulty": "standard", "text": {"en": "Why?"}}],
    }
    created = await http.post(f"{base}/api/v1/interviews", json=body, headers=HR)
    assert created.status_code == 201, created.text
    return str(created.json()["interview"]["id"])


def _booked(interview_id: str, now: float) -> tuple[Booking, Reminder]:
    starts = now + 3 * 3600
    booking = Booking(
        interview_id=interview_id,
        tenant="default",
        job_id="backend",
        starts_at=starts,
        ends_at=starts + 1800,
        timezone="Asia/Shanghai",
        join_url="http://127.0.0.1/s/x",
        created_at=now,
        updated_at=now,
    )
    due = now - 600  # fell due ten minutes ago, while no node ran
    reminder = Reminder(
        id=f"{interview_id}.0.{3 * 3600}.email",
        tenant="default",
        interview_id=interview_id,
        channel="email",
        sequence=0,
        lead_s=3 * 3600,
        due_at=due,
        next_attempt_at=due,
    )
    return booking, reminder


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_an_invitation_being_sent_when_the_candidate_moves_the_slot_is_recorded_sent_and_a_waiting_one_cancelled(
    tmp_path: Path, backend: str
) -> None:
    redis_server = RedisServer(tmp_path / "redis") if backend == "redis" else None
    if redis_server is not None:
        redis_server.start()
    try:
        async with booking_store(backend, tmp_path, redis_server.url if redis_server else None) as store:
            now = time.time()
            first = _booking(now, sequence=0)
            invitation = calendar_message(first, now)
            waiting = invitation.model_copy(update={"id": "waiting", "channel": "email", "due_at": now + 60, "next_attempt_at": now + 60})
            await store.book(first, [], [invitation, waiting], (EventType.INTERVIEW_BOOKED, {"interview_id": first.interview_id}))
            sending = await store.claim_reminder(invitation.id, now, 30.0)
            assert sending is not None and sending.status == "sending"
            # The candidate moves the slot while the first invitation is on its way to the mail server.
            moved = first.model_copy(update={"sequence": 1, "starts_at": first.starts_at + 1800, "ends_at": first.ends_at + 1800})
            await store.book(moved, [], [calendar_message(moved, now)], (EventType.INTERVIEW_BOOKED, {"interview_id": first.interview_id}))
            await store.finish_reminder(sending, "sent", time.time(), provider_id="<sent@mail>")
            statuses = {r.id: r.status for r in await store.reminders_of(first.interview_id)}
            assert statuses == {invitation.id: "sent", "waiting": "cancelled", calendar_message(moved, now).id: "pending"}
    finally:
        if redis_server is not None:
            redis_server.stop()


def _booking(now: float, sequence: int) -> Booking:
    return Booking(
        interview_id="iv-moved",
        tenant="default",
        job_id="backend",
        starts_at=now + 86400,
        ends_at=now + 86400 + 1800,
        timezone="Asia/Shanghai",
        sequence=sequence,
        join_url="http://test/s/code",
        created_at=now,
        updated_at=now,
    )
