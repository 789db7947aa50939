"""Feeds a media session's admitted encoded frames to its answer recorder, on the interview's clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from media.answer_recording import AnswerRecorder, EncodedMedia, MediaKind, RtpClock, is_key_frame
from server.rtc.encoded_frames import EncodedFrameTap


def feed_recorder(taps: list[EncodedFrameTap], recorder: AnswerRecorder, now_s: Callable[[], float]) -> None:
    """Every frame a tap admits goes to `recorder`, stamped on the clock `now_s` reads (the session's media clock)."""
    for tap in taps:
        kind: MediaKind = "video" if tap.guard.kind == "video" else "audio"
        tap.on_admitted = _feed(kind, recorder, now_s)


def _feed(kind: MediaKind, recorder: AnswerRecorder, now_s: Callable[[], float]) -> Callable[[Any, Any], None]:
    clocks: dict[int, RtpClock] = {}

    def admitted(codec: Any, frame: Any) -> None:
        rate = int(codec.clockRate)
        clock = clocks.get(rate) or clocks.setdefault(rate, RtpClock(rate))
        name = str(codec.name).lower()
        data = bytes(frame.data)
        recorder.write(EncodedMedia(kind, name, data, clock.time_s(int(frame.timestamp), now_s()), is_key_frame(name, data)))

    return admitted
