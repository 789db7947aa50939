"""The durable reminder scheduler: every node runs one; each due reminder is claimed by one node and sent at least once.

Reminders live in the booking store (bookings.py, redis_bookings.py), never only in memory, so a restart or a kill -9
loses none: a node that starts finds what fell due while it was down and sends it, as long as the interview has not
begun. A claim is a lease (`reminder_claim_s`): a node that dies mid-send leaves its claims to lapse, and another node
(or itself, restarted) sends those again, the only way a candidate can get one twice. Each send is bounded by a
timeout shorter than the lease, so a live node never outlives its claim.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from server.domain.interview import Interview, InterviewStatus
from server.domain.reminders import ReminderChannel, ReminderNotSent, reminder_message
from server.domain.scheduling import ATTENDANCE_CHANNEL, CALENDAR_CHANNEL, Booking, Reminder
from server.integrations.calendar_mail import CalendarMail
from server.storage.bookings import Bookings
from server.storage.contract import Store

logger = logging.getLogger(__name__)

RETRY_AFTER_S = (30.0, 120.0, 600.0, 1800.0)  # after the first, second, ... failed attempt
MAX_ATTEMPTS = len(RETRY_AFTER_S) + 1
IDLE_POLL_S = 30.0  # at most this long between looks, even with nothing due (another node may have booked)
BATCH = 100

# What happens once a booking's window has closed (`attendance_check`): marks a no-show, says what it did.
AttendanceCheck = Callable[[Interview, Booking], Awaitable[str]]


class ReminderScheduler:
    """Create, `start()`; `wake()` after a booking; `close()` at shutdown. `clock` gives epoch seconds (tests move it)."""

    def __init__(
        self,
        bookings: Bookings,
        store: Store,
        channels: Mapping[str, ReminderChannel],
        *,
        claim_s: float,
        calendar: CalendarMail | None = None,
        concurrency: int = 8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._bookings = bookings
        self._store = store
        self._channels = dict(channels)
        self._calendar = calendar
        self._claim_s = claim_s
        self._send_timeout_s = max(1.0, claim_s * 0.75)
        self._slots = asyncio.Semaphore(concurrency)
        self._clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.attendance: AttendanceCheck | None = None  # set before `start()` by whoever can re-invite

    @property
    def channels(self) -> list[str]:
        """The reminder channels set up on this node (the calendar invitation is not one: it goes with every booking)."""
        return sorted(self._channels)

    @property
    def sends_invitations(self) -> bool:
        return self._calendar is not None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="reminder-scheduler")

    def wake(self) -> None:
        self._wake.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.run_due()
                next_at = await self._bookings.next_reminder_at()
            except Exception:  # the store away (Redis down): look again shortly
                logger.warning("reminder scheduler: could not read the reminders", exc_info=True)
                next_at = None
            wait = IDLE_POLL_S if next_at is None else min(IDLE_POLL_S, max(0.05, next_at - self._clock()))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def run_due(self) -> int:
        """Claim and send every reminder due now; how many this node claimed."""
        claimed = 0
        while True:
            now = self._clock()
            due = await self._bookings.due_reminders(now, BATCH)
            mine = [r for r in [await self._bookings.claim_reminder(r.id, now, self._claim_s) for r in due] if r is not None]
            if not mine:
                return claimed
            claimed += len(mine)
            await asyncio.gather(*(self._deliver_one(r) for r in mine))
            if len(due) < BATCH:
                return claimed

    async def _deliver_one(self, reminder: Reminder) -> None:
        async with self._slots:
            try:
                await self._deliver(reminder)
            except Exception:  # a channel's bug must not stop the others: the claim lapses and it is tried again
                logger.exception("reminder %s: sending failed unexpectedly", reminder.id)

    async def _deliver(self, reminder: Reminder) -> None:
        interview = await self._store.get_interview(reminder.interview_id)
        booking = await self._bookings.booking(reminder.interview_id)
        if why := _moot(reminder, interview, booking, self._clock()):
            await self._bookings.finish_reminder(reminder, "skipped", self._clock(), error=why)
            return
        assert interview is not None and booking is not None
        if reminder.channel == ATTENDANCE_CHANNEL:
            if self.attendance is None:
                await self._bookings.finish_reminder(reminder, "failed", self._clock(), error="no attendance check on this node")
                return
            outcome = await self.attendance(interview, booking)
            await self._bookings.finish_reminder(reminder, "sent", self._clock(), provider_id=outcome)
            return
        if reminder.channel == CALENDAR_CHANNEL:
            if self._calendar is None:
                await self._bookings.finish_reminder(reminder, "failed", self._clock(), error="no mail server is set up")
                return
            availability = await self._bookings.availability(booking.tenant, booking.job_id)
            send = self._calendar.send(interview, booking, availability, self._clock())
        else:
            channel = self._channels.get(reminder.channel)
            recipient = await self._recipient(reminder.channel, interview)
            if channel is None or recipient is None:
                why = "this channel is not set up on the server" if channel is None else f"the candidate has no {reminder.channel} address"
                await self._bookings.finish_reminder(reminder, "failed", self._clock(), error=why)
                return
            send = channel.send(reminder_message(interview, booking, reminder.id, reminder.lead_s), recipient)
        try:
            provider_id = await asyncio.wait_for(send, self._send_timeout_s)
        except (ReminderNotSent, TimeoutError) as exc:
            retry = isinstance(exc, TimeoutError) or exc.retry
            reason = "the channel did not answer in time" if isinstance(exc, TimeoutError) else exc.reason
            retry_at = self._clock() + RETRY_AFTER_S[min(reminder.attempts, len(RETRY_AFTER_S)) - 1]
            if retry and reminder.attempts < MAX_ATTEMPTS and retry_at < booking.starts_at:
                await self._bookings.finish_reminder(reminder, "pending", self._clock(), error=reason, retry_at=retry_at)
            else:
                await self._bookings.finish_reminder(reminder, "failed", self._clock(), error=reason)
            logger.info("reminder %s on %s not sent: %s", reminder.id, reminder.channel, reason)
            return
        await self._bookings.finish_reminder(reminder, "sent", self._clock(), provider_id=provider_id)

    async def _recipient(self, channel: str, interview: Interview) -> str | None:
        match channel:
            case "email":
                return interview.candidate.email
            case "sms":
                return interview.candidate.phone
            case "wechat":  # the openid the candidate shared; a subscription message finds it in the consent instead
                profile = await self._store.wechat_profile(interview.id)
                return profile.openid if profile is not None else ""
            case "webhook":
                return interview.tenant
        return None


def _moot(reminder: Reminder, interview: Interview | None, booking: Booking | None, now: float) -> str | None:
    """Why sending this reminder no longer makes sense, or None."""
    if interview is None or booking is None:
        return "the interview no longer exists"
    if booking.sequence != reminder.sequence:
        return "the booking changed"
    if reminder.channel == ATTENDANCE_CHANNEL:  # a no-show half recorded when a node died is finished
        if booking.status != "booked":
            return "the booking was cancelled"
        if interview.status not in (InterviewStatus.SCHEDULED, InterviewStatus.NO_SHOW):
            return "the candidate came"
        return None
    if reminder.channel == CALENDAR_CHANNEL:  # the invitation, or its cancellation: wanted until the slot is over
        return "the interview time had passed" if now >= booking.ends_at else None
    if booking.status != "booked":
        return "the booking was cancelled"
    if interview.status != InterviewStatus.SCHEDULED:
        return f"the interview is {interview.status.value}"
    if now >= booking.starts_at:
        return "the interview time had come"
    return None
