"""An interview's status and progress as the store and HR's dashboards know them."""

from __future__ import annotations

import time

from server.domain.interview import Interview, InterviewStatus
from server.live.fan_out import LiveFanOut
from server.live.hr_messages import InterviewChanged, InterviewSummary
from server.settings import Settings
from server.storage.contract import Store


class InterviewProgress:
    """Holds the interview as last stored; each change is stored first, then shown to HR."""

    def __init__(self, interview: Interview, store: Store, settings: Settings, fan_out: LiveFanOut) -> None:
        self.interview = interview
        self._store = store
        self._settings = settings
        self._fan_out = fan_out

    @property
    def status(self) -> InterviewStatus:
        return self.interview.status

    def summary(self) -> InterviewSummary:
        return InterviewSummary.of(self.interview, self._settings.emotion_analysis)

    async def record(self, status: InterviewStatus, answered: int, asked: bool = False) -> None:
        """`answered` questions are closed; `asked`: a new question went out just now."""
        asked_at = time.time() if asked else None
        updated = self.interview.model_copy(
            update={
                "status": status,
                "current_question": answered,
                "question_asked_at": asked_at if asked else self.interview.question_asked_at,
            }
        )
        changed = status != self.interview.status
        await self._store.update_progress(
            self.interview.id, status, answered, announce=updated if changed else None, question_asked_at=asked_at
        )
        self.interview = updated
        self._fan_out.to_hr(InterviewChanged(interview=self.summary()))

    async def set_mode(self, mode: str) -> None:
        self.interview = await self._store.set_mode(self.interview, mode)

    def cancelled(self) -> None:
        """Cancelled or erased (the store already knows): HR's dashboards learn it."""
        self.interview = self.interview.model_copy(update={"status": InterviewStatus.CANCELLED})
        self._fan_out.to_hr(InterviewChanged(interview=self.summary()))
