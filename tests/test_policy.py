"""The adaptive question policy: opening depth from the match score, then up, down or follow-up after each answer."""

from __future__ import annotations

import pytest

from realtime_scoring.matching import match_score
from realtime_scoring.policy import AnsweredQuestion, PolicyConfig, QuestionPolicy
from realtime_scoring.profiles import CandidateProfile, Competency, JobProfile
from realtime_scoring.question_bank import BankQuestion, Difficulty, QuestionBankError, shipped_bank

WEIGHTS = {Competency.SKILLS: 0.6, Competency.COMMUNICATION: 0.25, Competency.CULTURE_FIT: 0.15}

JOB = JobProfile.model_validate(
    {
        "title": "Backend engineer",
        "role": "backend_engineer",
        "language": "en",
        "required_skills": [{"name": "Python", "weight": 2}, {"name": "PostgreSQL"}, {"name": "Redis"}, {"name": "Kubernetes"}],
        "preferred_skills": [{"name": "Kafka"}],
        "min_years_experience": 3,
        "education": "bachelor",
    }
)
STRONG = CandidateProfile.model_validate(
    {
        "name": "Li Wei",
        "years_experience": 6,
        "skills": ["Python", "Postgres", "Redis", "k8s", "Kafka"],
        "education": [{"level": "master", "field": "Computer Science"}],
    }
)
WEAK = CandidateProfile.model_validate(
    {
        "name": "Sam Doe",
        "years_experience": 0,
        "skills": ["Photoshop"],
        "education": [{"level": "high_school"}],
    }
)


def question(qid: str, difficulty: str, competency: str = "skills", follow_up: bool = True) -> BankQuestion:
    point = {"id": "main", "weight": 2, "text": {"en": "The main point.", "zh": "要点。"}, "keywords": {"en": ["main"]}}
    if follow_up:
        point["follow_up"] = {"en": f"What about the main point of {qid}?", "zh": "要点呢？"}
    return BankQuestion.model_validate(
        {
            "id": qid,
            "competency": competency,
            "difficulty": difficulty,
            "text": {"en": f"{qid}?", "zh": f"{qid}？"},
            "key_points": [point, {"id": "minor", "text": {"en": "A minor point.", "zh": "次要。"}}],
        }
    )


BANK = [
    question("f1", "fundamental"),
    question("f2", "fundamental"),
    question("s1", "standard"),
    question("s2", "standard"),
    question("d1", "deep"),
    question("d2", "deep"),
    question("c1", "standard", "communication"),
    question("k1", "standard", "culture_fit"),
]


def skills_only(match: float | None, config: PolicyConfig = PolicyConfig()) -> QuestionPolicy:
    return QuestionPolicy(BANK, "en", match, {Competency.SKILLS: 1.0}, config=config)


def answered(policy: QuestionPolicy, history: list[AnsweredQuestion], score: float, missed: tuple[str, ...] = ()) -> list[AnsweredQuestion]:
    asked = policy.next(history)
    assert asked is not None
    return [*history, AnsweredQuestion(asked, score, missed)]


def test_strong_candidate_opens_with_deep_questions_and_weak_with_fundamentals() -> None:
    strong, weak = match_score(JOB, STRONG).score, match_score(JOB, WEAK).score
    assert strong >= 75 and weak < 50
    bank = shipped_bank("backend_engineer").questions
    first_strong = QuestionPolicy(bank, "en", strong, WEIGHTS).next([])
    first_weak = QuestionPolicy(bank, "en", weak, WEIGHTS).next([])
    assert first_strong.difficulty == Difficulty.DEEP and "match score" in first_strong.reason
    assert first_weak.difficulty == Difficulty.FUNDAMENTAL

    # Over a whole interview of good answers the strong candidate stays deeper.
    def levels(match: float) -> list[int]:
        policy, history = QuestionPolicy(bank, "en", match, WEIGHTS), []
        while (asked := policy.next(history)) is not None:
            history.append(AnsweredQuestion(asked, 60.0))
        return [a.question.difficulty.level for a in history]

    assert sum(levels(strong)) > sum(levels(weak))


def test_a_good_answer_moves_one_level_deeper_and_a_poor_one_back() -> None:
    policy = skills_only(60.0)
    history = answered(policy, [], 85.0)
    assert history[0].question.id == "s1"
    up = policy.next(history)
    assert up.difficulty == Difficulty.DEEP and "up to deep" in up.reason
    history = answered(policy, history, 20.0, ("main",))
    down = policy.next(history)
    # The poor answer gets its follow-up first; the level only drops for the next new question.
    assert down.follow_up_of == "d1"
    history = [*history, AnsweredQuestion(down, 50.0)]
    after = policy.next(history)
    assert after.difficulty == Difficulty.STANDARD and after.follow_up_of is None


def test_follow_up_targets_the_heaviest_missed_key_point_once() -> None:
    policy = skills_only(None)
    history = answered(policy, [], 55.0, ("minor", "main"))
    follow_up = policy.next(history)
    assert follow_up.id == "s1.follow-up.main" and follow_up.text == "What about the main point of s1?"
    assert [k.id for k in follow_up.key_points] == ["main"]
    history = [*history, AnsweredQuestion(follow_up, 30.0, ("main",))]
    assert policy.next(history).follow_up_of is None  # no follow-up on a follow-up


def test_no_follow_up_when_the_answer_was_empty_or_missed_nothing_followable() -> None:
    policy = skills_only(None)
    assert policy.next(answered(policy, [], 0.0, ())).follow_up_of is None
    assert policy.next(answered(policy, [], 50.0, ("minor",))).follow_up_of is None


def test_the_interview_ends_at_the_question_count_or_the_time_budget() -> None:
    policy = skills_only(50.0, PolicyConfig(max_questions=3, time_budget_s=600))
    history: list[AnsweredQuestion] = []
    for _ in range(3):
        history = answered(policy, history, 60.0)
    assert policy.next(history) is None
    assert skills_only(50.0, PolicyConfig(time_budget_s=600)).next(history[:1], elapsed_s=600.0) is None


def test_competencies_are_covered_in_proportion_to_the_job_weights() -> None:
    policy = QuestionPolicy(BANK, "en", 60.0, {Competency.SKILLS: 0.5, Competency.COMMUNICATION: 0.25, Competency.CULTURE_FIT: 0.25})
    history: list[AnsweredQuestion] = []
    for _ in range(4):
        history = answered(policy, history, 60.0)
    assert sorted(a.question.competency.value for a in history) == ["communication", "culture_fit", "skills", "skills"]


def test_a_bank_with_nothing_in_the_language_is_refused() -> None:
    english_only = BankQuestion.model_validate({"id": "e", "competency": "skills", "difficulty": "standard", "text": {"en": "Why?"}})
    with pytest.raises(QuestionBankError, match="no question in 'zh'"):
        QuestionPolicy([english_only], "zh", None, WEIGHTS)
