"""Short-lived links to one recording file, for a `<video>` element, which cannot send an API key header.

A page that may see an interview (HR with a session, a business owner through a share) is handed these links with the
rest of the review; each names one file of one interview and works for `LINK_TTL_S`, so a link copied out of the page
or left in a history stops working soon, and a revoked share stops getting new ones.
"""

from __future__ import annotations

import time

import jwt

AUDIENCE = "interview-recording"
ALGORITHM = "HS256"
LINK_TTL_S = 30 * 60


class RecordingLinks:
    def __init__(self, secret: str) -> None:
        self._secret = secret

    def url(self, interview_id: str, name: str, ttl_s: int = LINK_TTL_S) -> str:
        claims = {"sub": interview_id, "file": name, "aud": AUDIENCE, "exp": int(time.time()) + ttl_s}
        token = jwt.encode(claims, self._secret, ALGORITHM)
        return f"/api/v1/interviews/{interview_id}/recordings/{name}?access={token}"

    def allows(self, token: str, interview_id: str, name: str) -> bool:
        try:
            claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM], audience=AUDIENCE, options={"require": ["sub", "exp", "aud"]})
        except jwt.PyJWTError:
            return False
        return claims.get("sub") == interview_id and claims.get("file") == name
