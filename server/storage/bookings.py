"""Jobs' availability, candidates' bookings and their reminders: the contract, and its SQLite store.

A booking is written with its reminders and its outbox event in one transaction, after counting the bookings that
overlap it inside that transaction: two candidates taking the last place at the same moment cannot both get it.
Reminders are the scheduler's durable queue (server/integrations/reminder_scheduler.py): a claim is a lease that
lapses, so a reminder a dead node was sending is sent again by another, and none is ever lost.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

from server.domain.applications import Application, ApplicationStatus
from server.domain.scheduling import Availability, Booking, CapacityLimit, Reminder, ReminderStatus, check_room
from server.storage.outbox import OUTBOX_SCHEMA, EventType, add_event
from server.storage.sqlite_connection import SerialConnection, Synchronous, connect

BookingEvent = tuple[EventType, dict[str, Any]]
# What a new booking cancels of the reminders of the booking as it was: those waiting to go. One being sent right now is
# left to record what became of it (an invitation the candidate got was sent, and HR must see it so); if its send
# fails, its retry finds the booking changed and skips it.
STALE_STATUS = "pending"
LONGEST_SLOT_S = 240 * 60  # Availability.slot_minutes' upper bound: how far back an overlapping booking can start

SCHEMA = """
CREATE TABLE IF NOT EXISTS job_availability (
    tenant TEXT NOT NULL,
    job_id TEXT NOT NULL,
    data TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (tenant, job_id)
);
CREATE TABLE IF NOT EXISTS bookings (
    interview_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    job_id TEXT NOT NULL,
    starts_at REAL NOT NULL,
    status TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bookings_by_start ON bookings(starts_at);
CREATE INDEX IF NOT EXISTS bookings_by_tenant ON bookings(tenant, starts_at);
CREATE TABLE IF NOT EXISTS applications (
    tenant TEXT NOT NULL,
    job_id TEXT NOT NULL,
    candidate_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (tenant, job_id, candidate_id)
);
CREATE INDEX IF NOT EXISTS applications_by_job ON applications(tenant, job_id, status, created_at);
CREATE INDEX IF NOT EXISTS applications_by_candidate ON applications(tenant, candidate_id);
CREATE TABLE IF NOT EXISTS calendar_feeds (
    token_hash TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    email TEXT NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (tenant, email)
);
CREATE TABLE IF NOT EXISTS reminders (
    id TEXT PRIMARY KEY,
    interview_id TEXT NOT NULL,
    status TEXT NOT NULL,
    next_attempt_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reminders_due ON reminders(status, next_attempt_at);
CREATE INDEX IF NOT EXISTS reminders_by_interview ON reminders(interview_id);
"""

ACTIVE: tuple[ReminderStatus, ...] = ("pending", "sending")


class Bookings(Protocol):
    """What the booking API and the reminder scheduler use: `BookingStore` (SQLite) or
    `RedisBookingStore` (redis_bookings.py)."""

    on_event: Callable[[], None] | None  # called after a commit that added outbox events

    async def close(self) -> None: ...

    async def put_availability(self, tenant: str, job_id: str, availability: Availability, now: float) -> bool:
        """Set a job's availability; True when it had none. Existing bookings stay as they are."""
        ...

    async def availability(self, tenant: str, job_id: str) -> Availability | None: ...

    async def booking(self, interview_id: str) -> Booking | None: ...

    async def book(self, booking: Booking, limits: list[CapacityLimit], reminders: list[Reminder], event: BookingEvent) -> None:
        """Keep `booking` (replacing the interview's earlier one, whose pending reminders are cancelled), its reminders
        and its event, if it fits within `limits` beside every other booking; otherwise raise `SlotTaken`."""
        ...

    async def cancel(self, booking: Booking, reminders: list[Reminder], event: BookingEvent) -> None:
        """Keep a booking that no longer holds its time (cancelled, or missed by the candidate; its sequence moved
        on), cancel its pending reminders and add `reminders` (the calendar cancellation)."""
        ...

    async def overlapping(self, starts_at: float, ends_at: float) -> list[Booking]:
        """Every tenant's live bookings overlapping the interval (what capacity counts)."""
        ...

    async def reminders_of(self, interview_id: str) -> list[Reminder]: ...

    async def due_reminders(self, now: float, limit: int = ...) -> list[Reminder]:
        """Pending reminders that are due, and claimed ones whose claim lapsed (their node died), earliest first."""
        ...

    async def next_reminder_at(self) -> float | None: ...

    async def claim_reminder(self, reminder_id: str, now: float, lease_s: float) -> Reminder | None:
        """Take a due reminder for `lease_s` (one claimant wins); None when another has it or it is no longer due."""
        ...

    async def finish_reminder(
        self,
        reminder: Reminder,
        status: ReminderStatus,
        now: float,
        *,
        error: str | None = None,
        provider_id: str | None = None,
        retry_at: float | None = None,
    ) -> None:
        """Record what the claimed `reminder`'s send did: sent, failed or skipped, or pending again at `retry_at`."""
        ...

    async def erase(self, interview_ids: list[str]) -> None: ...

    async def bookings_of(self, tenant: str, since: float, until: float, limit: int) -> list[Booking]:
        """The tenant's bookings (any status) starting between the two instants, earliest first."""
        ...

    async def put_calendar_feed(self, tenant: str, email: str, token_hash: str, now: float) -> None:
        """The HR person's calendar feed, under the hash of its secret; any earlier feed of theirs stops working."""
        ...

    async def calendar_feed(self, token_hash: str) -> tuple[str, str] | None:
        """The tenant and e-mail address of the feed whose secret hashes to `token_hash`."""
        ...

    async def drop_calendar_feed(self, tenant: str, email: str) -> bool: ...

    async def put_applications(self, applications: list[Application]) -> None:
        """Keep each (replacing the candidate's earlier application to the same job), all at once."""
        ...

    async def application(self, tenant: str, job_id: str, candidate_id: str) -> Application | None: ...

    async def applications(self, tenant: str, job_id: str, status: ApplicationStatus | None, limit: int) -> list[Application]:
        """The job's applications (of one status, or all), the oldest first: the queue's order."""
        ...

    async def erase_applications(self, tenant: str, candidate_id: str) -> None:
        """Every application of the candidate (an erasure)."""
        ...


def finished_reminder(
    reminder: Reminder, status: ReminderStatus, now: float, error: str | None, provider_id: str | None, retry_at: float | None
) -> Reminder:
    if status == "pending":
        assert retry_at is not None, "a reminder tried again needs the time to try"
        return reminder.model_copy(update={"status": status, "next_attempt_at": retry_at, "last_error": error})
    return reminder.model_copy(
        update={
            "status": status,
            "last_error": error,
            "provider_id": provider_id,
            "sent_at": now if status == "sent" else reminder.sent_at,
        }
    )


class BookingStore(SerialConnection):
    """Create with `open(path)` on the interview database; release with `close()`."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        super().__init__(db)
        self.on_event: Callable[[], None] | None = None

    @classmethod
    async def open(cls, path: Path, synchronous: Synchronous = "full") -> BookingStore:
        return cls(await connect(path, SCHEMA + OUTBOX_SCHEMA, synchronous))

    async def put_availability(self, tenant: str, job_id: str, availability: Availability, now: float) -> bool:
        async with self._transaction() as db:
            async with db.execute("SELECT 1 FROM job_availability WHERE tenant = ? AND job_id = ?", (tenant, job_id)) as cursor:
                existed = await cursor.fetchone() is not None
            await db.execute(
                "INSERT INTO job_availability (tenant, job_id, data, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (tenant, job_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                (tenant, job_id, availability.model_dump_json(), now),
            )
        return not existed

    async def availability(self, tenant: str, job_id: str) -> Availability | None:
        row = await self._read_one("SELECT data FROM job_availability WHERE tenant = ? AND job_id = ?", (tenant, job_id))
        return None if row is None else Availability.model_validate_json(row["data"])

    async def booking(self, interview_id: str) -> Booking | None:
        row = await self._read_one("SELECT data FROM bookings WHERE interview_id = ?", (interview_id,))
        return None if row is None else Booking.model_validate_json(row["data"])

    async def _overlapping(self, db: aiosqlite.Connection, starts_at: float, ends_at: float) -> list[Booking]:
        async with db.execute(
            "SELECT data FROM bookings WHERE status = 'booked' AND starts_at > ? AND starts_at < ?",
            (starts_at - LONGEST_SLOT_S, ends_at),
        ) as cursor:
            rows = await cursor.fetchall()
        found = [Booking.model_validate_json(row["data"]) for row in rows]
        return [b for b in found if b.ends_at > starts_at]

    async def overlapping(self, starts_at: float, ends_at: float) -> list[Booking]:
        async with self._lock:
            return await self._overlapping(self._db, starts_at, ends_at)

    async def _save(self, db: aiosqlite.Connection, booking: Booking, event: BookingEvent) -> None:
        await db.execute(
            "INSERT INTO bookings (interview_id, tenant, job_id, starts_at, status, data) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (interview_id) DO UPDATE SET starts_at = excluded.starts_at, status = excluded.status, data = excluded.data",
            (booking.interview_id, booking.tenant, booking.job_id, booking.starts_at, booking.status, booking.model_dump_json()),
        )
        # Reminders of the booking as it was, not yet sent, will never be: the new time has its own (STALE_STATUS).
        async with db.execute(
            "SELECT data FROM reminders WHERE interview_id = ? AND status = ?", (booking.interview_id, STALE_STATUS)
        ) as cursor:
            stale = [Reminder.model_validate_json(row["data"]) for row in await cursor.fetchall()]
        for reminder in stale:
            if reminder.sequence < booking.sequence:
                await self._put_reminder(db, reminder.model_copy(update={"status": "cancelled"}))
        await add_event(db, event[0], event[1], booking.tenant)

    async def _put_reminder(self, db: aiosqlite.Connection, reminder: Reminder) -> None:
        await db.execute(
            "INSERT INTO reminders (id, interview_id, status, next_attempt_at, data) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET status = excluded.status, next_attempt_at = excluded.next_attempt_at, data = excluded.data",
            (reminder.id, reminder.interview_id, reminder.status, reminder.next_attempt_at, reminder.model_dump_json()),
        )

    async def book(self, booking: Booking, limits: list[CapacityLimit], reminders: list[Reminder], event: BookingEvent) -> None:
        async with self._transaction() as db:
            # BEGIN IMMEDIATE holds the write lock from here: nobody books between this count and the insert.
            check_room(await self._overlapping(db, booking.starts_at, booking.ends_at), booking, limits)
            await self._save(db, booking, event)
            for reminder in reminders:
                await self._put_reminder(db, reminder)
        if self.on_event is not None:
            self.on_event()

    async def cancel(self, booking: Booking, reminders: list[Reminder], event: BookingEvent) -> None:
        async with self._transaction() as db:
            await self._save(db, booking, event)
            for reminder in reminders:
                await self._put_reminder(db, reminder)
        if self.on_event is not None:
            self.on_event()

    async def reminders_of(self, interview_id: str) -> list[Reminder]:
        rows = await self._read("SELECT data FROM reminders WHERE interview_id = ?", (interview_id,))
        return sorted((Reminder.model_validate_json(row["data"]) for row in rows), key=lambda r: (r.due_at, r.channel))

    async def due_reminders(self, now: float, limit: int = 100) -> list[Reminder]:
        rows = await self._read(
            "SELECT data FROM reminders WHERE status IN ('pending', 'sending') AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?",
            (now, limit),
        )
        return [Reminder.model_validate_json(row["data"]) for row in rows]

    async def next_reminder_at(self) -> float | None:
        row = await self._read_one("SELECT MIN(next_attempt_at) AS at FROM reminders WHERE status IN ('pending', 'sending')")
        return None if row is None or row["at"] is None else float(row["at"])

    async def claim_reminder(self, reminder_id: str, now: float, lease_s: float) -> Reminder | None:
        async with self._transaction() as db:
            async with db.execute(
                "SELECT data FROM reminders WHERE id = ? AND status IN ('pending', 'sending') AND next_attempt_at <= ?", (reminder_id, now)
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return None
            reminder = Reminder.model_validate_json(row["data"])
            claimed = reminder.model_copy(update={"status": "sending", "attempts": reminder.attempts + 1, "next_attempt_at": now + lease_s})
            await self._put_reminder(db, claimed)
        return claimed

    async def finish_reminder(
        self,
        reminder: Reminder,
        status: ReminderStatus,
        now: float,
        *,
        error: str | None = None,
        provider_id: str | None = None,
        retry_at: float | None = None,
    ) -> None:
        done = finished_reminder(reminder, status, now, error, provider_id, retry_at)
        async with self._transaction() as db:
            async with db.execute("SELECT status FROM reminders WHERE id = ?", (reminder.id,)) as cursor:
                row = await cursor.fetchone()
            if row is None or row["status"] != "sending":
                return  # erased, or cancelled by a new booking meanwhile: that stands
            await self._put_reminder(db, done)

    async def bookings_of(self, tenant: str, since: float, until: float, limit: int) -> list[Booking]:
        rows = await self._read(
            "SELECT data FROM bookings WHERE tenant = ? AND starts_at >= ? AND starts_at < ? ORDER BY starts_at LIMIT ?",
            (tenant, since, until, limit),
        )
        return [Booking.model_validate_json(row["data"]) for row in rows]

    async def put_calendar_feed(self, tenant: str, email: str, token_hash: str, now: float) -> None:
        async with self._transaction() as db:
            await db.execute("DELETE FROM calendar_feeds WHERE tenant = ? AND email = ?", (tenant, email))
            await db.execute(
                "INSERT INTO calendar_feeds (token_hash, tenant, email, created_at) VALUES (?, ?, ?, ?)", (token_hash, tenant, email, now)
            )

    async def calendar_feed(self, token_hash: str) -> tuple[str, str] | None:
        row = await self._read_one("SELECT tenant, email FROM calendar_feeds WHERE token_hash = ?", (token_hash,))
        return None if row is None else (row["tenant"], row["email"])

    async def drop_calendar_feed(self, tenant: str, email: str) -> bool:
        async with self._transaction() as db:
            cursor = await db.execute("DELETE FROM calendar_feeds WHERE tenant = ? AND email = ?", (tenant, email))
            return bool(cursor.rowcount)

    async def put_applications(self, applications: list[Application]) -> None:
        async with self._transaction() as db:
            for a in applications:
                await db.execute(
                    "INSERT INTO applications (tenant, job_id, candidate_id, status, created_at, data) VALUES (?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (tenant, job_id, candidate_id) DO UPDATE SET status = excluded.status, data = excluded.data",
                    (a.tenant, a.job_id, a.candidate_id, a.status, a.created_at, a.model_dump_json()),
                )

    async def application(self, tenant: str, job_id: str, candidate_id: str) -> Application | None:
        row = await self._read_one(
            "SELECT data FROM applications WHERE tenant = ? AND job_id = ? AND candidate_id = ?", (tenant, job_id, candidate_id)
        )
        return None if row is None else Application.model_validate_json(row["data"])

    async def applications(self, tenant: str, job_id: str, status: ApplicationStatus | None, limit: int) -> list[Application]:
        where, params = ("AND status = ?", (status,)) if status is not None else ("", ())
        rows = await self._read(
            f"SELECT data FROM applications WHERE tenant = ? AND job_id = ? {where} ORDER BY created_at, candidate_id LIMIT ?",
            (tenant, job_id, *params, limit),
        )
        return [Application.model_validate_json(row["data"]) for row in rows]

    async def erase_applications(self, tenant: str, candidate_id: str) -> None:
        async with self._transaction() as db:
            await db.execute("DELETE FROM applications WHERE tenant = ? AND candidate_id = ?", (tenant, candidate_id))

    async def erase(self, interview_ids: list[str]) -> None:
        if not interview_ids:
            return
        marks = ",".join("?" * len(interview_ids))
        async with self._transaction() as db:
            await db.execute(f"DELETE FROM bookings WHERE interview_id IN ({marks})", interview_ids)
            await db.execute(f"DELETE FROM reminders WHERE interview_id IN ({marks})", interview_ids)
