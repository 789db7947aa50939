"""What keeping each answer's video costs a node: CPU and disk of the answer recorder (media/answer_recording.py).

    python -m loadtests.bench_answer_recording [--seconds 60] [--interviews 8] [--kbps 600] [--fps 30]

The media is real: the tests' moving face (640x480) encoded with libvpx at the rate the server asks browsers for
(`video_send_kbps`, 600 kbit/s) in real-time mode, as Chromium's encoder sends it, and a tone in 20 ms Opus frames.
Two measures:
  1. the recorder's own work: every frame of `--seconds` of media through `AnswerFiles` (remuxing into one WebM a
     question, a new question every 20 s), timed on the CPU clock: CPU seconds per minute of interview;
  2. `--interviews` recorders fed at real-time pace on one event loop (the way a node runs them), the process's CPU
     over the run less that of the same feeding into nothing: the share of a core that many interviews' recording
     takes, its thread hops included.
  3. what decoding each codec costs the node for the models (one thread), VP8 against H.264 baseline.
Prints the figures and writes loadtests/results/bench_answer_recording-<cores>core.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import resource
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from media.answer_recording import AnswerFiles, AnswerRecorder, EncodedMedia, is_key_frame
from tests.helpers.media_files import make_face_video

RESULTS_DIR = Path(__file__).resolve().parent / "results"
QUESTION_EVERY_S = 20.0
PLI_ROUND_TRIP_S = 0.2


def encode(seconds: float, kbps: int, fps: int, work: Path) -> list[EncodedMedia]:
    """`seconds` of real encoded media in arrival order: the face video (VP8) and a tone (Opus)."""
    source = make_face_video(work / "face.y4m", seconds=min(seconds, 20.0), fps=fps)
    video = av.CodecContext.create("libvpx", "w")
    video.width, video.height, video.pix_fmt = 640, 480, "yuv420p"
    video.time_base = Fraction(1, fps)
    video.bit_rate = kbps * 1000
    video.options = {"deadline": "realtime", "cpu-used": "8", "lag_in_frames": "0", "error-resilient": "1"}
    video.gop_size = 3000  # browsers send key frames when asked (a question's file asks for one), rarely otherwise
    frames: list[EncodedMedia] = []
    with av.open(str(source)) as container:
        pictures = [f.reformat(format="yuv420p") for f in container.decode(video=0)]
    key_frame_at = {round((q * QUESTION_EVERY_S + PLI_ROUND_TRIP_S) * fps) for q in range(int(seconds // QUESTION_EVERY_S) + 1)}
    for i in range(int(seconds * fps)):
        picture = pictures[i % len(pictures)]
        picture.pts = i
        # The browser answers the key frame the recorder asks for at each question, a round trip later.
        picture.pict_type = av.video.frame.PictureType.I if i in key_frame_at else av.video.frame.PictureType.NONE
        for packet in video.encode(picture):
            data = bytes(packet)
            frames.append(EncodedMedia("video", "vp8", data, packet.pts / fps, is_key_frame("vp8", data)))
    audio = av.CodecContext.create("libopus", "w")
    audio.sample_rate, audio.layout, audio.format, audio.bit_rate = 48_000, "mono", "flt", 32_000
    for i in range(int(seconds * 50)):
        t = np.arange(960) / 48_000 + i * 0.02
        sound = av.AudioFrame.from_ndarray((0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)[None, :], format="flt", layout="mono")
        sound.sample_rate, sound.pts = 48_000, i * 960
        frames.extend(EncodedMedia("audio", "opus", bytes(p), i * 0.02) for p in audio.encode(sound))
    return sorted(frames, key=lambda f: f.time_s)


def recorder_work(frames: list[EncodedMedia], directory: Path) -> dict[str, float]:
    files = AnswerFiles(directory, lambda index, n: f"q{index + 1:02d}-{n}", expects_video=True, max_bytes=10**10)
    started = time.process_time()
    next_question = 0.0
    index = 0
    for media in frames:
        if media.time_s >= next_question:
            files.handle(("question", index, media.time_s))
            index += 1
            next_question += QUESTION_EVERY_S
        files.handle(media)
    files.handle(None)
    cpu_s = time.process_time() - started
    seconds = frames[-1].time_s
    written = sum(f.size_bytes for f in files.finished)
    return {
        "media_seconds": round(seconds, 1),
        "files": len(files.finished),
        "cpu_s": round(cpu_s, 4),
        "cpu_s_per_interview_minute": round(cpu_s / seconds * 60, 4),
        "core_share_per_interview": round(cpu_s / seconds, 5),
        "bytes_per_minute": round(written / seconds * 60),
    }


async def real_time(frames: list[EncodedMedia], interviews: int, directory: Path) -> dict[str, float]:
    """`interviews` recorders, each fed its frames as they would arrive, on this event loop."""

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    duration = frames[-1].time_s
    idle_start = cpu()
    await asyncio.sleep(min(duration, 10.0))
    idle_per_s = (cpu() - idle_start) / min(duration, 10.0)

    class NoRecorder:
        """Takes the frames and does nothing: what feeding them in real time costs by itself."""

        def write(self, media: EncodedMedia) -> None: ...

        def question_asked(self, index: int, at_s: float) -> None: ...

    async def feed(recorder: AnswerRecorder | NoRecorder, offset: float) -> None:
        loop = asyncio.get_running_loop()
        begin = loop.time() + offset
        next_question, index = 0.0, 0
        for media in frames:
            delay = begin + media.time_s - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if media.time_s >= next_question:
                recorder.question_asked(index, media.time_s)
                index += 1
                next_question += QUESTION_EVERY_S
            recorder.write(media)

    start = cpu()
    wall = time.monotonic()
    await asyncio.gather(*(feed(NoRecorder(), i * 0.013) for i in range(interviews)))
    feeding_per_s = (cpu() - start) / (time.monotonic() - wall)

    recorders = [
        AnswerRecorder(AnswerFiles(directory / f"iv{i}", lambda index, n: f"q{index + 1:02d}-{n}", expects_video=True, max_bytes=10**10))
        for i in range(interviews)
    ]
    start = cpu()
    wall = time.monotonic()
    await asyncio.gather(*(feed(r, i * 0.013) for i, r in enumerate(recorders)))
    finished = [await r.close() for r in recorders]
    used = cpu() - start
    elapsed = time.monotonic() - wall
    extra = used - feeding_per_s * elapsed
    return {
        "interviews": interviews,
        "seconds": round(elapsed, 1),
        "process_cpu_s": round(used, 3),
        "idle_loop_cpu_s": round(idle_per_s * elapsed, 3),
        "feeding_alone_cpu_s": round(feeding_per_s * elapsed, 3),
        "core_share_all": round(extra / elapsed, 4),
        "core_share_per_interview": round(extra / elapsed / interviews, 5),
        "frames_dropped": sum(r.dropped for r in recorders),
        "files": sum(len(f) for f in finished),
    }


def decode_cost(vp8: list[bytes], seconds: float, kbps: int, fps: int, work: Path) -> dict[str, Any]:
    """What the node spends decoding each codec for the models (one thread, as aiortc's decoder runs), at the same
    rate: the VP8 of measure 1, and the same face encoded as H.264 baseline. The reason the page asks for H.264
    first, besides its files playing on every phone."""
    source = make_face_video(work / "face-decode.y4m", seconds=min(seconds, 20.0), fps=fps)
    with av.open(str(source)) as container:
        pictures = [f.reformat(format="yuv420p") for f in container.decode(video=0)]
    video = av.CodecContext.create("libx264", "w")
    video.width, video.height, video.pix_fmt = 640, 480, "yuv420p"
    video.time_base, video.bit_rate, video.gop_size = Fraction(1, fps), kbps * 1000, 3000
    video.options = {"preset": "veryfast", "tune": "zerolatency", "profile": "baseline"}
    h264: list[bytes] = []
    for i in range(int(seconds * fps)):
        picture = pictures[i % len(pictures)]
        picture.pts = i
        h264 += [bytes(p) for p in video.encode(picture)]
    results: dict[str, Any] = {}
    for name, packets in (("vp8", vp8), ("h264", h264)):
        decoding = av.CodecContext.create(name, "r")
        decoding.thread_count = 1
        started = time.process_time()
        frames = sum(len(decoding.decode(av.Packet(data))) for data in packets)
        cpu_s = time.process_time() - started
        results[name] = {
            "frames": frames,
            "measured_kbps": round(sum(map(len, packets)) * 8 / seconds / 1000),
            "decode_cpu_s_per_minute": round(cpu_s / seconds * 60, 3),
            "core_share": round(cpu_s / seconds, 4),
        }
    return results


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as work:
        frames = encode(args.seconds, args.kbps, args.fps, Path(work))
        video_bytes = sum(len(f.data) for f in frames if f.kind == "video")
        single = recorder_work(frames, Path(work) / "single")
        concurrent = await real_time(frames, args.interviews, Path(work) / "concurrent")
        vp8 = [f.data for f in frames if f.kind == "video"]
        decoding = decode_cost(vp8, args.seconds, args.kbps, args.fps, Path(work))
    return {
        "bench": "answer_recording",
        "date": datetime.date.today().isoformat(),
        "cores": os.cpu_count(),
        "video": {
            "codec": "vp8",
            "size": "640x480",
            "fps": args.fps,
            "asked_kbps": args.kbps,
            "measured_kbps": round(video_bytes * 8 / args.seconds / 1000),
        },
        "audio": {"codec": "opus", "kbps": 32},
        "question_every_s": QUESTION_EVERY_S,
        "recorder_work": single,
        "real_time": concurrent,
        "decoding_for_the_models": decoding,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interviews", type=int, default=8)
    parser.add_argument("--kbps", type=int, default=600)
    parser.add_argument("--fps", type=int, default=30)
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    print(json.dumps(result, indent=2))
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / f"bench_answer_recording-{os.cpu_count()}core.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
