"""Spoken closing phrases end a turn only at the end of what was said, in either language, however it is written."""

from __future__ import annotations

import pytest

from realtime_scoring.closing_phrases import ClosingPhrases


@pytest.mark.parametrize(
    "text",
    [
        "I would shard by customer. I'm done.",
        "I would shard by customer, I am done",
        "So that's all!",
        "Im done",  # Whisper drops the apostrophe now and then
        "I’ve finished.",  # a typographic apostrophe
        "我会先加索引，然后看执行计划。我说完了。",
        "我會先加索引。我說完了",  # Whisper writes much Mandarin in traditional characters
        "主要就这些",
        "我说完了你",  # a syllable Whisper adds after a short Mandarin phrase
        "That's all, thank you.",
        "以上就是我的回答，谢谢。",
    ],
)
def test_a_segment_that_ends_with_a_closing_phrase_ends_the_turn(text: str) -> None:
    assert ClosingPhrases().ends_turn(text)


@pytest.mark.parametrize(
    "text",
    [
        "I'm done with the migration and then",
        "and the job was done",  # "done" alone is not a phrase
        "it is all about the index",
        "我说完了以后他又问",
        "thank you",
        "你",
        "",
    ],
)
def test_a_phrase_that_the_candidate_goes_on_from_ends_nothing(text: str) -> None:
    assert not ClosingPhrases().ends_turn(text)


def test_an_operator_sets_the_phrases_of_each_language() -> None:
    phrases = ClosingPhrases({"en": ["over to you"], "zh": ["好了"]})
    assert phrases.ends_turn("That is my answer, over to you.") and phrases.ends_turn("好了。")
    assert not phrases.ends_turn("I'm done.")
