"""Real compressed video frames, made with PyAV's encoders, for tests of what the server does before decoding."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np


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
