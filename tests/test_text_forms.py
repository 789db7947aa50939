"""Transcripts are written as their language is set: Chinese punctuation and no stray spaces in Chinese, half-width
letters and digits, and nothing that was said changed."""

from __future__ import annotations

import pytest

from realtime_scoring.text_forms import joined_text, written_for_reading


@pytest.mark.parametrize(
    ("heard", "written"),
    [
        ("大促之前,我会先做全链路压测,并且准备好降级方案.", "大促之前，我会先做全链路压测，并且准备好降级方案。"),
        ("你好?我叫李明!问题是:如何扩容;以及降级.", "你好？我叫李明！问题是：如何扩容；以及降级。"),
        ("找到系统的瓶颈 然后提前扩容", "找到系统的瓶颈然后提前扩容"),
        ("我负责ＡＰＩ设计, 做了３年", "我负责API设计，做了3年"),
    ],
)
def test_chinese_is_written_with_chinese_punctuation_and_without_spaces_between_characters(heard: str, written: str) -> None:
    assert written_for_reading(heard, "zh") == written


def test_numbers_and_latin_words_inside_chinese_keep_their_own_punctuation() -> None:
    heard = "我用Python,写了Node.js服务, 每秒1,000个请求, 会议10:30开始, 用了3.5年."
    assert written_for_reading(heard, "zh") == "我用Python，写了Node.js服务，每秒1,000个请求，会议10:30开始，用了3.5年。"
    assert written_for_reading("我的回答是 yes, 就这样", "zh") == "我的回答是 yes，就这样"
    assert written_for_reading("三年, 3年", "zh") == "三年，3年", "numbers stay as they were said"


def test_english_keeps_ascii_and_only_narrows_full_width_letters_and_digits() -> None:
    assert written_for_reading("Hello, I used Node.js for 3.5 years.", "en") == "Hello, I used Node.js for 3.5 years."
    assert written_for_reading("ＡＰＩ design, ３ years", "en") == "API design, 3 years"


def test_two_stretches_of_a_transcript_join_with_a_space_only_between_words_of_spaced_languages() -> None:
    assert joined_text("and here's the long", "pause, and I think so.") == "and here's the long pause, and I think so."
    assert joined_text("我认为良好的", "沟通最重要。") == "我认为良好的沟通最重要。"
    assert joined_text("我用了Python，", "三年。") == "我用了Python，三年。"
    assert joined_text("我用", "Python写服务") == "我用Python写服务"
    assert joined_text("", "Yes.") == "Yes." and joined_text("Yes.", "") == "Yes."
