"""Sampling of decoded video frames at a fixed analysis rate and size."""

from __future__ import annotations

import av

from media.frames import VideoFrame

# The longer side of each sampled frame's thumbnail: what the face detector sees (its input is 192x192).
THUMBNAIL_SIDE = 192


def analysis_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Scale (width, height) down so the longer side is at most max_side; even sizes for YUV."""
    scale = min(1.0, max_side / max(width, height))
    w = max(2, round(width * scale / 2) * 2)
    h = max(2, round(height * scale / 2) * 2)
    return w, h


class FrameSampler:
    """Keeps frames at most `fps` times a second (by presentation time) and converts them to RGB.

    Selection is cheap and runs on the event loop; `convert` does the pixel work
    and is meant to run in an executor.
    """

    def __init__(self, fps: float, max_side: int, thumbnail_side: int = THUMBNAIL_SIDE) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.interval_s = 1.0 / fps
        self.max_side = max_side
        self.thumbnail_side = thumbnail_side
        self._next_due_s: float | None = None

    def should_sample(self, time_s: float, slowdown: float = 1.0) -> bool:
        """Whether to keep the frame at `time_s`; `slowdown` > 1 keeps that many times fewer (an overloaded node)."""
        interval_s = self.interval_s * slowdown
        if self._next_due_s is None or time_s >= self._next_due_s - 1e-3:
            base = time_s if self._next_due_s is None or time_s - self._next_due_s > interval_s else self._next_due_s
            self._next_due_s = base + interval_s
            return True
        return False

    def convert(self, frame: av.VideoFrame, time_s: float) -> VideoFrame:
        width, height = analysis_size(frame.width, frame.height, self.max_side)
        rgb = frame.to_ndarray(format="rgb24", width=width, height=height)
        # libswscale's bilinear filter widens with the reduction, so the thumbnail averages every pixel.
        thumb_width, thumb_height = analysis_size(frame.width, frame.height, self.thumbnail_side)
        thumbnail = frame.to_ndarray(format="rgb24", width=thumb_width, height=thumb_height)
        return VideoFrame(rgb=rgb, time_s=time_s, source_width=frame.width, source_height=frame.height, thumbnail=thumbnail)
