"""Signed, expiring invite tokens that each grant access to one interview."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import jwt

AUDIENCE = "interview-invite"
ALGORITHM = "HS256"


class InvalidInvite(Exception):
    """The token is missing, forged, malformed or expired; `reason` is safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class InviteClaims:
    interview_id: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class Invite:
    """A signed invite and its short code, with the links the candidate opens."""

    token: str
    code: str
    expires_at: int
    invite_url: str
    short_url: str

    def as_dict(self) -> dict[str, object]:
        return {
            "invite_url": self.invite_url,
            "invite_token": self.token,
            "invite_expires_at": self.expires_at,
            "short_url": self.short_url,
        }


class InviteSigner:
    """Issues and checks invite tokens (JWT, HS256, audience-bound, with expiry)."""

    def __init__(self, secret: str) -> None:
        if len(secret.encode()) < 32:
            # HS256 keys shorter than the hash output weaken the signature (RFC 7518 section 3.2).
            raise ValueError("invite secret must be at least 32 bytes")
        self._secret = secret

    def issue(self, interview_id: str, expires_at: int) -> str:
        claims = {"sub": interview_id, "aud": AUDIENCE, "exp": expires_at, "iat": int(time.time())}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> InviteClaims:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                options={"require": ["sub", "exp", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidInvite("invite has expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidInvite("invite token is invalid") from exc
        return InviteClaims(interview_id=str(claims["sub"]), expires_at=int(claims["exp"]))


def make_invite(signer: InviteSigner, base_url: str, interview_id: str, expires_at: int) -> Invite:
    """A signed invite with a short link (long JWT links get cut or mangled in chat apps); nothing stored yet.

    The short code is as unguessable as the token it stands for (128 random bits, 22 characters): 48-bit codes could be
    found by trying (about 394 a second against one node)."""
    token = signer.issue(interview_id, expires_at)
    code = secrets.token_urlsafe(16)
    return Invite(token, code, expires_at, f"{base_url}/i/{token}", f"{base_url}/s/{code}")
