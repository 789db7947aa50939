"""How an answer was spoken: speaking rate, long pauses and filler words, folded into a 0..1 delivery score with notes."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from realtime_scoring.text_match import HAN_CHAR, LATIN_WORD, jieba_tokens

COMFORTABLE_RATE = {"en": (110.0, 170.0), "zh": (180.0, 300.0)}  # units per minute
FILLER_RATIO_OK = 0.03
# Deduction caps, so no single habit sinks the score on its own.
_RATE_CAP, _PAUSE_EACH, _PAUSE_CAP, _FILLER_CAP = 0.3, 0.05, 0.25, 0.3

_EN_FILLERS = {  # drawn-out spellings ("ummm", "hmmm") count as the same filler
    "ah": r"ah+",
    "er": r"er+",
    "erm": r"erm+",
    "hmm": r"hm+",
    "i mean": r"i\s+mean",
    "kind of": r"kind\s+of",
    "sort of": r"sort\s+of",
    "uh": r"uh+",
    "um": r"um+",
    "you know": r"you\s+know",
}
_EN_FILLER_RE = {k: re.compile(rf"(?<![\w'’]){p}(?![\w'’])", re.IGNORECASE) for k, p in _EN_FILLERS.items()}
# Single characters count only as their own jieba word: 额 is a filler, 金额 is an amount.
_ZH_FILLER_CHARS = ("嗯", "呃", "额", "啊")
_ZH_FILLER_PHRASES = ("那个", "就是说", "然后呢")


@dataclass(frozen=True, slots=True)
class Utterance:
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True, slots=True)
class DeliverySignals:
    speaking_s: float  # sum of utterance durations
    units: int  # English words, or Chinese characters (Han chars + Latin words)
    rate_per_min: float  # units per minute of speaking time (0 when no speech)
    rate_unit: Literal["wpm", "cpm"]  # en: words per minute, zh: characters per minute
    long_pauses: tuple[tuple[float, float], ...]  # gaps between consecutive utterances >= long_pause_s, as (start_s, end_s)
    fillers: tuple[tuple[str, int], ...]  # filler word -> count, sorted by filler
    filler_ratio: float  # filler occurrences / units
    score: float  # 0..1, 1 = clear, steady delivery
    notes: tuple[str, ...]  # short English notes explaining score deductions


def _units(text: str, language: Literal["en", "zh"]) -> int:
    words = len(LATIN_WORD.findall(text))
    return words if language == "en" else words + len(HAN_CHAR.findall(text))


def _fillers(text: str, language: Literal["en", "zh"]) -> Counter[str]:
    if language == "en":
        return Counter({k: n for k, pattern in _EN_FILLER_RE.items() if (n := len(pattern.findall(text)))})
    counts = Counter(word for word, _, _ in jieba_tokens(text) if word in _ZH_FILLER_CHARS)
    counts.update({p: n for p in _ZH_FILLER_PHRASES if (n := text.count(p))})
    return counts


def _pauses(utterances: Sequence[Utterance], long_pause_s: float) -> tuple[tuple[float, float], ...]:
    pauses, spoken_until = [], None
    for u in sorted(utterances, key=lambda u: (u.start_s, u.end_s)):
        if spoken_until is not None and u.start_s - spoken_until >= long_pause_s:
            pauses.append((float(spoken_until), float(u.start_s)))
        # Overlapping utterances: the silence starts when the last of them ends.
        spoken_until = u.end_s if spoken_until is None else max(spoken_until, u.end_s)
    return tuple(pauses)


def delivery_signals(utterances: Sequence[Utterance], language: Literal["en", "zh"], long_pause_s: float = 1.5) -> DeliverySignals:
    """Rate, pauses and fillers of one spoken answer, and a 0..1 score that deducts for each outside its comfortable range."""
    unit: Literal["wpm", "cpm"] = "wpm" if language == "en" else "cpm"
    speaking_s = float(sum(max(0.0, u.end_s - u.start_s) for u in utterances))
    units = sum(_units(u.text, language) for u in utterances)
    pauses = _pauses(utterances, long_pause_s)
    fillers: Counter[str] = Counter()
    for u in utterances:
        fillers += _fillers(u.text, language)
    filler_count = sum(fillers.values())
    filler_ratio = filler_count / units if units else 0.0
    rate = units / (speaking_s / 60) if speaking_s > 0 and units else 0.0

    def signals(score: float, notes: list[str]) -> DeliverySignals:
        return DeliverySignals(speaking_s, units, rate, unit, pauses, tuple(sorted(fillers.items())), filler_ratio, score, tuple(notes))

    if not units or speaking_s <= 0:
        return signals(0.0, ["no speech"])

    deduction, notes = 0.0, []
    low, high = COMFORTABLE_RATE[language]
    if not low <= rate <= high:
        # Proportional to how far outside the range, relative to the bound crossed.
        bound, word = (high, "fast") if rate > high else (low, "slow")
        deduction += min(_RATE_CAP, abs(rate - bound) / bound)
        notes.append(f"speaking rate {rate:.0f} {unit} is {word} (comfortable {low:.0f}–{high:.0f})")
    if pauses:
        deduction += min(_PAUSE_CAP, _PAUSE_EACH * len(pauses))
        longest = max(b - a for a, b in pauses)
        notes.append(f"{len(pauses)} long pause{'s' if len(pauses) > 1 else ''} (≥{long_pause_s:g} s), longest {longest:.1f} s")
    if filler_ratio > FILLER_RATIO_OK:
        deduction += min(_FILLER_CAP, 3 * (filler_ratio - FILLER_RATIO_OK))
        top = ", ".join(f"{k} ×{n}" for k, n in sorted(fillers.items(), key=lambda kv: (-kv[1], kv[0]))[:3])
        notes.append(f"fillers are {filler_ratio:.0%} of {'words' if language == 'en' else 'characters'} ({top})")
    return signals(round(min(1.0, max(0.0, 1.0 - deduction)), 3), notes)
