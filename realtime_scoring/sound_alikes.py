"""Sound-alike words: where the recogniser wrote Chinese characters that are said exactly like a common word but are no
word themselves, the word.

Whisper base hears Mandarin syllables far better than it picks their characters: on synthetic interview answers its
toneless-pinyin syllable errors were 1-3 % against 6-7 % character errors (../shared/MODELS.md), and most wrong
characters sound just like the right ones: 迁移 written 签移, 数据库 数据酷, 事故 试固, 值班 职班. A reader guesses the
word from the sound; so does this module, from how often words occur in general Chinese text (wordfreq's list, drawn
from Wikipedia, subtitles, news, books and the web), never from the interview's questions or key points.

Each run of Chinese characters is split into words along the likeliest path (the product of the words' frequencies, as
jieba splits text), except that a stretch of two to four characters that is no word may also be read as a word said
the same way: the same syllables with the same tones, as pypinyin reads the run and the word. Each character so changed
costs a factor of e**4 (55): a change is made only where the word is that much likelier per changed character. What
is left alone:
- a stretch that is a word itself, however rare (重试 is not made 重视, nor 异步 一步);
- a single character (在 or 再 needs grammar, which a list of words does not have);
- Latin words, digits and punctuation, which are outside the runs.

On the benchmark's Mandarin answers (loadtests/bench_recognition.py, 2026-12-07) this took the live transcripts' CER
from 7.27 to 6.05 % clean and from 10.25 to 9.12 % with 10 dB noise; on correct text (this product's question banks
and answers to candidates' questions, 11,000 characters) it changed 0.05 % of the characters (折中 to 折衷, 单测 to
单侧). A cost of e**3 corrects a little more and spoils more than twice as much correct text. About 100-200 µs a
character on one core of the 2-core machine; the list takes about 60 MB of memory in each process that transcribes.
"""

from __future__ import annotations

import math
import re
from functools import cache, lru_cache

import wordfreq
from pypinyin import Style, lazy_pinyin
from pypinyin.constants import PINYIN_DICT

COST_OF_A_CHANGE = 4.0  # natural log: a changed character must make its word e**4 = 55 times likelier
LONGEST_WORD = 4
_FIRST_HAN, _LAST_HAN = "\u4e00", "\u9fff"
_RUN = re.compile(f"[{_FIRST_HAN}-{_LAST_HAN}]+")
_UNSEEN = math.log(1e-9)  # a character the list lacks (its rarest words occur once in 10**8)


class _Words:
    def __init__(self) -> None:
        self.log_p: dict[str, float] = {}
        # wordfreq's list: buckets of words, the i-th occurring 10**(-i/100) of the time.
        for i, bucket in enumerate(wordfreq.get_frequency_list("zh", wordlist="large")):
            log_p = -i / 100 * math.log(10)
            for word in bucket:
                if 0 < len(word) <= LONGEST_WORD and min(word) >= _FIRST_HAN and max(word) <= _LAST_HAN:
                    self.log_p[word] = log_p
        self.prefixes = frozenset(w[:i] for w in self.log_p for i in range(1, len(w)))
        # Every reading of every character the words use, as pypinyin reads a character alone (its own dictionary, in
        # the tone-marked style this module compares in).
        by_sound: dict[str, set[str]] = {}
        for character in {c for word in self.log_p for c in word}:
            for reading in PINYIN_DICT.get(ord(character), "").split(","):
                if reading:
                    by_sound.setdefault(reading, set()).add(character)
        self.by_sound = {reading: frozenset(characters) for reading, characters in by_sound.items()}


@cache
def _words() -> _Words:
    # Two threads that come first together may both build it (half a second of a core each); each gets a whole one.
    return _Words()


def load() -> None:
    """Build the list and the characters' readings now (half a second, blocking), so that the first Mandarin
    transcript does not wait for them."""
    _words()


def corrected(text: str) -> str:
    """`text` with each run of Chinese characters read as above; the rest as it was."""
    return _RUN.sub(lambda m: _corrected_run(m.group()), text)


@lru_cache(maxsize=65_536)
def _reading(word: str) -> tuple[str, ...]:
    return tuple(lazy_pinyin(word, style=Style.TONE))


def _said_alike(readings: tuple[str, ...], start: int, words: _Words) -> list[str]:
    """Words of two to four characters said as readings[start], readings[start + 1], … are."""
    found = []
    prefixes = [""]
    for offset in range(min(LONGEST_WORD, len(readings) - start)):
        longer = []
        for prefix in prefixes:
            for character in words.by_sound.get(readings[start + offset], ()):
                candidate = prefix + character
                if candidate in words.prefixes:
                    longer.append(candidate)
                # A character's rare readings found it; the word's own reading must be the run's.
                if offset and candidate in words.log_p and _reading(candidate) == readings[start : start + offset + 1]:
                    found.append(candidate)
        prefixes = longer
        if not prefixes:
            break
    return found


# A transcript's text and its segments' texts mostly hold the same runs (a segment mostly ends where Whisper writes a
# mark), and a caption's next partial repeats most runs of the last: such a run is read once.
@lru_cache(maxsize=8192)
def _corrected_run(run: str) -> str:
    words = _words()
    readings = tuple(lazy_pinyin(run, style=Style.TONE))
    if len(readings) != len(run):
        return run
    # best[i]: the likeliest reading of run[:i], as (log-likelihood less changes' costs, where its last word starts,
    # that word).
    best: list[tuple[float, int, str]] = [(0.0, 0, "")] + [(-math.inf, 0, "")] * len(run)
    for start in range(len(run)):
        score = best[start][0]
        if score == -math.inf:
            continue
        options = [
            (run[start:end], 0)
            for end in range(start + 1, min(start + LONGEST_WORD, len(run)) + 1)
            if end == start + 1 or run[start:end] in words.log_p
        ]
        for word in _said_alike(readings, start, words):
            written = run[start : start + len(word)]
            if word != written and written not in words.log_p:
                options.append((word, sum(a != b for a, b in zip(word, written, strict=True))))
        for word, changes in options:
            candidate = score + words.log_p.get(word, _UNSEEN) - COST_OF_A_CHANGE * changes
            end = start + len(word)
            if candidate > best[end][0]:
                best[end] = (candidate, start, word)
    chosen = []
    end = len(run)
    while end:
        _, start, word = best[end]
        chosen.append(word)
        end = start
    return "".join(reversed(chosen))
