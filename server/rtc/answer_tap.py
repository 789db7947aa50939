"""Feeds a media session's admitted encoded frames to its answer recorder, on the interview's clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from media.answer_recording import AnswerRecorder, EncodedMedia, MediaKind, is_key_frame
from media.sender_clock import SenderClock
from server.rtc.encoded_frames import EncodedFrameTap


def feed_recorder(taps: list[EncodedFrameTap], recorder: AnswerRecorder, now_s: Callable[[], float]) -> None:
    """Every frame a tap admits goes to `recorder`, stamped on the clock `now_s` reads (the session's media clock)."""
    for tap in taps:
        kind: MediaKind = "video" if tap.guard.kind == "video" else "audio"
        tap.on_admitted = _feed(kind, recorder, now_s)


def _feed(kind: MediaKind, recorder: AnswerRecorder, now_s: Callable[[], float]) -> Callable[[Any, Any], None]:
    clock = SenderClock()  # one receiver, one RTP stream: its timestamps, unwrapped by aiortc, in its codec's rate

    def admitted(codec: Any, frame: Any) -> None:
        name = str(codec.name).lower()
        data = bytes(frame.data)
        time_s = clock.time_s(int(frame.timestamp) / int(codec.clockRate), now_s())
        recorder.write(EncodedMedia(kind, name, data, time_s, is_key_frame(name, data)))

    return admitted
