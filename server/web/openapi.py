"""The OpenAPI 3.1 document of the HTTP API, built from the same pydantic models the handlers validate with."""

from __future__ import annotations

import copy
import re
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from realtime_scoring.profiles import CandidateProfile, JobProfile, ScreeningRules
from realtime_scoring.question_bank import shipped_bank_ids
from realtime_scoring.report import InterviewReport
from server.domain.adverse_impact import SelfIdentification
from server.domain.consent import ConsentRequest
from server.domain.interview import Interview, InterviewSpec, InterviewStatus
from server.domain.scheduling import Availability
from server.domain.shares import RecommendationRequest, ShareRequest
from server.storage.outbox import EventType
from server.storage.rows import DeliveryRow
from server.web.booking_api import BookingRequest
from server.web.calendar_feeds import EMAIL, FeedRequest
from server.web.candidate_result import CandidateResult
from server.web.event_schemas import EVENT_DATA, NULLABLE_STRING, STRING, described, object_schema
from server.web.hrms_api import DecisionIn, Reschedule
from server.web.interview_search import SearchQuery
from server.web.registration_api import Application
from server.web.request_bodies import PROFILE_ID
from server.web.screening_api import ScreenRequest
from server.web.webhooks_api import EndpointSpec

REF = "#/components/schemas/{model}"
PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"},
                },
            },
        },
    },
}
HR: list[dict[str, list[str]]] = [{"apiKey": []}, {"bearerApiKey": []}]
CANDIDATE: list[dict[str, list[str]]] = [{"inviteToken": []}]
OBJECT = {"type": "object"}
NUMBER, INTEGER, BOOLEAN = ({"type": t} for t in ("number", "integer", "boolean"))


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def _not_blank(schema: Any) -> None:
    """A required string must hold more than spaces: the models strip them before checking a minimum length."""
    if isinstance(schema, dict):
        if schema.get("type") == "string" and schema.get("minLength", 0) >= 1 and "pattern" not in schema and "format" not in schema:
            schema["pattern"] = r"\S"
        for value in schema.values():
            _not_blank(value)
    elif isinstance(schema, list):
        for item in schema:
            _not_blank(item)


def _response_components() -> dict[str, dict[str, Any]]:
    """Named schemas of the API's answers, so a generated client reads them as types."""
    interview = _ref(Interview)
    endpoint = {
        "id": STRING,
        "url": STRING,
        "description": STRING,
        "event_types": _array(STRING) | {"description": "the event types it gets; empty: all"},
        "enabled": BOOLEAN,
        "disabled_reason": NULLABLE_STRING,
        "created_at": NUMBER,
    }
    contribution = described(
        object_schema({"factor": STRING, "item": STRING, "points": NUMBER, "max_points": NUMBER, "detail": STRING}),
        "one part of the match score, with the evidence behind it",
    )
    invite = {"invite_url": STRING, "invite_token": STRING, "invite_expires_at": INTEGER, "short_url": STRING}
    match = _ref("Match")
    return {
        "Match": described(object_schema({"score": NUMBER, "contributions": _array(contribution)}), "profile against job, 0-100"),
        "Invite": described(object_schema(invite), "the candidate's links: send one on"),
        "ScheduledInterview": object_schema({"interview": interview, "match": match, **invite}),
        "InterviewEnvelope": object_schema({"interview": interview}),
        "InterviewState": object_schema(
            {
                "interview": interview,
                "match": match,
                "media": {"type": ["object", "null"], "description": "the live media session, on the node that has it"},
                "scored_answers": _array(OBJECT),
                "decisions": _array(OBJECT),
                "answers": _array(OBJECT),
                "consents": _array(OBJECT),
                "transcripts": _array(OBJECT),
                "video": {"type": ["object", "null"]},
            }
        ),
        "StoredReport": object_schema({"created_at": NUMBER, "report": _ref(InterviewReport)}),
        "WebhookEndpoint": object_schema(endpoint),
        "NewWebhookEndpoint": object_schema({**endpoint, "secret": STRING | {"description": "shown this once"}}),
        "WebhookEndpoints": object_schema({"endpoints": _array(_ref("WebhookEndpoint"))}),
        "RotatedSecret": object_schema({"secret": STRING}),
        "RetiredSecrets": object_schema({**endpoint, "secrets_retired": INTEGER}),
        "DeliveryPage": object_schema({"deliveries": _array(_ref(DeliveryRow)), "next_cursor": NULLABLE_STRING}),
        "ReplayedDelivery": object_schema({"id": STRING, "status": {"const": "pending"}}),
    }


