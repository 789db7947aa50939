"""What one media session may send, and the per-frame judgement against it (before any decoding).

The limits are read from the compressed frames alone (`bitstream.py` for the picture size), so a stream can be
held to them without spending a decoder on it. The receive path (`server/rtc/encoded_frames.py`) asks `admit`
for each encoded frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from media.bitstream import picture_size

AUDIO_MAX_FRAMES_PER_S = 120  # browsers send 50 (20 ms frames); Opus allows shorter ones
AUDIO_MAX_KBPS = 512  # Opus tops out at 510
FRAME_BURST_S = 1.0  # a second's frames may come at once
BYTE_BURST_S = 2.0  # two seconds' bits may come at once (key frames are large)


@dataclass(frozen=True)
class MediaLimits:
    """What one media session may send (settings: `media_max_*`)."""

    max_width: int = 1280
    max_height: int = 720
    max_fps: float = 30.0
    max_video_kbps: int = 2500
    grace_s: float = 3.0  # a stream over a limit this long (frames over it are dropped meanwhile) is ended

    def picture_allowed(self, width: int, height: int) -> bool:
        """Portrait or landscape: the longer side against the longer limit, the shorter against the shorter."""
        longest, shortest = max(self.max_width, self.max_height), min(self.max_width, self.max_height)
        return 0 < max(width, height) <= longest and 0 < min(width, height) <= shortest


class FrameGuard:
    """Decides, frame by frame, whether one receiver's frame may be decoded; remembers how long it has been over."""

    def __init__(self, kind: str, limits: MediaLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.kind = kind
        self.limits = limits
        self._clock = clock
        # Token buckets: a sender at or under the limits never runs one dry, however its frames bunch up (a key
        # frame, the pacer catching up); one over them does, and then each frame over the budget is refused.
        self._frame_rate = limits.max_fps if kind == "video" else AUDIO_MAX_FRAMES_PER_S
        self._byte_rate = (limits.max_video_kbps if kind == "video" else AUDIO_MAX_KBPS) * 1000 / 8
        self._frames = self._frame_rate * FRAME_BURST_S
        self._bytes = self._byte_rate * BYTE_BURST_S
        self._refilled_at = clock()
        self._oversized = False  # the last size-setting frame was over the limit: what follows depends on it
        self._over_since: float | None = None
        self._last_over = 0.0

    def admit(self, codec: str, data: bytes) -> str | None:
        """None if the frame may be decoded, else why not (`video_too_large`, `frame_rate_too_high`, `bitrate_too_high`)."""
        now = self._clock()
        elapsed = max(0.0, now - self._refilled_at)
        self._refilled_at = now
        self._frames = min(self._frame_rate * FRAME_BURST_S, self._frames + elapsed * self._frame_rate)
        self._bytes = min(self._byte_rate * BYTE_BURST_S, self._bytes + elapsed * self._byte_rate)
        reason = None
        if self.kind == "video" and (size := picture_size(codec, data)) is not None:
            self._oversized = not self.limits.picture_allowed(*size)
        if self._oversized:
            reason = "video_too_large"
        elif self._frames < 1:
            reason = "frame_rate_too_high"
        elif self._bytes < len(data):
            reason = "bitrate_too_high"
        else:  # the budget counts what is decoded: refused frames cost the decoder nothing
            self._frames -= 1
            self._bytes -= len(data)
        if reason is None:
            if self._over_since is not None and now - self._last_over > 1.0:
                self._over_since = None  # a whole second within the limits ends a streak
            return None
        if self._over_since is None:
            self._over_since = now
        self._last_over = now
        return reason

    @property
    def over_too_long(self) -> bool:
        return self._over_since is not None and self._last_over - self._over_since >= self.limits.grace_s
