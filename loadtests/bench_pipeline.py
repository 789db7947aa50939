"""Live-session latency of the scoring pipeline: N candidates speaking at once, in real time.

    python -m loadtests.bench_pipeline [--sessions 1 4 8] [--device auto|cpu|cuda]

Each session feeds the same interview answers (espeak-ng speech, utterances
separated by silence) in real time, 32 ms at a time, through one shared engine,
starting at a random moment within --stagger seconds (independent candidates
do not finish their sentences in lockstep; --stagger 1.5 measures the case where
they nearly do). Measured per utterance, from the moment its
audio was fed: first partial after speech start, and final transcript after
speech end (which includes the VAD's 0.4 s end-of-utterance silence).
Prints a table and writes loadtests/results/bench_pipeline-<device>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil

from media.frames import AudioChunk
from realtime_scoring.engine import EngineConfig
from realtime_scoring.events import FinalTranscript, PartialTranscript
from realtime_scoring.pipeline import ScoringEngine, SessionConfig
from realtime_scoring.transcription import TranscriptionConfig

RESULTS_DIR = Path(__file__).resolve().parent / "results"
ANSWERS = [
    "I have worked as a backend engineer for six years.",
    "In my last job I built the payment service for an online shop, which handled two thousand requests per second.",
    "When two teams disagreed about an interface, I wrote down both proposals and we chose one together.",
    "I would start by measuring where the time goes before changing anything.",
    "My strongest skill is debugging distributed systems under pressure.",
    "I want to join a small team where I can own a product from the first line to production.",
]
GAP_S = 1.5
CHUNK = 512
RATE = 16_000


@dataclass
class Utterance:
    start_s: float
    end_s: float
    text: str


def synthesise(workdir: Path) -> tuple[np.ndarray, list[Utterance]]:
    """All answers in one 16 kHz track with GAP_S of silence between them, and where each one is."""
    parts, utterances, position = [np.zeros(int(RATE * 1.0), np.float32)], [], 1.0
    for i, text in enumerate(ANSWERS):
        raw, wav = workdir / f"{i}.raw.wav", workdir / f"{i}.wav"
        subprocess.run(["espeak-ng", "-s", "160", "-w", str(raw), text], check=True)
        subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-e", "floating-point", "-b", "32", "-t", "raw", str(wav)], check=True)
        samples = np.fromfile(wav, dtype=np.float32)
        loud = np.flatnonzero(np.abs(samples) > 0.01)
        samples = samples[loud[0] : loud[-1] + 1]
        utterances.append(Utterance(position, position + len(samples) / RATE, text))
        parts += [samples, np.zeros(int(RATE * GAP_S), np.float32)]
        position += len(samples) / RATE + GAP_S
    return np.concatenate(parts), utterances


@dataclass
class SessionLog:
    started_wall: float = 0.0
    events: list[tuple[float, object]] = field(default_factory=list)


async def run_session(engine: ScoringEngine, audio: np.ndarray, log: SessionLog, delay_s: float, config: SessionConfig) -> None:
    await asyncio.sleep(delay_s)
    pipeline = engine.new_session(lambda e: log.events.append((time.perf_counter(), e)), config)
    log.started_wall = time.perf_counter()
    try:
        for index, offset in enumerate(range(0, len(audio) - CHUNK + 1, CHUNK)):
            # Real time: chunk k is available only at started + (k+1) * 32 ms.
            due = log.started_wall + (index + 1) * CHUNK / RATE
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            await pipeline.process_audio(AudioChunk(audio[offset : offset + CHUNK], offset / RATE))
        await pipeline.finish(len(audio) / RATE)
    finally:
        await pipeline.close()


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref = [w.strip(".,!?").lower() for w in reference.split()]
    hyp = [w.strip(".,!?").lower() for w in hypothesis.split()]
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
    return d[len(hyp)] / max(1, len(ref))


def measure(logs: list[SessionLog], utterances: list[Utterance]) -> dict[str, object]:
    final_lags, partial_lags, wers, missing = [], [], [], 0
    for log in logs:
        finals = [(t, e) for t, e in log.events if isinstance(e, FinalTranscript)]
        partials = [(t, e) for t, e in log.events if isinstance(e, PartialTranscript)]
        for utterance in utterances:
            final = next(((t, e) for t, e in finals if e.start_s <= utterance.end_s and e.end_s >= utterance.start_s), None)
            if final is None:
                missing += 1
                continue
            final_lags.append(final[0] - (log.started_wall + utterance.end_s))
            wers.append(word_error_rate(utterance.text, final[1].text))
            first = next((t for t, e in partials if e.start_s <= utterance.end_s and e.until_s >= utterance.start_s), None)
            if first is not None:
                partial_lags.append(first - (log.started_wall + utterance.start_s))

    def pct(values: list[float], q: float) -> float | None:
        return round(float(np.percentile(values, q)), 3) if values else None

    return {
        "utterances": len(utterances) * len(logs),
        "missing_finals": missing,
        "final_lag_s": {"p50": pct(final_lags, 50), "p95": pct(final_lags, 95), "max": pct(final_lags, 100)},
        "first_partial_after_speech_start_s": {"p50": pct(partial_lags, 50), "p95": pct(partial_lags, 95)},
        "mean_wer": round(float(np.mean(wers)), 3) if wers else None,
    }


async def bench(
    sessions: list[int],
    config: EngineConfig,
    model_dir: Path,
    session_config: SessionConfig,
    stagger_s: float,
    encoder: str = "auto",
    beam_size: int = 1,
) -> dict[str, object]:
    process = psutil.Process()
    with tempfile.TemporaryDirectory() as tmp:
        audio, utterances = synthesise(Path(tmp))
    rss_start = process.memory_info().rss
    engine = await asyncio.to_thread(ScoringEngine.load, model_dir, config, faces=False, whisper_encoder=encoder, final_beam_size=beam_size)
    rss_loaded = process.memory_info().rss
    runs: list[dict[str, object]] = []
    results: dict[str, object] = {
        "audio_s": round(len(audio) / RATE, 1),
        "models_rss_mb": round((rss_loaded - rss_start) / 2**20, 1),
        "runs": runs,
    }
    print(f"{len(utterances)} answers, {len(audio) / RATE:.0f} s per session; models take {(rss_loaded - rss_start) / 2**20:.0f} MB")
    rng = random.Random(1)
    try:
        for n in sessions:
            logs = [SessionLog() for _ in range(n)]
            rss_before = process.memory_info().rss
            peak = rss_before

            async def sample_memory() -> None:
                nonlocal peak
                while True:
                    peak = max(peak, process.memory_info().rss)
                    await asyncio.sleep(0.5)

            sampler = asyncio.create_task(sample_memory())
            cpu_before = process.cpu_times()
            wall_before = time.perf_counter()
            await asyncio.gather(*(run_session(engine, audio, log, rng.uniform(0, stagger_s), session_config) for log in logs))
            sampler.cancel()
            cpu = process.cpu_times()
            busy = (cpu.user - cpu_before.user + cpu.system - cpu_before.system) / (time.perf_counter() - wall_before)
            row = {
                "sessions": n,
                **measure(logs, utterances),
                "cpu_cores_busy": round(busy, 2),
                "rss_growth_per_session_mb": round((peak - rss_before) / 2**20 / n, 1),
            }
            runs.append(row)
            print(
                f"{n:2} sessions: final lag p50 {row['final_lag_s']['p50']} s, p95 {row['final_lag_s']['p95']} s; "
                f"first partial p50 {row['first_partial_after_speech_start_s']['p50']} s; WER {row['mean_wer']}; "
                f"missing {row['missing_finals']}; {row['cpu_cores_busy']} cores; +{row['rss_growth_per_session_mb']} MB/session"
            )
    finally:
        await engine.close()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--model-dir", type=Path, default=Path(os.environ.get("INTERVIEW_MODEL_DIR", "data/models")))
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime threads per Whisper decode (0: one, with a decode per core)")
    parser.add_argument(
        "--partial-interval", type=float, default=TranscriptionConfig.partial_interval_s, help="seconds between partial decodes"
    )
    parser.add_argument(
        "--partial-growth",
        type=float,
        default=TranscriptionConfig.partial_interval_growth,
        help="the interval grows by this share of the utterance so far (0: fixed)",
    )
    parser.add_argument(
        "--stagger",
        type=float,
        default=10.0,
        help="sessions start at random moments within this many seconds (1.5 makes everyone answer in near lockstep)",
    )
    parser.add_argument(
        "--encoder",
        default="auto",
        choices=["auto", "float32", "int8"],
        help="Whisper encoder, as INTERVIEW_WHISPER_ENCODER (auto: int8 on a CPU, float32 on CUDA)",
    )
    parser.add_argument(
        "--early-final-after",
        type=float,
        default=TranscriptionConfig.early_final_after_s,
        help="pause that starts an early final, as INTERVIEW_EARLY_FINAL_AFTER_S (0: off)",
    )
    parser.add_argument("--beam", type=int, default=1, help="hypotheses a final keeps, as INTERVIEW_FINAL_BEAM_SIZE (1: greedy)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    config = EngineConfig(device=args.device, intra_op_threads=args.threads)
    transcription = TranscriptionConfig(
        language="en",
        partial_interval_s=args.partial_interval,
        partial_interval_growth=args.partial_growth,
        early_final_after_s=args.early_final_after or None,
    )
    results = asyncio.run(
        bench(args.sessions, config, args.model_dir, SessionConfig(transcription=transcription), args.stagger, args.encoder, args.beam)
    )
    results["final_beam_size"] = args.beam
    results["stagger_s"] = args.stagger
    results["encoder"] = args.encoder
    results["early_final_after_s"] = args.early_final_after
    results["machine"] = f"{os.cpu_count()} CPU cores" if args.device != "cuda" else "cuda"
    results["date"] = time.strftime("%Y-%m-%d")
    out = args.out or RESULTS_DIR / f"bench_pipeline-{args.device}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
