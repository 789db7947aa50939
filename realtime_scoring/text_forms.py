"""How a transcript is written for people: the forms a reader of its language expects, whatever the recogniser wrote.

Whisper writes Mandarin with ASCII punctuation ("大促之前,我会先做压测."), sometimes a space between two sentences, and
now and then letters and digits in their full-width forms (ＡＰＩ, ３年). HR read transcripts, and the report quotes them:
a Chinese transcript is written as Chinese text is set, with full-width punctuation (，。？！：；), no space between two
Chinese characters, and half-width letters and digits; English keeps ASCII. What was said is never changed: numbers
stay as the recogniser wrote them (key-point matching reads 三年 and 3年 alike, realtime_scoring/text_match.py), and so
does punctuation inside Latin words and numbers (3.5年, Node.js, 1,000, 10:30).
"""

from __future__ import annotations

import re

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Full-width digits and Latin letters, as ASCII.
_NARROW = {code: code - 0xFEE0 for code in (*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B))}
_FULL_WIDTH_MARKS = {",": "，", "?": "？", "!": "！", ":": "：", ";": "；"}
# A mark that belongs to Chinese text: after a Chinese character (spaces between), or before one, unless it sits between
# two ASCII letters or digits (1,000, 10:30, a;b).
_MARK_IN_CHINESE = re.compile(
    f"(?<=[{_HAN}])\\s*([,?!:;])|(?<![0-9A-Za-z])([,?!:;])(?=\\s*[{_HAN}])|(?<=[0-9A-Za-z])([,?!:;])\\s*(?=[{_HAN}])"
)
# A full stop after a Chinese character that ends a sentence (not 3.5 nor Node.js, which never follow one).
_FULL_STOP = re.compile(f"(?<=[{_HAN}])\\s*\\.(?![0-9A-Za-z])")
# Spaces the recogniser puts between two Chinese characters, or around a full-width mark (which has its own space).
_SPACE_IN_CHINESE = re.compile(f"(?<=[{_HAN}])\\s+(?=[{_HAN}])|(?<=[，。？！：；])\\s+|\\s+(?=[，。？！：；])")


def written_for_reading(text: str, language: str) -> str:
    """`text` in the written forms of `language` ("zh", "en"): see the module's docstring."""
    text = text.translate(_NARROW)
    if language != "zh":
        return text
    text = _MARK_IN_CHINESE.sub(lambda m: _FULL_WIDTH_MARKS[next(g for g in m.groups() if g)], text)
    text = _FULL_STOP.sub("。", text)
    return _SPACE_IN_CHINESE.sub("", text)


_CHINESE_AT_JOIN = re.compile(f"[{_HAN}，。？！：；、]")


def joined_text(first: str, second: str) -> str:
    """Two consecutive stretches of one transcript as one text: a space between them, none where either side of the
    join is Chinese (which sets none)."""
    if not first or not second:
        return first or second
    if _CHINESE_AT_JOIN.fullmatch(first[-1]) or _CHINESE_AT_JOIN.fullmatch(second[0]):
        return first + second
    return f"{first} {second}"
