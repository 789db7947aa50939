"""A session's audio kept for HR and for audits: the 16 kHz analysis audio, losslessly as FLAC, encoded off the event loop.

The file holds exactly what the models heard (the analysis audio is 16-bit PCM, `media.frames.on_pcm16_grid`), so a
transcript's times point into it and `replay` of it decodes the very samples the live interview decoded. A lossy
codec cannot promise that: with Opus at 64 kbit/s the replay of the live-versus-replay test's interview heard a
doubtful utterance differently in three runs of five (a word each; three words in a CI run), at 24 kbit/s in most. FLAC at its default
level 5 takes about 150 kbit/s of recorded speech (68 MB an hour), 200 kbit/s with white noise at 10 dB, and under
0.1 % of a core, a quarter of what Opus took (`loadtests/bench_session_recording.py`): twice Opus's size, a fraction
of the answer videos'.

Where sample 0 sits on the interview's clock (the first chunk's start, after the connection was set up) is `starts_s`,
listed with the recording and written into the file as the `INTERVIEW_CLOCK_START_S` tag (`recorded_clock_start_s`).
"""

from __future__ import annotations

import asyncio
import logging
import math
from pathlib import Path

import av
import numpy as np

from media.frames import ANALYSIS_SAMPLE_RATE, AudioChunk, to_pcm16

logger = logging.getLogger(__name__)

FILE_SUFFIX = ".flac"
COMPRESSION_LEVEL = 5  # FLAC 0-8: past 5 each step costs CPU for under 2 % of size on speech
FLUSH_SAMPLES = ANALYSIS_SAMPLE_RATE  # encode about once a second
CLOCK_START_TAG = "INTERVIEW_CLOCK_START_S"


def recorded_clock_start_s(path: Path) -> float | None:
    """Where the file's first sample sits on its interview's clock, for a recording this server made; else None."""
    try:
        with av.open(str(path)) as container:
            tags = {key.upper(): value for key, value in container.metadata.items()}
    except av.FFmpegError:
        return None
    try:
        start_s = float(tags.get(CLOCK_START_TAG, ""))
    except ValueError:
        return None
    return start_s if math.isfinite(start_s) and start_s >= 0 else None


class AudioRecorder:
    """Appends chunks to `path`; `close()` finishes the file. A failing write stops the recording, never the session."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._buffer: list[np.ndarray] = []
        self._buffered = 0
        self._queue: asyncio.Queue[np.ndarray | None] = asyncio.Queue()
        self._container: av.container.OutputContainer | None = None
        self._stream: av.audio.stream.AudioStream | None = None
        self._writer = asyncio.create_task(self._write_forever(), name=f"recorder-{path.stem}")
        self.failed = False
        self.starts_s: float | None = None  # the first chunk's start on the interview's clock
        self.seconds = 0.0

    def write(self, chunk: AudioChunk) -> None:
        if self.failed:
            return
        if self.starts_s is None:
            self.starts_s = chunk.start_s
        self._buffer.append(chunk.samples)
        self._buffered += len(chunk.samples)
        if self._buffered >= FLUSH_SAMPLES:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self._queue.put_nowait(np.concatenate(self._buffer))
            self._buffer, self._buffered = [], 0

    async def close(self) -> None:
        self._flush()
        self._queue.put_nowait(None)
        await asyncio.gather(self._writer, return_exceptions=True)

    async def _write_forever(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while (samples := await self._queue.get()) is not None:
                if not self.failed:
                    await loop.run_in_executor(None, self._encode, samples)
        finally:
            if self._container is not None:
                await loop.run_in_executor(None, self._finish)

    def _encode(self, samples: np.ndarray) -> None:
        try:
            if self._container is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._container = av.open(str(self.path), "w", format="flac")
                self._container.metadata[CLOCK_START_TAG] = f"{self.starts_s or 0.0:.6f}"
                self._stream = self._container.add_stream(
                    "flac", rate=ANALYSIS_SAMPLE_RATE, layout="mono", options={"compression_level": str(COMPRESSION_LEVEL)}
                )
            # The analysis audio is on the 16-bit grid already: this is exact (rint only guards other callers).
            frame = av.AudioFrame.from_ndarray(to_pcm16(samples)[None, :], format="s16", layout="mono")
            frame.sample_rate = ANALYSIS_SAMPLE_RATE
            assert self._stream is not None
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
            self.seconds += len(samples) / ANALYSIS_SAMPLE_RATE
        except (av.FFmpegError, OSError) as exc:
            self.failed = True
            logger.error("recording %s stopped: %s", self.path.name, exc)

    def _finish(self) -> None:
        try:
            assert self._stream is not None and self._container is not None
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
        except (av.FFmpegError, OSError) as exc:
            logger.error("recording %s could not be finished: %s", self.path.name, exc)
