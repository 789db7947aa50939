"""Loudness and frame-rate summaries that show a candidate the server really receives them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from media.frames import AudioChunk
from media.ingest import MediaIngest

SILENCE_DBFS = -100.0


@dataclass(frozen=True, slots=True)
class MediaLevels:
    """What the server received over the last interval, for the candidate's 'we hear and see you' meter."""

    time_s: float
    audio_rms_dbfs: float
    audio_peak_dbfs: float
    video_fps: float
    video_width: int
    video_height: int


def dbfs(value: float) -> float:
    return SILENCE_DBFS if value <= 1e-5 else max(SILENCE_DBFS, 20.0 * float(np.log10(value)))


class LevelMeter:
    """Accumulates what it is shown (`observe_audio`) and reports every `interval_s` through `emit`.

    Frame rate comes from the ingest's own counters, which count every decoded
    frame, not only the sampled ones.
    """

    def __init__(self, ingest: MediaIngest, emit: Callable[[MediaLevels], None], interval_s: float = 0.5) -> None:
        self._ingest = ingest
        self._emit = emit
        self._interval_s = interval_s
        self._sum_squares = 0.0
        self._samples = 0
        self._peak = 0.0

    def observe_audio(self, chunk: AudioChunk) -> None:
        samples = chunk.samples
        if samples.size:
            self._sum_squares += float(np.dot(samples, samples))
            self._samples += samples.size
            self._peak = max(self._peak, float(np.max(np.abs(samples))))

    async def report_forever(self) -> None:
        last_video_frames = self._ingest.stats.video_frames
        while True:
            await asyncio.sleep(self._interval_s)
            rms = (self._sum_squares / self._samples) ** 0.5 if self._samples else 0.0
            stats = self._ingest.stats
            video_fps = (stats.video_frames - last_video_frames) / self._interval_s
            last_video_frames = stats.video_frames
            self._emit(
                MediaLevels(
                    time_s=self._ingest.now_s(),
                    audio_rms_dbfs=round(dbfs(rms), 1),
                    audio_peak_dbfs=round(dbfs(self._peak), 1),
                    video_fps=round(video_fps, 1),
                    video_width=stats.video_width,
                    video_height=stats.video_height,
                )
            )
            self._sum_squares, self._samples, self._peak = 0.0, 0, 0.0

    async def run(self) -> None:
        """Stand-alone use: drain the ingest's queues and report until both close."""

        async def drain_audio() -> None:
            while (chunk := await self._ingest.audio.get()) is not None:
                self.observe_audio(chunk)

        async def drain_video() -> None:
            while await self._ingest.video.get() is not None:
                pass

        reporter = asyncio.create_task(self.report_forever())
        try:
            await asyncio.gather(drain_audio(), drain_video())
        finally:
            reporter.cancel()
            await asyncio.gather(reporter, return_exceptions=True)
