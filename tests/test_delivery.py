"""Delivery signals of a spoken answer: rate, long pauses, fillers and the score they make."""

from __future__ import annotations

import pytest

from realtime_scoring.delivery import Utterance, delivery_signals


def test_english_rate_is_words_per_minute_of_speaking_time() -> None:
    # 12 words in 6 s of speech (the 1 s gap does not count) -> 120 wpm, comfortable.
    d = delivery_signals(
        [Utterance(0.0, 3.0, "We shard the orders table by customer id."), Utterance(4.0, 7.0, "Reads go to replicas.")], "en"
    )
    assert (d.speaking_s, d.units, d.rate_unit) == (6.0, 12, "wpm")
    assert d.rate_per_min == pytest.approx(120.0)
    assert d.long_pauses == () and d.fillers == ()
    assert d.score == 1.0 and d.notes == ()


def test_fast_speech_is_deducted_proportionally_and_noted() -> None:
    # 20 words in 5 s = 240 wpm: 70 over 170 is 41% over the bound, capped at 0.3.
    d = delivery_signals([Utterance(0.0, 5.0, " ".join(["word"] * 20))], "en")
    assert d.rate_per_min == pytest.approx(240.0)
    assert d.score == 0.7
    assert d.notes == ("speaking rate 240 wpm is fast (comfortable 110–170)",)
    # 10 words in 6 s = 100 wpm: 10 under 110 deducts 10/110.
    slow = delivery_signals([Utterance(0.0, 6.0, " ".join(["word"] * 10))], "en")
    assert slow.score == round(1 - 10 / 110, 3)
    assert slow.notes == ("speaking rate 100 wpm is slow (comfortable 110–170)",)


def test_gaps_at_or_over_threshold_are_long_pauses_and_each_deducts() -> None:
    utterances = [
        Utterance(0.0, 3.0, "We cache the user profile in Redis."),  # 7 words
        Utterance(4.0, 6.0, "Writes invalidate the key."),  # 4 words: gap 1.0 s, not long
        Utterance(7.5, 10.0, "Reads fall back to the database."),  # 6 words: gap exactly 1.5 s
        Utterance(13.0, 13.5, "Done."),  # gap 3.0 s
    ]
    d = delivery_signals(utterances, "en")
    assert d.long_pauses == ((6.0, 7.5), (10.0, 13.0))
    assert d.rate_per_min == pytest.approx(18 / 8 * 60)  # 135 wpm, comfortable
    assert d.score == 0.9
    assert d.notes == ("2 long pauses (≥1.5 s), longest 3.0 s",)


def test_overlapping_utterances_do_not_invent_a_pause() -> None:
    d = delivery_signals([Utterance(0.0, 10.0, "a b c"), Utterance(2.0, 3.0, "d"), Utterance(10.5, 11.0, "e")], "en")
    assert d.long_pauses == ()


def test_english_fillers_are_whole_words_and_phrases_case_insensitive() -> None:
    text = "Um, so, you know, I mean we um shard it. Uh the umbrella kind of helps; hmmm. A summary."
    d = delivery_signals([Utterance(0.0, 8.0, text)], "en")
    assert d.fillers == (("hmm", 1), ("i mean", 1), ("kind of", 1), ("uh", 1), ("um", 2), ("you know", 1))
    assert d.units == 19
    assert d.filler_ratio == pytest.approx(7 / 19)
    assert d.notes[-1] == "fillers are 37% of words (um ×2, hmm ×1, i mean ×1)"
    assert d.score == 0.7  # 142 wpm is comfortable; the filler deduction hits its 0.3 cap


def test_chinese_fillers_count_standalone_particles_and_phrases_only() -> None:
    utterances = [
        Utterance(0.0, 5.0, "嗯，我觉得啊，就是说那个数据库要建索引。"),
        Utterance(5.5, 8.0, "然后呢，金额字段要加额外的校验。"),  # 金额 and 额外 are words, not fillers
    ]
    d = delivery_signals(utterances, "zh")
    assert d.fillers == (("啊", 1), ("嗯", 1), ("就是说", 1), ("然后呢", 1), ("那个", 1))
    assert (d.units, d.rate_unit) == (31, "cpm")
    assert d.rate_per_min == pytest.approx(31 / 7.5 * 60)


def test_chinese_units_are_han_characters_plus_latin_words() -> None:
    # 我们用 + redis + 做缓存 = 6 characters and 1 word in 3 s -> 140 cpm, slow for Mandarin.
    d = delivery_signals([Utterance(0.0, 3.0, "我们用Redis做缓存")], "zh")
    assert d.units == 7
    assert d.rate_per_min == pytest.approx(140.0)
    assert d.score == round(1 - 40 / 180, 3)
    assert d.notes == ("speaking rate 140 cpm is slow (comfortable 180–300)",)


def test_no_utterances_means_no_speech_and_zero_score() -> None:
    d = delivery_signals([], "en")
    assert (d.speaking_s, d.units, d.rate_per_min, d.filler_ratio, d.score) == (0.0, 0, 0.0, 0.0, 0.0)
    assert d.long_pauses == () and d.fillers == () and d.notes == ("no speech",)


def test_score_is_clamped_to_zero_when_every_deduction_is_at_its_cap() -> None:
    many = [Utterance(float(i * 3), float(i * 3 + 1), "um uh um uh um uh um uh um uh") for i in range(8)]
    d = delivery_signals(many, "en")
    assert len(d.long_pauses) == 7
    assert d.score == pytest.approx(0.15)  # 1 - 0.3 (600 wpm) - 0.25 (pauses) - 0.3 (fillers)
    assert delivery_signals(many, "en") == d  # deterministic
