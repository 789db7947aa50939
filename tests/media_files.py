"""Test media made on the spot from packaged inputs: espeak-ng speech and a face photo that moves."""

from __future__ import annotations

import importlib.util
import subprocess
import wave
from pathlib import Path

import numpy as np

SPEECH_TEXT = (
    "Good morning. My name is Alex. I have worked as a backend engineer for six years. "
    "I built a payment service that handles two thousand requests per second. "
    "I enjoy hard problems, and I like working with a small team."
)


def make_speech_wav(path: Path, text: str = SPEECH_TEXT, rate: int = 48_000) -> Path:
    """Speak `text` with espeak-ng and convert it to mono `rate` Hz, 16-bit."""
    raw = path.with_suffix(".espeak.wav")
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(raw), text], check=True, capture_output=True)
    subprocess.run(["sox", str(raw), "-r", str(rate), "-c", "1", "-b", "16", str(path)], check=True, capture_output=True)
    raw.unlink()
    return path


def astronaut_png() -> Path:
    """scikit-image ships this portrait (public domain, NASA); only the file is used."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("scikit-image is not installed (pip install --no-deps scikit-image)")
    return Path(spec.submodule_search_locations[0]) / "data" / "astronaut.png"


def make_face_video(path: Path, seconds: float = 6.0, fps: int = 30) -> Path:
    """A 640x480 video of a face that drifts slightly, so every frame differs (y4m or any ffmpeg format)."""
    crop = "crop=w=384:h=288:x='64+24*sin(2*t)':y='20+8*cos(3*t)',scale=640:480,format=yuv420p"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-loop", "1", "-framerate", str(fps), "-i", str(astronaut_png()),
         "-vf", crop, "-t", str(seconds), "-r", str(fps), str(path)],
        check=True,
    )
    return path


def read_wav_mono(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0
        channels, rate = w.getnchannels(), w.getframerate()
    return data.reshape(-1, channels).mean(axis=1), rate


def envelope(samples: np.ndarray, rate: int, window_s: float = 0.05) -> np.ndarray:
    """RMS loudness per window."""
    n = int(rate * window_s)
    usable = len(samples) // n * n
    blocks = samples[:usable].reshape(-1, n)
    return np.sqrt((blocks**2).mean(axis=1))


def best_envelope_correlation(received: np.ndarray, reference: np.ndarray) -> float:
    """Pearson r of `received` against the looping `reference`, at the best alignment.

    The browser loops the file from a point we do not know, so `reference` is
    tiled and every offset within one period is tried.
    """
    period = len(reference)
    tiled = np.tile(reference, len(received) // period + 2)
    best = -1.0
    for offset in range(period):
        window = tiled[offset : offset + len(received)]
        if window.std() == 0 or received.std() == 0:
            continue
        best = max(best, float(np.corrcoef(received, window)[0, 1]))
    return best
