"""What every webhook event carries: for each `EventType`, a one-line summary for an HRMS developer and the JSON Schema
(OpenAPI 3.1, JSON Schema 2020-12) of the event's `data` object, which the Standard Webhooks envelope
`{type, timestamp, data}` wraps.

Each schema is written from the code that builds its event's data (`server/storage/records.py`, the stores,
`booking_api.py`, `no_shows.py`, `reminder_channels.py`, `registration_api.py`, `applications_api.py`): a key the
code always writes is required, a value it may write as None is nullable, and objects stay open to keys added later.
They are meant for the OpenAPI document's `webhooks`; the tests' webhook receiver (`tests/helpers/webhook_receiver.py`)
validates every event it is sent against them, so a schema that disagrees with the code fails the tests.
"""

from __future__ import annotations

from typing import Any, get_args

from realtime_scoring.profiles import Language
from realtime_scoring.report import InterviewReport
from realtime_scoring.screening import Outcome
from server.domain.interview import InterviewMode
from server.domain.shares import Recommendation
from server.storage.outbox import EventType

Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
NULLABLE_STRING: Schema = {"type": ["string", "null"]}
_DATE_TIME: Schema = {"type": "string", "format": "date-time"}


def object_schema(properties: dict[str, Schema], optional: tuple[str, ...] = ()) -> Schema:
    """An object with these properties, each required but those in `optional`; other keys allowed."""
    return {"type": "object", "required": [name for name in properties if name not in optional], "properties": properties}


def described(schema: Schema, description: str) -> Schema:
    return {**schema, "description": description}


def _enum(values: tuple[str, ...] | list[str]) -> Schema:
    return {"type": "string", "enum": list(values)}


def _inlined(schema: Schema) -> Schema:
    """A pydantic model's JSON schema with its `$defs` written in where they are referenced, so it stands alone
    wherever it is nested (a `#/$defs/...` reference resolves against the whole document, not the model's part)."""
    defs: dict[str, Schema] = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                rest = {key: value for key, value in node.items() if key != "$ref"}
                return {**resolve(defs[ref.removeprefix("#/$defs/")]), **resolve(rest)}
            return {key: resolve(value) for key, value in node.items() if key != "$defs"}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: Schema = resolve(schema)
    return resolved


def _interview_data(status: Schema, links: bool) -> Schema:
    """interview.* events' data (`records.interview_event`); `links`: the candidate's links ride along (scheduled)."""
    properties: dict[str, Schema] = {
        "interview_id": STRING,
        "job_id": described(NULLABLE_STRING, "the stored job it was scheduled from; null when the job was sent inline"),
        "candidate_id": described(NULLABLE_STRING, "the stored candidate; null when the candidate was sent inline"),
        "status": described(status, "the interview's status after the change"),
        "job_title": STRING,
        "candidate_name": STRING,
        "candidate_email": NULLABLE_STRING,
        "mode": _enum(get_args(InterviewMode)),
        "language": _enum(get_args(Language)),
        "answers": described({"type": "integer", "minimum": 0}, "answers closed so far"),
        "invite_expires_at": described({"type": "integer"}, "epoch seconds"),
    }
    if links:
        properties = {
            "invite_url": described(STRING, "the candidate's link, to send on"),
            "short_url": described(STRING, "the same, short, for chat apps and SMS"),
            **properties,
        }
    return object_schema(properties)


def _booking_data(moved: Schema) -> Schema:
    """interview.booked and interview.booking_cancelled data (`booking_api._event_data`)."""
    return object_schema(
        {
            "interview_id": STRING,
            "job_id": described(STRING, "the job whose slots were booked"),
            "candidate_id": NULLABLE_STRING,
            "starts_at": described(_DATE_TIME, "the slot's start, UTC (ISO 8601, `Z`)"),
            "ends_at": described(_DATE_TIME, "the slot's end, UTC (ISO 8601, `Z`)"),
            "timezone": described(STRING, "the job's IANA time zone, that the candidate's invitation shows the time in"),
            "version": described(
                {"type": "integer", "minimum": 0}, "the calendar invitation's SEQUENCE: it grows with every change; apply the highest"
            ),
            "moved": moved,
        }
    )


def _report_ready_data() -> Schema:
    report = _inlined(InterviewReport.model_json_schema(mode="serialization"))
    report["description"] = "the report (as `GET report_url` answers it), when it fits the node's inline limit"
    return object_schema(
        {
            "interview_id": STRING,
            "report_url": described(STRING, "where the report always is (the API key reads it)"),
            "report": report,
        },
        optional=("report",),
    )


_DECISION_DATA = object_schema(
    {
        "interview_id": STRING,
        "candidate_id": NULLABLE_STRING,
        "decision": _enum(["advance", "reject", "hold", "send_to_business_owner"]),
        "note": described(STRING, "why, as HR wrote it"),
        "decided_by": NULLABLE_STRING,
        "decided_at": described({"type": "number"}, "epoch seconds"),
    }
)

_OWNER_REVIEW_DATA = object_schema(
    {
        "interview_id": STRING,
        "candidate_id": NULLABLE_STRING,
        "job_id": NULLABLE_STRING,
        "owner_name": STRING,
        "recommendation": _enum(get_args(Recommendation)),
        "comment": STRING,
        "share_id": described(STRING, "the link HR shared the interview through"),
        "recorded_at": described({"type": "number"}, "epoch seconds"),
    }
)

