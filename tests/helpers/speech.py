"""Scoring recognised speech against what was said: word and character error rates; where the test speech is."""

from __future__ import annotations

import os
import re
from pathlib import Path

ZH_SPEECH_ENV = "INTERVIEW_ZH_SPEECH_DIR"
# Real English speech from registry packages (tests/tools/prepare_english_speech.py; scripts/test.sh puts it here).
ENGLISH_SPEECH = Path(os.environ.get("INTERVIEW_EN_SPEECH_DIR", Path(__file__).resolve().parents[2] / "data" / "test-speech" / "en"))


def hanzi(text: str) -> list[str]:
    """Chinese characters, digits and Latin letters; punctuation and spaces dropped."""
    return re.findall(r"[\u4e00-\u9fff0-9A-Za-z]", text)


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    row = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, start=1):
        diagonal, row[0] = row[0], i
        for j, h in enumerate(hypothesis, start=1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (r != h))
    return row[len(hypothesis)]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Edit distance over words, divided by the reference's length."""
    return edit_distance(words(reference), words(hypothesis)) / max(1, len(words(reference)))


def words(text: str) -> list[str]:
    """Lowercase words without punctuation; hyphens split words."""
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("-", " ")).split()
