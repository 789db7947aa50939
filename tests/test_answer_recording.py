"""Each question's evidence file: real encoded VP8 / H.264 and Opus frames remuxed, one file a question, each playable
from its first frame, on the interview's clock, private, capped, and never blocking the event loop."""

from __future__ import annotations

import stat
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from media.answer_recording import AnswerFiles, AnswerRecorder, EncodedMedia, is_key_frame
from media.sender_clock import SenderClock
from server.storage.private_files import private_file

FPS = 15


def encoded_stream(codec: str, seconds: float, start_s: float = 0.0, key_every_s: float = 4.0) -> list[EncodedMedia]:
    """Real encoded frames (a moving picture at 15 fps, a tone in 20 ms Opus frames), in arrival order."""
    video = av.CodecContext.create("libvpx" if codec == "vp8" else "libx264", "w")
    video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
    video.time_base = Fraction(1, FPS)
    video.gop_size = int(key_every_s * FPS)
    video.options = {"deadline": "realtime", "lag_in_frames": "0"} if codec == "vp8" else {"tune": "zerolatency", "preset": "ultrafast"}
    if codec == "h264":
        video.options = {**video.options, "x264-params": "repeat-headers=1:annexb=1"}
    audio = av.CodecContext.create("libopus", "w")
    audio.sample_rate, audio.layout, audio.format = 48_000, "mono", "flt"
    frames: list[EncodedMedia] = []
    for i in range(int(seconds * FPS)):
        picture = np.full((240, 320, 3), (i * 7) % 255, np.uint8)
        picture[:, (i * 4) % 320] = 255
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        for packet in video.encode(frame):
            data = bytes(packet)
            frames.append(EncodedMedia("video", codec, data, start_s + packet.pts / FPS, is_key_frame(codec, data)))
    for i in range(int(seconds * 50)):
        t = np.arange(960) / 48_000 + i * 0.02
        sound = av.AudioFrame.from_ndarray((0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :], format="flt", layout="mono")
        sound.sample_rate, sound.pts = 48_000, i * 960
        frames.extend(EncodedMedia("audio", "opus", bytes(packet), start_s + i * 0.02) for packet in audio.encode(sound))
    return sorted(frames, key=lambda f: f.time_s)


def decoded(path: Path) -> dict[str, list[float]]:
    """Each stream's decoded frame times (seconds from the file's start); decoding fails on a broken file."""
    times: dict[str, list[float]] = {"video": [], "audio": []}
    with av.open(str(path)) as container:
        for frame in container.decode(*container.streams):
            kind = "video" if isinstance(frame, av.VideoFrame) else "audio"
            times[kind].append(float(frame.time))
    return times


def files(tmp_path: Path, expects_video: bool = True, max_bytes: int = 10**9) -> AnswerFiles:
    return AnswerFiles(tmp_path / "rec", lambda index, n: f"q{index + 1:02d}-{n}", expects_video, max_bytes, create_file=private_file)


@pytest.mark.parametrize("codec", ["vp8", "h264"])
def test_each_question_gets_its_own_file_that_plays_from_its_first_frame(tmp_path: Path, codec: str) -> None:
    writer = files(tmp_path)
    stream = encoded_stream(codec, 10.0, start_s=100.0, key_every_s=3.0)
    asked = {100.0: 0, 104.5: 1}  # the second question goes out mid-stream, between key frames (every 3 s)
    for media in stream:
        for at_s in [t for t in asked if t <= media.time_s]:
            writer.handle(("question", asked.pop(at_s), at_s))
        writer.handle(media)
    writer.handle(None)

    assert [f.question_index for f in writer.finished] == [0, 1]
    first, second = writer.finished
    assert first.media_type == ("video/webm" if codec == "vp8" else "video/mp4")
    # The second file starts at the first key frame after its question (at 6 s), and the first keeps all before it.
    assert second.starts_s == pytest.approx(106.0, abs=0.05)
    assert first.ends_s == pytest.approx(106.0, abs=0.1)
    assert second.ends_s == pytest.approx(110.0, abs=0.1)
    for recorded in writer.finished:
        times = decoded(recorded.path)
        assert times["video"] and times["audio"], recorded.path.name
        assert min(times["video"]) == pytest.approx(0.0, abs=0.05)  # playable from the start: a key frame first
        assert max(times["video"]) == pytest.approx(recorded.seconds, abs=0.15)
        assert stat.S_IMODE(recorded.path.stat().st_mode) == 0o600  # the candidate's face and voice
    assert len(decoded(first.path)["video"]) == 6 * FPS
    assert len(decoded(second.path)["video"]) == 4 * FPS


