"""Answers to candidates' chat questions from the shipped FAQ (`faq.toml`); what it cannot answer goes to HR."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from realtime_scoring.embeddings import SentenceEmbedder
from realtime_scoring.text_match import KeywordMatcher

FAQ_FILE = Path(__file__).with_name("faq.toml")
Language = Literal["en", "zh"]

# Cosine of the multilingual sentence model between a chat message and an entry's example question at which
# they are taken to ask the same thing. Measured on the shipped entries (tests/test_faq.py's questions):
# paraphrases 0.57-0.76 (en and zh), questions the FAQ does not cover (salary, parking, remote work) 0.30-0.39.
SAME_QUESTION_SIMILARITY = 0.5


@dataclass(frozen=True)
class FaqEntry:
    id: str
    keywords: dict[str, tuple[str, ...]]
    examples: dict[str, tuple[str, ...]]
    answers: dict[str, str]


@dataclass(frozen=True)
class FaqAnswer:
    entry_id: str
    text: str
    how: Literal["keyword", "meaning"]
    evidence: str  # the keyword found, or the example question it resembles


class Faq:
    """The FAQ of one node; stateless after loading, so every interview shares it (and its executor thread)."""

    def __init__(self, entries: list[FaqEntry], embedder: SentenceEmbedder | None = None) -> None:
        if not entries:
            raise ValueError("the FAQ has no entries")
        self.entries = entries
        self._embedder = embedder
        self._examples = [(entry, text) for entry in entries for lang in ("en", "zh") for text in entry.examples.get(lang, ())]
        self._example_vectors = embedder.embed([text for _, text in self._examples]) if embedder is not None else None
        self._matchers = {lang: KeywordMatcher(lang) for lang in ("en", "zh")}
        self._keywords = [(entry, [k for lang in ("en", "zh") for k in entry.keywords.get(lang, ())]) for entry in entries]
        self._all_keywords = [k for _, keywords in self._keywords for k in keywords]

    @classmethod
    def load(cls, path: Path = FAQ_FILE, embedder: SentenceEmbedder | None = None) -> Faq:
        with path.open("rb") as f:
            raw = tomllib.load(f)
        entries = []
        for item in raw.get("entry", []):
            entries.append(
                FaqEntry(
                    id=item["id"],
                    keywords={lang: tuple(words) for lang, words in item.get("keywords", {}).items()},
                    examples={lang: tuple(texts) for lang, texts in item.get("examples", {}).items()},
                    answers=dict(item["answer"]),
                )
            )
            missing = {"en", "zh"} - set(entries[-1].answers)
            if missing:
                raise ValueError(f"{path}: FAQ entry {item['id']!r} has no answer in {sorted(missing)}")
        return cls(entries, embedder)

    def answer(self, text: str, language: Language) -> FaqAnswer | None:
        """The entry that answers `text`, in `language`; keywords first (exact evidence), then meaning. Blocking."""
        # One pass over the text for every entry's keywords (the text is segmented and read as pinyin once).
        hits = {hit.keyword: hit for hit in self._matchers[language].find_all(text, self._all_keywords)}
        best: tuple[int, FaqEntry, str] | None = None
        for entry, keywords in self._keywords:
            found = [k for k in keywords if k in hits]
            if found and (best is None or len(found) > best[0]):
                best = (len(found), entry, found[0])
        if best is not None:
            return FaqAnswer(best[1].id, best[1].answers[language], "keyword", best[2])
        if self._embedder is None or self._example_vectors is None:
            return None
        vector = self._embedder.embed([text])[0]
        similarities = self._example_vectors @ vector
        index = int(np.argmax(similarities))
        if float(similarities[index]) < SAME_QUESTION_SIMILARITY:
            return None
        entry, example = self._examples[index]
        return FaqAnswer(entry.id, entry.answers[language], "meaning", example)
