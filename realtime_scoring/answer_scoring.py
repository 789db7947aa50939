"""Scores one answer: key-point coverage, relevance by meaning, and delivery, each with its evidence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from realtime_scoring.delivery import DeliverySignals, Utterance, delivery_signals
from realtime_scoring.embeddings import SentenceEmbedder
from realtime_scoring.policy import PlannedQuestion
from realtime_scoring.profiles import Language
from realtime_scoring.text_match import KeywordMatcher, sentences


@dataclass(frozen=True)
class ScoringConfig:
    # A key point counts as made when one sentence of the answer says it in other words this closely. Measured on
    # the multilingual USE: paraphrases of a key point 0.34–0.45 (en and zh alike), on-topic sentences that miss
    # the point 0.10–0.25, unrelated ones -0.05–0.10.
    key_point_similarity: float = 0.38
    # Cosine of the whole answer to the question and its points, mapped linearly onto 0..1 between these
    # (on-topic answers measured 0.40–0.45, half-relevant ones ~0.27, off-topic ones ~0.0).
    relevance_floor: float = 0.05
    relevance_full: float = 0.45
    spoken_weights: tuple[float, float, float] = (0.6, 0.25, 0.15)  # coverage, relevance, delivery
    text_weights: tuple[float, float] = (0.7, 0.3)  # coverage, relevance
    short_answer_units: int = 8


@dataclass(frozen=True)
class AnswerPiece:
    """Part of an answer: an utterance's final transcript (with media times) or typed text (no times)."""

    text: str
    start_s: float | None = None
    end_s: float | None = None


@dataclass(frozen=True)
class KeyPointResult:
    id: str
    text: str
    weight: float
    hit: bool
    how: str | None  # "keyword" or "meaning"
    matched: str | None  # the keyword, or the sentence of the answer that said it
    match_kind: str | None  # exact / stem / number / pinyin for keywords
    similarity: float  # best sentence cosine (evidence even when below the threshold)
    snippet: str | None  # the answer text around the hit
    start_s: float | None  # media time of the utterance holding the hit
    end_s: float | None

    def as_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class AnswerScore:
    score: float  # 0..100
    coverage: float | None  # weighted share of key points made
    relevance: float | None  # 0..1
    relevance_cosine: float | None
    delivery: DeliverySignals | None
    weights: dict[str, float]
    key_points: tuple[KeyPointResult, ...]
    flags: tuple[str, ...]
    text: str

    @property
    def missed_key_points(self) -> tuple[str, ...]:
        return tuple(k.id for k in self.key_points if not k.hit)