_REMINDER_DUE_DATA = object_schema(
    {
        "interview_id": STRING,
        "reminder_id": described(STRING, "the same for every attempt at one reminder: send it once"),
        "job_id": STRING,
        "candidate_id": NULLABLE_STRING,
        "starts_at": described(_DATE_TIME, "the booked slot's start, UTC (ISO 8601, `Z`)"),
        "ends_at": described(_DATE_TIME, "the booked slot's end, UTC (ISO 8601, `Z`)"),
        "timezone": described(STRING, "the job's IANA time zone, to show the time in"),
        "hours_before": described({"type": "number"}, "how long before the start this reminder is due (24, 1)"),
        "join_url": described(STRING, "the candidate's link"),
        "language": _enum(get_args(Language)),
    }
)

_NO_SHOW_DATA = object_schema(
    {
        "interview_id": STRING,
        "job_id": STRING,
        "candidate_id": NULLABLE_STRING,
        "starts_at": described(_DATE_TIME, "the missed slot's start, UTC (ISO 8601, `Z`)"),
        "ends_at": described(_DATE_TIME, "the missed slot's end, UTC (ISO 8601, `Z`)"),
        "timezone": STRING,
        "no_shows": described({"type": "integer", "minimum": 1}, "booked times of this interview missed so far"),
        "reinvited": described(
            {"type": "boolean"}, "the candidate may book again with the same link (an interview.scheduled event carries it)"
        ),
    }
)

_SCREENING = object_schema(
    {
        "outcome": _enum(get_args(Outcome)),
        "rules": {
            "type": "array",
            "items": object_schema(
                {
                    "rule": described(STRING, "e.g. min_years_experience, required_skills, knockout:<question id>"),
                    "outcome": _enum(get_args(Outcome)),
                    "expected": {"description": "what the job's rule asks for"},
                    "found": {"description": "what the candidate's profile or answer has"},
                }
            ),
        },
    }
)

_APPLIED_DATA = object_schema(
    {
        "candidate_id": described(STRING, "the candidate profile the application stored"),
        "job_id": STRING,
        "outcome": described(
            _enum(["invited", "queued", "not_selected"]), "invited to interview, queued for HR to decide, or not selected"
        ),
        "screening": described(
            {**_SCREENING, "type": ["object", "null"]}, "every screening rule's outcome; null when the job has no rules"
        ),
    }
)

EVENT_DATA: dict[EventType, tuple[str, Schema]] = {
    EventType.INTERVIEW_SCHEDULED: (
        "An interview was created, or its invite renewed: the links to send on",
        _interview_data(_enum(["scheduled", "in_progress"]), links=True),
    ),
    EventType.INTERVIEW_STARTED: ("The candidate started", _interview_data({"const": "in_progress"}, links=False)),
    EventType.INTERVIEW_COMPLETED: ("The last answer closed", _interview_data({"const": "completed"}, links=False)),
    EventType.INTERVIEW_CANCELLED: ("HR cancelled it", _interview_data({"const": "cancelled"}, links=False)),
    EventType.INTERVIEW_ABANDONED: ("Started, then left unfinished", _interview_data({"const": "abandoned"}, links=False)),
    EventType.REPORT_READY: ("The report: inline under `report` up to the size limit, always at `report_url`", _report_ready_data()),
    EventType.DECISION_RECORDED: ("HR recorded a decision on the candidate, with the note that explains it", _DECISION_DATA),
    EventType.OWNER_REVIEW_RECORDED: ("A business owner recommended the candidate, or not, and said why", _OWNER_REVIEW_DATA),
    EventType.CANDIDATE_DELETED: (
        "A candidate was erased with all their interviews: delete what you keep of them (ids only)",
        object_schema(
            {
                "candidate_id": STRING,
                "interviews_deleted": described({"type": "array", "items": STRING}, "the ids of the interviews erased with them"),
            }
        ),
    ),
    EventType.INTERVIEW_DELETED: (
        "An interview was erased: delete what you keep of it (its id only)",
        object_schema({"interview_id": STRING}),
    ),
    EventType.INTERVIEW_BOOKED: (
        "The candidate booked a time slot, or moved their booking (`moved`; `version` grows)",
        _booking_data(described({"type": "boolean"}, "true when this replaces a time booked before")),
    ),
    EventType.INTERVIEW_BOOKING_CANCELLED: (
        "The booked time was given up (by the candidate, or with HR's cancel or reschedule)",
        _booking_data({"const": False}),
    ),
    EventType.INTERVIEW_REMINDER_DUE: ("A reminder of the booked time is due: for an HRMS that sends its own", _REMINDER_DUE_DATA),
    EventType.INTERVIEW_NO_SHOW: ("The booked time passed without the candidate (`reinvited` when they may book again)", _NO_SHOW_DATA),
    EventType.CANDIDATE_APPLIED: ("A candidate applied through a job's poster: the screening's outcome, rule by rule", _APPLIED_DATA),
    EventType.CANDIDATE_DECLINED: (
        "HR declined a candidate waiting in a job's approval queue",
        object_schema({"candidate_id": STRING, "job_id": STRING}),
    ),
}
