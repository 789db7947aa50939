"""One live interview on this node: its candidate sockets, its question flow, and where its answers go."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from media.levels import MediaLevels
from media.snapshots import jpeg_snapshot
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
from server.cluster.event_bus import EventBus, Message, hr_topic, interview_topic
from server.domain.interview import Interview, InterviewSpec, InterviewStatus, Question
from server.live.candidate_messages import (
    Caption,
    ChatReply,
    Completed,
    Hello,
    InterviewInfo,
    Levels,
    MediaState,
    QuestionMessage,
    ServerMessage,
    Speech,
)
from server.live.faq import Faq
from server.live.hr_messages import (
    AskedQuestion,
    EmotionSecond,
    FaceSecond,
    HrCaption,
    HrChat,
    HrMedia,
    HrSpeech,
    InterviewChanged,
    InterviewSummary,
    ReportReady,
    ScoredAnswer,
    Snapshot,
)
from server.rtc.media_session import MediaSession
from server.settings import Settings
from server.storage.contract import Store
from server.storage.outbox import report_ready_data

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
        store: Store,
        on_idle: Callable[[LiveInterview], None],
        pending_writes: set[asyncio.Future[None]],
        scorer: AnswerScorer,
        settings: Settings,
        bus: EventBus,
        faq: Faq | None = None,
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
        # HR dashboards on any node see this interview through the bus, and reach it through its topic.
        self._bus = bus
        self._faq = faq
        self._hr_topic = hr_topic(interview.tenant)
        self._unsubscribe_commands: Callable[[], None] | None = bus.subscribe(interview_topic(interview.id), self._on_command)
        self._watched_until = 0.0
        self._snapshots: asyncio.Task[None] | None = None

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
            self.conductor.restore(
                [
                    RestoredAnswer(
                        q.index, q.question_id, q.asked_s, q.ended_s, q.score, tuple(k.id for k in q.key_points_missed), q.answered
                    )
                    for q in stored
                ]
            )
        except ValueError:
            # The bank or policy changed since those answers: run the flow afresh rather than refuse the candidate.
            logger.exception("interview %s: stored answers do not replay; starting the questions again", self.id)
            self.conductor = self._new_conductor()
            return
        # The time since the current question went out counts, though no page was open: a reload buys no time.
        current, asked_at = self.conductor.current, self.interview.question_asked_at
        away = max(0.0, time.time() - asked_at) if current is not None and asked_at is not None else 0.0
        self._clock_base = self.conductor.resume_s + away
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

    def _to_hr(self, message: Any) -> None:
        self._bus.publish(self._hr_topic, message.model_dump(mode="json"))

    def summary(self) -> InterviewSummary:
        return InterviewSummary.of(self.interview, self._settings.emotion_analysis)

    def asked_question(self) -> AskedQuestion | None:
        """The current question as HR sees it: with the policy's reason and the question planned after it."""
        current, message = self.conductor.current, self.current_question()
        if current is None or message is None:
            return None
        planned = self.conductor.planned_next()
        return AskedQuestion(
            interview_id=self.id,
            index=message.index,
            total=message.total,
            question=message.question,
            reason=current.question.reason,
            next_planned=_page_question(planned) if planned is not None else None,
        )

    def _publish_question(self, question: QuestionMessage) -> None:
        self.publish(question)
        if (asked := self.asked_question()) is not None:
            self._to_hr(asked)

    def _on_command(self, message: Message) -> None:
        """A message for this interview from a dashboard, maybe on another node."""
        match message.get("type"):
            case "watch":
                # The dashboard that starts watching learns the current question from the node that knows it.
                if message.get("detail", True) and (asked := self.asked_question()) is not None:
                    self._to_hr(asked)
                self._watched_until = self._loop.time() + WATCH_S
                if self._snapshots is None or self._snapshots.done():
                    self._snapshots = asyncio.ensure_future(self._send_snapshots())
            case "chat.reply":
                self.publish(ChatReply(sender="hr", text=str(message.get("text", ""))))

    async def _send_snapshots(self) -> None:
        """About one still a second while a dashboard watches and video flows."""
        last_time = -1.0
        while self._loop.time() < self._watched_until:
            frame = self.media.ingest.latest_frame if self.media is not None else None
            if frame is not None and frame.time_s != last_time:
                last_time = frame.time_s
                try:
                    jpeg = await self._loop.run_in_executor(None, jpeg_snapshot, frame)
                except Exception:  # a bad frame costs one still, never the interview
                    logger.exception("interview %s: snapshot failed", self.id)
                else:
                    self._to_hr(
                        Snapshot(
                            interview_id=self.id,
                            time_s=round(self._clock_base + frame.time_s, 3),
                            jpeg_base64=base64.b64encode(jpeg).decode("ascii"),
                        )
                    )
            await asyncio.sleep(SNAPSHOT_INTERVAL_S)

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
        elapsed = round(max(0.0, self.now_s() - current.asked_s), 3)
        return QuestionMessage(
            index=current.index, total=self.interview.max_questions, question=_page_question(current.question), elapsed_s=elapsed
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
                self._publish_speech("started", t)
            case SpeechEnded(end_s=t):
                self._publish_speech("ended", t)
            case AnswerEnded(time_s=t):
                self._publish_speech("answer_ended", t)
            case PartialTranscript():
                caption = Caption(
                    utterance=event.utterance,
                    final=False,
                    start_s=round(event.start_s, 3),
                    end_s=round(event.until_s, 3),
                    stable=event.stable,
                    unstable=event.unstable,
                )
                self._publish_caption(caption)
            case FacePresence():
                face: dict[str, object] = {
                    "frames": event.frames,
                    "frames_with_face": event.frames_with_face,
                    "max_faces": event.max_faces,
                    "face_present": event.face_present,
                    "multiple_faces": event.multiple_faces,
                }
                self._store_observation("face", event.start_s, event.end_s, face)
                self._to_hr(
                    FaceSecond(
                        interview_id=self.id,
                        start_s=round(event.start_s, 3),
                        end_s=round(event.end_s, 3),
                        face_present=event.face_present,
                        multiple_faces=event.multiple_faces,
                        max_faces=event.max_faces,
                    )
                )
            case EmotionSummary():
                emotion: dict[str, object] = {"dominant": event.dominant, "probabilities": dict(event.probabilities)}
                self._store_observation("emotion", event.start_s, event.end_s, emotion)
                self._to_hr(
                    EmotionSecond(
                        interview_id=self.id,
                        start_s=round(event.start_s, 3),
                        end_s=round(event.end_s, 3),
                        dominant=event.dominant,
                        probabilities=dict(event.probabilities),
                    )
                )
            case FinalTranscript():
                caption = Caption(
                    utterance=event.utterance,
                    final=True,
                    start_s=round(event.start_s, 3),
                    end_s=round(event.end_s, 3),
                    stable=event.text,
                    language=event.language,
                )
                self._publish_caption(caption)
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

    def _publish_speech(self, state: str, time_s: float) -> None:
        self.publish(Speech(state=state, time_s=round(time_s, 3)))
        self._to_hr(HrSpeech(interview_id=self.id, state=state, time_s=round(time_s, 3)))

    def _publish_caption(self, caption: Caption) -> None:
        self.publish(caption)
        self._to_hr(
            HrCaption(interview_id=self.id, **caption.model_dump(include={"utterance", "final", "start_s", "end_s", "stable", "unstable"}))
        )

    def _publish_media(self, state: str) -> None:
        self.publish(MediaState(state=state))
        self._to_hr(HrMedia(interview_id=self.id, state=state))

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
        segments: list[dict[str, float | str]] = [
            {"start_s": round(s.start_s, 3), "end_s": round(s.end_s, 3), "text": s.text} for s in event.segments
        ]
        self._spawn_store(
            self._store.record_transcript(
                self.id,
                self._current_question_id(),
                round(event.start_s, 3),
                round(event.end_s, 3),
                event.language,
                event.text,
                segments,
            )
        )

    def attach_media(self, session: MediaSession) -> None:
        # The new session's media clock starts at zero now: continue the interview clock from here.
        self._clock_base = self.now_s()
        self.media = session
        self._publish_media("connecting")

    def detach_media(self, session: MediaSession, state: str) -> None:
        if self.media is session:
            self._clock_base = self.now_s()
            self._wall_origin = self._loop.time()
            self.media = None
            # Without media nothing settles any more: "done" and time limits decide on their own.
            self.conductor.media_clock = False
            self._publish_media(state)
        if not session.replaced:
            self.release_if_idle()

    async def on_media_connected(self, session: MediaSession) -> None:
        if self.media is not session:
            return
        self._publish_media("connected")
        # A reconnect mid-interview gets the current question again.
        if not await self._start() and (question := self.current_question()) is not None:
            self._publish_question(question)

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
            await self._set_progress(InterviewStatus.IN_PROGRESS, len(self.conductor.history), asked=True)
            self._arm_timer()
            if self.conductor.finished:  # a policy with nothing to ask
                await self._set_progress(InterviewStatus.COMPLETED, len(self.conductor.history))
                await self._write_report()
        if (question := self.current_question()) is not None:
            self._publish_question(question)
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
        """A candidate's question: answered from the FAQ when it covers it, else passed to HR's dashboard."""
        question_id = self._current_question_id()
        await self._store.record_answer(self.id, question_id, "chat", text)
        answer = None
        if self._faq is not None:
            faq = self._faq
            answer = await _in_executor(lambda: faq.answer(text, self.interview.language))
        self._to_hr(HrChat(interview_id=self.id, sender="candidate", text=text, escalated=answer is None))
        if answer is not None:
            reply = ChatReply(sender="faq", text=answer.text)
            kind = "chat.faq"
        else:
            reply = ChatReply(sender="system", text=ESCALATED[self.interview.language], escalated=True)
            kind = "chat.system"
        await self._store.record_answer(self.id, question_id, kind, reply.text)
        self.publish(reply)
        self._to_hr(HrChat(interview_id=self.id, sender=reply.sender, text=reply.text, escalated=reply.escalated))

    def _require_current(self, question_id: str) -> QuestionMessage:
        current = self.current_question()
        if current is None:
            raise InterviewFlowError("not_in_progress", f"the interview is {self.interview.status.value}")
        if current.question.id != question_id:
            raise InterviewFlowError("not_current_question", f"question {question_id!r} is not the current one ({current.question.id!r})")
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
                self._to_hr(ScoredAnswer(interview_id=self.id, answer=report.model_dump(mode="json")))
            if not records:
                return
            if self.conductor.finished:
                await self._set_progress(InterviewStatus.COMPLETED, len(self.conductor.history))
                await self._write_report()
            else:
                asked_new = self.conductor.current is not asked
                await self._set_progress(InterviewStatus.IN_PROGRESS, len(self.conductor.history), asked=asked_new)
                if asked_new:
                    self._arm_timer()
        # Re-read: the awaits above changed the interview (mypy would keep the status narrowed from before them).
        if self._status() == InterviewStatus.COMPLETED:
            if self._timer is not None:
                self._timer.cancel()
            self.publish(Completed())
            if self.media is not None:
                await self.media.close("closed")
        elif (question := self.current_question()) is not None:
            self._publish_question(question)

    def _status(self) -> InterviewStatus:
        return self.interview.status

    def _arm_timer(self) -> None:
        """The answer time limit on the wall clock, for when no media clock decides it (text mode, media lost)."""
        if self._timer is not None:
            self._timer.cancel()
        current = self.conductor.current
        if current is None:
            return
        limit = current.question.think_seconds + current.question.answer_seconds

        async def expire() -> None:
            await asyncio.sleep(max(0.0, current.asked_s + limit - self.now_s()) + TIME_LIMIT_GRACE_S)
            if self.conductor.current is current:
                self.conductor.request_end(AnswerEnd.TIME_LIMIT, current.asked_s + limit)
                await self._advance()

        self._timer = asyncio.ensure_future(expire())

    async def _write_report(self) -> None:
        # Transcripts and observations still being written belong in the report.
        await asyncio.gather(
            *[w for w in self._writes if w is not asyncio.current_task() and w is not self._advance_task], return_exceptions=True
        )
        report = interview_report(
            self.id,
            self.interview,
            self.match,
            [QuestionReport.model_validate(q) for q in await self._store.scored_answers(self.id)],
            await self._store.observations(self.id, "face"),
            await self._store.observations(self.id, "emotion") if self._settings.emotion_analysis else None,
        )
        report_json = report.model_dump_json()
        event = report_ready_data(self.id, report_json, self._settings.base_url, self._settings.webhook_max_inline_bytes)
        await self._store.save_report(self.interview, report.schema_version, report_json, event)
        self._to_hr(ReportReady(interview_id=self.id, report=report.model_dump(mode="json")))

    async def _set_progress(self, status: InterviewStatus, current_question: int, asked: bool = False) -> None:
        """Store the progress; `asked`: a new question went out just now."""
        asked_at = time.time() if asked else None
        updated = self.interview.model_copy(
            update={
                "status": status,
                "current_question": current_question,
                "question_asked_at": asked_at if asked else self.interview.question_asked_at,
            }
        )
        changed = status != self.interview.status
        await self._store.update_progress(
            self.id, status, current_question, announce=updated if changed else None, question_asked_at=asked_at
        )
        self.interview = updated
        self._to_hr(InterviewChanged(interview=self.summary()))

    def stop(self) -> None:
        """The interview was cancelled or erased: no more questions, and tell the page."""
        if self._timer is not None:
            self._timer.cancel()
        self.conductor.finished = True
        self.conductor.current = None
        self.interview = self.interview.model_copy(update={"status": InterviewStatus.CANCELLED})
        self.publish(Completed(reason="cancelled"))
        self._to_hr(InterviewChanged(interview=self.summary()))
        self._release()

    def release_if_idle(self) -> None:
        """Drop this interview from the registry once nothing on this node uses it."""
        if self.media is None and not self._subscribers:
            # A candidate who left resumes where they were: the next LiveInterview restores the flow and re-arms it.
            if self._timer is not None:
                self._timer.cancel()
            self._release()

    def _release(self) -> None:
        if self._unsubscribe_commands is not None:
            self._unsubscribe_commands()
            self._unsubscribe_commands = None
        if self._snapshots is not None:
            self._snapshots.cancel()
        self._on_idle(self)


# The wall-clock limit fires a little after the media-clock one, which decides when media flows.
TIME_LIMIT_GRACE_S = 2.0
ESCALATED = {
    "en": "I have passed your question to the hiring team; their answer will appear here. You can carry on meanwhile.",
    "zh": "您的问题已转给招聘团队，他们的回复会显示在这里。您可以先继续面试。",
}
# A dashboard renews its watch every few seconds; snapshots stop this long after the last renewal.
WATCH_S = 15.0
SNAPSHOT_INTERVAL_S = 1.0


def _page_question(planned: Any) -> Question:
    return Question(
        id=planned.id,
        text=planned.text,
        think_seconds=planned.think_seconds,
        answer_seconds=planned.answer_seconds,
        competency=planned.competency.value,
        difficulty=planned.difficulty.value,
        follow_up=planned.follow_up_of is not None,
    )


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
