"""Reminders of a booked interview, as the scheduler hands them to a channel (e-mail, WeChat, SMS, the HRMS's webhook).

A reminder is sent at least once: the scheduler claims it, sends it, then marks it sent. A node that dies between the
send and the mark leaves it claimed; once the claim lapses another node sends it again. So each message carries the
reminder's id as an idempotency key, which channels that accept one pass on (a webhook event, an SMS session
context), and a duplicate can only come from a send that was in flight when a node died.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from server.domain.interview import Interview
from server.domain.scheduling import Booking

Language = Literal["en", "zh"]
ChannelName = Literal["email", "wechat", "sms", "webhook"]


@dataclass(frozen=True)
class ReminderMessage:
    """What every channel needs to remind one candidate of one interview; words for people, never internal ids
    (`interview_id` and `reminder_id` are for the channels' own bookkeeping and idempotency keys)."""

    reminder_id: str  # unique per interview, slot (its calendar SEQUENCE) and lead time: the idempotency key
    tenant: str
    interview_id: str
    language: Language
    candidate_name: str
    job_title: str
    starts_at: float  # epoch seconds
    ends_at: float
    timezone: str  # IANA name: the time is shown in it, with its offset
    join_url: str  # the candidate's invite link
    lead_s: float  # how long before the start it was due (24 h, 1 h)

    def local_start(self) -> datetime:
        return datetime.fromtimestamp(self.starts_at, UTC).astimezone(ZoneInfo(self.timezone))

    def when_text(self) -> str:
        """The start in the candidate's words and time zone, e.g. "2026-12-10 09:30 (Asia/Shanghai, UTC+08:00)"."""
        local = self.local_start()
        offset = local.strftime("%z")
        return f"{local:%Y-%m-%d %H:%M} ({self.timezone}, UTC{offset[:3]}:{offset[3:]})"


def reminder_message(interview: Interview, booking: Booking, reminder_id: str = "", lead_s: float = 0) -> ReminderMessage:
    """What the candidate is told of `booking`, in the interview's language."""
    return ReminderMessage(
        reminder_id=reminder_id,
        tenant=interview.tenant,
        interview_id=interview.id,
        language=interview.language,
        candidate_name=interview.candidate.name,
        job_title=interview.job.title,
        starts_at=booking.starts_at,
        ends_at=booking.ends_at,
        timezone=booking.timezone,
        join_url=booking.join_url,
        lead_s=lead_s,
    )


class ReminderNotSent(Exception):
    """The channel could not deliver. `retry`: worth trying again later (a timeout, a busy provider); otherwise final
    (no such recipient, the candidate withdrew consent). `reason` is safe to show to HR: no address, no token."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry


class ReminderChannel(Protocol):
    """One way of reaching a candidate. `recipient` is the channel's address: an e-mail address, a WeChat openid, a
    phone number in E.164 form, or the tenant (webhook)."""

    name: ChannelName

    async def send(self, message: ReminderMessage, recipient: str) -> str | None:
        """Deliver; returns the provider's message id where it gives one. Raises `ReminderNotSent`."""
        ...
