"""Media from a recording: the same 16 kHz chunks and sampled frames a live session produces."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av

from media.audio import AudioChunker
from media.frames import AudioChunk, VideoFrame
from media.video import FrameSampler


class MediaFileError(ValueError):
    """The file cannot be read as the media it should hold."""


def read_audio(path: Path, chunk_samples: int) -> Iterator[AudioChunk]:
    """Every audio chunk of the file's first audio stream, timed from the start of the file."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MediaFileError(f"{path}: no audio stream")
            chunker = AudioChunker(chunk_samples, max_ahead_s=None)  # a file's time is its own
            for frame in container.decode(audio=0):
                start_s = float(frame.pts * frame.time_base) if frame.pts is not None and frame.time_base else 0.0
                yield from chunker.push(frame, start_s)
    except av.FFmpegError as exc:
        raise MediaFileError(f"{path}: cannot decode audio: {exc}") from exc


def read_video(path: Path, fps: float, max_side: int) -> Iterator[VideoFrame]:
    """The file's video sampled at `fps`, scaled so the longer side is at most `max_side`."""
    sampler = FrameSampler(fps, max_side)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaFileError(f"{path}: no video stream")
            origin: float | None = None
            for index, frame in enumerate(container.decode(video=0)):
                if frame.pts is not None and frame.time_base:
                    pts_s = float(frame.pts * frame.time_base)
                else:
                    rate = container.streams.video[0].average_rate or 30
                    pts_s = index / float(rate)
                origin = pts_s if origin is None else origin
                time_s = pts_s - origin
                if sampler.should_sample(time_s):
                    yield sampler.convert(frame, time_s)
    except av.FFmpegError as exc:
        raise MediaFileError(f"{path}: cannot decode video: {exc}") from exc
