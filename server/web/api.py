"""HR-facing API (API key): schedule interviews and read their live state."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from realtime_scoring.report import InterviewReport
from server.domain.consent import CONSENT_KIND
from server.domain.interview import Interview, InterviewSpec
from server.live.consents import consents_among
from server.live.reporting import interview_match
from server.storage.rows import ObservationRow
from server.web.audit import audit, hr_actor
from server.web.auth import require_api_key
from server.web.context import Services, services_of
from server.web.openapi import openapi_document
from server.web.problems import Problem
from server.web.request_bodies import field_errors

REPORT_JSON_SCHEMA = InterviewReport.model_json_schema()


async def create_interview(request: Request) -> JSONResponse:
    """Schedule an interview from profiles sent inline (`job`, `candidate`) or stored before (`job_id`, `candidate_id`)."""
    services = services_of(request)
    tenant = require_api_key(request.headers, services.api_keys)
    try:
        raw = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: nested too deep
        raise Problem(422, "invalid_interview", "the body must be a JSON object", errors=[{"loc": [], "msg": str(exc)}]) from exc
    if not isinstance(raw, dict):
        raise Problem(422, "invalid_interview", "the body must be a JSON object", errors=[{"loc": [], "msg": "not an object"}])
    ids: dict[str, str | None] = {}
    errors = []
    for kind, field in (("jobs", "job"), ("candidates", "candidate")):
        profile_id = raw.pop(f"{field}_id", None)
        ids[field] = profile_id if isinstance(profile_id, str) else None
        if profile_id is None:
            continue
        if not isinstance(profile_id, str):
            errors.append({"loc": [f"{field}_id"], "msg": "must be a string"})
        elif field in raw:
            errors.append({"loc": [f"{field}_id"], "msg": f"send {field} or {field}_id, not both"})
        elif (profile := await services.store.profile(kind, tenant, profile_id)) is None:
            errors.append({"loc": [f"{field}_id"], "msg": f"no {field} {profile_id!r}: PUT /api/v1/{kind}/{profile_id} first"})
        else:
            raw[field] = profile
    if errors:
        raise Problem(422, "invalid_interview", "the interview is not valid", errors=errors)
    try:
        spec = InterviewSpec.model_validate(raw)
    except ValidationError as exc:
        details = field_errors(exc)
        raise Problem(422, "invalid_interview", "the interview is not valid", errors=details) from exc
    interview, invite = await services.schedule(spec, tenant, job_id=ids["job"], candidate_id=ids["candidate"])
    body = {
        "interview": interview.model_dump(mode="json"),
        "match": interview_match(interview).as_dict(),
        **invite.as_dict(),
    }
    return JSONResponse(body, status_code=201, headers={"Location": f"/api/v1/interviews/{interview.id}"})


async def _interview_for_hr(request: Request) -> tuple[Services, Interview]:
    """The interview the path names, for a caller with an HR API key (401 / 404 problems otherwise)."""
    services = services_of(request)
    tenant = require_api_key(request.headers, services.api_keys)
    interview_id = request.path_params["interview_id"]
    # Another tenant's interview is as absent as one that never existed.
    interview = await services.store.get_interview(interview_id, tenant)
    if interview is None:
        raise Problem(404, "interview_not_found", f"no interview {interview_id!r}")
    return services, interview


async def get_interview(request: Request) -> JSONResponse:
    services, interview = await _interview_for_hr(request)
    interview_id = interview.id
    live = services.registry.find_live(interview_id)
    media = None
    if (session := services.registry.media_of(interview_id)) is not None:
        media = {
            "session_id": session.id,
            "state": session.pc.connectionState,
            "connected_at": session.connected_at,
            "tracks": sorted(session.ingest.kinds),
            "stats": asdict(session.ingest.stats),
        }
    live_match = live.match if live is not None else None
    store = services.store
    written = await store.answers(interview_id)
    body = {
        "interview": interview.model_dump(mode="json"),
        "match": (live_match or interview_match(interview)).as_dict(),
        "media": media,
        "scored_answers": _json(await store.scored_answers(interview_id)),
        "decisions": _json(await store.decisions(interview_id)),
        "answers": _json([a for a in written if a.kind != CONSENT_KIND]),
        # What the candidate agreed to, item by item, when, and to which version of the text.
        "consents": [c.model_dump(mode="json") for c in consents_among(written)],
        "transcripts": _json(await store.transcripts(interview_id)),
        "video": _video_summary(await store.observations(interview_id, "face")),
    }
    await audit(services, interview.tenant, interview_id, hr_actor(request), "interview_viewed")
    return JSONResponse(body)


async def get_report(request: Request) -> JSONResponse:
    """The interview's report (schema `InterviewReport`, versioned), once the interview has completed."""
    services, interview = await _interview_for_hr(request)
    stored = await services.store.report(interview.id)
    if stored is None:
        raise Problem(409, "report_not_ready", f"the interview is {interview.status.value}; its report comes when it completes")
    await audit(services, interview.tenant, interview.id, hr_actor(request), "report_viewed")
    return JSONResponse(stored.model_dump(mode="json"))


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(openapi_document())


async def report_schema(request: Request) -> JSONResponse:
    """The JSON Schema of the report, for HR systems that validate what they receive."""
    require_api_key(request.headers, services_of(request).api_keys)
    return JSONResponse(REPORT_JSON_SCHEMA)


async def stats(request: Request) -> JSONResponse:
    """This node's load and each model's counters: requests, batch sizes, queue wait, run time."""
    services = services_of(request)
    require_api_key(request.headers, services.api_keys)
    registry = services.registry
    return JSONResponse(
        {
            "live_interviews": registry.live_interviews,
            "media_sessions": registry.media_sessions,
            "models": services.engine.stats() if services.engine is not None else None,
        }
    )


async def health(request: Request) -> JSONResponse:
    registry = services_of(request).registry
    return JSONResponse({"status": "ok", "live_interviews": registry.live_interviews, "media_sessions": registry.media_sessions})


async def ready(request: Request) -> JSONResponse:
    """Readiness for a load balancer: 503 until the store is open and the models are loaded, and again while draining."""
    services = getattr(request.app.state, "services", None)
    if services is None:
        return JSONResponse({"status": "starting"}, status_code=503)
    if services.node.draining:
        return JSONResponse({"status": "draining", "live_interviews": services.registry.live_interviews}, status_code=503)
    return JSONResponse({"status": "ready", "scoring": services.engine is not None})


async def metrics(request: Request) -> Response:
    """Prometheus text format; no labels carry interview ids or personal data."""
    services = getattr(request.app.state, "services", None)
    if services is None:
        return Response("", status_code=503)
    await services.metrics.refresh()
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _json(rows: Sequence[BaseModel]) -> list[dict[str, Any]]:
    return [row.model_dump(mode="json") for row in rows]


def _video_summary(seconds: Sequence[ObservationRow]) -> dict[str, int]:
    """How many analysed seconds showed the candidate's face, and how many showed more than one face."""
    data = [row.data for row in seconds]  # `observation_data` of a face second
    return {
        "seconds": len(data),
        "face_present_seconds": sum(bool(d["face_present"]) for d in data),
        "multiple_faces_seconds": sum(bool(d["multiple_faces"]) for d in data),
    }
