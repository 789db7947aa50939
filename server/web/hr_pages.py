"""The HR dashboard page; its data comes over /ws/hr and the HR API."""

from __future__ import annotations

import functools

from starlette.requests import Request
from starlette.responses import HTMLResponse

from frontend import FRONTEND_DIR


@functools.cache
def _dashboard_html() -> str:
    return (FRONTEND_DIR / "hr" / "index.html").read_text(encoding="utf-8")


async def dashboard_page(request: Request) -> HTMLResponse:
    """`/hr`: the page signs in with an API key itself, so it is served to anyone; it holds no data."""
    return HTMLResponse(
        _dashboard_html(),
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"},
    )
