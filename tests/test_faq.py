"""The FAQ answers candidates' chat questions by keyword or by meaning, in their language, and leaves the rest to HR."""

from __future__ import annotations

import pytest

from server.live.faq import Faq


@pytest.fixture(scope="module")
def faq(sentence_embedder: object) -> Faq:
    return Faq.load(embedder=sentence_embedder)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "language", "entry"),
    [
        ("Can I postpone this to Friday?", "en", "reschedule"),
        ("我想推迟到明天可以吗", "zh", "reschedule"),
        ("my mic is muted or something, nobody hears me", "en", "technical"),
        ("摄像头黑屏了怎么办", "zh", "technical"),
        ("Who can watch my recording afterwards?", "en", "privacy"),
        ("什么时候通知我结果", "zh", "results"),
    ],
)
def test_a_question_naming_a_keyword_gets_that_entry_in_the_candidates_language(faq: Faq, text: str, language: str, entry: str) -> None:
    answer = faq.answer(text, language)  # type: ignore[arg-type]
    assert answer is not None and answer.entry_id == entry and answer.how == "keyword"
    chinese = any("\u4e00" <= c <= "\u9fff" for c in answer.text)
    assert chinese == (language == "zh")


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        ("Would it be ok to do the interview next week instead?", "reschedule"),
        ("这个面试大概要多少分钟？", "duration"),
        ("Is a human going to look at my answers or only a machine?", "analysis"),
        ("我能下周再面试吗？", "reschedule"),
    ],
)
def test_a_paraphrase_without_keywords_is_matched_by_meaning(faq: Faq, text: str, entry: str) -> None:
    answer = faq.answer(text, "en")
    assert answer is not None and answer.entry_id == entry and answer.how == "meaning"


@pytest.mark.parametrize(
    "text",
    ["What is the salary for this role?", "Do you offer remote work?", "这个职位的薪资是多少？", "Is there parking at the office?"],
)
def test_a_question_the_faq_does_not_cover_gets_no_answer(faq: Faq, text: str) -> None:
    assert faq.answer(text, "en") is None


def test_without_the_embedding_model_only_keywords_answer() -> None:
    faq = Faq.load()
    assert faq.answer("Can I reschedule?", "en") is not None
    assert faq.answer("Would it be ok to do the interview next week instead?", "en") is None


def test_every_entry_answers_in_both_languages(faq: Faq) -> None:
    for entry in faq.entries:
        assert entry.answers["en"] and entry.answers["zh"], entry.id
        assert entry.keywords.get("en") and entry.keywords.get("zh"), entry.id
