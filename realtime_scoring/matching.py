"""Match score (0–100) of a candidate against a job, with each contribution and its evidence."""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from typing import Literal

from realtime_scoring.profiles import CandidateProfile, Education, EducationLevel, JobProfile, SkillRequirement

Factor = Literal["required_skill", "preferred_skill", "experience", "education"]

REQUIRED_POINTS = 50.0
PREFERRED_POINTS = 15.0
EXPERIENCE_POINTS = 25.0
EDUCATION_POINTS = 10.0

# A skill seen only in a project or the summary is evidence of use, not of depth.
MENTION_CREDIT = 0.6
# Listed without years when the job asks for some: we cannot tell, so meet it halfway.
UNKNOWN_YEARS_CREDIT = 0.5
ONE_LEVEL_BELOW_CREDIT = 0.5
OTHER_FIELD_CREDIT = 0.75

SYNONYMS_RESOURCE = "skill_synonyms.toml"

# Between the words of a name, text may use any of these or nothing: "ci/cd" finds "CI-CD" and "cicd".
_SEPARATORS = r"[\s\-_./]*"
_SPLIT = re.compile(r"[\s\-_./]+")


def _fold(text: str) -> str:
    # NFKC first so full-width "Ｐｙｔｈｏｎ", common in Chinese resumes, reads as "python".
    return unicodedata.normalize("NFKC", text).casefold()


def _compact(text: str) -> str:
    """Casefolded letters and digits only, keeping + and # (they tell C, C++ and C# apart)."""
    return "".join(ch for ch in _fold(text) if ch in "+#" or unicodedata.category(ch)[0] in "LN")


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


@cache
def _word_pattern(form: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in _SPLIT.split(_fold(form).strip()) if w]
    # Not \b: in "熟悉Python" both sides are word characters, yet "python" is a separate word there.
    return re.compile(r"(?<![a-z0-9])" + _SEPARATORS.join(words) + r"(?![a-z0-9+#])")


def _find(text: str, forms: Iterable[str]) -> str | None:
    """The first form named in text: whole words for Latin names, substring for Chinese ones."""
    folded = _fold(text)
    compact = _compact(text)
    for form in forms:
        if any(_is_cjk(ch) for ch in form):
            # Chinese has no spaces between words, and "A/B 实验" should still find "a/b实验".
            if _compact(form) and _compact(form) in compact:
                return form
        elif _compact(form) and _word_pattern(form).search(folded):
            return form
    return None


class SkillSynonyms:
    """Canonical skill names: 'k8s' -> 'kubernetes', 'postgres' -> 'postgresql', '机器学习' -> 'machine learning'."""

    def __init__(self, table: Mapping[str, Iterable[str]], not_in_prose: Iterable[str] = ()) -> None:
        self._canonical: dict[str, str] = {}  # compact key of any name -> canonical name
        self._forms: dict[str, tuple[str, ...]] = {}  # canonical name -> itself and its aliases
        for raw_name, aliases in table.items():
            name = " ".join(_fold(raw_name).split())
            forms = (name, *(" ".join(_fold(a).split()) for a in aliases))
            for form in forms:
                key = _compact(form)
                if not key:
                    raise ValueError(f"skill name {form!r} (under {name!r}) has no letters or digits")
                owner = self._canonical.setdefault(key, name)
                if owner != name:
                    raise ValueError(f"skill alias {form!r} maps to both {owner!r} and {name!r}")
            self._forms[name] = tuple(dict.fromkeys(forms))
        self._not_in_prose = {_compact(n) for n in not_in_prose}
        unknown = sorted(n for n in self._not_in_prose if n not in self._canonical)
        if unknown:
            raise ValueError(f"not_in_prose names unknown skills: {', '.join(unknown)}")

    @classmethod
    def from_toml(cls, text: str) -> SkillSynonyms:
        data = tomllib.loads(text)
        table = data.get("synonyms")
        if not isinstance(table, dict) or not all(
            isinstance(aliases, list) and all(isinstance(a, str) for a in aliases) for aliases in table.values()
        ):
            raise ValueError("[synonyms] must map each skill name to a list of alias strings")
        not_in_prose = data.get("not_in_prose", [])
        if not isinstance(not_in_prose, list) or not all(isinstance(n, str) for n in not_in_prose):
            raise ValueError("not_in_prose must be a list of strings")
        return cls(table, not_in_prose)

    @classmethod
    def shipped(cls) -> SkillSynonyms:
        """The table in realtime_scoring/skill_synonyms.toml, loaded once per process."""
        return _shipped()

    def canonical(self, name: str) -> str:
        """The table's name for a skill; an unknown skill's key, so spelling variants still compare equal."""
        key = _compact(name)
        return self._canonical.get(key, key)

    def forms(self, name: str) -> tuple[str, ...]:
        """Every way the table writes the skill (canonical first); just the name, folded, when unknown."""
        return self._forms.get(self.canonical(name), (" ".join(_fold(name).split()),))

    def prose_forms(self, name: str) -> tuple[str, ...]:
        """The forms safe to look for in free text: not ordinary words like "go" or "excel"."""
        return tuple(f for f in self.forms(name) if _compact(f) not in self._not_in_prose)


