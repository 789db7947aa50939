"""Finds key-point keywords in a transcribed answer, with the span that says them: words by stem, Chinese by characters,
numbers whichever way they are written (三年 and 3年, 五万 and 5万, five years and 5 years) and pinyin."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Literal, NamedTuple

import cn2an
import jieba
import opencc
import snowballstemmer
from pypinyin import Style, lazy_pinyin

from realtime_scoring.english_numbers import LATIN_WORD_PATTERN, english_number_units, number_key

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
HAN_CHAR = re.compile(f"[{_HAN}]")
# Latin words keep inner dots, apostrophes and a trailing ++ or # ("node.js", "don't", "c++", "c#"), so those
# terms stay one token; hyphens and slashes split ("load-balancer" is "load balancer").
LATIN_WORD = re.compile(LATIN_WORD_PATTERN, re.IGNORECASE)
# Pinyin units: a Han run (one syllable a character), a Latin run, or any other visible character, which
# matches only itself, so a keyword never runs across a sentence break.
_UNIT = re.compile(f"([{_HAN}]+)|([0-9a-z]+)|(\\S)")
_SENTENCE_BREAK = re.compile(r"[!?;\n。！？；，…]|\.(?![0-9A-Za-z])")
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: ord(" ")}
_CN_DIGITS = "零〇一二两三四五六七八九"
# A number as a unit of the numbers view: Arabic digits (with a Chinese multiplier: 5万), or a run of Chinese numerals.
_NUMBER_UNIT = re.compile(
    f"([0-9]+(?:\\.[0-9]+)?)([万亿千百]?)|([{_CN_DIGITS}十百千万亿]+(?:点[{_CN_DIGITS}]+)?)|([{_HAN}])|([0-9a-z]+)|(\\S)"
)
_MULTIPLIERS = {"": 1, "百": 100, "千": 1000, "万": 10_000, "亿": 100_000_000}
# Chinese numerals count as a number only before a unit or measure word (三年, 两次, 五个人, 十五分钟): elsewhere they are
# parts of words (一起, 统一, 万一, 千万 "by all means", 三心二意).
_MEASURES = (*"年月天日周个次人位名岁倍层页章题项条秒点元块%", "小时", "分钟", "毫秒", "星期", "季度", "公里", "百分")
# A range between two numbers: 三到五年 is said, the recogniser writes 3-5年 (or 3~5年, 3至5年); each reads (3, 到, 5, 年).
RANGE_MARKS = "到至-~—–"
_RANGE_REST = re.compile(f"[{re.escape(RANGE_MARKS)}](?=[0-9{_CN_DIGITS}十])")  # a mark, then the second number

_stemmer = snowballstemmer.stemmer("english")
_stem_lock = threading.Lock()  # a snowball stemmer keeps state between calls


@dataclass(frozen=True, slots=True)
class KeywordHit:
    keyword: str  # the keyword as given
    how: Literal["exact", "stem", "number", "pinyin"]
    start: int  # offsets into the original answer text: text[start:end] is the matched span
    end: int


class _Unit(NamedTuple):
    key: str  # lowercase word, stem, syllable or character
    start: int
    end: int


def jieba_tokens(text: str) -> list[tuple[str, int, int]]:
    """jieba's words of text with their character offsets; loads the dictionary on first use, once per process."""
    if not jieba.dt.initialized:
        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()  # takes jieba's own lock and checks again: one load, whichever thread comes first
    return list(jieba.tokenize(text))


def load_dictionaries() -> None:
    """Load jieba's dictionary and the character converter now (half a second, blocking), so that the first
    Mandarin answer a node scores does not wait for them while its candidate waits for the next question."""
    jieba_tokens("预热")
    _t2s()


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def normalise(text: str) -> str:
    """Half-width ASCII, lower-case Latin and simplified characters, always the same length as text so offsets carry over."""
    out = text.translate(_FULL_WIDTH)
    lower = out.lower()
    out = lower if len(lower) == len(out) else "".join(c if len(c.lower()) > 1 else c.lower() for c in out)
    if HAN_CHAR.search(out):
        # Whisper sometimes writes Mandarin in traditional characters; keywords are simplified.
        simplified = _t2s().convert(out)
        if len(simplified) == len(out):
            out = simplified
    return out


