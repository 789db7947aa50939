"""Short-lived HR dashboard sessions: a browser trades its API key once for a signed token, so keys stay out of URLs.

The token names the key it was traded for (by a digest, never the key): once that key is rotated out, or its tenant
removed, the session ends with it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse

from server.web.auth import key_digest, presented_api_key, require_api_key
from server.web.context import services_of
from server.web.problems import Problem

AUDIENCE = "interview-hr"
ALGORITHM = "HS256"
SESSION_TTL_S = 8 * 3600


@dataclass(frozen=True)
class HrSession:
    tenant: str
    expires_at: int
    key_digest: str


class HrSessionSigner:
    """HS256 JWTs naming a tenant, audience-bound so an invite token is never taken for an HR session."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def issue(self, tenant: str, api_key: str, ttl_s: int = SESSION_TTL_S) -> tuple[str, int]:
        expires_at = int(time.time()) + ttl_s
        claims = {"sub": tenant, "aud": AUDIENCE, "exp": expires_at, "iat": int(time.time()), "kid": key_digest(api_key)}
        return jwt.encode(claims, self._secret, ALGORITHM), expires_at

    def verify(self, token: str | None, api_keys: Mapping[str, str]) -> HrSession:
        """The session of a valid token whose key still opens its tenant (`api_keys`: key -> tenant); a 401 otherwise."""
        if not token:
            raise Problem(401, "missing_token", "an HR session token is required")
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[ALGORITHM], audience=AUDIENCE, options={"require": ["sub", "exp", "aud", "kid"]}
            )
        except jwt.ExpiredSignatureError as exc:
            raise Problem(401, "session_expired", "the HR session has expired: sign in again") from exc
        except jwt.PyJWTError as exc:
            raise Problem(401, "invalid_token", "the HR session token is invalid") from exc
        session = HrSession(tenant=str(claims["sub"]), expires_at=int(claims["exp"]), key_digest=str(claims["kid"]))
        if not any(key_digest(key) == session.key_digest and tenant == session.tenant for key, tenant in api_keys.items()):
            raise Problem(401, "session_revoked", "the API key this session was opened with no longer opens its tenant: sign in again")
        return session


async def create_hr_session(request: Request) -> JSONResponse:
    """`POST /api/v1/hr/sessions` with an API key: a token for the dashboard's websocket, valid for 8 hours."""
    services = services_of(request)
    tenant = require_api_key(request.headers, services.api_keys)
    key = presented_api_key(request.headers)
    assert key is not None  # require_api_key accepted it
    token, expires_at = HrSessionSigner(services.settings.signing_key()).issue(tenant, key)
    return JSONResponse(
        {"token": token, "expires_at": expires_at, "tenant": tenant}, status_code=201, headers={"Cache-Control": "no-store"}
    )
