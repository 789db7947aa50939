"""`POST /api/v1/imports/candidates`: HR upload candidates in bulk (CSV or JSON, `server/domain/candidate_import.py`),
taken whole or not at all; with `?job_id=`, each is screened by the job's rules at once and, where the job says
`on_pass: invite`, invited (once: a candidate this job already invited is not invited again on a second upload)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from realtime_scoring.profiles import JobProfile
from server.domain.candidate_import import ImportRejected, parse_csv, parse_json
from server.web.applications_api import screen_and_admit
from server.web.auth import require_api_key
from server.web.context import services_of
from server.web.problems import Problem
from server.web.request_bodies import PROFILE_ID

PARSERS = {"text/csv": parse_csv, "application/csv": parse_csv, "application/json": parse_json}


async def import_candidates(request: Request) -> JSONResponse:
    services = services_of(request)
    tenant = require_api_key(request.headers, services.api_keys)
    job_id = request.query_params.get("job_id")
    job = None
    if job_id is not None:
        stored = await services.store.profile("jobs", tenant, job_id) if re.fullmatch(PROFILE_ID, job_id) else None
        if stored is None:
            raise Problem(404, "job_not_found", f"no job {job_id!r}: PUT /api/v1/jobs/{job_id} first")
        job = JobProfile.model_validate(stored)
        if job.screening is None:
            raise Problem(409, "no_screening_rules", "the job has no screening rules to apply: PUT it again with `screening`")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    parser = PARSERS.get(media_type)
    if parser is None:
        raise Problem(415, "unsupported_import", "send the candidates as text/csv or application/json")
    body = await request.body()
    try:
        candidates = await asyncio.to_thread(parser, body)
    except ImportRejected as exc:
        raise Problem(
            422,
            "invalid_import",
            f"{exc.count} row(s) cannot be imported; nothing was imported: correct them and upload the file again",
            errors=[asdict(e) for e in exc.errors],
            error_count=exc.count,
        ) from exc
    created = await services.store.put_profiles("candidates", tenant, {c.id: c.profile.model_dump_json() for c in candidates})
    result: dict[str, Any] = {"imported": len(candidates), "created": created, "updated": len(candidates) - created}
    if job is not None and job_id is not None:
        result["job_id"] = job_id
        result["screening"] = await screen_and_admit(services, tenant, job_id, job, candidates, "import")
    return JSONResponse(result)
