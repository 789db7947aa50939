"""HR's review of one candidate's interview (`GET /api/v1/interviews/{id}/review`): the review page's data."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from server.web.api import _interview_for_hr
from server.web.audit import audit, hr_actor
from server.web.booking_api import booking_status
from server.web.recording_links import RecordingLinks
from server.web.review_document import review_document


async def hr_review(request: Request) -> JSONResponse:
    """Summary, match, each question with its video links, transcript and evidence, integrity, decisions, owners'
    recommendations; emotion only where the node's policy has it on."""
    services, interview = await _interview_for_hr(request)
    links = RecordingLinks(services.settings.signing_key())
    viewer = hr_actor(request)
    document = await review_document(services.store, interview, links, "hr", viewer, emotion=services.settings.emotion_analysis)
    document["scheduling"] = await booking_status(services, interview.id)
    await audit(services, interview.tenant, interview.id, viewer, "review_viewed")
    return JSONResponse(document, headers={"Cache-Control": "private, no-store"})
