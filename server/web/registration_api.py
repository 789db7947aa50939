"""From a recruiting poster to an interview: the poster (HR), the job's registration page and the application
(anyone with the poster's link).

HR: `GET /api/v1/jobs/{job_id}/poster?format=png|pdf|svg&language=zh|en` renders the poster, its QR code holding a
signed link to `/apply/{token}` (valid 180 days). A candidate who scans it sees the job, gives a name and a way to
be reached (e-mail or phone), optionally their résumé as text, answers the job's knock-out questions and agrees to
the processing; `POST /api/v1/applications/{token}` stores the profile, applies the job's screening rules, and
then, as the job says: invites (an interview, whose link opens the booking page), or queues the candidate for HR
(`candidate.applied`, with every rule's outcome, tells the HRMS), or thanks a candidate who did not pass. The
candidate is never shown the rules' workings. Applications are limited per address and per job.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import time
import uuid
from dataclasses import asdict
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from frontend import FRONTEND_DIR
from realtime_scoring.profiles import CandidateProfile, CandidateSkill, Education, EducationLevel, JobProfile
from realtime_scoring.screening import screen
from server.domain.interview import InterviewSpec
from server.domain.job_links import InvalidJobLink, JobLink, JobLinkSigner
from server.domain.poster import PosterContent, render_poster
from server.domain.resume_text import UnreadableResume, pdf_text
from server.domain.wechat_applicant import COOKIE as WECHAT_COOKIE
from server.domain.wechat_applicant import open_applicant
from server.storage.outbox import EventType
from server.web.applications_api import record_applications, save_wechat_profile
from server.web.auth import require_api_key
from server.web.context import Services, services_of
from server.web.message_page import bilingual_page
from server.web.problems import Problem
from server.web.rate_limit import ClientBuckets, client_group
from server.web.request_bodies import field_errors, parse, path_id

APPLICATIONS_PER_CLIENT = (1 / 60, 5)  # per address: five, then one a minute
APPLICATIONS_PER_JOB = (2.0, 120)  # per job: a poster at a job fair brings a crowd, not a flood
POSTER_RENDERS = asyncio.Semaphore(2)  # each is a third of a second of CPU
POSTER_TYPES = {"png": "image/png", "pdf": "application/pdf", "svg": "image/svg+xml"}
MAX_RESUME_PDF_BYTES = 600 * 1024
MAX_RESUME_PDF_BASE64 = 4 * ((MAX_RESUME_PDF_BYTES + 2) // 3)
RESUME_READS = asyncio.Semaphore(2)  # PDFium reading a page or eight: CPU, off the event loop, two at a time


class Application(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(None, max_length=320, pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
    phone: str | None = Field(None, pattern=r"^\+[1-9][0-9]{7,14}$")
    resume_text: str = Field("", max_length=20_000)
    resume_pdf: str | None = Field(
        None, max_length=MAX_RESUME_PDF_BASE64, description="the résumé as a PDF file (at most 600 KB), base64; its text is read"
    )
    education: EducationLevel | None = Field(None, description="the highest degree")
    education_field: str | None = Field(None, max_length=120)
    years_experience: float | None = Field(None, ge=0, le=60)
    skills: list[Annotated[str, Field(min_length=1, max_length=80)]] = Field(default_factory=list, max_length=30)
    location: str | None = Field(None, max_length=120)
    answers: dict[str, bool] = Field(default_factory=dict, max_length=20)
    consent: Literal[True] = Field(description="the candidate agreed that the company processes what they sent")

    @model_validator(mode="after")
    def _reachable(self) -> Application:
        if not self.email and not self.phone:
            raise ValueError("give an e-mail address or a phone number, so the company can reach you")
        return self


async def _resume_text(body: Application) -> str:
    """What the candidate pasted, else the text of the PDF they sent (422 when it cannot be read)."""
    if body.resume_text.strip() or body.resume_pdf is None:
        return body.resume_text
    try:
        data = base64.b64decode(body.resume_pdf, validate=True)
    except binascii.Error as exc:
        raise Problem(422, "invalid_application", "resume_pdf is not base64") from exc
    if len(data) > MAX_RESUME_PDF_BYTES:
        raise Problem(422, "resume_too_large", f"the résumé PDF is larger than {MAX_RESUME_PDF_BYTES // 1024} KB")
    async with RESUME_READS:
        try:
            return await asyncio.to_thread(pdf_text, data)
        except UnreadableResume as exc:
            raise Problem(422, "unreadable_resume", str(exc)) from exc


def _application_buckets(request: Request) -> tuple[ClientBuckets, ClientBuckets]:
    """This app's limits on applications (per node: a poster's crowd reaches one node or a few)."""
    state = request.app.state
    if not hasattr(state, "application_buckets"):
        state.application_buckets = (ClientBuckets(*APPLICATIONS_PER_CLIENT), ClientBuckets(*APPLICATIONS_PER_JOB))
    buckets: tuple[ClientBuckets, ClientBuckets] = state.application_buckets
    return buckets


def _signer(services: Services) -> JobLinkSigner:
    return JobLinkSigner(services.settings.signing_key())


def registration_url(services: Services, tenant: str, job_id: str) -> str:
    return f"{services.settings.base_url}/apply/{_signer(services).issue(JobLink(tenant, job_id))}"


async def _job(services: Services, tenant: str, job_id: str) -> JobProfile:
    stored = await services.store.profile("jobs", tenant, job_id)
    if stored is None:
        raise Problem(404, "job_not_found", "this job is no longer open")
    return JobProfile.model_validate(stored)


async def poster(request: Request) -> Response:
    services = services_of(request)
    tenant = require_api_key(request.headers, services.api_keys)
    job_id = path_id(request, "job_id")
    job = await _job(services, tenant, job_id)
    kind = request.query_params.get("format", "png")
    language = request.query_params.get("language", job.language)
    if kind not in POSTER_TYPES or language not in ("zh", "en"):
        raise Problem(422, "invalid_poster", "format is png, pdf or svg; language zh or en")
    try:
        content = PosterContent(
            job_title=job.title,
            registration_url=registration_url(services, tenant, job_id),
            language=language,
            company_name=services.settings.company_policy(tenant).company_name,
            tagline=request.query_params.get("tagline") or None,
            deadline=request.query_params.get("deadline") or None,
        )
    except ValidationError as exc:
        raise Problem(422, "invalid_poster", "the poster's text is not valid", errors=field_errors(exc)) from exc
    async with POSTER_RENDERS:
        made = await asyncio.to_thread(render_poster, content)
    body = {"png": made.png, "pdf": made.pdf, "svg": made.qr_svg}[kind]
    filename = f"poster-{job_id}.{kind}"
    return Response(
        body,
        media_type=POSTER_TYPES[kind],
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "private, no-store"},
    )


def _link(services: Services, token: str) -> JobLink:
    try:
        return _signer(services).verify(token)
    except InvalidJobLink as exc:
        raise Problem(
            404 if exc.reason == "invalid" else 410, f"job_link_{exc.reason}", "this job's link is not valid or has expired"
        ) from exc


@functools.cache
def _apply_html() -> str:
    return (FRONTEND_DIR / "apply" / "index.html").read_text(encoding="utf-8")


async def apply_page(request: Request) -> HTMLResponse:
    services = services_of(request)
    try:
        link = _signer(services).verify(request.path_params["token"])
        job = await _job(services, link.tenant, link.job_id)
    except (InvalidJobLink, Problem):
        return bilingual_page(
            404,
            ("职位已关闭", "这个报名链接已失效或职位已不再招聘。"),
            ("This job is closed", "This link has expired or the job is no longer open."),
        )
    language = "zh-CN" if job.language == "zh" else "en"
    page = _apply_html().replace('<html lang="en">', f'<html lang="{language}">', 1)
    return HTMLResponse(page, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


async def job_for_applicants(request: Request) -> JSONResponse:
    """What the registration page shows: the job's title and language, the company, and its knock-out questions (in the
    job's language, and in each language they were written in, for the page's language switch)."""
    services = services_of(request)
    link = _link(services, request.path_params["token"])
    job = await _job(services, link.tenant, link.job_id)
    rules = job.screening
    questions = [
        {"id": q.id, "text": q.text.get(job.language) or next(iter(q.text.values())), "texts": q.text}
        for q in (rules.knockout_questions if rules else [])
    ]
    token = request.path_params["token"]
    applicant = open_applicant(request.cookies.get(WECHAT_COOKIE), services.settings.signing_key(), token, time.time())
    offer = None
    settings = services.settings
    if (
        applicant is None
        and settings.wechat_app_id
        and settings.wechat_app_secret
        and "MicroMessenger" in request.headers.get("user-agent", "")
    ):
        offer = f"/wechat/apply/start?{urlencode({'job': token})}"  # offered on the page, never forced (WeChat's rules)
    return JSONResponse(
        {
            "job_title": job.title,
            "language": job.language,
            "company": services.settings.company_policy(link.tenant).company_name,
            "questions": questions,
            "wechat": {"nickname": applicant.nickname, "avatar_url": applicant.avatar_url} if applicant is not None else None,
            "wechat_login_url": offer,
        },
        headers={"Cache-Control": "no-store"},
    )


async def submit_application(request: Request) -> JSONResponse:
    services = services_of(request)
    link = _link(services, request.path_params["token"])
    now = time.time()
    client = client_group(request.client.host if request.client else None)
    per_client, per_job = _application_buckets(request)
    for buckets, key in ((per_client, client), (per_job, f"{link.tenant}\n{link.job_id}")):
        if (wait := buckets.take(key, now)) > 0:
            raise Problem(
                429,
                "too_many_applications",
                "too many applications just now; try again in a minute",
                headers={"Retry-After": str(int(wait) + 1)},
            )
    job = await _job(services, link.tenant, link.job_id)
    body = parse(Application, await request.body(), "invalid_application")
    candidate = CandidateProfile(
        name=body.name,
        email=body.email,
        phone=body.phone,
        summary=(await _resume_text(body))[:4000],
        years_experience=body.years_experience or 0,
        skills=[CandidateSkill(name=skill) for skill in body.skills],
        education=[Education(level=body.education, field=body.education_field or None)] if body.education is not None else [],
        location=body.location or None,
    )
    candidate_id = f"applied-{uuid.uuid4().hex[:20]}"
    shared = open_applicant(request.cookies.get(WECHAT_COOKIE), services.settings.signing_key(), request.path_params["token"], time.time())
    wechat = {"openid": shared.openid, "nickname": shared.nickname, "avatar_url": shared.avatar_url} if shared is not None else None
    await services.store.put_profile("candidates", link.tenant, candidate_id, candidate.model_dump_json())
    rules = job.screening
    outcome = await asyncio.to_thread(screen, rules, job, candidate, body.answers) if rules is not None else None
    passed = outcome is None or outcome.outcome == "passed"
    invite = passed and (rules is None or rules.on_pass == "invite")
    result: dict[str, Any] = {"outcome": "not_selected" if not passed else "invited" if invite else "queued"}
    interview_id = None
    if invite:
        try:
            spec = InterviewSpec(job=job, candidate=candidate)
        except ValidationError:
            result["outcome"] = "queued"  # the job has no questions to ask yet: HR must add them and invite
        else:
            made, links = await services.schedule(spec, link.tenant, job_id=link.job_id, candidate_id=candidate_id)
            result["invite_url"] = links.invite_url
            interview_id = made.id
            if wechat is not None:
                await save_wechat_profile(services, made.id, wechat)
    event = {
        "candidate_id": candidate_id,
        "job_id": link.job_id,
        "outcome": result["outcome"],
        "screening": {"outcome": outcome.outcome, "rules": [asdict(r) for r in outcome.rules]} if outcome is not None else None,
    }
    rules_found = [asdict(r) for r in outcome.rules] if outcome is not None else []
    application = {"candidate_id": candidate_id, "name": candidate.name, "outcome": result["outcome"], "rules": rules_found}
    await record_applications(
        services, link.tenant, link.job_id, "poster", [application | {"interview_id": interview_id, "wechat": wechat}]
    )
    await services.store.record_tenant_event(link.tenant, EventType.CANDIDATE_APPLIED, event)
    return JSONResponse(result, status_code=201, headers={"Cache-Control": "no-store"})
