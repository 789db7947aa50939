"""Sharing candidates with a hiring department's business owner, and the owner's side of it.

HR (API key): share one interview or a shortlist (`POST /api/v1/shares`), list an interview's shares with what each
owner recommended, revoke a share, remind its owner. The owner (the signed link alone, no account): the review page
`/r/{token}`, its data (`GET /api/v1/reviews/{token}`), and a recommendation per candidate, which HR's dashboards
hear at once and the HRMS gets as `owner_review.recorded`.
"""

from __future__ import annotations

import functools
import time

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from frontend import FRONTEND_DIR
from server.cluster.event_bus import hr_topic
from server.domain.interview import Interview
from server.domain.mail import MailNotSent
from server.domain.shares import InvalidShareLink, OwnerReview, RecommendationRequest, Share, ShareRequest, ShareSigner
from server.live.hr_messages import OwnerReviewRecorded
from server.web.audit import audit, hr_actor
from server.web.auth import require_api_key
from server.web.context import Services, services_of
from server.web.owner_mail import owner_mail
from server.web.problems import Problem
from server.web.recording_links import RecordingLinks
from server.web.request_bodies import parse
from server.web.review_document import review_document

REMIND_AGAIN_AFTER_S = 3600  # an owner gets at most one reminder an hour, however often HR clicks
PRIVATE = {"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"}


def _signer(services: Services) -> ShareSigner:
    return ShareSigner(services.settings.signing_key())


def _link(services: Services, share: Share) -> str:
    return f"{services.settings.base_url}/r/{_signer(services).issue(share)}"


async def _share_for_hr(request: Request) -> tuple[Services, Share]:
    services = services_of(request)
    tenant = require_api_key(request.headers, services.api_keys)
    share = await services.store.share(request.path_params["share_id"][:64], tenant)
    if share is None:
        raise Problem(404, "share_not_found", "no such share")
    return services, share


async def _mail(services: Services, share: Share, link: str, waiting: int, reminder: bool) -> str:
    """Send the owner `link` (or a reminder): "sent", "not_configured" (no SMTP server), or why it failed."""
    if services.mailer is None:
        return "not_configured"
    company = services.settings.company_policy(share.tenant).company_name or ""
    try:
        await services.mailer.send(owner_mail(share, link, company, waiting, reminder))
    except MailNotSent as exc:
        return f"failed: {exc.reason}"
    return "sent"


def _share_json(share: Share) -> dict[str, object]:
    return share.model_dump(mode="json", exclude={"tenant"})


async def create_share(request: Request) -> JSONResponse:
    """Share interviews with a business owner: a signed link that expires, e-mailed when an SMTP server is set."""
    services = services_of(request)
    tenant = require_api_key(request.headers, services.api_keys)
    body = parse(ShareRequest, await request.body(), "invalid_share")
    missing = [i for i in body.interview_ids if await services.store.get_interview(i, tenant) is None]
    if missing:
        raise Problem(
            422,
            "invalid_share",
            "some interviews do not exist",
            errors=[{"loc": ["interview_ids"], "msg": f"no interview {i!r}"} for i in missing],
        )
    share = Share.new(body, tenant)
    await services.store.save_share(share)
    for interview_id in share.interview_ids:
        await audit(services, tenant, interview_id, hr_actor(request), "shared", share_id=share.id, owner=share.owner_name)
    link = _link(services, share)  # once: the owner's mail and HR's answer carry the same link
    mail = await _mail(services, share, link, len(share.interview_ids), reminder=False)
    return JSONResponse({"share": _share_json(share), "link": link, "mail": mail}, status_code=201, headers=PRIVATE)


async def interview_shares(request: Request) -> JSONResponse:
    """Who an interview was shared with, whether each share still works, and what each owner recommended."""
    services = services_of(request)
    tenant = require_api_key(request.headers, services.api_keys)
    interview = await services.store.get_interview(request.path_params["interview_id"], tenant)
    if interview is None:
        raise Problem(404, "interview_not_found", "no such interview")
    reviews = await services.store.owner_reviews(interview.id)
    shares = [
        {**_share_json(s), "usable": s.usable(), "reviews": [r.model_dump(mode="json") for r in reviews if r.share_id == s.id]}
        for s in await services.store.shares_of(interview.id)
    ]
    return JSONResponse({"shares": shares}, headers=PRIVATE)


async def revoke_share(request: Request) -> Response:
    services, share = await _share_for_hr(request)
    if share.revoked_at is None:
        await services.store.save_share(share.model_copy(update={"revoked_at": time.time()}))
        for interview_id in share.interview_ids:
            await audit(services, share.tenant, interview_id, hr_actor(request), "share_revoked", share_id=share.id)
    return Response(status_code=204)


