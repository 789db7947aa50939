"""Question banks: questions with competency, difficulty, expected key points (zh and en) and follow-ups."""

from __future__ import annotations

import tomllib
from enum import StrEnum
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field, model_validator

from realtime_scoring.profiles import Competency, Language

Localized = dict[Language, str]


class Difficulty(StrEnum):
    FUNDAMENTAL = "fundamental"
    STANDARD = "standard"
    DEEP = "deep"

    @property
    def level(self) -> int:
        return list(Difficulty).index(self)

    @classmethod
    def at(cls, level: int) -> Difficulty:
        members = list(cls)
        return members[max(0, min(len(members) - 1, level))]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class KeyPoint(_Strict):
    """One thing a good answer says. Matched by keywords (any one), or by meaning against `text`."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$")
    text: Localized = Field(min_length=1)
    keywords: dict[Language, list[str]] = Field(default_factory=dict)
    weight: float = Field(1.0, gt=0, le=10)
    follow_up: Localized | None = None  # asked when the answer missed this point


class BankQuestion(_Strict):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    competency: Competency
    difficulty: Difficulty
    text: Localized = Field(min_length=1)
    key_points: list[KeyPoint] = Field(default_factory=list, max_length=20)
    skills: list[str] = Field(default_factory=list, max_length=20, description="job skills this question probes")
    think_seconds: int = Field(10, ge=0, le=600)
    answer_seconds: int = Field(120, ge=5, le=1800)
    end_silence_seconds: int = Field(
        8, ge=3, le=120, description="silence after the candidate has spoken (and after the think time) that ends the answer"
    )

    @model_validator(mode="after")
    def _unique_key_points(self) -> BankQuestion:
        ids = [k.id for k in self.key_points]
        if len(ids) != len(set(ids)):
            raise ValueError(f"question {self.id}: key point ids repeat")
        return self

    def supports(self, language: Language) -> bool:
        """Whether the question, its key points and follow-ups can be asked and scored in `language`."""
        return language in self.text and all(
            language in k.text and (k.follow_up is None or language in k.follow_up) for k in self.key_points
        )


class QuestionBank(_Strict):
    id: str = Field(min_length=1, max_length=64)
    title: Localized = Field(min_length=1)
    questions: list[BankQuestion] = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _unique_ids(self) -> QuestionBank:
        ids = [q.id for q in self.questions]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"question ids repeat: {', '.join(repeated)}")
        return self

    def for_language(self, language: Language) -> list[BankQuestion]:
        return [q for q in self.questions if q.supports(language)]


class QuestionBankError(ValueError):
    """A bank that cannot run an interview (unknown, empty for the language, malformed)."""


SHIPPED_PACKAGE = "realtime_scoring.question_banks"


def shipped_bank_ids() -> list[str]:
    return sorted(p.name.removesuffix(".toml") for p in resources.files(SHIPPED_PACKAGE).iterdir() if p.name.endswith(".toml"))


@cache
def shipped_bank(bank_id: str) -> QuestionBank:
    """A bank that ships with the server (`realtime_scoring/question_banks/<id>.toml`)."""
    if bank_id not in shipped_bank_ids():
        raise QuestionBankError(f"no question bank {bank_id!r}; shipped: {', '.join(shipped_bank_ids())}")
    data = tomllib.loads(resources.files(SHIPPED_PACKAGE).joinpath(f"{bank_id}.toml").read_text("utf-8"))
    return QuestionBank.model_validate(data)
