"""HTML pages: the candidate's invite link."""

from __future__ import annotations

import functools
import html

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from frontend import FRONTEND_DIR
from server.domain.invites import InvalidInvite
from server.web.context import services_of


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
        return _message_page(401, "This interview link cannot be used", exc.reason)
    interview = await services.store.get_interview(claims.interview_id)
    if interview is None:
        return _message_page(404, "Interview not found", "This interview no longer exists.")
    # The interview's language from the first paint, so a Chinese page does not flash English before its hello.
    language = "zh-CN" if interview.language == "zh" else "en"
    page = _candidate_html().replace('<html lang="en">', f'<html lang="{language}">', 1)
    return HTMLResponse(page, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


async def short_link(request: Request) -> Response:
    """`/s/{code}`: the short invite link (for chat apps) redirects to the full one while it is valid."""
    token = await services_of(request).store.short_link(request.path_params["code"])
    if token is None:
        return _message_page(404, "This interview link cannot be used", "The link is unknown or has expired.")
    return RedirectResponse(f"/i/{token}", status_code=302, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


def _message_page(status: int, title: str, detail: str) -> HTMLResponse:
    body = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(detail)}</p>"
        "<p>Please ask the company for a new link.</p></body></html>"
    )
    return HTMLResponse(body, status_code=status)
