"""The durable outbox: events written in the same SQLite transaction as the state change they announce.

The store calls `add_event` before it commits a change; the webhook dispatcher reads the table and
delivers. A crash between the two loses nothing: the event is either committed with its change or
neither is. Event ids are minted here, once, and every delivery attempt reuses them.
"""

from __future__ import annotations

import json
import time
import uuid
from enum import StrEnum
from typing import Any

import aiosqlite


class EventType(StrEnum):
    INTERVIEW_SCHEDULED = "interview.scheduled"
    INTERVIEW_STARTED = "interview.started"
    INTERVIEW_COMPLETED = "interview.completed"
    INTERVIEW_CANCELLED = "interview.cancelled"
    REPORT_READY = "report.ready"
    DECISION_RECORDED = "decision.recorded"
    CANDIDATE_DELETED = "candidate.deleted"


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

DEFAULT_TENANT = "default"


async def add_event(db: aiosqlite.Connection, event_type: EventType, data: dict[str, Any], tenant: str = DEFAULT_TENANT) -> str:
    """Insert an event in the caller's open transaction (the caller commits); returns its id.

    The payload is the Standard Webhooks envelope `{type, timestamp, data}`, fixed now, so every
    attempt sends the same bytes.
    """
    event_id = f"msg_{uuid.uuid4().hex}"
    now = time.time()
    payload = {"type": event_type.value, "timestamp": _iso8601(now), "data": data}
    # The subject lets a candidate's erasure find (and remove) the events that carry their data.
    subject = data.get("interview_id") or data.get("candidate_id")
    await db.execute(
        "INSERT INTO outbox_events (id, tenant, type, subject, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (event_id, tenant, event_type.value, subject, json.dumps(payload, ensure_ascii=False, separators=(",", ":")), now),
    )
    return event_id


def _iso8601(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1000):03d}Z"


def report_ready_data(interview_id: str, report_json: str, base_url: str, max_inline_bytes: int) -> dict[str, Any]:
    """`report.ready` data: the report itself, or a link to it when it is too large for one webhook."""
    data: dict[str, Any] = {"interview_id": interview_id, "report_url": f"{base_url}/api/v1/interviews/{interview_id}/report"}
    if len(report_json.encode("utf-8")) <= max_inline_bytes:
        data["report"] = json.loads(report_json)
    return data
