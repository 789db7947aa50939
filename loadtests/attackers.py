"""What hostile senders send a node: real compressed frames with forged headers, floods, garbage. The attack tests
(tests/test_whip_aiortc.py) and the attacker benchmark (bench_attackers.py) both send these through aiortc."""

from __future__ import annotations

import asyncio
import os
from fractions import Fraction

import av
import numpy as np
from aiortc.mediastreams import MediaStreamTrack


def encoded_key_frame(codec: str, width: int, height: int, **options: str) -> bytes:
    """One key frame of noise, `codec` an FFmpeg encoder (libvpx for VP8, libx264 for H.264, Annex B)."""
    context = av.CodecContext.create(codec, "w")
    context.width, context.height, context.pix_fmt, context.time_base = width, height, "yuv420p", Fraction(1, 30)
    context.options = options
    rgb = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    frame.pts = 0
    packets = context.encode(frame) + context.encode(None)
    return bytes(packets[0])


def vp8_claiming(width: int, height: int) -> bytes:
    """A real 64x64 VP8 key frame whose header claims `width` x `height` (what a decoder allocates for)."""
    data = bytearray(encoded_key_frame("libvpx", 64, 64))
    data[6:8] = (width & 0x3FFF).to_bytes(2, "little")
    data[8:10] = (height & 0x3FFF).to_bytes(2, "little")
    return bytes(data)


class ForgedVideo(MediaStreamTrack):
    """An attacker's camera: compressed frames sent as they are (aiortc packs an av.Packet without encoding), `fps`
    of them a second, each `frame` (or, with `garbage_bytes`, that many random bytes a frame: RTP garbage)."""

    kind = "video"

    def __init__(self, frame: bytes, fps: float, garbage_bytes: int = 0) -> None:
        super().__init__()
        self.frame, self.interval_s, self.garbage_bytes, self.sent = frame, 1 / fps, garbage_bytes, 0

    async def recv(self) -> av.Packet:
        await asyncio.sleep(self.interval_s)
        packet = av.Packet(os.urandom(self.garbage_bytes) if self.garbage_bytes else self.frame)
        packet.pts, packet.time_base = round(self.sent * self.interval_s * 90_000), Fraction(1, 90_000)
        self.sent += 1
        return packet
