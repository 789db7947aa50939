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

    def url(self, interview_id: str, name: str, viewer: str, ttl_s: int = LINK_TTL_S) -> str:
        """`viewer`: who the link was given to, as the audit trail names them (each fetch is logged as theirs)."""
        claims = {"sub": interview_id, "file": name, "by": viewer, "aud": AUDIENCE, "exp": int(time.time()) + ttl_s}
        token = jwt.encode(claims, self._secret, ALGORITHM)
        return f"/api/v1/interviews/{interview_id}/recordings/{name}?access={token}"

    def viewer(self, token: str, interview_id: str, name: str) -> str | None:
        """Who the link was given to, if it is a valid link to this file; None otherwise."""
        try:
            claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM], audience=AUDIENCE, options={"require": ["sub", "exp", "aud"]})
        except jwt.PyJWTError:
            return None
        if claims.get("sub") != interview_id or claims.get("file") != name:
            return None
        return str(claims.get("by", "unknown"))