@lru_cache(maxsize=8192)
def _stem(word: str) -> str:
    if not word.replace("'", "").isalpha():
        return word  # "p95", "node.js", "c++" are names, not inflected words
    with _stem_lock:
        return str(_stemmer.stemWord(word))


def _words(norm: str) -> list[_Unit]:
    return [_Unit(m.group().replace("’", "'"), m.start(), m.end()) for m in LATIN_WORD.finditer(norm)]


def _fuzzy(syllable: str) -> str:
    """A syllable with the distinctions Mandarin speakers (and the recogniser) often blur folded away: front and back
    nasals (yin/ying, shen/sheng, fan/fang) and flat and retroflex initials (zi/zhi, ci/chi, si/shi). Pinyin input
    methods offer the same "fuzzy pinyin" sets. Tones are already gone."""
    if syllable[:2] in ("zh", "ch", "sh"):
        syllable = syllable[0] + syllable[2:]
    if syllable.endswith("ng") and len(syllable) > 2:
        syllable = syllable[:-1]
    return syllable


def _syllables(norm: str) -> list[_Unit]:
    units = []
    for m in _UNIT.finditer(norm):
        if m.group(1):
            run = m.group(1)
            # Whole runs, so pypinyin reads heteronyms from their phrase (银行 hang, 行走 xing).
            pinyin = lazy_pinyin(run, style=Style.NORMAL)
            if len(pinyin) != len(run):
                pinyin = [lazy_pinyin(c, style=Style.NORMAL)[0] for c in run]
            units += [_Unit(_fuzzy(p.replace("ü", "v")), m.start() + i, m.start() + i + 1) for i, p in enumerate(pinyin)]
        else:
            units.append(_Unit(m.group(), m.start(), m.end()))
    return units


def _first_run(haystack: Sequence[_Unit], needle: Sequence[str]) -> tuple[int, int] | None:
    """The span of the first place where the needle's keys occur as a contiguous run of the haystack's units."""
    n = len(needle)
    for i in range(len(haystack) - n + 1):
        if all(haystack[i + j].key == needle[j] for j in range(n)):
            return haystack[i].start, haystack[i + n - 1].end
    return None


def _ascii_alnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


def _chinese_number(run: str) -> float | None:
    try:
        return float(cn2an.cn2an(run, "smart"))
    except (ValueError, KeyError):
        return None


def _number_units(norm: str) -> list[_Unit]:
    """Characters, Latin runs and numbers, each number one unit keyed by its value: "三年" and "3年" both read (3, 年);
    a range's mark between two numbers reads 到: "三到五年" and "3-5年" both read (3, 到, 5, 年)."""
    units: list[_Unit] = []
    for m in _NUMBER_UNIT.finditer(norm):
        digits, multiplier, chinese = m.group(1), m.group(2), m.group(3)
        if digits:
            units.append(_Unit(number_key(float(digits) * _MULTIPLIERS[multiplier]), m.start(), m.end()))
        elif chinese:
            # A numeral counts before a measure word, or as a range's first end (三 in 三到五年).
            counted = norm.startswith(_MEASURES, m.end()) or _RANGE_REST.match(norm, m.end()) is not None
            value = _chinese_number(chinese) if counted else None
            if value is None:
                units += [_Unit(c, m.start() + i, m.start() + i + 1) for i, c in enumerate(chinese)]
            else:
                units.append(_Unit(number_key(value), m.start(), m.end()))
        elif units and _is_number(units[-1]) and _RANGE_REST.match(norm, m.start()):
            units.append(_Unit("到", m.start(), m.end()))
        else:
            units.append(_Unit(m.group(), m.start(), m.end()))
    return units


def _english_numbers(norm: str) -> list[_Unit]:
    """Words by stem and numbers by value, however each number is written: "five years" and "5 year" both read
    (5, year)."""
    return [_Unit(u.key if u.is_number else _stem(u.key), u.start, u.end) for u in english_number_units(norm)]


def _is_number(unit: _Unit) -> bool:
    return unit.key[0].isdigit()


def _has_number(units: Sequence[_Unit]) -> bool:
    return any(_is_number(u) for u in units)


