"""A candidate's application to a job: how they came (a poster, an import), what the job's screening rules found, and
where HR's approval stands. Candidates the rules pass wait here, `queued`, when the job says `on_pass: queue_for_hr`;
HR invite or decline them from the job's recruiting page, and every applicant, selected or not, stays listed with
the reasons, so HR can answer for each outcome."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from realtime_scoring.profiles import CandidateProfile

ApplicationStatus = Literal["queued", "invited", "not_selected", "waiting_for_answers", "declined"]
ApplicationSource = Literal["poster", "import", "hrms"]


@dataclass(frozen=True)
class Applicant:
    """A candidate put to a job's rules: where they came from (a file's row, a request's position), their id, profile."""

    row: int
    id: str
    profile: CandidateProfile


class Application(BaseModel):
    tenant: str
    job_id: str
    candidate_id: str
    name: str
    source: ApplicationSource
    status: ApplicationStatus
    rules: list[dict[str, Any]] = Field(default_factory=list)  # each rule's outcome, what it expected and found
    interview_id: str | None = None  # once invited
    decided_by: str | None = None  # who invited or declined a queued one
    wechat: dict[str, str] | None = None  # openid, nickname, avatar_url shared on the registration page, for the interview
    created_at: float
    updated_at: float
