"""Typed media units that flow from ingest to the scoring pipeline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ANALYSIS_SAMPLE_RATE = 16_000
# The analysis audio is 16-bit PCM (in float32, each sample a multiple of 1/32768): what WebRTC's Opus decoder gives,
# and what the session recording keeps losslessly, so a replay of that recording hears exactly what the models heard.
PCM16_SCALE = 32_768


def to_pcm16(samples: np.ndarray) -> np.ndarray:
    """`samples` (float, nominally [-1, 1]) as the nearest 16-bit PCM values (int16)."""
    levels: np.ndarray = np.clip(np.rint(samples * PCM16_SCALE), -PCM16_SCALE, PCM16_SCALE - 1).astype(np.int16)
    return levels


def on_pcm16_grid(samples: np.ndarray) -> np.ndarray:
    """`samples` rounded to the nearest 16-bit PCM value, as float32."""
    return (to_pcm16(samples) / PCM16_SCALE).astype(np.float32)


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """A fixed-size block of 16 kHz mono float32 PCM in [-1, 1] (from a session or a file: 16-bit values, see above).

    `start_s` is the position of the first sample on the session's media clock
    (seconds since the first audio frame arrived), so consumers can timestamp
    events without a wall clock.
    """

    samples: np.ndarray
    start_s: float
    sample_rate: int = ANALYSIS_SAMPLE_RATE

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True, slots=True)
class VideoFrame:
    """One sampled video frame at analysis size, as an RGB uint8 array (H, W, 3).

    `thumbnail`, when the sampler made one, is the same picture scaled straight from the decoder's YUV to a
    small size (see `media.video.THUMBNAIL_SIDE`): detectors that look at the whole frame at low resolution
    start from it instead of shrinking `rgb` themselves, which costs ten times more.
    """

    rgb: np.ndarray
    time_s: float
    source_width: int
    source_height: int
    thumbnail: np.ndarray | None = None
