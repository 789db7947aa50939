"""Media limits held on the compressed frames: picture size from the bitstream, frame rate, bitrate, and the tap."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

import pytest

from loadtests.attackers import encoded_key_frame, vp8_claiming
from media.bitstream import h264_sps_size, picture_size, vp8_keyframe_size
from media.frame_limits import FrameGuard, MediaLimits
from server.rtc.encoded_frames import EncodedFrameTap


@pytest.mark.parametrize(("width", "height"), [(640, 480), (480, 640), (1280, 720), (176, 144)])
def test_the_picture_size_is_read_from_vp8_and_h264_key_frames(width: int, height: int) -> None:
    assert picture_size("VP8", encoded_key_frame("libvpx", width, height)) == (width, height)
    for profile in ("baseline", "high"):
        frame = encoded_key_frame("libx264", width, height, profile=profile, tune="zerolatency")
        assert picture_size("H264", frame) == (width, height), profile


def test_h264_sizes_are_whole_macroblocks_before_cropping() -> None:
    assert h264_sps_size(encoded_key_frame("libx264", 1920, 1080)) == (1920, 1088)


def test_a_forged_vp8_header_is_read_as_what_it_claims() -> None:
    assert vp8_keyframe_size(vp8_claiming(16383, 16383)) == (16383, 16383)


def test_frames_that_set_no_size_read_as_none() -> None:
    assert vp8_keyframe_size(b"\x01" + bytes(20)) is None  # an inter frame (tag bit 0 set)
    assert picture_size("VP8", b"") is None and picture_size("opus", b"\x00" * 40) is None
    assert h264_sps_size(b"\x00\x00\x00\x01\x41" + bytes(30)) is None  # a slice, no SPS


def test_a_truncated_h264_sps_is_refused_rather_than_guessed() -> None:
    sps = encoded_key_frame("libx264", 640, 480)
    start = sps.index(b"\x00\x00\x01\x67") + 4
    assert h264_sps_size(sps[: start + 4]) == (0, 0)
    assert not MediaLimits().picture_allowed(0, 0)


@dataclass
class FakeClock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_oversized_key_frame_and_the_frames_that_depend_on_it_are_refused_until_a_key_frame_fits() -> None:
    clock = FakeClock()
    guard = FrameGuard("video", MediaLimits(), clock)
    small, inter = encoded_key_frame("libvpx", 640, 480), b"\x01" + bytes(200)
    assert guard.admit("VP8", small) is None and guard.admit("VP8", inter) is None
    clock.now += 0.1
    assert guard.admit("VP8", vp8_claiming(4096, 4096)) == "video_too_large"
    assert guard.admit("VP8", inter) == "video_too_large"
    clock.now += 0.1
    assert guard.admit("VP8", small) is None and guard.admit("VP8", inter) is None


def test_portrait_video_from_a_phone_fits_the_same_limits() -> None:
    limits = MediaLimits(max_width=1280, max_height=720)
    assert limits.picture_allowed(720, 1280) and limits.picture_allowed(480, 640)
    assert not limits.picture_allowed(1920, 1080) and not limits.picture_allowed(800, 800)


def test_frames_over_the_frame_rate_are_refused_and_a_long_streak_ends_the_stream() -> None:
    clock = FakeClock()
    guard = FrameGuard("video", MediaLimits(max_fps=30, grace_s=3.0), clock)
    verdicts = []
    for _ in range(40 * 8):  # 40 frames a second, for eight seconds
        verdicts.append(guard.admit("VP8", b"\x01" + bytes(10)))
        clock.now += 1 / 40
    assert verdicts[:100] == [None] * 100, "the first second's burst allowance lasts about three seconds at 40 fps"
    late = verdicts[-40:]
    assert late.count("frame_rate_too_high") == 10 and late.count(None) == 30, "then 30 a second pass"
    assert guard.over_too_long


def test_a_sender_at_the_limits_is_never_refused_however_its_frames_bunch_up() -> None:
    clock = FakeClock()
    guard = FrameGuard("video", MediaLimits(max_fps=30, max_video_kbps=2000, grace_s=3.0), clock)
    for second in range(20):  # 30 fps and 2 Mbit/s on average: a 60 KB key frame every 2 s, bursts of 3 frames
        for burst in range(10):
            for frame in range(3):
                key = second % 2 == 0 and burst == 0 and frame == 0
                size = 60_000 if key else (2 * 250_000 - 60_000) // 59
                assert guard.admit("VP8", b"\x01" + bytes(size - 1)) is None, (second, burst, frame)
            clock.now += 0.1


def test_a_short_burst_over_the_bitrate_is_forgiven() -> None:
    clock = FakeClock()
    guard = FrameGuard("video", MediaLimits(max_video_kbps=1000, grace_s=3.0), clock)
    assert guard.admit("VP8", bytes([1]) + bytes(300_000)) == "bitrate_too_high"  # 2.4 Mbit: more than 2 s of budget
    for _ in range(15 * 3):  # then three seconds at 15 fps and ~100 kbit/s
        clock.now += 1 / 15
        assert guard.admit("VP8", b"\x01" + bytes(800)) is None
    clock.now += 0.1
    assert guard.admit("VP8", bytes([1]) + bytes(300_000)) == "bitrate_too_high"
    assert not guard.over_too_long, "a new streak starts from zero"


@dataclass
class Codec:
    name: str = "VP8"


@dataclass
class Frame:
    data: bytes


def test_the_tap_drops_frames_when_the_decoder_falls_behind_and_the_stop_marker_jumps_the_backlog() -> None:
    refusals: list[tuple[str, bool]] = []
    tap = EncodedFrameTap(FrameGuard("video", MediaLimits(max_fps=1000)), 4, lambda reason, ended: refusals.append((reason, ended)))
    for _ in range(10):
        tap.put((Codec(), Frame(b"\x01" + bytes(10))))
    assert (tap.counts.passed, tap.counts.dropped, tap.qsize()) == (4, 6, 4)
    tap.put((Codec(), Frame(vp8_claiming(8000, 8000))))
    assert refusals == [("video_too_large", False)] and tap.counts.refused == 1 and tap.qsize() == 4
    tap.put(None)  # the receiver stops: the decoder thread must see this next, not after the backlog
    assert tap.get_nowait() is None and tap.empty()


def test_a_decoder_thread_blocked_on_the_tap_ends_when_the_receiver_stops() -> None:
    tap = EncodedFrameTap(FrameGuard("audio", MediaLimits()), 2, lambda reason, ended: None)
    seen: list[object] = []

    def decoder() -> None:
        while (item := tap.get()) is not None:
            seen.append(item)

    thread = threading.Thread(target=decoder)
    thread.start()
    tap.put((Codec("opus"), Frame(bytes(40))))
    tap.put(None)
    thread.join(timeout=5)
    assert not thread.is_alive() and len(seen) <= 1
    with pytest.raises(queue.Empty):
        tap.get_nowait()
