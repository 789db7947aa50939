"""Media sessions on this node: one receive-only peer connection per interview, the consumer reading it, and the registry."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

from media.ingest import MediaConfig, MediaIngest
from media.levels import LevelMeter
from media.recording import AudioRecorder
from realtime_scoring.answer_scoring import AnswerScorer
from realtime_scoring.pipeline import ScoringEngine, SessionConfig
from realtime_scoring.transcription import TranscriptionConfig
from server.cluster.event_bus import EventBus
from server.domain.interview import Interview
from server.live.faq import Faq
from server.live.live_interview import InterviewFlowError, LiveInterview
from server.rtc.ice import RemoteCandidatePolicy, rtc_configuration
from server.rtc.peers import add_video_bitrate_hints, answer_offer
from server.settings import Settings
from server.storage.contract import Store

logger = logging.getLogger(__name__)

Emit = Callable[[Any], None]


@dataclass(frozen=True)
class SessionContext:
    """What a media consumer may know about the interview it analyses."""

    interview_id: str
    language: str | None  # the job's language; None lets the recogniser detect it


MediaConsumer = Callable[[MediaIngest, Emit, SessionContext], Awaitable[None]]


def recordings_dir(settings: Settings, interview_id: str) -> Path:
    return settings.data_dir / "recordings" / interview_id


async def remove_erased_recordings(settings: Settings, store: Store) -> list[str]:
    """Delete this node's recordings of interviews the store no longer has. With a shared store a candidate may be erased
    through another node, which can delete only its own files; each node sweeps its disk for the rest."""
    root = settings.data_dir / "recordings"
    names = await asyncio.to_thread(lambda: [p.name for p in root.iterdir() if p.is_dir()] if root.is_dir() else [])
    gone = [name for name in names if await store.get_interview(name) is None]
    for name in gone:
        await asyncio.to_thread(shutil.rmtree, root / name, ignore_errors=True)
    return gone


def recording_path(settings: Settings, interview_id: str, session: MediaSession) -> Path:
    return recordings_dir(settings, interview_id) / f"{int(session.created_at)}-{session.id[:8]}.ogg"


# A media session that has received nothing for this long may be replaced by a new publish of the same interview.
STALE_MEDIA_S = 3.0
# At most this many queued audio chunks (32 ms each) go through the analysis together.
AUDIO_GROUP_CHUNKS = 32
# And at most this many sampled video frames (a second's worth at the default 5 a second).
VIDEO_GROUP_FRAMES = 5
# How long a closing session waits for its consumer to finish what it already received.
CONSUMER_DRAIN_S = 15.0


def level_meter_consumer(ingest: MediaIngest, emit: Emit, context: SessionContext) -> Awaitable[None]:
    """Media-only consumer (scoring off): reports what the server hears and sees."""
    return LevelMeter(ingest, emit).run()


def scoring_consumer(engine: ScoringEngine, transcription: TranscriptionConfig = TranscriptionConfig()) -> MediaConsumer:
    """Feeds each session's media through the scoring pipeline, and the level meter alongside; each session
    transcribes as `transcription` says, in its interview's language."""

    async def consume(ingest: MediaIngest, emit: Emit, context: SessionContext) -> None:
        meter = LevelMeter(ingest, emit)
        config = SessionConfig(transcription=dataclasses.replace(transcription, language=context.language))
        pipeline = engine.new_session(emit, config)

        failures = {"audio": 0, "video": 0}

        def failed(kind: str, count: int = 1) -> None:
            # One bad chunk or frame (or a model error) must not end the session's analysis.
            before = failures[kind]
            failures[kind] += count
            if before == 0 or before // 100 != failures[kind] // 100:
                logger.exception("interview %s: %s analysis failed (%d so far)", context.interview_id, kind, failures[kind])

        async def audio() -> None:
            while (chunk := await ingest.audio.get()) is not None:
                # Whatever else is queued goes with it: behind by a second, the analysis catches up in one step.
                chunks = [chunk, *ingest.audio.get_ready(AUDIO_GROUP_CHUNKS - 1)]
                for queued in chunks:
                    meter.observe_audio(queued)
                try:
                    await pipeline.process_audio_chunks(chunks)
                except Exception:
                    failed("audio")

        async def video() -> None:
            while (frame := await ingest.video.get()) is not None:
                try:
                    await pipeline.process_frames([frame, *ingest.video.get_ready(VIDEO_GROUP_FRAMES - 1)])
                except ExceptionGroup as errors:  # the group's other frames were analysed
                    failed("video", len(errors.exceptions))
                except Exception:
                    failed("video")

        reporter = asyncio.create_task(meter.report_forever())
        try:
            await asyncio.gather(audio(), video())
            await pipeline.finish(ingest.now_s())
        finally:
            reporter.cancel()
            await pipeline.close()
            await asyncio.gather(reporter, return_exceptions=True)

    return consume