def _ref(model: type[BaseModel] | str) -> dict[str, str]:
    return {"$ref": REF.format(model=model if isinstance(model, str) else model.__name__)}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _problems(*statuses: int) -> dict[str, Any]:
    words = {
        400: "Bad request",
        401: "Missing or invalid credentials",
        403: "Forbidden",
        404: "Not found (or another tenant's)",
        409: "Conflict with the resource's state",
        410: "Gone: withdrawn",
        413: "Body too large",
        412: "Precondition failed: If-Match names an earlier ICE session",
        415: "Unsupported media type",
        428: "Precondition required: send If-Match",
        422: "Invalid input, with field errors",
        429: "Rate limited (see Retry-After)",
        502: "An upstream server (the mail server) refused",
        503: "Node full, draining, or its cluster unreachable (see Retry-After)",
    }
    return {str(s): {"description": words[s], "content": {"application/problem+json": {"schema": _ref("Problem")}}} for s in statuses}


def _op(
    summary: str,
    responses: dict[str, Any],
    *,
    security: list[dict[str, list[str]]] | None = HR,
    body: dict[str, Any] | None = None,
    params: list[dict[str, Any]] | None = None,
    idempotent: bool = False,
    tag: str = "HR",
) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": responses}
    if security is not None:
        operation["security"] = security
        responses.update({k: v for k, v in _problems(401, 429).items() if k not in responses})
    parameters = list(params or [])
    if idempotent:
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Retries with the same key get the first response",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        )
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = {"required": True, **body}
    return operation


def _with_id(model: type[BaseModel]) -> dict[str, Any]:
    """A stored profile as the API returns it: the model's fields and the id it was stored under (not an `allOf` with
    the model: the model forbids properties it does not name, `id` among them)."""
    return {
        "type": "object",
        "required": ["id"],
        "properties": {"id": {"type": "string"}},
        "description": f"the {model.__name__} as stored (the fields of the request body), and its id",
    }


def _path(name: str, pattern: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "minLength": 1}
    if pattern is not None:
        schema["pattern"] = pattern
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _search_params() -> list[dict[str, Any]]:
    schema = SearchQuery.model_json_schema()
    params = []
    for name, prop in schema["properties"].items():
        if name == "status":
            state = "(" + "|".join(s.value for s in InterviewStatus) + ")"
            described = {
                "type": "string",
                "description": "one or more states, comma-separated",
                "maxLength": 200,
                "pattern": f"^{state}(,{state})*$",
            }
        else:  # a query parameter is absent rather than null
            shape = next((a for a in prop.get("anyOf", [prop]) if a.get("type") != "null"), prop)
            described = {
                **{k: v for k, v in shape.items() if k != "title"},
                **({"description": prop["description"]} if "description" in prop else {}),
            }
        params.append({"name": name, "in": "query", "required": False, "schema": described})
    return params


def _schedule_schema(spec: dict[str, Any]) -> dict[str, Any]:
    """InterviewSpec, with stored profiles allowed in place of inline ones."""
    schema = copy.deepcopy(spec)
    schema["title"] = "ScheduleInterview"
    schema["required"] = [r for r in schema.get("required", []) if r not in ("job", "candidate")]
    schema["properties"]["job_id"] = {
        "type": "string",
        "pattern": PROFILE_ID,
        "description": "a job stored with PUT /api/v1/jobs/{id}, instead of job",
    }
    schema["properties"]["candidate_id"] = {
        "type": "string",
        "pattern": PROFILE_ID,
        "description": "a stored candidate, instead of candidate",
    }
    schema["description"] = "Send job or job_id, and candidate or candidate_id."
    # What the server checks, stated as the cases it refuses (a `not`, which client generators leave alone): job and
    # job_id both or neither, the same of candidate, and no questions to ask (the interview's own, a stored job's, or
    # the shipped bank the job's role names).
    shipped_role: dict[str, Any] = {"required": ["role"], "properties": {"role": {"enum": sorted(shipped_bank_ids())}}}
    questions: list[dict[str, Any]] = [
        {"required": ["question_bank"], "properties": {"question_bank": {"type": "array", "minItems": 1}}},
        {"required": ["job_id"]},
        {"required": ["job"], "properties": {"job": shipped_role}},
    ]
    refused: list[dict[str, Any]] = []
    for inline in ("job", "candidate"):
        refused.append({"required": [inline, f"{inline}_id"]})
        refused.append({"not": {"anyOf": [{"required": [inline]}, {"required": [f"{inline}_id"]}]}})
    refused.append({"not": {"anyOf": questions}})
    schema["not"] = {"anyOf": refused}
    return schema