class _Answer:
    """One answer, normalised once; each view is built on first use and shared by all keywords."""

    def __init__(self, text: str) -> None:
        self.norm = normalise(text)

    @cached_property
    def words(self) -> list[_Unit]:
        return _words(self.norm)

    @cached_property
    def stems(self) -> list[_Unit]:
        return [_Unit(_stem(w.key), w.start, w.end) for w in self.words]

    @cached_property
    def syllables(self) -> list[_Unit]:
        return _syllables(self.norm)

    @cached_property
    def numbers(self) -> list[_Unit]:
        return _number_units(self.norm)

    @cached_property
    def english_numbers(self) -> list[_Unit]:
        return _english_numbers(self.norm)

    @cached_property
    def one_char_tokens(self) -> frozenset[int]:
        return frozenset(start for word, start, end in jieba_tokens(self.norm) if end - start == 1)


class KeywordMatcher:
    """Finds keywords in answer text for one language ("en" or "zh").

    Each keyword is matched by its own script, since answers switch language mid-sentence: a keyword with
    Han characters by characters then pinyin, a Latin keyword by words then stems, in either language.
    An exact occurrence anywhere wins over an earlier fuzzy one, as the stronger evidence.
    """

    def __init__(self, language: Literal["en", "zh"]) -> None:
        if language not in ("en", "zh"):
            raise ValueError(f"unsupported language {language!r}")
        self.language = language

    def find(self, text: str, keywords: Sequence[str]) -> KeywordHit | None:
        """The first keyword (in the order given) that the text mentions, at its first occurrence; deterministic."""
        answer = _Answer(text)
        return next((hit for keyword in keywords if (hit := self._match(answer, keyword))), None)

    def find_all(self, text: str, keywords: Sequence[str]) -> list[KeywordHit]:
        """Every keyword found, once each, in the order given."""
        answer = _Answer(text)
        unique = dict.fromkeys(keywords)
        return [hit for keyword in unique if (hit := self._match(answer, keyword))]

    def _match(self, answer: _Answer, keyword: str) -> KeywordHit | None:
        kw = normalise(keyword.strip())
        if not kw:
            return None
        found = self._han(answer, kw) if HAN_CHAR.search(kw) else self._latin(answer, kw)
        return KeywordHit(keyword, found[0], found[1], found[2]) if found else None

    @staticmethod
    def _latin(answer: _Answer, kw: str) -> tuple[Literal["exact", "stem", "number"], int, int] | None:
        words = [w.key for w in _words(kw)]
        if not words:
            return None
        if span := _first_run(answer.words, words):
            return "exact", *span
        if span := _first_run(answer.stems, [_stem(w) for w in words]):
            return "stem", *span
        numbered = _english_numbers(kw)
        if _has_number(numbered) and (span := _first_run(answer.english_numbers, [u.key for u in numbered])):
            return "number", *span  # the same amount written the other way: five years for 5 years, 20,000 for 20000
        return None

    @staticmethod
    def _han(answer: _Answer, kw: str) -> tuple[Literal["exact", "number", "pinyin"], int, int] | None:
        text, single = answer.norm, len(kw) == 1
        start = text.find(kw)
        while start >= 0:
            end = start + len(kw)
            # A Latin end of the keyword must not run on into a longer word ("sql注入" is not in "mysql注入").
            glued = (start > 0 and _ascii_alnum(kw[0]) and _ascii_alnum(text[start - 1])) or (
                end < len(text) and _ascii_alnum(kw[-1]) and _ascii_alnum(text[end])
            )
            # One character is a word only when jieba says so: 锁 is in 分布式锁, not in 锁定.
            if not glued and (not single or start in answer.one_char_tokens):
                return "exact", start, end
            start = text.find(kw, start + 1)
        numbered = _number_units(kw)
        if _has_number(numbered) and (span := _first_run(answer.numbers, [u.key for u in numbered])):
            return ("number", *span)  # the same amount written the other way: 三年 for 3年, 5万 for 五万
        syllables = [u.key for u in _syllables(kw)]
        if len(syllables) < 2:
            return None  # one syllable has dozens of homophones: too weak to count as a mention
        span = _first_run(answer.syllables, syllables)
        return ("pinyin", *span) if span else None


def sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences/clauses of an answer (split on . ! ? ; and Chinese 。！？；，, also newline), for sentence-level semantic matching; no empty spans."""
    spans, start = [], 0
    for cut in [m.start() for m in _SENTENCE_BREAK.finditer(text)] + [len(text)]:
        piece = text[start:cut]
        if re.search(r"\w", piece):
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + lead, start + len(piece.rstrip())))
        start = cut + 1
    return spans
