"""Live interviews on this node: their candidate sockets, their media session and the question flow."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

from media.ingest import MediaConfig, MediaIngest
from media.levels import LevelMeter, MediaLevels
from realtime_scoring.answer_scoring import AnswerScorer
from realtime_scoring.conductor import AnswerEnd, InterviewConductor, RestoredAnswer
from realtime_scoring.events import (
    AnalysisProgress,
    AnswerEnded,
    EmotionSummary,
    FacePresence,
    FinalTranscript,
    PartialTranscript,
    SpeechEnded,
    SpeechStarted,
)
from realtime_scoring.matching import MatchResult, match_score
from realtime_scoring.pipeline import ScoringEngine, SessionConfig
from realtime_scoring.policy import PolicyConfig, QuestionPolicy
from realtime_scoring.report import QuestionReport, build_report, question_report
from realtime_scoring.transcription import TranscriptionConfig
from server.ice import RemoteCandidatePolicy, rtc_configuration
from server.messages import (
    Caption,
    Completed,
    Hello,
    InterviewInfo,
    Levels,
    MediaState,
    QuestionMessage,
    ServerMessage,
    Speech,
)
from server.peers import add_video_bitrate_hints, answer_offer
from server.schemas import Interview, InterviewSpec, InterviewStatus, Question
from server.settings import Settings
from server.store import InterviewStore

logger = logging.getLogger(__name__)

Emit = Callable[[Any], None]
T = TypeVar("T")


@dataclass(frozen=True)
class SessionContext:
    """What a media consumer may know about the interview it analyses."""

    interview_id: str
    language: str | None  # the job's language; None lets the recogniser detect it


MediaConsumer = Callable[[MediaIngest, Emit, SessionContext], Awaitable[None]]
Subscriber = Callable[[ServerMessage], None]

# How long a closing session waits for its consumer to finish what it already received.
CONSUMER_DRAIN_S = 15.0


def level_meter_consumer(ingest: MediaIngest, emit: Emit, context: SessionContext) -> Awaitable[None]:
    """Media-only consumer (scoring off): reports what the server hears and sees."""
    return LevelMeter(ingest, emit).run()


def scoring_consumer(engine: ScoringEngine) -> MediaConsumer:
    """Feeds each session's media through the scoring pipeline, and the level meter alongside."""

    async def consume(ingest: MediaIngest, emit: Emit, context: SessionContext) -> None:
        meter = LevelMeter(ingest, emit)
        pipeline = engine.new_session(emit, SessionConfig(transcription=TranscriptionConfig(language=context.language)))

        failures = {"audio": 0, "video": 0}

        def failed(kind: str) -> None:
            # One bad chunk or frame (or a model error) must not end the session's analysis.
            failures[kind] += 1
            if failures[kind] == 1 or failures[kind] % 100 == 0:
                logger.exception("interview %s: %s analysis failed (%d so far)", context.interview_id, kind, failures[kind])

        async def audio() -> None:
            while (chunk := await ingest.audio.get()) is not None:
                meter.observe_audio(chunk)
                try:
                    await pipeline.process_audio(chunk)
                except Exception:  # noqa: BLE001
                    failed("audio")

        async def video() -> None:
            while (frame := await ingest.video.get()) is not None:
                try:
                    await pipeline.process_frame(frame)
                except Exception:  # noqa: BLE001
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


