"""Consumes a peer connection's remote tracks into bounded queues of analysis-ready media."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.audio import AudioChunker
from media.frames import ANALYSIS_SAMPLE_RATE, AudioChunk, VideoFrame
from media.queues import DropOldestQueue
from media.sender_clock import SenderClock
from media.video import FrameSampler

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MediaConfig:
    """How incoming media is cut up for analysis."""

    audio_chunk_ms: int = 32
    video_sample_fps: float = 2.0
    video_max_side: int = 640
    queue_seconds: float = 4.0

    @property
    def audio_chunk_samples(self) -> int:
        return ANALYSIS_SAMPLE_RATE * self.audio_chunk_ms // 1000

    @property
    def audio_queue_size(self) -> int:
        return max(1, int(self.queue_seconds * 1000 / self.audio_chunk_ms))

    @property
    def video_queue_size(self) -> int:
        return max(1, int(self.queue_seconds * self.video_sample_fps))


@dataclass(slots=True)
class MediaStats:
    """Counters a session exposes to HR, metrics and tests."""

    audio_frames: int = 0
    audio_chunks: int = 0
    audio_seconds: float = 0.0
    audio_gap_filled_s: float = 0.0
    audio_ahead_dropped_s: float = 0.0  # audio sent faster than real time, dropped (the clock never runs ahead)
    video_frames: int = 0
    video_frames_sampled: int = 0
    video_width: int = 0
    video_height: int = 0
    audio_chunks_dropped: int = 0
    video_frames_dropped: int = 0
    video_convert_errors: int = 0


class MediaIngest:
    """Reads decoded frames from remote tracks and feeds the analysis queues.

    aiortc decodes on its own thread and hands frames to an unbounded queue per
    track, so each track is drained continuously here, whatever the consumer does;
    back-pressure is applied only at our bounded, drop-oldest queues.
    """

    def __init__(self, config: MediaConfig, starts_at_s: float = 0.0, sample_slowdown: Callable[[], float] | None = None) -> None:
        """`starts_at_s`: what the media clock reads now. A live interview maps each connection onto its own clock
        this way, once, so every time stamped here (and every event computed from these times) is interview time.
        `sample_slowdown`: read at each frame; video is sampled for analysis that many times less often (an
        overloaded node sheds face and emotion work this way; the recording keeps every frame)."""
        self.config = config
        self._sample_slowdown = sample_slowdown
        self.audio: DropOldestQueue[AudioChunk] = DropOldestQueue(config.audio_queue_size)
        self.video: DropOldestQueue[VideoFrame] = DropOldestQueue(config.video_queue_size)
        self._stats = MediaStats()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop = asyncio.get_running_loop()
        self._origin = self._loop.time() - starts_at_s
        self._chunker = AudioChunker(config.audio_chunk_samples)
        self._sampler = FrameSampler(config.video_sample_fps, config.video_max_side)
        self.kinds: set[str] = set()
        self.latest_frame: VideoFrame | None = None  # the newest sampled frame, for HR's snapshots
        self.last_media_at = self._loop.time()  # loop time of the newest audio or video frame (or of the start)
        self.audio_taps: list[Callable[[AudioChunk], None]] = []  # also fed every chunk (a recorder)

    def now_s(self) -> float:
        """Seconds on this session's media clock (`starts_at_s` when it was created)."""
        return self._loop.time() - self._origin

    def silent_for_s(self) -> float:
        """Seconds since the last frame arrived (a dropped network stops them long before ICE gives up)."""
        return self._loop.time() - self.last_media_at

    @property
    def stats(self) -> MediaStats:
        self._stats.audio_chunks_dropped = self.audio.dropped
        self._stats.video_frames_dropped = self.video.dropped
        self._stats.audio_gap_filled_s = self._chunker.gap_filled_s
        self._stats.audio_ahead_dropped_s = self._chunker.ahead_dropped_s
        return self._stats

    def add_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            reader = self._read_audio(track)
        elif track.kind == "video":
            reader = self._read_video(track)
        else:
            return
        self.kinds.add(track.kind)
        task = asyncio.create_task(reader, name=f"ingest-{track.kind}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read_audio(self, track: MediaStreamTrack) -> None:
        stats = self._stats
        try:
            while True:
                frame = await track.recv()
                if not isinstance(frame, av.AudioFrame):  # a remote track decodes: never an encoded packet
                    continue
                stats.audio_frames += 1
                self.last_media_at = self._loop.time()
                # Resampling a 20 ms frame costs tens of microseconds: cheaper
                # on the loop than a thread hop.
                for chunk in self._chunker.push(frame, self.now_s()):
                    stats.audio_chunks += 1
                    stats.audio_seconds += chunk.duration_s
                    self.audio.put_nowait(chunk)
                    for tap in self.audio_taps:
                        tap(chunk)
        except MediaStreamError:
            pass
        finally:
            self.audio.close()

    async def _read_video(self, track: MediaStreamTrack) -> None:
        stats = self._stats
        clock = SenderClock()  # frame times follow the sender's timestamps unless they stray from arrival time
        try:
            while True:
                frame = await track.recv()
                if not isinstance(frame, av.VideoFrame):
                    continue
                stats.video_frames += 1
                self.last_media_at = self._loop.time()
                stats.video_width, stats.video_height = frame.width, frame.height
                time_s = clock.time_s(self._pts_s(frame), self.now_s())
                slowdown = self._sample_slowdown() if self._sample_slowdown is not None else 1.0
                if not self._sampler.should_sample(time_s, slowdown):
                    continue
                try:
                    sampled = await self._loop.run_in_executor(None, self._sampler.convert, frame, time_s)
                except (av.FFmpegError, ValueError) as exc:
                    stats.video_convert_errors += 1
                    logger.warning("video frame conversion failed: %s", exc)
                    continue
                stats.video_frames_sampled += 1
                self.latest_frame = sampled
                self.video.put_nowait(sampled)
        except MediaStreamError:
            pass
        finally:
            self.video.close()

    @staticmethod
    def _pts_s(frame: av.VideoFrame) -> float | None:
        if frame.pts is None or frame.time_base is None:
            return None
        return float(frame.pts * frame.time_base)

    async def close(self) -> None:
        """Stop reading and release the queues; safe to call more than once."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.audio.close()
        self.video.close()