@cache
def openapi_document() -> dict[str, Any]:
    models: list[type[BaseModel]] = [
        InterviewSpec,
        Interview,
        InterviewReport,
        CandidateResult,
        JobProfile,
        CandidateProfile,
        EndpointSpec,
        DecisionIn,
        Reschedule,
        ConsentRequest,
        ShareRequest,
        RecommendationRequest,
        SelfIdentification,
        ScreenRequest,
        Availability,
        BookingRequest,
        Application,
        FeedRequest,
        ScreeningRules,
        DeliveryRow,
    ]
    _, schemas = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    components = schemas["$defs"]
    components["ScheduleInterview"] = _schedule_schema(components["InterviewSpec"])
    components["Problem"] = PROBLEM
    components.update(_response_components())
    components.update(_event_components())
    _not_blank(components)
    interview_id, profile_id = _path("interview_id"), _path("profile_id", PROFILE_ID)
    endpoint_id, delivery_id = _path("endpoint_id"), _path("delivery_id")
    profile_paths = {}
    for kind, model in (("jobs", JobProfile), ("candidates", CandidateProfile)):
        item = kind[:-1]
        ops: dict[str, Any] = {
            "put": _op(
                f"Create or replace a {item}",
                {
                    "200": _json(_with_id(model)) | {"description": "Replaced: the profile as stored, with its id"},
                    "201": _json(_with_id(model)) | {"description": "Created: the profile as stored, with its id"},
                    **_problems(422),
                },
                body=_json(_ref(model)),
                params=[profile_id],
            ),
            "get": _op(
                f"A {item} and its interviews",
                {"200": _json(OBJECT) | {"description": "The profile"}, **_problems(404, 422)},
                params=[profile_id],
            ),
        }
        if kind == "candidates":
            ops["delete"] = _op(
                "Erase the candidate: profile, interviews, transcripts, reports, decisions and undelivered events",
                {"204": {"description": "Erased"}, **_problems(404, 422)},
                params=[profile_id],
            )
        profile_paths[f"/api/v1/{kind}/{{profile_id}}"] = ops
    sdp = {"content": {"application/sdp": {"schema": {"type": "string"}}}}
    paths: dict[str, Any] = {
        "/healthz": {"get": _op("Liveness and load", {"200": _json(OBJECT) | {"description": "Up"}}, security=None, tag="Node")},
        "/api/v1/openapi.json": {
            "get": _op("This document", {"200": _json(OBJECT) | {"description": "OpenAPI 3.1"}}, security=None, tag="Node")
        },
        "/api/v1/stats": {
            "get": _op("The node's sessions and model counters", {"200": _json(OBJECT) | {"description": "Counters"}}, tag="Node")
        },
        "/api/v1/nodes": {
            "get": _op(
                "Live nodes of the cluster (this one first): load, draining, base URL",
                {"200": _json(OBJECT) | {"description": "Nodes"}, **_problems(403, 503)},
                tag="Node",
            )
        },
        "/api/v1/nodes/{node_id}/drain": {
            "post": _op(
                "Drain a node: no new interviews there, live ones finish",
                {
                    "200": _json(OBJECT) | {"description": "This node, now draining"},
                    "202": _json(OBJECT) | {"description": "Passed on to that node"},
                    **_problems(403, 404, 503),
                },
                params=[_path("node_id")],
                tag="Node",
            )
        },
        "/api/v1/interviews": {
            "post": _op(
                "Schedule an interview",
                {"201": _json(_ref("ScheduledInterview")) | {"description": "Scheduled: interview, match, invite links"}, **_problems(422)},
                body=_json(_ref("ScheduleInterview")),
                idempotent=True,
            ),
            "get": _op(
                "HR's list: search, filters, sort and cursor paging over the tenant's newest interviews",
                {"200": _json(OBJECT) | {"description": "interviews, next_cursor, matched"}, **_problems(422)},
                params=_search_params(),
            ),
        },
        "/api/v1/interviews/{interview_id}": {
            "get": _op(
                "The interview's state, match, scored answers, transcripts and decisions",
                {"200": _json(_ref("InterviewState")) | {"description": "State"}, **_problems(404)},
                params=[interview_id],
            ),
            "delete": _op(
                "Erase one interview however it was created (inline, from stored profiles, through an ATS): everything it "
                "recorded, its invite and cached responses; `interview.deleted` follows. A stored candidate profile stays",
                {"204": {"description": "Erased"}, **_problems(404)},
                params=[interview_id],
            ),
        },
        "/api/v1/interviews/{interview_id}/report": {
            "get": _op(
                "The report, once completed",
                {
                    "200": _json(_ref("StoredReport")) | {"description": "Report"},
                    **_problems(404, 409),
                },
                params=[interview_id],
            )
        },
        "/api/v1/interviews/{interview_id}/result": {
            "get": _op(
                "The candidate's own result (scores and suggestions), when the company shares it and the interview has completed",
                {"200": _json(_ref(CandidateResult)) | {"description": "Result"}, **_problems(401, 403, 404, 409)},
                security=CANDIDATE,
                params=[
                    interview_id,
                    {
                        "name": "token",
                        "in": "query",
                        "required": False,
                        "description": "the invite token, instead of the header",
                        "schema": {"type": "string"},
                    },
                ],
                tag="Candidate",
            )
        },
        "/api/v1/interviews/{interview_id}/cancel": {
            "post": _op(
                "Cancel",
                {"200": _json(_ref("InterviewEnvelope")) | {"description": "Cancelled"}, **_problems(404, 409)},
                params=[interview_id],
            )
        },
        "/api/v1/interviews/{interview_id}/reschedule": {
            "post": _op(
                "A fresh invite",
                {"200": _json(_ref("Invite")) | {"description": "New links"}, **_problems(404, 409, 422)},
                body=_json(_ref(Reschedule)),
                params=[interview_id],
            )
        },
        "/api/v1/interviews/{interview_id}/decisions": {
            "post": _op(
                "Record HR's decision (advance and reject only once the interview has ended; they move it to decided)",
                {"201": _json(OBJECT) | {"description": "Recorded"}, **_problems(404, 409, 422)},
                body=_json(_ref(DecisionIn)),
                params=[interview_id],
                idempotent=True,
            )
        },
        "/api/v1/board": {
            "get": _op(
                "Each job's interviews counted by state (every state, zeros too)", {"200": _json(OBJECT) | {"description": "jobs, states"}}
            )
        },
        "/api/v1/interviews/{interview_id}/review": {
            "get": _op(
                "The candidate's review: summary, match, each question with its video links, transcript and evidence, "
                "integrity, decisions and owners' recommendations",
                {"200": _json(OBJECT) | {"description": "Review"}, **_problems(404)},
                params=[interview_id],
            )
        },
        "/api/v1/jobs/{job_id}/screen": {
            "post": _op(
                "The job's screening rules applied to stored or inline candidates: each rule's outcome and what it found",
                {"200": _json(OBJECT) | {"description": "results"}, **_problems(404, 409, 422)},
                body=_json(_ref(ScreenRequest)),
                params=[_path("job_id", PROFILE_ID)],
            )
        },
        "/api/v1/jobs/{job_id}/screening": {
            "put": _op(
                "Replace the job's screening rules alone (the rest of the job stays as stored)",
                {"200": _json(_ref(ScreeningRules)) | {"description": "the rules now in force"}, **_problems(404, 422)},
                body=_json(_ref(ScreeningRules)),
                params=[_path("job_id", PROFILE_ID)],
            )
        },
        "/api/v1/imports/candidates": {
            "post": _op(
                "Candidates in bulk, as CSV (a header row; English or Chinese column names) or JSON `{candidates: [...]}`, "
                "taken whole or not at all: a bad upload is a 422 listing each bad row and its reason. With `job_id`, each "
                "is screened by the job's rules and, where it says `on_pass: invite`, invited once",
                {
                    "200": _json(OBJECT) | {"description": "imported; with job_id, each candidate's screening"},
                    **_problems(404, 409, 415, 422),
                },
                body={
                    "content": {
                        "text/csv": {"schema": {"type": "string", "maxLength": 1024 * 1024}},
                        "application/json": {"schema": OBJECT},
                    },
                },
                params=[{"name": "job_id", "in": "query", "required": False, "schema": {"type": "string", "pattern": PROFILE_ID}}],
            )
        },
        "/api/v1/calendar-feeds": {
            "post": _op(
                "A private calendar feed for one HR person: the booked interviews of every job that names them in "
                "`calendar_attendees`, at a secret URL (`/calendar/{secret}.ics`) a calendar app subscribes to; asking "
                "again replaces it",
                {"201": _json(OBJECT) | {"description": "the feed's URL (shown once) and its webcal:// form"}, **_problems(422)},
                body=_json(_ref(FeedRequest)),
            )
        },
        "/api/v1/calendar-feeds/{email}": {
            "delete": _op(
                "Stop the person's calendar feed: its URL answers 404 from now on",
                {"204": {"description": "stopped"}, **_problems(404)},
                params=[_path("email", EMAIL)],
            )
        },
        "/api/v1/jobs/{job_id}/poster": {
            "get": _op(
                "The job's recruiting poster (PNG for chats, A4 PDF for print, or the QR code alone as SVG); its QR code opens "
                "the job's registration page",
                {
                    "200": {
                        "description": "the poster",
                        "content": {
                            t: {"schema": {"type": "string", "format": "binary"}} for t in ("image/png", "application/pdf", "image/svg+xml")
                        },
                    },
                    **_problems(404, 422),
                },
                params=[
                    _path("job_id", PROFILE_ID),
                    {"name": "format", "in": "query", "required": False, "schema": {"enum": ["png", "pdf", "svg"]}},
                    {"name": "language", "in": "query", "required": False, "schema": {"enum": ["zh", "en"]}},
                    {"name": "tagline", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 200}},
                    {"name": "deadline", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 100}},
                ],
            )
        },
        "/api/v1/applications/{token}": {
            "get": _op(
                "The job a poster's link is for: title, language, company, knock-out questions",
                {"200": _json(OBJECT) | {"description": "the job"}, **_problems(404, 410)},
                params=[_path("token")],
                security=None,
                tag="Candidate",
            ),
            "post": _op(
                "Apply through a poster: the profile is stored, the job's screening rules applied, then an invitation "
                "(`invite_url`), a place in HR's queue, or thanks; `candidate.applied` tells the HRMS, rule by rule",
                {"201": _json(OBJECT) | {"description": "outcome"}, **_problems(404, 410, 422, 429)},
                body=_json(_ref(Application)),
                params=[_path("token")],
                security=None,
                tag="Candidate",
            ),
        },
        "/api/v1/jobs/{job_id}/availability": {
            "put": _op(
                "Set when the job's candidates may interview: weekly hours or dated windows in an IANA time zone (or any time "
                "before a deadline), slot length, notice, concurrency, change policy, reminder lead times, calendar attendees",
                {"200": _json(OBJECT) | {"description": "replaced"}, "201": _json(OBJECT) | {"description": "set"}, **_problems(404, 422)},
                body=_json(_ref(Availability)),
                params=[_path("job_id", PROFILE_ID)],
            ),
            "get": _op(
                "The job's availability and the slots it offers now, each with whether it still has room",
                {"200": _json(OBJECT) | {"description": "availability, slots"}, **_problems(404, 422)},
                params=[_path("job_id", PROFILE_ID)],
            ),
        },
        "/api/v1/interviews/{interview_id}/slots": {
            "get": _op(
                "The candidate's booking page: the job's policy, the candidate's booking, the slots with room",
                {"200": _json(OBJECT) | {"description": "slots"}, **_problems(403, 404)},
                params=[interview_id],
                security=CANDIDATE,
                tag="Candidate",
            )
        },
        "/api/v1/interviews/{interview_id}/booking": {
            "put": _op(
                "Book (or move to) an offered slot; 409 slot_taken with a fresh list when the last place went meanwhile",
                {"201": _json(OBJECT) | {"description": "booked"}, **_problems(403, 404, 409, 422)},
                body=_json(_ref(BookingRequest)),
                params=[interview_id],
                security=CANDIDATE,
                tag="Candidate",
            ),
            "delete": _op(
                "Cancel the booking (until the job's change deadline); calendars get a cancellation",
                {"200": _json(OBJECT) | {"description": "cancelled"}, **_problems(403, 404, 409)},
                params=[interview_id],
                security=CANDIDATE,
                tag="Candidate",
            ),
            "get": _op(
                "The interview's booking and each reminder's and calendar invitation's delivery status",
                {"200": _json(OBJECT) | {"description": "booking, reminders"}, **_problems(404)},
                params=[interview_id],
            ),
        },
        "/api/v1/jobs/{job_id}/bookings": {
            "get": _op(
                "The job's booked, moved, cancelled and missed times, a week back to three months ahead, with candidates' names",
                {"200": _json(OBJECT) | {"description": "bookings"}, **_problems(404, 422)},
                params=[_path("job_id", PROFILE_ID)],
            )
        },
        "/api/v1/jobs/{job_id}/applications": {
            "get": _op(
                "The job's applicants from its poster and imports, oldest first, each with the screening's reasons; "
                "`status=queued` is HR's approval queue",
                {"200": _json(OBJECT) | {"description": "applications"}, **_problems(422)},
                params=[
                    _path("job_id", PROFILE_ID),
                    {
                        "name": "status",
                        "in": "query",
                        "required": False,
                        "schema": {"enum": ["queued", "invited", "not_selected", "waiting_for_answers", "declined"]},
                    },
                ],
            )
        },
        "/api/v1/jobs/{job_id}/applications/{candidate_id}/invite": {
            "post": _op(
                "Invite an applicant (HR's approval): the interview is scheduled and interview.scheduled carries the links",
                {"201": _json(OBJECT) | {"description": "invited"}, **_problems(404, 409, 422)},
                params=[_path("job_id", PROFILE_ID), _path("candidate_id", PROFILE_ID)],
            )
        },
        "/api/v1/jobs/{job_id}/applications/{candidate_id}/decline": {
            "post": _op(
                "Decline an applicant waiting for approval (the HRMS hears candidate.declined)",
                {"200": _json(OBJECT) | {"description": "declined"}, **_problems(404, 409, 422)},
                params=[_path("job_id", PROFILE_ID), _path("candidate_id", PROFILE_ID)],
            )
        },
        "/api/v1/interviews/{interview_id}/booking.ics": {
            "get": _op(
                "The booking as an iCalendar file (the same event, UID and SEQUENCE as the e-mailed invitation)",
                {
                    "200": {"description": "text/calendar", "content": {"text/calendar": {"schema": {"type": "string"}}}},
                    **_problems(403, 404),
                },
                params=[interview_id],
                security=CANDIDATE,
                tag="Candidate",
            )
        },
        "/api/v1/jobs/{job_id}/adverse-impact": {
            "get": _op(
                "Selection and scoring rates with impact ratios per sex, race/ethnicity and their intersections, from the "
                "candidates' voluntary self-identification (the shape NYC Local Law 144 bias audits publish)",
                {"200": _json(OBJECT) | {"description": "the report"}, **_problems(404, 422)},
                params=[_path("job_id", PROFILE_ID)],
            )
        },
        "/api/v1/interviews/{interview_id}/self-identification": {
            "post": _op(
                "The candidate's voluntary self-identification (where the company asks); never shown to reviewers",
                {"204": {"description": "Kept"}, **_problems(401, 403, 404, 409, 422)},
                security=CANDIDATE,
                body=_json(_ref(SelfIdentification)),
                params=[interview_id],
                tag="Candidate",
            )
        },
        "/api/v1/interviews/{interview_id}/audit": {
            "get": _op(
                "Who viewed, fetched, shared or decided what about the interview, oldest first (?format=csv); kept after erasure",
                {
                    "200": {
                        "description": "entries (JSON), or the same as CSV with ?format=csv",
                        "content": {"application/json": {"schema": OBJECT}, "text/csv": {"schema": STRING}},
                    },
                    **_problems(404, 422),
                },
                params=[interview_id, {"name": "format", "in": "query", "required": False, "schema": {"enum": ["json", "csv"]}}],
            )
        },
        "/api/v1/interviews/{interview_id}/shares": {
            "get": _op(
                "Who the interview was shared with, and what each business owner recommended",
                {"200": _json(OBJECT) | {"description": "shares"}, **_problems(404)},
                params=[interview_id],
                tag="Business owners",
            )
        },
        "/api/v1/shares": {
            "post": _op(
                "Share a candidate or a shortlist with a business owner: a signed link that expires, e-mailed when SMTP is set",
                {"201": _json(OBJECT) | {"description": "share, link, mail"}, **_problems(422)},
                body=_json(_ref(ShareRequest)),
                idempotent=True,
                tag="Business owners",
            )
        },
        "/api/v1/shares/{share_id}": {
            "delete": _op(
                "Revoke a share: its link stops working",
                {"204": {"description": "Revoked"}, **_problems(404)},
                params=[_path("share_id")],
                tag="Business owners",
            )
        },
        "/api/v1/shares/{share_id}/reminders": {
            "post": _op(
                "E-mail the owner a reminder about the candidates not yet reviewed (at most once an hour)",
                {"202": _json(OBJECT) | {"description": "Sent"}, **_problems(404, 409, 502)},
                params=[_path("share_id")],
                tag="Business owners",
            )
        },
        "/api/v1/reviews/{token}": {
            "get": _op(
                "What was shared with the business owner the link names (the link is the credential)",
                {"200": _json(OBJECT) | {"description": "share, candidates"}, **_problems(401, 410)},
                security=None,
                params=[_path("token")],
                tag="Business owners",
            )
        },
        "/api/v1/reviews/{token}/interviews/{interview_id}/recommendation": {
            "post": _op(
                "The business owner recommends a shared candidate, or not, with a comment (owner_review.recorded)",
                {"201": _json(OBJECT) | {"description": "Recorded"}, **_problems(401, 404, 410, 422)},
                security=None,
                body=_json(_ref(RecommendationRequest)),
                params=[_path("token"), interview_id],
                tag="Business owners",
            )
        },
        **profile_paths,
        "/api/v1/schemas/report": {"get": _op("The report's JSON Schema", {"200": _json(OBJECT) | {"description": "JSON Schema"}})},
        "/api/v1/webhooks/endpoints": {
            "post": _op(
                "Register a webhook endpoint (its secret is shown once; at most 50 a tenant)",
                {"201": _json(_ref("NewWebhookEndpoint")) | {"description": "Registered"}, **_problems(409, 422)},
                body=_json(_ref(EndpointSpec)),
                idempotent=True,
                tag="Webhooks",
            ),
            "get": _op("The tenant's endpoints", {"200": _json(_ref("WebhookEndpoints")) | {"description": "Endpoints"}}, tag="Webhooks"),
        },
        "/api/v1/webhooks/endpoints/{endpoint_id}": {
            "delete": _op("Remove an endpoint", {"204": {"description": "Removed"}, **_problems(404)}, params=[endpoint_id], tag="Webhooks")
        },
        "/api/v1/webhooks/endpoints/{endpoint_id}/rotate-secret": {
            "post": _op(
                "A new signing secret (old ones keep signing for a while)",
                {"200": _json(_ref("RotatedSecret")) | {"description": "New secret"}, **_problems(404)},
                params=[endpoint_id],
                tag="Webhooks",
            )
        },
        "/api/v1/webhooks/endpoints/{endpoint_id}/previous-secrets": {
            "delete": _op(
                "Retire the secrets a rotation kept: the newest alone signs from now on",
                {
                    "200": _json(_ref("RetiredSecrets")) | {"description": "The endpoint, and how many secrets were retired"},
                    **_problems(404),
                },
                params=[endpoint_id],
                tag="Webhooks",
            )
        },
        "/api/v1/webhooks/endpoints/{endpoint_id}/enable": {
            "post": _op(
                "Enable an endpoint a 410 disabled",
                {"200": _json(_ref("WebhookEndpoint")) | {"description": "Enabled"}, **_problems(404)},
                params=[endpoint_id],
                tag="Webhooks",
            )
        },
        "/api/v1/interviews/{interview_id}/recordings": {
            "get": _op(
                "The interview's recordings with where each starts on the interview's clock: each answer's video and audio as "
                "received (question_index; WebM or MP4) and each media session's analysis audio (Opus in Ogg)",
                {
                    "200": _json(OBJECT) | {"description": "recordings: name, starts_s, seconds, question_index, media_type, url"},
                    **_problems(404),
                },
                params=[interview_id],
            )
        },
        "/api/v1/interviews/{interview_id}/recordings/{name}": {
            "get": _op(
                "One recording, with range requests (HR's key, or a short-lived ?access= link from a review)",
                {
                    "200": {
                        "description": "the file",
                        "content": {
                            t: {"schema": {"type": "string", "format": "binary"}}
                            for t in ("audio/flac", "audio/ogg", "video/webm", "video/mp4")
                        },
                    },
                    "206": {
                        "description": "the range asked for",
                        "content": {
                            t: {"schema": {"type": "string", "format": "binary"}}
                            for t in ("audio/flac", "audio/ogg", "video/webm", "video/mp4")
                        },
                    },
                    **_problems(404),
                },
                params=[interview_id, _path("name"), {"name": "access", "in": "query", "required": False, "schema": {"type": "string"}}],
            )
        },
        "/api/v1/hr/sessions": {
            "post": _op(
                "A token for the HR dashboard's websocket (/ws/hr?token=...), valid 8 hours, so the API key stays out of URLs",
                {"201": _json(OBJECT) | {"description": "token, expires_at, tenant"}},
                tag="HR dashboard",
            )
        },
        "/api/v1/webhooks/deliveries": {
            "get": _op(
                "Deliveries with their attempts, newest first, a page at a time (`next_cursor`; status=dead: the dead letters); "
                "finished ones are kept INTERVIEW_WEBHOOK_RETENTION_DAYS (30)",
                {"200": _json(_ref("DeliveryPage")) | {"description": "Deliveries"}, **_problems(422)},
                params=[
                    {
                        "name": "status",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["pending", "delivered", "dead"]},
                    },
                    {"name": "event_id", "in": "query", "required": False, "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                    {
                        "name": "cursor",
                        "in": "query",
                        "required": False,
                        "description": "the `next_cursor` of the page before",
                        "schema": {"type": "string", "maxLength": 512},
                    },
                ],
                tag="Webhooks",
            )
        },
        "/api/v1/webhooks/deliveries/{delivery_id}/replay": {
            "post": _op(
                "Send a delivery again, same event id (until it ages out of the retention period)",
                {"202": _json(_ref("ReplayedDelivery")) | {"description": "Queued"}, **_problems(404)},
                params=[delivery_id],
                tag="Webhooks",
            )
        },
        "/api/v1/interviews/{interview_id}/whip": {
            "post": _op(
                "WHIP: publish the candidate's camera and microphone (SDP offer in, answer out)",
                {
                    "201": {
                        "description": "SDP answer; Location names the session",
                        "content": {"application/sdp": {"schema": {"type": "string"}}},
                    },
                    **_problems(400, 401, 404, 409, 413, 415, 422, 503),
                },
                security=CANDIDATE,
                body=sdp,
                params=[interview_id],
                tag="Candidate",
            )
        },
        "/api/v1/interviews/{interview_id}/consent": {
            "post": _op(
                "The candidate's consent, item by item (recording, AI scoring, facial emotion where the policy has it), with "
                "the version of the text shown; media is refused until recording and AI scoring are agreed to",
                {"201": _json(OBJECT) | {"description": "Stored, with the time it was given"}, **_problems(401, 403, 404, 409, 422, 429)},
                security=CANDIDATE,
                body=_json(_ref(ConsentRequest)),
                params=[interview_id],
                tag="Candidate",
            )
        },
        "/api/v1/interviews/{interview_id}/ice-servers": {
            "get": _op(
                "STUN/TURN servers for the candidate's browser; TURN with a time-limited credential (TURN REST convention)",
                {"200": _json(OBJECT) | {"description": "ice_servers: RTCIceServer objects"}, **_problems(401, 403)},
                security=CANDIDATE,
                params=[interview_id],
                tag="Candidate",
            )
        },
        "/api/v1/interviews/{interview_id}/whip/{session_id}": {
            "patch": _op(
                "WHIP (RFC 9725 section 4.3): trickle ICE candidates, or restart ICE (If-Match: *, new credentials)",
                {
                    "200": {
                        "description": "ICE restarted: our new credentials and candidates; ETag names the new ICE session",
                        "headers": {"ETag": {"schema": STRING}},
                        "content": {"application/trickle-ice-sdpfrag": {"schema": STRING}},
                    },
                    "204": {"description": "Candidates applied"},
                    **_problems(400, 401, 404, 409, 412, 415, 422, 428),
                },
                security=CANDIDATE,
                body={"content": {"application/trickle-ice-sdpfrag": {"schema": {"type": "string"}}}},
                params=[
                    interview_id,
                    _path("session_id"),
                    {
                        "name": "If-Match",
                        "in": "header",
                        "required": True,
                        "description": "the ICE session's entity-tag (the ETag of the WHIP answer or of the last restart), or * to restart",
                        "schema": STRING,
                    },
                ],
                tag="Candidate",
            ),
            "delete": _op(
                "WHIP: hang up",
                {"200": {"description": "Closed"}, **_problems(401, 404)},
                security=CANDIDATE,
                params=[interview_id, _path("session_id")],
                tag="Candidate",
            ),
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "interview-server",
            "version": "1",
            "description": "Real-time AI video interviews: scheduling, live state, reports, and webhooks to the HR system. "
            f"Webhook event types: {', '.join(e.value for e in EventType)}.",
        },
        "paths": _with_links(_with_operation_ids(paths)),
        "webhooks": _webhooks(),
        "components": {
            "schemas": components,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "The tenant's API key"},
                "bearerApiKey": {"type": "http", "scheme": "bearer", "description": "The tenant's API key as a bearer token"},
                "inviteToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "The candidate's invite token"},
            },
        },
    }