def test_a_key_frame_asked_for_at_the_question_starts_its_file_there(tmp_path: Path) -> None:
    writer = files(tmp_path)
    writer.handle(("question", 0, 0.0))
    for media in encoded_stream("vp8", 3.0, key_every_s=100):
        writer.handle(media)
    writer.handle(("question", 1, 3.0))
    # The sender answers the recorder's picture loss indication with a key frame right away.
    for media in encoded_stream("vp8", 2.0, start_s=3.1, key_every_s=100):
        writer.handle(media)
    writer.handle(None)
    assert [f.question_index for f in writer.finished] == [0, 1]
    assert writer.finished[1].starts_s == pytest.approx(3.1, abs=0.03)


def test_a_voice_interview_records_sound_only(tmp_path: Path) -> None:
    writer = files(tmp_path, expects_video=False)
    writer.handle(("question", 0, 0.0))
    for media in encoded_stream("vp8", 2.0):
        if media.kind == "audio":
            writer.handle(media)
    writer.handle(None)
    (recorded,) = writer.finished
    assert recorded.media_type == "audio/webm"
    times = decoded(recorded.path)
    assert not times["video"] and times["audio"]


def test_a_camera_that_sends_nothing_leaves_a_sound_only_file_until_its_video_comes(tmp_path: Path) -> None:
    writer = files(tmp_path, expects_video=True)
    writer.handle(("question", 0, 0.0))
    stream = encoded_stream("vp8", 12.0, key_every_s=4.0)
    for media in stream:
        if media.kind == "audio" or media.time_s >= 7.0:  # the camera starts sending at 7 s
            writer.handle(media)
        assert writer.awaiting_key_frame == (media.time_s < 8.0)  # its first key frame comes at 8 s
    writer.handle(None)
    sound_only, with_video = writer.finished
    assert sound_only.starts_s == pytest.approx(0.0, abs=0.05)  # the sound held back while waiting for video is kept
    assert not decoded(sound_only.path)["video"]
    assert with_video.starts_s == pytest.approx(8.0, abs=0.05)
    assert with_video.question_index == 0 and decoded(with_video.path)["video"]


def test_nothing_is_kept_before_the_first_question_or_past_the_cap(tmp_path: Path) -> None:
    stream = encoded_stream("vp8", 6.0)
    writer = files(tmp_path, max_bytes=sum(len(m.data) for m in stream[: len(stream) // 2]))
    for media in stream[:100]:
        writer.handle(media)  # no question yet
    assert writer.finished == []
    writer.handle(("question", 0, 0.0))
    for media in stream:
        writer.handle(media)
    assert writer.over_cap
    writer.handle(None)
    (recorded,) = writer.finished
    assert recorded.size_bytes <= sum(len(m.data) for m in stream) // 2 + 64 * 1024
    assert decoded(recorded.path)["video"]  # what was kept still plays


def test_rtp_timestamps_follow_the_sender_and_reanchor_on_a_jump() -> None:
    clock, rate = SenderClock(), 90_000
    assert clock.time_s(1_000 / rate, arrived_s=50.0) == 50.0
    assert clock.time_s((1_000 + 90_000) / rate, arrived_s=51.2) == pytest.approx(51.0)  # jitter: the sender's timing wins
    assert clock.time_s((1_000 + 90_000 * 30) / rate, arrived_s=52.0) == pytest.approx(52.0)  # a jump: arrival time again
    assert clock.time_s((1_000 + 90_000 * 31) / rate, arrived_s=53.1) == pytest.approx(53.0)


async def test_the_recorder_writes_off_the_event_loop_and_drops_rather_than_queue_without_bound(tmp_path: Path) -> None:
    stream = encoded_stream("vp8", 4.0)
    asked: list[int] = []
    recorder = AnswerRecorder(files(tmp_path), ask_for_key_frame=lambda: asked.append(1), queue_frames=50)
    recorder.question_asked(0, 0.0)
    assert asked == [1]
    for media in stream:  # all at once, faster than any disk: the queue holds 50, the rest are counted as lost
        recorder.write(media)
    assert recorder.dropped == len(stream) - 49
    recorded = await recorder.close()
    assert len(recorded) == 1 and decoded(recorded[0].path)["video"]
