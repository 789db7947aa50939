"""The conductor splits the media clock into answers the same way however fast events arrive."""

from __future__ import annotations

import asyncio

from realtime_scoring.answer_scoring import AnswerScorer
from realtime_scoring.conductor import AnswerEnd, InterviewConductor
from realtime_scoring.events import AnalysisProgress, FinalTranscript, SpeechEnded, SpeechStarted, UtteranceTranscript
from realtime_scoring.policy import QuestionPolicy
from realtime_scoring.profiles import Competency
from realtime_scoring.question_bank import BankQuestion


def bank(n: int = 3, answer_seconds: int = 60, think_seconds: int = 5) -> list[BankQuestion]:
    return [
        BankQuestion.model_validate(
            {
                "id": f"q{i}",
                "competency": "skills",
                "difficulty": "standard",
                "think_seconds": think_seconds,
                "answer_seconds": answer_seconds,
                "text": {"en": f"Question {i}?"},
                "key_points": [{"id": "cache", "text": {"en": "Use a cache."}, "keywords": {"en": ["cache"]}}],
            }
        )
        for i in range(1, n + 1)
    ]


def conductor(mode: str = "voice", n: int = 3, answer_seconds: int = 60, think_seconds: int = 5) -> InterviewConductor:
    policy = QuestionPolicy(bank(n, answer_seconds, think_seconds), "en", None, {Competency.SKILLS: 1.0})

    async def inline(function):  # type: ignore[no-untyped-def]
        return function()

    return InterviewConductor(policy, AnswerScorer(None), "en", mode, inline)  # type: ignore[arg-type]


def said(start: float, end: float, text: str, utterance: int = 1) -> UtteranceTranscript:
    """A whole utterance as scored."""
    return UtteranceTranscript(utterance, start, end, text, "en", (), 1.0, 1)


def caption(start: float, end: float, text: str, utterance: int = 1) -> FinalTranscript:
    """One segment's caption final."""
    return FinalTranscript(utterance, start, end, text, "en", (), 1.0)


def speech(start: float, end: float) -> list:
    return [SpeechStarted(start), SpeechEnded(start, end)]


def feed(c: InterviewConductor, events: list) -> list:
    closed = []
    for event in events:
        c.observe(event)
        closed += asyncio.run(c.advance())
    return closed


def test_a_long_silence_after_speech_ends_the_answer_only_once_everything_before_it_is_settled() -> None:
    c = conductor()
    assert c.start(0.0).id == "q1"
    closed = feed(c, [*speech(6.0, 9.0), AnalysisProgress(5.9), AnalysisProgress(17.1)])
    assert closed == []  # 8 s after the speech is 17.0, and the line must be past it
    closed = feed(c, [said(5.75, 9.2, "I would put a cache in front."), AnalysisProgress(17.3)])
    assert [(r.question.id, r.ended_s, r.end_reason) for r in closed] == [("q1", 17.0, AnswerEnd.SILENCE)]
    assert closed[0].score.key_points[0].hit and closed[0].score.text == "I would put a cache in front."
    assert c.current.question.id == "q2" and c.current.asked_s == 17.0


def test_an_answer_ended_just_before_the_recording_stops_is_closed_once_the_recording_is_settled() -> None:
    c = conductor()
    c.start(0.0)
    feed(c, [*speech(6.0, 9.0), said(5.8, 9.2, "I would put a cache in front."), AnalysisProgress(9.5)])
    c.request_end(AnswerEnd.CANDIDATE_DONE, 9.6)  # "done", 0.1 s before the media ends: less than the settle margin
    c.end_of_media(9.7004)
    closed = feed(c, [AnalysisProgress(9.7)])  # progress comes to the millisecond
    assert [(r.ended_s, r.end_reason) for r in closed] == [(9.6, AnswerEnd.CANDIDATE_DONE)]
    assert c.finished


def test_pauses_and_backchannels_shorter_than_the_silence_limit_keep_one_answer() -> None:
    c = conductor()
    c.start(0.0)
    events = [
        *speech(6.0, 8.0),
        said(5.8, 8.2, "First I would measure.", 1),
        *speech(14.0, 14.3),  # "um", after a 6 s pause
        *speech(17.0, 19.0),  # after 2.7 s more
        said(13.8, 19.2, "Um, then put a cache in front.", 2),
        AnalysisProgress(26.9),
    ]
    assert feed(c, events) == []
    closed = feed(c, [AnalysisProgress(27.3)])
    assert [(r.ended_s, r.end_reason) for r in closed] == [(27.0, AnswerEnd.SILENCE)]
    assert [t.text for t in closed[0].transcripts] == ["First I would measure.", "Um, then put a cache in front."]


