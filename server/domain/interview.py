"""Typed records of interviews and questions, shared by the store, the API and the websockets."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from realtime_scoring.profiles import CandidateProfile, JobProfile, Language
from realtime_scoring.question_bank import BankQuestion, QuestionBankError, shipped_bank

InterviewMode = Literal["video", "voice", "text"]


# The tenant of a node without INTERVIEW_TENANTS, and of everything written before tenants existed.
DEFAULT_TENANT = "default"


class InterviewStatus(StrEnum):
    """Where an interview is, from the HR system's request to HR's decision. `TRANSITIONS` says what may follow what.

    scheduled    invited; the candidate has not started (media connected, or a text interview's page ready)
    in_progress  questions are being asked and answered
    completed    the last answer closed; the report is written
    abandoned    started, then left unfinished for longer than the node's `abandon_after_s`
    cancelled    the HR system cancelled it before it ended
    no_show      the candidate booked a time and did not join before it was over (the job may invite them once more:
                 then it is scheduled again; HR may reschedule it, cancel it, or reject the candidate)
    decided      HR advanced or rejected the candidate (a completed, abandoned or missed interview; a later decision
                 replaces it, and every decision stays in the history)
    """

    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"
    DECIDED = "decided"
    NO_SHOW = "no_show"


TRANSITIONS: dict[InterviewStatus, frozenset[InterviewStatus]] = {
    InterviewStatus.SCHEDULED: frozenset({InterviewStatus.IN_PROGRESS, InterviewStatus.CANCELLED, InterviewStatus.NO_SHOW}),
    InterviewStatus.NO_SHOW: frozenset({InterviewStatus.SCHEDULED, InterviewStatus.CANCELLED, InterviewStatus.DECIDED}),
    InterviewStatus.IN_PROGRESS: frozenset({InterviewStatus.COMPLETED, InterviewStatus.ABANDONED, InterviewStatus.CANCELLED}),
    InterviewStatus.COMPLETED: frozenset({InterviewStatus.DECIDED}),
    InterviewStatus.ABANDONED: frozenset({InterviewStatus.DECIDED}),
    InterviewStatus.DECIDED: frozenset({InterviewStatus.DECIDED}),
    InterviewStatus.CANCELLED: frozenset(),
}

# An interview in one of these takes no more answers, media or questions (a missed one, until it is rescheduled).
CLOSED_STATUSES = (
    InterviewStatus.COMPLETED,
    InterviewStatus.CANCELLED,
    InterviewStatus.ABANDONED,
    InterviewStatus.DECIDED,
    InterviewStatus.NO_SHOW,
)
# HR's decisions that close the hiring question for this interview (hold and sending to the owner do not).
FINAL_DECISIONS = frozenset({"advance", "reject"})


def may_follow(before: InterviewStatus, after: InterviewStatus) -> bool:
    return after in TRANSITIONS[before]


def status_for_candidate(status: InterviewStatus) -> InterviewStatus:
    """What the candidate's page is told: HR's decision is never shown there, only that the interview is over."""
    return InterviewStatus.COMPLETED if status == InterviewStatus.DECIDED else status


class Question(BaseModel):
    """A question as the candidate's page shows it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=160)
    text: str = Field(min_length=1, max_length=2000)
    think_seconds: int = Field(10, ge=0, le=600)
    answer_seconds: int = Field(120, ge=5, le=1800)
    competency: str | None = None
    difficulty: str | None = None
    follow_up: bool = False


class InterviewSpec(BaseModel):
    """What an HR system sends to schedule an interview: the job, the candidate, and how to interview."""

    model_config = ConfigDict(extra="forbid")

    job: JobProfile
    candidate: CandidateProfile
    mode: InterviewMode = "video"
    # The job's own questions; without them the shipped bank for `job.role` is used.
    question_bank: list[BankQuestion] | None = Field(None, max_length=500)
    max_questions: int = Field(6, ge=1, le=50)
    time_budget_minutes: float = Field(30, gt=0, le=240)
    candidate_sees_result: bool = Field(False, description="Show the candidate their own scores and suggestions at the end")

    @model_validator(mode="after")
    def _has_questions(self) -> InterviewSpec:
        questions = self.questions()  # raises with a clear message when there are none to ask
        ids = [q.id for q in questions]
        if len(ids) != len(set(ids)):
            raise ValueError("question_bank: question ids repeat")
        return self

    @property
    def language(self) -> Language:
        return self.job.language

    def questions(self) -> list[BankQuestion]:
        """The bank this interview draws from, in the job's language."""
        if self.question_bank is not None:
            bank = self.question_bank
            source = "question_bank"
        elif self.job.role is not None:
            try:
                bank = shipped_bank(self.job.role).questions
            except QuestionBankError as exc:
                raise ValueError(str(exc)) from exc
            source = f"the shipped {self.job.role!r} bank"
        else:
            raise ValueError("no questions: send a question_bank or a job.role with a shipped bank")
        usable = [q for q in bank if q.supports(self.language)]
        if not usable:
            raise ValueError(f"{source} has no question in the job's language {self.language!r}")
        return usable


class Interview(InterviewSpec):
    id: str
    tenant: str = "default"
    job_id: str | None = None  # when scheduled from stored profiles
    candidate_id: str | None = None
    status: InterviewStatus = InterviewStatus.SCHEDULED
    current_question: int = 0  # answers closed so far
    question_asked_at: float | None = None  # epoch seconds when the current question went out
    created_at: float
    invite_expires_at: int


def demo_spec() -> InterviewSpec:
    """The interview `serve` schedules on an empty store, to try the product."""
    return InterviewSpec(
        job=JobProfile(
            title="Backend engineer (demo)",
            role="backend_engineer",
            required_skills=[{"name": "Python", "weight": 2}, {"name": "PostgreSQL"}, {"name": "Redis"}],
            min_years_experience=3,
        ),
        candidate=CandidateProfile(name="Demo candidate", skills=["Python", "Postgres"], years_experience=4),
        max_questions=4,
    )
