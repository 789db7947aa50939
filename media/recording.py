"""A session's audio kept for HR to play back: the 16 kHz analysis audio as Opus in Ogg, encoded off the event loop.

At 64 kbit/s speech takes about 35 MB an hour and 0.25 % of a core to encode at libopus's middle complexity
(measured here on 25 s of speech: the same CPU as at 24 kbit/s; the default top complexity cost three times as much
for the same size). The file holds what the models heard, so a transcript's times point into it and `replay` of it
reads as the live interview did: at 24 kbit/s the replay of a recorded answer decoded a doubtful utterance
differently in most runs of the live-versus-replay test, at 64 kbit/s in one of three (48 and 96 kbit/s alike).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import av
import numpy as np

from media.frames import ANALYSIS_SAMPLE_RATE, AudioChunk

logger = logging.getLogger(__name__)

BITRATE = 64_000
COMPLEXITY = 5  # libopus 0-10: past the middle, each step costs more CPU than it gives speech at this rate
FLUSH_SAMPLES = ANALYSIS_SAMPLE_RATE  # encode about once a second


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
        self.seconds = 0.0

    def write(self, chunk: AudioChunk) -> None:
        if self.failed:
            return
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
                self._container = av.open(str(self.path), "w", format="ogg")
                self._stream = self._container.add_stream(
                    "libopus", rate=ANALYSIS_SAMPLE_RATE, layout="mono", options={"compression_level": str(COMPLEXITY)}
                )
                self._stream.bit_rate = BITRATE
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, dtype=np.float32)[None, :], format="flt", layout="mono")
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
