"""The interview's clock: seconds of interview time, across page reloads, media reconnects and node restarts."""

from __future__ import annotations

import asyncio


class InterviewClock:
    """Interview time, read from the event loop's clock.

    A media connection is mapped onto it once, when the connection starts: its ingest is created reading `now_s()`
    (`MediaIngest(starts_at_s=...)`), so every time the pipeline stamps is interview time and nothing is re-based
    afterwards. Both clocks read the event loop, so they stay together while the connection lasts.
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._origin = self._loop.time()

    def now_s(self) -> float:
        return self._loop.time() - self._origin

    def resume_at(self, time_s: float) -> None:
        """Continue from `time_s` (an interview restored from the store)."""
        self._origin = self._loop.time() - time_s
