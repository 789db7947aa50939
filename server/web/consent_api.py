"""`POST /api/v1/interviews/{id}/consent`: the candidate's consent, item by item, stored before any media is taken.

The WHIP endpoint refuses media until a consent that allows the interview is stored (`require_consent`)."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse

from server.domain.consent import CONSENT_KIND, CONSENT_TEXT_VERSION, ConsentRecord, ConsentRequest
from server.domain.interview import CLOSED_STATUSES
from server.live.consents import consents, interview_consent
from server.storage.contract import Store
from server.web.auth import bearer_token, require_invite
from server.web.context import services_of
from server.web.problems import Problem
from server.web.request_bodies import parse

MAX_CONSENTS = 20  # a page that reloads gives consent again; past this many the interview keeps what it has


async def give_consent(request: Request) -> JSONResponse:
    services = services_of(request)
    interview_id = request.path_params["interview_id"]
    require_invite(services.signer, bearer_token(request.headers), interview_id)
    consent = parse(ConsentRequest, await request.body(), "invalid_consent")
    if consent.text_version != CONSENT_TEXT_VERSION:
        raise Problem(
            409, "consent_text_changed", f"the consent text is now version {CONSENT_TEXT_VERSION}: reload the page and read it again"
        )
    interview = await services.store.get_interview(interview_id)
    if interview is None:
        raise Problem(404, "interview_not_found", f"no interview {interview_id!r}")
    if interview.status in CLOSED_STATUSES:
        raise Problem(409, "interview_closed", f"the interview is {interview.status.value}")
    given = await consents(services.store, interview_id)
    if len(given) >= MAX_CONSENTS:
        raise Problem(429, "too_many_consents", "this interview has recorded its consent already")
    items = consent.items
    if not services.settings.emotion_analysis or interview.mode != "video":
        items = items.model_copy(update={"emotion_analysis": False})  # nothing to agree to where nothing is analysed
    record = ConsentRecord(items=items, text_version=consent.text_version, language=consent.language, given_at=time.time())
    await services.store.record_answer(interview_id, "", CONSENT_KIND, record.stored_text())
    return JSONResponse(record.model_dump(mode="json"), status_code=201)


async def require_consent(store: Store, interview_id: str) -> ConsentRecord:
    """The candidate's latest consent, if it allows the interview: else 409 (the page shows the consent step)."""
    consent = await interview_consent(store, interview_id)
    if consent is None:
        raise Problem(409, "consent_required", "the candidate has not agreed to recording and AI scoring for this interview")
    return consent
