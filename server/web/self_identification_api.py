"""Voluntary self-identification from the invitation page, and the adverse-impact report built from it.

`POST /api/v1/interviews/{id}/self-identification` (the invite token): what the candidate chose to say, accepted only
where the company's policy asks; kept apart from the interview and read by nothing but the report.
`GET /api/v1/jobs/{job_id}/adverse-impact` (HR): selection and scoring rates with impact ratios per category, in the
shape NYC Local Law 144 bias audits publish (server/domain/adverse_impact.py). Counts only: no candidate is named.
"""

from __future__ import annotations

import re
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server.domain.adverse_impact import Outcome, SelfIdentification, adverse_impact
from server.domain.interview import CLOSED_STATUSES
from server.web.auth import bearer_token, require_api_key, require_invite
from server.web.context import services_of
from server.web.problems import Problem
from server.web.request_bodies import PROFILE_ID, parse


async def give_self_identification(request: Request) -> Response:
    services = services_of(request)
    interview_id = request.path_params["interview_id"]
    require_invite(services.signer, bearer_token(request.headers), interview_id)
    interview = await services.store.get_interview(interview_id)
    if interview is None:
        raise Problem(404, "interview_not_found", f"no interview {interview_id!r}")
    if not services.settings.company_policy(interview.tenant).ask_self_identification:
        raise Problem(404, "not_asked", "this company does not ask candidates to identify themselves")
    if interview.status in CLOSED_STATUSES:
        raise Problem(409, "interview_closed", f"the interview is {interview.status.value}")
    identity = parse(SelfIdentification, await request.body(), "invalid_self_identification")
    await services.store.save_self_identification(interview_id, identity)
    return Response(status_code=204)


async def job_adverse_impact(request: Request) -> JSONResponse:
    services = services_of(request)
    tenant = require_api_key(request.headers, services.api_keys)
    job_id = request.path_params["job_id"]
    if not re.fullmatch(PROFILE_ID, job_id):
        raise Problem(422, "invalid_id", "ids are 1-128 characters of letters, digits and . _ : -")
    rows = [r for r in await services.store.interview_index(tenant) if r.job_id == job_id]
    if not rows:
        raise Problem(404, "job_not_found", f"no interviews for job {job_id!r}")
    said = await services.store.self_identifications([r.id for r in rows])
    unknown = SelfIdentification()
    outcomes = [Outcome(sex=(s := said.get(r.id, unknown)).sex, race=s.race, decision=r.decision, score=r.overall) for r in rows]
    report = {"job_id": job_id, "job_title": rows[0].job_title, "generated_at": time.time(), **adverse_impact(outcomes)}
    return JSONResponse(report, headers={"Cache-Control": "private, no-store"})
