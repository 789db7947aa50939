"""English numbers read as values, for key-point matching: "five years", "5 years" and "5-year" say the same amount.

The recogniser writes most English numbers in digits ("I led a team of 10", "about 20,000 users") and some in words
("two years"), and HR types key points either way; text2num reads the words ("twenty thousand" is 20000, "one point
five" is 1.5). Each unit keeps its character span, so a match still points at what the candidate said.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

from text_to_num import find_numbers

# A Latin word as key points read one (text_match.LATIN_WORD): inner dots, apostrophes and a trailing ++ or # kept.
LATIN_WORD_PATTERN = r"[0-9a-z\u00c0-\u024f]+(?:['’.][0-9a-z\u00c0-\u024f]+)*(?:\+\+|#)?"
# A number in digits (thousands grouped by commas or not, decimals), a word, a dash, or a percent sign.
_TOKEN = re.compile(
    rf"(\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+(?:\.\d+)?)(?![0-9a-z\u00c0-\u024f])|({LATIN_WORD_PATTERN})|([-~–—])|(%)",
    re.IGNORECASE,
)
_MULTIPLIERS = {"thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_RANGE_WORDS = {"to", "-", "~", "–", "—"}  # between two numbers: five to ten years, 5-10 years
TO = "to"
PERCENT = "percent"  # 30% and thirty percent alike


class NumberUnit(NamedTuple):
    key: str  # a number's value ("5", "1.5"), TO, PERCENT, or the word itself (lower-case)
    start: int
    end: int
    is_number: bool


class _Token:
    """A word as text2num's `find_numbers` reads one (its Token protocol)."""

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    def text(self) -> str:
        return self._text

    def nt_separated(self, previous: _Token) -> bool:
        return False

    def not_a_number_part(self) -> bool:
        return False


def number_key(value: float) -> str:
    """How an amount is keyed, in either language: 5 and 5.0 alike. An amount past floating point (a recogniser that
    repeats a digit hundreds of times) keys as "inf", which is no number and matches no amount."""
    if not math.isfinite(value):
        return "inf"
    return str(int(value)) if value == int(value) else repr(value)


def english_number_units(norm: str) -> list[NumberUnit]:
    """`norm` (lower-case, as text_match.normalise makes it) as words and numbers, each number one unit keyed by its
    value, whether written in digits or words; a range's "to" or dash between two numbers reads TO, a percent sign
    PERCENT, and other dashes are dropped (twenty-five is 25, load-balancer is load balancer)."""
    tokens = [(m.group(), m.start(), m.end(), m.lastindex or 0) for m in _TOKEN.finditer(norm)]
    # Cardinals only: "second" is more often time than an ordinal ("one second later"), and "first" is a word.
    spoken = {o.start: o for o in find_numbers([_Token(t[0]) for t in tokens], "en", 0.0) if not o.is_ordinal}
    units: list[NumberUnit] = []
    i = 0
    while i < len(tokens):
        text, start, end, kind = tokens[i]
        said = spoken.get(i)
        if kind == 1 or said is not None:
            value, i = (float(text.replace(",", "")), i + 1) if said is None else (said.value, said.end)
            following = spoken.get(i)  # a multiplier on its own after the number: 1.5 million, one point five million
            if following is not None and following.end == i + 1 and tokens[i][0] in _MULTIPLIERS:
                value, i = value * _MULTIPLIERS[tokens[i][0]], i + 1
            units.append(NumberUnit(number_key(value), start, tokens[i - 1][2], True))
            continue
        if text in _RANGE_WORDS and units and units[-1].is_number and _starts_number(tokens, spoken, i + 1):
            units.append(NumberUnit(TO, start, end, False))
        elif kind == 4:
            units.append(NumberUnit(PERCENT, start, end, False))
        elif kind == 2:
            units.append(NumberUnit(text.replace("’", "'"), start, end, False))
        i += 1
    return units


def _starts_number(tokens: list[tuple[str, int, int, int]], spoken: dict[int, object], i: int) -> bool:
    return i < len(tokens) and (tokens[i][3] == 1 or i in spoken)
