"""The evidence recorder: what the candidate said and showed, stored as it arrives, for HR's review and the report."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from realtime_scoring.events import EmotionSummary, FacePresence, UtteranceTranscript
from realtime_scoring.report import observation_data
from server.storage.contract import Store
from server.storage.rows import ObservationRow, TranscriptRow, TranscriptSegment

VISIBILITY_KIND = "visibility"  # the page's changes of visibility, kept beside the face and emotion seconds


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

    def transcript(self, event: UtteranceTranscript) -> None:
        """What is scored and reviewed: whole utterances (captions, split at every pause, are not kept)."""
        if event.text:
            self._spawn(self._store.record_transcript(self._interview_id, transcript_row(event, self._question_id())))

    def observation(self, event: FacePresence | EmotionSummary) -> None:
        kind, row = observation_row(event, self._question_id())
        self._spawn(self._store.record_observation(self._interview_id, kind, row))

    def page_visibility(self, hidden: bool, at_s: float) -> None:
        """The candidate's page went to the background (another tab or app) or came back: an integrity fact."""
        row = ObservationRow(question_id=self._question_id(), start_s=round(at_s, 3), end_s=round(at_s, 3), data={"hidden": hidden})
        self._spawn(self._store.record_observation(self._interview_id, VISIBILITY_KIND, row))

    async def settled(self, *besides: asyncio.Future[None] | None) -> None:
        """Wait for every write so far, besides the calling task and `besides` (which may be waiting on this)."""
        waiting_on = {asyncio.current_task(), *besides}
        await asyncio.gather(*[w for w in self._pending if w not in waiting_on], return_exceptions=True)


def transcript_row(event: UtteranceTranscript, question_id: str) -> TranscriptRow:
    """A final transcript as the interview keeps it, times to the millisecond."""
    return TranscriptRow(
        question_id=question_id,
        start_s=round(event.start_s, 3),
        end_s=round(event.end_s, 3),
        language=event.language,
        text=event.text,
        segments=[TranscriptSegment(start_s=round(s.start_s, 3), end_s=round(s.end_s, 3), text=s.text) for s in event.segments],
    )


def observation_row(event: FacePresence | EmotionSummary, question_id: str) -> tuple[str, ObservationRow]:
    """One second of face or emotion analysis as the interview keeps it, and its kind."""
    kind, data = observation_data(event)
    return kind, ObservationRow(question_id=question_id, start_s=round(event.start_s, 3), end_s=round(event.end_s, 3), data=data)
