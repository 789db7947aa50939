"""One media session: a receive-only peer connection, its media ingest, the consumer reading it, and the recorder.

It knows nothing of interviews: it reports to whoever listens (`MediaListener`, the live interview) and to the
registry that opened it (`on_closed`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiortc import RTCPeerConnection

from media.answer_recording import AnswerRecorder, RecordedAnswer
from media.frames import VideoFrame
from media.ingest import MediaIngest
from media.recording import AudioRecorder
from server.rtc.encoded_frames import EncodedFrameTap, TapCounts
from server.rtc.media_consumers import MediaConsumer, MediaEvent, SessionContext

logger = logging.getLogger(__name__)

# How long a closing session waits for its consumer to finish what it already received.
CONSUMER_DRAIN_S = 15.0


class MediaListener(Protocol):
    """What a media session tells the interview it belongs to."""

    def handle_media_event(self, event: MediaEvent) -> None: ...

    def detach_media(self, session: MediaSession, state: str, reason: str | None = None) -> None: ...


class MediaSession:
    """One WHIP resource: a receive-only peer connection, its media ingest and the consumer reading it."""

    def __init__(
        self,
        context: SessionContext,
        listener: MediaListener,
        pc: RTCPeerConnection,
        ingest: MediaIngest,
        on_closed: Callable[[MediaSession], Awaitable[None]] | None = None,
    ) -> None:
        self.id = uuid.uuid4().hex
        self.context = context
        self.listener = listener
        self.pc = pc
        self.ingest = ingest
        self.created_at = time.time()
        self.connected_at: float | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = asyncio.Event()
        self._closing = False
        self._consumer: asyncio.Task[Any] | None = None
        self.replaced = False  # closed because a new publish of the same interview takes over
        self.recorder: AudioRecorder | None = None
        self.answer_recorder: AnswerRecorder | None = None  # each question's video and audio as received
        self.recorded_answers: list[RecordedAnswer] = []  # the answer recorder's files, once the session has closed
        self._on_closed = on_closed  # the registry's bookkeeping, whoever closes the session
        self.taps: list[EncodedFrameTap] = []  # one per receiver, in front of its decoder
        self._refusals_logged: set[str] = set()
        # The ICE session, as WHIP names it (RFC 9725 section 4.3.1): its entity-tag, new after each ICE restart, and
        # the browser's current ICE username fragment (None until the offer is applied).
        self.ice_etag = f'"{self.id}"'
        self.remote_ice_ufrag: str | None = None

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def connected(self) -> bool:
        return self.pc.connectionState == "connected"

    @property
    def latest_frame(self) -> VideoFrame | None:
        """The newest sampled video frame (HR's snapshots), its time on the interview's clock."""
        return self.ingest.latest_frame

    @property
    def active(self) -> bool:
        """Still connecting or connected (a failed or closed session can be replaced)."""
        return not self._closing and self.pc.connectionState in ("new", "connecting", "connected")

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(f"{name}-{self.id[:8]}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def start_consumer(self, consumer: MediaConsumer) -> None:
        self._consumer = self.spawn(consumer(self.ingest, self.listener.handle_media_event, self.context), "consumer")

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error("media session %s task %s failed", self.id, task.get_name(), exc_info=exc)

    def end_turn(self, at_s: float) -> None:
        """The candidate's turn ended at `at_s` (interview clock): the analysis transcribes what came before."""
        self.context.turn_ends.end_turn(at_s)

    def question_asked(self, index: int, at_s: float) -> None:
        """Question `index` went out at `at_s` (interview clock): what the candidate sends from then on is its answer."""
        if self.answer_recorder is not None:
            self.answer_recorder.question_asked(index, at_s)

    def frames_refused(self, reason: str, over_too_long: bool) -> None:
        """A frame over the session's limits was not decoded; a stream over them too long is ended, saying why."""
        if reason not in self._refusals_logged:  # once per reason: a hostile stream must not flood the log
            self._refusals_logged.add(reason)
            logger.warning("media session %s: %s; frames over the limit are not decoded", self.id, reason)
        if over_too_long and not self._closing:
            self.spawn(self.close("refused", reason), "close-refused")

    def tap_counts(self) -> TapCounts:
        """Encoded frames of all receivers: passed to the decoders, refused over a limit, dropped on a full queue."""
        total = TapCounts()
        for tap in self.taps:
            total.passed += tap.counts.passed
            total.refused += tap.counts.refused
            total.dropped += tap.counts.dropped
        return total

    async def close(self, state: str = "closed", reason: str | None = None) -> None:
        """Tear everything down once; later calls wait for the first to finish."""
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        try:
            current = asyncio.current_task()
            for task in list(self._tasks):
                if task is not current and task is not self._consumer:
                    task.cancel()
            await self.pc.close()
            await self.ingest.close()
            if self._consumer is not None:
                # Closed queues end the consumer, which first finishes what it heard
                # (the last utterance's transcript); cancel it only if that hangs.
                await asyncio.wait({self._consumer}, timeout=CONSUMER_DRAIN_S)
                self._consumer.cancel()
            pending = [t for t in self._tasks if t is not current]
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            if self.recorder is not None:
                await self.recorder.close()
            if self.answer_recorder is not None:
                self.recorded_answers = await self.answer_recorder.close()
        finally:
            self.listener.detach_media(self, state, reason)
            if self._on_closed is not None:
                await self._on_closed(self)
            self._closed.set()
