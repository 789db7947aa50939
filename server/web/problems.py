"""HTTP errors as RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus

from redis.exceptions import RedisError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

PROBLEM_MEDIA_TYPE = "application/problem+json"

logger = logging.getLogger(__name__)


class Problem(Exception):
    """Raise from a handler to answer with a problem document.

    `code` is a stable machine-readable name (also the last part of `type`);
    `detail` explains this occurrence in words a developer can act on.
    """

    def __init__(self, status: int, code: str, detail: str, *, headers: Mapping[str, str] | None = None, **extra: object) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = extra


def problem_response(status: int, code: str, detail: str, headers: Mapping[str, str] | None = None, **extra: object) -> JSONResponse:
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
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
    return problem_response(exc.status_code, code, str(exc.detail), headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at this path: Starlette's own 405 names only the first route's, and one path may be
    served by several (a GET here, a POST there)."""
    allowed: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.methods and route.matches(request.scope)[0] != Match.NONE:
            allowed |= route.methods
    return sorted(allowed)


STORE_RETRY_AFTER_S = 5


async def handle_redis_error(request: Request, exc: Exception) -> Response:
    """Redis did not answer a call nothing else handled (with the Redis store: every read and write of interview data).
    Each change is one MULTI/EXEC, so it was made whole or not at all; a lost reply can hide which, hence the retry advice."""
    logger.error("%s %s: Redis error: %s", request.method, request.url.path, exc)
    return problem_response(
        503,
        "store_unavailable",
        f"the interview store (Redis) did not answer ({type(exc).__name__}); retry, with the same Idempotency-Key where the call takes one",
        {"Retry-After": str(STORE_RETRY_AFTER_S)},
    )


EXCEPTION_HANDLERS = {Problem: handle_problem, HTTPException: handle_http_exception, RedisError: handle_redis_error}
