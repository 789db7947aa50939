"""The tap on encoded frames: every frame a receiver assembles passes here before its decoder thread sees it.

aiortc hands each frame its jitter buffer completes to a decoder thread through an unbounded queue, and the
decoder sizes its buffers from whatever the stream's headers claim. One invite holder sending 4096x4096 VP8 (or a
key frame that only claims 16383x16383) took a node to 23 GB. Here, on the event loop, each frame is held to the
session's limits first (picture size from the bitstream, frames and bits per second); a frame over them is never
decoded, a sender over the bitrate is asked to slow down (RTCP REMB, RFC draft-alvestrand-rmcat-remb, once a
second), and a stream that stays over them for `grace_s` is ended. The queue to the decoder is bounded (a full
one drops the frame: the decoder then asks for a key frame), and its stop marker jumps the backlog so stopping
a receiver waits for one frame's decode at most, not for everything queued behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, pack_remb_fci

from media.frame_limits import FrameGuard, MediaLimits

# aiortc's receiver keeps its decoder queue in a name-mangled attribute; its decoder thread and packet handler
# both read it from the receiver, so a queue put there before the connection starts is the one they use.
_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_RTCP_SSRC = "_RTCRtpReceiver__rtcp_ssrc"  # the SSRC it sends its RTCP as (set once the transport starts)
VIDEO_QUEUE_FRAMES = 8  # about half a second at 15 fps
AUDIO_QUEUE_FRAMES = 32  # 0.64 s of 20 ms Opus frames


@dataclass
class TapCounts:
    passed: int = 0
    refused: int = 0  # over a limit: never decoded
    dropped: int = 0  # the decoder fell behind: its queue was full


# What the tap tells its session: the reason, and whether the stream has been over a limit too long to go on.
OnRefused = Callable[[str, bool], None]
# Told every frame within the limits (its codec, and aiortc's JitterFrame: data and RTP timestamp), decoded or not.
OnAdmitted = Callable[[Any, Any], None]


class EncodedFrameTap(queue.Queue[Any]):
    """Replaces a receiver's decoder queue: limits checked on the event loop, a bounded queue to the decoder thread."""

    def __init__(self, guard: FrameGuard, capacity: int, on_refused: OnRefused, receiver: RTCRtpReceiver | None = None) -> None:
        super().__init__(maxsize=capacity)
        self.guard = guard
        self.counts = TapCounts()
        self._on_refused = on_refused
        self.receiver = receiver
        self._slow_down_asked_at = float("-inf")
        self._slow_down: asyncio.Task[None] | None = None
        self.on_admitted: OnAdmitted | None = None  # the answer recorder's feed

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:  # the receiver is stopping: its decoder thread should see the marker next, not last
            with self.mutex:
                self.queue.clear()
                self.not_full.notify_all()
            super().put(None, block=False)
            return
        codec, frame = item
        reason = self.guard.admit(codec.name, frame.data)
        if reason is not None:
            self.counts.refused += 1
            if reason == "bitrate_too_high":
                self._ask_to_slow_down()
            self._on_refused(reason, self.guard.over_too_long)
            return
        if self.on_admitted is not None:
            self.on_admitted(codec, frame)
        try:
            super().put(item, block=False)
        except queue.Full:
            self.counts.dropped += 1
            return
        self.counts.passed += 1

    def _ask_to_slow_down(self) -> None:
        """An RTCP REMB with the session's video bitrate to the sender, at most once a second (called on the loop)."""
        now = time.monotonic()
        if self.receiver is None or now - self._slow_down_asked_at < 1.0:
            return
        self._slow_down_asked_at = now
        self._slow_down = asyncio.ensure_future(send_remb(self.receiver, self.guard.limits.max_video_kbps * 1000))


async def send_remb(receiver: RTCRtpReceiver, bitrate_bps: int) -> None:
    """Receiver Estimated Maximum Bitrate for the streams `receiver` hears: browsers and aiortc lower their rate."""
    sources = [source.source for source in receiver.getSynchronizationSources()]
    rtcp_ssrc = getattr(receiver, _RTCP_SSRC, None)
    if not sources or rtcp_ssrc is None:
        return
    packet = RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0, fci=pack_remb_fci(bitrate_bps, sources))
    with contextlib.suppress(ConnectionError):  # the connection closed meanwhile
        await receiver._send_rtcp(packet)


async def request_key_frame(receiver: RTCRtpReceiver) -> None:
    """An RTCP picture loss indication (RFC 4585 6.3.1) for the streams `receiver` hears: the sender's next frame is
    a key frame, which a new file can start with."""
    for source in receiver.getSynchronizationSources():
        with contextlib.suppress(ConnectionError):
            await receiver._send_rtcp_pli(source.source)


def tap_receivers(pc: RTCPeerConnection, limits: MediaLimits, on_refused: OnRefused) -> list[EncodedFrameTap]:
    """Put a tap in front of every receiver's decoder; call after the offer is applied and before the connection starts."""
    taps = []
    for transceiver in pc.getTransceivers():
        receiver: RTCRtpReceiver = transceiver.receiver
        if not isinstance(getattr(receiver, _DECODER_QUEUE, None), queue.Queue):
            raise RuntimeError("this aiortc keeps no decoder queue where the frame tap expects one")
        kind = transceiver.kind
        capacity = VIDEO_QUEUE_FRAMES if kind == "video" else AUDIO_QUEUE_FRAMES
        tap = EncodedFrameTap(FrameGuard(kind, limits), capacity, on_refused, receiver)
        setattr(receiver, _DECODER_QUEUE, tap)
        taps.append(tap)
    return taps
