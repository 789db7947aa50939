"""`POST /api/v1/jobs/{job_id}/screen`: the job's screening rules (stored with the job, `screening`) applied to stored
candidates or to profiles sent inline, each with every rule's outcome and what it found; `PUT .../screening` sets
the rules alone."""

from __future__ import annotations

import asyncio
import re
from dataclasses import asdict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse

from realtime_scoring.profiles import CandidateProfile, JobProfile, ScreeningRules
from realtime_scoring.screening import screen
from server.domain.applications import Applicant
from server.web.applications_api import screen_and_admit
from server.web.auth import require_api_key
from server.web.context import services_of
from server.web.problems import Problem
from server.web.request_bodies import PROFILE_ID, parse, path_id

MAX_STORED = 500
MAX_INLINE = 100


# What `_someone` checks, as JSON Schema: someone to screen, and `admit` only with stored candidates.
SCREEN_REQUEST_RULES: dict[str, Any] = {
    "anyOf": [
        {"required": ["candidate_ids"], "properties": {"candidate_ids": {"minItems": 1}}},
        {"required": ["candidates"], "properties": {"candidates": {"minItems": 1}}},
    ],
    "not": {"required": ["admit", "candidates"], "properties": {"admit": {"const": True}, "candidates": {"minItems": 1}}},
}


class ScreenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=lambda schema: schema.update(SCREEN_REQUEST_RULES))

    candidate_ids: list[str] = Field(default_factory=list, max_length=MAX_STORED)
    candidates: list[CandidateProfile] = Field(default_factory=list, max_length=MAX_INLINE, description="profiles not stored")
    answers: dict[str, dict[str, bool]] = Field(
        default_factory=dict, max_length=MAX_STORED + MAX_INLINE, description="knock-out answers by candidate id (or inline index)"
    )
    admit: bool = Field(
        False, description="act on the outcome: stored candidates who pass are invited or queued for HR as the job says, once"
    )

    @model_validator(mode="after")
    def _someone(self) -> ScreenRequest:
        if not self.candidate_ids and not self.candidates:
            raise ValueError("send candidate_ids, candidates, or both")
        if any(not re.fullmatch(PROFILE_ID, i) for i in self.candidate_ids):
            raise ValueError("candidate ids are 1-128 characters of letters, digits and . _ : -")
        if self.admit and self.candidates:
            raise ValueError("admit acts on stored candidates only: PUT them first and send candidate_ids")
        return self


async def screen_candidates(request: Request) -> JSONResponse:
    services = services_of(request)
    tenant = require_api_key(request.headers, services.api_keys)
    job_id = request.path_params["job_id"]
    stored_job = await services.store.profile("jobs", tenant, job_id) if re.fullmatch(PROFILE_ID, job_id) else None
    if stored_job is None:
        raise Problem(404, "job_not_found", f"no job {job_id!r}: PUT /api/v1/jobs/{job_id} first")
    job = JobProfile.model_validate(stored_job)
    if job.screening is None:
        raise Problem(409, "no_screening_rules", "the job has no screening rules: PUT it again with `screening`")
    body = parse(ScreenRequest, await request.body(), "invalid_screening")
    people: list[tuple[str, CandidateProfile | None]] = [
        (i, CandidateProfile.model_validate(p) if (p := await services.store.profile("candidates", tenant, i)) else None)
        for i in body.candidate_ids
    ]
    people += [(str(n), profile) for n, profile in enumerate(body.candidates)]
    rules = job.screening
    if body.admit:
        unique = {key: (n, profile) for n, (key, profile) in reversed(list(enumerate(people))) if profile is not None}
        applicants = [Applicant(n + 1, key, profile) for key, (n, profile) in unique.items()]  # each candidate once
        admitted = {e["candidate_id"]: e for e in await screen_and_admit(services, tenant, job_id, job, applicants, "hrms", body.answers)}
        screened = {"not_selected": "failed", "waiting_for_answers": "waiting"}
        return JSONResponse(
            {
                "job_id": job_id,
                "on_pass": rules.on_pass,
                "results": [
                    {"candidate": key, "outcome": "not_found", "rules": []}
                    if key not in admitted
                    else {
                        "candidate": key,
                        "outcome": screened.get(admitted[key]["outcome"], "passed"),
                        "rules": admitted[key]["rules"],
                        "admitted": admitted[key]["outcome"],
                        "interview_id": admitted[key].get("interview_id"),
                    }
                    for key, _ in people
                ],
            }
        )

    def run() -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        for key, profile in people:
            if profile is None:
                results.append({"candidate": key, "outcome": "not_found", "rules": []})
                continue
            outcome = screen(rules, job, profile, body.answers.get(key))
            results.append({"candidate": key, "outcome": outcome.outcome, "rules": [asdict(r) for r in outcome.rules]})
        return results

    results = await asyncio.to_thread(run)  # the match score of hundreds of profiles is CPU work
    return JSONResponse({"job_id": job_id, "on_pass": rules.on_pass, "results": results})


async def put_screening_rules(request: Request) -> JSONResponse:
    """`PUT /api/v1/jobs/{job_id}/screening`: replace the job's screening rules alone (HR's page edits them; the rest of
    the job stays as the HRMS sent it). Candidates already screened keep their outcome."""
    services = services_of(request)
    tenant = require_api_key(request.headers, services.api_keys)
    job_id = path_id(request, "job_id")
    stored = await services.store.profile("jobs", tenant, job_id)
    if stored is None:
        raise Problem(404, "job_not_found", f"no job {job_id!r}: PUT /api/v1/jobs/{job_id} first")
    rules = parse(ScreeningRules, await request.body(), "invalid_screening_rules")
    job = JobProfile.model_validate(stored).model_copy(update={"screening": rules})
    await services.store.put_profile("jobs", tenant, job_id, job.model_dump_json())
    return JSONResponse(rules.model_dump(mode="json"))
