"""Interview logic cost: answer scoring per answer, and replay speed over a multi-answer recording.

    python -m loadtests.bench_interview [--answers 6] [--runs 3] [--device auto|cpu|cuda]

Synthesises an English interview recording (espeak-ng answers to the shipped backend bank, each
ending with "I'm done" and three seconds of silence), replays it through the whole pipeline (VAD, Whisper, conductor,
scorer, report) and reports how much faster than real time that runs, whether runs agree byte for byte,
and how long scoring one answer takes (embeddings included). The answers are generic, not written for
the questions the policy picks, so their scores are low: they are listed to compare runs, not candidates.
Prints a table and writes loadtests/results/bench_interview-<device>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from realtime_scoring.answer_scoring import AnswerPiece, AnswerScorer
from realtime_scoring.engine import EngineConfig
from realtime_scoring.pipeline import ScoringEngine
from server.domain.interview import InterviewSpec
from server.live.replay import replay
from server.live.reporting import interview_match, interview_policy
from server.settings import Settings

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SPEC = {
    "job": {
        "title": "Backend engineer",
        "role": "backend_engineer",
        "language": "en",
        "required_skills": [{"name": "Python"}, {"name": "PostgreSQL"}],
        "min_years_experience": 2,
    },
    "candidate": {"name": "Bench Candidate", "skills": ["Python"], "years_experience": 2},
    "mode": "voice",
}
ANSWERS = [
    "I would put a load balancer in front of the servers, and add more servers when traffic grows. I'm done.",
    "I would add an index on the customer column, and then check the query plan with explain. I'm done.",
    "We retry failed requests with backoff, and every request carries an idempotency key. I'm done.",
    "I wrote down both proposals, and we chose one together after a short meeting. I'm done.",
    "First I would look at the metrics and the logs, then roll back the last release. I'm done.",
    "I learned Kubernetes by moving one small service first and reading the documentation. I'm done.",
]


def recording(directory: Path, answers: list[str]) -> tuple[Path, float]:
    parts = []
    for i, text in enumerate(answers):
        raw, padded = directory / f"a{i}.raw.wav", directory / f"a{i}.wav"
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(raw), text], check=True, capture_output=True)
        subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(padded), "pad", "1.0", "3.0"], check=True)
        parts.append(str(padded))
    out = directory / "interview.wav"
    subprocess.run(["sox", *parts, str(out)], check=True)
    seconds = float(subprocess.run(["soxi", "-D", str(out)], check=True, capture_output=True, text=True).stdout)
    return out, seconds


async def bench(engine: ScoringEngine, audio: Path, audio_s: float, answers: int, runs: int) -> dict[str, object]:
    spec = InterviewSpec.model_validate({**SPEC, "max_questions": answers})
    settings = Settings(data_dir=Path(tempfile.mkdtemp()))
    walls, reports = [], []
    for _ in range(runs):
        started = time.perf_counter()
        report = await replay("bench", spec, engine, settings, audio)
        walls.append(time.perf_counter() - started)
        reports.append(report.model_dump_json())
    # Scoring alone: each answer's transcript against the question it answered.
    scorer = AnswerScorer(engine.embedder)
    policy = interview_policy(spec, interview_match(spec))
    last = json.loads(reports[-1])
    timings = []
    for question in last["questions"]:
        planned = next(
            q for q in [policy._plan(b, "") for b in policy.questions] if q.id == question["question_id"].split(".follow-up.")[0]
        )
        pieces = [AnswerPiece(t["text"], t["start_s"], t["end_s"]) for t in question["transcript"]]
        for _ in range(5):
            started = time.perf_counter()
            scorer.score(planned, pieces, "en", spoken=True)
            timings.append(1000 * (time.perf_counter() - started))
    return {
        "audio_s": round(audio_s, 2),
        "answers_spoken": answers,
        "questions_in_report": len(last["questions"]),
        "replay_wall_s": [round(w, 2) for w in walls],
        "replay_speed_x_real_time": round(audio_s / statistics.median(walls), 1),
        "replays_identical": len(set(reports)) == 1,
        "score_answer_ms_p50": round(statistics.median(timings), 1),
        "score_answer_ms_max": round(max(timings), 1),
        "scores": [q["score"] for q in last["questions"]],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=6, choices=range(1, len(ANSWERS) + 1))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--model-dir", type=Path, default=Path(os.environ.get("INTERVIEW_MODEL_DIR", "data/models")))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    engine = ScoringEngine.load(args.model_dir, EngineConfig(device=args.device), faces=False)
    with tempfile.TemporaryDirectory() as workdir:
        audio, audio_s = recording(Path(workdir), ANSWERS[: args.answers])

        async def run() -> dict[str, object]:
            try:
                return await bench(engine, audio, audio_s, args.answers, args.runs)
            finally:
                await engine.close()

        results = asyncio.run(run())
    results["machine"] = f"{os.cpu_count()} CPU cores" if args.device != "cuda" else "cuda"
    results["date"] = time.strftime("%Y-%m-%d")
    for key, value in results.items():
        print(f"{key:28} {value}")
    out = args.out or RESULTS_DIR / f"bench_interview-{args.device}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
