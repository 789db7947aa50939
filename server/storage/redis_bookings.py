"""Availability, bookings and reminders on Redis (the `Bookings` contract of bookings.py), for a cluster of nodes.

    tenant:{t}:availability     hash: job id -> Availability JSON
    booking:{interview}         Booking JSON;  booking:{interview}:reminders  set of reminder ids
    bookings:live               sorted set: live bookings by start (capacity counts these)
    tenant:{t}:bookings         sorted set: the tenant's bookings of any status by start (HR's calendar feeds)
    tenant:{t}:job:{j}:applications   hash: candidate id -> Application JSON; tenant:{t}:candidate:{c}:applications
                                the candidate's jobs (for erasure)
    calendar-feed:{hash}        JSON [tenant, e-mail] of an HR person's feed; tenant:{t}:calendar-feed:{e-mail} its hash
    reminder:{id}               Reminder JSON; reminders:due  sorted set of pending and claimed ones by next attempt

A booking WATCHes the live bookings while it counts them, then writes itself, its reminders and its outbox event in
one MULTI/EXEC: a booking that lands meanwhile makes EXEC fail and the count runs again. A claim WATCHes its reminder,
so of two nodes claiming at once exactly one succeeds.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import redis.asyncio as redis
from redis.asyncio.client import Pipeline

from server.domain.applications import Application, ApplicationStatus
from server.domain.scheduling import Availability, Booking, CapacityLimit, Reminder, ReminderStatus, check_room
from server.storage.bookings import LONGEST_SLOT_S, STALE_STATUS, BookingEvent, finished_reminder
from server.storage.outbox import new_event
from server.storage.redis_client import Keys, begin, texts, watched_transaction
from server.storage.redis_webhook_deliveries import queue_event

MAX_SCANNED_APPLICATIONS = 20_000  # of one job, read to sort a page of its queue


class RedisBookingStore:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._redis = client
        self._keys = keys
        self.on_event: Callable[[], None] | None = None

    async def close(self) -> None:
        """Nothing of its own: the client is the node's."""

    async def put_availability(self, tenant: str, job_id: str, availability: Availability, now: float) -> bool:
        return bool(await self._redis.hset(self._keys.job_availability(tenant), job_id, availability.model_dump_json()))

    async def availability(self, tenant: str, job_id: str) -> Availability | None:
        raw = await self._redis.hget(self._keys.job_availability(tenant), job_id)
        return None if raw is None else Availability.model_validate_json(raw)

    async def booking(self, interview_id: str) -> Booking | None:
        raw = await self._redis.get(self._keys.booking(interview_id))
        return None if raw is None else Booking.model_validate_json(raw)

    async def _overlapping(self, client: redis.Redis | Pipeline, starts_at: float, ends_at: float) -> list[Booking]:
        ids = texts(await client.zrangebyscore(self._keys.bookings_by_start(), f"({starts_at - LONGEST_SLOT_S}", f"({ends_at}"))
        if not ids:
            return []
        raws = await client.mget([self._keys.booking(i) for i in ids])
        found = [Booking.model_validate_json(raw) for raw in raws if raw is not None]
        return [b for b in found if b.status == "booked" and b.ends_at > starts_at]

    async def overlapping(self, starts_at: float, ends_at: float) -> list[Booking]:
        return await self._overlapping(self._redis, starts_at, ends_at)

    async def _stale_reminders(self, pipe: Pipeline, booking: Booking) -> list[Reminder]:
        ids = texts(await pipe.smembers(self._keys.interview_reminders(booking.interview_id)))
        if not ids:
            return []
        keys = [self._keys.reminder(i) for i in ids]
        await pipe.watch(*keys)  # one claimed meanwhile is being sent: then read again, and leave it be
        raws = await pipe.mget(keys)
        reminders = [Reminder.model_validate_json(raw) for raw in raws if raw is not None]
        return [r for r in reminders if r.status == STALE_STATUS and r.sequence < booking.sequence]

    def _queue_reminder(self, pipe: Pipeline, reminder: Reminder) -> None:
        pipe.set(self._keys.reminder(reminder.id), reminder.model_dump_json())
        pipe.sadd(self._keys.interview_reminders(reminder.interview_id), reminder.id)
        if reminder.status in ("pending", "sending"):
            pipe.zadd(self._keys.reminders_due(), {reminder.id: reminder.next_attempt_at})
        else:
            pipe.zrem(self._keys.reminders_due(), reminder.id)

    def _queue_booking(self, pipe: Pipeline, booking: Booking, stale: list[Reminder], event: BookingEvent) -> None:
        pipe.set(self._keys.booking(booking.interview_id), booking.model_dump_json())
        pipe.zadd(self._keys.tenant_bookings(booking.tenant), {booking.interview_id: booking.starts_at})
        if booking.status == "booked":
            pipe.zadd(self._keys.bookings_by_start(), {booking.interview_id: booking.starts_at})
        else:
            pipe.zrem(self._keys.bookings_by_start(), booking.interview_id)
        for reminder in stale:
            self._queue_reminder(pipe, reminder.model_copy(update={"status": "cancelled"}))
        queue_event(pipe, self._keys, new_event(event[0], event[1], booking.tenant))

    async def book(self, booking: Booking, limits: list[CapacityLimit], reminders: list[Reminder], event: BookingEvent) -> None:
        async def build(pipe: Pipeline) -> None:
            check_room(await self._overlapping(pipe, booking.starts_at, booking.ends_at), booking, limits)
            stale = await self._stale_reminders(pipe, booking)
            begin(pipe)
            self._queue_booking(pipe, booking, stale, event)
            for reminder in reminders:
                self._queue_reminder(pipe, reminder)

        watch = [
            self._keys.bookings_by_start(),
            self._keys.booking(booking.interview_id),
            self._keys.interview_reminders(booking.interview_id),
        ]
        await watched_transaction(self._redis, watch, build)
        if self.on_event is not None:
            self.on_event()

    async def cancel(self, booking: Booking, reminders: list[Reminder], event: BookingEvent) -> None:
        async def build(pipe: Pipeline) -> None:
            stale = await self._stale_reminders(pipe, booking)
            begin(pipe)
            self._queue_booking(pipe, booking, stale, event)
            for reminder in reminders:
                self._queue_reminder(pipe, reminder)

        await watched_transaction(
            self._redis, [self._keys.booking(booking.interview_id), self._keys.interview_reminders(booking.interview_id)], build
        )
        if self.on_event is not None:
            self.on_event()

    async def _reminders(self, ids: list[str]) -> list[Reminder]:
        if not ids:
            return []
        raws = await self._redis.mget([self._keys.reminder(i) for i in ids])
        return [Reminder.model_validate_json(raw) for raw in raws if raw is not None]

    async def reminders_of(self, interview_id: str) -> list[Reminder]:
        ids = texts(await self._redis.smembers(self._keys.interview_reminders(interview_id)))
        return sorted(await self._reminders(ids), key=lambda r: (r.due_at, r.channel))

    async def due_reminders(self, now: float, limit: int = 100) -> list[Reminder]:
        ids = texts(await self._redis.zrangebyscore(self._keys.reminders_due(), "-inf", now, start=0, num=limit))
        return [r for r in await self._reminders(ids) if r.status in ("pending", "sending")]

    async def next_reminder_at(self) -> float | None:
        first = await self._redis.zrange(self._keys.reminders_due(), 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    async def claim_reminder(self, reminder_id: str, now: float, lease_s: float) -> Reminder | None:
        key = self._keys.reminder(reminder_id)

        async def build(pipe: Pipeline) -> Reminder | None:
            raw = await pipe.get(key)
            if raw is None:
                return None
            reminder = Reminder.model_validate_json(raw)
            if reminder.status not in ("pending", "sending") or reminder.next_attempt_at > now:
                return None
            claimed = reminder.model_copy(update={"status": "sending", "attempts": reminder.attempts + 1, "next_attempt_at": now + lease_s})
            begin(pipe)
            self._queue_reminder(pipe, claimed)
            return claimed

        return await watched_transaction(self._redis, [key], build)

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
        key = self._keys.reminder(reminder.id)

        async def build(pipe: Pipeline) -> None:
            raw = await pipe.get(key)
            if raw is None or Reminder.model_validate_json(raw).status != "sending":
                return  # erased, or cancelled by a new booking meanwhile: that stands
            begin(pipe)
            self._queue_reminder(pipe, done)

        await watched_transaction(self._redis, [key], build)

    async def bookings_of(self, tenant: str, since: float, until: float, limit: int) -> list[Booking]:
        ids = texts(await self._redis.zrangebyscore(self._keys.tenant_bookings(tenant), since, f"({until}", start=0, num=limit))
        if not ids:
            return []
        raws = await self._redis.mget([self._keys.booking(i) for i in ids])
        return [Booking.model_validate_json(raw) for raw in raws if raw is not None]

    async def put_calendar_feed(self, tenant: str, email: str, token_hash: str, now: float) -> None:
        mine = self._keys.calendar_feed_of(tenant, email)
        earlier = await self._redis.get(mine)
        async with self._redis.pipeline(transaction=True) as pipe:
            if earlier is not None:
                pipe.delete(self._keys.calendar_feed(texts([earlier])[0]))
            pipe.set(self._keys.calendar_feed(token_hash), json.dumps([tenant, email]))
            pipe.set(mine, token_hash)
            await pipe.execute()

    async def calendar_feed(self, token_hash: str) -> tuple[str, str] | None:
        raw = await self._redis.get(self._keys.calendar_feed(token_hash))
        if raw is None:
            return None
        tenant, email = json.loads(raw)
        return str(tenant), str(email)

    async def drop_calendar_feed(self, tenant: str, email: str) -> bool:
        mine = self._keys.calendar_feed_of(tenant, email)
        earlier = await self._redis.get(mine)
        if earlier is None:
            return False
        await self._redis.delete(self._keys.calendar_feed(texts([earlier])[0]), mine)
        return True

    async def put_applications(self, applications: list[Application]) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            for a in applications:
                pipe.hset(self._keys.job_applications(a.tenant, a.job_id), a.candidate_id, a.model_dump_json())
                pipe.sadd(self._keys.candidate_applications(a.tenant, a.candidate_id), a.job_id)
            await pipe.execute()

    async def application(self, tenant: str, job_id: str, candidate_id: str) -> Application | None:
        raw = await self._redis.hget(self._keys.job_applications(tenant, job_id), candidate_id)
        return None if raw is None else Application.model_validate_json(raw)

    async def applications(self, tenant: str, job_id: str, status: ApplicationStatus | None, limit: int) -> list[Application]:
        found: list[Application] = []
        async for _, raw in self._redis.hscan_iter(self._keys.job_applications(tenant, job_id), count=500):
            application = Application.model_validate_json(raw)
            if status is None or application.status == status:
                found.append(application)
            if len(found) >= MAX_SCANNED_APPLICATIONS:
                break
        return sorted(found, key=lambda a: (a.created_at, a.candidate_id))[:limit]

    async def erase_applications(self, tenant: str, candidate_id: str) -> None:
        jobs = texts(await self._redis.smembers(self._keys.candidate_applications(tenant, candidate_id)))
        async with self._redis.pipeline(transaction=True) as pipe:
            for job_id in jobs:
                pipe.hdel(self._keys.job_applications(tenant, job_id), candidate_id)
            pipe.delete(self._keys.candidate_applications(tenant, candidate_id))
            await pipe.execute()

    async def erase(self, interview_ids: list[str]) -> None:
        for interview_id in interview_ids:
            reminder_ids = texts(await self._redis.smembers(self._keys.interview_reminders(interview_id)))
            booking = await self.booking(interview_id)
            async with self._redis.pipeline(transaction=True) as pipe:
                if booking is not None:
                    pipe.zrem(self._keys.tenant_bookings(booking.tenant), interview_id)
                pipe.delete(self._keys.booking(interview_id), self._keys.interview_reminders(interview_id))
                pipe.zrem(self._keys.bookings_by_start(), interview_id)
                for reminder_id in reminder_ids:
                    pipe.delete(self._keys.reminder(reminder_id))
                    pipe.zrem(self._keys.reminders_due(), reminder_id)
                await pipe.execute()