class InterviewFlowError(Exception):
    """A candidate action that does not fit the interview's state; `code` is sent to the page."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class MediaSession:
    """One WHIP resource: a receive-only peer connection, its media ingest and the consumer reading it."""

    def __init__(self, live: LiveInterview, pc: RTCPeerConnection, ingest: MediaIngest) -> None:
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
        finally:
            self.live.detach_media(self, state)
            self._closed.set()


class LiveInterview:
    """An interview running on this node: who is connected, the question flow, and where answers go.

    Events from the media pipeline are moved onto one interview clock (a reconnect starts a new media
    clock at zero), published to the candidate's sockets, stored, and fed to the conductor, which
    closes answers and picks the next question.
    """

    def __init__(
        self,
        interview: Interview,
        store: InterviewStore,
        on_idle: Callable[[LiveInterview], None],
        pending_writes: set[asyncio.Future[None]],
        scorer: AnswerScorer,
        emotion_analysis: bool = True,
    ) -> None:
        self.interview = interview
        self.media: MediaSession | None = None
        self._store = store
        self._subscribers: list[Subscriber] = []
        self._lock = asyncio.Lock()
        self._on_idle = on_idle
        # Shared with the registry, so shutdown waits for writes of interviews already released.
        self._writes = pending_writes
        self._emotion_analysis = emotion_analysis
        self.match = interview_match(interview)
        self._scorer = scorer
        self.conductor = self._new_conductor()
        self._loop = asyncio.get_running_loop()
        self._clock_base = 0.0  # interview time when the current clock source started
        self._wall_origin = self._loop.time()
        self._timer: asyncio.Task[None] | None = None
        self._advance_task: asyncio.Task[None] | None = None

    def _new_conductor(self) -> InterviewConductor:
        i = self.interview
        return InterviewConductor(interview_policy(i, self.match), self._scorer, i.language, i.mode, _in_executor)

    @property
    def id(self) -> str:
        return self.interview.id

    @property
    def media_connected(self) -> bool:
        return self.media is not None and self.media.pc.connectionState == "connected"

    def now_s(self) -> float:
        """Seconds on this interview's clock: the media clock while media flows, the wall clock otherwise."""
        if self.media is not None:
            return self._clock_base + self.media.ingest.now_s()
        return self._clock_base + self._loop.time() - self._wall_origin

    async def restore(self) -> None:
        """Rebuild the question flow from answers stored by an earlier run of this node."""
        if self.interview.status != InterviewStatus.IN_PROGRESS:
            return
        stored = [QuestionReport.model_validate(q) for q in await self._store.scored_answers(self.id)]
        try:
            self.conductor.restore([
                RestoredAnswer(q.index, q.question_id, q.asked_s, q.ended_s, q.score, tuple(k.id for k in q.key_points_missed), q.answered)
                for q in stored
            ])
        except ValueError:
            # The bank or policy changed since those answers: run the flow afresh rather than refuse the candidate.
            logger.exception("interview %s: stored answers do not replay; starting the questions again", self.id)
            self.conductor = self._new_conductor()
            return
        self._clock_base = self.conductor.resume_s
        self._wall_origin = self._loop.time()
        self._arm_timer()

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)
            self.release_if_idle()

        return unsubscribe

    def publish(self, message: ServerMessage) -> None:
        for subscriber in list(self._subscribers):
            subscriber(message)

    def hello(self) -> Hello:
        i = self.interview
        return Hello(
            interview=InterviewInfo(
                id=i.id,
                job_title=i.job.title,
                candidate_name=i.candidate.name,
                language=i.language,
                mode=i.mode,
                total_questions=i.max_questions,
                status=i.status.value,
            )
        )

    def current_question(self) -> QuestionMessage | None:
        current = self.conductor.current
        if self.interview.status != InterviewStatus.IN_PROGRESS or current is None:
            return None
        q = current.question
        return QuestionMessage(
            index=current.index,
            total=self.interview.max_questions,
            question=Question(
                id=q.id, text=q.text, think_seconds=q.think_seconds, answer_seconds=q.answer_seconds,
                competency=q.competency.value, difficulty=q.difficulty.value, follow_up=q.follow_up_of is not None,
            ),
        )

    @property
    def waits_for_media(self) -> bool:
        """Video and voice interviews start when the candidate's media connects; text ones when the page is ready."""
        return self.interview.mode != "text"

    def handle_media_event(self, event: Any) -> None:
        """Route an event from the media consumer: to the sockets, the store and the conductor."""
        event = _shifted(event, self._clock_base)
        match event:
            case SpeechStarted(time_s=t):
                self.publish(Speech(state="started", time_s=round(t, 3)))
            case SpeechEnded(end_s=t):
                self.publish(Speech(state="ended", time_s=round(t, 3)))
            case AnswerEnded(time_s=t):
                self.publish(Speech(state="answer_ended", time_s=round(t, 3)))
            case PartialTranscript():
                self.publish(
                    Caption(utterance=event.utterance, final=False, start_s=round(event.start_s, 3),
                            end_s=round(event.until_s, 3), stable=event.stable, unstable=event.unstable)
                )
            case FacePresence():
                data = {
                    "frames": event.frames,
                    "frames_with_face": event.frames_with_face,
                    "max_faces": event.max_faces,
                    "face_present": event.face_present,
                    "multiple_faces": event.multiple_faces,
                }
                self._store_observation("face", event.start_s, event.end_s, data)
            case EmotionSummary():
                data = {"dominant": event.dominant, "probabilities": dict(event.probabilities)}
                self._store_observation("emotion", event.start_s, event.end_s, data)
            case FinalTranscript():
                self.publish(
                    Caption(utterance=event.utterance, final=True, start_s=round(event.start_s, 3),
                            end_s=round(event.end_s, 3), stable=event.text, language=event.language)
                )
                if event.text:
                    self._store_final(event)
        if isinstance(event, MediaLevels):
            self.publish(
                Levels(
                    time_s=round(event.time_s, 3),
                    audio_rms_dbfs=event.audio_rms_dbfs,
                    audio_peak_dbfs=event.audio_peak_dbfs,
                    video_fps=event.video_fps,
                    video_width=event.video_width,
                    video_height=event.video_height,
                )
            )
        elif self.interview.status == InterviewStatus.IN_PROGRESS:
            self.conductor.observe(event)
            if isinstance(event, (AnswerEnded, AnalysisProgress)):
                self._schedule_advance()

    def _spawn_store(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    def _current_question_id(self) -> str:
        current = self.conductor.current
        return current.question.id if current is not None else ""

    def _store_observation(self, kind: str, start_s: float, end_s: float, data: dict[str, object]) -> None:
        # The question is read when the event arrives, not when the write runs (maybe after the next question).
        self._spawn_store(
            self._store.record_observation(self.id, self._current_question_id(), kind, round(start_s, 3), round(end_s, 3), data)
        )

    def _store_final(self, event: FinalTranscript) -> None:
        segments = [{"start_s": round(s.start_s, 3), "end_s": round(s.end_s, 3), "text": s.text} for s in event.segments]
        self._spawn_store(
            self._store.record_transcript(
                self.id, self._current_question_id(), round(event.start_s, 3), round(event.end_s, 3),
                event.language, event.text, segments,
            )
        )

    def attach_media(self, session: MediaSession) -> None:
        # The new session's media clock starts at zero now: continue the interview clock from here.
        self._clock_base = self.now_s()
        self.media = session
        self.publish(MediaState(state="connecting"))

    def detach_media(self, session: MediaSession, state: str) -> None:
        if self.media is session:
            self._clock_base = self.now_s()
            self._wall_origin = self._loop.time()
            self.media = None
            # Without media nothing settles any more: "done" and time limits decide on their own.
            self.conductor.media_clock = False
            self.publish(MediaState(state=state))  # type: ignore[arg-type]
        self.release_if_idle()

    async def on_media_connected(self, session: MediaSession) -> None:
        if self.media is not session:
            return
        self.publish(MediaState(state="connected"))
        # A reconnect mid-interview gets the current question again.
        if not await self._start() and (question := self.current_question()) is not None:
            self.publish(question)

    async def on_page_ready(self) -> bool:
        """The page is ready; True when that started the interview (and its first question went out)."""
        return not self.waits_for_media and await self._start()

    async def _start(self) -> bool:
        """Start the question flow if it has not started; True when this call started it (and published the question)."""
        async with self._lock:
            unstarted = self.interview.status == InterviewStatus.IN_PROGRESS and self.conductor.started_s is None
            if self.interview.status != InterviewStatus.SCHEDULED and not unstarted:
                return False
            self.conductor.start(self.now_s())
            await self._set_progress(InterviewStatus.IN_PROGRESS, len(self.conductor.history))
            self._arm_timer()
            if self.conductor.finished:  # a policy with nothing to ask
                await self._set_progress(InterviewStatus.COMPLETED, len(self.conductor.history))
                await self._write_report()
        if (question := self.current_question()) is not None:
            self.publish(question)
        return True

    async def answer_done(self, question_id: str) -> None:
        """The candidate says the current answer is finished."""
        self._require_current(question_id)
        self.conductor.request_end(AnswerEnd.CANDIDATE_DONE, self.now_s())
        await self._advance()

    async def answer_text(self, question_id: str, text: str) -> None:
        self._require_current(question_id)
        self.conductor.add_text(text)
        await self._store.record_answer(self.id, question_id, "text", text)

    async def chat(self, text: str) -> None:
        await self._store.record_answer(self.id, self._current_question_id(), "chat", text)

    def _require_current(self, question_id: str) -> QuestionMessage:
        current = self.current_question()
        if current is None:
            raise InterviewFlowError("not_in_progress", f"the interview is {self.interview.status.value}")
        if current.question.id != question_id:
            raise InterviewFlowError(
                "not_current_question", f"question {question_id!r} is not the current one ({current.question.id!r})"
            )
        return current

    def _schedule_advance(self) -> None:
        if self._advance_task is None or self._advance_task.done():
            self._advance_task = asyncio.ensure_future(self._advance())
            self._writes.add(self._advance_task)
            self._advance_task.add_done_callback(self._writes.discard)

    async def _advance(self) -> None:
        """Close whatever answers the conductor can close; store them; push the next question or finish."""
        async with self._lock:
            if self.interview.status != InterviewStatus.IN_PROGRESS:
                return
            asked = self.conductor.current
            records = await self.conductor.advance()
            for record in records:
                report = question_report(record)
                await self._store.record_scored_answer(self.id, record.index, record.question.id, report.model_dump_json())
            if not records:
                return
            if self.conductor.finished:
                await self._set_progress(InterviewStatus.COMPLETED, len(self.conductor.history))
                await self._write_report()
            else:
                await self._set_progress(InterviewStatus.IN_PROGRESS, len(self.conductor.history))
                if self.conductor.current is not asked:
                    self._arm_timer()
        if self.interview.status == InterviewStatus.COMPLETED:
            if self._timer is not None:
                self._timer.cancel()
            self.publish(Completed())
            if self.media is not None:
                await self.media.close("closed")
        elif (question := self.current_question()) is not None:
            self.publish(question)

    def _arm_timer(self) -> None:
        """The answer time limit on the wall clock, for when no media clock decides it (text mode, media lost)."""
        if self._timer is not None:
            self._timer.cancel()
        current = self.conductor.current
        if current is None:
            return
        limit = current.question.think_seconds + current.question.answer_seconds

        async def expire() -> None:
            await asyncio.sleep(limit + TIME_LIMIT_GRACE_S)
            if self.conductor.current is current:
                self.conductor.request_end(AnswerEnd.TIME_LIMIT, current.asked_s + limit)
                await self._advance()

        self._timer = asyncio.ensure_future(expire())

    async def _write_report(self) -> None:
        # Transcripts and observations still being written belong in the report.
        await asyncio.gather(*[w for w in self._writes if w is not asyncio.current_task() and w is not self._advance_task],
                             return_exceptions=True)
        i = self.interview
        report = build_report(
            interview_id=i.id,
            job_title=i.job.title,
            candidate_name=i.candidate.name,
            language=i.language,
            mode=i.mode,
            match=self.match,
            competency_weights=i.job.competencies,
            questions=[QuestionReport.model_validate(q) for q in await self._store.scored_answers(self.id)],
            faces=await self._store.observations(self.id, "face"),
            emotions=await self._store.observations(self.id, "emotion") if self._emotion_analysis else None,
        )
        await self._store.save_report(self.id, report.schema_version, report.model_dump_json())

    async def _set_progress(self, status: InterviewStatus, current_question: int) -> None:
        await self._store.update_progress(self.id, status, current_question)
        self.interview = self.interview.model_copy(update={"status": status, "current_question": current_question})

    def release_if_idle(self) -> None:
        """Drop this interview from the registry once nothing on this node uses it."""
        if self.media is None and not self._subscribers:
            # A candidate who left resumes where they were: the next LiveInterview restores the flow and re-arms it.
            if self._timer is not None:
                self._timer.cancel()
            self._on_idle(self)


# The wall-clock limit fires a little after the media-clock one, which decides when media flows.
TIME_LIMIT_GRACE_S = 2.0


async def _in_executor(function: Callable[[], T]) -> T:
    return await asyncio.get_running_loop().run_in_executor(None, function)


def _shifted(event: Any, offset: float) -> Any:
    """The event on the interview clock (media events carry their session's clock, which starts at zero)."""
    if offset == 0.0:
        return event
    match event:
        case SpeechStarted() | AnswerEnded() | MediaLevels():
            return replace(event, time_s=event.time_s + offset)
        case SpeechEnded() | FacePresence() | EmotionSummary():
            return replace(event, start_s=event.start_s + offset, end_s=event.end_s + offset)
        case AnalysisProgress():
            return replace(event, settled_s=event.settled_s + offset)
        case PartialTranscript():
            return replace(event, start_s=event.start_s + offset, until_s=event.until_s + offset)
        case FinalTranscript():
            segments = tuple(replace(s, start_s=s.start_s + offset, end_s=s.end_s + offset) for s in event.segments)
            return replace(event, start_s=event.start_s + offset, end_s=event.end_s + offset, segments=segments)
    return event


def interview_match(interview: InterviewSpec) -> MatchResult:
    return match_score(interview.job, interview.candidate)


def interview_policy(interview: InterviewSpec, match: MatchResult) -> QuestionPolicy:
    """The question policy an interview runs, from its spec: the same live and in a replay."""
    job = interview.job
    return QuestionPolicy(
        interview.questions(),
        interview.language,
        match.score,
        job.competencies,
        job_skills=[s.name for s in job.required_skills + job.preferred_skills],
        config=PolicyConfig(max_questions=interview.max_questions, time_budget_s=60 * interview.time_budget_minutes),
    )


class SessionCapacityError(Exception):
    """This node already carries its maximum number of media sessions."""


class SessionRegistry:
    """Every live interview and media session on this node; creates and tears down peer connections."""

    def __init__(self, settings: Settings, store: InterviewStore, consumer: MediaConsumer, scorer: AnswerScorer) -> None:
        self._settings = settings
        self._scorer = scorer
        self._store = store
        self._consumer = consumer
        self._rtc_configuration = rtc_configuration(settings.ice_servers)
        self.candidate_policy = RemoteCandidatePolicy(tuple(settings.ice_allowed_networks))
        self.media_config: MediaConfig = settings.media
        self._live: dict[str, LiveInterview] = {}
        self._media: dict[str, MediaSession] = {}
        self._pending_writes: set[asyncio.Future[None]] = set()

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
                interview, self._store, self._forget_live, self._pending_writes, self._scorer, self._settings.emotion_analysis
            )
            self._live[interview.id] = live
            await live.restore()
        return live

    def find_live(self, interview_id: str) -> LiveInterview | None:
        return self._live.get(interview_id)

    def _forget_live(self, live: LiveInterview) -> None:
        if self._live.get(live.id) is live:
            del self._live[live.id]

    async def open_media(self, live: LiveInterview, offer_sdp: str) -> tuple[MediaSession, str]:
        """Answer a WHIP offer for `live`; the caller has checked auth, size and codecs."""
        if live.media is not None:
            if live.media.active:
                raise InterviewFlowError("session_exists", "this interview already has a live media session")
            await live.media.close("closed")
        if len(self._media) >= self._settings.max_live_sessions:
            raise SessionCapacityError()
        offer_sdp, _ = self.candidate_policy.filter_sdp(offer_sdp)

        pc = RTCPeerConnection(configuration=self._rtc_configuration)
        session = MediaSession(live, pc, MediaIngest(self.media_config))

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
        session.start_consumer(self._consumer)
        session.spawn(self._expire_unconnected(session), "connect-timeout")
        return session, answer

    async def _expire_unconnected(self, session: MediaSession) -> None:
        await asyncio.sleep(self._settings.ice_connect_timeout_s)
        if session.connected_at is None:
            logger.info("media session %s did not connect in time", session.id)
            session.spawn(self.close_media(session, "failed"), "close")

    async def close_media(self, session: MediaSession, state: str = "closed") -> None:
        self._media.pop(session.id, None)
        await session.close(state)

    async def close_all(self) -> None:
        """Close every media session, then wait for the transcripts and observations they still write."""
        await asyncio.gather(*(self.close_media(s) for s in list(self._media.values())), return_exceptions=True)
        await asyncio.gather(*list(self._pending_writes), return_exceptions=True)
