"""The interview report: recommendation, competency scores and a per-question breakdown, each number with its evidence.

Versioned (`REPORT_SCHEMA_VERSION`); `InterviewReport.model_json_schema()` is the contract HR systems read.
Built from the conductor's answer records only, so the same answers always give the same report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from statistics import fmean
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from realtime_scoring.conductor import AnswerRecord, Mode
from realtime_scoring.events import EmotionSummary, FacePresence
from realtime_scoring.matching import MatchResult
from realtime_scoring.profiles import Competency, Language

REPORT_SCHEMA_VERSION: Literal["1.0"] = "1.0"
FACE_ABSENT_RATIO = 0.8  # of the seconds of video, below which the report flags the face as often missing

Decision = Literal["advance", "consider", "do_not_advance", "insufficient_evidence"]


class ObservedSecond(Protocol):
    """One second of video analysis as the interview keeps it: `data` as `observation_data` writes it."""

    @property
    def start_s(self) -> float: ...

    @property
    def data(self) -> Mapping[str, Any]: ...


def observation_data(event: FacePresence | EmotionSummary) -> tuple[Literal["face", "emotion"], dict[str, Any]]:
    """What is kept of one second of face or emotion analysis (the report's video evidence), and its kind."""
    if isinstance(event, FacePresence):
        face = {
            "frames": event.frames,
            "frames_with_face": event.frames_with_face,
            "max_faces": event.max_faces,
            "faces": event.faces,
            "face_present": event.face_present,
            "multiple_faces": event.multiple_faces,
        }
        return "face", face
    return "emotion", {"dominant": event.dominant, "probabilities": dict(event.probabilities)}


class TranscriptSpan(BaseModel):
    start_s: float
    end_s: float
    text: str


class KeyPointEvidence(BaseModel):
    id: str
    text: str
    weight: float
    how: Literal["keyword", "meaning"] | None
    matched: str | None = Field(description="the keyword found, or the sentence that made the point")
    match_kind: str | None = Field(description="exact, stem, number (三年 for 3年) or pinyin, for keywords")
    similarity: float = Field(description="best cosine of one sentence of the answer to the key point")
    snippet: str | None
    start_s: float | None
    end_s: float | None


class DeliveryEvidence(BaseModel):
    score: float
    speaking_s: float
    units: int
    rate_per_min: float
    rate_unit: str
    long_pauses: list[tuple[float, float]]
    fillers: dict[str, int]
    filler_ratio: float
    notes: list[str]


class VideoSummary(BaseModel):
    seconds: int
    face_present_ratio: float | None
    multiple_faces_seconds: list[float] = Field(description="start of each second in which more than one face was seen")
    emotion_distribution: dict[str, float] | None = Field(
        None, description="mean smoothed probability per class; absent when emotion analysis is off"
    )
    dominant_emotion: str | None = None


class QuestionReport(BaseModel):
    index: int
    question_id: str
    text: str
    competency: Competency
    difficulty: str
    follow_up_of: str | None
    asked_reason: str
    asked_s: float
    ended_s: float
    end_reason: str
    answered: bool
    transcript: list[TranscriptSpan]
    typed: list[str]
    score: float = Field(description="0–100: weights × components")
    weights: dict[str, float]
    coverage: float | None = Field(description="weighted share of key points made (0–1)")
    relevance: float | None = Field(description="whole answer vs the question's points, by meaning (0–1)")
    relevance_cosine: float | None
    delivery: DeliveryEvidence | None
    key_points_hit: list[KeyPointEvidence]
    key_points_missed: list[KeyPointEvidence]
    flags: list[str]
    video: VideoSummary | None


class CompetencyScore(BaseModel):
    score: float | None = Field(description="0–100, None when no answer bears on it")
    weight: float
    evidence: list[str] = Field(description="what the score averages, e.g. 'be-cache-basics: 72.5'")


class Recommendation(BaseModel):
    decision: Decision
    overall: float | None
    reasons: list[str]


class InterviewReport(BaseModel):
    schema_version: Literal["1.0"] = REPORT_SCHEMA_VERSION
    interview_id: str
    job_title: str
    candidate_name: str
    language: Language
    mode: Mode
    match: dict[str, object] | None
    recommendation: Recommendation
    competencies: dict[Competency, CompetencyScore]
    questions: list[QuestionReport]
    video: VideoSummary | None
    emotion_analysis: bool
    flags: list[str]
    suggestions: list[str] = Field(description="for the candidate, in the interview's language")


def build_report(
    *,
    interview_id: str,
    job_title: str,
    candidate_name: str,
    language: Language,
    mode: Mode,
    match: MatchResult | None,
    competency_weights: Mapping[Competency, float],
    questions: Sequence[QuestionReport],
    faces: Sequence[ObservedSecond] = (),
    emotions: Sequence[ObservedSecond] | None = None,
) -> InterviewReport:
    """`questions`: from `question_report`, one per closed answer; `faces` / `emotions`: per-second observations
    as stored, `emotions` None when emotion analysis is off."""
    questions = [
        q.model_copy(update={"video": _video_summary(faces, emotions, q.asked_s, q.ended_s) if faces else None}) for q in questions
    ]
    total_weight = sum(competency_weights.values()) or 1.0
    competencies: dict[Competency, CompetencyScore] = {}
    for competency in Competency:
        evidence = [f"{q.question_id}: {q.score:.1f}" for q in questions if q.competency == competency]
        values = [q.score for q in questions if q.competency == competency]
        if competency == Competency.COMMUNICATION:
            # Every spoken answer shows how the candidate communicates, whatever it was about.
            for q in questions:
                if q.delivery is not None and q.answered:
                    evidence.append(f"{q.question_id} delivery: {100 * q.delivery.score:.1f}")
                    values.append(100 * q.delivery.score)
        competencies[competency] = CompetencyScore(
            score=round(fmean(values), 1) if values else None,
            weight=round(competency_weights.get(competency, 0.0) / total_weight, 4),
            evidence=evidence,
        )

    answered = [q for q in questions if q.answered]
    weighted = [(c.weight, c.score) for c in competencies.values() if c.score is not None and c.weight > 0]
    overall = round(sum(w * s for w, s in weighted) / sum(w for w, _ in weighted), 1) if weighted else None
    flags: list[str] = []
    if not questions:
        flags.append("no_questions_asked")
    elif not answered:
        flags.append("never_answered")
    if mode != "text" and questions and not any(q.transcript for q in questions):
        flags.append("no_speech")
    video = _video_summary(faces, emotions, 0.0, float("inf")) if faces else None
    if video is not None:
        if video.face_present_ratio is not None and video.face_present_ratio < FACE_ABSENT_RATIO:
            flags.append("face_often_absent")
        if video.multiple_faces_seconds:
            flags.append("multiple_faces")
    recommendation = _recommend(overall, questions, answered, competencies)
    return InterviewReport(
        interview_id=interview_id,
        job_title=job_title,
        candidate_name=candidate_name,
        language=language,
        mode=mode,
        match=match.as_dict() if match is not None else None,
        recommendation=recommendation,
        competencies=competencies,
        questions=questions,
        video=video,
        emotion_analysis=emotions is not None,
        flags=flags,
        suggestions=_suggestions(questions, language),
    )


def question_report(record: AnswerRecord) -> QuestionReport:
    """One closed answer as the report shows it (video summary added when the report is built)."""
    score, q = record.score, record.question
    points = [KeyPointEvidence(**k.as_dict()) for k in score.key_points]
    delivery = None
    if score.delivery is not None:
        d = score.delivery
        delivery = DeliveryEvidence(
            score=d.score,
            speaking_s=round(d.speaking_s, 3),
            units=d.units,
            rate_per_min=round(d.rate_per_min, 1),
            rate_unit=d.rate_unit,
            long_pauses=[(round(a, 3), round(b, 3)) for a, b in d.long_pauses],
            fillers=dict(d.fillers),
            filler_ratio=round(d.filler_ratio, 4),
            notes=list(d.notes),
        )
    return QuestionReport(
        index=record.index,
        question_id=q.id,
        text=q.text,
        competency=q.competency,
        difficulty=q.difficulty.value,
        follow_up_of=q.follow_up_of,
        asked_reason=q.reason,
        asked_s=round(record.asked_s, 3),
        ended_s=round(record.ended_s, 3),
        end_reason=record.end_reason.value,
        answered=bool(score.text),
        transcript=[TranscriptSpan(start_s=round(f.start_s, 3), end_s=round(f.end_s, 3), text=f.text) for f in record.transcripts],
        typed=list(record.typed),
        score=score.score,
        weights=score.weights,
        coverage=score.coverage,
        relevance=score.relevance,
        relevance_cosine=score.relevance_cosine,
        delivery=delivery,
        key_points_hit=[p for p in points if p.how is not None],
        key_points_missed=[p for p in points if p.how is None],
        flags=list(score.flags),
        video=None,
    )


def _video_summary(
    faces: Sequence[ObservedSecond], emotions: Sequence[ObservedSecond] | None, start_s: float, end_s: float
) -> VideoSummary | None:
    def inside(row: ObservedSecond) -> bool:
        return start_s <= row.start_s < end_s

    seconds = [row for row in faces if inside(row)]
    if not seconds:
        return None
    present = sum(1 for row in seconds if row.data["face_present"])
    summary = VideoSummary(
        seconds=len(seconds),
        face_present_ratio=round(present / len(seconds), 3),
        multiple_faces_seconds=[round(row.start_s, 3) for row in seconds if row.data["multiple_faces"]],
    )
    if emotions is not None:
        rows = [row.data for row in emotions if inside(row)]
        if rows:
            totals: Counter[str] = Counter()
            for d in rows:
                totals.update(d["probabilities"])
            distribution = {k: round(v / len(rows), 3) for k, v in sorted(totals.items())}
            summary.emotion_distribution = distribution
            summary.dominant_emotion = max(sorted(distribution), key=lambda k: distribution[k])
    return summary


def _recommend(
    overall: float | None,
    questions: Sequence[QuestionReport],
    answered: Sequence[QuestionReport],
    competencies: Mapping[Competency, CompetencyScore],
) -> Recommendation:
    if overall is None or not questions or len(answered) * 2 < len(questions):
        return Recommendation(
            decision="insufficient_evidence",
            overall=overall,
            reasons=[f"answered {len(answered)} of {len(questions)} questions: too little to judge"],
        )
    reasons = [
        f"overall {overall:.1f} from "
        + ", ".join(f"{c.value} {s.score:.1f} × {s.weight:.2f}" for c, s in competencies.items() if s.score is not None and s.weight > 0)
    ]
    reasons += [
        f"{c.value} is weak ({s.score:.1f})" for c, s in competencies.items() if s.score is not None and s.score < 50 and s.weight > 0
    ]
    decision: Decision = "advance" if overall >= 70 else "consider" if overall >= 50 else "do_not_advance"
    return Recommendation(decision=decision, overall=overall, reasons=reasons)


_SUGGESTION_TEXT = {
    "en": {
        "missed": "Your answer to “{question}” left out part of what it asks about: walk through the concrete steps you would take, and why.",
        "unanswered": "“{question}” went unanswered; even a partial answer that explains your reasoning scores better than none.",
        "short": "Your answer to “{question}” was very short; give an example from your own work.",
        "fast": "You spoke quickly ({rate:.0f} {unit}); slowing down helps the interviewer follow you.",
        "slow": "You spoke slowly ({rate:.0f} {unit}); preparing a structure (situation, action, result) keeps answers flowing.",
        "fillers": "Filler words came up often ({fillers}); a short pause sounds more confident than a filler.",
    },
    "zh": {
        "missed": "回答“{question}”时还可以更全面：讲一讲你会采取的具体步骤，以及为什么这样做。",
        "unanswered": "“{question}”没有作答；即使只回答一部分、讲清思路，也比不答好。",
        "short": "对“{question}”的回答太简短，可以结合自己做过的具体例子展开。",
        "fast": "语速偏快（{rate:.0f} {unit}），放慢一些能让面试官更容易跟上。",
        "slow": "语速偏慢（{rate:.0f} {unit}），事先按“情境—行动—结果”组织答案会更流畅。",
        "fillers": "口头禅较多（{fillers}），用短暂停顿代替会显得更自信。",
    },
}


def _suggestions(questions: Sequence[QuestionReport], language: Language) -> list[str]:
    text = _SUGGESTION_TEXT[language]
    out: list[str] = []
    for q in questions:
        if not q.answered:
            out.append(text["unanswered"].format(question=q.text))
            continue
        if q.key_points_missed:
            # Never the key points themselves: suggestions reach the candidate, who could pass the rubric on.
            out.append(text["missed"].format(question=q.text))
        if "very_short" in q.flags:
            out.append(text["short"].format(question=q.text))
    spoken = [q.delivery for q in questions if q.delivery is not None and q.answered]
    if spoken:
        rate = fmean(d.rate_per_min for d in spoken)
        unit = spoken[0].rate_unit
        low, high = (110, 170) if unit == "wpm" else (180, 300)
        if rate > high:
            out.append(text["fast"].format(rate=rate, unit=unit))
        elif 0 < rate < low:
            out.append(text["slow"].format(rate=rate, unit=unit))
        fillers: Counter[str] = Counter()
        for d in spoken:
            fillers.update(d.fillers)
        if sum(fillers.values()) >= 3 and sum(fillers.values()) / max(1, sum(d.units for d in spoken)) > 0.03:
            out.append(text["fillers"].format(fillers=", ".join(f"{k} ×{v}" for k, v in fillers.most_common(3))))
    return out
