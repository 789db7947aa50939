"""The adaptive question policy: which question comes next, from the match score and how the answers went.

A pure function of the history, so a replay (or a node taking over an interview) picks the same
questions, and every choice carries the reason the report shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from realtime_scoring.profiles import Competency, Language
from realtime_scoring.question_bank import BankQuestion, Difficulty, KeyPoint, QuestionBankError


@dataclass(frozen=True)
class PolicyConfig:
    max_questions: int = 6
    time_budget_s: float = 30 * 60
    deep_from_match: float = 75.0  # match score at which the interview opens with deep questions
    standard_from_match: float = 50.0
    harder_from_score: float = 70.0  # an answer scoring this much moves one level deeper
    easier_below_score: float = 40.0
    follow_up_below_score: float = 70.0  # ... and one under this that missed a point with a follow-up gets it
    max_follow_ups: int = 2


@dataclass(frozen=True)
class PlannedQuestion:
    """A question as asked: a bank question, or a follow-up on one of its key points."""

    id: str
    source: BankQuestion
    text: str
    difficulty: Difficulty
    competency: Competency
    key_points: tuple[KeyPoint, ...]
    think_seconds: int
    answer_seconds: int
    reason: str
    follow_up_of: str | None = None


@dataclass(frozen=True)
class AnsweredQuestion:
    """What the policy needs to know of an answer: its score (0–100) and the key points it missed."""

    question: PlannedQuestion
    score: float
    missed_key_points: tuple[str, ...] = field(default=())


class QuestionPolicy:
    def __init__(
        self,
        questions: Sequence[BankQuestion],
        language: Language,
        match_score: float | None,
        competency_weights: Mapping[Competency, float],
        job_skills: Sequence[str] = (),
        config: PolicyConfig = PolicyConfig(),
    ) -> None:
        self.questions = [q for q in questions if q.supports(language)]
        if not self.questions:
            raise QuestionBankError(f"the question bank has no question in {language!r}")
        self.language = language
        self.match_score = match_score
        total = sum(competency_weights.values())
        self.weights = {c: competency_weights.get(c, 0.0) / total for c in Competency}
        self.job_skills = {s.casefold() for s in job_skills}
        self.config = config

    def start_level(self) -> tuple[Difficulty, str]:
        c, match = self.config, self.match_score
        if match is None:
            return Difficulty.STANDARD, "no candidate profile: standard questions first"
        if match >= c.deep_from_match:
            return Difficulty.DEEP, f"match score {match:.0f} ≥ {c.deep_from_match:.0f}: deep questions first"
        if match >= c.standard_from_match:
            return Difficulty.STANDARD, f"match score {match:.0f} ≥ {c.standard_from_match:.0f}: standard questions first"
        return Difficulty.FUNDAMENTAL, f"match score {match:.0f} < {c.standard_from_match:.0f}: fundamentals first"

    def target_level(self, history: Sequence[AnsweredQuestion]) -> tuple[Difficulty, str]:
        level, reason = self.start_level()
        c = self.config
        for answered in history:
            if answered.question.follow_up_of is not None:
                continue  # follow-ups probe one point; they do not move the level
            if answered.score >= c.harder_from_score:
                moved = Difficulty.at(level.level + 1)
                reason = f"previous answer scored {answered.score:.0f} ≥ {c.harder_from_score:.0f}: " + (
                    f"up to {moved.value}" if moved != level else f"staying at {level.value}"
                )
                level = moved
            elif answered.score < c.easier_below_score:
                moved = Difficulty.at(level.level - 1)
                reason = f"previous answer scored {answered.score:.0f} < {c.easier_below_score:.0f}: " + (
                    f"down to {moved.value}" if moved != level else f"staying at {level.value}"
                )
                level = moved
            else:
                reason = f"previous answer scored {answered.score:.0f}: staying at {level.value}"
        return level, reason

    def next(self, history: Sequence[AnsweredQuestion], elapsed_s: float = 0.0) -> PlannedQuestion | None:
        """The question to ask after `history`, or None when the interview is over."""
        c = self.config
        if len(history) >= c.max_questions or elapsed_s >= c.time_budget_s:
            return None
        if history and (follow_up := self._follow_up(history)) is not None:
            return follow_up
        asked = {a.question.source.id for a in history}
        remaining = [q for q in self.questions if q.id not in asked]
        if not remaining:
            return None
        level, reason = self.target_level(history)
        competency = self._next_competency(history, {q.competency for q in remaining})
        candidates = [q for q in remaining if q.competency == competency]
        chosen = min(
            candidates,
            key=lambda q: (abs(q.difficulty.level - level.level), -len(self.job_skills.intersection(q.skills)), self.questions.index(q)),
        )
        if chosen.difficulty != level:
            reason += f" (no {level.value} {competency.value} question left: nearest is {chosen.difficulty.value})"
        return self._plan(chosen, reason)

    def _next_competency(self, history: Sequence[AnsweredQuestion], available: set[Competency]) -> Competency:
        # Largest deficit against the job's competency weights; ties go to the heavier competency.
        main = [a for a in history if a.question.follow_up_of is None]
        n = len(main) + 1
        counts = {comp: sum(1 for a in main if a.question.competency == comp) for comp in Competency}
        return max(
            sorted(available, key=lambda comp: list(Competency).index(comp)),
            key=lambda comp: (self.weights[comp] * n - counts[comp], self.weights[comp]),
        )

    def _follow_up(self, history: Sequence[AnsweredQuestion]) -> PlannedQuestion | None:
        last, c = history[-1], self.config
        if last.question.follow_up_of is not None or last.score >= c.follow_up_below_score:
            return None
        if sum(1 for a in history if a.question.follow_up_of is not None) >= c.max_follow_ups:
            return None
        if len(history) + 1 >= c.max_questions:
            return None  # keep the last slot for a new question
        missed = [k for k in last.question.key_points if k.id in last.missed_key_points and k.follow_up is not None]
        if not missed:
            return None
        point = max(missed, key=lambda k: k.weight)  # max() keeps the first of equal weights
        source = last.question.source
        assert point.follow_up is not None
        return PlannedQuestion(
            id=f"{source.id}.follow-up.{point.id}",
            source=source,
            text=point.follow_up[self.language],
            difficulty=source.difficulty,
            competency=source.competency,
            key_points=(point,),
            think_seconds=min(source.think_seconds, 10),
            answer_seconds=max(30, source.answer_seconds // 2),
            reason=f"answer to {source.id} scored {last.score:.0f} and missed key point {point.id!r}: follow-up",
            follow_up_of=source.id,
        )

    def _plan(self, question: BankQuestion, reason: str) -> PlannedQuestion:
        return PlannedQuestion(
            id=question.id,
            source=question,
            text=question.text[self.language],
            difficulty=question.difficulty,
            competency=question.competency,
            key_points=tuple(question.key_points),
            think_seconds=question.think_seconds,
            answer_seconds=question.answer_seconds,
            reason=reason,
        )
