"""Spoken closing phrases: "I'm done", "我说完了". A segment of speech that ends with one ends the candidate's turn.

Only the end of a segment counts (the VAD closes a segment at a pause), so "I'm done with the migration, then…"
goes on, while "…and that's my answer. I'm done." followed by a pause ends the answer. Matching ignores case,
punctuation, spacing and traditional characters (Whisper writes much Mandarin in them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from realtime_scoring.profiles import Language
from realtime_scoring.text_match import normalise

DEFAULT_CLOSING_PHRASES: Mapping[Language, tuple[str, ...]] = {
    "en": (
        "I'm done",
        "I am done",
        "I'm finished",
        "I am finished",
        "I have finished",
        "I've finished",
        "that's all",
        "that is all",
        "that's my answer",
        "that is my answer",
        "end of answer",
        "next question please",
    ),
    "zh": (
        "我说完了",
        "我讲完了",
        "我回答完了",
        "我答完了",
        "回答完毕",
        "我的回答完了",
        "我的回答结束了",
        "以上就是我的回答",
        "就这些",
        "下一题",
    ),
}
# What may follow a closing phrase and still end the turn: thanks, and the particles Whisper likes to add after a
# short Mandarin phrase ("我说完了你"). At most MAX_TAILS of them.
MAX_TAILS = 2
_TAILS = ("thank you very much", "thank you", "thanks", "okay", "ok", "谢谢您", "谢谢你", "谢谢", *"你呢吧啊呀哦嗯啦哈")

_NOT_WORD = re.compile(r"[^\w\u3400-\u9fff]+")


def _normalise(text: str) -> str:
    """As keywords are matched (half-width, lower case, simplified characters), with apostrophes and punctuation
    dropped and words single-spaced."""
    text = normalise(text).replace("’", "").replace("'", "")
    return " ".join(_NOT_WORD.sub(" ", text).split())


def _ends_with(text: str, phrase: str) -> bool:
    if not phrase:
        return False
    if not text.endswith(phrase):
        return False
    before = text[: len(text) - len(phrase)]
    # A whole word: "...it's done" must not match "done"; Chinese has no spaces to look for.
    return not before or before.endswith(" ") or not phrase[0].isascii() or not before[-1].isascii()


class ClosingPhrases:
    """The phrases of each language, normalised once."""

    def __init__(self, phrases: Mapping[Language, Iterable[str]] = DEFAULT_CLOSING_PHRASES) -> None:
        # Every language's phrases count in every interview: a candidate may well close in their own language.
        normalised = (_normalise(phrase) for items in phrases.values() for phrase in items)
        self._phrases = frozenset(p for p in normalised if p)

    def ends_turn(self, text: str) -> bool:
        """Whether `text` (a segment's transcript) ends with a closing phrase (and perhaps thanks after it)."""
        candidates = {_normalise(text)}
        for _ in range(MAX_TAILS):
            candidates |= {c[: len(c) - len(t)].rstrip() for c in candidates for t in _TAILS if len(c) > len(t) and _ends_with(c, t)}
        return any(_ends_with(c, phrase) for c in candidates for phrase in self._phrases)
