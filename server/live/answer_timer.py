"""The answer time limit on the wall clock, for when no media clock decides it (a text interview, media lost)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from realtime_scoring.conductor import AnswerEnd, InterviewConductor
from server.live.clock import InterviewClock


class AnswerTimer:
    """At most one pending deadline: arming it again replaces the previous one."""

    def __init__(self, clock: InterviewClock) -> None:
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    def arm_for(self, conductor: InterviewConductor, expired: Callable[[], Awaitable[None]]) -> None:
        """The limit of the conductor's current question (think + answer time): when the interview clock passes it
        with that question still open, its answer ends there and `expired` runs (it ends the candidate's turn there
        and closes the answer once the media before the limit is analysed). Replaces what was pending; no question:
        nothing pending."""
        self.cancel()
        current = conductor.current
        if current is None:
            return
        deadline_s = current.deadline_s

        async def expire() -> None:
            await asyncio.sleep(max(0.0, deadline_s - self._clock.now_s()))
            if conductor.current is current:
                conductor.request_end(AnswerEnd.TIME_LIMIT, deadline_s)
                await expired()

        self._task = asyncio.ensure_future(expire())

    def cancel(self) -> None:
        # An expiry that leads to the next question re-arms from inside the timer's own task: let that task finish.
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
        self._task = None
