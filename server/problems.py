"""HTTP errors as RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """Raise from a handler to answer with a problem document.

    `code` is a stable machine-readable name (also the last part of `type`);
    `detail` explains this occurrence in words a developer can act on.
    """

    def __init__(
        self, status: int, code: str, detail: str, *, headers: Mapping[str, str] | None = None, **extra: object
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = extra


def problem_response(
    status: int, code: str, detail: str, headers: Mapping[str, str] | None = None, **extra: object
) -> JSONResponse:
    body = {
        "type": f"https://interview-server.dev/problems/{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE)


async def handle_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(exc.status, exc.code, exc.detail, exc.headers, **exc.extra)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_")
    return problem_response(exc.status_code, code, str(exc.detail), exc.headers)


EXCEPTION_HANDLERS = {Problem: handle_problem, HTTPException: handle_http_exception}