@cache
def _shipped() -> SkillSynonyms:
    text = resources.files("realtime_scoring").joinpath(SYNONYMS_RESOURCE).read_text("utf-8")
    return SkillSynonyms.from_toml(text)


@dataclass(frozen=True, slots=True)
class MatchContribution:
    factor: Factor
    item: str  # the skill as the job names it, "years", or the education level the job asks for
    points: float
    max_points: float
    detail: str  # evidence HR can check against the resume


@dataclass(frozen=True, slots=True)
class MatchResult:
    score: float  # 0..100
    contributions: tuple[MatchContribution, ...]

    def as_dict(self) -> dict[str, object]:
        return {"score": self.score, "contributions": [asdict(c) for c in self.contributions]}


def match_score(job: JobProfile, candidate: CandidateProfile, synonyms: SkillSynonyms | None = None) -> MatchResult:
    """How well a candidate's profile meets a job's, out of 100.

    Points: required skills 50, preferred skills 15, experience 25, education 10. A job with no
    preferred skills gives their 15 to required skills (65), and one with only preferred skills gives
    them 65; a job with no skills at all scales experience and education to 100 (71.43 and 28.57).

    Each skill's share of its group is proportional to its weight. It earns the whole share when the
    candidate lists it under any synonym with at least `min_years` (unknown years meet a minimum of 0
    and earn half otherwise; known years below the minimum earn years/min_years, never under half);
    0.6 of it when it appears only in a project's skills, a project's name or description, or the
    summary (whole words, any case; Chinese names by substring; names that are everyday words, such
    as "go", only from skill lists); nothing otherwise. The best evidence counts.

    Experience earns all its points at or above `min_years_experience` (or when the job asks none),
    linearly less below. Education earns all at or above the required level, half one level below,
    none further down; when the job lists fields, a degree in another field earns 0.75 of that. The
    candidate's best degree by these rules counts.
    """
    synonyms = SkillSynonyms.shipped() if synonyms is None else synonyms
    budgets = _budgets(job)
    contributions = [
        *_skill_contributions("required_skill", job.required_skills, budgets["required_skill"], candidate, synonyms),
        *_skill_contributions("preferred_skill", job.preferred_skills, budgets["preferred_skill"], candidate, synonyms),
        _experience(job, candidate, budgets["experience"]),
        _education(job, candidate, budgets["education"], synonyms),
    ]
    total = sum(c.points for c in contributions)
    rounded = tuple(MatchContribution(c.factor, c.item, round(c.points, 2), round(c.max_points, 2), c.detail) for c in contributions)
    return MatchResult(score=round(min(100.0, max(0.0, total)), 1), contributions=rounded)


def _budgets(job: JobProfile) -> dict[Factor, float]:
    skills = REQUIRED_POINTS + PREFERRED_POINTS
    if job.required_skills and job.preferred_skills:
        required, preferred = REQUIRED_POINTS, PREFERRED_POINTS
    elif job.required_skills or job.preferred_skills:
        required, preferred = (skills, 0.0) if job.required_skills else (0.0, skills)
    else:
        scale = 100.0 / (EXPERIENCE_POINTS + EDUCATION_POINTS)
        return {
            "required_skill": 0.0,
            "preferred_skill": 0.0,
            "experience": EXPERIENCE_POINTS * scale,
            "education": EDUCATION_POINTS * scale,
        }
    return {
        "required_skill": required,
        "preferred_skill": preferred,
        "experience": EXPERIENCE_POINTS,
        "education": EDUCATION_POINTS,
    }


def _skill_contributions(
    factor: Factor, skills: Sequence[SkillRequirement], budget: float, candidate: CandidateProfile, synonyms: SkillSynonyms
) -> list[MatchContribution]:
    total_weight = sum(s.weight for s in skills)
    out = []
    for skill in skills:
        share = budget * skill.weight / total_weight
        credit, evidence = _skill_evidence(skill, candidate, synonyms)
        out.append(MatchContribution(factor, skill.name, share * credit, share, f"{skill.name}: {evidence}"))
    return out


