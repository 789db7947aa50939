"""Candidates HR shares with a hiring department's business owner, and what the owner recommends.

A share names one candidate's interview or a shortlist, the owner (name, e-mail), how long the link works and how much
personal data the owner may see. The owner opens a signed, expiring link (`ShareSigner`), which works only while the
share exists and is not revoked; the link grants exactly the interviews shared, read-only, plus a recommendation each.
"""

from __future__ import annotations

import secrets
import time
from typing import Literal

import jwt
from pydantic import BaseModel, ConfigDict, Field, field_validator

AUDIENCE = "owner-review"
ALGORITHM = "HS256"
EMAIL = r"^[^@\s]{1,64}@[^@\s]{1,255}$"
MAX_SHORTLIST = 50

Recommendation = Literal["recommend", "do_not_recommend"]


class InvalidShareLink(Exception):
    """The link is forged, malformed, expired or revoked; `reason` is safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ShareRequest(BaseModel):
    """What HR sends to share a candidate (one interview) or a shortlist with a business owner."""

    model_config = ConfigDict(extra="forbid")

    interview_ids: list[str] = Field(min_length=1, max_length=MAX_SHORTLIST)
    owner_name: str = Field(min_length=1, max_length=120)
    owner_email: str = Field(pattern=EMAIL, max_length=320)
    language: Literal["zh", "en"] = Field("zh", description="The e-mail's and the page's language (the owner can switch)")
    expires_in_hours: float = Field(168, gt=0, le=24 * 30)
    show_contact: bool = Field(False, description="Let the owner see the candidate's e-mail; off, the owner sees the name only")
    message: str = Field("", max_length=2000, description="HR's note to the owner")
    shared_by: str | None = Field(None, max_length=200)

    @field_validator("interview_ids")
    @classmethod
    def _distinct(cls, ids: list[str]) -> list[str]:
        if len(set(ids)) != len(ids):
            raise ValueError("an interview is listed twice")
        return ids


class Share(BaseModel):
    """A stored share. `interview_ids` are the ones still there (an erased interview leaves every share)."""

    id: str
    tenant: str
    interview_ids: list[str]
    owner_name: str
    owner_email: str
    language: Literal["zh", "en"]
    show_contact: bool
    message: str
    shared_by: str | None
    created_at: float
    expires_at: int
    revoked_at: float | None = None
    reminded_at: list[float] = Field(default_factory=list)

    @classmethod
    def new(cls, request: ShareRequest, tenant: str) -> Share:
        now = time.time()
        return cls(
            id=secrets.token_hex(12),
            tenant=tenant,
            interview_ids=request.interview_ids,
            owner_name=request.owner_name.strip(),
            owner_email=request.owner_email.strip(),
            language=request.language,
            show_contact=request.show_contact,
            message=request.message.strip(),
            shared_by=request.shared_by,
            created_at=now,
            expires_at=int(now + request.expires_in_hours * 3600),
        )

    def usable(self, now: float | None = None) -> bool:
        return self.revoked_at is None and self.expires_at > (time.time() if now is None else now)


class RecommendationRequest(BaseModel):
    """What the business owner sends for one shared candidate."""

    model_config = ConfigDict(extra="forbid")

    recommendation: Recommendation
    comment: str = Field(min_length=1, max_length=4000)

    @field_validator("comment")
    @classmethod
    def _said_something(cls, comment: str) -> str:
        if not comment.strip():
            raise ValueError("say why, in a few words")
        return comment.strip()


class OwnerReview(BaseModel):
    """A business owner's recommendation on one interview, through one share."""

    interview_id: str
    share_id: str
    owner_name: str
    recommendation: Recommendation
    comment: str
    created_at: float


class ShareSigner:
    """Signs and checks owners' links: JWT (HS256) bound to its audience, naming the share, with the share's expiry."""

    def __init__(self, secret: str) -> None:
        if len(secret.encode()) < 32:
            raise ValueError("the link secret must be at least 32 bytes")
        self._secret = secret

    def issue(self, share: Share) -> str:
        claims = {"sub": share.id, "aud": AUDIENCE, "exp": share.expires_at, "iat": int(time.time())}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def share_id(self, token: str) -> str:
        try:
            claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM], audience=AUDIENCE, options={"require": ["sub", "exp", "aud"]})
        except jwt.ExpiredSignatureError as exc:
            raise InvalidShareLink("this link has expired; ask HR for a new one") from exc
        except jwt.PyJWTError as exc:
            raise InvalidShareLink("this link is not valid") from exc
        return str(claims["sub"])
