"""The interviews an ATS can order, as "tests" (Greenhouse) or "papers" (Feishu Hire), and the interview each one is.

- A shipped question bank in one language: `backend_engineer:en` is the video interview, `backend_engineer:en:text`
  the written one (the candidate types the answers).
- One of the tenant's own jobs: `job:{job id}` and `job:{job id}:text`, with the questions and language HR set up.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import ValidationError

from realtime_scoring.profiles import CandidateProfile, JobProfile, Language
from realtime_scoring.question_bank import shipped_bank, shipped_bank_ids
from server.domain.interview import InterviewMode, InterviewSpec
from server.web.context import Services
from server.web.problems import Problem
from server.web.request_bodies import PROFILE_ID

LANGUAGES: dict[Language, str] = {"en": "English", "zh": "Mandarin"}
MODES: dict[InterviewMode, tuple[str, str]] = {"video": ("", "video"), "text": (":text", "written")}  # id suffix, label
JOB_TEST = "job:"


@dataclass(frozen=True)
class Test:
    bank_id: str
    language: Language
    mode: InterviewMode
    name: str


@functools.cache
def catalog() -> dict[str, Test]:
    """Every shipped test, by id: each shipped bank, in each language it has questions in, per mode."""
    tests: dict[str, Test] = {}
    for bank_id in shipped_bank_ids():
        bank = shipped_bank(bank_id)
        for language, language_name in LANGUAGES.items():
            if not bank.for_language(language):
                continue
            for mode, (suffix, label) in MODES.items():
                name = f"{bank.title.get('en', bank_id)} · AI {label} interview ({language_name})"
                tests[f"{bank_id}:{language}{suffix}"] = Test(bank_id, language, mode, name)
    return tests


async def offered_tests(services: Services, tenant: str) -> dict[str, str]:
    """Test id -> name: the shipped ones, and the tenant's stored jobs (each with its own questions and language)."""
    tests = {test_id: test.name for test_id, test in catalog().items()}
    for job_id, title in (await services.store.job_titles(tenant)).items():
        for suffix, label in MODES.values():
            tests[f"{JOB_TEST}{job_id}{suffix}"] = f"{title} · AI {label} interview"
    return tests


async def ordered_interview(
    services: Services, tenant: str, test_id: str, candidate: CandidateProfile, listed_by: str = "the list of tests"
) -> tuple[InterviewSpec, str | None]:
    """The interview `test_id` orders for `candidate`, and its stored job's id; 404 when there is no such test, 422 when
    its job has no questions yet. `listed_by`: where the caller finds the tests offered, for the 404's words."""
    test = catalog().get(test_id)
    if test is not None:
        bank = shipped_bank(test.bank_id)
        job = JobProfile(title=bank.title.get(test.language, test.bank_id), role=test.bank_id, language=test.language)
        return InterviewSpec(job=job, candidate=candidate, mode=test.mode), None
    if not test_id.startswith(JOB_TEST):
        raise Problem(404, "test_not_found", f"no test {test_id!r}; {listed_by} names the tests offered")
    rest = test_id.removeprefix(JOB_TEST)
    job_id, mode = (rest.removesuffix(":text"), "text") if rest.endswith(":text") else (rest, "video")
    stored = await services.store.profile("jobs", tenant, job_id) if re.fullmatch(PROFILE_ID, job_id) else None
    if stored is None:
        raise Problem(404, "test_not_found", f"no test {test_id!r}: the job is gone; {listed_by} names the tests offered")
    try:
        return InterviewSpec(job=JobProfile.model_validate(stored), candidate=candidate, mode=mode), job_id
    except ValidationError as exc:
        raise Problem(422, "test_has_no_questions", f"the job behind {test_id!r} has no questions to ask yet") from exc


ORDER_KEPT_S = 30 * 24 * 3600.0  # an order is remembered this long: an ATS that redelivers or cancels later finds it
HOLD_S = 30.0  # how long a node that died while creating an ordered interview keeps its key from being used again


async def ordered_once(services: Services, tenant: str, key: str, create: Callable[[], Awaitable[str | None]]) -> str | None:
    """The interview an ATS ordered under `key` (its exam or arrangement id), created by `create` the first time only,
    on whichever node: its id, or None where `create` made none. 409 while another request is creating it (the ATS
    redelivers, and its retry finds it)."""
    if (stored := await services.store.idempotent_response(tenant, key, max_age_s=ORDER_KEPT_S)) is not None:
        return _ordered(stored.body)
    hold = await services.store.hold_idempotency_key(tenant, key, HOLD_S)
    if hold is None:
        raise Problem(409, "order_being_created", "this order is being set up by another request", headers={"Retry-After": "5"})
    try:
        if (stored := await services.store.idempotent_response(tenant, key, max_age_s=ORDER_KEPT_S)) is not None:
            return _ordered(stored.body)
        interview_id = await create()
        answer = json.dumps({"interview_id": interview_id}).encode()
        await services.store.remember_response(tenant, key, "", 200, answer, "application/json", "{}", max_age_s=ORDER_KEPT_S)
        return interview_id
    finally:
        await services.store.release_idempotency_key(tenant, key, hold)


async def ordered_interview_id(services: Services, tenant: str, key: str) -> str | None:
    stored = await services.store.idempotent_response(tenant, key, max_age_s=ORDER_KEPT_S)
    return _ordered(stored.body) if stored is not None else None


def _ordered(body: bytes) -> str | None:
    interview_id = json.loads(body).get("interview_id")
    return interview_id if isinstance(interview_id, str) else None
