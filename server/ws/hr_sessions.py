"""Short-lived HR dashboard sessions: a browser trades its API key once for a signed token, so keys stay out of URLs."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse

from server.web.auth import require_api_key
from server.web.context import services_of
from server.web.problems import Problem

AUDIENCE = "interview-hr"
ALGORITHM = "HS256"
SESSION_TTL_S = 8 * 3600


@dataclass(frozen=True)
class HrSession:
    tenant: str
    expires_at: int


class HrSessionSigner:
    """HS256 JWTs naming a tenant, audience-bound so an invite token is never taken for an HR session."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def issue(self, tenant: str, ttl_s: int = SESSION_TTL_S) -> tuple[str, int]:
        expires_at = int(time.time()) + ttl_s
        token = jwt.encode({"sub": tenant, "aud": AUDIENCE, "exp": expires_at, "iat": int(time.time())}, self._secret, ALGORITHM)
        return token, expires_at

    def verify(self, token: str | None) -> HrSession:
        """The session of a valid token; a 401 problem otherwise."""
        if not token:
            raise Problem(401, "missing_token", "an HR session token is required")
        try:
            claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM], audience=AUDIENCE, options={"require": ["sub", "exp", "aud"]})
        except jwt.ExpiredSignatureError as exc:
            raise Problem(401, "session_expired", "the HR session has expired: sign in again") from exc
        except jwt.PyJWTError as exc:
            raise Problem(401, "invalid_token", "the HR session token is invalid") from exc
        return HrSession(tenant=str(claims["sub"]), expires_at=int(claims["exp"]))


async def create_hr_session(request: Request) -> JSONResponse:
    """`POST /api/v1/hr/sessions` with an API key: a token for the dashboard's websocket, valid for 8 hours."""
    services = services_of(request)
    tenant = require_api_key(request.headers, services.api_keys)
    token, expires_at = HrSessionSigner(services.settings.signing_key()).issue(tenant)
    return JSONResponse(
        {"token": token, "expires_at": expires_at, "tenant": tenant}, status_code=201, headers={"Cache-Control": "no-store"}
    )
