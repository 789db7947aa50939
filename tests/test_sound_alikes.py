"""The recogniser's Mandarin is read as a reader reads it: characters that are said like a common word but are no word
become the word; words, single characters and everything not Chinese stay as written."""

from __future__ import annotations

import pytest

from realtime_scoring.sound_alikes import corrected


@pytest.mark.parametrize(
    ("heard", "meant"),
    [
        ("我们把服务签移到了云平台上", "我们把服务迁移到了云平台上"),  # qian1 yi2
        ("我们的数据酷查询很慢", "我们的数据库查询很慢"),  # ku4
        ("我写了试固报告，找到了根本原因", "我写了事故报告，找到了根本原因"),  # shi4 gu4
        ("我们团队实行轮流职班", "我们团队实行轮流值班"),  # zhi2 ban1
    ],
)
def test_characters_said_like_a_common_word_that_are_no_word_become_the_word(heard: str, meant: str) -> None:
    assert corrected(heard) == meant


@pytest.mark.parametrize(
    "written",
    [
        "超时重试要限制次数",  # 重试 is rarer than 重视 (zhong4 shi4), but a word
        "把耗时操作异步化放进消息队列",  # 异步, not 一步
        "我负责幂等和限流",
        "她们都是测试工程师",
        "您好，我叫李明，是一名后端开发工程师",
    ],
)
def test_words_are_left_as_written_however_rare(written: str) -> None:
    assert corrected(written) == written


def test_a_single_character_is_never_changed_alone() -> None:
    # 再 for 在 (both zai4) is wrong here, but only grammar tells, and a list of words has none.
    assert corrected("再上一家公司") == "再上一家公司"


def test_latin_words_digits_and_punctuation_stay_as_they_are() -> None:
    assert corrected("我用Go语言写了3年微服务，QPS到了5000。") == "我用Go语言写了3年微服务，QPS到了5000。"
    assert corrected("I migrated the service to Kubernetes.") == "I migrated the service to Kubernetes."
