"""HTML pages: the candidate's invite link, a bilingual page for a link that cannot be used, the favicon."""

from __future__ import annotations

import functools
import html

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from frontend import FRONTEND_DIR
from server.domain.interview import Interview
from server.domain.invites import InvalidInvite
from server.web.booking_api import start_refusal
from server.web.context import Services, services_of
from server.web.message_page import bilingual_page


@functools.cache
def _candidate_html() -> str:
    # Read once: the page is static, and file reads do not belong on the event loop per request.
    return (FRONTEND_DIR / "candidate" / "index.html").read_text(encoding="utf-8")


async def candidate_page(request: Request) -> HTMLResponse:
    """Serve the candidate page for a valid invite, or a plain explanation for an invalid one."""
    services = services_of(request)
    try:
        claims = services.signer.verify(request.path_params["token"])
    except InvalidInvite as exc:
        return _message_page(401, "expired" if "expired" in exc.reason else "invalid")
    interview = await services.store.get_interview(claims.interview_id)
    if interview is None:
        return _message_page(404, "gone")
    # The interview's language from the first paint, so a Chinese page does not flash English before its hello.
    language = "zh-CN" if interview.language == "zh" else "en"
    if await _books_first(services, interview):
        page = _booking_html().replace(
            '<meta name="interview" content="">', f'<meta name="interview" content="{html.escape(interview.id)}">', 1
        )
    else:
        page = _candidate_html()
    page = page.replace('<html lang="en">', f'<html lang="{language}">', 1)
    return HTMLResponse(page, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


@functools.cache
def _booking_html() -> str:
    return (FRONTEND_DIR / "booking" / "index.html").read_text(encoding="utf-8")


async def _books_first(services: Services, interview: Interview) -> bool:
    """Whether the link opens the booking page instead of the interview: its job books slots and it cannot start now
    (no booked time, not yet, or the slot has passed; the page says which and lets the candidate book). Past a
    deadline the interview page itself says the time is over."""
    refusal = await start_refusal(services, interview)
    return refusal is not None and refusal.code != "after_deadline"


async def short_link(request: Request) -> Response:
    """`/s/{code}`: the short invite link (for chat apps) redirects to the full one while it is valid."""
    token = await services_of(request).store.short_link(request.path_params["code"])
    if token is None:
        return _message_page(404, "invalid")
    return RedirectResponse(f"/i/{token}", status_code=302, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


# Why a link cannot be used, in both languages: the page cannot know the candidate's language (the interview that
# would say it is unknown), so Chinese and English stand side by side, each marked with its language.
_WHY = {
    "expired": ("此面试链接已过期。", "This interview link has expired."),
    "invalid": ("此面试链接无效，可能复制不完整。", "This interview link is not valid. It may have been copied incompletely."),
    "gone": ("此面试已不存在。", "This interview no longer exists."),
}


def _message_page(status: int, why: str) -> HTMLResponse:
    zh, en = _WHY[why]
    return bilingual_page(
        status,
        ("面试链接无法使用", f"{zh}请联系邀请您的公司，获取新的链接。"),
        ("This interview link cannot be used", f"{en} Please ask the company that invited you for a new link."),
    )


async def favicon(request: Request) -> Response:
    return FileResponse(FRONTEND_DIR / "favicon.svg", media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})