def _skill_evidence(skill: SkillRequirement, candidate: CandidateProfile, synonyms: SkillSynonyms) -> tuple[float, str]:
    """The best (credit, evidence) the candidate's profile gives for one skill."""
    canonical = synonyms.canonical(skill.name)
    found: list[tuple[float, str]] = []

    listed = [s for s in candidate.skills if synonyms.canonical(s.name) == canonical]
    if listed:
        # Several entries can name one skill ("Kubernetes", "k8s"): the one with the most years speaks.
        best = max(listed, key=lambda s: -1.0 if s.years is None else s.years)
        found.append(_listed_credit(best.name, best.years, skill.min_years))

    for project in candidate.projects:
        named = next((s for s in project.skills if synonyms.canonical(s) == canonical), None)
        if named is not None:
            found.append((MENTION_CREDIT, f"in the skills of project '{project.name}' as '{named}'"))
            break
    prose = synonyms.prose_forms(skill.name)
    for project in candidate.projects:
        form = _find(f"{project.name}\n{project.description}", prose)
        if form is not None:
            found.append((MENTION_CREDIT, f"mentioned in project '{project.name}' ('{form}')"))
            break
    form = _find(candidate.summary, prose)
    if form is not None:
        found.append((MENTION_CREDIT, f"mentioned in the summary ('{form}')"))

    # max() keeps the first of equals, so a listing outranks a mention worth the same.
    return max(found, key=lambda f: f[0], default=(0.0, "not found"))


def _listed_credit(name: str, years: float | None, min_years: float) -> tuple[float, str]:
    if min_years == 0:
        said = "years not given" if years is None else _years(years)
        return 1.0, f"candidate lists '{name}' ({said})"
    if years is None:
        return UNKNOWN_YEARS_CREDIT, f"candidate lists '{name}' (years not given; job asks {_years(min_years)}): half credit"
    if years >= min_years:
        return 1.0, f"candidate lists '{name}' ({_years(years)}; job asks {_years(min_years)})"
    # Never below the unknown-years credit: stating a short tenure must not score worse than hiding it.
    credit = max(UNKNOWN_YEARS_CREDIT, years / min_years)
    return credit, f"candidate lists '{name}' ({_years(years)}; job asks {_years(min_years)})"


def _experience(job: JobProfile, candidate: CandidateProfile, budget: float) -> MatchContribution:
    has = candidate.years_experience
    wanted = job.min_years_experience
    if wanted == 0:
        return MatchContribution("experience", "years", budget, budget, f"job asks no minimum; candidate has {_years(has)}")
    credit = min(1.0, has / wanted)
    detail = f"candidate has {_years(has)}; job asks {_years(wanted)}"
    return MatchContribution("experience", "years", budget * credit, budget, detail)


def _education(job: JobProfile, candidate: CandidateProfile, budget: float, synonyms: SkillSynonyms) -> MatchContribution:
    degrees = candidate.education or [Education(level=EducationLevel.NONE)]
    # Highest level first, so among equally good degrees the detail names the highest.
    ranked = sorted(degrees, key=lambda e: -e.level.rank)
    credit, detail = max((_degree_credit(job, e, synonyms) for e in ranked), key=lambda c: c[0])
    return MatchContribution("education", job.education.value, budget * credit, budget, detail)


def _degree_credit(job: JobProfile, degree: Education, synonyms: SkillSynonyms) -> tuple[float, str]:
    wanted = _level(job.education)
    has = _level(degree.level) + (f" in '{degree.field}'" if degree.field else "")
    gap = job.education.rank - degree.level.rank
    if job.education == EducationLevel.NONE:
        level_credit, verdict = 1.0, "no degree required"
    elif gap <= 0:
        level_credit, verdict = 1.0, f"meets {wanted}"
    elif gap == 1:
        level_credit, verdict = ONE_LEVEL_BELOW_CREDIT, f"one level below {wanted} (half)"
    else:
        return 0.0, f"{has}: below {wanted}"

    if not job.education_fields:
        return level_credit, f"{has}: {verdict}"
    fields = ", ".join(job.education_fields)
    if degree.field and _field_matches(degree.field, job.education_fields, synonyms):
        return level_credit, f"{has}: {verdict}; field matches {fields}"
    return level_credit * OTHER_FIELD_CREDIT, f"{has}: {verdict}; field not among {fields} (0.75)"


def _field_matches(field: str, wanted: Sequence[str], synonyms: SkillSynonyms) -> bool:
    return any(synonyms.canonical(field) == synonyms.canonical(w) or _find(field, synonyms.forms(w)) is not None for w in wanted)


def _level(level: EducationLevel) -> str:
    return "no degree" if level == EducationLevel.NONE else level.value.replace("_", " ")


def _years(years: float) -> str:
    return f"{years:g} year" + ("" if years == 1 else "s")
