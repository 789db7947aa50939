"""Rows as the live interview writes them, for tests of the stores."""

from __future__ import annotations

from realtime_scoring.profiles import Competency
from realtime_scoring.report import QuestionReport
from server.storage.rows import ObservationRow


def scored_answer(index: int, question_id: str, score: float = 50.0) -> QuestionReport:
    """A closed answer's report entry with nothing in it but its place and score."""
    return QuestionReport(
        index=index,
        question_id=question_id,
        text=f"Question {question_id}?",
        competency=Competency.SKILLS,
        difficulty="standard",
        follow_up_of=None,
        asked_reason="first question",
        asked_s=10.0 * index,
        ended_s=10.0 * index + 8.0,
        end_reason="silence",
        answered=True,
        transcript=[],
        typed=[],
        score=score,
        weights={"coverage": 1.0},
        coverage=None,
        relevance=None,
        relevance_cosine=None,
        delivery=None,
        key_points_hit=[],
        key_points_missed=[],
        flags=[],
        video=None,
    )


def observation(start_s: float, data: dict[str, object], question_id: str = "q1") -> ObservationRow:
    return ObservationRow(question_id=question_id, start_s=start_s, end_s=start_s + 1, data=data)
