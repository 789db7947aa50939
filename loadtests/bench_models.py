"""Benchmark every model: latency at batch 1, throughput at the best batch, transcription speed.

    python -m loadtests.bench_models [--device auto|cpu|cuda] [--model-dir DIR] [--speech WAV]

Prints a table and writes loadtests/results/bench_models-<device>.json. Runs on CUDA
unchanged when onnxruntime-gpu sees a GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import onnxruntime as ort

from realtime_scoring.engine import CUDA, EngineConfig, create_session
from realtime_scoring.models.manifest import load_manifest, verified_files

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SPEECH_TEXT = (
    "In my last project I designed the order service for an online shop. It handled two thousand requests "
    "per second. We used a queue between the checkout and the warehouse, so that a slow warehouse never "
    "blocked a customer. The hardest part was making retries safe, and we solved it with idempotency keys."
)


def timed(fn: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    """Median seconds of `fn` over `repeats` runs."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return float(np.median(samples))


def machine_description(providers: list[str]) -> str:
    if CUDA in providers and shutil.which("nvidia-smi"):
        name = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"], capture_output=True, text=True, check=False
        ).stdout.strip()
        return f"GPU {name}; {os.cpu_count()} CPU cores"
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")
        )
    return f"{cpu}; {len(os.sched_getaffinity(0))} cores available"


def batch_sweep(name: str, run: Callable[[int], object], batches: list[int], per_item: str, repeats: int) -> dict[str, object]:
    rows = []
    for batch in batches:
        seconds = timed(lambda batch=batch: run(batch), repeats)  # type: ignore[misc]  # bound per iteration
        rows.append({"batch": batch, "ms": round(1000 * seconds, 3), f"{per_item}_per_s": round(batch / seconds, 1)})
    best = max(rows, key=lambda r: r[f"{per_item}_per_s"])
    print(f"{name:14} batch 1: {rows[0]['ms']:8.3f} ms   best: batch {best['batch']:4} -> {best[f'{per_item}_per_s']:10.1f} {per_item}/s")
    return {
        "latency_batch1_ms": rows[0]["ms"],
        "best_batch": best["batch"],
        f"best_{per_item}_per_s": best[f"{per_item}_per_s"],
        "sweep": rows,
    }


def bench_vad(path: Path, config: EngineConfig, repeats: int) -> dict[str, object]:
    session = create_session(path, EngineConfig(config.device, 1, config.cuda_device_id))
    sr = np.array(16000, dtype=np.int64)

    def run(batch: int) -> object:
        return session.run(None, {"input": np.zeros((batch, 576), np.float32), "state": np.zeros((2, batch, 128), np.float32), "sr": sr})

    result = batch_sweep("silero-vad", run, [1, 8, 32, 128, 512], "windows", repeats)
    # Each live stream needs 31.25 windows (32 ms) a second.
    result["streams_at_best_batch"] = int(cast(float, result["best_windows_per_s"]) / 31.25)
    return result


def bench_faces(path: Path, config: EngineConfig, repeats: int) -> dict[str, object]:
    from realtime_scoring.vision.faces import FaceDetector

    session = create_session(path, EngineConfig(config.device, 1, config.cuda_device_id))
    name = session.get_inputs()[0].name
    result = batch_sweep(
        "face-detector", lambda b: session.run(None, {name: np.zeros((b, 3, 128, 128), np.float32)}), [1, 8, 32, 64, 256], "frames", repeats
    )
    detector = FaceDetector(session)
    frames = [np.random.default_rng(i).integers(0, 255, (480, 640, 3), dtype=np.uint8) for i in range(8)]
    result["whole_call_640x480_batch1_ms"] = round(1000 * timed(lambda: detector.detect_batch(frames[:1]), repeats), 3)
    result["whole_call_640x480_batch8_ms_per_frame"] = round(1000 * timed(lambda: detector.detect_batch(frames), repeats) / 8, 3)
    return result


def bench_emotion(path: Path, config: EngineConfig, repeats: int) -> dict[str, object]:
    session = create_session(path, EngineConfig(config.device, 1, config.cuda_device_id))
    name = session.get_inputs()[0].name
    return batch_sweep(
        "face-emotion", lambda b: session.run(None, {name: np.zeros((b, 1, 64, 64), np.float32)}), [1, 8, 32, 64, 256], "faces", repeats
    )


