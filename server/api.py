"""HR-facing API (API key): schedule interviews and read their live state."""

from __future__ import annotations

import time
from dataclasses import asdict

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

from realtime_scoring.report import InterviewReport
from server.auth import require_api_key
from server.problems import Problem
from server.schemas import Interview, InterviewSpec
from server.services import Services, services_of
from server.live_interview import interview_match

REPORT_JSON_SCHEMA = InterviewReport.model_json_schema()


async def create_interview(request: Request) -> JSONResponse:
    services = services_of(request)
    require_api_key(request.headers, services.api_keys)
    try:
        spec = InterviewSpec.model_validate_json(await request.body())
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        raise Problem(422, "invalid_interview", "the interview is not valid", errors=errors) from exc
    expires_at = int(time.time() + services.settings.invite_ttl_hours * 3600)
    interview = await services.store.create_interview(spec, expires_at)
    match = interview_match(interview)
    token = services.signer.issue(interview.id, expires_at)
    body = {
        "interview": interview.model_dump(mode="json"),
        "match": match.as_dict(),
        "invite_url": services.invite_url(token),
        "invite_token": token,
        "invite_expires_at": expires_at,
    }
    return JSONResponse(body, status_code=201, headers={"Location": f"/api/v1/interviews/{interview.id}"})


async def _interview_for_hr(request: Request) -> tuple[Services, Interview]:
    """The interview the path names, for a caller with an HR API key (401 / 404 problems otherwise)."""
    services = services_of(request)
    require_api_key(request.headers, services.api_keys)
    interview_id = request.path_params["interview_id"]
    interview = await services.store.get_interview(interview_id)
    if interview is None:
        raise Problem(404, "interview_not_found", f"no interview {interview_id!r}")
    return services, interview


async def get_interview(request: Request) -> JSONResponse:
    services, interview = await _interview_for_hr(request)
    interview_id = interview.id
    live = services.registry.find_live(interview_id)
    media = None
    if live is not None and live.media is not None:
        session = live.media
        media = {
            "session_id": session.id,
            "state": session.pc.connectionState,
            "connected_at": session.connected_at,
            "tracks": sorted(session.ingest.kinds),
            "stats": asdict(session.ingest.stats),
        }
    live_match = live.match if live is not None else None
    body = {
        "interview": interview.model_dump(mode="json"),
        "match": (live_match or interview_match(interview)).as_dict(),
        "media": media,
        "scored_answers": await services.store.scored_answers(interview_id),
        "answers": await services.store.answers(interview_id),
        "transcripts": await services.store.transcripts(interview_id),
        "video": _video_summary(await services.store.observations(interview_id, "face")),
    }
    return JSONResponse(body)


async def get_report(request: Request) -> JSONResponse:
    """The interview's report (schema `InterviewReport`, versioned), once the interview has completed."""
    services, interview = await _interview_for_hr(request)
    stored = await services.store.report(interview.id)
    if stored is None:
        raise Problem(409, "report_not_ready", f"the interview is {interview.status.value}; its report comes when it completes")
    return JSONResponse(stored)


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
    return JSONResponse(
        {"status": "ok", "live_interviews": registry.live_interviews, "media_sessions": registry.media_sessions}
    )


def _video_summary(seconds: list[dict[str, object]]) -> dict[str, int]:
    """How many analysed seconds showed the candidate's face, and how many showed more than one face."""
    data = [row["data"] for row in seconds]
    return {
        "seconds": len(data),
        "face_present_seconds": sum(bool(d["face_present"]) for d in data),  # type: ignore[index]
        "multiple_faces_seconds": sum(bool(d["multiple_faces"]) for d in data),  # type: ignore[index]
    }
