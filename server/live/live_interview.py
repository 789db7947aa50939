"""One live interview on this node: the parts that run it, and what it tells and hears from its media session."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Protocol

from media.frames import VideoFrame
from media.levels import MediaLevels
from realtime_scoring.answer_scoring import AnswerScorer
from realtime_scoring.events import (
    EmotionSummary,
    FacePresence,
    FinalTranscript,
    PartialTranscript,
    SpeechEnded,
    SpeechStarted,
    UtteranceTranscript,
)
from realtime_scoring.matching import MatchResult
from server.cluster.event_bus import EventBus, Message, interview_topic
from server.cluster.ratelimit import TokenBucket
from server.domain.interview import Interview, InterviewStatus
from server.live.candidate_messages import Hello, InterviewInfo, QuestionMessage
from server.live.chat import CandidateChat
from server.live.clock import InterviewClock
from server.live.consents import interview_consent
from server.live.evidence import EvidenceRecorder
from server.live.fan_out import LiveFanOut, Subscriber
from server.live.faq import Faq
from server.live.hr_messages import AskedQuestion, InterviewSummary
from server.live.question_flow import InterviewFlowError, QuestionFlow
from server.live.snapshots import SnapshotStream
from server.rtc.media_consumers import MediaEvent
from server.settings import Settings
from server.storage.contract import Store

CHAT_PER_S = 0.2  # a candidate's chat, sustained: one message every five seconds
CHAT_BURST = 5  # and a few in a row
MAX_CANDIDATE_SOCKETS = 4  # open candidate pages of one interview (a second tab, a reconnect that overlaps)
MAX_VISIBILITY_CHANGES = 400  # kept per interview: enough to see a pattern, bounded against a page that flips forever


class MediaLink(Protocol):
    """What the live interview needs of its media session (the session's own type lives below, in `server.rtc`)."""

    replaced: bool  # closed because a new connection of the same interview takes over

    @property
    def connected(self) -> bool: ...

    @property
    def latest_frame(self) -> VideoFrame | None: ...

    async def close(self, state: str = ..., reason: str | None = ...) -> None: ...

    def end_turn(self, at_s: float) -> None: ...

    def question_asked(self, index: int, at_s: float) -> None: ...


class LiveInterview:
    """An interview running on this node. Media events arrive on the interview's clock (`InterviewClock`) and go,
    typed, to the fan-out (candidate and HR), the evidence recorder (store) and the question flow (conductor)."""

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
        self.id = interview.id
        self.media: MediaLink | None = None
        self._store = store
        self.clock = InterviewClock()
        self._settings = settings
        self._on_idle = on_idle
        self._observe_final_lag = observe_final_lag
        self.fan_out = LiveFanOut(interview.id, interview.tenant, bus)
        # The lambda reads `self.flow` when called: the flow, built next, needs the recorder.
        self._evidence = EvidenceRecorder(interview.id, store, pending_writes, lambda: self.flow.question_id())  # noqa: PLW0108
        self.flow = QuestionFlow(
            interview,
            store,
            settings,
            scorer,
            self.clock,
            self.fan_out,
            self._evidence,
            self._close_media,
            self._end_turn,
            self._question_asked,
        )
        self._chat = CandidateChat(interview.id, interview.language, store, faq, self.fan_out)
        self._snapshots = SnapshotStream(interview.id, lambda: self.media.latest_frame if self.media else None, self.fan_out)
        # HR dashboards on any node reach this interview through its topic.
        self._unsubscribe_commands: Callable[[], None] | None = bus.subscribe(interview_topic(interview.id), self._on_command)
        self._ending: asyncio.Future[None] | None = None
        self._chat_budget = TokenBucket(rate_per_s=CHAT_PER_S, burst=CHAT_BURST)
        self._visibility_changes = 0
        self._page_hidden = False
        self.candidate_captions = False  # the candidate's page shows live captions (it says so on each connection)

    @property
    def interview(self) -> Interview:
        return self.flow.interview

    @property
    def match(self) -> MatchResult:
        return self.flow.match

    @property
    def media_connected(self) -> bool:
        return self.media is not None and self.media.connected

    @property
    def waits_for_media(self) -> bool:
        """Video and voice interviews start when the candidate's media connects; text ones when the page is ready."""
        return self.interview.mode != "text"

    def now_s(self) -> float:
        return self.clock.now_s()

    async def restore(self) -> None:
        await self.flow.restore()

    @property
    def candidate_sockets(self) -> int:
        return self.fan_out.candidate_subscribers

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        return self.fan_out.subscribe(subscriber, self.release_if_idle)

    def summary(self) -> InterviewSummary:
        return self.flow.progress.summary()

    def current_question(self) -> QuestionMessage | None:
        return self.flow.current_question()

    def asked_question(self) -> AskedQuestion | None:
        return self.flow.asked_question()

    def hello(self) -> Hello:
        return Hello(interview=InterviewInfo.of(self.interview, self._settings))

    def handle_media_event(self, event: MediaEvent) -> None:
        """One event from the media session's analysis, already on the interview's clock."""
        match event:
            case MediaLevels():
                self.fan_out.levels(event)
                return
            case SpeechStarted() | SpeechEnded():
                self.fan_out.speech(event)
            case PartialTranscript():
                self.fan_out.caption(event)
            case UtteranceTranscript():
                self._evidence.transcript(event)
            case FinalTranscript():
                self.fan_out.caption(event)
                if self._observe_final_lag is not None and self.media is not None:
                    self._observe_final_lag(max(0.0, self.clock.now_s() - event.end_s))
            case FacePresence():
                self._evidence.observation(event)
                self.fan_out.face(event)
            case EmotionSummary():
                self._evidence.observation(event)
                self.fan_out.emotion(event)
        self.flow.observe(event)

    def _end_turn(self, at_s: float) -> None:
        if self.media is not None:
            self.media.end_turn(at_s)

    def _question_asked(self, index: int, at_s: float) -> None:
        if self.media is not None:
            self.media.question_asked(index, at_s)

    def attach_media(self, session: MediaLink) -> None:
        self.media = session
        self.fan_out.media_state("connecting")

    def detach_media(self, session: MediaLink, state: str, reason: str | None = None) -> None:
        if self.media is session:
            self.media = None
            self.flow.media_lost()
            self.fan_out.media_state(state, reason)
        if not session.replaced:
            self.release_if_idle()

    async def on_media_connected(self, session: MediaLink) -> None:
        if self.media is not session:
            return
        self.fan_out.media_state("connected")
        # A reconnect mid-interview gets the current question again.
        if not await self.flow.start():
            self.flow.publish_question()

    async def _close_media(self) -> None:
        """The interview completed: its media session ends too."""
        if self.media is not None:
            await self.media.close("closed")

    async def choose_mode(self, mode: str) -> None:
        if await self.flow.choose_mode(mode, media_attached=self.media is not None):
            self.fan_out.to_candidate(self.hello())

    async def on_page_ready(self) -> bool:
        """The page is ready; True when that started the interview (and its first question went out). A text
        interview starts here, so here it needs the candidate's consent (media ones need it to connect)."""
        if self.waits_for_media:
            return False
        if self.flow.interview.status == InterviewStatus.SCHEDULED and await interview_consent(self._store, self.id) is None:
            raise InterviewFlowError("consent_required", "agree to the interview's terms first (POST .../consent)")
        return await self.flow.start()

    async def answer_done(self, question_id: str) -> None:
        await self.flow.answer_done(question_id)

    async def answer_text(self, question_id: str, text: str) -> None:
        await self.flow.answer_text(question_id, text)

    async def chat(self, text: str) -> None:
        if self.flow.conductor.finished:  # completed, cancelled or erased: nobody is there to answer, nothing is kept
            raise InterviewFlowError("interview_closed", "the interview has ended; chat is closed")
        if (wait_s := self._chat_budget.take(time.monotonic())) > 0:  # each message is stored and may reach HR
            raise InterviewFlowError("chat_too_fast", f"too many messages at once; send the next in {math.ceil(wait_s)} s")
        await self._chat.ask(text, self.flow.question_id())

    def captions_watched(self) -> bool:
        """Someone reads this interview's live captions now: the candidate (captions on) or HR (a dashboard watching
        it, on any node). Partial captions are decoded only then; finals always are."""
        return self.candidate_captions or self._snapshots.watched

    def page_visibility(self, hidden: bool) -> None:
        """The candidate's page left the foreground or came back, while questions are being asked: kept for the
        review's integrity checks (repeats of the same state, and changes past a bound, are not)."""
        if not self.flow.in_progress or hidden == self._page_hidden or self._visibility_changes >= MAX_VISIBILITY_CHANGES:
            self._page_hidden = hidden
            return
        self._page_hidden = hidden
        self._visibility_changes += 1
        self._evidence.page_visibility(hidden, self.clock.now_s())

    def _on_command(self, message: Message) -> None:
        """A message for this interview from a dashboard, maybe on another node."""
        match message.get("type"):
            case "watch":
                # The dashboard that starts watching learns the current question from the node that knows it.
                if message.get("detail", True) and (asked := self.asked_question()) is not None:
                    self.fan_out.to_hr(asked)
                self._snapshots.watch()
            case "chat.reply":
                self._chat.hr_replied(str(message.get("text", "")))
            case "end":
                # Cancelled or erased through another node: this node holds the media and the candidate's sockets.
                self._ending = asyncio.ensure_future(self._end_here())

    async def _end_here(self) -> None:
        await self._close_media()
        self.stop()

    def stop(self) -> None:
        """The interview was cancelled or erased."""
        self.flow.stop()
        self._release()

    def release_if_idle(self) -> None:
        """Drop this interview from the registry once nothing on this node uses it."""
        if self.media is None and not self.fan_out.has_subscribers:
            # A candidate who left resumes where they were: the next LiveInterview restores the flow and re-arms it.
            self.flow.pause()
            self._release()

    def _release(self) -> None:
        if self._unsubscribe_commands is not None:
            self._unsubscribe_commands()
            self._unsubscribe_commands = None
        self._snapshots.close()
        self._on_idle(self)
