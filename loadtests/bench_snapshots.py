"""What showing HR the candidate's video costs the node: a JPEG still a second vs re-encoding the video for HR.

    python -m loadtests.bench_snapshots [--seconds 10]

The node already decodes the candidate's video and samples frames for face analysis. To show HR the
candidate it can either send a small JPEG of the latest sampled frame about once a second (what
server/live/snapshots.py does while a dashboard watches), or re-encode a video stream for each watching
HR page (aiortc re-encodes every frame it sends: VP8 or H.264 in software). This measures the CPU of both
on the same frames (a moving 640x480 face) and writes loadtests/results/bench_snapshots-cpu.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from media.frames import VideoFrame
from media.snapshots import jpeg_snapshot
from tests.helpers.media_files import make_face_video

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def face_frames(seconds: float) -> list[np.ndarray]:
    with tempfile.TemporaryDirectory() as tmp:
        path = make_face_video(Path(tmp) / "face.y4m", seconds=seconds, fps=30)
        with av.open(str(path)) as container:
            return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def jpeg_cost_ms(frames: list[np.ndarray]) -> tuple[float, int]:
    sizes, started = [], time.process_time()
    for i, rgb in enumerate(frames):
        sizes.append(len(jpeg_snapshot(VideoFrame(rgb=rgb, time_s=i / 30, source_width=640, source_height=480))))
    return (time.process_time() - started) * 1000 / len(frames), int(np.mean(sizes))


def video_cost_ms(frames: list[np.ndarray], codec_name: str, fps: int, kbps: int) -> float:
    """CPU per second of video sent to one viewer, encoding like aiortc does (software, realtime settings)."""
    codec = av.CodecContext.create(codec_name, "w")
    codec.width, codec.height, codec.pix_fmt = 640, 480, "yuv420p"
    codec.framerate = Fraction(fps, 1)
    codec.time_base = Fraction(1, fps)
    codec.bit_rate = kbps * 1000
    codec.options = {"deadline": "realtime", "cpu-used": "8"} if codec_name == "libvpx" else {"preset": "ultrafast", "tune": "zerolatency"}
    step = max(1, 30 // fps)
    sent = frames[::step]
    started = time.process_time()
    for i, rgb in enumerate(sent):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        codec.encode(frame)
    elapsed = time.process_time() - started
    return elapsed * 1000 / (len(sent) / fps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    frames = face_frames(args.seconds)
    jpeg_ms, jpeg_bytes = jpeg_cost_ms(frames)
    results = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "frames": len(frames),
        "jpeg_still_320px": {
            "ms_per_still": round(jpeg_ms, 2),
            "bytes_per_still": jpeg_bytes,
            "cpu_ms_per_second_at_1_fps": round(jpeg_ms, 2),
        },
        "reencoded_video_640x480": {},
    }
    for codec_name, fps, kbps in (("libvpx", 15, 500), ("libvpx", 30, 1000), ("libx264", 15, 500)):
        cost = video_cost_ms(frames, codec_name, fps, kbps)
        results["reencoded_video_640x480"][f"{codec_name}@{fps}fps"] = {"cpu_ms_per_second_per_viewer": round(cost, 1)}
    print(json.dumps(results, indent=2))
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "bench_snapshots-cpu.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