class MediaSession:
    """One WHIP resource: a receive-only peer connection, its media ingest and the consumer reading it."""

    def __init__(
        self,
        live: LiveInterview,
        pc: RTCPeerConnection,
        ingest: MediaIngest,
        on_closed: Callable[[MediaSession], Awaitable[None]] | None = None,
    ) -> None:
        self.id = uuid.uuid4().hex
        self.live = live
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
        self.recording_starts_s = 0.0  # where the recording starts on the interview's clock
        self._on_closed = on_closed  # the registry's bookkeeping, whoever closes the session

    @property
    def closing(self) -> bool:
        return self._closing

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
        context = SessionContext(self.live.id, self.live.interview.language)
        self._consumer = self.spawn(consumer(self.ingest, self.live.handle_media_event, context), "consumer")

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error("media session %s task %s failed", self.id, task.get_name(), exc_info=exc)

    async def close(self, state: str = "closed") -> None:
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
        finally:
            self.live.detach_media(self, state)
            if self._on_closed is not None:
                await self._on_closed(self)
            self._closed.set()


class SessionCapacityError(Exception):
    """This node already carries its maximum number of media sessions."""


class Placement(Protocol):
    """Told which interviews run live on this node (the node registry, so other nodes can find them)."""

    def hold(self, interview_id: str) -> None: ...

    def release(self, interview_id: str) -> None: ...