def speech_clip(path: Path | None) -> np.ndarray:
    if path is None:
        if not shutil.which("espeak-ng"):
            raise SystemExit("give --speech WAV (16 kHz mono) or install espeak-ng")
        with tempfile.TemporaryDirectory() as tmp:
            raw, wav = Path(tmp) / "raw.wav", Path(tmp) / "speech.wav"
            subprocess.run(["espeak-ng", "-w", str(raw), SPEECH_TEXT], check=True)
            subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(wav)], check=True)
            return speech_clip(wav)
    with wave.open(str(path), "rb") as w:
        if w.getframerate() != 16000 or w.getnchannels() != 1:
            raise SystemExit(f"{path}: need 16 kHz mono")
        return np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768.0


def bench_whisper(files: dict[str, Path], config: EngineConfig, speech: np.ndarray, repeats: int) -> dict[str, object]:
    from realtime_scoring.whisper.transcriber import WhisperTranscriber

    encoder, decoder = create_session(files["encoder.onnx"], config), create_session(files["decoder.onnx"], config)
    transcriber = WhisperTranscriber(encoder, decoder, files["tokenizer.json"], files["config.json"])
    result: dict[str, object] = {}
    for seconds in (3, 5, 10):
        clip = speech[: 16000 * seconds]
        elapsed = timed(lambda clip=clip: transcriber.transcribe(clip, "en"), repeats, warmup=1)  # type: ignore[misc]  # bound per iteration
        text = transcriber.transcribe(clip, "en").text
        result[f"clip_{seconds}s"] = {"ms": round(1000 * elapsed, 1), "rtf": round(elapsed / seconds, 3), "text": text}
        print(f"whisper-base   {seconds:2} s clip: {1000 * elapsed:8.1f} ms  RTF {elapsed / seconds:.3f}  {text[:60]!r}")
    name = encoder.get_inputs()[0].name
    enc_rows = []
    for batch in (1, 8, 32):
        mel = np.zeros((batch, 80, 1000), np.float32)  # a 10 s window
        seconds = timed(lambda mel=mel: encoder.run(None, {name: mel}), max(3, repeats // 2), warmup=1)  # type: ignore[misc]  # bound per iteration
        enc_rows.append({"batch": batch, "ms": round(1000 * seconds, 2), "audio_s_per_s": round(10 * batch / seconds, 1)})
    result["encoder_10s_window"] = enc_rows
    print("whisper-base   encoder, 10 s windows: " + ", ".join(f"batch {r['batch']}: {r['ms']} ms" for r in enc_rows))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--model-dir", type=Path, default=Path(os.environ.get("INTERVIEW_MODEL_DIR", "data/models")))
    parser.add_argument("--speech", type=Path, help="16 kHz mono WAV of at least 10 s of speech (default: espeak-ng)")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--skip-whisper", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    config = EngineConfig(device=args.device)
    manifest = load_manifest(args.model_dir)
    files = {
        name: verified_files(entry, args.model_dir)
        for name, entry in manifest.items()
        if not (args.skip_whisper and name.startswith("whisper"))
    }
    probe = create_session(files["silero-vad"]["silero_vad.onnx"], config)
    providers = probe.get_providers()
    device = "cuda" if CUDA in providers else "cpu"
    machine = machine_description(providers)
    print(f"{machine}\nonnxruntime {ort.__version__}, providers {providers}")

    results: dict[str, Any] = {
        "machine": machine,
        "device": device,
        "onnxruntime": ort.__version__,
        "providers": providers,
        "date": time.strftime("%Y-%m-%d"),
        "models": {
            "silero-vad": bench_vad(files["silero-vad"]["silero_vad.onnx"], config, args.repeats),
            "face-detector": bench_faces(files["face-detector"]["face_detector.onnx"], config, args.repeats),
            "face-emotion": bench_emotion(files["face-emotion"]["emotion.onnx"], config, args.repeats),
        },
    }
    if not args.skip_whisper:
        results["models"]["whisper-base"] = bench_whisper(
            files["whisper-base"], config, speech_clip(args.speech), max(3, args.repeats // 5)
        )
    out = args.out or RESULTS_DIR / f"bench_models-{device}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