class AnswerScorer:
    """Stateless; one per process. Blocking (embeddings run here): call it off the event loop."""

    def __init__(self, embedder: SentenceEmbedder | None, config: ScoringConfig = ScoringConfig()) -> None:
        self.embedder = embedder
        self.config = config

    def score(self, question: PlannedQuestion, pieces: Sequence[AnswerPiece], language: Language, spoken: bool) -> AnswerScore:
        c = self.config
        joiner = "" if language == "zh" else " "
        texts = [p.text.strip() for p in pieces if p.text.strip()]
        text = joiner.join(texts)
        offsets, position = [], 0
        for piece_text in texts:
            offsets.append(position)
            position += len(piece_text) + len(joiner)
        timed = [p for p in pieces if p.text.strip()]

        def times_at(char: int) -> tuple[float | None, float | None]:
            index = max(i for i, start in enumerate(offsets) if start <= char) if offsets else 0
            return (timed[index].start_s, timed[index].end_s) if timed else (None, None)

        delivery = None
        if spoken:
            utterances = [Utterance(p.start_s, p.end_s, p.text) for p in timed if p.start_s is not None and p.end_s is not None]
            delivery = delivery_signals(utterances, language)
        if not text:
            return AnswerScore(
                0.0,
                0.0 if question.key_points else None,
                0.0,
                None,
                delivery,
                {},
                tuple(
                    KeyPointResult(
                        k.id, k.text.get(language, next(iter(k.text.values()))), k.weight, False, None, None, None, 0.0, None, None, None
                    )
                    for k in question.key_points
                ),
                ("no_answer",),
                "",
            )

        spans = sentences(text) or [(0, len(text))]
        sentence_texts = [text[a:b] for a, b in spans]
        reference = " ".join([question.text] + [k.text.get(language, next(iter(k.text.values()))) for k in question.key_points])
        point_texts = [k.text.get(language, next(iter(k.text.values()))) for k in question.key_points]
        similarity = np.zeros((len(point_texts), len(sentence_texts)), dtype=np.float32)
        relevance_cosine = None
        if self.embedder is not None:
            vectors = self.embedder.embed([text, reference, *point_texts, *sentence_texts])
            answer_vec, reference_vec = vectors[0], vectors[1]
            points_vec = vectors[2 : 2 + len(point_texts)]
            sentences_vec = vectors[2 + len(point_texts) :]
            relevance_cosine = round(float(answer_vec @ reference_vec), 4)
            if point_texts:
                similarity = points_vec @ sentences_vec.T

        matcher = KeywordMatcher(language)
        other = KeywordMatcher("en" if language == "zh" else "zh")
        results = []
        for index, point in enumerate(question.key_points):
            point_text = point_texts[index]
            best = int(np.argmax(similarity[index])) if similarity.shape[1] else 0
            best_similarity = round(float(similarity[index, best]), 4) if similarity.shape[1] else 0.0
            hit = matcher.find(text, point.keywords.get(language, []))
            if hit is None:
                # Candidates switch language mid-answer (English terms in Mandarin answers, and back).
                other_language = "en" if language == "zh" else "zh"
                hit = other.find(text, point.keywords.get(other_language, []))  # type: ignore[call-overload]  # Language is a Literal; the other one is known at run time only
            if hit is not None:
                start_s, end_s = times_at(hit.start)
                results.append(
                    KeyPointResult(
                        point.id,
                        point_text,
                        point.weight,
                        True,
                        "keyword",
                        hit.keyword,
                        hit.how,
                        best_similarity,
                        _snippet(text, hit.start, hit.end),
                        start_s,
                        end_s,
                    )
                )
            elif self.embedder is not None and best_similarity >= c.key_point_similarity:
                a, b = spans[best]
                start_s, end_s = times_at(a)
                results.append(
                    KeyPointResult(
                        point.id,
                        point_text,
                        point.weight,
                        True,
                        "meaning",
                        sentence_texts[best].strip(),
                        None,
                        best_similarity,
                        _snippet(text, a, b),
                        start_s,
                        end_s,
                    )
                )
            else:
                results.append(
                    KeyPointResult(point.id, point_text, point.weight, False, None, None, None, best_similarity, None, None, None)
                )

        coverage = None
        if results:
            coverage = round(sum(r.weight for r in results if r.hit) / sum(r.weight for r in results), 4)
        relevance = None
        if relevance_cosine is not None:
            relevance = round(float(np.clip((relevance_cosine - c.relevance_floor) / (c.relevance_full - c.relevance_floor), 0, 1)), 4)

        parts: dict[str, float] = {}
        if spoken:
            w_cov, w_rel, w_del = c.spoken_weights
            parts["delivery"] = w_del
        else:
            (w_cov, w_rel), w_del = c.text_weights, 0.0
        if coverage is not None:
            parts["coverage"] = w_cov
        if relevance is not None:
            parts["relevance"] = w_rel
        total = sum(parts.values())
        weights = {k: round(v / total, 4) for k, v in sorted(parts.items())}
        values = {"coverage": coverage, "relevance": relevance, "delivery": delivery.score if delivery else None}
        score = round(100 * sum(w * float(values[k] or 0.0) for k, w in weights.items()), 1)

        flags = []
        units = delivery.units if delivery is not None else len(text.split()) if language == "en" else len(text)
        if units < c.short_answer_units:
            flags.append("very_short")
        return AnswerScore(score, coverage, relevance, relevance_cosine, delivery, weights, tuple(results), tuple(flags), text)


def _snippet(text: str, start: int, end: int, context: int = 40) -> str:
    a, b = max(0, start - context), min(len(text), end + context)
    return ("…" if a > 0 else "") + text[a:b].strip() + ("…" if b < len(text) else "")
