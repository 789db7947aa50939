"""What keeping a session's analysis audio costs a node, and whether it keeps what the models heard (media/recording.py).

    python -m loadtests.bench_session_recording [--en DIR] [--zh DIR] [--noise-db 10] [--seconds 120]

Real recorded speech (the English and Mandarin test clips, NN.wav), read as a session's analysis audio is (16 kHz mono
16-bit chunks), end to end about `--seconds` of each language with its pauses, clean and with white noise at
`--noise-db` SNR. Each set goes through `AudioRecorder` on an event loop, as a session feeds it, and for comparison
through the Opus encoder at 64 kbit/s that recordings used before. For each: kbit/s on disk, CPU seconds per second of
audio (the process's CPU clock over the run, the encoder's thread included) and whether decoding the file gives back
every sample exactly. Prints the figures and writes loadtests/results/bench_session_recording-<cores>core.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import numpy as np

from media.files import read_audio
from media.frames import ANALYSIS_SAMPLE_RATE, AudioChunk, on_pcm16_grid
from media.recording import AudioRecorder

RESULTS_DIR = Path(__file__).resolve().parent / "results"
CHUNK_SAMPLES = 512
OPUS_BITRATE = 64_000


def speech(folder: Path, seconds: float) -> np.ndarray:
    """The folder's clips one after another, until `seconds` of audio."""
    parts, total = [], 0
    for wav in sorted(folder.glob("*.wav")):
        samples = np.concatenate([c.samples for c in read_audio(wav, CHUNK_SAMPLES)])
        parts.append(samples)
        total += samples.size
        if total >= seconds * ANALYSIS_SAMPLE_RATE:
            break
    if not parts:
        raise SystemExit(f"error: no .wav clips in {folder}")
    return np.concatenate(parts)


def with_noise(samples: np.ndarray, snr_db: float, seed: int = 7) -> np.ndarray:
    power = float(np.mean(samples**2))
    noise = np.random.default_rng(seed).normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), samples.size)
    return on_pcm16_grid(samples + noise)


async def record_flac(samples: np.ndarray, path: Path) -> None:
    recorder = AudioRecorder(path)
    for i in range(0, samples.size - CHUNK_SAMPLES + 1, CHUNK_SAMPLES):
        recorder.write(AudioChunk(samples[i : i + CHUNK_SAMPLES], i / ANALYSIS_SAMPLE_RATE))
        if i % ANALYSIS_SAMPLE_RATE < CHUNK_SAMPLES:
            await asyncio.sleep(0)  # let the writer take each second, as a live session's pace would
    await recorder.close()


def record_opus(samples: np.ndarray, path: Path) -> None:
    with av.open(str(path), "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=ANALYSIS_SAMPLE_RATE, layout="mono", options={"compression_level": "5"})
        stream.bit_rate = OPUS_BITRATE
        for i in range(0, samples.size, ANALYSIS_SAMPLE_RATE):
            frame = av.AudioFrame.from_ndarray(samples[None, i : i + ANALYSIS_SAMPLE_RATE], format="flt", layout="mono")
            frame.sample_rate = ANALYSIS_SAMPLE_RATE
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def measure(name: str, samples: np.ndarray, work: Path) -> dict[str, Any]:
    usable = samples[: samples.size // CHUNK_SAMPLES * CHUNK_SAMPLES]
    seconds = usable.size / ANALYSIS_SAMPLE_RATE
    row: dict[str, Any] = {"set": name, "seconds": round(seconds, 1)}
    for codec, path in (("flac", work / f"{name}.flac"), ("opus-64k", work / f"{name}.ogg")):
        started = time.process_time()
        if codec == "flac":
            asyncio.run(record_flac(usable, path))
        else:
            record_opus(usable, path)
        cpu_s = time.process_time() - started
        decoded = np.concatenate([c.samples for c in read_audio(path, CHUNK_SAMPLES)])
        exact = decoded.size >= usable.size and np.array_equal(decoded[: usable.size], usable)
        row[codec] = {
            "kbit_s": round(path.stat().st_size * 8 / seconds / 1000, 1),
            "mb_per_hour": round(path.stat().st_size / seconds * 3600 / 1e6, 1),
            "core_percent": round(100 * cpu_s / seconds, 3),
            "every_sample_back": bool(exact),
        }
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--en", type=Path, default=Path("data/test-speech/en"), help="English clips (NN.wav)")
    zh_default = os.environ.get("INTERVIEW_ZH_SPEECH_DIR", "data/test-speech/zh")
    parser.add_argument("--zh", type=Path, default=Path(zh_default), help="Mandarin clips (NN.wav)")
    parser.add_argument("--noise-db", type=float, default=10.0, help="SNR of the noisy copies")
    parser.add_argument("--seconds", type=float, default=120.0, help="about how much speech a language")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for language, clips in (("en", args.en), ("zh", args.zh)):
            clean = speech(clips, args.seconds)
            for name, samples in ((language, clean), (f"{language}+noise{args.noise_db:g}dB", with_noise(clean, args.noise_db))):
                row = measure(name, samples, Path(folder))
                rows.append(row)
                flac, opus = row["flac"], row["opus-64k"]
                print(
                    f"{name:>16} {row['seconds']:6.1f} s   FLAC {flac['kbit_s']:6.1f} kbit/s {flac['core_percent']:.3f} % of a core"
                    f" exact {flac['every_sample_back']}   Opus {opus['kbit_s']:5.1f} kbit/s {opus['core_percent']:.3f} %"
                    f" exact {opus['every_sample_back']}"
                )
    results = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} CPU cores",
        "noise_db": args.noise_db,
        "sets": rows,
    }
    out = args.out or RESULTS_DIR / f"bench_session_recording-{os.cpu_count()}core.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
