"""Typed records of interviews and questions, shared by the store, the API and the websockets."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class InterviewStatus(StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=2000)
    think_seconds: int = Field(10, ge=0, le=600)
    answer_seconds: int = Field(120, ge=5, le=1800)


class InterviewSpec(BaseModel):
    """What an HR system sends to schedule an interview."""

    model_config = ConfigDict(extra="forbid")

    job_title: str = Field(min_length=1, max_length=200)
    candidate_name: str = Field(min_length=1, max_length=200)
    language: Literal["en", "zh"] | None = None  # None: detected from the first answer
    questions: list[Question] = Field(min_length=1, max_length=100)


class Interview(InterviewSpec):
    id: str
    status: InterviewStatus = InterviewStatus.SCHEDULED
    current_question: int = 0
    created_at: float
    invite_expires_at: int


DEMO_QUESTIONS = [
    Question(id="intro", text="Please introduce yourself and the project you are most proud of.", think_seconds=5),
    Question(id="design", text="How would you design a service that must answer within 100 milliseconds?"),
    Question(id="team", text="Tell us about a disagreement in your team and how you resolved it."),
]
