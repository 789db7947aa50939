"""The default media consumer: loudness and frame-rate summaries that prove media is arriving."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

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
    """Drains an ingest's queues and reports levels every `interval_s` through `emit`."""

    def __init__(self, ingest: MediaIngest, emit: Callable[[MediaLevels], None], interval_s: float = 0.5) -> None:
        self._ingest = ingest
        self._emit = emit
        self._interval_s = interval_s
        self._sum_squares = 0.0
        self._samples = 0
        self._peak = 0.0

    async def run(self) -> None:
        tasks = [
            asyncio.create_task(self._drain_audio()),
            asyncio.create_task(self._drain_video()),
            asyncio.create_task(self._report()),
        ]
        try:
            await asyncio.gather(*tasks[:2])
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _drain_audio(self) -> None:
        while (chunk := await self._ingest.audio.get()) is not None:
            samples = chunk.samples
            self._sum_squares += float(np.dot(samples, samples))
            self._samples += samples.size
            self._peak = max(self._peak, float(np.max(np.abs(samples))) if samples.size else 0.0)

    async def _drain_video(self) -> None:
        # Frame rate comes from the ingest's counters; sampled frames are only drained.
        while await self._ingest.video.get() is not None:
            pass

    async def _report(self) -> None:
        last_video_frames = 0
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
