"""A job's screening rules applied to one candidate's profile: passed or not, with every rule's outcome and what it
found, so HR can tell a candidate (and defend to anyone) why they were or were not invited.

Skills compare under the shipped synonym table (as the match score does), locations and languages without case,
education by level and, where the rules name fields, by field; knock-out questions by the candidate's answers (a
question not answered yet is "waiting", which is neither a pass nor a fail: the candidate is asked first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from realtime_scoring.matching import SkillSynonyms, match_score
from realtime_scoring.profiles import CandidateProfile, JobProfile, ScreeningRules

Outcome = Literal["passed", "failed", "waiting"]


@dataclass(frozen=True)
class RuleOutcome:
    rule: str  # min_education, education_fields, min_years_experience, required_skills, any_skills, locations,
    # languages, min_match_score, knockout:<question id>
    outcome: Outcome
    expected: object
    found: object


@dataclass(frozen=True)
class Screening:
    outcome: Outcome  # failed if any rule failed; else waiting if any waits for an answer; else passed
    rules: list[RuleOutcome] = field(default_factory=list)


def screen(
    rules: ScreeningRules,
    job: JobProfile,
    candidate: CandidateProfile,
    answers: dict[str, bool] | None = None,
    synonyms: SkillSynonyms | None = None,
) -> Screening:
    synonyms = SkillSynonyms.shipped() if synonyms is None else synonyms
    answers = answers or {}
    results: list[RuleOutcome] = []

    def add(rule: str, passed: bool, expected: object, found: object) -> None:
        results.append(RuleOutcome(rule, "passed" if passed else "failed", expected, found))

    if rules.min_education is not None:
        held = candidate.highest_education
        add("min_education", held.rank >= rules.min_education.rank, rules.min_education.value, held.value)
    if rules.education_fields:
        wanted = {synonyms.canonical(f) for f in rules.education_fields}
        fields = [e.field for e in candidate.education if e.field]
        add("education_fields", any(synonyms.canonical(f) in wanted for f in fields), rules.education_fields, fields)
    if rules.min_years_experience is not None:
        add(
            "min_years_experience",
            candidate.years_experience >= rules.min_years_experience,
            rules.min_years_experience,
            candidate.years_experience,
        )
    listed = {synonyms.canonical(s.name): s.name for s in candidate.skills}
    if rules.required_skills:
        missing = [s for s in rules.required_skills if synonyms.canonical(s) not in listed]
        add("required_skills", not missing, rules.required_skills, {"missing": missing})
    if rules.any_skills:
        having = [s for s in rules.any_skills if synonyms.canonical(s) in listed]
        add("any_skills", bool(having), rules.any_skills, {"having": having})
    if rules.locations:
        place = (candidate.location or "").casefold()
        add("locations", place in {loc.casefold() for loc in rules.locations}, rules.locations, candidate.location)
    if rules.languages:
        spoken = {lang.casefold() for lang in candidate.languages}
        missing = [lang for lang in rules.languages if lang.casefold() not in spoken]
        add("languages", not missing, rules.languages, {"missing": missing})
    if rules.min_match_score is not None:
        score = round(match_score(job, candidate, synonyms).score, 1)
        add("min_match_score", score >= rules.min_match_score, rules.min_match_score, score)
    for question in rules.knockout_questions:
        answer = answers.get(question.id)
        if answer is None:
            results.append(RuleOutcome(f"knockout:{question.id}", "waiting", question.required_answer, None))
        else:
            add(f"knockout:{question.id}", answer == question.required_answer, question.required_answer, answer)

    outcomes = {r.outcome for r in results}
    overall: Outcome = "failed" if "failed" in outcomes else "waiting" if "waiting" in outcomes else "passed"
    return Screening(overall, results)
