"""One candidate's interview as the people who decide read it: HR on the review page, a business owner through a share.

It leads with the summary (overall and per-dimension scores, each with what it rests on, and the match analysis:
which of the job's requirements the profile meets), then each question with its video, transcript, score and the
evidence, then integrity flags. It carries facts and numbers, never sentences: the page words them in its language.
Internal ids and the scoring arithmetic go to HR only, under `how_scored`. A business owner gets no contact details
unless the share allows them, no emotion analysis, and no HR decisions or notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from realtime_scoring.matching import MatchResult
from realtime_scoring.report import InterviewReport, QuestionReport
from server.domain.interview import Interview
from server.live.evidence import VISIBILITY_KIND
from server.live.reporting import interview_match
from server.storage.contract import Store
from server.storage.rows import SESSION_AUDIO_TYPES, ObservationRow, RecordingRow
from server.web.recording_links import RecordingLinks

Audience = Literal["hr", "owner"]


async def review_document(
    store: Store,
    interview: Interview,
    links: RecordingLinks,
    audience: Audience,
    viewer: str,
    show_contact: bool = False,
    emotion: bool = False,
) -> dict[str, Any]:
    """`viewer`: who the video links are for (the audit trail's actor); `emotion`: the company's policy lets HR see
    facial emotion for this interview."""
    stored = await store.report(interview.id)
    report = InterviewReport.model_validate(stored.report) if stored is not None else None
    questions = report.questions if report is not None else await store.scored_answers(interview.id)
    recordings = [r for r in await store.recordings(interview.id) if r.media_type not in SESSION_AUDIO_TYPES]
    faces = await store.observations(interview.id, "face")
    visibility = await store.observations(interview.id, VISIBILITY_KIND)
    candidate = interview.candidate
    document: dict[str, Any] = {
        "interview": {
            "id": interview.id,
            "status": interview.status.value,
            "mode": interview.mode,
            "language": interview.language,
            "job_title": interview.job.title,
            "created_at": interview.created_at,
            "questions_planned": interview.max_questions,
        },
        "candidate": {
            "name": candidate.name,
            "email": candidate.email if show_contact or audience == "hr" else None,
            "summary": candidate.summary,
            "years_experience": candidate.years_experience,
            "skills": [s.model_dump(mode="json") for s in candidate.skills],
            "projects": [p.model_dump(mode="json") for p in candidate.projects],
            "education": [e.model_dump(mode="json") for e in candidate.education],
        },
        "match": _match(interview),
        "summary": _summary(report, questions),
        "questions": [_question(q, recordings, links, interview.id, viewer) for q in questions],
        "integrity": _integrity(report, faces, visibility),
        "owner_reviews": [r.model_dump(mode="json") for r in await store.owner_reviews(interview.id)],
    }
    if audience == "hr":
        document["decisions"] = [d.model_dump(mode="json") for d in await store.decisions(interview.id)]
        document["how_scored"] = _how_scored(report, questions, interview_match(interview))
        if emotion and report is not None and report.video is not None:
            document["emotion"] = report.video.emotion_distribution
    return document


def _match(interview: Interview) -> dict[str, Any]:
    match = interview_match(interview)
    requirements = []
    for c in match.contributions:
        share = c.points / c.max_points if c.max_points else 0.0
        met = "met" if share >= 0.999 else "partly" if share > 0 else "not_met"
        requirement: dict[str, Any] = {"kind": c.factor, "requirement": c.item, "met": met}
        if c.factor == "experience":
            requirement["asks_years"] = interview.job.min_years_experience
        requirements.append(requirement)
    return {"score": round(match.score), "requirements": requirements}


def _summary(report: InterviewReport | None, questions: Sequence[QuestionReport]) -> dict[str, Any]:
    dimensions = []
    for competency in dict.fromkeys(q.competency for q in questions):
        asked = [q for q in questions if q.competency == competency]
        points = [k for q in asked for k in q.key_points_hit + q.key_points_missed]
        score = report.competencies[competency].score if report is not None and competency in report.competencies else None
        if score is None and asked:
            score = sum(q.score for q in asked) / len(asked)
        dimensions.append(
            {
                "dimension": competency.value,
                "score": None if score is None else round(score),
                "questions": len(asked),
                "answered": sum(q.answered for q in asked),
                "key_points_made": sum(len(q.key_points_hit) for q in asked),
                "key_points": len(points),
            }
        )
    overall = report.recommendation.overall if report is not None else None
    return {
        "overall": None if overall is None else round(overall),
        "suggestion": report.recommendation.decision if report is not None else None,
        "dimensions": dimensions,
        "complete": report is not None,
    }


def _question(q: QuestionReport, recordings: list[RecordingRow], links: RecordingLinks, interview_id: str, viewer: str) -> dict[str, Any]:
    videos = [
        {"url": links.url(interview_id, r.name, viewer), "media_type": r.media_type, "starts_s": r.starts_s, "seconds": r.seconds}
        for r in recordings
        if r.question_index == q.index
    ]
    return {
        "number": q.index + 1,
        "text": q.text,
        "dimension": q.competency.value,
        "follow_up": q.follow_up_of is not None,
        "answered": q.answered,
        "score": round(q.score),
        "asked_s": q.asked_s,
        "ended_s": q.ended_s,
        "videos": videos,
        "transcript": [s.model_dump(mode="json") for s in q.transcript],
        "typed": q.typed,
        "points_made": [
            {"point": k.text, "said": k.snippet or k.matched, "start_s": k.start_s, "end_s": k.end_s} for k in q.key_points_hit
        ],
        "points_missed": [{"point": k.text} for k in q.key_points_missed],
        "delivery": None
        if q.delivery is None
        else {
            "speaking_s": round(q.delivery.speaking_s),
            "rate_per_min": round(q.delivery.rate_per_min),
            "rate_unit": q.delivery.rate_unit,
            "long_pauses": len(q.delivery.long_pauses),
            "filler_ratio": q.delivery.filler_ratio,
        },
        "flags": q.flags,
    }


def _integrity(report: InterviewReport | None, faces: Sequence[ObservationRow], visibility: Sequence[ObservationRow]) -> dict[str, Any]:
    away_s = 0.0
    left_at: float | None = None
    for change in visibility:
        if change.data.get("hidden"):
            left_at = change.start_s
        elif left_at is not None:
            away_s += change.start_s - left_at
            left_at = None
    seconds = len(faces)
    present = sum(bool(f.data.get("face_present")) for f in faces)
    several = [f.start_s for f in faces if f.data.get("multiple_faces")]
    return {
        "video_seconds": seconds,
        "face_visible_share": round(present / seconds, 2) if seconds else None,
        "several_faces_at_s": several[:50],
        "tab_switches": sum(bool(c.data.get("hidden")) for c in visibility),
        "away_s": round(away_s),
        "flags": report.flags if report is not None else [],
    }


def _how_scored(report: InterviewReport | None, questions: Sequence[QuestionReport], match: MatchResult) -> dict[str, Any]:
    """The arithmetic and the internal ids, for HR who must explain a score."""
    return {
        "match": [{"requirement": c.item, "points": c.points, "of": c.max_points, "evidence": c.detail} for c in match.contributions],
        "reasons": report.recommendation.reasons if report is not None else [],
        "dimension_weights": {c.value: s.weight for c, s in report.competencies.items()} if report is not None else {},
        "questions": [
            {
                "number": q.index + 1,
                "question_id": q.question_id,
                "weights": q.weights,
                "coverage": q.coverage,
                "relevance": q.relevance,
                "delivery": q.delivery.score if q.delivery is not None else None,
                "asked_because": q.asked_reason,
                "ended_because": q.end_reason,
                "key_points": [{"id": k.id, "weight": k.weight, "how": k.how, "similarity": k.similarity} for k in q.key_points_hit],
            }
            for q in questions
        ],
    }
