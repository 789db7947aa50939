"""Job and candidate profiles, as an HR system sends them: typed, validated on input."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Language = Literal["en", "zh"]


class EducationLevel(StrEnum):
    """Highest degree, in increasing order (`rank` compares them)."""

    NONE = "none"
    HIGH_SCHOOL = "high_school"
    ASSOCIATE = "associate"
    BACHELOR = "bachelor"
    MASTER = "master"
    DOCTORATE = "doctorate"

    @property
    def rank(self) -> int:
        return list(EducationLevel).index(self)


class Competency(StrEnum):
    """What a question probes; the report scores each."""

    SKILLS = "skills"
    COMMUNICATION = "communication"
    CULTURE_FIT = "culture_fit"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SkillRequirement(_Strict):
    name: str = Field(min_length=1, max_length=80)
    weight: float = Field(1.0, gt=0, le=10)
    min_years: float = Field(0, ge=0, le=50)


class KnockoutQuestion(_Strict):
    """A yes/no question a candidate must answer as the job requires (e.g. "Can you work in Shanghai?")."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    text: dict[Language, str] = Field(min_length=1)
    required_answer: bool = True


class ScreeningRules(_Strict):
    """Who is invited to interview for a job, declared rule by rule; an absent rule admits everyone."""

    min_education: EducationLevel | None = None
    education_fields: list[str] = Field(default_factory=list, max_length=20, description="any one of these fields")
    min_years_experience: float | None = Field(None, ge=0, le=50)
    required_skills: list[str] = Field(default_factory=list, max_length=30, description="every one, under any synonym")
    any_skills: list[str] = Field(default_factory=list, max_length=30, description="at least one, under any synonym")
    locations: list[str] = Field(default_factory=list, max_length=50, description="the candidate's location is one of these")
    languages: list[str] = Field(default_factory=list, max_length=10, description="the candidate speaks every one")
    min_match_score: float | None = Field(None, ge=0, le=100)
    knockout_questions: list[KnockoutQuestion] = Field(default_factory=list, max_length=10)
    on_pass: Literal["invite", "queue_for_hr"] = Field("queue_for_hr", description="what happens to a candidate who passes")


class JobProfile(_Strict):
    title: str = Field(min_length=1, max_length=200)
    role: str | None = Field(None, max_length=64, description="id of a shipped question bank, e.g. backend_engineer")
    language: Language = "en"
    required_skills: list[SkillRequirement] = Field(default_factory=list, max_length=50)
    preferred_skills: list[SkillRequirement] = Field(default_factory=list, max_length=50)
    min_years_experience: float = Field(0, ge=0, le=50)
    education: EducationLevel = EducationLevel.NONE
    education_fields: list[str] = Field(default_factory=list, max_length=20)
    screening: ScreeningRules | None = None
    # How much each competency weighs in the overall score; normalised when used.
    competencies: dict[Competency, Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: {Competency.SKILLS: 0.6, Competency.COMMUNICATION: 0.25, Competency.CULTURE_FIT: 0.15},
        json_schema_extra={"not": {"additionalProperties": {"const": 0}}},  # some weight above zero
    )

    @field_validator("competencies")
    @classmethod
    def _some_weight(cls, value: dict[Competency, float]) -> dict[Competency, float]:
        if any(w < 0 for w in value.values()) or sum(value.values()) <= 0:
            raise ValueError("competency weights must be non-negative and not all zero")
        return value

    @model_validator(mode="after")
    def _no_duplicate_skills(self) -> JobProfile:
        names = [s.name.casefold() for s in self.required_skills + self.preferred_skills]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"skills listed twice: {', '.join(duplicates)}")
        return self


class CandidateSkill(_Strict):
    name: str = Field(min_length=1, max_length=80)
    years: float | None = Field(None, ge=0, le=50)


class Education(_Strict):
    level: EducationLevel
    field: str | None = Field(None, max_length=120)
    institution: str | None = Field(None, max_length=200)


class Project(_Strict):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=4000)
    skills: list[str] = Field(default_factory=list, max_length=50)
    years: float | None = Field(None, ge=0, le=50)


class CandidateProfile(_Strict):
    """A candidate as an HRMS describes one: resume fields, skills, experience, projects, assessment tags."""

    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, pattern=r"^\+[1-9][0-9]{7,14}$", description="E.164, e.g. +8613800138000: SMS reminders")
    summary: str = Field("", max_length=4000)
    years_experience: float = Field(0, ge=0, le=60)
    skills: list[CandidateSkill] = Field(default_factory=list, max_length=200)
    education: list[Education] = Field(default_factory=list, max_length=20)
    projects: list[Project] = Field(default_factory=list, max_length=50)
    tags: list[str] = Field(default_factory=list, max_length=50, description="personality or assessment tags")
    location: str | None = Field(None, max_length=120)
    languages: list[str] = Field(default_factory=list, max_length=20, description="languages the candidate speaks")

    @field_validator("skills", mode="before")
    @classmethod
    def _bare_skill_names(cls, value: object) -> object:
        # HR systems often send skills as plain strings.
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    @property
    def highest_education(self) -> EducationLevel:
        return max((e.level for e in self.education), key=lambda level: level.rank, default=EducationLevel.NONE)
