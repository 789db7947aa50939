"""Whisper's log-mel features in numpy: filterbank, STFT, normalisation and the padded window."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16_000
N_FFT = 400
HOP_LENGTH = 160
N_MELS = 80
FRAMES_PER_SECOND = SAMPLE_RATE // HOP_LENGTH  # 100
WINDOW_STEP_S = 5  # windows grow in 5 s steps: padding only to the next 1 s made Mandarin loop
# A clip that filled its window exactly (a 5.0 s cut ending mid-word) made the decoder repeat a
# word to the token cap; 0.5 s of padding already stopped that at every cut point tried.
MIN_PADDING_FRAMES = 100
MAX_WINDOW_S = 30  # what Whisper was trained on; its encoder positions end there
MAX_FRAMES = MAX_WINDOW_S * FRAMES_PER_SECOND


# Slaney's mel scale (librosa's default, htk=False): linear below 1 kHz, logarithmic above.
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = math.log(6.4) / 27.0


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    log = _MIN_LOG_MEL + np.log(np.maximum(hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(hz >= _MIN_LOG_HZ, log, hz / _F_SP)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mel - _MIN_LOG_MEL)), _F_SP * mel)


@lru_cache(maxsize=4)
def mel_filterbank(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """Triangular filters [n_mels, n_fft//2 + 1], Slaney scale and area normalisation.

    Equal to librosa.filters.mel(sr, n_fft, n_mels), which is what Whisper's
    mel_filters.npz was made from.
    """
    fft_freqs = np.linspace(0.0, sample_rate / 2, 1 + n_fft // 2)
    mel_points = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(sample_rate / 2)), n_mels + 2))
    widths = np.diff(mel_points)
    ramps = mel_points[:, None] - fft_freqs[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (mel_points[2 : n_mels + 2] - mel_points[:n_mels]))[:, None]
    weights = weights.astype(np.float32)
    weights.setflags(write=False)  # shared through the cache
    return weights


@lru_cache(maxsize=1)
def _hann_window() -> np.ndarray:
    # Periodic Hann, as torch.hann_window(400) gives.
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)


def log_mel(samples: np.ndarray) -> np.ndarray:
    """Normalised log-mel [80, n] of 16 kHz mono audio, n = len(samples) // 160 content frames.

    Follows Whisper: centred STFT with reflect padding, power spectrum, log10 clamped
    at 1e-10 and to 8 below the peak, then (x + 4) / 4.
    """
    audio = np.asarray(samples, dtype=np.float32).reshape(-1)
    n_frames = len(audio) // HOP_LENGTH
    # Whisper drops the STFT's last frame; 160 trailing zeros make the frame count
    # len // 160 + 1 so that every content sample lands in a frame (faster-whisper does the same).
    audio = np.concatenate([audio, np.zeros(HOP_LENGTH, dtype=np.float32)])
    if len(audio) <= N_FFT // 2:
        audio = np.pad(audio, (0, N_FFT // 2 + 1 - len(audio)))  # reflect padding needs a few samples
    padded = np.pad(audio, N_FFT // 2, mode="reflect")
    count = 1 + (len(padded) - N_FFT) // HOP_LENGTH
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_LENGTH][:count]
    spectrum = np.fft.rfft(frames * _hann_window(), axis=-1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)[:n_frames]
    mel = mel_filterbank() @ power.T  # [80, n]
    log_spec = np.log10(np.maximum(mel, 1e-10))
    if log_spec.size:
        log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)


def window_frames(content_frames: int) -> int:
    """Frames of the window a clip is decoded in: the next multiple of 5 s that leaves at least
    1 s of padding, at most 30 s."""
    step = WINDOW_STEP_S * FRAMES_PER_SECOND
    return min(MAX_FRAMES, max(step, -(-(content_frames + MIN_PADDING_FRAMES) // step) * step))


@dataclass(frozen=True)
class WindowFeatures:
    mel: np.ndarray  # [80, window] float32: normalised log-mel, zero beyond the content
    content_frames: int  # frames that hold audio (<= window)

    @property
    def duration_s(self) -> float:
        return self.content_frames / FRAMES_PER_SECOND

    @property
    def window_s(self) -> float:
        return float(self.mel.shape[1] / FRAMES_PER_SECOND)


def pad_window(mel: np.ndarray, frames: int | None = None) -> WindowFeatures:
    """Zero-pad normalised log-mel (as Whisper does, rather than padding the audio) to `frames`
    or to the clip's own window. Frames past 30 s are dropped."""
    mel = mel[:, :MAX_FRAMES]
    content = mel.shape[1]
    size = frames if frames is not None else window_frames(content)
    if size % 2 or size < content or size > MAX_FRAMES:
        raise ValueError(f"a window of {size} frames cannot hold {content} content frames (even, <= {MAX_FRAMES})")
    window = np.zeros((N_MELS, size), dtype=np.float32)
    window[:, :content] = mel
    return WindowFeatures(mel=window, content_frames=content)


def window_features(samples: np.ndarray, frames: int | None = None) -> WindowFeatures:
    """Encoder input for one clip: its log-mel in a window of `frames` or of its own size."""
    return pad_window(log_mel(samples), frames)
