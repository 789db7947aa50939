"""Still JPEG snapshots of a session's sampled video, for HR watching an interview live."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from media.frames import VideoFrame


def jpeg_snapshot(frame: VideoFrame, max_side: int = 320, quality: int = 8) -> bytes:
    """The frame as a JPEG at most `max_side` pixels on its longer side (`quality` is MJPEG's qscale: 2 best, 31 worst).

    HR sees a still a second rather than a re-sent video stream: re-encoding VP8 for every viewer
    costs the node far more CPU than one small JPEG a second (loadtests/bench_snapshots.py).
    """
    height, width = frame.rgb.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    # JPEG's 4:2:0 chroma wants even dimensions.
    out_w, out_h = max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)
    video = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame.rgb), format="rgb24")
    video = video.reformat(width=out_w, height=out_h, format="yuvj420p")
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt = out_w, out_h, "yuvj420p"
    codec.time_base = Fraction(1, 1)
    codec.qmin = codec.qmax = quality
    packets = codec.encode(video) + codec.encode(None)
    return b"".join(bytes(p) for p in packets)
