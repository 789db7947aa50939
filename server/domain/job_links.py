"""Signed links to a job's self-registration page, as a recruiting poster's QR code carries them."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

AUDIENCE = "job-registration"
ALGORITHM = "HS256"
POSTER_LINK_DAYS = 180  # a printed poster hangs for months; the job's own deadline still applies when booking


class InvalidJobLink(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class JobLink:
    tenant: str
    job_id: str


class JobLinkSigner:
    def __init__(self, secret: str) -> None:
        if len(secret.encode()) < 32:
            raise ValueError("the link secret must be at least 32 bytes")
        self._secret = secret

    def issue(self, link: JobLink, days: int = POSTER_LINK_DAYS) -> str:
        now = int(time.time())
        claims = {"sub": link.job_id, "ten": link.tenant, "aud": AUDIENCE, "iat": now, "exp": now + days * 86400}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> JobLink:
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[ALGORITHM], audience=AUDIENCE, options={"require": ["sub", "ten", "exp", "aud"]}
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidJobLink("expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidJobLink("invalid") from exc
        return JobLink(tenant=str(claims["ten"]), job_id=str(claims["sub"]))
