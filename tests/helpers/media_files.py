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
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-loop",
            "1",
            "-framerate",
            str(fps),
            "-i",
            str(astronaut_png()),
            "-vf",
            crop,
            "-t",
            str(seconds),
            "-r",
            str(fps),
            str(path),
        ],
        check=True,
    )
    return path


def make_handheld_video(path: Path, photo: Path, seconds: float, fps: int = 6, zoom: float = 1.08) -> Path:
    """A 640x480 video of `photo` as a hand-held camera films it: a slow zoom in and out around `zoom`, a drift of
    a few dozen pixels each way, sensor noise and lossy VP8, so no two frames are alike. The frame is the photo's
    top 4:3 (centred across) and zooms towards its upper third, where people's faces are in a portrait or a group photo."""
    move = (
        "scale=1280:960:force_original_aspect_ratio=increase,crop=1280:960:(iw-1280)/2:0,"  # 4:3, as zoompan keeps no aspect
        f"zoompan=z='{zoom}+0.06*sin(on/40)':x='iw/2-(iw/zoom/2)+30*sin(on/25)':y='(ih-ih/zoom)/3+15*cos(on/31)'"
        f":d=1:s=640x480:fps={fps},noise=alls=6:allf=t,format=yuv420p"
    )
    source = ["-loop", "1", "-i", str(photo), "-vf", move, "-t", str(seconds)]
    vp8 = ["-c:v", "libvpx", "-b:v", "800k", "-deadline", "realtime", "-cpu-used", "8"]
    subprocess.run(["ffmpeg", "-v", "error", "-y", *source, *vp8, str(path)], check=True)
    return path


def read_wav_mono(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0
        channels, rate = w.getnchannels(), w.getframerate()
    return data.reshape(-1, channels).mean(axis=1), rate


def envelope(samples: np.ndarray, rate: int, window_s: float = 0.05, hop_s: float | None = None) -> np.ndarray:
    """RMS loudness over `window_s` windows taken every `hop_s` (default: back to back)."""
    n = int(rate * window_s)
    hop = int(rate * (hop_s or window_s))
    squares = np.concatenate(([0.0], np.cumsum(samples.astype(np.float64) ** 2)))
    starts = np.arange(0, len(samples) - n + 1, hop)
    return np.sqrt(np.maximum(squares[starts + n] - squares[starts], 0.0) / n)


def best_envelope_correlation(received: np.ndarray, received_rate: int, reference: np.ndarray, reference_rate: int) -> float:
    """Pearson r between the 50 ms loudness envelopes of `received` and the looping `reference`.

    The browser loops the file from a point we do not know, so the reference is
    tiled and every alignment is tried at 5 ms steps (a coarser step would
    misalign the windows and understate the match).
    """
    window_s, fine_hop_s = 0.05, 0.005
    steps_per_window = round(window_s / fine_hop_s)
    got = envelope(received, received_rate, window_s)
    period = len(envelope(reference, reference_rate, window_s, fine_hop_s))
    repeats = int(len(received) / received_rate * reference_rate / len(reference)) + 2
    fine = envelope(np.tile(reference, repeats), reference_rate, window_s, fine_hop_s)
    best = -1.0
    for offset in range(period):
        window = fine[offset : offset + len(got) * steps_per_window : steps_per_window]
        if len(window) < len(got) or window.std() == 0 or got.std() == 0:
            continue
        best = max(best, float(np.corrcoef(got, window)[0, 1]))
    return best


def speech_then_pause(path: Path, text: str, before_s: float, after_s: float) -> Path:
    """`text` spoken by espeak-ng with silence before and after it, at 48 kHz (a fake microphone loops it)."""
    speech = make_speech_wav(path.with_name(f"{path.stem}-speech.wav"), text)
    subprocess.run(["sox", str(speech), str(path), "pad", str(before_s), str(after_s)], check=True)
    return path