class SessionRegistry:
    """Every live interview and media session on this node; creates and tears down peer connections."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        consumer: MediaConsumer,
        scorer: AnswerScorer,
        bus: EventBus,
        faq: Faq | None = None,
        observe_final_lag: Callable[[float], None] | None = None,
        placement: Placement | None = None,
    ) -> None:
        self._settings = settings
        self._placement = placement
        self._bus = bus
        self._faq = faq
        self._observe_final_lag = observe_final_lag
        self._scorer = scorer
        self._store = store
        self._consumer = consumer
        self._rtc_configuration = rtc_configuration(settings.ice_servers)
        self.candidate_policy = RemoteCandidatePolicy(tuple(settings.ice_allowed_networks))
        self.media_config: MediaConfig = settings.media
        self._live: dict[str, LiveInterview] = {}
        self._media: dict[str, MediaSession] = {}
        self._pending_writes: set[asyncio.Future[None]] = set()
        self._closed_media_totals: dict[str, float] = {}

    @property
    def live_interviews(self) -> int:
        return len(self._live)

    @property
    def media_sessions(self) -> int:
        return len(self._media)

    def media_session(self, session_id: str) -> MediaSession | None:
        return self._media.get(session_id)

    async def live_interview(self, interview: Interview) -> LiveInterview:
        live = self._live.get(interview.id)
        if live is None:
            live = LiveInterview(
                interview,
                self._store,
                self._forget_live,
                self._pending_writes,
                self._scorer,
                self._settings,
                self._bus,
                self._faq,
                observe_final_lag=self._observe_final_lag,
            )
            self._live[interview.id] = live
            if self._placement is not None:
                self._placement.hold(interview.id)
            await live.restore()
        return live

    def find_live(self, interview_id: str) -> LiveInterview | None:
        return self._live.get(interview_id)

    async def end_interview(self, interview_id: str) -> None:
        """Stop whatever this node runs for an interview being cancelled or erased: its media and its flow."""
        live = self._live.get(interview_id)
        if live is None:
            return
        if live.media is not None:
            await self.close_media(live.media, "closed")
        live.stop()

    def _forget_live(self, live: LiveInterview) -> None:
        if self._live.get(live.id) is live:
            del self._live[live.id]
            if self._placement is not None:
                self._placement.release(live.id)

    async def open_media(self, live: LiveInterview, offer_sdp: str) -> tuple[MediaSession, str]:
        """Answer a WHIP offer for `live`; the caller has checked auth, size and codecs."""
        if live.media is not None:
            # A session still streaming is protected; one whose media stopped (the candidate's network dropped and
            # they publish again) is replaced now rather than after ICE's consent checks give up, half a minute on.
            if live.media.active and live.media.ingest.silent_for_s() < STALE_MEDIA_S:
                raise InterviewFlowError("session_exists", "this interview already has a live media session")
            live.media.replaced = True  # the interview stays live on this node for the new session
            await self.close_media(live.media, "closed")
        if len(self._media) >= self._settings.max_live_sessions:
            raise SessionCapacityError()
        offer_sdp, _ = self.candidate_policy.filter_sdp(offer_sdp)

        pc = RTCPeerConnection(configuration=self._rtc_configuration)
        session = MediaSession(live, pc, MediaIngest(self.media_config), on_closed=self._session_closed)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            session.ingest.add_track(track)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            state = pc.connectionState
            if state == "connected":
                session.connected_at = time.time()
                await live.on_media_connected(session)
            elif state in ("failed", "closed") and not session.closing:
                session.spawn(self.close_media(session, state), "close")

        try:
            answer = await answer_offer(pc, offer_sdp)
        except BaseException:
            await pc.close()
            raise
        answer = add_video_bitrate_hints(answer, self._settings.video_start_bitrate_kbps)
        self._media[session.id] = session
        live.attach_media(session)
        if self._settings.recording:
            session.recording_starts_s = live.now_s()
            session.recorder = AudioRecorder(recording_path(self._settings, live.id, session))
            session.ingest.audio_taps.append(session.recorder.write)
        session.start_consumer(self._consumer)
        session.spawn(self._expire_unconnected(session), "connect-timeout")
        return session, answer

    async def _expire_unconnected(self, session: MediaSession) -> None:
        await asyncio.sleep(self._settings.ice_connect_timeout_s)
        if session.connected_at is None:
            logger.info("media session %s did not connect in time", session.id)
            session.spawn(self.close_media(session, "failed"), "close")

    async def close_media(self, session: MediaSession, state: str = "closed") -> None:
        await session.close(state)

    async def _session_closed(self, session: MediaSession) -> None:
        """A session closed (by the page, the interview's end, a failure or shutdown): count it, keep its recording."""
        if self._media.pop(session.id, None) is not None:
            for name, value in asdict(session.ingest.stats).items():
                if isinstance(value, (int, float)):
                    self._closed_media_totals[name] = self._closed_media_totals.get(name, 0) + value
        recorder = session.recorder
        if recorder is not None and recorder.seconds > 0 and not recorder.failed:
            try:
                await self._store.add_recording(
                    session.live.id, recorder.path.name, round(session.recording_starts_s, 3), round(recorder.seconds, 3)
                )
            except Exception:
                logger.exception("media session %s: recording not registered", session.id)

    def media_totals(self) -> dict[str, float]:
        """Media counters of every session since this node started (closed ones and live ones)."""
        totals = dict(self._closed_media_totals)
        for session in self._media.values():
            for name, value in asdict(session.ingest.stats).items():
                if isinstance(value, (int, float)):
                    totals[name] = totals.get(name, 0) + value
        return totals

    async def close_all(self) -> None:
        """Close every media session, then wait for the transcripts and observations they still write."""
        await asyncio.gather(*(self.close_media(s) for s in list(self._media.values())), return_exceptions=True)
        await asyncio.gather(*list(self._pending_writes), return_exceptions=True)