def test_silence_never_ends_an_answer_during_the_think_time() -> None:
    c = conductor(think_seconds=20)
    c.start(0.0)
    assert feed(c, [*speech(1.0, 2.0), said(0.8, 2.2, "Hmm, let me think."), AnalysisProgress(19.0)]) == []
    assert feed(c, [AnalysisProgress(27.9)]) == []  # silence counts from the end of the think time (20 s)
    closed = feed(c, [AnalysisProgress(28.3)])
    assert [(r.ended_s, r.end_reason) for r in closed] == [(28.0, AnswerEnd.SILENCE)]


def test_a_spoken_closing_phrase_ends_the_answer_and_the_candidates_turn_there() -> None:
    c = conductor()
    c.start(0.0)
    feed(c, [AnalysisProgress(5.9), *speech(6.0, 10.0), caption(5.8, 10.2, "That is my plan. I'm done.")])
    assert c.take_turn_ends() == [10.2] and c.take_turn_ends() == []
    closed = feed(c, [said(5.8, 10.2, "Put a cache in front. That is my plan. I'm done."), AnalysisProgress(10.5)])
    assert [(r.ended_s, r.end_reason) for r in closed] == [(10.2, AnswerEnd.CLOSING_PHRASE)]
    assert closed[0].score.key_points[0].hit


def test_a_closing_phrase_that_goes_on_or_belongs_to_the_last_answer_ends_nothing() -> None:
    c = conductor()
    c.start(0.0)
    feed(c, [AnalysisProgress(5.9), *speech(6.0, 9.0), caption(5.8, 9.2, "I'm done with the migration and then"), AnalysisProgress(9.5)])
    assert c.take_turn_ends() == [] and c.current.request is None
    c.request_end(AnswerEnd.CANDIDATE_DONE, 12.0)
    feed(c, [AnalysisProgress(12.5)])
    assert c.current.question.id == "q2"
    # A late caption of speech from before q2 was asked is not q2's closing phrase.
    feed(c, [caption(10.0, 11.5, "That's all.")])
    assert c.current.request is None


def test_the_done_button_ends_the_turn_where_the_candidate_pressed_it() -> None:
    c = conductor()
    c.start(0.0)
    feed(c, [AnalysisProgress(5.9), *speech(6.0, 9.0)])
    c.request_end(AnswerEnd.CANDIDATE_DONE, 9.6)
    assert c.take_turn_ends() == [9.6]
    assert feed(c, [AnalysisProgress(9.5)]) == []  # the audio up to the press is not all analysed yet
    closed = feed(c, [said(5.8, 9.2, "cache"), AnalysisProgress(9.6)])  # the line is held until the transcript is in
    assert [(r.ended_s, r.end_reason, r.score.text) for r in closed] == [(9.6, AnswerEnd.CANDIDATE_DONE, "cache")]


def test_speech_that_starts_just_after_the_done_button_neither_holds_the_answer_nor_joins_it() -> None:
    # The pipeline ends the turn at the press: speech after it starts a new utterance with no pre-roll from before
    # it, so once the line reaches the press (to the millisecond it is reported in), nothing more can join the answer.
    c = conductor()
    c.start(0.0)
    feed(c, [*speech(6.0, 9.0), said(5.8, 9.2, "cache"), AnalysisProgress(9.5)])
    c.request_end(AnswerEnd.CANDIDATE_DONE, 9.6004)
    closed = feed(c, [SpeechStarted(9.65), AnalysisProgress(9.6)])  # held at the next utterance's start
    assert [(r.ended_s, r.score.text) for r in closed] == [(9.6004, "cache")]
    closed = feed(c, [SpeechEnded(9.65, 12.0), said(9.6, 12.2, "and a queue", 2), AnalysisProgress(22.9)])
    assert [(r.question.id, r.score.text) for r in closed] == [("q2", "and a queue")]


def test_an_end_nobody_asked_for_waits_for_the_line_to_pass_it_by_the_margin() -> None:
    # A silence end is no turn end for the pipeline: speech just after it may bring pre-roll from before it.
    c = conductor()
    c.start(0.0)
    assert feed(c, [*speech(6.0, 9.0), said(5.8, 9.2, "cache"), AnalysisProgress(17.1)]) == []
    closed = feed(c, [AnalysisProgress(17.2)])
    assert [(r.ended_s, r.end_reason) for r in closed] == [(17.0, AnswerEnd.SILENCE)]


