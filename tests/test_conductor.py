"""The conductor splits the media clock into answers the same way however fast events arrive."""

from __future__ import annotations

import asyncio

from realtime_scoring.answer_scoring import AnswerScorer
from realtime_scoring.conductor import AnswerEnd, InterviewConductor
from realtime_scoring.events import AnalysisProgress, AnswerEnded, FinalTranscript, SpeechStarted
from realtime_scoring.policy import QuestionPolicy
from realtime_scoring.profiles import Competency
from realtime_scoring.question_bank import BankQuestion


def bank(n: int = 3, answer_seconds: int = 60) -> list[BankQuestion]:
    return [
        BankQuestion.model_validate(
            {
                "id": f"q{i}",
                "competency": "skills",
                "difficulty": "standard",
                "think_seconds": 5,
                "answer_seconds": answer_seconds,
                "text": {"en": f"Question {i}?"},
                "key_points": [{"id": "cache", "text": {"en": "Use a cache."}, "keywords": {"en": ["cache"]}}],
            }
        )
        for i in range(1, n + 1)
    ]


def conductor(mode: str = "voice", n: int = 3, answer_seconds: int = 60) -> InterviewConductor:
    policy = QuestionPolicy(bank(n, answer_seconds), "en", None, {Competency.SKILLS: 1.0})

    async def inline(function):  # type: ignore[no-untyped-def]
        return function()

    return InterviewConductor(policy, AnswerScorer(None), "en", mode, inline)  # type: ignore[arg-type]


def final(start: float, end: float, text: str, utterance: int = 1) -> FinalTranscript:
    return FinalTranscript(utterance, start, end, text, "en", (), 1.0)


def feed(c: InterviewConductor, events: list) -> list:
    closed = []
    for event in events:
        c.observe(event)
        closed += asyncio.run(c.advance())
    return closed


def test_long_silence_after_speech_ends_the_answer_only_once_everything_before_it_is_settled() -> None:
    c = conductor()
    assert c.start(0.0).id == "q1"
    closed = feed(c, [SpeechStarted(1.0), AnswerEnded(6.0, 2.5), AnalysisProgress(6.1)])
    assert closed == []  # the final of the 1.0–3.5 s utterance may still be coming
    closed = feed(c, [final(0.75, 3.5, "I would put a cache in front."), AnalysisProgress(6.3)])
    assert [(r.question.id, r.ended_s, r.end_reason) for r in closed] == [("q1", 6.0, AnswerEnd.SILENCE)]
    assert closed[0].score.key_points[0].hit and closed[0].score.text == "I would put a cache in front."
    assert c.current.question.id == "q2" and c.current.asked_s == 6.0


def test_an_answer_ended_for_speech_before_the_question_does_not_close_the_next_one() -> None:
    c = conductor()
    c.start(0.0)
    c.request_end(AnswerEnd.CANDIDATE_DONE, 4.0)
    closed = feed(c, [SpeechStarted(1.0), final(0.75, 3.8, "cache"), AnalysisProgress(4.3)])
    assert [r.end_reason for r in closed] == [AnswerEnd.CANDIDATE_DONE]
    # The silence after the q1 speech is detected during q2: no q2 speech, so q2 stays open.
    assert feed(c, [AnswerEnded(6.3, 2.5), AnalysisProgress(9.0)]) == []
    assert c.current.question.id == "q2"


def test_transcripts_are_split_between_answers_at_the_boundary() -> None:
    c = conductor()
    c.start(0.0)
    events = [
        SpeechStarted(1.0),
        final(0.8, 3.0, "first answer", 1),
        AnswerEnded(5.5, 2.5),
        SpeechStarted(7.0),
        final(6.8, 9.0, "second answer", 2),
        AnswerEnded(11.5, 2.5),
        AnalysisProgress(12.0),
    ]
    closed = feed(c, events)  # all at once, as a fast replay delivers them
    assert [(r.question.id, r.score.text) for r in closed] == [("q1", "first answer"), ("q2", "second answer")]
    assert [r.asked_s for r in closed] == [0.0, 5.5]


def test_time_limit_on_the_media_clock_closes_a_silent_answer() -> None:
    c = conductor(answer_seconds=10)
    c.start(0.0)
    assert feed(c, [AnalysisProgress(14.0)]) == []
    closed = feed(c, [AnalysisProgress(15.3)])
    assert [(r.ended_s, r.end_reason, r.score.flags) for r in closed] == [(15.0, AnswerEnd.TIME_LIMIT, ("no_answer",))]


def test_text_mode_without_media_closes_on_request_and_scores_typed_text() -> None:
    c = conductor(mode="text", n=2)
    c.start(0.0)
    c.add_text("Put a cache in front of the database.")
    c.request_end(AnswerEnd.CANDIDATE_DONE, 30.0)
    closed = asyncio.run(c.advance())
    assert [(r.question.id, r.typed, r.score.delivery) for r in closed] == [("q1", ("Put a cache in front of the database.",), None)]
    assert closed[0].score.coverage == 1.0
    c.request_end(AnswerEnd.CANDIDATE_DONE, 40.0)
    asyncio.run(c.advance())
    assert c.finished and c.current is None


def test_end_of_a_recording_closes_the_open_answer_and_asks_nothing_more() -> None:
    c = conductor()
    c.start(0.0)
    feed(c, [SpeechStarted(1.0), final(0.8, 3.0, "cache", 1), AnalysisProgress(4.0)])
    c.end_of_media(4.0)
    closed = asyncio.run(c.advance())
    assert [(r.question.id, r.end_reason) for r in closed] == [("q1", AnswerEnd.MEDIA_ENDED)]
    assert c.finished and len(c.records) == 1
