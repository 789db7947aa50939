"""The evidence recorder: what the candidate said and showed, stored as it arrives, for HR's review and the report."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from realtime_scoring.events import EmotionSummary, FacePresence, FinalTranscript
from server.storage.contract import Store


class EvidenceRecorder:
    """Stores each final transcript and each second's face and emotion summary of one interview, tagged with the
    question that was open when it arrived (read then, not when the write runs, maybe after the next question).

    Writes run in the background so the media path never waits on the store; they are tracked in `pending`, a set
    shared with the registry so that shutdown waits for them, and `settled()` lets the report wait for them too.
    """

    def __init__(self, interview_id: str, store: Store, pending: set[asyncio.Future[None]], question_id: Callable[[], str]) -> None:
        self._interview_id = interview_id
        self._store = store
        self._pending = pending
        self._question_id = question_id

    def track(self, future: asyncio.Future[None]) -> None:
        """Count `future` among the writes shutdown and the report wait for."""
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    def _spawn(self, write: Awaitable[None]) -> None:
        self.track(asyncio.ensure_future(write))

    def transcript(self, event: FinalTranscript) -> None:
        if not event.text:
            return
        segments: list[dict[str, float | str]] = [
            {"start_s": round(s.start_s, 3), "end_s": round(s.end_s, 3), "text": s.text} for s in event.segments
        ]
        self._spawn(
            self._store.record_transcript(
                self._interview_id,
                self._question_id(),
                round(event.start_s, 3),
                round(event.end_s, 3),
                event.language,
                event.text,
                segments,
            )
        )

    def observation(self, event: FacePresence | EmotionSummary) -> None:
        data: dict[str, object]
        if isinstance(event, FacePresence):
            kind = "face"
            data = {
                "frames": event.frames,
                "frames_with_face": event.frames_with_face,
                "max_faces": event.max_faces,
                "face_present": event.face_present,
                "multiple_faces": event.multiple_faces,
            }
        else:
            kind = "emotion"
            data = {"dominant": event.dominant, "probabilities": dict(event.probabilities)}
        start_s, end_s = round(event.start_s, 3), round(event.end_s, 3)
        self._spawn(self._store.record_observation(self._interview_id, self._question_id(), kind, start_s, end_s, data))

    async def settled(self, *besides: asyncio.Future[None] | None) -> None:
        """Wait for every write so far, besides the calling task and `besides` (which may be waiting on this)."""
        waiting_on = {asyncio.current_task(), *besides}
        await asyncio.gather(*[w for w in self._pending if w not in waiting_on], return_exceptions=True)
