"""One live interview on this node: its candidate sockets, its question flow, and where its answers go."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from hrms_bridge.outbox import report_ready_data
from media.levels import MediaLevels
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
from realtime_scoring.policy import PolicyConfig, QuestionPolicy
from realtime_scoring.report import InterviewReport, QuestionReport, build_report, question_report
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
from server.schemas import Interview, InterviewSpec, InterviewStatus, Question
from server.settings import Settings
from server.store import InterviewStore

if TYPE_CHECKING:
    from server.sessions import MediaSession

logger = logging.getLogger(__name__)

T = TypeVar("T")
Subscriber = Callable[[ServerMessage], None]


class InterviewFlowError(Exception):
    """A candidate action that does not fit the interview's state; `code` is sent to the page."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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
        settings: Settings,
        observe_final_lag: Callable[[float], None] | None = None,
    ) -> None:
        self.interview = interview
        self.media: MediaSession | None = None
        self._store = store
        self._subscribers: list[Subscriber] = []
        self._lock = asyncio.Lock()
        self._on_idle = on_idle
        # Shared with the registry, so shutdown waits for writes of interviews already released.
        self._writes = pending_writes
        self._settings = settings
        self._observe_final_lag = observe_final_lag
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
                show_result=i.candidate_sees_result,
                emotion_analysis=self._settings.emotion_analysis and i.mode == "video",
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
                if self._observe_final_lag is not None and self.media is not None:
                    self._observe_final_lag(max(0.0, self.now_s() - event.end_s))
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

    async def choose_mode(self, mode: str) -> None:
        """A lighter mode than scheduled (video -> voice -> text), only before the first question."""
        order = ["text", "voice", "video"]
        if mode == self.interview.mode:
            return
        if self.interview.status != InterviewStatus.SCHEDULED or self.media is not None:
            raise InterviewFlowError("mode_locked", "the mode can only change before the interview starts")
        if order.index(mode) > order.index(self.interview.mode):
            raise InterviewFlowError("mode_not_allowed", f"a {self.interview.mode} interview cannot become {mode}")
        async with self._lock:
            self.interview = await self._store.set_mode(self.interview, mode)
            self.conductor = self._new_conductor()
        self.publish(self.hello())

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
        report = interview_report(
            self.id, self.interview, self.match,
            [QuestionReport.model_validate(q) for q in await self._store.scored_answers(self.id)],
            await self._store.observations(self.id, "face"),
            await self._store.observations(self.id, "emotion") if self._settings.emotion_analysis else None,
        )
        report_json = report.model_dump_json()
        event = report_ready_data(self.id, report_json, self._settings.base_url, self._settings.webhook_max_inline_bytes)
        await self._store.save_report(self.interview, report.schema_version, report_json, event)

    async def _set_progress(self, status: InterviewStatus, current_question: int) -> None:
        updated = self.interview.model_copy(update={"status": status, "current_question": current_question})
        changed = status != self.interview.status
        await self._store.update_progress(self.id, status, current_question, announce=updated if changed else None)
        self.interview = updated

    def stop(self) -> None:
        """The interview was cancelled or erased: no more questions, and tell the page."""
        if self._timer is not None:
            self._timer.cancel()
        self.conductor.finished = True
        self.conductor.current = None
        self.interview = self.interview.model_copy(update={"status": InterviewStatus.CANCELLED})
        self.publish(Completed(reason="cancelled"))
        self._on_idle(self)

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


def interview_report(
    interview_id: str,
    spec: InterviewSpec,
    match: MatchResult,
    questions: Sequence[QuestionReport],
    faces: Sequence[Mapping[str, object]],
    emotions: Sequence[Mapping[str, object]] | None,
) -> InterviewReport:
    """The report of an interview from its closed answers and observations: the same live and in a replay."""
    return build_report(
        interview_id=interview_id,
        job_title=spec.job.title,
        candidate_name=spec.candidate.name,
        language=spec.language,
        mode=spec.mode,
        match=match,
        competency_weights=spec.job.competencies,
        questions=questions,
        faces=faces,
        emotions=emotions,
    )


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
