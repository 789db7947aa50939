"""The question flow of one live interview: starting it, closing and scoring answers, asking the next question,
keeping the interview's progress in the store, and the report when the last answer closes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from realtime_scoring.answer_scoring import AnswerScorer
from realtime_scoring.conductor import AnswerEnd, InterviewConductor, RestoredAnswer
from realtime_scoring.events import AnalysisProgress, FinalTranscript, ScoringEvent, UtteranceTranscript
from realtime_scoring.policy import PlannedQuestion
from realtime_scoring.report import QuestionReport, question_report
from server.domain.interview import Interview, InterviewStatus, Question
from server.live.answer_timer import AnswerTimer
from server.live.candidate_messages import Completed, QuestionMessage, SilenceHintMessage
from server.live.clock import InterviewClock
from server.live.evidence import EvidenceRecorder
from server.live.fan_out import LiveFanOut
from server.live.hr_messages import AskedQuestion
from server.live.progress import InterviewProgress
from server.live.reporting import interview_match, interview_policy, write_report
from server.settings import Settings
from server.storage.contract import Store

logger = logging.getLogger(__name__)

T = TypeVar("T")
MODES = ("text", "voice", "video")  # lightest first
# How long after a spoken prompt leaves the node its sound can come back through the candidate's microphone.
SPOKEN_PROMPT_S = 4.0


class InterviewFlowError(Exception):
    """A candidate action that does not fit the interview's state; `code` is sent to the page."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class QuestionFlow:
    """Runs the conductor for one interview and makes its decisions durable and visible (store, fan-out)."""

    def __init__(
        self,
        interview: Interview,
        store: Store,
        settings: Settings,
        scorer: AnswerScorer,
        clock: InterviewClock,
        fan_out: LiveFanOut,
        evidence: EvidenceRecorder,
        on_completed: Callable[[], Awaitable[None]],
        end_turn: Callable[[float], None] = lambda at_s: None,
        question_asked: Callable[[int, float], None] = lambda index, at_s: None,
    ) -> None:
        self.progress = InterviewProgress(interview, store, settings, fan_out)
        self.match = interview_match(interview)
        self._store, self._settings, self._scorer = store, settings, scorer
        self._clock, self._fan_out, self._evidence = clock, fan_out, evidence
        self._on_completed = on_completed
        self._end_turn = end_turn  # tells the media analysis where the candidate's turn ended
        self._question_asked = question_asked  # tells the media session where each question's recording starts
        self.conductor = self._new_conductor()
        self._lock = asyncio.Lock()
        self._timer = AnswerTimer(clock)
        self._advance_task: asyncio.Future[None] | None = None

    @property
    def interview(self) -> Interview:
        return self.progress.interview

    def _new_conductor(self) -> InterviewConductor:
        i = self.interview
        return InterviewConductor(
            interview_policy(i, self.match), self._scorer, i.language, i.mode, _in_executor, self._settings.closing_phrase_matcher()
        )

    @property
    def in_progress(self) -> bool:
        return self.interview.status == InterviewStatus.IN_PROGRESS

    def question_id(self) -> str:
        """The open question's id ("" between questions): what arriving evidence belongs to."""
        current = self.conductor.current
        return current.question.id if current is not None else ""

    def current_question(self) -> QuestionMessage | None:
        current = self.conductor.current
        if not self.in_progress or current is None:
            return None
        elapsed = round(max(0.0, self._clock.now_s() - current.asked_s), 3)
        return QuestionMessage(
            index=current.index, total=self.interview.max_questions, question=page_question(current.question), elapsed_s=elapsed
        )

    def asked_question(self) -> AskedQuestion | None:
        """The current question as HR sees it: with the policy's reason and the question planned after it."""
        current, message = self.conductor.current, self.current_question()
        if current is None or message is None:
            return None
        planned = self.conductor.planned_next()
        return AskedQuestion(
            interview_id=self.interview.id,
            index=message.index,
            total=message.total,
            question=message.question,
            reason=current.question.reason,
            next_planned=page_question(planned) if planned is not None else None,
        )

    def publish_question(self) -> None:
        if (question := self.current_question()) is not None and (current := self.conductor.current) is not None:
            self._question_asked(current.index, current.asked_s)
            self._fan_out.question(question, self.asked_question())

    async def restore(self) -> None:
        """Rebuild the flow from answers stored by an earlier run of this node; the clock resumes where it was."""
        if not self.in_progress:
            return
        try:
            self.conductor.restore([restored_answer(q) for q in await self._store.scored_answers(self.interview.id)])
        except ValueError:
            # The bank or policy changed since those answers: run the flow afresh rather than refuse the candidate.
            logger.exception("interview %s: stored answers do not replay; starting the questions again", self.interview.id)
            self.conductor = self._new_conductor()
            return
        # The time since the current question went out counts, though no page was open: a reload buys no time.
        current, asked_at = self.conductor.current, self.interview.question_asked_at
        away = max(0.0, time.time() - asked_at) if current is not None and asked_at is not None else 0.0
        self._clock.resume_at(self.conductor.resume_s + away)
        self._arm_timer()

    async def choose_mode(self, mode: str, media_attached: bool) -> bool:
        """A lighter mode than scheduled (video -> voice -> text), only before the first question; True if it changed."""
        if mode == self.interview.mode:
            return False
        if self.interview.status != InterviewStatus.SCHEDULED or media_attached:
            raise InterviewFlowError("mode_locked", "the mode can only change before the interview starts")
        if MODES.index(mode) > MODES.index(self.interview.mode):
            raise InterviewFlowError("mode_not_allowed", f"a {self.interview.mode} interview cannot become {mode}")
        async with self._lock:
            await self.progress.set_mode(mode)
            self.conductor = self._new_conductor()
        return True

    async def start(self) -> bool:
        """Start the flow if it has not started; True when this call started it (and published the question)."""
        async with self._lock:
            unstarted = self.in_progress and self.conductor.started_s is None
            if self.interview.status != InterviewStatus.SCHEDULED and not unstarted:
                return False
            self.conductor.start(self._clock.now_s())
            await self.progress.record(InterviewStatus.IN_PROGRESS, len(self.conductor.history), asked=True)
            self._arm_timer()
            if self.conductor.finished:  # a policy with nothing to ask
                await self._complete()
        self.publish_question()
        return True

    def require_current(self, question_id: str) -> None:
        current = self.current_question()
        if current is None:
            raise InterviewFlowError("not_in_progress", f"the interview is {self.interview.status.value}")
        if current.question.id != question_id:
            raise InterviewFlowError("not_current_question", f"question {question_id!r} is not the current one ({current.question.id!r})")

    async def answer_done(self, question_id: str) -> None:
        """The candidate says the current answer is finished."""
        self.require_current(question_id)
        self.conductor.request_end(AnswerEnd.CANDIDATE_DONE, self._clock.now_s())
        self._pass_turn_ends()
        await self.advance()

    async def answer_text(self, question_id: str, text: str) -> None:
        """A typed answer (a text interview), or typed words added to a spoken one."""
        self.require_current(question_id)
        self.conductor.add_text(text)
        await self._store.record_answer(self.interview.id, question_id, "text", text)

    def observe(self, event: ScoringEvent) -> None:
        """An event of the candidate's media: where answers end is decided on it; a settled line may close one."""
        if not self.in_progress:
            return
        self.conductor.observe(event)
        if isinstance(event, (FinalTranscript, UtteranceTranscript)):
            self._pass_turn_ends()  # a spoken closing phrase
        elif isinstance(event, AnalysisProgress):
            if (hint := self.conductor.silence_hint()) is not None:
                # The page says it out loud too; what the microphone hears of it is not the candidate.
                now_s = self._clock.now_s()
                self.conductor.ignore_echo(now_s, now_s + SPOKEN_PROMPT_S)
                self._fan_out.to_candidate(SilenceHintMessage.of(hint, event.settled_s))
            self._schedule_advance()

    def _pass_turn_ends(self) -> None:
        for at_s in self.conductor.take_turn_ends():
            self._end_turn(at_s)

    def media_lost(self) -> None:
        """Without media nothing settles any more: "done" and time limits decide on their own."""
        self.conductor.media_clock = False

    def _schedule_advance(self) -> None:
        """Advance soon, once at a time."""
        if self._advance_task is None or self._advance_task.done():
            self._advance_task = asyncio.ensure_future(self.advance())
            self._evidence.track(self._advance_task)

    async def advance(self) -> None:
        """Close whatever answers the conductor can close; store them; push the next question or finish."""
        async with self._lock:
            if not self.in_progress:
                return
            asked = self.conductor.current
            records = await self.conductor.advance()
            for record in records:
                answer = question_report(record)
                await self._store.record_scored_answer(self.interview.id, answer)
                self._fan_out.answer(answer)
            if not records:
                return
            if self.conductor.finished:
                await self._complete()
            else:
                asked_new = self.conductor.current is not asked
                await self.progress.record(InterviewStatus.IN_PROGRESS, len(self.conductor.history), asked=asked_new)
                if asked_new:
                    self._arm_timer()
        # The status as it is now (mypy would keep `in_progress` narrowed from the check under the lock).
        status: InterviewStatus = self.interview.status
        if status == InterviewStatus.IN_PROGRESS:
            self.publish_question()
        elif status == InterviewStatus.COMPLETED:
            self._timer.cancel()
            self._fan_out.to_candidate(Completed())
            await self._on_completed()

    async def _complete(self) -> None:
        await self.progress.record(InterviewStatus.COMPLETED, len(self.conductor.history))
        # Transcripts and observations still being written belong in the report.
        await self._evidence.settled(self._advance_task)
        await write_report(self.interview, self.match, self._store, self._settings, self._fan_out)

    def _arm_timer(self) -> None:
        self._timer.arm_for(self.conductor, self._time_is_up)

    async def _time_is_up(self) -> None:
        self._pass_turn_ends()
        await self.advance()

    def stop(self) -> None:
        """The interview was cancelled or erased: no more questions, and tell the page and HR."""
        self._timer.cancel()
        self.conductor.finished = True
        self.conductor.current = None
        self._fan_out.to_candidate(Completed(reason="cancelled"))
        self.progress.cancelled()

    def pause(self) -> None:
        """Nobody on this node runs the interview any more: the next run restores the flow and re-arms the timer."""
        self._timer.cancel()


def restored_answer(answer: QuestionReport) -> RestoredAnswer:
    """A closed answer as the conductor replays it after a restart."""
    missed = tuple(k.id for k in answer.key_points_missed)
    return RestoredAnswer(answer.index, answer.question_id, answer.asked_s, answer.ended_s, answer.score, missed, answer.answered)


def page_question(planned: PlannedQuestion) -> Question:
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
