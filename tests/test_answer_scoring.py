"""Answer scoring with the real embedding model: key points by keyword, pinyin and meaning; relevance; delivery."""

from __future__ import annotations

import pytest

from realtime_scoring.answer_scoring import AnswerPiece, AnswerScorer
from realtime_scoring.policy import QuestionPolicy
from realtime_scoring.profiles import Competency
from realtime_scoring.question_bank import BankQuestion, shipped_bank, shipped_bank_ids

CACHE_QUESTION = BankQuestion.model_validate(
    {
        "id": "cache",
        "competency": "skills",
        "difficulty": "standard",
        "text": {
            "en": "A read-heavy service is slow. How would you use a cache to fix it?",
            "zh": "一个读多写少的服务很慢，你会怎么用缓存解决？",
        },
        "key_points": [
            {
                "id": "in_front",
                "weight": 2,
                "text": {"en": "Put a cache such as Redis in front of the database.", "zh": "在数据库前面加一层 Redis 之类的缓存。"},
                "keywords": {"en": ["redis", "cache"], "zh": ["缓存", "Redis"]},
            },
            {
                "id": "invalidation",
                "weight": 2,
                "text": {
                    "en": "Invalidate entries when data changes, or expire them with a TTL.",
                    "zh": "数据变化时让缓存失效，或者设置过期时间。",
                },
                "keywords": {"en": ["invalidate", "expire", "ttl"], "zh": ["失效", "过期", "删除缓存"]},
            },
            {
                "id": "hit_rate",
                "weight": 1,
                "text": {"en": "Measure the cache hit rate.", "zh": "监控缓存命中率。"},
                "keywords": {"en": ["hit rate", "hit ratio"], "zh": ["命中率"]},
            },
        ],
    }
)

ANSWERS = {
    "en": (
        "I would put Redis in front of the database. Entries expire after a TTL and we invalidate a key when its row changes. "
        "Then I watch the hit rate on a dashboard.",
        "I would look at the code, talk with the team and maybe buy bigger servers so that everything runs faster.",
    ),
    # The good Mandarin answer carries the recogniser's typical homophone errors (缓存→缓村, 命中率→命中绿).
    "zh": (
        "我会在数据库前面加一层 Redis 缓村，设置过期时间，数据更新的时候删除缓存，然后监控命中绿。",
        "我会先看看代码，和团队沟通一下，也许换更大的服务器，让系统跑得更快。",
    ),
}


def planned(question: BankQuestion, language: str):  # type: ignore[no-untyped-def]
    return QuestionPolicy([question], language, None, {Competency.SKILLS: 1.0})._plan(question, "test")  # type: ignore[arg-type]


@pytest.mark.parametrize("language", ["en", "zh"])
def test_an_answer_with_the_key_points_scores_clearly_higher(sentence_embedder, language: str) -> None:
    scorer = AnswerScorer(sentence_embedder)
    good_text, poor_text = ANSWERS[language]
    good = scorer.score(planned(CACHE_QUESTION, language), [AnswerPiece(good_text, 1.0, 9.0)], language, spoken=True)  # type: ignore[arg-type]
    poor = scorer.score(planned(CACHE_QUESTION, language), [AnswerPiece(poor_text, 1.0, 9.0)], language, spoken=True)  # type: ignore[arg-type]
    assert good.coverage == 1.0 and poor.coverage == 0.0
    assert good.score >= poor.score + 40, (good.score, poor.score)
    assert good.relevance > poor.relevance
    hits = {k.id: k for k in good.key_points}
    assert all(k.hit for k in hits.values())
    # Evidence: the matched words, where they are, and when they were said.
    assert hits["in_front"].snippet and hits["in_front"].matched.lower() in good_text.lower()
    assert hits["invalidation"].start_s == 1.0 and hits["invalidation"].end_s == 9.0
    if language == "zh":
        assert hits["hit_rate"].match_kind == "pinyin" and hits["hit_rate"].matched == "命中率"
    assert set(poor.missed_key_points) == {"in_front", "invalidation", "hit_rate"}


def test_a_key_point_said_in_other_words_is_found_by_meaning(sentence_embedder) -> None:
    answer = "When a row is updated we remove the matching entry so nobody reads stale data for long."
    score = AnswerScorer(sentence_embedder).score(planned(CACHE_QUESTION, "en"), [AnswerPiece(answer)], "en", spoken=False)  # type: ignore[arg-type]
    point = next(k for k in score.key_points if k.id == "invalidation")
    assert point.hit and point.how == "meaning" and point.similarity >= 0.38
    assert not next(k for k in score.key_points if k.id == "hit_rate").hit


def test_no_answer_scores_zero_and_says_so(sentence_embedder) -> None:
    score = AnswerScorer(sentence_embedder).score(planned(CACHE_QUESTION, "en"), [], "en", spoken=True)  # type: ignore[arg-type]
    assert score.score == 0.0 and score.flags == ("no_answer",) and score.delivery.notes == ("no speech",)


def test_typed_answers_are_scored_without_delivery(sentence_embedder) -> None:
    score = AnswerScorer(sentence_embedder).score(planned(CACHE_QUESTION, "en"), [AnswerPiece(ANSWERS["en"][0])], "en", spoken=False)  # type: ignore[arg-type]
    assert score.delivery is None and set(score.weights) == {"coverage", "relevance"}
    assert score.score >= 80


@pytest.mark.parametrize("bank_id", shipped_bank_ids())
@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_shipped_key_point_is_found_when_an_answer_says_its_keywords(bank_id: str, language: str) -> None:
    # The shipped banks must be answerable: saying each key point's first keyword hits exactly that point.
    scorer = AnswerScorer(None)
    for question in shipped_bank(bank_id).questions:
        for point in question.key_points:
            keyword = point.keywords[language][0]
            score = scorer.score(planned(question, language), [AnswerPiece(f"{keyword}")], language, spoken=False)  # type: ignore[arg-type]
            hit = next(k for k in score.key_points if k.id == point.id)
            assert hit.hit, (bank_id, question.id, point.id, keyword)
