"""Whisper base latency on this machine: median ms per clip and real-time factor for 5 s and 10 s clips.

    python3 -m loadtests.bench_whisper [--model-dir data/models] [--threads 0] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

from realtime_scoring.engine import EngineConfig, create_session
from realtime_scoring.models.manifest import load_manifest, verified_files
from realtime_scoring.models.prepare import prepare_all
from realtime_scoring.whisper import WhisperTranscriber

TEXT = (
    "Thank you for the question. In my last job I led a small team that built the mobile app. "
    "We worked closely with the designers and released a new version every two weeks. "
    "The hardest part was keeping the old version working while we moved users to the new one."
)


def espeak(text: str) -> np.ndarray:
    """16 kHz mono float32 speech from espeak-ng, resampled by sox."""
    with tempfile.TemporaryDirectory() as tmp:
        raw, wav = Path(tmp) / "raw.wav", Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(raw), text], check=True)
        subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(wav)], check=True)
        with wave.open(str(wav), "rb") as w:
            return np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=Path(os.environ.get("INTERVIEW_MODEL_DIR", "data/models")))
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: one per core, at most 4)")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    prepare_all(args.model_dir, names=["whisper-base"])
    files = verified_files(load_manifest(args.model_dir)["whisper-base"], args.model_dir)
    config = EngineConfig(device="cpu", intra_op_threads=args.threads)
    transcriber = WhisperTranscriber(
        create_session(files["encoder.onnx"], config), create_session(files["decoder.onnx"], config),
        files["tokenizer.json"], files["config.json"],
    )
    speech = espeak(TEXT)
    for seconds in (5, 10):
        clip = speech[: 16_000 * seconds]
        transcriber.transcribe(clip)  # warm-up: first runs allocate
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            result = transcriber.transcribe(clip)
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        print(f"{seconds:2d} s clip: median {1000 * median:6.0f} ms  RTF {median / seconds:.3f}  "
              f"({len(result.tokens)} tokens) {result.text[:70]!r}")


if __name__ == "__main__":
    main()