async def remind_owner(request: Request) -> JSONResponse:
    """E-mail the owner again about the candidates they have not reviewed; at most once an hour (429 before)."""
    services, share = await _share_for_hr(request)
    if not share.usable():
        raise Problem(409, "share_not_usable", "the share was revoked or has expired: share the candidates again")
    waiting = [i for i in share.interview_ids if not any(r.share_id == share.id for r in await services.store.owner_reviews(i))]
    if not waiting:
        raise Problem(409, "nothing_to_remind", "the owner has reviewed every candidate in this share")
    if services.mailer is None:
        raise Problem(409, "mail_not_configured", "no SMTP server is set (INTERVIEW_SMTP_HOST): send the link yourself")
    since = time.time() - (share.reminded_at[-1] if share.reminded_at else 0)
    if since < REMIND_AGAIN_AFTER_S:
        wait_s = int(REMIND_AGAIN_AFTER_S - since) + 1
        raise Problem(429, "reminded_recently", "the owner was reminded less than an hour ago", headers={"Retry-After": str(wait_s)})
    mail = await _mail(services, share, _link(services, share), len(waiting), reminder=True)
    if mail != "sent":
        raise Problem(502, "mail_not_sent", mail)
    reminded = share.model_copy(update={"reminded_at": [*share.reminded_at[-19:], time.time()]})
    await services.store.save_share(reminded)
    for interview_id in waiting:
        await audit(services, share.tenant, interview_id, hr_actor(request), "owner_reminded", share_id=share.id)
    return JSONResponse({"share": _share_json(reminded), "mail": mail}, status_code=202, headers=PRIVATE)


async def _share_for_owner(request: Request) -> tuple[Services, Share]:
    """The share a link opens, while it works: 401 for a forged or expired link, 410 for a revoked one."""
    services = services_of(request)
    token = request.path_params["token"]
    if len(token) > 2048:
        raise Problem(401, "invalid_link", "this link is not valid")
    try:
        share_id = _signer(services).share_id(token)
    except InvalidShareLink as exc:
        raise Problem(401, "invalid_link", exc.reason) from exc
    share = await services.store.share(share_id)
    if share is None or share.revoked_at is not None:
        raise Problem(410, "share_revoked", "HR has withdrawn this link")
    return services, share


async def _shared_interview(services: Services, share: Share, interview_id: str) -> Interview:
    interview = await services.store.get_interview(interview_id, share.tenant) if interview_id in share.interview_ids else None
    if interview is None:
        raise Problem(404, "interview_not_shared", "this candidate is not part of what was shared with you")
    return interview


async def owner_review_data(request: Request) -> JSONResponse:
    """Everything shared with the owner: each candidate's review, personal data limited as the share says."""
    services, share = await _share_for_owner(request)
    links = RecordingLinks(services.settings.signing_key())
    viewer = _owner_actor(share)
    candidates = []
    for interview_id in share.interview_ids:
        interview = await services.store.get_interview(interview_id, share.tenant)
        if interview is not None:
            candidates.append(await review_document(services.store, interview, links, "owner", viewer, share.show_contact))
            await audit(services, share.tenant, interview_id, viewer, "review_viewed")
    body = {
        "share": {
            "owner_name": share.owner_name,
            "shared_by": share.shared_by,
            "message": share.message,
            "language": share.language,
            "expires_at": share.expires_at,
            "company_name": services.settings.company_policy(share.tenant).company_name,
        },
        "candidates": candidates,
    }
    return JSONResponse(body, headers=PRIVATE)


async def record_recommendation(request: Request) -> JSONResponse:
    """The owner recommends a shared candidate or not, with a comment; the latest counts, all are kept."""
    services, share = await _share_for_owner(request)
    interview = await _shared_interview(services, share, request.path_params["interview_id"])
    body = parse(RecommendationRequest, await request.body(), "invalid_recommendation")
    review = OwnerReview(
        interview_id=interview.id,
        share_id=share.id,
        owner_name=share.owner_name,
        recommendation=body.recommendation,
        comment=body.comment,
        created_at=time.time(),
    )
    await services.store.record_owner_review(interview, review)
    await audit(services, share.tenant, interview.id, _owner_actor(share), "owner_recommended", recommendation=review.recommendation)
    message = OwnerReviewRecorded(interview_id=interview.id, review=review.model_dump(mode="json"))
    services.bus.publish(hr_topic(interview.tenant), message.model_dump(mode="json"))
    return JSONResponse(review.model_dump(mode="json"), status_code=201, headers=PRIVATE)


def _owner_actor(share: Share) -> str:
    return f"owner:{share.id}:{share.owner_name}"


@functools.cache
def _review_html() -> str:
    return (FRONTEND_DIR / "review" / "index.html").read_text(encoding="utf-8")


async def review_page(request: Request) -> HTMLResponse:
    """`/r/{token}`: the owner's page; it holds no data (it fetches it with the token) and is never cached."""
    return HTMLResponse(_review_html(), headers={**PRIVATE, "X-Frame-Options": "DENY"})
