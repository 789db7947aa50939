"""A sender's media timestamps put on the receiver's clock (the interview's): anchored on a frame's arrival, then
following the sender's timing (smooth, free of network jitter), re-anchored when it strays more than
`MAX_CLOCK_DRIFT_S` from arrival time (a sender's clock jump or restart), and then never before the last time given.
The decoded frames (media/ingest.py) and the encoded ones kept as evidence (media/answer_recording.py) both use it,
so a transcript's times point into the evidence files."""

from __future__ import annotations

MAX_CLOCK_DRIFT_S = 1.0


class SenderClock:
    def __init__(self) -> None:
        self._anchor: tuple[float, float] | None = None  # (receiver time, sender time) of a reference frame
        self._last_s = float("-inf")

    def time_s(self, sent_s: float | None, arrived_s: float) -> float:
        """The receiver time of a frame the sender stamped `sent_s` (seconds; None: unstamped) that arrived at `arrived_s`."""
        if sent_s is None:
            self._last_s = arrived_s
            return arrived_s
        if self._anchor is None or abs(self._anchor[0] + (sent_s - self._anchor[1]) - arrived_s) > MAX_CLOCK_DRIFT_S:
            self._anchor = (max(arrived_s, self._last_s), sent_s)  # first frame, or a discontinuity
        self._last_s = self._anchor[0] + (sent_s - self._anchor[1])
        return self._last_s
