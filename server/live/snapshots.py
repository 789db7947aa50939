"""Stills of the candidate's video for HR's dashboards, about one a second while someone watches."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable

from media.frames import VideoFrame
from media.snapshots import jpeg_snapshot
from server.live.fan_out import LiveFanOut
from server.live.hr_messages import Snapshot

logger = logging.getLogger(__name__)

# A dashboard renews its watch every few seconds; stills stop this long after the last renewal.
WATCH_S = 15.0
SNAPSHOT_INTERVAL_S = 1.0


class SnapshotStream:
    """Sends a still whenever a new frame arrived, for as long as a watch lasts."""

    def __init__(self, interview_id: str, latest_frame: Callable[[], VideoFrame | None], fan_out: LiveFanOut) -> None:
        self._interview_id = interview_id
        self._latest_frame = latest_frame
        self._fan_out = fan_out
        self._loop = asyncio.get_running_loop()
        self._watched_until = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def watched(self) -> bool:
        """A dashboard watches now (its last renewal has not lapsed)."""
        return self._loop.time() < self._watched_until

    def watch(self) -> None:
        """A dashboard watches (or renews its watch)."""
        self._watched_until = self._loop.time() + WATCH_S
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._send())

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _send(self) -> None:
        last_time = -1.0
        while self._loop.time() < self._watched_until:
            frame = self._latest_frame()
            if frame is not None and frame.time_s != last_time:
                last_time = frame.time_s
                try:
                    jpeg = await self._loop.run_in_executor(None, jpeg_snapshot, frame)
                except Exception:  # a bad frame costs one still, never the interview
                    logger.exception("interview %s: snapshot failed", self._interview_id)
                else:
                    still = base64.b64encode(jpeg).decode("ascii")
                    self._fan_out.to_hr(Snapshot(interview_id=self._interview_id, time_s=round(frame.time_s, 3), jpeg_base64=still))
            await asyncio.sleep(SNAPSHOT_INTERVAL_S)
