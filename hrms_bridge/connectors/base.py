"""The one interface every ATS connector implements, and what the write-back sender gives it.

    ATS event or call ─▶ route (server/…) ─▶ interview + write-backs owed (server/storage/ats_writebacks.py)
    write-back due ─▶ WriteBackSender ─▶ connector.write_back(item, facts, call) ─▶ Outcome ─▶ done · retry · give up

A connector says how one write-back goes over its ATS's protocol: which request, signed or authorised how, and what
its answer means (an ATS that answers HTTP 200 with an error code in the body is a failure). It never decides when
to retry; the sender does, on the webhook schedule, honouring Retry-After.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import httpx

from hrms_bridge.retrying import Outcome, Send
from server.storage.ats_writebacks import WriteBack

# The sender's guarded request (only to destinations the webhook policy allows, as an Outcome, never an exception),
# with the response where there was one: a connector reads an answer's body (a token, an error code).
CallForResponse = Callable[[str, Send], Awaitable[tuple[Outcome, httpx.Response | None]]]


@dataclass(frozen=True)
class InterviewFacts:
    """What a write-back can tell an ATS about an interview, in words and numbers it can show."""

    interview_id: str
    candidate_name: str
    report_url: str  # the candidate's page in HR's workspace (signed in there)
    score: float | None  # the report's overall score, 0-100; None before the report, or when nothing could be scored
    recommendation: str | None  # "Advance", "Hold", "Reject", in words
    summary: str | None  # the report's reasons, one line
    completed_at: float | None  # when the report was written (epoch seconds)


class Connector(Protocol):
    """One ATS: `name` is what write-backs name it by."""

    name: str

    async def write_back(self, item: WriteBack, facts: InterviewFacts | None, call: CallForResponse) -> Outcome:
        """Send `item`; `facts` are its interview's (None for what is owed an ATS account, which is about none)."""
        ...
