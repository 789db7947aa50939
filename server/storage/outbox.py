"""The durable outbox: events written in the same transaction as the state change they announce.

The SQLite store calls `add_event` before it commits a change (the Redis store queues `new_event`'s
result in the same MULTI as its change); the webhook dispatcher reads them and delivers. A crash
between the two loses nothing: the event is either committed with its change or neither is. Event ids are minted here, once, and every delivery attempt reuses them.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiosqlite

from server.domain.interview import DEFAULT_TENANT


class EventType(StrEnum):
    INTERVIEW_SCHEDULED = "interview.scheduled"
    INTERVIEW_STARTED = "interview.started"
    INTERVIEW_COMPLETED = "interview.completed"
    INTERVIEW_CANCELLED = "interview.cancelled"
    INTERVIEW_ABANDONED = "interview.abandoned"
    REPORT_READY = "report.ready"
    DECISION_RECORDED = "decision.recorded"
    OWNER_REVIEW_RECORDED = "owner_review.recorded"
    CANDIDATE_DELETED = "candidate.deleted"
    INTERVIEW_DELETED = "interview.deleted"
    INTERVIEW_BOOKED = "interview.booked"  # a slot booked, or moved (`sequence` grows)
    INTERVIEW_BOOKING_CANCELLED = "interview.booking_cancelled"
    INTERVIEW_REMINDER_DUE = "interview.reminder_due"  # for an HRMS that sends its own reminders
    INTERVIEW_NO_SHOW = "interview.no_show"  # the booked time passed without the candidate; `reinvited` if invited again
    CANDIDATE_APPLIED = "candidate.applied"  # through a job's poster: the screening's outcome, rule by rule
    CANDIDATE_DECLINED = "candidate.declined"  # HR declined a candidate waiting in a job's approval queue


OUTBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    tenant TEXT NOT NULL,
    type TEXT NOT NULL,
    subject TEXT,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_events_by_subject ON outbox_events(subject);
"""


@dataclass(frozen=True)
class OutboxEvent:
    """One event as both outboxes keep it: SQLite's `outbox_events` row, or a Redis hash (server/storage/redis_store.py)."""

    id: str
    tenant: str
    type: str
    subject: str | None  # the interview or candidate it is about, so a candidate's erasure can find and remove it
    payload: str
    created_at: float


def new_event(event_type: EventType, data: dict[str, Any], tenant: str = DEFAULT_TENANT) -> OutboxEvent:
    """Mint an event: its id, and the Standard Webhooks envelope `{type, timestamp, data}`, fixed now, so every
    attempt sends the same bytes."""
    now = time.time()
    payload = {"type": event_type.value, "timestamp": _iso8601(now), "data": data}
    return OutboxEvent(
        id=f"msg_{uuid.uuid4().hex}",
        tenant=tenant,
        type=event_type.value,
        subject=data.get("interview_id") or data.get("candidate_id"),
        payload=json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
        created_at=now,
    )


INSERT_EVENT = "INSERT INTO outbox_events (id, tenant, type, subject, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)"


def event_insert(event_type: EventType, data: dict[str, Any], tenant: str = DEFAULT_TENANT) -> tuple[str, tuple[object, ...]]:
    """The statement that puts a new event in SQLite's outbox, for the caller's transaction."""
    event = new_event(event_type, data, tenant)
    return INSERT_EVENT, (event.id, event.tenant, event.type, event.subject, event.payload, event.created_at)


async def add_event(db: aiosqlite.Connection, event_type: EventType, data: dict[str, Any], tenant: str = DEFAULT_TENANT) -> None:
    """Insert an event in the caller's open transaction (the caller commits)."""
    await db.execute(*event_insert(event_type, data, tenant))


def _iso8601(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1000):03d}Z"


def report_ready_data(interview_id: str, report_json: str, base_url: str, max_inline_bytes: int) -> dict[str, Any]:
    """`report.ready` data: the report itself, or a link to it when it is too large for one webhook."""
    data: dict[str, Any] = {"interview_id": interview_id, "report_url": f"{base_url}/api/v1/interviews/{interview_id}/report"}
    if len(report_json.encode("utf-8")) <= max_inline_bytes:
        data["report"] = json.loads(report_json)
    return data