def test_a_still_thinking_hint_comes_once_before_the_silence_would_end_the_answer() -> None:
    c = conductor()
    c.start(0.0)
    feed(c, [*speech(6.0, 9.0), AnalysisProgress(13.9)])
    assert c.silence_hint() is None
    feed(c, [AnalysisProgress(14.1)])
    hint = c.silence_hint()
    assert hint is not None and (hint.since_s, hint.ends_s, hint.spoken) == (9.0, 17.0, True)
    feed(c, [AnalysisProgress(14.5)])
    assert c.silence_hint() is None  # once per silence
    feed(c, [*speech(15.0, 16.0), AnalysisProgress(21.2)])
    assert c.silence_hint().since_s == 16.0  # a new silence, a new hint


def test_a_candidate_who_says_nothing_is_told_so_and_only_the_time_limit_ends_the_answer() -> None:
    c = conductor(answer_seconds=30)
    c.start(0.0)
    feed(c, [AnalysisProgress(10.1)])
    hint = c.silence_hint()
    assert hint is not None and (hint.spoken, hint.ends_s) == (False, None)
    assert feed(c, [AnalysisProgress(34.9)]) == []
    assert [r.end_reason for r in feed(c, [AnalysisProgress(35.3)])] == [AnswerEnd.TIME_LIMIT]


def test_transcripts_are_split_between_answers_at_the_boundary() -> None:
    c = conductor()
    c.start(0.0)
    events = [
        *speech(1.0, 3.0),
        said(0.8, 3.0, "first answer", 1),
        *speech(7.0, 9.0),  # after 4 s: still the first answer
        said(6.8, 9.2, "and more of it", 2),
        caption(6.8, 9.2, "and more of it. I'm done.", 2),
        *speech(11.0, 13.0),
        said(10.8, 13.0, "second answer", 3),  # in q2's think time: its silence counts from 14.2
        AnalysisProgress(22.5),
    ]
    closed = feed(c, events)  # all at once, as a fast replay delivers them
    assert [(r.question.id, [t.text for t in r.transcripts]) for r in closed] == [
        ("q1", ["first answer", "and more of it"]),
        ("q2", ["second answer"]),
    ]
    assert [(r.asked_s, r.end_reason) for r in closed] == [(0.0, AnswerEnd.CLOSING_PHRASE), (9.2, AnswerEnd.SILENCE)]
    assert [r.ended_s for r in closed] == [9.2, 22.2]


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
    feed(c, [SpeechStarted(1.0), said(0.8, 3.0, "cache", 1), AnalysisProgress(4.0)])
    c.end_of_media(4.0)
    closed = asyncio.run(c.advance())
    assert [(r.question.id, r.end_reason) for r in closed] == [("q1", AnswerEnd.MEDIA_ENDED)]
    assert c.finished and len(c.records) == 1


def test_the_spoken_hint_heard_back_through_the_microphone_neither_breaks_the_silence_nor_is_scored() -> None:
    c = conductor()
    c.start(0.0)
    feed(c, [*speech(6.0, 9.0), said(5.8, 9.2, "Put a cache in front."), AnalysisProgress(14.1)])
    assert c.silence_hint() is not None
    c.ignore_echo(14.2, 18.2)  # the page speaks "Still thinking?"
    closed = feed(c, [*speech(14.6, 16.0), said(14.4, 16.2, "Still thinking? Take your time."), AnalysisProgress(17.3)])
    assert [(r.ended_s, r.end_reason) for r in closed] == [(17.0, AnswerEnd.SILENCE)]
    assert [t.text for t in closed[0].transcripts] == ["Put a cache in front."]


def test_a_closing_phrase_heard_only_in_the_whole_utterance_still_ends_the_answer() -> None:
    c = conductor()
    c.start(0.0)
    # The short last segment's caption lost its last word; the utterance, decoded whole, has it.
    feed(c, [AnalysisProgress(5.9), *speech(6.0, 9.0), caption(8.0, 9.2, "I'm"), said(5.8, 9.2, "Put a cache in front. I'm done.")])
    assert c.take_turn_ends() == [9.2]
    closed = feed(c, [AnalysisProgress(9.5)])
    assert [(r.ended_s, r.end_reason) for r in closed] == [(9.2, AnswerEnd.CLOSING_PHRASE)]