_VERBS = {"get": "get", "post": "post", "put": "put", "patch": "patch", "delete": "delete"}


def _with_operation_ids(paths: dict[str, Any]) -> dict[str, Any]:
    """Each operation named from its method and path (`POST /api/v1/interviews/{interview_id}/cancel` is
    `postInterviewsByInterviewIdCancel`): stable, unique, and what client generators name their functions after."""
    for path, item in paths.items():
        words: list[str] = []
        for segment in path.removeprefix("/api/v1").strip("/").split("/"):
            if segment.startswith("{") and segment.endswith("}"):
                words += ["By", *(part.capitalize() for part in segment[1:-1].split("_"))]
            else:
                words += [part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", segment) if part]
        for method, operation in item.items():
            operation.setdefault("operationId", _VERBS[method] + "".join(words))
    return paths


# Where an answer names a resource that other operations take by path: (operation, status, parameter, where in the body).
_PRODUCERS = [
    ("/api/v1/interviews", "post", "201", "interview_id", "/interview/id"),
    ("/api/v1/jobs/{profile_id}", "put", "201", "job_id", "/id"),
    ("/api/v1/jobs/{profile_id}", "put", "200", "job_id", "/id"),
    ("/api/v1/webhooks/endpoints", "post", "201", "endpoint_id", "/id"),
    ("/api/v1/shares", "post", "201", "share_id", "/share/id"),
    ("/api/v1/webhooks/deliveries", "get", "200", "delivery_id", "/deliveries/0/id"),
]


def _with_links(paths: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI links from each answer that creates (or lists) a resource to every operation that takes its id: what a
    client follows to its next call, and what a stateful test walks."""
    for producer, method, status, parameter, pointer in _PRODUCERS:
        links: dict[str, Any] = {}
        for path, item in paths.items():
            if "{" + parameter + "}" not in path:
                continue
            for operation in item.values():
                taken = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"}
                if taken <= {parameter}:  # only operations that need nothing else from the path
                    links[operation["operationId"]] = {
                        "operationId": operation["operationId"],
                        "parameters": {parameter: f"$response.body#{pointer}"},
                    }
        paths[producer][method]["responses"][status]["links"] = links
    return paths


def event_schema_name(event: EventType) -> str:
    """`interview.no_show` is `InterviewNoShowEvent`: the component a generated client reads that event with."""
    return "".join(part.capitalize() for part in re.split(r"[._]", event.value)) + "Event"


def _event_components() -> dict[str, Any]:
    """Each event as a Standard Webhooks envelope `{type, timestamp, data}`, named, so generated clients have its type."""
    components: dict[str, Any] = {}
    for event in EventType:
        summary, data = EVENT_DATA[event]
        if event == EventType.REPORT_READY:  # the report as the component generated clients already know
            data = copy.deepcopy(data)
            data["properties"]["report"] = _ref(InterviewReport)
        components[event_schema_name(event)] = {
            "type": "object",
            "description": summary,
            "required": ["type", "timestamp", "data"],
            "properties": {"type": {"const": event.value}, "timestamp": {"type": "string", "format": "date-time"}, "data": data},
        }
    return components


def _webhooks() -> dict[str, Any]:
    """Every event the server posts to an endpoint, signed; its body is the event's component."""
    hooks: dict[str, Any] = {}
    for event in EventType:
        summary, _ = EVENT_DATA[event]
        envelope = _ref(event_schema_name(event))
        hooks[event.value] = {
            "post": {
                "operationId": "on" + "".join(part.capitalize() for part in re.split(r"[._]", event.value)),
                "summary": summary,
                "description": "Headers webhook-id (the same on every attempt: deduplicate on it), webhook-timestamp and "
                "webhook-signature (Standard Webhooks); delivered at least once.",
                "requestBody": {"required": True, "content": {"application/json": {"schema": envelope}}},
                "responses": {"2XX": {"description": "Received"}, "410": {"description": "Gone: the endpoint is disabled"}},
            }
        }
    return hooks
